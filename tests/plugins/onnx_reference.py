"""A runtime in one file: ONNX's own reference evaluator (``onnx.reference``), registered for .onnx files. Once
this module is imported, every ONNX artifact is also verified in it; nothing else in the project names it."""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

from edge_gmp.runtimes import Session, TensorInfo, register_runtime


def _info(value: onnx.ValueInfoProto) -> TensorInfo:
    tensor = value.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
    return TensorInfo(value.name, shape, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)))


@register_runtime("onnx-reference", formats=(".onnx",), display="ONNX reference evaluator")
class ReferenceSession(Session):
    def __init__(self, path: str | os.PathLike) -> None:
        model = onnx.load(str(path))
        self._evaluator = ReferenceEvaluator(model)
        constants = {init.name for init in model.graph.initializer}
        super().__init__(path, [_info(v) for v in model.graph.input if v.name not in constants],
                         [_info(v) for v in model.graph.output])

    def _invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        return list(self._evaluator.run(None, {t.name: f for t, f in zip(self.inputs, feeds, strict=True)}))
