"""Where the bytes of a .tflite go: payload categories read from the flatbuffer, the rest is "structure".

Payload counts only the bytes of each vector or string (no length prefixes, no alignment padding): dense
constant data ("weights"), each codec's encoded and ancillary data in its two categories (PRUNING bitmaps,
"indices", and kept values; LUT indices and value tables), quantisation vectors (4-byte scales, min and max,
8-byte zero points), tensor names and the bytes of metadata entries and the model description. The 16-byte
DECODE headers, tables, vtables, offsets, padding and everything else are "structure", so the categories always
sum to the file size.
"""

from __future__ import annotations

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.tflite.decode import HEADER_BYTES, codec_for, codecs, decode_pairs

_AROUND = ("quantization", "names", "metadata", "structure")


def categories() -> tuple[str, ...]:
    """The categories in report order: dense weights, each registered codec's two, then the rest."""
    payload = dict.fromkeys(name for codec in codecs() for name in codec.categories)
    return ("weights", *payload, *_AROUND)


CATEGORIES = categories()  # with the built-in codecs


def _decode_buffers(model: schema.Model) -> dict[int, tuple[int, int]]:
    """Buffer index of each DECODE input -> (decode type, 0 for the encoded tensor or 1 for the ancillary)."""
    pairs: dict[int, tuple[int, int]] = {}
    for pair in decode_pairs(model):
        pairs[pair.encoded_buffer] = (pair.type, 0)
        pairs[pair.ancillary_buffer] = (pair.type, 1)
    return pairs


def _quantization_bytes(tensor: schema.Tensor) -> int:
    q = tensor.Quantization()
    if q is None:
        return 0
    return 4 * (q.ScaleLength() + q.MinLength() + q.MaxLength()) + 8 * q.ZeroPointLength()


def byte_breakdown(data: bytes) -> dict[str, int]:
    """Bytes per category (see the module docstring); the values sum to ``len(data)``."""
    model = schema.Model.GetRootAs(data, 0)
    parts = dict.fromkeys(categories(), 0)
    pairs = _decode_buffers(model)
    metadata_buffers = {model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    for i in range(model.BuffersLength()):
        size = model.Buffers(i).DataLength()
        if i in metadata_buffers:
            parts["metadata"] += size
        elif i in pairs:
            kind, role = pairs[i]
            codec = codec_for(kind) if kind >= 0 else None
            names = codec.categories if codec else ("structure", "structure")
            if role == 0:
                parts[names[0]] += size
            else:
                parts["structure"] += min(size, HEADER_BYTES)
                parts[names[1]] += max(size - HEADER_BYTES, 0)
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
