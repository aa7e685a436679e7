from __future__ import annotations

import math
import os

import pytest

from edge_gmp.errors import UserError
from edge_gmp.export import gzip_size, information_limit_bits


def test_gzip_size_reproducible_and_compresses_zeros():
    assert gzip_size(b"\x00" * 10_000) < 100
    data = os.urandom(4096)
    assert gzip_size(data) == gzip_size(data) > 4096 - 1


def test_information_limit():
    assert information_limit_bits(50, 100, 8) == pytest.approx(50 * 8 + 100 * 1.0)
    assert information_limit_bits(0, 100, 8) == 0.0
    assert information_limit_bits(100, 100, 8) == 800.0
    h = -(0.1 * math.log2(0.1) + 0.9 * math.log2(0.9))
    assert information_limit_bits(100, 1000, 32) == pytest.approx(3200 + 1000 * h)
    assert information_limit_bits(0, 0, 8) == 0.0


@pytest.mark.parametrize("args", [(5, 4, 8), (-1, 4, 8), (1, 4, -8)])
def test_information_limit_rejects_bad_counts(args):
    with pytest.raises(UserError):
        information_limit_bits(*args)
