"""The static memory plan: every activation and scratch buffer gets an offset in one arena, computed ahead of
time; two buffers share bytes only when their lifetimes (first write .. last read, in layer order) do not
overlap. Greedy by size, largest first, each at the lowest offset that fits (TFLM's greedy planner does the same)."""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4


@dataclass(frozen=True)
class Buffer:
    key: str
    size: int
    first: int  # layer that writes it (-1: before the first layer)
    last: int  # last layer that reads it


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _live_together(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def plan_memory(buffers: list[Buffer]) -> tuple[dict[str, int], int]:
    """Offsets for every buffer and the arena size."""
    offsets: dict[str, int] = {}
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.key)):
        busy = sorted((offsets[p.key], offsets[p.key] + _align(p.size)) for p in placed if _live_together(p, buf))
        offset = 0
        for start, end in busy:
            if offset + _align(buf.size) <= start:
                break
            offset = max(offset, end)
        offsets[buf.key] = offset
        placed.append(buf)
    arena = max((offsets[b.key] + _align(b.size) for b in buffers), default=0)
    return offsets, arena


def overlaps(buffers: list[Buffer], offsets: dict[str, int]) -> list[tuple[str, str]]:
    """Pairs of buffers that are live at the same time and share bytes (a correct plan has none)."""
    found = []
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if _live_together(a, b) and a.size and b.size:
                if offsets[a.key] < offsets[b.key] + b.size and offsets[b.key] < offsets[a.key] + a.size:
                    found.append((a.key, b.key))
    return found
