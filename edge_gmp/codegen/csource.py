"""The C the generator emits, as named pieces: the arithmetic helpers (TFLite's fixed-point rounding), the
row decoders of each weight format, and the kernels. The generated file holds only the pieces its model uses, so
that it compiles with ``-Wall -Wextra -Werror`` (no unused functions)."""

from __future__ import annotations

from string import Template

PRELUDE = """\
#include <stdint.h>

#ifndef EG_LAYER_HOOK
#define EG_LAYER_HOOK(layer)
#endif

static inline int32_t eg_min(int32_t a, int32_t b) { return a < b ? a : b; }

/* Freestanding: no <string.h>. */
static void eg_copy(void *dst, const void *src, int32_t bytes) {
  int8_t *d = (int8_t *)dst;
  const int8_t *s = (const int8_t *)src;
  int32_t i;
  for (i = 0; i < bytes; ++i) d[i] = s[i];
}
static inline int32_t eg_max(int32_t a, int32_t b) { return a > b ? a : b; }

/* Target-specific inner loops (EG_HAVE_DOT_, EG_HAVE_ROWS_, EG_HAVE_REQUANT_<variant>); they may use the helpers
   above. */
#ifdef EG_TARGET_HEADER
#include EG_TARGET_HEADER
#endif

/* TFLite's MultiplyByQuantizedMultiplier (int32, double rounding): a rounding doubling high multiply, then a
   rounding right shift. Adding 2^30 and shifting right (floor) equals TFLite's nudge-and-truncate for either sign;
   its one saturating case needs a multiplier of INT32_MIN, which quantised multipliers (0 or >= 2^30) never are. */
#ifdef __GNUC__
__attribute__((unused)) /* a target header may requantise convolutions itself */
#endif
static inline int32_t eg_mbqm32(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  const int32_t a = (int32_t)((uint32_t)x << left);
  const int32_t high = (int32_t)(((int64_t)a * multiplier + (1LL << 30)) >> 31);
  const int32_t mask = (int32_t)((1u << right) - 1u);
  const int32_t remainder = high & mask;
  const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  return (high >> right) + (remainder > threshold ? 1 : 0);
}
"""

MBQM64 = """\
/* TFLite's MultiplyByQuantizedMultiplier for int64 accumulators: a 16-bit reduced multiplier, one rounding. */
static inline int32_t eg_mbqm64(int64_t x, int32_t multiplier, int shift) {
  const int32_t reduced = multiplier < 0x7FFF0000 ? ((multiplier + (1 << 15)) >> 16) : 0x7FFF;
  const int total = 15 - shift;
  return (int32_t)((x * (int64_t)reduced + ((int64_t)1 << (total - 1))) >> total);
}
"""

WEIGHTS = """\
typedef struct {
  uint8_t format;
  uint16_t rows;
  uint16_t length;
  const int8_t *values;
  const uint8_t *index;
  const uint8_t *counts8;
  const uint16_t *counts16;
} eg_weights;

typedef struct {
  const int8_t *values;
  const uint8_t *index;
  uint32_t nibble;
} eg_cursor;

static void eg_cursor_start(const eg_weights *w, eg_cursor *c) {
  c->values = w->values;
  c->index = w->index;
  c->nibble = 0;
}
"""

DECODERS = {
    "dense": """\
static int eg_row_dense(const eg_weights *w, eg_cursor *c, uint16_t *k) {
  int i;
  for (i = 0; i < w->length; ++i) k[i] = (uint16_t)i;
  c->values += w->length;
  return w->length;
}
""",
    "bitmask": """\
static int eg_row_bitmask(const eg_weights *w, eg_cursor *c, uint16_t *k) {
  const int bytes = (w->length + 7) / 8;
  int n = 0, b;
  for (b = 0; b < bytes; ++b) {
    uint32_t bits = c->index[b];
    while (bits) {
      const int bit = __builtin_ctz(bits);
      k[n++] = (uint16_t)(b * 8 + bit);
      bits &= bits - 1;
    }
  }
  c->index += bytes;
  c->values += n;
  return n;
}
""",
    "block4": """\
static int eg_row_block4(const eg_weights *w, eg_cursor *c, uint16_t *k) {
  const int blocks = (w->length + 3) / 4;
  const int bytes = (blocks + 7) / 8;
  int n = 0, stored = 0, b;
  for (b = 0; b < bytes; ++b) {
    uint32_t bits = c->index[b];
    while (bits) {
      const int first = (b * 8 + __builtin_ctz(bits)) * 4;
      int j;
      for (j = 0; j < 4; ++j) {
        if (first + j < w->length) k[n++] = (uint16_t)(first + j);
      }
      stored += 4;
      bits &= bits - 1;
    }
  }
  c->index += bytes;
  c->values += stored;
  return n;
}
""",
    "delta4": """\
static int eg_row_delta4(const eg_weights *w, eg_cursor *c, uint16_t *k, int row) {
  const int n = w->counts8 ? w->counts8[row] : w->counts16[row];
  int i, position = -1;
  for (i = 0; i < n; ++i) {
    int gap = 0, nib;
    do {
      nib = (c->index[c->nibble >> 1] >> ((c->nibble & 1) * 4)) & 15;
      c->nibble++;
      gap += nib;
    } while (nib == 15);
    position += gap + 1;
    k[i] = (uint16_t)position;
  }
  c->values += n;
  return n;
}
""",
}

