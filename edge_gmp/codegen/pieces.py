"""The C pieces a generated file may hold, in the order they are emitted, by the keys layers ask for."""

from __future__ import annotations

from edge_gmp.codegen import csource as c


def _sigmoid_table() -> str:
    from edge_gmp.codegen.reference import sigmoid_table

    values = sigmoid_table()
    body = ",".join(("\n  " if i % 16 == 0 else " ") + str(v) for i, v in enumerate(values))
    return f"/* sigmoid(i / 24) in 0.16 fixed point, the table TFLite's int16 LOGISTIC and TANH interpolate */\n" \
           f"static const uint16_t {c.SIGMOID_TABLE_NAME}[256] = {{{body}\n}};\n"


def piece(key: str) -> str:
    kind, _, variant = key.partition(":")
    fixed = {"mbqm64": c.MBQM64, "weights": c.WEIGHTS, "conv_types": c.CONV_TYPES,
             "broadcast_types": c.BROADCAST_TYPES, "addsub_types": c.ADDSUB_TYPES, "mul_types": c.MUL_TYPES,
             "logistic16": c.LOGISTIC16, "tanh16": c.TANH16, "lut8": c.LUT8, "mean_types": c.MEAN_TYPES,
             "pad_types": c.PAD_TYPES, "pad": c.PAD, "pool_types": c.POOL_TYPES, "softmax_fixed": c.SOFTMAX_FIXED}
    if key in fixed:
        return fixed[key]
    if key == "sigmoid_table":
        return _sigmoid_table()
    builders = {"format": lambda v: c.DECODERS[v], "conv": c.conv, "dot": c.dot, "dwconv": c.dwconv,
                "addsub": c.addsub, "mul": c.mul, "softmax": c.softmax, "float_io": c.float_io,
                "mean": c.mean, "pool": c.pool, "requantize": lambda v: c.requantize(*v.split(":"))}
    return builders[kind](variant)


ORDER = ["mbqm64", "weights", "format:dense", "format:bitmask", "format:block4", "format:delta4", "next_row",
         "conv_types", "dot:s8", "dot:s16", "dot:s16a32", "conv:s8", "conv:s16", "conv:s16a32", "dwconv:s8",
         "dwconv:s16", "dwconv:s16a32", "broadcast_types", "addsub_types", "addsub:s8",
         "addsub:s16", "mul_types", "mul:s8", "mul:s16", "sigmoid_table", "logistic16", "tanh16", "lut8",
         "mean_types", "mean:s8", "mean:s16", "pad_types", "pad", "pool_types", "pool:s8", "pool:s16",
         "requantize:s8:s8", "requantize:s8:s16", "requantize:s16:s8", "requantize:s16:s16", "softmax_fixed",
         "softmax:s8", "softmax:s16", "float_io:s8", "float_io:s16"]


def assemble(keys: set[str]) -> str:
    formats = {k.split(":", 1)[1] for k in keys if k.startswith("format:")}
    out = []
    for key in ORDER:
        if key == "next_row" and formats:
            out.append(c.next_row(formats))
        elif key in keys:
            out.append(piece(key))
    return "\n".join(out)
