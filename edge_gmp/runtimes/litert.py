"""LiteRT with reference kernels (no XNNPACK: it rounds int8 differently from TFLite Micro).

A batch-1 model can be resized to N samples per invoke (:meth:`LiteRTSession.batched`), so a streaming cell
steps every window at once. Measured on the FastGRNN step files over the whole HAR-2 test set
(tests/verify/test_batched_streaming.py): int8 files give bit-identical outputs, float32 files agree within
float rounding (the batched FULLY_CONNECTED sums in another order), and int16x8 files differ by a step now and
then (LiteRT's int16 ADD rounds differently when it broadcasts a constant over the batch), so models with int16
tensors are never resized.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edge_gmp.runtimes.base import Session, TensorInfo, register_runtime
from edge_gmp.runtimes.errors import Unsupported
from edge_gmp.tflite import inspect_tflite


def load_interpreter(path: str | os.PathLike, batch: int = 1) -> Interpreter:
    """A LiteRT interpreter with tensors allocated, on the reference kernels, one thread. The file is checked
    first: a corrupt flatbuffer would crash the native interpreter. ``batch`` > 1 resizes every input's first
    dimension (1 in the file) to it."""
    inspect_tflite(path)
    try:
        interp = Interpreter(model_path=str(path), num_threads=1,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        if batch != 1:
            for detail in interp.get_input_details():
                interp.resize_tensor_input(detail["index"], [batch, *detail["shape"][1:]])
        interp.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise Unsupported("litert", str(exc)) from exc
    return interp


def tensor_info(detail: dict[str, Any]) -> TensorInfo:
    """The TensorInfo of an entry of ``get_input_details()`` / ``get_output_details()``."""
    scale, zero = detail["quantization"]
    quantised = np.issubdtype(detail["dtype"], np.integer) and scale != 0
    return TensorInfo(str(detail["name"]), tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]),
                      float(scale) if quantised else None, int(zero) if quantised else None)


def op_names(interp: Interpreter) -> list[str]:
    return sorted({op["op_name"] for op in interp._get_ops_details()})


def micro_issues(interp: Interpreter) -> list[str]:
    """Ops that TFLite Micro is known to reject (GATHER with INT64 indices, any custom/Flex op)."""
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    issues = set()
    for op in interp._get_ops_details():
        name = op["op_name"]
        if name == "GATHER" and len(op["inputs"]) > 1:
            idx = tensors.get(int(op["inputs"][1]))
            if idx is not None and idx["dtype"] == np.int64:
                issues.add("GATHER with INT64 indices")
        if name.startswith("Flex") or name == "CUSTOM":
            issues.add(f"non-builtin op {name}")
    return sorted(issues)


def _resizable(interp: Interpreter) -> bool:
    """Whether a resized batch keeps each sample's outputs, up to float rounding (see the module docstring):
    every input and output has batch 1 in the file (the model's own first dimension) and no tensor is int16."""
    ends = [*interp.get_input_details(), *interp.get_output_details()]
    if any(len(d["shape"]) < 2 or d["shape"][0] != 1 for d in ends):
        return False
    return all(t["dtype"] != np.int16 for t in interp.get_tensor_details())


@register_runtime("litert", formats=(".tflite",), display="LiteRT")
class LiteRTSession(Session):
    def __init__(self, path: str | os.PathLike, batch: int = 1) -> None:
        self.interpreter = load_interpreter(path, batch)
        self._in = self.interpreter.get_input_details()
        self._out = self.interpreter.get_output_details()
        super().__init__(path, [tensor_info(d) for d in self._in], [tensor_info(d) for d in self._out])

    def batched(self, batch: int) -> LiteRTSession | None:
        if batch < 1 or not _resizable(self.interpreter):
            return None
        try:
            wide = LiteRTSession(self.path, batch)
        except Unsupported:
            return None
        return wide if all(t.shape[:1] == (batch,) for t in wide.outputs) else None

    def _invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        for detail, feed in zip(self._in, feeds, strict=True):
            self.interpreter.set_tensor(detail["index"], feed)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self._out]