_NEXT_ROW = Template("""\
/* Decode the next row: its stored values start at *values, the element position of each in k[]. */
static int eg_next_row(const eg_weights *w, eg_cursor *c, uint16_t *k, int row, const int8_t **values) {
  *values = c->values;
  switch (w->format) {
$cases    default: break;
  }
  (void)row;
  return 0;
}
""")

FORMAT_CODES = {"dense": 0, "bitmask": 1, "block4": 2, "delta4": 3}


def next_row(formats: set[str]) -> str:
    cases = ""
    for name in sorted(formats, key=FORMAT_CODES.__getitem__):
        args = "w, c, k, row" if name == "delta4" else "w, c, k"
        cases += f"    case {FORMAT_CODES[name]}: return eg_row_{name}({args});\n"
    return _NEXT_ROW.substitute(cases=cases)


CONV_TYPES = """\
typedef struct {
  int32_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int32_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t depthwise, depth_multiplier;
  int32_t in_offset, out_offset, act_min, act_max;
  int32_t narrow; /* every bias + sum of w * (x + in_offset), shifted left, lies in [-2^30, 2^30) */
  int32_t bias_bytes; /* 2, 4 or 8: the smallest signed type that holds every bias of the layer */
  /* multiplier, shift and bias of the channels that keep weights, in channel order; constants: the output of
     each channel without kept weights (its requantised bias), in channel order, of the activation type */
  const int32_t *multiplier;
  const int8_t *shift;
  const void *bias;
  const void *constants;
  eg_weights w;
} eg_conv;

static inline int64_t eg_bias(const eg_conv *p, int32_t live) {
  if (!p->bias) return 0;
  if (p->bias_bytes == 2) return ((const int16_t *)p->bias)[live];
  if (p->bias_bytes == 4) return ((const int32_t *)p->bias)[live];
  return ((const int64_t *)p->bias)[live];
}
"""

# The convolution kernels' inner loops and requantisation. $IO is the activation type, $ACC the accumulator and
# bias type, $MBQM the matching requantisation. A target header (EG_TARGET_HEADER) may replace each group.
DOT = Template("""\
/* Outputs of a channel whose sums are kept (128 bytes of stack) before they are requantised together. */
#define EG_RUN_$name ((int32_t)(128 / sizeof($ACC)))

#ifndef EG_HAVE_DOT_$name
/* The kept multiply-accumulates of one output, sum of w * x (the input offset is folded into the bias): the inner
   loop a target header may replace, with eg_dot4_$name, four outputs that share the weights. */
static inline $ACC eg_dot_$name(const int8_t *values, const $IO *x, const int32_t *off, int n) {
  $ACC acc = 0;
  int j;
  for (j = 0; j < n; ++j) acc += ($ACC)values[j] * x[off[j]];
  return acc;
}

static inline void eg_dot4_$name(const int8_t *values, const $IO *x, const int32_t *off, int n, int32_t step,
                                 $ACC *acc) {
  const int8_t *end = values + n;
  $ACC a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  while (values < end) {
    const int32_t w = *values++;
    const $IO *q = x + *off++;
    a0 += ($ACC)w * q[0];
    q += step;
    a1 += ($ACC)w * q[0];
    q += step;
    a2 += ($ACC)w * q[0];
    a3 += ($ACC)w * q[step];
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#endif

#ifndef EG_HAVE_ROWS_$name
/* A row of a (non-depthwise) convolution as its dot loops read it. A target header may recode the row once per
   output channel (last: the window's last input offset; scratch: room for 2 words per kept weight; positions: the
   outputs that will read the row). */
typedef struct {
  const int8_t *values;
  const int32_t *off;
  int n;
} eg_row_$name;

static inline void eg_row_prepare_$name(eg_row_$name *r, const int8_t *values, const int32_t *off, int n,
                                        int32_t last, int32_t *scratch, int32_t positions) {
  r->values = values;
  r->off = off;
  r->n = n;
  (void)last;
  (void)scratch;
  (void)positions;
}

static inline void eg_row_dot4_$name(const eg_row_$name *r, const $IO *x, int32_t step, $ACC *acc) {
  eg_dot4_$name(r->values, x, r->off, r->n, step, acc);
}

static inline $ACC eg_row_dot_$name(const eg_row_$name *r, const $IO *x) {
  return eg_dot_$name(r->values, x, r->off, r->n);
}
#endif

#ifndef EG_HAVE_REQUANT_$name
/* A channel's requantisation, set up once per output channel. */
typedef struct {
  int32_t multiplier, shift, offset, lo, hi;
} eg_rq_$name;

static inline void eg_rq_init_$name(eg_rq_$name *q, int32_t multiplier, int32_t shift, int32_t offset, int32_t lo,
                                    int32_t hi, int32_t narrow) {
  (void)narrow;
  q->multiplier = multiplier;
  q->shift = shift;
  q->offset = offset;
  q->lo = lo;
  q->hi = hi;
}

static inline $IO eg_requant_$name(const eg_rq_$name *q, $ACC acc) {
  return ($IO)eg_min(eg_max($MBQM(acc, q->multiplier, q->shift) + q->offset, q->lo), q->hi);
}

/* n outputs of a channel, stride elements apart, from their sums less the folded bias inside. */
static inline void eg_requant_run_$name(const eg_rq_$name *q, const $ACC *acc, int32_t n, $ACC inside, $IO *out,
                                        int32_t stride) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i * stride] = eg_requant_$name(q, acc[i] + inside);
}
#endif
""")

