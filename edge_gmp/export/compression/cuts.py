"""Cuts of what TFLite Micro never reads, applied to the built model (the flatbuffer object API, ModelT).

Each cut is optional; the tests prove each one by byte-identical outputs in TFLM. ``normalise_decoded`` is
not a cut but a fix the PRUNING and LUT decoders need, so it always runs.
"""

from __future__ import annotations

from collections import Counter

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.tflite.decode import decode_operators
from edge_gmp.tflite.graph import text

# Written by the TFLite converter, read by TFLite's runtime-version checks but never by TFLM (which does read
# other entries, e.g. "OfflineMemoryAllocation", so those stay).
CONVERTER_METADATA = frozenset({"min_runtime_version", "CONVERSION_METADATA"})
# Kernels whose input 2 is a bias. With a per-channel filter they read only the filter's scales in Prepare
# (PopulateConvolutionQuantizationParams); with a per-tensor filter FULLY_CONNECTED goes through
# GetQuantizedConvolutionMultipler, which checks the bias scale against input scale x filter scale, so there
# the bias keeps its first scale and zero point.
_BIAS_OPS = frozenset({schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D,
                       schema.BuiltinOperator.FULLY_CONNECTED})
_FILTER, _BIAS = 1, 2


def _builtin(model: schema.ModelT, op: schema.OperatorT) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _inputs(op: schema.OperatorT) -> list[int]:
    return [] if op.inputs is None else [int(i) for i in op.inputs]


def _scales(q: schema.QuantizationParametersT | None) -> int:
    return 0 if q is None or q.scale is None else len(q.scale)


def normalise_decoded(model: schema.ModelT) -> int:
    """Give decoded tensors with a single scale quantized_dimension 0: the decoders reject any other axis
    unless there are several channels, and a kernel reads the axis only for several scales."""
    fixed = 0
    for subgraph in model.subgraphs:
        for op in decode_operators(model, subgraph):
            for index in op.outputs:
                q = subgraph.tensors[index].quantization
                if _scales(q) == 1 and q.quantizedDimension != 0:
                    q.quantizedDimension = 0
                    fixed += 1
    return fixed


def _only_bias_readers(model: schema.ModelT, subgraph: schema.SubGraphT, index: int) -> bool:
    readers = [(op, position) for op in subgraph.operators or [] for position, i in enumerate(_inputs(op))
               if i == index]
    return bool(readers) and all(_builtin(model, op) in _BIAS_OPS and pos == _BIAS for op, pos in readers)


def cut_quantization(model: schema.ModelT) -> Counter:
    """Drop quantisation from encoded DECODE inputs (the decoder reads the decoded tensor's), drop or shorten
    bias quantisation, store a zero-point vector of equal values as one value (TFLM's allocator repeats it for
    every channel), and drop the calibration min/max vectors (TFLM works from scales and zero points)."""
    cut: Counter = Counter()
    for subgraph in model.subgraphs:
        for op in decode_operators(model, subgraph):
            for index in _inputs(op)[0::2]:
                if subgraph.tensors[index].quantization is not None:
                    subgraph.tensors[index].quantization = None
                    cut["encoded_tensor_quantization"] += 1
        for op in subgraph.operators or []:
            inputs = _inputs(op)
            if _builtin(model, op) not in _BIAS_OPS or len(inputs) <= _BIAS or inputs[_BIAS] < 0:
                continue
            bias = subgraph.tensors[inputs[_BIAS]]
            if _scales(bias.quantization) == 0 or not _only_bias_readers(model, subgraph, inputs[_BIAS]):
                continue
            if _scales(subgraph.tensors[inputs[_FILTER]].quantization) > 1:
                bias.quantization = None
                cut["bias_quantization"] += 1
            elif _scales(bias.quantization) > 1:
                bias.quantization.scale = bias.quantization.scale[:1]
                bias.quantization.zeroPoint = bias.quantization.zeroPoint[:1]
                cut["bias_quantization"] += 1
        for tensor in subgraph.tensors:
            q = tensor.quantization
            if _scales(q) > 1 and q.zeroPoint is not None and len(q.zeroPoint) > 1 and len(set(q.zeroPoint)) == 1:
                q.zeroPoint = q.zeroPoint[:1]
                cut["zero_point_vectors"] += 1
            if q is not None and (q.min is not None or q.max is not None):  # calibration ranges: TFLM reads scales
                q.min = q.max = None
                cut["calibration_ranges"] += 1
    return cut


def cut_names(model: schema.ModelT) -> int:
    """Drop the names of all tensors except subgraph inputs and outputs (callers look those up by name)."""
    dropped = 0
    for subgraph in model.subgraphs:
        keep = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in keep and tensor.name:
                tensor.name = None
                dropped += 1
    return dropped


def cut_metadata(model: schema.ModelT) -> Counter:
    """Drop the converter's metadata entries, signature definitions and description."""
    cut: Counter = Counter()
    kept = [m for m in model.metadata or [] if text(m.name) not in CONVERTER_METADATA]
    cut["metadata_entries"] = len(model.metadata or []) - len(kept)
    model.metadata = kept or None
    cut["signature_defs"] = len(model.signatureDefs or [])
    model.signatureDefs = None
    cut["description"] = int(bool(model.description))
    model.description = None
    return cut


def _empty(buffer: schema.BufferT) -> bool:
    return (buffer.data is None or len(buffer.data) == 0) and not buffer.offset


def compact_buffers(model: schema.ModelT) -> int:
    """Point tensors without data at buffer 0 (the converter gives each activation its own empty buffer) and
    drop unreferenced buffers. Returns how many buffers went."""
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            if _empty(model.buffers[tensor.buffer]):
                tensor.buffer = 0
    used = {0} | {t.buffer for sg in model.subgraphs for t in sg.tensors} | {m.buffer for m in model.metadata or []}
    order = [i for i in range(len(model.buffers)) if i in used]
    remap = {old: new for new, old in enumerate(order)}
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.buffer = remap[tensor.buffer]
    for entry in model.metadata or []:
        entry.buffer = remap[entry.buffer]
    dropped = len(model.buffers) - len(order)
    model.buffers = [model.buffers[i] for i in order]
    return dropped
