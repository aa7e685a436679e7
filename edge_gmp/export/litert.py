"""Run .tflite files in LiteRT's reference kernels (no delegates), with int8 (de)quantisation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def load_interpreter(path: str | os.PathLike) -> Interpreter:
    interp = Interpreter(model_path=str(path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp


def quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float -> the tensor's dtype with its (scale, zero_point); float tensors pass through."""
    dtype = detail["dtype"]
    scale, zero = detail["quantization"]
    if not np.issubdtype(dtype, np.integer) or scale == 0:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero = detail["quantization"]
    if not np.issubdtype(detail["dtype"], np.integer) or scale == 0:
        return q.astype(np.float32)
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)


def run_samples(interp: Interpreter, inputs: Sequence[np.ndarray], raw: bool = False) -> list[np.ndarray]:
    """Run one sample at a time. ``inputs[i]`` (N, ...) feeds TFLite input i, already in its layout.

    Returns one (N, ...) array per TFLite output, dequantised to float unless ``raw``.
    """
    in_details = interp.get_input_details()
    out_details = interp.get_output_details()
    n = len(inputs[0])
    outs: list[list[np.ndarray]] = [[] for _ in out_details]
    for k in range(n):
        for detail, arr in zip(in_details, inputs, strict=True):
            sample = arr[k:k + 1].reshape(detail["shape"])
            interp.set_tensor(detail["index"], quantize(sample, detail))
        interp.invoke()
        for j, detail in enumerate(out_details):
            value = interp.get_tensor(detail["index"])
            outs[j].append(value.copy() if raw else dequantize(value, detail))
    return [np.concatenate(o, axis=0) for o in outs]


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
