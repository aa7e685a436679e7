"""TensorFlow Lite Micro's Python interpreter (reference kernels, fixed shapes: batch as in the model).

TFLM reports problems with MicroPrintf on the C side and raises a bare ``RuntimeError("TFLM failed to
allocate tensors")`` in Python, so its native output is captured and turned into Unsupported /
ArenaTooSmall carrying the runtime's own words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tflite_micro.python.tflite_micro import runtime as tflm

from edge_gmp.native import capture_native_output
from edge_gmp.runtimes.base import Session, TensorInfo, register_runtime
from edge_gmp.runtimes.errors import ArenaTooSmall, Unsupported
from edge_gmp.tflite import TFLiteInfo, inspect_tflite

_MISSING_OP = re.compile(r"Didn't find op for (?:builtin|custom) opcode '([^']+)'")
_ARENA = re.compile(r"Failed to resize buffer|Failed to allocate (?:tail |temp )?memory|"
                    r"Arena size is too small|Too many buffers|Failed to allocate temp", re.I)
_TWINS = (("_int8_sparse", "_int8"), ("_float32_sparse", "_int8"), ("_float32_sparse", "_float32"))


def default_arena(model_bytes: int) -> int:
    return max(10 * model_bytes, 1 << 20)


def _message(text: str, exc: BaseException) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return "; ".join(dict.fromkeys(lines)) or str(exc)


def classify(text: str, exc: BaseException, arena_bytes: int, info: TFLiteInfo | None = None) -> Exception:
    """Turn TFLM's captured output + exception into Unsupported or ArenaTooSmall."""
    msg = _message(text, exc)
    missing = _MISSING_OP.search(text)
    if missing:
        op = missing.group(1)
        return Unsupported("tflm", f"TFLite Micro has no kernel for op {op} ({msg})", op=op)
    if info is not None and info.sparse_encoded:
        return sparse_unsupported(info, msg)
    if _ARENA.search(text):
        return ArenaTooSmall(arena_bytes, msg)
    return Unsupported("tflm", msg)


def _dense_twin(path: str) -> str | None:
    """``x_int8_sparse.tflite`` -> ``x_int8.tflite`` when that file exists (export naming)."""
    p = Path(path)
    for suffix, dense in _TWINS:
        if p.stem.endswith(suffix):
            twin = p.with_name(p.stem.removesuffix(suffix) + dense + p.suffix)
            if twin.is_file():
                return str(twin)
    return None


def sparse_unsupported(info: TFLiteInfo, detail: str = "") -> Unsupported:
    what = "a DENSIFY op" if "DENSIFY" in info.ops else ""
    if info.sparse_tensors:
        what += (" and " if what else "") + f"{len(info.sparse_tensors)} sparse-encoded tensor(s)"
    dense = _dense_twin(info.path)
    hint = f" ({dense})" if dense else ""
    reason = (f"the model is sparse-encoded ({what}); TFLite Micro has no DENSIFY kernel and cannot decode "
              f"sparse tensors. Validate and deploy the dense file the converter writes beside it instead{hint}")
    return Unsupported("tflm", reason + (f" [TFLM: {detail}]" if detail else ""),
                       op="DENSIFY" if "DENSIFY" in info.ops else None)


def _tensor_info(name: str, detail: dict[str, Any]) -> TensorInfo:
    q = detail.get("quantization_parameters") or {}
    scales, zeros = list(q.get("scales", [])), list(q.get("zero_points", []))
    dtype = np.dtype(detail["dtype"])
    quantised = np.issubdtype(dtype, np.integer) and len(scales) == 1 and scales[0] != 0
    return TensorInfo(name, tuple(int(d) for d in detail["shape"]), dtype,
                      float(scales[0]) if quantised else None, int(zeros[0]) if quantised else None)


def create_interpreter(data: bytes, arena_bytes: int, info: TFLiteInfo | None = None,
                       alt_decompression_bytes: int = 0) -> Any:
    """A TFLM interpreter with tensors allocated in ``arena_bytes``; raises Unsupported/ArenaTooSmall. With
    ``alt_decompression_bytes`` > 0, DECODE operators write decompressed tensors into a separate buffer of
    that size instead of the arena."""
    with capture_native_output() as cap:
        try:
            return tflm.Interpreter.from_bytes(data, arena_size=int(arena_bytes),
                                               alt_decompression_memory_size=int(alt_decompression_bytes))
        except RuntimeError as exc:
            err = exc
    raise classify(cap.text, err, arena_bytes, info) from err


def invoke(interp: Any, arena_bytes: int) -> None:
    """Invoke; on failure re-run under capture to get TFLM's message."""
    try:
        interp.invoke()
        return
    except RuntimeError:
        pass
    with capture_native_output() as cap:
        try:
            interp.invoke()
            return
        except RuntimeError as exc:
            err = exc
    raise classify(cap.text, err, arena_bytes) from err


@register_runtime("tflm", formats=(".tflite",), display="TFLite Micro", on_device=True)
class TFLMSession(Session):
    """``arena_bytes``: the tensor arena (default: 10x the file size, at least 1 MiB);
    ``alt_decompression_bytes``: a separate buffer for tensors decoded by TFLM_DECODE (default: none)."""

    def __init__(self, path: str | os.PathLike, arena_bytes: int | None = None,
                 alt_decompression_bytes: int = 0) -> None:
        info = inspect_tflite(path)
        if info.sparse_encoded:
            raise sparse_unsupported(info)
        data = Path(path).read_bytes()
        self.arena_bytes = int(arena_bytes) if arena_bytes is not None else default_arena(len(data))
        self._interp = create_interpreter(data, self.arena_bytes, info, alt_decompression_bytes)
        ins = [_tensor_info(n, self._interp.get_input_details(i)) for i, n in enumerate(info.input_names)]
        outs = [_tensor_info(n, self._interp.get_output_details(i)) for i, n in enumerate(info.output_names)]
        super().__init__(path, ins, outs)

    def _invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        for i, feed in enumerate(feeds):
            self._interp.set_input(np.ascontiguousarray(feed), i)
        invoke(self._interp, self.arena_bytes)
        return [np.array(self._interp.get_output(i), copy=True) for i in range(len(self.outputs))]

    def raw_step(self) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
        """TFLM's own calls and nothing else: its set_input checks dtype and shape and copies, its get_output
        returns a fresh array; a failed invoke is run again under capture for TFLM's message."""
        interp, arena, outputs = self._interp, self.arena_bytes, range(len(self.outputs))
        set_input, get_output, run = interp.set_input, interp.get_output, interp.invoke

        def step(feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
            for i, feed in enumerate(feeds):
                set_input(feed, i)
            try:
                run()
            except RuntimeError:
                invoke(interp, arena)
            return [get_output(j) for j in outputs]

        return step
