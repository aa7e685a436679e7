"""``python -m edge_gmp.sweep``: the grid, one code path per cell, resumability, crashed cells, report and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_gmp.config import load_config
from edge_gmp.errors import ConfigError
from edge_gmp.report.study import Stat, study_report
from edge_gmp.sweep import METHOD_VARIANTS, Cell, main, plan

TINY = ["--hidden", "8", "--epochs", "2", "--prune-epochs", "1", "--finetune-epochs", "1", "--set",
        "data.train_limit=384", "--set", "prune.frequency=2", "--quiet"]


def test_cells_differ_only_in_the_mask_rule() -> None:
    base = load_config("fastgrnn-har2")
    configs = {m: Cell(m, "gradual", 0.9, 3).configure(base) for m in METHOD_VARIANTS}
    assert {c.prune.method for c in configs.values()} == {"gmp", "gmp-folded", "uniform", "random", "lamp", "snip"}
    assert configs["gmp"].prune.floor == base.prune.floor and configs["gmp"].prune.floor.percent == 0.05
    for name in ("gmp-nofloor", "random", "lamp"):
        assert configs[name].prune.floor.weights_per_layer(10**6) == 0
    for config in configs.values():
        assert config.train == configs["gmp"].train and config.train.seed == 3
        assert (config.prune.sparsity, config.prune.schedule, config.prune.lr, config.prune.prune_epochs) == (
            0.9, "gradual", base.prune.lr, base.prune.prune_epochs)
    assert Cell("gmp", "oneshot", 0.985, 0).id == "gmp-oneshot-98.5-seed0"


def test_plan_checks_every_cell_before_running() -> None:
    base = load_config("fastgrnn-har2", overrides={"model": {"hidden": 8}})
    cells = plan(base, ["gmp", "lamp"], ["gradual", "oneshot"], [0.5, 0.9], [0, 1])
    assert len(cells) == 16 and len({c.id for c in cells}) == 16
    with pytest.raises(ConfigError, match="unknown method/schedule magic"):
        plan(base, ["magic"], ["gradual"], [0.5], [0])
    with pytest.raises(ConfigError, match="grid is empty"):
        plan(base, ["gmp"], ["gradual"], [], [0])
    # hidden 8: 152 prunable weights; a 2-weight floor per layer leaves at most 146 prunable
    floored = load_config("fastgrnn-har2", overrides={"model": {"hidden": 8}, "prune": {"floor_count": 2}})
    with pytest.raises(ConfigError, match=r"(?s)infeasible cells.*gmp at 0.99: sparsity 0.99 is infeasible"):
        plan(floored, ["gmp", "gmp-nofloor"], ["gradual"], [0.5, 0.99], [0])
    assert len(plan(floored, ["gmp-nofloor", "lamp"], ["gradual"], [0.99], [0])) == 2


@pytest.mark.parametrize("argv, message", [
    (["--sparsities", "0.5,1.2"], "sparsities must be in [0, 1)"),
    (["--sparsities", "half"], "comma-separated fractions"),
    (["--methods", "gmp,magic"], "unknown method/schedule magic"),
    (["--seeds", "a"], "comma-separated integers"),
    (["--layer-sparsity", "0.7"], "not one of --sparsities"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                              message: str) -> None:
    out = tmp_path / "sweep"
    assert main([*TINY, *argv, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_sweep_runs_resumes_and_reports(tmp_path: Path, har, har_cache_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    out = tmp_path / "sweep"
    grid = ["--methods", "gmp,gmp-nofloor,uniform,lamp", "--sparsities", "0.5,0.9", "--schedules", "gradual",
            "--out", str(out)]
    # a cell whose checkpoint is corrupt crashes; the others still run and the sweep exits 1
    broken = out / "cells" / "lamp-gradual-90-seed0"
    broken.mkdir(parents=True)
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main([*TINY, *grid]) == 1
    assert "lamp-gradual-90-seed0" in capsys.readouterr().err
    summary = json.loads((out / "results.json").read_text())
    assert [f["id"] for f in summary["failed"]] == ["lamp-gradual-90-seed0"]
    assert (broken / "error.txt").is_file() and len(summary["cells"]) == 7

    n = summary["cells"][0]["prunable_weights"]
    for cell in summary["cells"]:
        assert n - cell["nonzero_prunable"] == round(cell["sparsity"] * n), cell["id"]
        assert cell["macs"]["per_step"]["effective"] <= cell["macs"]["per_step"]["dense"]
        assert 0.0 <= cell["test_accuracy"] <= 1.0 and cell["epochs"] == 2
    gmp = next(c for c in summary["cells"] if c["id"] == "gmp-gradual-90-seed0")
    assert gmp["collapsed_layers"] == [] and gmp["floor_per_layer"] == 1

    # resuming re-runs only the crashed cell (after its bad checkpoint is gone)
    (broken / "checkpoint.pt").unlink()
    finished = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*/result.json")}
    assert main([*TINY, *grid]) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())
    summary = json.loads((out / "results.json").read_text())
    assert len(summary["cells"]) == 8 and summary["failed"] == []

    report = (out / "REPORT.md").read_text()
    for text in ("## Accuracy against sparsity", "## Layer collapse", "## Kept weights per layer at 90.0%",
                 "## Multiply-accumulates (per window of 128 steps)", "python -m edge_gmp.sweep", "LAMP (gradual)"):
        assert text in report
    for plot in ("accuracy_vs_sparsity.png", "accuracy_vs_size.png", "macs_vs_accuracy.png", "layers_90.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
        assert f"]({plot})" in report

    # --report-only runs nothing: a wider grid reports its finished cells and lists the rest
    wider = ["--methods", "gmp,gmp-nofloor,uniform,lamp", "--sparsities", "0.5,0.8,0.9", "--schedules", "gradual"]
    assert main([*TINY, *wider, "--out", str(out), "--report-only"]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert len(summary["cells"]) == 8 and len(summary["not_run"]) == 4
    assert not (out / "cells" / "gmp-gradual-80-seed0").exists()
    assert "## Not run yet (4 cells)" in (out / "REPORT.md").read_text()
    assert "--report-only" not in summary["command"]

    # another base config in the same directory is refused
    assert main([*TINY, "--lr", "0.5", *grid]) == 2
    assert "different base config" in capsys.readouterr().err


def test_report_marks_collapsed_layers() -> None:
    layer = {"name": "features.0.weight", "size": 200, "kept": 0}
    cell = {"method": "gmp-nofloor", "schedule": "gradual", "sparsity": 0.99, "seed": 0, "test_accuracy": 0.1,
            "dense_test_accuracy": 0.9, "layers": [layer, {"name": "classifier.weight", "size": 100, "kept": 3}],
            "collapsed_layers": ["features.0.weight"], "macs": {"effective": 10, "dense": 100}}
    summary = {"model": "mobilenet_v1", "dataset": "cifar10", "preset": "p", "command": "c", "machine": "m",
               "data_source": "folder", "samples": {"train": 1, "val": 1, "test": 1}, "failed": [],
               "config": load_config("fastgrnn-har2").to_dict(), "cells": [cell],
               "dense": [{"seed": 0, "test_accuracy": 0.9, "source": "trained here",
                          "macs": {"dense": 100, "effective": 100, "unit": "per sample"}}]}
    report = study_report(summary)
    assert "| Global MP, no floor (gradual) | 10.00% (-80.00) |" in report
    assert "| Global MP, no floor (gradual) | 99.0% | 0 | 1 | features.0.weight | features.0.weight: 0/200 |" in report
    assert Stat((0.5, 0.7)).pct() == "60.00% ± 10.00%" and Stat((0.5,)).pct() == "50.00%"


def test_report_compares_each_cell_with_the_dense_model_of_its_seed() -> None:
    layers = [{"name": "W", "size": 100, "kept": 10}]
    dense = {0: 0.90, 1: 0.80}
    cells = [{"method": "gmp", "schedule": "gradual", "sparsity": s, "seed": seed, "test_accuracy": accuracy,
              "dense_test_accuracy": dense[seed], "layers": layers, "collapsed_layers": [],
              "macs": {"effective": 10, "dense": 100}}
             for s, seed, accuracy in ((0.9, 0, 0.88), (0.9, 1, 0.79), (0.99, 0, 0.70))]
    summary = {"model": "fastgrnn", "dataset": "har2", "preset": "p", "command": "c", "machine": "m",
               "data_source": "hapt", "samples": {"train": 1, "val": 1, "test": 1}, "failed": [],
               "config": load_config("fastgrnn-har2").to_dict(), "cells": cells,
               "dense": [{"seed": k, "test_accuracy": v, "source": "trained here",
                          "macs": {"dense": 100, "effective": 100, "unit": "per sample"}} for k, v in dense.items()]}
    report = study_report(summary)
    # 90 %: seeds 0 and 1 lose 2 and 1 points; 99 %, run on seed 0 only: 20 points below seed 0's dense model
    assert "| Global MP + floors (gradual) | 83.50% ± 4.50% (-1.50) | 70.00% (-20.00) |" in report
    assert "| gradual | 99.0% | -20.00 |" in report


@pytest.mark.slow
def test_sweep_export_measures_each_cells_device_artifact(tmp_path: Path, har, har_cache_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    out = tmp_path / "sweep"
    assert main([*TINY, "--methods", "gmp", "--sparsities", "0.8", "--schedules", "gradual", "--export",
                 "--out", str(out)]) == 0
    (cell,) = json.loads((out / "results.json").read_text())["cells"]
    export = cell["export"]
    # a streaming model's device file is its int16x8 step (int16 state, int8 weights)
    step = out / "cells" / cell["id"] / "artifacts" / "fastgrnn_step_int16x8.tflite"
    assert export["bytes"] == step.stat().st_size and export["artifact"] == "tflite step int16x8"
    device_file = export["device_file"]
    assert export["device_bytes"] == device_file["bytes"] <= export["bytes"]
    assert device_file["compressed"] == (device_file["file"] != step.name)
    assert set(export["accuracy"]) == {"litert", "tflm"} and export["problems"] == []
    assert export["accuracy"]["tflm"] >= cell["test_accuracy"] - 0.01  # int8 within a point of float
    # TFLite's int8 sparse conversion of this tiny model is sometimes broken and then not kept (a warning says so)
    assert export["arena_bytes"] > 0 and (export["sparse_encoded_bytes"] is None or export["sparse_encoded_bytes"] > 0)
    assert "DENSIFY" in export["sparse_encoded_note"]
    report = (out / "REPORT.md").read_text()
    assert "| device file |" in report and f"{export['device_bytes']:,}" in report


@pytest.mark.slow
def test_dense_model_depends_only_on_its_seed(tmp_path: Path, har, har_cache_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sweeps in one process, whatever the global RNG state before, train the same seed's dense model."""
    import torch

    from edge_gmp.data.prepare import prepare_data
    from edge_gmp.workflow.sweep_cells import dense_model

    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    base = load_config("fastgrnn-har2", overrides={"model": {"hidden": 8}, "train": {"epochs": 1},
                                                   "data": {"train_limit": 256}})
    data = prepare_data(base.data, seed=0)
    states = []
    for noise, where in ((1, tmp_path / "a"), (2, tmp_path / "b")):
        torch.manual_seed(noise)
        states.append(dense_model(base, data, 0, where, lambda *_: None)[0])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
