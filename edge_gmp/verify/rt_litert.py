"""LiteRT with reference kernels (no XNNPACK: it rounds int8 differently from TFLite Micro)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edge_gmp.verify.errors import Unsupported
from edge_gmp.verify.session import Session, TensorInfo
from edge_gmp.verify.tflite_file import inspect_tflite


def tensor_info(detail: dict[str, Any]) -> TensorInfo:
    scale, zero = detail["quantization"]
    quantised = np.issubdtype(detail["dtype"], np.integer) and scale != 0
    return TensorInfo(str(detail["name"]), tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]),
                      float(scale) if quantised else None, int(zero) if quantised else None)


class LiteRTSession(Session):
    runtime = "litert"

    def __init__(self, path: str | os.PathLike) -> None:
        inspect_tflite(path)  # a truncated flatbuffer would segfault the interpreter
        try:
            self._interp = Interpreter(
                model_path=str(path), num_threads=1,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise Unsupported(self.runtime, str(exc)) from exc
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        super().__init__(path, [tensor_info(d) for d in self._in], [tensor_info(d) for d in self._out])

    def _invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        for detail, feed in zip(self._in, feeds, strict=True):
            self._interp.set_tensor(detail["index"], feed)
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).copy() for d in self._out]

    def op_names(self) -> list[str]:
        return [op["op_name"] for op in self._interp._get_ops_details()]
