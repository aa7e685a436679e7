"""Reading a finished run or a released model back for ``pipeline --export-from``
(edge_gmp/workflow/trained_run.py): what it refuses, in one line with exit status 2 and nothing written, and the
checks that tie the stored weights to the data they were trained on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge_gmp.errors import UserError
from edge_gmp.pipeline import main
from edge_gmp.workflow.trained_run import _check_data, export_config, load_trained_run

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "models" / "fastgrnn"


def _refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def _copy(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.toml", "model.pt", "metrics.json", "MODEL_CARD.md"):
        shutil.copy2(RELEASED / name, run / name)
    return run


def test_a_released_model_reads_back_with_its_training_command() -> None:
    trained = load_trained_run(RELEASED)
    assert trained.config.model_name == "fastgrnn" and trained.metrics["preset"] == "fastgrnn-har2"
    assert set(trained.model_file["masks"]) == {"W", "U", "classifier.weight"}
    assert trained.training_command() == "python -m edge_gmp.pipeline --preset fastgrnn-har2"


def test_data_and_export_options_may_change_the_training_may_not() -> None:
    trained = load_trained_run(RELEASED)
    config = export_config(trained, {"export": {"device": "stm32f746-disco"}, "train": {"threads": 2}})
    assert config.export.device == "stm32f746-disco" and config.train.threads == 2
    with pytest.raises(UserError, match=r"prune\.sparsity 0\.8 -> 0\.5"):
        export_config(trained, {"prune": {"sparsity": 0.5}})


@pytest.mark.parametrize(("args", "expected"), [
    (["--export-from", "nowhere"], "not a directory"),
    (["--export-from", str(RELEASED), "--preset", "fastgrnn-har2"], "drop --preset"),
    (["--export-from", str(RELEASED), "--resume"], "drop --resume"),
    (["--export-from", str(RELEASED), "--sparsity", "0.5"], "cannot change (prune.sparsity"),
    (["--export-from", str(RELEASED), "--hidden", "32"], "cannot change (model.hidden"),
    (["--export-from", str(RELEASED), "--board", "no-such-board"], "no-such-board"),
])
def test_bad_input_is_one_line_and_writes_nothing(args: list[str], expected: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert expected in _refused([*args, "--out", str(out)], capsys)
    assert not out.exists()


def test_the_run_being_exported_is_not_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(tmp_path)
    before = sorted(p.name for p in run.iterdir())
    assert "is the run being exported" in _refused(["--export-from", str(run), "--out", str(run)], capsys)
    assert sorted(p.name for p in run.iterdir()) == before


def test_an_unfinished_or_foreign_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(tmp_path)
    (run / "model.pt").unlink()
    assert "no model.pt" in _refused(["--export-from", str(run), "--out", str(tmp_path / "a")], capsys)
    shutil.copy2(RELEASED / "model.pt", run / "model.pt")
    (run / "metrics.json").write_text(json.dumps({"preset": "fastgrnn-har2"}))
    err = _refused(["--export-from", str(run), "--out", str(tmp_path / "b")], capsys)
    assert "not a finished run's metrics (missing pruned_test_accuracy" in err
    (run / "model.pt").write_bytes(b"not a torch file")
    assert "model.pt" in _refused(["--export-from", str(run), "--out", str(tmp_path / "c")], capsys)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_other_data_than_the_models_are_refused() -> None:
    trained = load_trained_run(RELEASED)
    stored = trained.metrics["normalization"]
    same = SimpleNamespace(normalization=stored, counts=trained.metrics["samples"])
    _check_data(trained, same)
    shifted = {**stored, "mean": [m + 0.01 for m in stored["mean"]]}
    with pytest.raises(UserError, match="the data differ"):
        _check_data(trained, SimpleNamespace(normalization=shifted, counts=trained.metrics["samples"]))
    with pytest.raises(UserError, match="the data differ"):
        _check_data(trained, SimpleNamespace(normalization=stored, counts={**trained.metrics["samples"], "test": 1}))
