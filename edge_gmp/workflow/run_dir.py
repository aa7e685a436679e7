"""The run directory: a new run never lands in a directory holding another run's files, and a resumed run
continues only the run its directory holds (same model, data, training and pruning configuration)."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from edge_gmp.config import RunConfig, TrainConfig, config_from_dict
from edge_gmp.errors import UserError

RUN_FILES = ("config.toml", "checkpoint.pt", "metrics.json", "model.pt", "MODEL_CARD.md")
TRAINING_SECTIONS = ("model", "data", "train", "prune")  # what a resumed run must share with the stored one
MACHINE_KEYS = {"train": ("threads",)}  # may change on resume: another machine, same recipe (the metrics say so)


def _diff(stored: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    out = []
    for key in keys:
        a, b = stored.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {a!r} -> {b!r}")
    return out


def recipe_differences(stored: RunConfig, wanted: RunConfig, sections: tuple[str, ...]) -> list[str]:
    """``section.key old -> new`` for every setting of ``sections`` that differs, the machine keys left out."""
    a, b = stored.to_dict(), wanted.to_dict()

    def recipe(config: dict[str, Any], section: str) -> dict[str, Any]:
        return {k: v for k, v in config.get(section, {}).items() if k not in MACHINE_KEYS.get(section, ())}

    return [d for section in sections for d in _diff(recipe(a, section), recipe(b, section), f"{section}.")]


def check_resumable(out_dir: Path, config: RunConfig) -> None:
    """UserError unless ``out_dir`` holds an interrupted run of this same training configuration."""
    if not (out_dir / "checkpoint.pt").is_file():
        raise UserError(f"--resume: no checkpoint in {out_dir}; start a new run without --resume")
    try:
        stored = config_from_dict(tomllib.loads((out_dir / "config.toml").read_text()), "the run's config.toml")
    except (OSError, tomllib.TOMLDecodeError, UserError) as exc:
        raise UserError(f"--resume: {out_dir / 'config.toml'} is missing or unreadable ({exc}); the directory "
                        "does not describe the run its checkpoint belongs to") from exc
    differences = recipe_differences(stored, config, TRAINING_SECTIONS)
    if differences:
        raise UserError(f"--resume would continue {out_dir} with another configuration ({'; '.join(differences)}); "
                        "resume with the run's own options, or start a new run with --out elsewhere")


SPLIT_KEYS = ("dataset", "source", "train_limit")  # with data.val_* and train.seed: what decides the data split


def teacher_split_differences(teacher_file: str | Path, config: RunConfig) -> list[str]:
    """How the run that trained a distillation teacher split its data differently from ``config`` (read from the
    ``config.toml`` beside the teacher's model file; nothing when there is none or it is unreadable). A teacher
    trained on this run's validation data makes validation accuracy, and so model selection, optimistic."""
    try:
        stored = tomllib.loads((Path(teacher_file).parent / "config.toml").read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    if not isinstance(stored.get("data"), dict) or not isinstance(stored.get("train"), dict):
        return []
    wanted = config.to_dict()
    keys = {k for k in (*stored["data"], *wanted["data"]) if k in SPLIT_KEYS or k.startswith("val_")}
    out = [f"data.{k} {stored['data'].get(k)!r} (teacher) vs {wanted['data'].get(k)!r}" for k in sorted(keys)
           if stored["data"].get(k) != wanted["data"].get(k)]
    teacher_seed = stored["train"].get("seed", TrainConfig.seed)
    if teacher_seed != config.train.seed:
        out.append(f"train.seed {teacher_seed!r} (teacher) vs {config.train.seed!r}")
    return out


NOT_WRITABLE = {errno.EACCES: "is not writable (permission denied)", errno.EPERM: "is not writable (permission denied)",
                errno.EROFS: "is on a read-only file system",
                errno.ENOENT: "does not take new files (not an ordinary directory, e.g. /proc)"}


def _check_writable(out_dir: Path) -> None:
    """The nearest existing directory at or above ``out_dir`` takes a file (a probe, removed at once)."""
    probe = next((p for p in (out_dir, *out_dir.parents) if p.exists()), Path("."))
    try:
        fd, name = tempfile.mkstemp(prefix=".edge_gmp-probe-", dir=probe)
    except OSError as exc:
        what = NOT_WRITABLE.get(exc.errno, f"does not take new files ({exc.strerror})")
        raise UserError(f"cannot create the run directory {out_dir}: {probe} {what}; choose another --out") from exc
    os.close(fd)
    os.unlink(name)


def prepare_new(out_dir: Path, overwrite: bool) -> None:
    """Check (and with ``overwrite`` clear) ``out_dir`` for a new run; nothing is written otherwise."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, not a directory; choose another --out")
    held = [name for name in RUN_FILES if (out_dir / name).exists()]
    if held and not overwrite:
        state = "a finished run" if (out_dir / "metrics.json").exists() else "an interrupted run"
        raise UserError(f"--out {out_dir} holds {state} ({', '.join(held)}); continue it with --resume, replace it "
                        "with --overwrite, or choose another --out")
    _check_writable(out_dir)
    if held and overwrite:
        trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.replaced.", dir=out_dir.parent))
        os.replace(out_dir, trash / "old")  # atomic: the directory is either the old run or gone
        shutil.rmtree(trash)