CONV = Template("""\
/* Positions of a row's kept weights: input offsets for a window inside the input, (ky << 8 | kx) kept in k[] for
   windows that cross the border. */
static void eg_row_offsets_$name(const eg_conv *p, int n, uint16_t *k, int32_t *off) {
  const int32_t row_c = p->depthwise ? 1 : p->in_c;
  int j;
  if (p->k_h == 1 && p->k_w == 1 && !p->depthwise) {
    for (j = 0; j < n; ++j) off[j] = k[j];
    return;
  }
  for (j = 0; j < n; ++j) {
    const int32_t ic = k[j] % row_c, kx = (k[j] / row_c) % p->k_w, ky = k[j] / (row_c * p->k_w);
    off[j] = (ky * p->dil_h * p->in_w + kx * p->dil_w) * p->in_c + ic;
    k[j] = (uint16_t)(ky << 8 | kx);
  }
}

/* A window crossing the border: only the taps inside the input count (TFLM skips the others). */
static $ACC eg_border_$name(const eg_conv *p, const int8_t *values, const $IO *x, const int32_t *off,
                            const uint16_t *k, int n, int32_t iy0, int32_t ix0) {
  $ACC acc = 0;
  int j;
  for (j = 0; j < n; ++j) {
    const int32_t iy = iy0 + (k[j] >> 8) * p->dil_h, ix = ix0 + (k[j] & 0xFF) * p->dil_w;
    if (iy < 0 || ix < 0 || iy >= p->in_h || ix >= p->in_w) continue;
    acc += ($ACC)values[j] * (x[off[j]] + p->in_offset);
  }
  return acc;
}

/* One kernel for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: output channel after output channel, the row's
   kept positions are decoded once, then every output position multiplies only those, four at a time where the
   windows lie inside the input. The parameters are copied into locals: the int8 stores may alias them. */
static void eg_conv_$name(const eg_conv *p, const $IO *in, $IO *out, uint16_t *k, int32_t *off) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_h = p->out_h, out_w = p->out_w;
  const int32_t out_c = p->out_c, stride_h = p->stride_h, stride_w = p->stride_w, pad_t = p->pad_t;
  const int32_t pad_l = p->pad_l, offset = p->out_offset, lo = p->act_min, hi = p->act_max;
  const int32_t last_y = (p->k_h - 1) * p->dil_h, last_x = (p->k_w - 1) * p->dil_w;
  const int32_t last = (last_y * in_w + last_x) * in_c + (p->depthwise ? 0 : in_c - 1);
  const int32_t step = stride_w * in_c;
  eg_cursor cur;
  int32_t oc, live = 0, dead = 0;
  eg_cursor_start(&p->w, &cur);
  for (oc = 0; oc < out_c; ++oc) {
    const int8_t *values;
    const int n = eg_next_row(&p->w, &cur, k, oc, &values);
    const int32_t channel = p->depthwise ? oc / p->depth_multiplier : 0;
    const int32_t c = n ? live++ : dead++;
    const $ACC b = n ? ($ACC)eg_bias(p, c) : 0;
    $ACC inside = b, acc[EG_RUN_$name];
    eg_row_$name row;
    eg_rq_$name rq;
    int32_t j, oy, ox;
    if (n == 0) {
      const $IO constant = ((const $IO *)p->constants)[c];
      for (j = 0; j < out_h * out_w; ++j) out[j * out_c + oc] = constant;
      continue;
    }
    eg_rq_init_$name(&rq, p->multiplier[c], p->shift[c], offset, lo, hi, p->narrow);
    eg_row_offsets_$name(p, n, k, off);
    eg_row_prepare_$name(&row, values, off, n, last, off + n, out_h * out_w);
    for (j = 0; j < n; ++j) inside += ($ACC)values[j] * p->in_offset;
    if (out_h == 1 && out_w == 1 && pad_t == 0 && pad_l == 0 && last_y < in_h && last_x < in_w) {
      out[oc] = eg_requant_$name(&rq, eg_row_dot_$name(&row, in + channel) + inside); /* a fully connected step */
      continue;
    }
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t iy0 = oy * stride_h - pad_t;
      const int rows_inside = iy0 >= 0 && iy0 + last_y < in_h;
      $IO *o = out + oy * out_w * out_c + oc;
      for (ox = 0; ox < out_w;) {
        const int32_t first = ox, end = eg_min(ox + EG_RUN_$name, out_w);
        while (ox < end) {
          const int32_t ix0 = ox * stride_w - pad_l;
          const $IO *x = in + (iy0 * in_w + ix0) * in_c + channel;
          if (rows_inside && ix0 >= 0 && ox + 3 < end && ix0 + 3 * stride_w + last_x < in_w) {
            eg_row_dot4_$name(&row, x, step, acc + ox - first);
            ox += 4;
          } else if (rows_inside && ix0 >= 0 && ix0 + last_x < in_w) {
            acc[ox++ - first] = eg_row_dot_$name(&row, x);
          } else {
            acc[ox++ - first] = eg_border_$name(p, values, x, off, k, n, iy0, ix0) + b - inside;
          }
        }
        eg_requant_run_$name(&rq, acc, end - first, inside, o + first * out_c, out_c);
      }
    }
  }
}
""")

