"""TFLite Micro as the oracle: build a one-operator model with exact quantisation and run it in TFLM's Python
interpreter. The generator uses it for the int8 LOGISTIC/TANH tables (TFLM's own result for each of the 256 inputs);
the tests use it to compare every kernel with TFLM on random tensors."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from tflite_micro.python.tflite_micro import runtime as tflm
from tflite_micro.tensorflow.lite.micro.compression import model_editor
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.codegen.graph import Tensor

_TYPES = {"int8": schema.TensorType.INT8, "int16": schema.TensorType.INT16, "int32": schema.TensorType.INT32,
          "int64": schema.TensorType.INT64, "float32": schema.TensorType.FLOAT32}


@dataclass
class Spec:
    """One tensor of a test model: shape, type, quantisation (per-channel when ``scales`` has several) and,
    for a constant, its values."""

    shape: tuple[int, ...]
    dtype: str
    scales: list[float] | None = None
    zero_points: list[int] | None = None
    axis: int = 0
    data: np.ndarray | None = None


def _tensor(spec: Spec, name: str) -> model_editor.Tensor:
    quant = None
    if spec.scales is not None:
        zeros = spec.zero_points if spec.zero_points is not None else [0] * len(spec.scales)
        quant = model_editor.Quantization(scales=[float(s) for s in spec.scales], zero_points=[int(z) for z in zeros],
                                          axis=spec.axis if len(spec.scales) > 1 else None)
    data = None if spec.data is None else np.ascontiguousarray(spec.data, dtype=spec.dtype).reshape(spec.shape)
    return model_editor.Tensor(shape=tuple(spec.shape), dtype=_TYPES[spec.dtype], data=data, quantization=quant,
                               name=name)


def graph_model(ops: list[tuple[str, list[int], list[int], Any]], specs: list[Spec], inputs: list[int],
                outputs: list[int]) -> bytes:
    """A model from tensor specs and (op name, input indices, output indices, options object) tuples; -1 marks
    an absent optional input."""
    tensors = [_tensor(s, f"t{i}") for i, s in enumerate(specs)]
    operators = []
    for kind, ins, outs, options in ops:
        op = model_editor.Operator(opcode=getattr(schema.BuiltinOperator, kind),
                                   inputs=[tensors[i] if i >= 0 else None for i in ins],
                                   outputs=[tensors[i] for i in outs])
        if options is not None:
            op._fb.builtinOptionsType = getattr(schema.BuiltinOptions, type(options).__name__[:-1])
            op._fb.builtinOptions = options
        operators.append(op)
    subgraph = model_editor.Subgraph(tensors=tensors, operators=operators, inputs=[tensors[i] for i in inputs],
                                     outputs=[tensors[i] for i in outputs])
    return bytes(model_editor.Model(subgraphs=[subgraph]).build())


def run_tflm(model: bytes, feeds: list[np.ndarray], outputs: int = 1, arena_bytes: int = 1 << 20) -> list[np.ndarray]:
    interpreter = tflm.Interpreter.from_bytes(model, arena_size=arena_bytes)
    for i, feed in enumerate(feeds):
        interpreter.set_input(np.ascontiguousarray(feed), i)
    interpreter.invoke()
    return [np.array(interpreter.get_output(i), copy=True) for i in range(outputs)]


def unary_table(kind: str, x: Tensor, y: Tensor) -> np.ndarray:
    """TFLM's int8 ``kind`` (LOGISTIC/TANH) for every int8 input, indexed by the input's bit pattern."""
    specs = [Spec((256,), "int8", [x.scale], [x.zero_point]), Spec((256,), "int8", [y.scale], [y.zero_point])]
    model = graph_model([(kind, [0], [1], None)], specs, [0], [1])
    values = np.arange(-128, 128, dtype=np.int8)
    (out,) = run_tflm(model, [values])
    table = np.empty(256, dtype=np.int8)
    table[values.astype(np.uint8)] = out
    return table


@functools.lru_cache(maxsize=1)
def sigmoid_table() -> tuple[int, ...]:
    """The 256-entry sigmoid table TFLite's int16 LOGISTIC and TANH interpolate, read back from TFLM's TANH.

    With an input scale just above 2^-11 / 3 TANH's input multiplier is exactly 2^14 at a shift of 13, so input
    ``128 * i`` lands on table entry ``i`` with no interpolation and TANH returns ``table[i] - 32768``. The last
    entry is only ever interpolated towards; it is the slope that explains TANH's outputs inside the last segment.
    """
    scale = float(np.nextafter(np.float32(2.0**-11 / 3), np.float32(1)))
    specs = [Spec((1, 256), "int16", [scale]), Spec((1, 256), "int16", [2.0**-15])]
    model = graph_model([("TANH", [0], [1], None)], specs, [0], [1])
    points = (np.arange(255, dtype=np.int32) * 128).astype(np.int16)
    (exact,) = run_tflm(model, [np.concatenate([points, [0]]).astype(np.int16).reshape(1, 256)])
    table = [int(v) + 32768 for v in exact.reshape(-1)[:255]]
    last = np.arange(254 * 128, 254 * 128 + 128, dtype=np.int16)
    feed = np.concatenate([last, np.zeros(128, dtype=np.int16)]).reshape(1, 256)
    (segment,) = run_tflm(model, [feed])
    observed = segment.reshape(-1)[:128].astype(np.int64)
    ut = (2 * last.astype(np.int64)) & 0xFF
    for slope in range(0, 65536 - table[254]):
        if np.array_equal(table[254] - 32768 + (ut * slope + 128) // 256, observed):
            return tuple(table + [table[254] + slope])
    raise RuntimeError("TFLM's TANH does not interpolate as expected; cannot read its sigmoid table")
