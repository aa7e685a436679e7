"""Inner loops for Cortex-M cores with the DSP extension (M4, M7): the target header the generated C includes
through ``EG_TARGET_HEADER`` in a firmware build, in place of the portable loops (the host build keeps those).

* Convolution and fully connected rows read by enough outputs (:data:`RECODE_MIN_POSITIONS`) are recoded once per
  output channel: runs of 4 neighbouring input offsets that hold at least :data:`QUAD_MIN_KEPT` non-zero weights
  become a *quad* (the weights widened to two int16 pairs, the missing ones zero), read with one 32-bit load per
  output and two SMLADs on SXTB16-widened activations; the other weights stay *singles* (offset and weight in one
  word). Stored zeros (dense and block4 padding) are dropped.
* Depthwise planes with stride 1 or 2 hold four neighbouring outputs' taps in one or two 32-bit loads: SXTB16
  widens them and SMLABB/SMLABT multiply each by the tap's weight.
* Requantisation, a run of outputs at a time: TFLite's double rounding with a cheaper rounding right shift,
  (x + 2^(e-1) - (x < 0)) >> e; where the generator proved the sums fit 31 bits (``eg_conv.narrow``), SMMULR on the
  doubled sum gives the rounding doubling high multiply in one instruction.

The hottest loops are inline assembly: written in C, the compiler spills their constants. Integer sums do not
depend on their order, so outputs stay bit for bit those of the portable C (and so TFLM's).
"""

from __future__ import annotations

HEADER_NAME = "eg_dsp.h"
QUAD_MIN_KEPT = 2
RECODE_MIN_POSITIONS = 8