DWCONV = Template("""\
/* One input channel copied into a plane covering every window, the border filled with the input's zero point,
   which contributes nothing once the input offset is folded into the bias (TFLM skips those taps). */
static void eg_plane_$name(const eg_conv *p, const $IO *in, int32_t channel, $IO *plane, int32_t ph, int32_t pw) {
  const $IO border = ($IO)(-p->in_offset);
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, pad_t = p->pad_t, pad_l = p->pad_l;
  const int32_t first = eg_min(pad_l, pw), last = eg_max(first, eg_min(pad_l + in_w, pw));
  int32_t py, px;
  for (py = 0; py < ph; ++py) {
    const int32_t iy = py - pad_t;
    $IO *row = plane + py * pw;
    const $IO *src;
    if (iy < 0 || iy >= in_h) {
      for (px = 0; px < pw; ++px) row[px] = border;
      continue;
    }
    src = in + (iy * in_w + first - pad_l) * in_c + channel;
    for (px = 0; px < first; ++px) row[px] = border;
    for (; px < last; ++px, src += in_c) row[px] = *src;
    for (; px < pw; ++px) row[px] = border;
  }
}

/* DEPTHWISE_CONV_2D: each input channel is copied once into a padded plane, so that every window lies inside
   it and outputs go four at a time, whatever the border; the row's kept taps are decoded once per channel. */
static void eg_dwconv_$name(const eg_conv *p, const $IO *in, $IO *out, uint16_t *k, int32_t *off, $IO *plane) {
  const int32_t out_h = p->out_h, out_w = p->out_w, out_c = p->out_c, stride_h = p->stride_h;
  const int32_t stride_w = p->stride_w, offset = p->out_offset, lo = p->act_min, hi = p->act_max;
  const int32_t pw = (out_w - 1) * stride_w + (p->k_w - 1) * p->dil_w + 1;
  const int32_t ph = (out_h - 1) * stride_h + (p->k_h - 1) * p->dil_h + 1;
  eg_cursor cur;
  int32_t oc, filled = -1, live = 0, dead = 0;
  eg_cursor_start(&p->w, &cur);
  for (oc = 0; oc < out_c; ++oc) {
    const int8_t *values;
    const int n = eg_next_row(&p->w, &cur, k, oc, &values);
    const int32_t channel = oc / p->depth_multiplier;
    const int32_t c = n ? live++ : dead++;
    $ACC inside = n ? ($ACC)eg_bias(p, c) : 0, acc[EG_RUN_$name];
    eg_rq_$name rq;
    int32_t j, oy, ox;
    if (n == 0) {
      const $IO constant = ((const $IO *)p->constants)[c];
      for (j = 0; j < out_h * out_w; ++j) out[j * out_c + oc] = constant;
      continue;
    }
    eg_rq_init_$name(&rq, p->multiplier[c], p->shift[c], offset, lo, hi, p->narrow);
    if (channel != filled) {
      eg_plane_$name(p, in, channel, plane, ph, pw);
      filled = channel;
    }
    for (j = 0; j < n; ++j) {
      off[j] = (k[j] / p->k_w) * p->dil_h * pw + (k[j] % p->k_w) * p->dil_w;
      inside += ($ACC)values[j] * p->in_offset;
    }
    for (oy = 0; oy < out_h; ++oy) {
      const $IO *x = plane + oy * stride_h * pw;
      $IO *o = out + oy * out_w * out_c + oc;
      for (ox = 0; ox < out_w;) {
        const int32_t first = ox, end = eg_min(ox + EG_RUN_$name, out_w);
        for (; ox + 3 < end; ox += 4) eg_dot4_$name(values, x + ox * stride_w, off, n, stride_w, acc + ox - first);
        for (; ox < end; ++ox) acc[ox - first] = eg_dot_$name(values, x + ox * stride_w, off, n);
        eg_requant_run_$name(&rq, acc, end - first, inside, o + first * out_c, out_c);
      }
    }
  }
}
""")

