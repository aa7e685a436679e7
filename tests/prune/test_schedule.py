import pytest

from edge_gmp.errors import ConfigError
from edge_gmp.prune import OneShot, PolynomialDecay


def test_polynomial_decay_values():
    s = PolynomialDecay(0.0, 0.8, begin_step=100, end_step=200, frequency=10)
    assert s(0) == 0.0 and s(99) == 0.0
    assert s(100) == pytest.approx(0.0)
    assert s(150) == pytest.approx(0.8 + (0.0 - 0.8) * 0.5**3)
    assert s(200) == pytest.approx(0.8) and s(10_000) == pytest.approx(0.8)
    values = [s(t) for t in range(100, 201)]
    assert values == sorted(values)


def test_polynomial_decay_update_steps():
    s = PolynomialDecay(0.1, 0.9, begin_step=10, end_step=35, frequency=10)
    updates = [t for t in range(0, 50) if s.is_update_step(t)]
    assert updates == [10, 20, 30, 35]  # the end step always updates so the target is reached


@pytest.mark.parametrize("kwargs", [
    dict(initial_sparsity=0.0, final_sparsity=1.0, begin_step=0, end_step=10),
    dict(initial_sparsity=0.5, final_sparsity=0.2, begin_step=0, end_step=10),
    dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=10, end_step=10),
    dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=0, end_step=10, frequency=0),
    dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=-1, end_step=10),
])
def test_polynomial_decay_validation(kwargs):
    with pytest.raises(ConfigError):
        PolynomialDecay(**kwargs)


def test_one_shot():
    s = OneShot(0.9, step=5)
    assert [s(t) for t in (0, 4, 5, 6)] == [0.0, 0.0, 0.9, 0.9]
    assert [t for t in range(10) if s.is_update_step(t)] == [5]
    with pytest.raises(ConfigError):
        OneShot(1.2)
