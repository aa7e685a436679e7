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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_gmp.native import capture_native_output
from edge_gmp.runtimes.errors import ArenaTooSmall, Unsupported
from edge_gmp.runtimes.isolated import RuntimeCrashed, run_isolated
from edge_gmp.runtimes.tflm import create_interpreter, default_arena, invoke, sparse_unsupported
from edge_gmp.tflite import TFLiteInfo, inspect_tflite
from edge_gmp.tflite.decode import DECODE_OP, decoded_tensors

HOST_NOTE = "64-bit host TFLM figure; a 32-bit MCU needs slightly less for the persistent part"
_MAX_ARENA = 1 << 28
_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_ALIGNMENT = 16  # MicroArenaBufferAlignment(): where TFLM starts each allocation in the decompression buffer


class ArenaExceeds(Exception):
    """The model did not allocate and run within the largest arena tried (``limit`` bytes)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"TFLite Micro could not allocate and run the model within {limit:,} bytes")


def _probe(data: bytes, arena: int, info: TFLiteInfo, alt: int) -> bool:
    try:
        interp = create_interpreter(data, arena, info, alt)
        for i in range(len(info.input_names)):
            d = interp.get_input_details(i)
            interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
        invoke(interp, arena)
    except ArenaTooSmall:
        return False
    return True


def _runs(data: bytes, arena: int, info: TFLiteInfo, known_good: bool = False, alt: int = 0) -> bool:
    """Allocate tensors and run one inference (zeros) in ``arena`` bytes (and ``alt`` bytes of decompression
    buffer), in a child process: TFLM can crash in an arena a few bytes too small (a kernel's Prepare fails and
    leaves temporary buffers behind). Once a larger size is ``known_good``, any failure, a crash included,
    means this one is too small (TFLM's wording for that varies)."""
    try:
        return run_isolated(_probe, data, arena, info, alt)
    except (Unsupported, RuntimeCrashed):
        if known_good:
            return False
        raise


def _smallest(works: Callable[[int, bool], bool], start: int, limit: int) -> int:
    """Smallest size for which ``works(size, known_good)`` holds: doubling from ``start`` up to ``limit``,
    then bisection. Raises ArenaExceeds when even ``limit`` fails."""
    hi = min(start, limit)
    while not works(hi, False):
        if hi >= limit:
            raise ArenaExceeds(limit)
        hi = min(2 * hi, limit)
    lo = 0  # invariant: lo fails, hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if works(mid, True):
            hi = mid
        else:
            lo = mid
    return hi


def measure_arena(tflite_path: str | os.PathLike, limit_bytes: int | None = None,
                  alt_decompression_bytes: int = 0) -> int:
    """Smallest arena (bytes) with which TFLM allocates the model AND runs one inference (bisection), given
    ``alt_decompression_bytes`` of separate decompression buffer (0: decoded tensors live in the arena).

    The search never goes beyond ``limit_bytes`` (default 256 MiB; a device's RAM when validating): it raises
    ArenaExceeds rather than asking the runtime for absurd sizes. Raises UserError for bad files and
    Unsupported when TFLM cannot run the model at any size (sparse encoding, an op TFLM lacks). See the
    module docstring: 64-bit host figure.
    """
    info = inspect_tflite(tflite_path)
    if info.sparse_encoded:
        raise sparse_unsupported(info)
    data = Path(tflite_path).read_bytes()
    limit = _MAX_ARENA if limit_bytes is None else int(limit_bytes)
    return _smallest(lambda size, good: _runs(data, size, info, good, alt_decompression_bytes),
                     default_arena(len(data)), limit)


def decompression_buffer_bytes(data: bytes) -> int:
    """The alternate decompression buffer that holds every decoded tensor: TFLM reuses the buffer from one
    DECODE operator to the next (it resets the buffer's allocations after each operator's Prepare), so this is
    the largest total of one operator's outputs, each starting on a 16-byte boundary. 0 without DECODE."""
    per_operator: dict[tuple[int, int], int] = {}
    for tensor in decoded_tensors(data):
        key = (tensor.subgraph, tensor.operator)
        used = per_operator.get(key, 0)
        per_operator[key] = -(-used // _ALIGNMENT) * _ALIGNMENT + tensor.decoded_bytes
    return max(per_operator.values(), default=0)


def measure_decompression_buffer(tflite_path: str | os.PathLike, limit_bytes: int | None = None) -> int:
    """Smallest alternate decompression buffer (``alt_decompression_memory_size``) with which the arena of a
    model holding TFLM_DECODE operators reaches its minimum; 0 for a model without them.

    Whether the model runs is no criterion: TFLM silently decodes a tensor that does not fit the buffer into
    the arena. The figure is computed from the flatbuffer (decompression_buffer_bytes; tests check it against
    TFLM), so it costs no interpreter run. Raises ArenaExceeds when it exceeds ``limit_bytes``."""
    info = inspect_tflite(tflite_path)
    if DECODE_OP not in info.ops:
        return 0
    size = decompression_buffer_bytes(Path(tflite_path).read_bytes())
    if limit_bytes is not None and size > limit_bytes:
        raise ArenaExceeds(int(limit_bytes))
    return size


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
