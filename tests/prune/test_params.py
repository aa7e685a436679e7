import pytest
import torch
from torch import nn

from edge_gmp.errors import ConfigError
from edge_gmp.models import create_model
from edge_gmp.prune import MinimumThreshold, OneShot, batchnorm_scales, layer_report, prunable_parameters
from edge_gmp.train import MaskedTraining


def test_prunable_set_is_weight_matrices_only():
    model = create_model("fastgrnn", hidden=8, rank_w=3, rank_u=4)
    names = set(prunable_parameters(model))
    assert names == {"W1", "W2", "U1", "U2", "classifier.weight"}
    assert set(prunable_parameters(model, exclude=["classifier.*"])) == {"W1", "W2", "U1", "U2"}
    with pytest.raises(ConfigError, match="no prunable"):
        prunable_parameters(model, include=["nothing*"])


@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: torch.optim.Adam(p, lr=0.01),
    lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
])
def test_masks_survive_optimizer_steps(make_opt):
    torch.manual_seed(0)
    model = create_model("fastgrnn", hidden=12)
    opt = make_opt(model.parameters())
    x, y = torch.randn(16, 10, 9), torch.randint(0, 2, (16,))
    # build up momentum / Adam moments while dense, then prune: old state must not revive pruned weights
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    masking = MaskedTraining(model, OneShot(0.7, step=0), MinimumThreshold())
    assert masking.update(0)
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        masking.before_optimizer_step()
        opt.step()
        masking.after_optimizer_step(opt)
        for name, p in masking.params.items():
            assert bool((p[~masking.masks[name]] == 0).all())
            for value in opt.state[p].values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    assert bool((value[~masking.masks[name]] == 0).all())
    kept = sum(int(m.sum()) for m in masking.masks.values())
    assert kept == round(0.3 * sum(m.numel() for m in masking.masks.values()))


def test_layer_report_flags_collapse():
    w = {"big": torch.randn(50, 50), "tiny": torch.full((2, 5), 1e-5)}
    from edge_gmp.prune import global_magnitude_masks
    masks = global_magnitude_masks(w, 0.9, MinimumThreshold(count=3))
    rows = {r.name: r for r in layer_report(masks, w, 0.9)}
    assert rows["tiny"].kept == 3 and rows["tiny"].collapses_without_floor
    assert not rows["big"].collapses_without_floor


def _conv_bn_net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 3, 1, bias=False), nn.BatchNorm2d(5))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([2.0, -0.5, 1.0, 0.0]))
        net[1].running_var.copy_(torch.tensor([4.0, 1.0, 0.25, 1.0]))
    return net


def test_batchnorm_scales_are_the_folding_factor_of_the_norm_right_after_a_weight():
    net = _conv_bn_net()
    scales = batchnorm_scales(net, ["0.weight", "3.weight"])
    # 3.weight has 3 output channels but its norm has 5 features: not its norm, so no factor
    assert set(scales) == {"0.weight"}
    eps = net[1].eps
    expected = torch.tensor([2.0, 0.5, 1.0, 0.0]) / (torch.tensor([4.0, 1.0, 0.25, 1.0]) + eps).sqrt()
    assert torch.allclose(scales["0.weight"], expected)
    assert batchnorm_scales(net, ["3.weight"]) == {}  # only the names asked for


def test_masked_training_ranks_folded_magnitudes_for_gmp_folded():
    """Channel 1's norm multiplies it by 4: folded, its weights outrank channel 0's even though |w| is smaller."""
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, 0.5]).reshape(2, 1, 1, 1))
        net[1].weight.copy_(torch.tensor([1.0, 4.0]))
    kept = {}
    for method in ("gmp", "gmp-folded"):
        masking = MaskedTraining(net, OneShot(0.5, 0), MinimumThreshold(count=0), method=method)
        masking.update(0)
        kept[method] = masking.masks["0.weight"].flatten().tolist()
        with torch.no_grad():
            net[0].weight.copy_(torch.tensor([1.0, 0.5]).reshape(2, 1, 1, 1))
    assert kept == {"gmp": [True, False], "gmp-folded": [False, True]}
