import pytest

from edge_gmp.runtimes import Unsupported
from edge_gmp.tflite import inspect_tflite
from edge_gmp.verify import arena_breakdown, measure_arena
from edge_gmp.verify.arena import _runs


@pytest.mark.parametrize("kind", ["float32", "int8", "stream"])
def test_arena_is_minimal(models, kind):
    path = getattr(models, kind)
    arena = measure_arena(path)
    data, info = path.read_bytes(), inspect_tflite(path)
    assert _runs(data, arena, info)
    assert all(_runs(data, arena + k, info) for k in (1, 16, 64, 1024))
    assert not _runs(data, arena - 16, info, known_good=True)
    assert not _runs(data, arena - 1, info, known_good=True)
    assert arena < 64 * 1024 and arena_breakdown(path, arena)["total"] <= arena


def test_arena_of_sparse_model_is_unsupported(models):
    with pytest.raises(Unsupported, match="sparse-encoded"):
        measure_arena(models.sparse)
