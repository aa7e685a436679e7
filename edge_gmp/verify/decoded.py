"""A model with TFLM_DECODE operators (weights stored compressed, decoded at run time): what it stores, and its
RAM in TFLite Micro's two modes (decoded tensors planned in the arena, or in an alternate decompression buffer
beside a smaller arena)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edge_gmp.tflite.decode import decoded_tensors
from edge_gmp.verify.arena import ArenaExceeds, measure_arena, measure_decompression_buffer


@dataclass(frozen=True)
class DecodeSummary:
    """The constants a model stores encoded for TFLM_DECODE: how many (by method), their stored bytes (encoded
    data, ancillary data and DECODE headers) and their decoded size. A tensor read by several operators is
    decoded once per reader but stored, and counted, once."""

    tensors: int
    by_method: dict[str, int]
    stored_bytes: int
    decoded_bytes: int

    @property
    def saved_bytes(self) -> int:
        return self.decoded_bytes - self.stored_bytes

    def describe(self) -> str:
        methods = ", ".join(f"{name} {count}" for name, count in sorted(self.by_method.items()))
        return (f"{self.tensors} tensor(s) compressed ({methods}): {self.stored_bytes:,} B stored for "
                f"{self.decoded_bytes:,} B decoded, {self.saved_bytes:,} B saved")

    def to_dict(self) -> dict[str, Any]:
        return {"tensors": self.tensors, "by_method": dict(self.by_method), "stored_bytes": self.stored_bytes,
                "decoded_bytes": self.decoded_bytes, "saved_bytes": self.saved_bytes}


def decode_summary(data: bytes) -> DecodeSummary | None:
    """None for a model without TFLM_DECODE operators."""
    unique = {(t.subgraph, t.encoded): t for t in decoded_tensors(data)}
    if not unique:
        return None
    methods: dict[str, int] = {}
    for tensor in unique.values():
        methods[tensor.method] = methods.get(tensor.method, 0) + 1
    return DecodeSummary(len(unique), methods, sum(t.stored_bytes for t in unique.values()),
                         sum(t.decoded_bytes for t in unique.values()))


IN_ARENA, ALT_BUFFER = "decoded tensors in the arena", "alternate decompression buffer"


@dataclass(frozen=True)
class ArenaModes:
    """TFLM RAM of a model with TFLM_DECODE operators in its two modes: decoded tensors in the arena, or in an
    alternate decompression buffer beside a smaller arena. None: not within the search limit."""

    in_arena: int | None
    buffer: int
    with_buffer: int | None
    limit: int

    @property
    def buffer_total(self) -> int | None:
        return None if self.with_buffer is None else self.with_buffer + self.buffer

    @property
    def mode(self) -> str | None:
        """The mode with the smaller total (the arena on a tie: one buffer is simpler to place); None if neither
        fits."""
        if self.buffer_total is not None and (self.in_arena is None or self.buffer_total < self.in_arena):
            return ALT_BUFFER
        return IN_ARENA if self.in_arena is not None else None

    @property
    def ram(self) -> tuple[int | None, int]:
        """(arena, decompression buffer) of the chosen mode."""
        return (self.with_buffer, self.buffer) if self.mode == ALT_BUFFER else (self.in_arena, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"in_arena": {"arena_bytes": self.in_arena, "total_bytes": self.in_arena},
                "alternate_buffer": {"arena_bytes": self.with_buffer, "buffer_bytes": self.buffer,
                                     "total_bytes": self.buffer_total},
                "chosen": self.mode, "search_limit_bytes": self.limit}


def _arena_or_none(path: str | os.PathLike, limit: int, alt: int = 0) -> int | None:
    try:
        return measure_arena(path, limit_bytes=limit, alt_decompression_bytes=alt)
    except ArenaExceeds:
        return None


def measure_arena_modes(path: str | os.PathLike, limit_bytes: int) -> ArenaModes:
    """The arena in both modes (searched up to ``limit_bytes``); for a model without DECODE operators the buffer
    is 0 and ``with_buffer`` None."""
    in_arena = _arena_or_none(path, limit_bytes)
    try:
        buffer = measure_decompression_buffer(path, limit_bytes)
    except ArenaExceeds:
        return ArenaModes(in_arena, 0, None, limit_bytes)
    with_buffer = _arena_or_none(path, limit_bytes, buffer) if buffer else None
    return ArenaModes(in_arena, buffer, with_buffer, limit_bytes)
