import pytest
import torch

from edge_gmp.config import PruneConfig
from edge_gmp.errors import ConfigError
from edge_gmp.prune import (
    METHODS,
    NO_FLOOR,
    MaskContext,
    MinimumThreshold,
    compute_masks,
    effective_floor,
    global_magnitude_masks,
    lamp_scores,
    random_scores,
)
from edge_gmp.prune.methods import uniform_counts

SHAPES = ((16, 3, 3, 3), (16, 1, 3, 3), (32, 16, 1, 1), (10, 32))


def _weights(seed: int = 0, shapes=SHAPES) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {f"layer{i}": torch.randn(*s, generator=g) * (i + 1) for i, s in enumerate(shapes)}


def _context(w: dict[str, torch.Tensor], seed: int) -> MaskContext:
    """What the trainer hands data-driven rules: the seed and loss gradients of every prunable weight."""
    g = torch.Generator().manual_seed(seed + 100)
    return MaskContext(seed=seed, gradients={k: torch.randn(v.shape, generator=g) for k, v in w.items()})


def _pruned(masks: dict[str, torch.Tensor]) -> int:
    return sum(int((~m).sum()) for m in masks.values())


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("sparsity", [0.0, 0.37, 0.8, 0.95, 0.99])
def test_every_method_prunes_exactly_round_s_n(method: str, sparsity: float) -> None:
    w = _weights()
    n = sum(v.numel() for v in w.values())
    masks = compute_masks(method, w, sparsity, NO_FLOOR, context=_context(w, 1))
    assert _pruned(masks) == round(sparsity * n)
    assert all(m.dtype == torch.bool and m.shape == w[k].shape for k, m in masks.items())


def test_gmp_is_global_magnitude() -> None:
    w = _weights(seed=2)
    floor = MinimumThreshold(count=20)
    ours = compute_masks("gmp", w, 0.9, floor)
    assert all(torch.equal(ours[k], m) for k, m in global_magnitude_masks(w, 0.9, floor).items())


def test_uniform_gives_every_layer_the_target_sparsity() -> None:
    w = _weights(seed=3)
    masks = compute_masks("uniform", w, 0.9)
    for name, m in masks.items():
        assert abs(int((~m).sum()) - 0.9 * m.numel()) < 1.0, name
        kept, pruned = w[name].abs()[m], w[name].abs()[~m]
        assert pruned.max() <= kept.min()  # magnitude within the layer
    assert uniform_counts({"a": 3, "b": 3, "c": 3}, 0.5) == {"a": 2, "b": 1, "c": 1}  # round(4.5) = 4, ties by position
    assert uniform_counts({"a": 10, "b": 4}, 0.5) == {"a": 5, "b": 2}


def _lamp_by_definition(w: torch.Tensor) -> torch.Tensor:
    flat = w.flatten().double()
    out = torch.empty_like(flat)
    for u in range(flat.numel()):
        not_smaller = [v for v in range(flat.numel())
                       if (flat[v].abs(), v) >= (flat[u].abs(), u)]
        out[u] = flat[u] ** 2 / sum(flat[v] ** 2 for v in not_smaller)
    return out.reshape(w.shape)


def test_lamp_scores_follow_the_definition() -> None:
    w = {"a": torch.tensor([[0.5, -2.0, 1.0], [0.5, 0.0, 3.0]]),
         "b": torch.randn(7, generator=torch.Generator().manual_seed(0))}
    scores = lamp_scores(w)
    for name in w:
        torch.testing.assert_close(scores[name], _lamp_by_definition(w[name]))
        assert scores[name].max() == 1.0  # the layer's largest weight
    assert scores["a"][0, 0] < scores["a"][1, 0]  # equal magnitudes: the earlier one is ranked lower


def test_lamp_keeps_every_layer_alive_where_global_magnitude_empties_one() -> None:
    w = {"tiny": torch.full((8, 8), 1e-4), "big": torch.randn(64, 64, generator=torch.Generator().manual_seed(0))}
    assert int(global_magnitude_masks(w, 0.9, NO_FLOOR)["tiny"].sum()) == 0
    masks = compute_masks("lamp", w, 0.9, NO_FLOOR)
    assert int(masks["tiny"].sum()) >= 1 and _pruned(masks) == round(0.9 * (64 + 4096))