CONV_VARIANTS = {  # name -> activation type, accumulator type, requantisation
    "s8": ("int8_t", "int32_t", "eg_mbqm32"),
    "s16": ("int16_t", "int64_t", "eg_mbqm64"),
    "s16a32": ("int16_t", "int32_t", "eg_mbqm32"),
}


def conv(variant: str) -> str:
    io, acc, mbqm = CONV_VARIANTS[variant]
    return CONV.substitute(name=variant, IO=io, ACC=acc, MBQM=mbqm)


def dot(variant: str) -> str:
    io, acc, mbqm = CONV_VARIANTS[variant]
    return DOT.substitute(name=variant, IO=io, ACC=acc, MBQM=mbqm)


def dwconv(variant: str) -> str:
    io, acc, mbqm = CONV_VARIANTS[variant]
    return DWCONV.substitute(name=variant, IO=io, ACC=acc, MBQM=mbqm)


BROADCAST_TYPES = """\
typedef struct {
  int32_t dims[4];
  int32_t stride1[4], stride2[4];
} eg_shape4;
"""

ADDSUB_TYPES = """\
typedef struct {
  eg_shape4 shape;
  int32_t subtract, left_shift;
  int32_t in1_offset, in2_offset, out_offset;
  int32_t in1_multiplier, in2_multiplier, out_multiplier;
  int32_t in1_shift, in2_shift, out_shift;
  int32_t act_min, act_max;
} eg_addsub;
"""

# Element-wise binary operators broadcast up to 4-D: $BODY computes out[o] from a[ia] and b[ib].
BINARY = Template("""\
static void eg_${kind}_$name(const $PARAMS *p, const $IO *a, const $IO *b, $IO *out) {
  const eg_shape4 *s = &p->shape;
  int32_t i0, i1, i2, i3, o = 0;
  for (i0 = 0; i0 < s->dims[0]; ++i0)
    for (i1 = 0; i1 < s->dims[1]; ++i1)
      for (i2 = 0; i2 < s->dims[2]; ++i2)
        for (i3 = 0; i3 < s->dims[3]; ++i3, ++o) {
          const int32_t ia = i0 * s->stride1[0] + i1 * s->stride1[1] + i2 * s->stride1[2] + i3 * s->stride1[3];
          const int32_t ib = i0 * s->stride2[0] + i1 * s->stride2[1] + i2 * s->stride2[2] + i3 * s->stride2[3];
$BODY
        }
}
""")

ADDSUB_BODY = """\
          const int32_t x = (int32_t)((uint32_t)(p->in1_offset + a[ia]) << p->left_shift);
          const int32_t y = (int32_t)((uint32_t)(p->in2_offset + b[ib]) << p->left_shift);
          const int32_t sx = eg_mbqm32(x, p->in1_multiplier, p->in1_shift);
          const int32_t sy = eg_mbqm32(y, p->in2_multiplier, p->in2_shift);
          const int32_t raw = eg_mbqm32(p->subtract ? sx - sy : sx + sy, p->out_multiplier, p->out_shift);
          out[o] = ($IO)eg_min(eg_max(raw + p->out_offset, p->act_min), p->act_max);"""

MUL_BODY = """\
          const int32_t product = (p->in1_offset + a[ia]) * (p->in2_offset + b[ib]);
          const int32_t raw = eg_mbqm32(product, p->multiplier, p->shift) + p->out_offset;
          out[o] = ($IO)eg_min(eg_max(raw, p->act_min), p->act_max);"""

MUL_TYPES = """\
typedef struct {
  eg_shape4 shape;
  int32_t in1_offset, in2_offset, out_offset, multiplier, shift, act_min, act_max;
} eg_mul;
"""

IO_TYPES = {"s8": "int8_t", "s16": "int16_t"}


