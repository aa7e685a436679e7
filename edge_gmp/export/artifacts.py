"""Records of exported TFLite files, in ONNX terms, JSON-serialisable."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

KINDS = ("float32", "int8", "float32_sparse", "int8_sparse")


@dataclass(frozen=True)
class TensorSpec:
    """Where an ONNX tensor sits in a .tflite model and how to feed/read it.

    ``index`` is the position in the interpreter's ``get_input_details()`` / ``get_output_details()``
    list, ``tensor_index`` the interpreter tensor index. ``perm_from_onnx`` turns the ONNX array into
    the TFLite one (``onnx_array.transpose(perm)``). ``scale``/``zero_point`` are set for int8 tensors:
    ``real = scale * (q - zero_point)``.
    """

    onnx_name: str
    index: int
    tensor_index: int
    tflite_name: str
    shape: tuple[int, ...]
    layout: str
    perm_from_onnx: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True)
class TFLiteArtifact:
    """One .tflite file: its kind, size, I/O mapping and op set (whether it computes the right thing is the
    verify stage's finding, not the file's)."""

    kind: str
    path: str
    bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    ops: tuple[str, ...] = ()
    micro_issues: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def input(self, onnx_name: str) -> TensorSpec:
        return next(s for s in self.inputs if s.onnx_name == onnx_name)

    def output(self, onnx_name: str) -> TensorSpec:
        return next(s for s in self.outputs if s.onnx_name == onnx_name)
