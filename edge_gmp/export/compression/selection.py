"""Which constant tensors to encode, and how: the smallest of dense and the registered DECODE codecs (PRUNING and
LUT built in), never growing a tensor."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import constant_inputs, model_editor, tensor_type

from edge_gmp.tflite.decode import Encoding, codec_named, codecs
from edge_gmp.tflite.decode.values import DECODABLE_TYPES, tensor_values

# Flatbuffer bytes one decoded copy costs beyond the encoded and ancillary data: the ancillary and decoded
# tensor tables, the ancillary buffer with its 16-byte alignment, a share of the DECODE operator. Measured
# 110-159 B on the real models (built, cut and aligned), 16-byte alignment being most of the spread; the first
# DECODE also adds its operator code (157-213 B in all for the first tensor).
DECODE_OVERHEAD_BYTES = 160
DECODE_OPCODE_BYTES = 56


@dataclass
class Plan:
    """The decision for one constant tensor read by an operator; ``encoding`` None means it stays dense."""

    subgraph: int
    index: int
    tensor: model_editor.Tensor
    consumers: int
    encoding: Encoding | None = None
    note: str = ""

    @property
    def dense_bytes(self) -> int:
        return len(self.tensor.buffer.data)

    @property
    def overhead(self) -> int:
        """DECODE bytes beyond the encoding: one decoded copy per consumer, each with its own quantisation
        (the dense tensor's single copy moves to the first)."""
        return self.consumers * DECODE_OVERHEAD_BYTES + (self.consumers - 1) * quantization_bytes(self.tensor)


def quantization_bytes(tensor: model_editor.Tensor) -> int:
    q = tensor.quantization
    return 0 if q is None else 4 * np.size(q.scales) + 8 * np.size(q.zero_points)


def methods() -> tuple[str, ...]:
    """The ``method`` values the compressor takes: "auto" (the smallest per tensor) and each codec's name."""
    return ("auto", *(codec.name for codec in codecs()))


def _why_not_candidate(subgraph: model_editor.Subgraph, tensor: model_editor.Tensor) -> str:
    if tensor.is_variable:
        return "variable tensor"
    if tensor in subgraph.outputs or tensor in subgraph.inputs:
        return "subgraph input or output"
    uses = constant_inputs.find_uses(subgraph, tensor)
    if uses:
        return "must stay constant: " + "; ".join(use.describe() for use in uses)
    if tensor.dtype not in DECODABLE_TYPES:
        return f"{tensor_type.name(tensor.dtype)} is not decodable by TFLM"
    if tensor_values(tensor) is None:
        return "data not stored element by element (sparse-encoded?)"
    return ""


def _choose(group: list[Plan], method: str) -> int:
    """One method for all tensors sharing a buffer: the cheapest whose encoded bytes (identical encodings
    counted once, as the buffers are deduplicated) plus DECODE overhead stay below the shared dense bytes.
    Returns the bytes saved."""
    best: tuple[int, list[Encoding]] | None = None
    for kind in [c.name for c in codecs()] if method == "auto" else [method]:
        encodings = [codec_named(kind).encode(p.tensor) for p in group]
        if any(e is None for e in encodings):
            continue
        distinct = {(e.result.encoded_data, e.result.ancillary_data): e.size for e in encodings}
        cost = sum(distinct.values()) + sum(p.overhead for p in group)
        if best is None or cost < best[0]:
            best = (cost, encodings)
    if best is None:
        note = f"no {method} encoding TFLM can decode" if method != "auto" else "no encoding TFLM can decode"
    elif best[0] >= group[0].dense_bytes:
        note = f"not smaller: {best[0]} B encoded vs {group[0].dense_bytes} B dense"
    else:
        for plan, encoding in zip(group, best[1], strict=True):
            plan.encoding = encoding
        return group[0].dense_bytes - best[0]
    for plan in group:
        plan.note = note
    return 0


def plan_model(model: model_editor.Model, method: str = "auto") -> list[Plan]:
    """A Plan for every constant tensor that an operator reads, in subgraph and tensor order."""
    plans: list[Plan] = []
    blocked: dict[int, str] = {}  # id(buffer) -> why no alias of it may be encoded
    for sg_index, subgraph in enumerate(model.subgraphs):
        readers: dict[int, int] = defaultdict(int)
        for op in subgraph.operators:
            for tensor in {id(t): t for t in op.inputs if t is not None}.values():
                readers[id(tensor)] += 1
        for index, tensor in enumerate(subgraph.tensors):
            if tensor.buffer is None or not tensor.buffer.data:
                continue
            if not readers[id(tensor)]:
                blocked[id(tensor.buffer)] = "shares a buffer with a tensor no operator reads"
                continue
            plan = Plan(sg_index, index, tensor, readers[id(tensor)])
            plan.note = _why_not_candidate(subgraph, tensor)
            if plan.note:
                blocked.setdefault(id(tensor.buffer), f"shares a buffer with a dense tensor ({plan.note})")
            plans.append(plan)
    groups: dict[int, list[Plan]] = defaultdict(list)
    for plan in plans:
        groups[id(plan.tensor.buffer)].append(plan)
    saved = 0
    for key, group in groups.items():
        if key in blocked:
            for plan in group:
                plan.note = plan.note or blocked[key]
        else:
            saved += _choose(group, method)
    if 0 < saved <= DECODE_OPCODE_BYTES:
        for plan in plans:
            if plan.encoding is not None:
                plan.encoding, plan.note = None, f"saves {saved} B, less than the DECODE operator code costs"
    return plans
