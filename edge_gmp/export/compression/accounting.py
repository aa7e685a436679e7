"""Where the bytes of a .tflite go: payload categories read from the flatbuffer, the rest is "structure".

Payload counts only the bytes of each vector or string (no length prefixes, no alignment padding): dense
constant data ("weights"), PRUNING bitmaps ("indices") and kept values, LUT indices and value tables,
quantisation vectors (4-byte scales, min and max, 8-byte zero points), tensor names and the bytes of metadata
entries and the model description. The 16-byte DECODE headers, tables, vtables, offsets, padding and
everything else are "structure", so the categories always sum to the file size.
"""

from __future__ import annotations

from tflite_micro.tensorflow.lite.micro.compression import decode
from tflite_micro.tensorflow.lite.micro.compression.decode_insert import DECODE_CUSTOM_OP_NAME
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

CATEGORIES = ("weights", "indices", "kept_values", "lut_indices", "lut_tables", "quantization", "names",
              "metadata", "structure")
_DCM = decode.DecodeCommonMetadata.SIZE
_ENCODED_CATEGORY = {int(decode.DecodeType.PRUNING): ("indices", "kept_values"),
                     int(decode.DecodeType.LUT): ("lut_indices", "lut_tables")}


def _decode_pairs(model: schema.Model) -> dict[int, tuple[int, int]]:
    """Buffer index of each DECODE input -> (decode type, 0 for the encoded tensor or 1 for the ancillary)."""
    decode_codes = {i for i in range(model.OperatorCodesLength())
                    if (model.OperatorCodes(i).CustomCode() or b"").decode() == DECODE_CUSTOM_OP_NAME}
    pairs: dict[int, tuple[int, int]] = {}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(o)
            if op.OpcodeIndex() not in decode_codes:
                continue
            inputs = op.InputsAsNumpy()
            for encoded, ancillary in zip(inputs[0::2], inputs[1::2], strict=True):
                buffer_of = subgraph.Tensors(int(ancillary)).Buffer()
                kind = int(model.Buffers(buffer_of).DataAsNumpy()[0])
                pairs[subgraph.Tensors(int(encoded)).Buffer()] = (kind, 0)
                pairs[buffer_of] = (kind, 1)
    return pairs


def _quantization_bytes(tensor: schema.Tensor) -> int:
    q = tensor.Quantization()
    if q is None:
        return 0
    return 4 * (q.ScaleLength() + q.MinLength() + q.MaxLength()) + 8 * q.ZeroPointLength()


def byte_breakdown(data: bytes) -> dict[str, int]:
    """Bytes per category (see the module docstring); the values sum to ``len(data)``."""
    model = schema.Model.GetRootAs(data, 0)
    parts = dict.fromkeys(CATEGORIES, 0)
    pairs = _decode_pairs(model)
    metadata_buffers = {model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    for i in range(model.BuffersLength()):
        size = model.Buffers(i).DataLength()
        if i in metadata_buffers:
            parts["metadata"] += size
        elif i in pairs:
            kind, role = pairs[i]
            names = _ENCODED_CATEGORY.get(kind, ("structure", "structure"))
            if role == 0:
                parts[names[0]] += size
            else:
                parts["structure"] += min(size, _DCM)
                parts[names[1]] += max(size - _DCM, 0)
        else:
            parts["weights"] += size
    parts["metadata"] += len(model.Description() or b"")
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            parts["names"] += len(tensor.Name() or b"")
            parts["quantization"] += _quantization_bytes(tensor)
    parts["structure"] += len(data) - sum(parts.values())
    return parts