def _binary(kind: str, params: str, body: str, variant: str) -> str:
    io = IO_TYPES[variant]
    return BINARY.substitute(kind=kind, name=variant, PARAMS=params, IO=io, BODY=Template(body).substitute(IO=io))


def addsub(variant: str) -> str:
    return _binary("addsub", "eg_addsub", ADDSUB_BODY, variant)


def mul(variant: str) -> str:
    return _binary("mul", "eg_mul", MUL_BODY, variant)


SIGMOID_TABLE_NAME = "eg_sigmoid_u16"

# TFLite's int16 LOGISTIC and TANH: a 256-entry table of sigmoid(i / 24) in 0.16 fixed point, interpolated.
LOGISTIC16 = """\
static void eg_logistic_s16(int32_t multiplier, int32_t left_shift, int32_t size, const int16_t *in,
                            int16_t *out) {
  int32_t i, round;
  if (multiplier == 0) {
    multiplier = 3 << left_shift;
    left_shift = 0;
  }
  round = left_shift > 0 ? 1 << (left_shift - 1) : 0;
  for (i = 0; i < size; ++i) {
    const int32_t x = (in[i] * multiplier + round) >> left_shift;
    const uint32_t ax = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = ax >> 9;
    uint32_t result;
    if (uh >= 255) {
      result = 0x7FFFu << 10;
    } else {
      const uint32_t ua = eg_sigmoid_u16[uh], ub = eg_sigmoid_u16[uh + 1];
      result = (ua << 9) + (ax & 0x1ff) * (ub - ua);
    }
    result = x >= 0 ? (result + (1u << 9)) : ((1u << (16 + 9)) - result + (1u << 9) - 1);
    out[i] = (int16_t)(result >> 10);
  }
}
"""

TANH16 = """\
static void eg_tanh_s16(int32_t multiplier, int32_t left_shift, int32_t size, const int16_t *in, int16_t *out) {
  int32_t i, round;
  if (multiplier == 0) {
    multiplier = 3 << left_shift;
    left_shift = 0;
  }
  round = left_shift > 0 ? 1 << (left_shift - 1) : 0;
  for (i = 0; i < size; ++i) {
    const int32_t x = (in[i] * multiplier + round) >> left_shift;
    const uint32_t ax = (uint32_t)(x < 0 ? -x : x);
    const uint32_t uh = ax >> 8;
    int32_t result;
    if (uh >= 255) {
      result = 0xFFFF << 8;
    } else {
      const uint32_t ua = eg_sigmoid_u16[uh], ub = eg_sigmoid_u16[uh + 1];
      result = (int32_t)((ua << 8) + (ax & 0xFF) * (ub - ua));
    }
    result = x >= 0 ? (result - (1 << (14 + 9)) + (1 << (9 - 2))) : (-result + (1 << (14 + 9)) + (1 << (9 - 2)) - 1);
    out[i] = (int16_t)(result >> (9 - 1));
  }
}
"""

LUT8 = """\
static void eg_lut_s8(const int8_t *table, int32_t size, const int8_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = table[(uint8_t)in[i]];
}
"""

MEAN_TYPES = """\
typedef struct {
  int32_t dims[4];
  int32_t reduce[4];
  int32_t count, in_zero_point, out_zero_point, multiplier, shift, lo, hi;
} eg_mean;
"""

# TFLite's integer MEAN: int32 sums over the reduced axes, the zero point taken out, then one requantisation
# whose multiplier already holds the division by the element count.
MEAN = Template("""\
static void eg_mean_$name(const eg_mean *p, const $IO *in, $IO *out, int32_t *sums, int32_t outputs) {
  int32_t i0, i1, i2, i3, o, i = 0;
  for (o = 0; o < outputs; ++o) sums[o] = 0;
  for (i0 = 0; i0 < p->dims[0]; ++i0)
    for (i1 = 0; i1 < p->dims[1]; ++i1)
      for (i2 = 0; i2 < p->dims[2]; ++i2)
        for (i3 = 0; i3 < p->dims[3]; ++i3, ++i) {
          const int32_t d0 = p->reduce[0] ? 0 : i0, d1 = p->reduce[1] ? 0 : i1;
          const int32_t d2 = p->reduce[2] ? 0 : i2, d3 = p->reduce[3] ? 0 : i3;
          const int32_t n1 = p->reduce[1] ? 1 : p->dims[1], n2 = p->reduce[2] ? 1 : p->dims[2];
          const int32_t n3 = p->reduce[3] ? 1 : p->dims[3];
          sums[((d0 * n1 + d1) * n2 + d2) * n3 + d3] += in[i];
        }
  for (o = 0; o < outputs; ++o) {
    const int32_t shifted = sums[o] - p->in_zero_point * p->count;
    const int32_t v = eg_mbqm32(shifted, p->multiplier, p->shift) + p->out_zero_point;
    out[o] = ($IO)eg_min(eg_max(v, p->lo), p->hi);
  }
}
""")