HEADER = """\
/* eg_dsp.h: inner loops for Cortex-M with the DSP extension (edge_gmp.target.dsp). */
#include <arm_acle.h>

/* One copy of the longer loops: the flash budget counts every byte of code. */
#define EG_OUTLINE __attribute__((noinline, unused)) static

/* An unaligned 32-bit load (LDR allows it on ARMv7-M). */
static inline int32_t eg_load32(const int8_t *p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

#define EG_HAVE_REQUANT_s8 1
typedef struct {
  int32_t multiplier, left, right, half, negative, offset, lo, hi, narrow;
} eg_rq_s8;

static inline void eg_rq_init_s8(eg_rq_s8 *q, int32_t multiplier, int32_t shift, int32_t offset, int32_t lo,
                                 int32_t hi, int32_t narrow) {
  q->multiplier = multiplier;
  q->left = shift > 0 ? shift : 0;
  q->right = shift > 0 ? 0 : -shift;
  q->half = (int32_t)((1u << q->right) >> 1);
  q->negative = q->right ? -1 : 0;
  q->offset = offset;
  q->lo = lo;
  q->hi = hi;
  q->narrow = narrow;
}

static inline int8_t eg_requant_s8(const eg_rq_s8 *q, int32_t acc) {
  const int32_t a = (int32_t)((uint32_t)acc << q->left);
  const int32_t high = (int32_t)(((int64_t)a * q->multiplier + (1LL << 30)) >> 31);
  const int32_t v = ((high + q->half + ((high >> 31) & q->negative)) >> q->right) + q->offset;
  return (int8_t)eg_min(eg_max(v, q->lo), q->hi);
}

/* A run of n >= 1 outputs. Sums that fit in 31 bits, no left shift, a right shift (the common case): doubled,
   SMMULR gives (a * multiplier + 2^30) >> 31 in one instruction, and the loop is written out so that every
   constant stays in a register. */
EG_OUTLINE void eg_requant_run_s8(const eg_rq_s8 *q, const int32_t *acc, int32_t n,
                                                      int32_t inside, int8_t *out, int32_t stride) {
  const int32_t *end = acc + n;
  if (q->narrow && q->left == 0 && q->right > 0) {
    const int32_t twice = 2 * inside, multiplier = q->multiplier, half = q->half, right = q->right;
    const int32_t offset = q->offset, lo = q->lo, hi = q->hi;
    int32_t t, u;
    __asm__ volatile(
        "1:\\n\\t"
        "ldr %[t], [%[acc]], #4\\n\\t"
        "add %[t], %[twice], %[t], lsl #1\\n\\t"
        "smmulr %[t], %[t], %[m]\\n\\t"
        "add %[u], %[t], %[half]\\n\\t"
        "add %[u], %[u], %[t], asr #31\\n\\t"
        "asr %[u], %[u], %[right]\\n\\t"
        "add %[u], %[u], %[offset]\\n\\t"
        "cmp %[u], %[lo]\\n\\t"
        "it lt\\n\\t"
        "movlt %[u], %[lo]\\n\\t"
        "cmp %[u], %[hi]\\n\\t"
        "it gt\\n\\t"
        "movgt %[u], %[hi]\\n\\t"
        "strb %[u], [%[out]]\\n\\t"
        "add %[out], %[out], %[stride]\\n\\t"
        "cmp %[acc], %[end]\\n\\t"
        "blo 1b\\n\\t"
        : [acc] "+r"(acc), [out] "+r"(out), [t] "=&r"(t), [u] "=&r"(u)
        : [end] "r"(end), [twice] "r"(twice), [m] "r"(multiplier), [half] "r"(half), [right] "r"(right),
          [offset] "r"(offset), [lo] "r"(lo), [hi] "r"(hi), [stride] "r"(stride)
        : "cc", "memory");
    return;
  }
  for (; acc < end; ++acc, out += stride) *out = eg_requant_s8(q, *acc + inside);
}

#define EG_HAVE_DOT_s8 1
static inline int32_t eg_dot_s8(const int8_t *values, const int8_t *x, const int32_t *off, int n) {
  int32_t acc = 0;
  int j;
  for (j = 0; j < n; ++j) acc += values[j] * x[off[j]];
  return acc;
}

/* Four outputs step bytes apart: a stride-1 or stride-2 plane holds their taps in one or two words. */
EG_OUTLINE void eg_dot4_s8(const int8_t *values, const int8_t *x, const int32_t *off, int n, int32_t step,
                              int32_t *acc) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int j;
  if (step == 1) {
    for (j = 0; j < n; ++j) {
      const int32_t w = values[j], v = eg_load32(x + off[j]);
      const int32_t even = __sxtb16(v), odd = __sxtb16(__ror(v, 8));
      a0 = __smlabb(w, even, a0);
      a1 = __smlabb(w, odd, a1);
      a2 = __smlabt(w, even, a2);
      a3 = __smlabt(w, odd, a3);
    }
  } else if (step == 2) {
    for (j = 0; j < n; ++j) {
      const int8_t *q = x + off[j];
      const int32_t w = values[j], first = __sxtb16(eg_load32(q)), second = __sxtb16(__ror(eg_load32(q + 3), 8));
      a0 = __smlabb(w, first, a0);
      a1 = __smlabt(w, first, a1);
      a2 = __smlabb(w, second, a2);
      a3 = __smlabt(w, second, a3);
    }
  } else {
    for (j = 0; j < n; ++j) {
      const int32_t w = values[j];
      const int8_t *q = x + off[j];
      a0 += w * q[0];
      a1 += w * q[step];
      a2 += w * q[2 * step];
      a3 += w * q[3 * step];
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

#define EG_HAVE_ROWS_s8 1
/* Quads grow from the start of the scratch (3 words each: offset, weights 0 and 2, weights 1 and 3 as int16
   pairs), singles down from 1.5 words per kept weight ((offset << 8) | weight): a quad holds at least two kept
   weights, so the two never meet. */
typedef struct {
  const int32_t *quads, *quads_end, *singles, *singles_end;
  const int8_t *values; /* rows read by few outputs are not recoded: the portable loop walks values and off */
  const int32_t *off;
  int n;
} eg_row_s8;

static inline uint32_t eg_pair16(int32_t low, int32_t high) {
  return (uint32_t)(uint16_t)low | (uint32_t)high << 16;
}

EG_OUTLINE void eg_row_prepare_s8(eg_row_s8 *r, const int8_t *values, const int32_t *off, int n, int32_t last,
                                  int32_t *scratch, int32_t positions) {
  int32_t *quad = scratch, *single = scratch + n + (n + 1) / 2;
  int j = 0;
  r->values = values;
  r->off = off;
  r->n = n;
  if (positions < EG_RECODE_MIN_POSITIONS) {
    r->quads = r->quads_end = r->singles = r->singles_end = 0;
    return;
  }
  r->n = 0;
  r->quads = scratch;
  r->singles_end = single;
  while (j < n) {
    const int32_t o = off[j];
    int32_t lane[4] = {0, 0, 0, 0};
    int e = j, kept = 0;
    if (values[j] == 0) {
      ++j;
      continue;
    }
    if (o + 3 <= last) {
      for (; e < n && (uint32_t)(off[e] - o) <= 3u; ++e) { /* offsets rise, except in rows never read */
        lane[off[e] - o] = values[e];
        kept += values[e] != 0;
      }
    }
    if (kept >= EG_QUAD_MIN_KEPT) {
      quad[0] = o;
      quad[1] = (int32_t)eg_pair16(lane[0], lane[2]);
      quad[2] = (int32_t)eg_pair16(lane[1], lane[3]);
      quad += 3;
      j = e;
    } else {
      *--single = (int32_t)((uint32_t)o << 8 | (uint8_t)values[j]);
      ++j;
    }
  }
  r->quads_end = quad;
  r->singles = single;
}

static inline int32_t eg_quad(const int8_t *x, const int32_t *quad, int32_t acc) {
  const int32_t v = eg_load32(x);
  return __smlad(__sxtb16(__ror(v, 8)), quad[2], __smlad(__sxtb16(v), quad[1], acc));
}

/* Four outputs step bytes apart. The quad loop is written out: in C the compiler spills its 13 live values. */
static inline void eg_row_dot4_s8(const eg_row_s8 *r, const int8_t *x, int32_t step, int32_t *acc) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  const int32_t *q = r->quads, *s;
  if (r->n) {
    eg_dot4_s8(r->values, x, r->off, r->n, step, acc);
    return;
  }
  if (q < r->quads_end) {
    int32_t p, w02, w13, v, t;
    __asm__ volatile(
        "1:\\n\\t"
        "ldr %[p], [%[q]], #12\\n\\t"
        "ldrd %[w02], %[w13], [%[q], #-8]\\n\\t"
        "add %[p], %[x], %[p]\\n\\t"
        "ldr %[v], [%[p]]\\n\\t"
        "sxtb16 %[t], %[v]\\n\\t"
        "sxtb16 %[v], %[v], ror #8\\n\\t"
        "smlad %[a0], %[t], %[w02], %[a0]\\n\\t"
        "smlad %[a0], %[v], %[w13], %[a0]\\n\\t"
        "ldr %[v], [%[p], %[step]]\\n\\t"
        "sxtb16 %[t], %[v]\\n\\t"
        "sxtb16 %[v], %[v], ror #8\\n\\t"
        "smlad %[a1], %[t], %[w02], %[a1]\\n\\t"
        "smlad %[a1], %[v], %[w13], %[a1]\\n\\t"
        "add %[p], %[p], %[step], lsl #1\\n\\t"
        "ldr %[v], [%[p]]\\n\\t"
        "sxtb16 %[t], %[v]\\n\\t"
        "sxtb16 %[v], %[v], ror #8\\n\\t"
        "smlad %[a2], %[t], %[w02], %[a2]\\n\\t"
        "smlad %[a2], %[v], %[w13], %[a2]\\n\\t"
        "ldr %[v], [%[p], %[step]]\\n\\t"
        "sxtb16 %[t], %[v]\\n\\t"
        "sxtb16 %[v], %[v], ror #8\\n\\t"
        "smlad %[a3], %[t], %[w02], %[a3]\\n\\t"
        "smlad %[a3], %[v], %[w13], %[a3]\\n\\t"
        "cmp %[q], %[end]\\n\\t"
        "blo 1b\\n\\t"
        : [q] "+r"(q), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p] "=&r"(p),
          [w02] "=&r"(w02), [w13] "=&r"(w13), [v] "=&r"(v), [t] "=&r"(t)
        : [x] "r"(x), [step] "r"(step), [end] "r"(r->quads_end)
        : "cc", "memory");
  }
  for (s = r->singles; s < r->singles_end; ++s) {
    const int32_t w = (int8_t)*s;
    const int8_t *p = x + (*s >> 8);
    a0 += w * p[0];
    a1 += w * p[step];
    a2 += w * p[2 * step];
    a3 += w * p[3 * step];
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

static inline int32_t eg_row_dot_s8(const eg_row_s8 *r, const int8_t *x) {
  int32_t acc = 0;
  const int32_t *q, *s;
  if (r->n) return eg_dot_s8(r->values, x, r->off, r->n);
  for (q = r->quads; q < r->quads_end; q += 3) acc = eg_quad(x + q[0], q, acc);
  for (s = r->singles; s < r->singles_end; ++s) acc += (int8_t)*s * x[*s >> 8];
  return acc;
}
"""


def header(quad_min_kept: int = QUAD_MIN_KEPT, recode_min_positions: int = RECODE_MIN_POSITIONS) -> str:
    """The header's text; ``quad_min_kept``: the fewest kept weights a quad may hold (2 to 4);
    ``recode_min_positions``: the fewest outputs reading a row for which recoding it pays."""
    return (f"#define EG_QUAD_MIN_KEPT {quad_min_kept}\n#define EG_RECODE_MIN_POSITIONS {recode_min_positions}\n"
            + HEADER)
