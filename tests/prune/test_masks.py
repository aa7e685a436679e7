import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from edge_gmp.errors import ConfigError
from edge_gmp.prune import NO_FLOOR, MinimumThreshold, global_magnitude_masks, layer_floors


def _weights(seed=0, shapes=((32, 9), (32, 32), (2, 32))):
    g = torch.Generator().manual_seed(seed)
    return {f"layer{i}": torch.randn(*s, generator=g) for i, s in enumerate(shapes)}


def _kept(masks):
    return sum(int(m.sum()) for m in masks.values())


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.8, 0.9, 0.99, 0.999])
def test_exact_count_pruned(sparsity):
    w = _weights()
    n = sum(v.numel() for v in w.values())
    masks = global_magnitude_masks(w, sparsity, NO_FLOOR)
    assert n - _kept(masks) == round(sparsity * n)
    assert all(m.dtype == torch.bool and m.shape == w[k].shape for k, m in masks.items())


@pytest.mark.parametrize("sparsity", [0.3, 0.7, 0.95])
def test_matches_torch_global_unstructured_without_floor(sparsity):
    w = _weights(seed=3, shapes=((64, 9), (64, 64), (5, 64), (8, 3, 3, 3)))
    layers = [nn.Linear(s[1], s[0], bias=False) if len(s) == 2 else nn.Conv2d(3, 8, 3, bias=False)
              for s in (v.shape for v in w.values())]
    for layer, v in zip(layers, w.values(), strict=True):
        layer.weight.data.copy_(v)
    torch_prune.global_unstructured([(m, "weight") for m in layers], pruning_method=torch_prune.L1Unstructured,
                                    amount=sparsity)
    ours = global_magnitude_masks(w, sparsity, NO_FLOOR)
    for layer, name in zip(layers, w, strict=True):
        assert torch.equal(ours[name], layer.weight_mask.bool())


def test_global_threshold_is_one_value():
    w = _weights(seed=1)
    masks = global_magnitude_masks(w, 0.6, NO_FLOOR)
    kept = torch.cat([w[k].abs()[m] for k, m in masks.items()])
    pruned = torch.cat([w[k].abs()[~m] for k, m in masks.items()])
    assert pruned.max() <= kept.min()


def test_ties_broken_deterministically_by_position():
    w = {"a": torch.ones(4, 4), "b": torch.ones(4, 4)}
    masks = global_magnitude_masks(w, 0.25, NO_FLOOR)
    assert int((~masks["a"]).sum()) == 8 and bool(masks["b"].all())
    assert torch.equal(masks["a"].flatten(), torch.tensor([False] * 8 + [True] * 8))
    again = global_magnitude_masks(w, 0.25, NO_FLOOR)
    assert all(torch.equal(masks[k], again[k]) for k in w)


def test_floor_keeps_minimum_and_redistributes_exactly():
    # a small layer of tiny weights would vanish under a global threshold
    w = {"big": torch.randn(100, 100, generator=torch.Generator().manual_seed(0)),
         "small": torch.full((4, 10), 1e-4)}
    without = global_magnitude_masks(w, 0.9, NO_FLOOR)
    assert int(without["small"].sum()) == 0
    floor = MinimumThreshold(count=10)
    masks = global_magnitude_masks(w, 0.9, floor)
    assert int(masks["small"].sum()) == 10
    n = 100 * 100 + 40
    assert n - _kept(masks) == round(0.9 * n)
    # among equal magnitudes the earlier positions are pruned first, so the last 10 are kept
    assert bool(masks["small"].flatten()[-10:].all())


def test_floor_percent_is_of_all_prunable_weights_and_small_layers_stay_dense():
    sizes = {"a": 20000, "b": 5}
    floors = layer_floors(sizes, MinimumThreshold(percent=0.05))
    assert floors == {"a": 11, "b": 5}  # ceil(0.05 % of 20005) = 11; b is smaller than the floor
    w = {"a": torch.randn(20000), "b": torch.full((5,), 1e-6)}
    masks = global_magnitude_masks(w, 0.99, MinimumThreshold(percent=0.05))
    assert bool(masks["b"].all())


def test_per_layer_sparsity_clamped_to_floor():
    w = _weights(seed=2)
    floor = MinimumThreshold(count=30)
    masks = global_magnitude_masks(w, 0.9, floor)
    for m in masks.values():
        assert int(m.sum()) >= min(30, m.numel())
        assert 1 - int(m.sum()) / m.numel() <= 1 - min(30, m.numel()) / m.numel() + 1e-12


def test_infeasible_target_is_a_clear_error():
    w = {"a": torch.randn(10, 10), "b": torch.randn(10, 10)}
    with pytest.raises(ConfigError, match="infeasible"):
        global_magnitude_masks(w, 0.95, MinimumThreshold(count=20))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_sparsity_out_of_range(bad):
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        global_magnitude_masks(_weights(), bad)


def test_bad_floor_rejected():
    with pytest.raises(ConfigError):
        MinimumThreshold(count=-1)
    with pytest.raises(ConfigError):
        MinimumThreshold(percent=101)