def test_random_is_seeded_value_blind_and_spread_evenly() -> None:
    w = _weights(shapes=((200, 100), (100, 100)))
    a, b = compute_masks("random", w, 0.7, NO_FLOOR, seed=5), compute_masks("random", w, 0.7, NO_FLOOR, seed=5)
    assert all(torch.equal(a[k], b[k]) for k in w)
    other = compute_masks("random", w, 0.7, NO_FLOOR, seed=6)
    assert not all(torch.equal(a[k], other[k]) for k in w)
    scaled = compute_masks("random", {k: v * 1000 + 1 for k, v in w.items()}, 0.7, NO_FLOOR, seed=5)
    assert all(torch.equal(a[k], scaled[k]) for k in w)
    for m in a.values():
        assert abs(1 - m.float().mean().item() - 0.7) < 0.02
    assert set(random_scores(w, 0)) == set(w)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_gradual_pruning_removes_nested_sets(method: str) -> None:
    """As in training: prune, zero the pruned weights, prune further. Pruned weights never come back."""
    w = _weights(seed=4)
    previous = None
    context = _context(w, 2)
    for sparsity in (0.3, 0.6, 0.9):
        masks = compute_masks(method, w, sparsity, NO_FLOOR, context=context)
        if previous is not None:
            assert all(bool((masks[k] <= previous[k]).all()) for k in w)
        w = {k: v * masks[k] for k, v in w.items()}
        previous = masks


@pytest.mark.parametrize("method", ["gmp", "snip"])
def test_floor_is_the_rules_own_policy(method: str) -> None:
    w = _weights(seed=5)
    floor, context = MinimumThreshold(count=15), _context(w, 0)
    masks = compute_masks(method, w, 0.95, floor, context=context)
    assert all(int(m.sum()) >= min(15, m.numel()) for m in masks.values())
    assert min(int(m.sum()) for m in compute_masks(method, w, 0.95, NO_FLOOR, context=context).values()) < 15
    assert effective_floor(method, floor) == floor


@pytest.mark.parametrize("method", ["lamp", "random", "uniform"])
def test_published_rules_ignore_the_floor(method: str) -> None:
    assert effective_floor(method, MinimumThreshold(count=15)) == NO_FLOOR
    w = _weights(seed=5)
    floored, plain = (compute_masks(method, w, 0.95, f, seed=0) for f in (MinimumThreshold(count=15), NO_FLOOR))
    assert all(torch.equal(floored[k], plain[k]) for k in w)


def test_snip_ranks_weight_times_gradient_and_needs_gradients() -> None:
    w = {"a": torch.tensor([[1.0, 2.0], [3.0, 4.0]])}
    grads = {"a": torch.tensor([[4.0, 0.1], [0.5, -0.01]])}  # |w g| = 4, 0.2, 1.5, 0.04
    masks = compute_masks("snip", w, 0.5, NO_FLOOR, context=MaskContext(gradients=grads))
    assert masks["a"].tolist() == [[True, False], [True, False]]
    assert METHODS["snip"].needs_gradients and not METHODS["gmp"].needs_gradients
    with pytest.raises(ConfigError, match="gradients"):
        compute_masks("snip", w, 0.5)


def test_uniform_has_no_floor() -> None:
    assert effective_floor("uniform", MinimumThreshold(count=60)) == NO_FLOOR
    assert PruneConfig(method="uniform", floor_count=10**9, sparsity=0.9).floor == NO_FLOOR


def test_unknown_method_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown pruning method 'magic'; available: gmp, uniform"):
        compute_masks("magic", _weights(), 0.5)
    with pytest.raises(ConfigError, match="unknown pruning method"):
        PruneConfig(method="magic")
    with pytest.raises(ConfigError, match="floor count"):
        PruneConfig(floor_count=-1)


def test_gmp_folded_is_global_magnitude_of_the_folded_weights():
    w = _weights(seed=4)
    g = torch.Generator().manual_seed(5)
    scales = {k: torch.rand(v.shape[0], generator=g) * 3 for k, v in w.items() if k != "layer3"}  # layer3: no norm
    folded = {k: v * scales[k].reshape(-1, *([1] * (v.ndim - 1))) if k in scales else v for k, v in w.items()}
    floor = MinimumThreshold(count=20)
    ours = compute_masks("gmp-folded", w, 0.9, floor, context=MaskContext(norm_scales=scales))
    assert all(torch.equal(ours[k], m) for k, m in global_magnitude_masks(folded, 0.9, floor).items())
    plain = compute_masks("gmp", w, 0.9, floor)
    assert not all(torch.equal(ours[k], m) for k, m in plain.items())  # the factors change the ranking
    without_norms = compute_masks("gmp-folded", w, 0.9, floor)
    assert all(torch.equal(without_norms[k], m) for k, m in plain.items())
