"""The study's report names every method it compares by the label the rule registry gives it, in the
registry's order (each rule followed by its variants)."""

from edge_gmp.prune import METHODS, SCHEDULES, VARIANTS
from edge_gmp.report.study import axes, label
from edge_gmp.workflow.sweep_cells import METHOD_VARIANTS


def test_every_rule_and_variant_the_sweep_runs_has_its_registry_label() -> None:
    assert list(METHOD_VARIANTS) == ["gmp", "gmp-nofloor", "uniform", "random", "lamp", "snip", "gmp-folded"]
    for name in METHOD_VARIANTS:
        expected = METHODS[name].label if name in METHODS else VARIANTS[name].label
        assert label(name) == expected != name or name == "random"
    assert label("snip", "gradual") == "SNIP (gradual)"
    assert label("gmp-folded") == "Global MP + floors, BatchNorm-folded"


def test_axes_follow_the_registry_order() -> None:
    cells = [{"method": m, "schedule": s, "sparsity": 0.5} for m in ("snip", "gmp-folded", "gmp-nofloor", "gmp")
             for s in reversed(SCHEDULES)]
    methods, schedules, sparsities = axes({"cells": cells})
    assert methods == ["gmp", "gmp-nofloor", "snip", "gmp-folded"]
    assert schedules == list(SCHEDULES) and sparsities == [0.5]


def test_the_recipe_line_names_the_model_selection_the_cells_used() -> None:
    from edge_gmp.report.study import _recipe

    prune = {"prune_epochs": 15, "finetune_epochs": 15, "frequency": 20, "lr": 0.005, "floor_percent": 0.05}
    average = _recipe({"config": {"train": {"batch_size": 128, "select": "average"}, "prune": prune}})
    best = _recipe({"config": {"train": {"batch_size": 128, "select": "best"}, "prune": prune}})
    assert "the average of the weights after every epoch at the final sparsity" in average
    assert "best validation epoch" not in average and "the best validation epoch" in best


def test_global_mp_is_compared_with_every_other_rule_but_not_with_its_own_variants() -> None:
    from edge_gmp.report.study import baselines

    assert baselines(["gmp", "gmp-nofloor", "uniform", "random", "lamp", "snip", "gmp-folded"]) == [
        "uniform", "random", "lamp", "snip"]
