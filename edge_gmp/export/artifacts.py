"""The kinds of .tflite file the export writes (:data:`ARTIFACT_KINDS`, the one place that says what a kind is)
and the records of exported files, in ONNX terms, JSON-serialisable."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ArtifactKind:
    """One kind of exported .tflite: ``precision`` is the arithmetic it runs in ("float32", "int8": int8
    activations and weights, "int16x8": int16 activations and I/O, int8 weights); a ``sparse`` kind stores its
    constants sparse-encoded (TFLite's SparsityParameters + DENSIFY: LiteRT runs it, TFLite Micro cannot) and is
    checked against its dense twin, the kind of the same precision."""

    name: str
    precision: str
    sparse: bool = False

    @property
    def integer(self) -> bool:
        return self.precision != "float32"

    @property
    def dense_twin(self) -> str | None:
        """The kind a sparse-encoded file encodes (the same precision, dense); None for a dense kind."""
        return self.precision if self.sparse else None


ARTIFACT_KINDS: dict[str, ArtifactKind] = {k.name: k for k in (  # in conversion order: float32 first
    ArtifactKind("float32", "float32"),
    ArtifactKind("float32_sparse", "float32", sparse=True),
    ArtifactKind("int8", "int8"),
    ArtifactKind("int8_sparse", "int8", sparse=True),
    ArtifactKind("int16x8", "int16x8"),
)}
KINDS = tuple(ARTIFACT_KINDS)
FLOAT_KINDS = tuple(k for k, spec in ARTIFACT_KINDS.items() if not spec.integer)
INTEGER_KINDS = tuple(k for k, spec in ARTIFACT_KINDS.items() if spec.integer)
DEFAULT_KINDS = ("float32", "int8", "float32_sparse", "int8_sparse")  # what an export writes unless told


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
