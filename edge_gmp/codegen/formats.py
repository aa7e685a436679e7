"""Weight storage formats: how the kept weights of each output channel (a *row*) are stored, and the C that walks
them. Every format stores the kept values of row after row as int8; they differ in how the positions are coded.
Formats register by name; :func:`choose_format` keeps the one with the fewest bytes for a tensor.

* ``dense``: every value, no index.
* ``bitmask``: one bit per element (LSB first), ``ceil(L / 8)`` bytes per row.
* ``block4``: one bit per block of 4 consecutive elements; a kept block stores all 4 values.
* ``delta4``: per row a kept count (uint8, or uint16 for rows of 256+ kept values), then one 4-bit gap per kept
  value (positions skipped since the previous one); a gap of 15 or more is written as 15s that add up, each
  followed by more nibbles, so any gap is representable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FORMATS: dict[str, RowFormat] = {}


@dataclass(frozen=True)
class EncodedRows:
    format: str
    rows: int
    length: int
    values: np.ndarray  # int8 (or the weights' dtype), the stored values row after row
    index: np.ndarray  # uint8 index stream (empty for dense)
    counts: np.ndarray  # per-row stored counts for delta4 (uint8/uint16), else empty
    kept: np.ndarray  # per-row number of stored values the kernel multiplies

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.index.nbytes + self.counts.nbytes)


@dataclass(frozen=True)
class RowFormat:
    name: str
    code: int  # the C switch value
    encode: Callable[[np.ndarray], EncodedRows]


def register_format(name: str, code: int) -> Callable[[Callable[[np.ndarray], EncodedRows]], Callable]:
    def wrap(fn: Callable[[np.ndarray], EncodedRows]) -> Callable[[np.ndarray], EncodedRows]:
        FORMATS[name] = RowFormat(name, code, fn)
        return fn
    return wrap


def _empty(dtype: type = np.uint8) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@register_format("dense", 0)
def encode_dense(rows: np.ndarray) -> EncodedRows:
    r, length = rows.shape
    return EncodedRows("dense", r, length, rows.reshape(-1).copy(), _empty(), _empty(),
                       np.full(r, length, dtype=np.int64))


@register_format("bitmask", 1)
def encode_bitmask(rows: np.ndarray) -> EncodedRows:
    r, length = rows.shape
    mask = rows != 0
    packed = np.packbits(mask, axis=1, bitorder="little").reshape(-1)
    return EncodedRows("bitmask", r, length, rows[mask].copy(), packed, _empty(), mask.sum(axis=1))


@register_format("block4", 2)
def encode_block4(rows: np.ndarray) -> EncodedRows:
    r, length = rows.shape
    blocks = -(-length // 4)
    padded = np.zeros((r, blocks * 4), dtype=rows.dtype)
    padded[:, :length] = rows
    grouped = padded.reshape(r, blocks, 4)
    kept = (grouped != 0).any(axis=2)
    packed = np.packbits(kept, axis=1, bitorder="little").reshape(-1)
    return EncodedRows("block4", r, length, grouped[kept].reshape(-1).copy(), packed, _empty(),
                       kept.sum(axis=1) * 4)


def _gaps(row: np.ndarray) -> list[int]:
    nibbles: list[int] = []
    previous = -1
    for k in np.flatnonzero(row):
        gap = int(k) - previous - 1
        while gap >= 15:
            nibbles.append(15)
            gap -= 15
        nibbles.append(gap)
        previous = int(k)
    return nibbles


@register_format("delta4", 3)
def encode_delta4(rows: np.ndarray) -> EncodedRows:
    r, length = rows.shape
    nibbles: list[int] = []
    for row in rows:
        nibbles += _gaps(row)
    if len(nibbles) % 2:
        nibbles.append(0)
    pairs = np.asarray(nibbles, dtype=np.uint8).reshape(-1, 2)
    index = (pairs[:, 0] | (pairs[:, 1] << 4)).astype(np.uint8) if len(pairs) else _empty()
    kept = (rows != 0).sum(axis=1)
    counts = kept.astype(np.uint8 if kept.max(initial=0) < 256 else np.uint16)
    return EncodedRows("delta4", r, length, rows[rows != 0].copy(), index, counts, kept)


def choose_format(rows: np.ndarray, allowed: tuple[str, ...] | None = None) -> EncodedRows:
    """The encoding of ``rows`` (one output channel per row) with the fewest bytes; ties go to the simpler."""
    names = allowed or tuple(FORMATS)
    encodings = [FORMATS[name].encode(rows) for name in names]
    return min(encodings, key=lambda e: (e.nbytes, FORMATS[e.format].code))


def decode_rows(encoded: EncodedRows) -> np.ndarray:
    """The dense rows back from an encoding (the round trip the tests check; the kernels never do this)."""
    out = np.zeros((encoded.rows, encoded.length), dtype=encoded.values.dtype)
    positions = list(row_positions(encoded))
    cursor = 0
    for r, ks in enumerate(positions):
        out[r, ks] = encoded.values[cursor:cursor + len(ks)]
        cursor += len(ks) if encoded.format != "block4" else 4 * (-(-len(ks) // 4) if ks else 0)
    return out


def row_positions(encoded: EncodedRows) -> list[list[int]]:
    """The element positions of every stored value, row by row, as the C decoders produce them."""
    length, result = encoded.length, []
    if encoded.format == "dense":
        return [list(range(length)) for _ in range(encoded.rows)]
    if encoded.format in ("bitmask", "block4"):
        unit = 1 if encoded.format == "bitmask" else 4
        units = -(-length // unit)
        per_row = -(-units // 8)
        bits = np.unpackbits(encoded.index.reshape(encoded.rows, per_row), axis=1, bitorder="little")
        for r in range(encoded.rows):
            ks = [b * unit + j for b in np.flatnonzero(bits[r]) for j in range(unit) if b * unit + j < length]
            result.append(ks)
        return result
    nibbles = np.stack([encoded.index & 15, encoded.index >> 4], axis=1).reshape(-1)
    cursor = 0
    for count in encoded.counts:
        ks, k = [], -1
        for _ in range(int(count)):
            gap = 0
            while nibbles[cursor] == 15:
                gap += 15
                cursor += 1
            gap += int(nibbles[cursor])
            cursor += 1
            k += gap + 1
            ks.append(k)
        result.append(ks)
    return result
