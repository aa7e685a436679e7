from pathlib import Path

import pytest

from edge_gmp.pipeline import main

BAD_INPUTS = {
    "sparsity_one": ["--sparsity", "1.0"],
    "unknown_preset": ["--preset", "no-such-preset"],
    "missing_config": ["--config", "/nonexistent/run.toml"],
    "unknown_device": ["--device", "no-such-board"],
    "bad_set": ["--set", "train.no_such_key=1"],
    "zero_epochs": ["--epochs", "0"],
    "infeasible_floor": ["--set", "prune.floor_count=3000"],  # U (4,096) must keep 3,000: 80 % impossible
}


@pytest.mark.parametrize("argv", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              argv: list[str]) -> None:
    out = tmp_path / "run"
    assert main([*argv, "--out", str(out), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not out.exists()


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--resume", "--out", str(tmp_path / "empty"), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
