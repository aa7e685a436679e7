"""Each weight format round-trips, the chooser weighs bytes and instructions, and the C decoders walk the same
positions."""

from __future__ import annotations

import numpy as np
import pytest

from edge_gmp.codegen.formats import (
    BYTE_BAND,
    FORMATS,
    MAC_COST,
    MIN_BAND_BYTES,
    choose_format,
    decode_rows,
    estimated_instructions,
    row_positions,
)


def _rows(length: int, keep: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.integers(-127, 128, (6, length)).astype(np.int8)
    rows[rng.random(rows.shape) >= keep] = 0
    rows[rows == 0] = 0
    return rows


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("length", [1, 3, 9, 27, 31, 256, 600])
@pytest.mark.parametrize("keep", [0.0, 0.02, 0.5, 1.0])
def test_round_trip(name, length, keep):
    rows = _rows(length, keep, length)
    encoded = FORMATS[name].encode(rows)
    assert np.array_equal(decode_rows(encoded), rows)
    positions = row_positions(encoded)
    for row, ks in zip(rows, positions, strict=True):
        assert set(np.flatnonzero(row)) <= set(ks)  # every kept weight is visited
        assert ks == sorted(ks) and all(0 <= k < length for k in ks)


def test_long_gaps_use_escapes():
    rows = np.zeros((2, 300), np.int8)
    rows[0, [0, 16, 299]] = [1, 2, 3]
    encoded = FORMATS["delta4"].encode(rows)
    assert row_positions(encoded) == [[0, 16, 299], []]
    assert np.array_equal(decode_rows(encoded), rows)


def test_chooser_weighs_bytes_and_instructions():
    for keep in (0.0, 0.05, 0.3, 0.9, 1.0):
        for positions, zeros in ((1, False), (64, False), (64, True)):
            rows = _rows(64, keep, 3)
            encodings = [fmt.encode(rows) for fmt in FORMATS.values()]
            smallest = min(e.nbytes for e in encodings)
            band = [e for e in encodings if e.nbytes <= smallest + max(MIN_BAND_BYTES, smallest * BYTE_BAND)]
            chosen = choose_format(rows, positions=positions, multiplies_zeros=zeros)
            assert chosen.nbytes <= smallest + max(MIN_BAND_BYTES, smallest * BYTE_BAND)
            cost = estimated_instructions(chosen, positions, zeros)
            assert cost == min(estimated_instructions(e, positions, zeros) for e in band)
    assert choose_format(_rows(64, 1.0, 1)).format == "dense"
    assert choose_format(_rows(256, 0.05, 1)).format == "delta4"
    assert choose_format(_rows(64, 0.3, 1), allowed=("bitmask",)).format == "bitmask"


def test_stored_zeros_cost_instructions_where_the_kernel_multiplies_them():
    rows = _rows(256, 0.9, 2)
    dense, bitmask = FORMATS["dense"].encode(rows), FORMATS["bitmask"].encode(rows)
    extra = estimated_instructions(dense, 100, True) - estimated_instructions(dense, 100, False)
    assert extra == MAC_COST * 99 * (rows.size - np.count_nonzero(rows))
    assert estimated_instructions(bitmask, 100, True) == estimated_instructions(bitmask, 100, False)