def mean(variant: str) -> str:
    return MEAN.substitute(name=variant, IO=IO_TYPES[variant])


PAD_TYPES = """\
typedef struct {
  int32_t in_dims[4], out_dims[4], before[4];
  int32_t value, itemsize;
} eg_padding;
"""

PAD = """\
static void eg_pad(const eg_padding *p, const void *in, void *out) {
  const int32_t *d = p->in_dims, *o = p->out_dims, *b = p->before;
  const int32_t size = p->itemsize;
  const int32_t total = o[0] * o[1] * o[2] * o[3];
  int32_t i, i0, i1, i2;
  for (i = 0; i < total; ++i) {
    if (size == 1) ((int8_t *)out)[i] = (int8_t)p->value;
    else ((int16_t *)out)[i] = (int16_t)p->value;
  }
  for (i0 = 0; i0 < d[0]; ++i0)
    for (i1 = 0; i1 < d[1]; ++i1)
      for (i2 = 0; i2 < d[2]; ++i2) {
        const int32_t src = ((i0 * d[1] + i1) * d[2] + i2) * d[3];
        const int32_t dst = (((i0 + b[0]) * o[1] + i1 + b[1]) * o[2] + i2 + b[2]) * o[3] + b[3];
        eg_copy((int8_t *)out + dst * size, (const int8_t *)in + src * size, d[3] * size);
      }
}
"""

POOL_TYPES = """\
typedef struct {
  int32_t batches, in_h, in_w, channels, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_t, pad_l;
  int32_t act_min, act_max;
} eg_pool;
"""

# TFLite's int8/int16 pooling: the window clipped to the input; the average rounds half away from zero.
POOL = Template("""\
static void eg_pool_$name(const eg_pool *p, const $IO *in, $IO *out, int32_t average) {
  int32_t n, oy, ox, c;
  for (n = 0; n < p->batches; ++n)
    for (oy = 0; oy < p->out_h; ++oy)
      for (ox = 0; ox < p->out_w; ++ox)
        for (c = 0; c < p->channels; ++c) {
          const int32_t y0 = oy * p->stride_h - p->pad_t, x0 = ox * p->stride_w - p->pad_l;
          const int32_t fy0 = eg_max(0, -y0), fy1 = eg_min(p->k_h, p->in_h - y0);
          const int32_t fx0 = eg_max(0, -x0), fx1 = eg_min(p->k_w, p->in_w - x0);
          int32_t acc = average ? 0 : $LOWEST, count = 0, fy, fx;
          for (fy = fy0; fy < fy1; ++fy)
            for (fx = fx0; fx < fx1; ++fx) {
              const $IO v = in[((n * p->in_h + y0 + fy) * p->in_w + x0 + fx) * p->channels + c];
              if (average) acc += v;
              else acc = v > acc ? v : acc;
              ++count;
            }
          if (average && count > 0) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          out[((n * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
              ($IO)eg_min(eg_max(acc, p->act_min), p->act_max);
        }
}
""")


def pool(variant: str) -> str:
    lowest = "INT8_MIN" if variant == "s8" else "INT16_MIN"
    return POOL.substitute(name=variant, IO=IO_TYPES[variant], LOWEST=lowest)


REQUANTIZE = Template("""\
static void eg_requantize_${src}_${dst}(int32_t size, const $SRC *in, $DST *out, int32_t in_zero_point,
                                        int32_t out_zero_point, int32_t multiplier, int32_t shift) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    const int32_t v = eg_mbqm32(in[i] - in_zero_point, multiplier, shift) + out_zero_point;
    out[i] = ($DST)eg_min(eg_max(v, $LO), $HI);
  }
}
""")

_LIMITS = {"s8": ("INT8_MIN", "INT8_MAX"), "s16": ("INT16_MIN", "INT16_MAX")}


def requantize(src: str, dst: str) -> str:
    lo, hi = _LIMITS[dst]
    return REQUANTIZE.substitute(src=src, dst=dst, SRC=IO_TYPES[src], DST=IO_TYPES[dst], LO=lo, HI=hi)

