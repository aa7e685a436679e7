import math

import pytest

from edge_gmp.config import PruneConfig
from edge_gmp.errors import ConfigError
from edge_gmp.train.schedule import CosineDecay, Phase, TrainPlan


def test_cosine_decay_runs_from_base_to_final_and_stays():
    decay = CosineDecay(0.01, 10, 20, final=0.002)
    assert decay(0) == decay(10) == pytest.approx(0.01)
    assert decay(15) == pytest.approx(0.006)
    assert decay(20) == decay(99) == pytest.approx(0.002)


def test_cosine_decay_ends_at_zero_by_default():
    assert CosineDecay(0.01, 0, 8)(8) == 0.0
    assert CosineDecay(0.01, 0, 8)(4) == pytest.approx(0.005)


@pytest.mark.parametrize("final", [-0.001, 0.02, math.nan])
def test_cosine_decay_refuses_a_final_rate_outside_zero_to_base(final):
    with pytest.raises(ConfigError, match="final learning rate"):
        CosineDecay(0.01, 0, 8, final=final)


def test_train_plan_pruning_rate_ends_at_its_final_rate():
    plan = TrainPlan(steps_per_epoch=5, dense_epochs=2, prune_epochs=2, finetune_epochs=2, dense_lr=0.01,
                     prune_lr=0.004, gradual=True, prune_final_lr=0.001)
    assert plan.lr(0) == pytest.approx(0.01)
    assert plan.lr(9) < plan.lr(0)
    assert plan.lr(10) == pytest.approx(0.004)
    assert plan.lr(29) == pytest.approx(0.001, abs=1e-4)
    assert plan.phase(5) is Phase.FINETUNE and plan.final_sparsity_from == 4


def test_prune_config_checks_final_lr():
    assert PruneConfig(final_lr=0.002).final_lr == 0.002
    with pytest.raises(ConfigError, match=r"prune.final_lr must be in \[0, prune.lr"):
        PruneConfig(lr=0.005, final_lr=0.01)
