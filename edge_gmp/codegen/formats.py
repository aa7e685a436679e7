"""Weight storage formats: how the kept weights of each output channel (a *row*) are stored, and the C that walks
them. Every format stores the kept values of row after row as int8; they differ in how the positions are coded.
Formats register by name; :func:`choose_format` weighs bytes and instructions for a tensor.

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


# Choosing by bytes and instructions: the encodings within a band above the smallest (BYTE_BAND of it, at least
# MIN_BAND_BYTES) compete on estimated instructions per inference. ROW_COST: instructions per index unit (byte;
# nibble for delta4) and per stored value to decode a row, set it up (offsets, folded input offset) and multiply it
# once, fitted to the emulated Cortex-M4 (DSP build) over densities 5-90 % (edge_gmp.target.kernels, a fully
# connected layer read by one output); each further output reading the row costs MAC_COST per multiplied value:
# every stored one where the kernel multiplies stored zeros (depthwise), the non-zero ones elsewhere (a DSP build
# drops zero weights when it recodes a convolution row).
BYTE_BAND = 1 / 32
MIN_BAND_BYTES = 16
ROW_COST = {"dense": (0.0, 12.0), "bitmask": (8.0, 20.5), "block4": (14.0, 17.5), "delta4": (15.3, 17.2)}
MAC_COST = 3.0


def estimated_instructions(encoded: EncodedRows, positions: int = 1, multiplies_zeros: bool = False) -> float:
    """Instructions per inference the kernel spends on this tensor's weights, estimated (see ROW_COST)."""
    per_unit, per_value = ROW_COST[encoded.format]
    units = encoded.index.size * (2 if encoded.format == "delta4" else 1)
    macs = int(encoded.values.size) if multiplies_zeros else int(np.count_nonzero(encoded.values))
    return per_unit * units + per_value * encoded.values.size + MAC_COST * max(positions - 1, 0) * macs


def choose_format(rows: np.ndarray, allowed: tuple[str, ...] | None = None, positions: int = 1,
                  multiplies_zeros: bool = False) -> EncodedRows:
    """The encoding of ``rows`` (one output channel per row, ``positions`` outputs each) with the fewest estimated
    instructions among those within the byte band of the smallest; ties go to the smaller, then the simpler."""
    names = allowed or tuple(FORMATS)
    encodings = [FORMATS[name].encode(rows) for name in names]
    smallest = min(e.nbytes for e in encodings)
    band = smallest + max(MIN_BAND_BYTES, smallest * BYTE_BAND)
    return min((e for e in encodings if e.nbytes <= band),
               key=lambda e: (estimated_instructions(e, positions, multiplies_zeros), e.nbytes,
                              FORMATS[e.format].code))


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