# TFLite's int8 SOFTMAX: gemmlowp's fixed-point exp on the rescaled differences to the row's maximum (5 integer
# bits), their sum with 12 integer bits, its reciprocal by Newton-Raphson, one rounding shift to the output.
SOFTMAX_FIXED = """\
static inline int32_t eg_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  {
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31));
  }
}

static inline int32_t eg_rdpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t eg_sat_shl(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)((1LL << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* exp(x) for x in [-1/4, 0), 0 integer bits: a Taylor expansion around -1/8. */
static int32_t eg_exp_quarter(int32_t a) {
  const int32_t x = a + (1 << 28);
  const int32_t x2 = eg_srdhm(x, x), x3 = eg_srdhm(x2, x), x4 = eg_srdhm(x2, x2);
  const int32_t x4_over_4 = eg_rdpot(x4, 2);
  const int32_t poly = eg_rdpot(eg_srdhm(x4_over_4 + x3, 715827883) + x2, 1);
  return 1895147668 + eg_srdhm(1895147668, x + poly);
}

/* exp(a) for a <= 0 given with 5 integer bits; result with 0 integer bits. */
static int32_t eg_exp_negative(int32_t a) {
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t quarter = 1 << 24;
  const int32_t mod = (a & (quarter - 1)) - quarter;
  int32_t result = eg_exp_quarter(eg_sat_shl(mod, 5));
  const int32_t remainder = mod - a;
  int i;
  for (i = 0; i < 7; ++i) {
    if (remainder & (1 << (24 + i))) result = eg_srdhm(result, multipliers[i]);
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1): Newton-Raphson with 2 integer bits. */
static int32_t eg_one_over_one_plus(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = 1515870810 + eg_srdhm(half, -1010580540);
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = (1 << 29) - eg_srdhm(half, x);
    x = x + eg_sat_shl(eg_srdhm(x, one_minus), 2);
  }
  return eg_sat_shl(x, 1);
}
"""

SOFTMAX = Template("""\
static void eg_softmax_s8_$name(int32_t rows, int32_t depth, int32_t multiplier, int32_t left_shift,
                                int32_t diff_min, const int8_t *in, $OUT *out) {
  int32_t r, c;
  for (r = 0; r < rows; ++r, in += depth, out += depth) {
    int32_t max = INT8_MIN, sum = 0, headroom, bits_over_unit, scale, exponent;
    uint32_t usum;
    for (c = 0; c < depth; ++c) max = in[c] > max ? in[c] : max;
    for (c = 0; c < depth; ++c) {
      const int32_t diff = in[c] - max;
      if (diff >= diff_min) sum += eg_rdpot(eg_exp_negative(eg_srdhm(diff * (1 << left_shift), multiplier)), 12);
    }
    usum = (uint32_t)sum;
    headroom = usum ? __builtin_clz(usum) : 32;
    bits_over_unit = 12 - headroom;
    scale = eg_one_over_one_plus((int32_t)((usum << headroom) - (1u << 31)));
    exponent = bits_over_unit + 31 - $BITS;
    for (c = 0; c < depth; ++c) {
      const int32_t diff = in[c] - max;
      if (diff >= diff_min) {
        const int32_t e = eg_exp_negative(eg_srdhm(diff * (1 << left_shift), multiplier));
        const int32_t v = eg_rdpot(eg_srdhm(scale, e), exponent) + $LO;
        out[c] = ($OUT)eg_min(eg_max(v, $LO), $HI);
      } else {
        out[c] = ($OUT)$LO;
      }
    }
  }
}
""")


def softmax(variant: str) -> str:
    out, bits, lo, hi = {"s8": ("int8_t", 8, "INT8_MIN", "INT8_MAX"),
                         "s16": ("int16_t", 16, "INT16_MIN", "INT16_MAX")}[variant]
    return SOFTMAX.substitute(name=variant, OUT=out, BITS=bits, LO=lo, HI=hi)

# QUANTIZE from float32 and DEQUANTIZE to float32, as TFLM computes them: val / (float)scale rounded half away
# from zero; (float)(scale * (val - zero_point)) in double. No libm: the rounding is written out.
FLOAT_IO = Template("""\
static void eg_quantize_f32_$name(int32_t size, const float *in, $OUT *out, float scale, int32_t zero_point) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    float q = in[i] / scale;
    int32_t v;
    if (!(q > -2147483520.0f)) q = -2147483520.0f;
    if (q > 2147483520.0f) q = 2147483520.0f;
    v = (int32_t)q;
    if (q - (float)v >= 0.5f) v += 1;
    else if (q - (float)v <= -0.5f) v -= 1;
    v = v + zero_point;
    out[i] = ($OUT)eg_min(eg_max(v, $LO), $HI);
  }
}

static void eg_dequantize_${name}_f32(int32_t size, const $OUT *in, float *out, double scale, int32_t zero_point) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = (float)(scale * (double)(in[i] - zero_point));
}
""")


def float_io(variant: str) -> str:
    out, lo, hi = {"s8": ("int8_t", "INT8_MIN", "INT8_MAX"), "s16": ("int16_t", "INT16_MIN", "INT16_MAX")}[variant]
    return FLOAT_IO.substitute(name=variant, OUT=out, LO=lo, HI=hi)
