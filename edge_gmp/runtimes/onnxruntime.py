"""onnxruntime (CPU) behind the Session interface."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_gmp.errors import UserError
from edge_gmp.runtimes.base import Session, TensorInfo, register_runtime

_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
          "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
          "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def _info(arg: ort.NodeArg) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else -1 for d in (arg.shape or []))
    return TensorInfo(arg.name, shape, np.dtype(_TYPES.get(arg.type, np.float32)))


@register_runtime("onnxruntime", formats=(".onnx",), display="onnxruntime")
class OnnxSession(Session):
    def __init__(self, path: str | os.PathLike) -> None:
        if not Path(path).is_file():
            raise UserError(f"model file not found: {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            self._sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise UserError(f"onnxruntime cannot load {path}: {exc}") from exc
        super().__init__(path, [_info(a) for a in self._sess.get_inputs()],
                         [_info(a) for a in self._sess.get_outputs()])

    def _invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        return list(self._sess.run(None, {t.name: f for t, f in zip(self.inputs, feeds, strict=True)}))


def run_onnx(path: str | os.PathLike, samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs by name for (N, ...) ``samples`` by input name, one sample at a time (fixed-batch graphs too)."""
    session = OnnxSession(path)
    names = [t.name for t in session.outputs]
    n = len(next(iter(samples.values())))
    runs = [session._invoke([np.asarray(samples[t.name][i:i + 1]) for t in session.inputs]) for i in range(n)]
    return {name: np.concatenate([r[j] for r in runs], axis=0) for j, name in enumerate(names)}
