"""Ctrl-C in a long command: one line saying what was left behind and what to run next, exit status 130."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

FIXTURE = str(Path(__file__).resolve().parent / "fixtures" / "fastgrnn_step_int8.tflite")
CASES = {  # module, the function its main calls for the long work, argv, what the line must say
    "compress": ("compress_file", [FIXTURE, "OUT.tflite"], "nothing was written to OUT.tflite"),
    "validate": ("validate_model", [FIXTURE, "--board", "nano33ble"], "writes nothing"),
    "release": ("release", ["runs/x"], "holds the old release or the new one"),
    "sweep": ("run_sweep", ["--sparsities", "0.5", "--quiet"],
              "continue with the same command: python -m edge_gmp.sweep --sparsities 0.5 --quiet"),
}


def _interrupt(*_: object, **__: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("name", sorted(CASES))
def test_ctrl_c_is_one_line_and_exit_130(name: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    function, argv, words = CASES[name]
    module = importlib.import_module(f"edge_gmp.{name}")
    monkeypatch.setattr(module, function, _interrupt)
    assert module.main(argv) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stopped (Ctrl-C): ") and words in lines[0], lines
