"""The smallest TensorFlow Lite Micro tensor arena a model needs.

Figures are measured with the host (64-bit) build of TFLM: pointers and the persistent structs
(TfLiteEvalTensor, node/registration records) are larger than on a 32-bit MCU, so a Cortex-M build needs
somewhat less (the persistent "tail" shrinks; the planned activation "head" is the same). Treat the
result as a slightly conservative RAM figure for the arena alone (stack, heap and the interpreter object
are outside it; the device profile's RAM reserve covers them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.native import capture_native_output
from edge_gmp.runtimes.errors import ArenaTooSmall, Unsupported
from edge_gmp.runtimes.tflite_file import TFLiteInfo, inspect_tflite
from edge_gmp.runtimes.tflm import create_interpreter, default_arena, invoke, sparse_unsupported

HOST_NOTE = "64-bit host TFLM figure; a 32-bit MCU needs slightly less for the persistent part"
_MAX_ARENA = 1 << 28
_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")


def _runs(data: bytes, arena: int, info: TFLiteInfo, known_good: bool = False) -> bool:
    """Allocate tensors and run one inference (zeros) in ``arena`` bytes. Once a larger arena is
    ``known_good``, any failure means this one is too small (TFLM's wording for that varies)."""
    try:
        interp = create_interpreter(data, arena, info)
        for i in range(len(info.input_names)):
            d = interp.get_input_details(i)
            interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
        invoke(interp, arena)
    except ArenaTooSmall:
        return False
    except Unsupported:
        if known_good:
            return False
        raise
    return True


def measure_arena(tflite_path: str | os.PathLike) -> int:
    """Smallest arena (bytes) with which TFLM allocates the model AND runs one inference (bisection).

    Raises UserError for bad files and Unsupported when TFLM cannot run the model at any size
    (sparse encoding, an op TFLM lacks). See the module docstring: 64-bit host figure.
    """
    info = inspect_tflite(tflite_path)
    if info.sparse_encoded:
        raise sparse_unsupported(info)
    data = Path(tflite_path).read_bytes()
    hi = default_arena(len(data))
    while not _runs(data, hi, info):
        if hi >= _MAX_ARENA:
            raise UserError(f"{tflite_path}: TFLite Micro could not allocate the model even with a "
                            f"{_MAX_ARENA >> 20} MiB arena")
        hi *= 2
    lo = 0  # invariant: lo fails, hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _runs(data, mid, info, known_good=True):
            hi = mid
        else:
            lo = mid
    return hi


def arena_breakdown(tflite_path: str | os.PathLike, arena_bytes: int) -> dict[str, int]:
    """TFLM's RecordingMicroAllocator figures after one inference: ``total``, ``head`` (planned
    activations/scratch, non-persistent) and ``tail`` (persistent structs), in bytes."""
    info = inspect_tflite(tflite_path)
    data = Path(tflite_path).read_bytes()
    interp = create_interpreter(data, arena_bytes, info)
    for i in range(len(info.input_names)):
        d = interp.get_input_details(i)
        interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
    invoke(interp, arena_bytes)
    with capture_native_output() as cap:
        interp.print_allocations()
    return {k: int(v) for k, v in _LINE.findall(cap.text)}
