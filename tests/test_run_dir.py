"""What a resumed run may change: the machine (torch threads), never the recipe; and how the record says so."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edge_gmp.config import dump_toml, load_config
from edge_gmp.errors import UserError
from edge_gmp.workflow.run_dir import check_resumable
from edge_gmp.workflow.run_record import threads_by_epoch


def _interrupted_run(out: Path) -> None:
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"x")
    (out / "config.toml").write_text(dump_toml(load_config()))


def test_resume_on_more_threads_is_allowed_but_not_another_recipe(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _interrupted_run(out)
    config = load_config()
    check_resumable(out, dataclasses.replace(config, train=dataclasses.replace(config.train, threads=2)))
    with pytest.raises(UserError, match=r"train\.lr"):
        check_resumable(out, dataclasses.replace(config, train=dataclasses.replace(config.train, threads=2,
                                                                                        lr=0.5)))


def test_threads_by_epoch_names_each_span_only_when_they_changed() -> None:
    same = [{"epoch": e, "threads": 1} for e in (1, 2, 3)]
    assert threads_by_epoch(same) == ""
    mixed = [{"epoch": 1}, {"epoch": 2}, {"epoch": 3, "threads": 2}, {"epoch": 4, "threads": 2}]
    assert threads_by_epoch(mixed) == "; trained with torch threads unrecorded in epochs 1-2, 2 in epochs 3-4"
