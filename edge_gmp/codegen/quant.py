"""The integer parameters TFLite Micro's kernels derive from float scales when they are prepared, computed the
same way (IEEE double or float32 where TFLM uses it, ``frexp``, round half away from zero) so that the generated C
needs no floating point and matches TFLM bit for bit."""

from __future__ import annotations

import math

import numpy as np

INT_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1)}
# schema.ActivationFunctionType: NONE, RELU, RELU_N1_TO_1, RELU6
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3


def round_half_away(x: float) -> int:
    """``std::round``: halves away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real`` ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    fixed = round_half_away(q * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def _float_quantize(scale: float, zero_point: int, value: float) -> int:
    """kernel_util's ``Quantize``: float32 division and rounding."""
    q = np.float32(value) / np.float32(scale)
    return zero_point + round_half_away(float(q))


def activation_range(activation: int, scale: float, zero_point: int, dtype: str) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for a fused activation on an output of ``dtype``."""
    lo, hi = INT_RANGES[dtype]
    if activation == ACT_RELU:
        return max(lo, _float_quantize(scale, zero_point, 0.0)), hi
    if activation == ACT_RELU6:
        return (max(lo, _float_quantize(scale, zero_point, 0.0)),
                min(hi, _float_quantize(scale, zero_point, 6.0)))
    if activation == ACT_RELU_N1_TO_1:
        return (max(lo, _float_quantize(scale, zero_point, -1.0)),
                min(hi, _float_quantize(scale, zero_point, 1.0)))
    return lo, hi


def checked_log2(x: float) -> tuple[int, bool]:
    """``CheckedLog2`` in float32: (rounded log2, whether ``x`` is a power of two within 1e-3)."""
    value = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(round_half_away(float(value)))
    return int(rounded), bool(abs(np.float32(value - rounded)) < np.float32(1e-3))


def _wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's ``MultiplyByQuantizedMultiplier`` for an int32 ``x``, as the generated ``eg_mbqm32``."""
    left, right = max(shift, 0), max(-shift, 0)
    high = (_wrap32(x << left) * multiplier + (1 << 30)) >> 31
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


def multiply_by_quantized_multiplier64(x: int, multiplier: int, shift: int) -> int:
    """The int64 accumulator's variant (16-bit reduced multiplier, one rounding), as the generated ``eg_mbqm64``."""
    reduced = (multiplier + (1 << 15)) >> 16 if multiplier < 0x7FFF0000 else 0x7FFF
    total = 15 - shift
    return _wrap32((x * reduced + (1 << (total - 1))) >> total)
