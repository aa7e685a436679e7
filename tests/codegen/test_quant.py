"""The C requantisation against TFLite's MultiplyByQuantizedMultiplier as its reference code writes it (nudge,
truncating division, the saturating corner), on the edges and on random values: the generated C computes the
doubling high multiply as a floor shift, which must give the same integers for every multiplier TFLite makes."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np

from edge_gmp.codegen import csource
from edge_gmp.codegen.host import CFLAGS, compiler


def tflite_mbqm32(x: int, multiplier: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    a = (x * (1 << left) + 2**31) % 2**32 - 2**31
    if a == multiplier == -(2**31):
        high = 2**31 - 1
    else:
        ab = a * multiplier
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        q = abs(ab + nudge) // (1 << 31)
        high = q if ab + nudge >= 0 else -q
    mask = (1 << right) - 1
    remainder, threshold = high & mask, (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if remainder > threshold else 0)


def _c_mbqm32(tmp_path: Path) -> ctypes._CFuncPtr:
    source = tmp_path / "mbqm.c"
    source.write_text(csource.PRELUDE + "int32_t t(int32_t x, int32_t m, int s);\n"
                      "int32_t t(int32_t x, int32_t m, int s) { return eg_mbqm32(x, m, s); }\n")
    lib = tmp_path / "libmbqm.so"
    flags = [*CFLAGS, "-Wno-unused-function"]  # the prelude's other helpers are unused here
    subprocess.run([compiler(), *flags, "-shared", "-fPIC", str(source), "-o", str(lib)], check=True)
    fn = ctypes.CDLL(str(lib)).t
    fn.argtypes, fn.restype = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int], ctypes.c_int32
    return fn


def test_generated_requantisation_is_tflites(tmp_path: Path) -> None:
    fn = _c_mbqm32(tmp_path)
    rng = np.random.default_rng(0)
    edges = [-(2**31), -(2**31) + 1, -(2**30) - 1, -(2**30), -65537, -3, -2, -1, 0, 1, 2, 3, 65535, 2**30,
             2**31 - 1]
    multipliers = [0, 2**30, 2**30 + 1, 1518500250, 2**31 - 2, 2**31 - 1,
                   *rng.integers(2**30, 2**31, 40).tolist()]  # quantised multipliers: 0 or in [2^30, 2^31)
    shifts = list(range(-31, 8))
    xs = edges + rng.integers(-(2**31), 2**31, 200).tolist() + rng.integers(-5000, 5000, 100).tolist()
    checked = 0
    for m in multipliers:
        for s in shifts:
            for x in xs[:: 1 if s in (-31, -1, 0, 1, 7) else 7]:
                assert fn(x, m, s) == tflite_mbqm32(x, m, s), (x, m, s)
                checked += 1
    assert checked > 50_000
