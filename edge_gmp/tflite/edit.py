"""Edits made in place in a .tflite flatbuffer's bytes (fields of equal size, no rebuild)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError
from edge_gmp.tflite.graph import OP_NAMES

_BIASED_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")


def _ops_with_bias_on(model: Any, graph: Any, tensor: int) -> list[str]:
    """Ops reading ``tensor`` whose integer bias was quantised with its scale (so it cannot change)."""
    found = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = OP_NAMES.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "")
        inputs = op.InputsAsNumpy().tolist()
        if name in _BIASED_OPS and tensor in inputs and len(inputs) > 2 and inputs[-1] >= 0:
            found.append(name)
    return found


def tie_quantization(data: bytes, pairs: Mapping[int, int]) -> bytes:
    """Give each input tensor ``target`` the quantisation (scale, zero point, min/max) of the output tensor
    ``pairs[target]``, in place in the flatbuffer, so that a device can copy that output's raw integers into
    the input (a recurrent state: h_next -> h) without requantising. Kernels derive their rescaling from the
    tensors' scales when they are prepared, so only the parameters change. UserError when a tensor is not
    per-tensor quantised, the dtypes differ, or an op's bias depends on the input's old scale."""
    buf = bytearray(data)
    model = schema.Model.GetRootAs(buf, 0)
    graph = model.Subgraphs(0)
    for target, source in pairs.items():
        dst, src = graph.Tensors(target), graph.Tensors(source)
        dst_q, src_q = dst.Quantization(), src.Quantization()
        label = f"{dst.Name().decode()} <- {src.Name().decode()}"
        if dst_q is None or src_q is None or {dst_q.ScaleLength(), src_q.ScaleLength(), dst_q.ZeroPointLength(),
                                               src_q.ZeroPointLength()} != {1}:
            raise UserError(f"cannot tie quantisation {label}: both tensors must be per-tensor quantised")
        if dst.Type() != src.Type():
            raise UserError(f"cannot tie quantisation {label}: the tensors' types differ")
        biased = _ops_with_bias_on(model, graph, target)
        if biased:
            raise UserError(f"cannot tie quantisation {label}: {', '.join(biased)} has a bias quantised with "
                            "the input's scale")
        dst_q.ScaleAsNumpy()[:] = src_q.ScaleAsNumpy()
        dst_q.ZeroPointAsNumpy()[:] = src_q.ZeroPointAsNumpy()
        for field in ("Min", "Max"):
            if getattr(dst_q, f"{field}Length")() == getattr(src_q, f"{field}Length")() == 1:
                getattr(dst_q, f"{field}AsNumpy")()[:] = getattr(src_q, f"{field}AsNumpy")()
    return bytes(buf)
