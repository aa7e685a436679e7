from pathlib import Path

import pytest
import torch

from edge_gmp.cli import config_from_args
from edge_gmp.models import create_model
from edge_gmp.pipeline import build_parser, main

BAD_INPUTS = {
    "sparsity_one": ["--sparsity", "1.0"],
    "unknown_preset": ["--preset", "no-such-preset"],
    "missing_config": ["--config", "/nonexistent/run.toml"],
    "unknown_device": ["--device", "no-such-board"],
    "bad_set": ["--set", "train.no_such_key=1"],
    "zero_epochs": ["--epochs", "0"],
    "infeasible_floor": ["--set", "prune.floor_count=3000"],  # U (4,096) must keep 3,000: 80 % impossible
    "unknown_method": ["--method", "magic"],
    "missing_init_from": ["--init-from", "/nonexistent/model.pt"],
    "no_cuda_here": ["--device", "cuda"],  # the CPU build of torch: a clear error, not a crash mid-run
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


def test_init_from_weights_of_another_model_is_a_clear_error(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "hidden16.pt"
    torch.save(create_model("fastgrnn", hidden=16).state_dict(), weights)
    out = tmp_path / "run"
    assert main(["--init-from", str(weights), "--hidden", "8", "--out", str(out), "--quiet"]) == 2
    assert "do not fit this model" in capsys.readouterr().err and not out.exists()
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["--init-from", str(tmp_path / "junk.pt"), "--out", str(out), "--quiet"]) == 2
    assert "not a readable torch file" in capsys.readouterr().err and not out.exists()


def test_device_flag_takes_a_board_or_a_torch_device() -> None:
    args = build_parser().parse_args(["--device", "cuda:1", "--device", "uno", "--method", "lamp"])
    config = config_from_args(args)
    assert (config.train.device, config.export.device, config.prune.method) == ("cuda:1", "uno", "lamp")
    config = config_from_args(build_parser().parse_args(["--board", "pico"]))
    assert (config.train.device, config.export.device) == ("cpu", "pico")
