"""A run killed with SIGKILL in a real child process resumes to exactly the uninterrupted run: the same
model.pt and checkpoint.pt, byte for byte."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ARGS = ["--epochs", "4", "--prune-epochs", "3", "--finetune-epochs", "2", "--hidden", "16", "--batch-size", "64",
        "--set", "data.train_limit=1500", "--set", "data.test_limit=100", "--set", "prune.frequency=5",
        "--no-export", "--quiet"]


def _command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edge_gmp.pipeline", *ARGS, "--out", str(out), *extra]


def _epoch(checkpoint: Path) -> int:
    try:
        return int(torch.load(checkpoint, weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001 - not written yet
        return -1


def _run_and_kill(out: Path, env: dict[str, str]) -> None:
    """Start the run in a child process and SIGKILL it once an epoch has finished: no handler, no cleanup."""
    child = subprocess.Popen(_command(out), env=env)
    deadline = time.monotonic() + 600
    while _epoch(out / "checkpoint.pt") < 1 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the run finished before it could be killed; make ARGS longer"
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=60) == -signal.SIGKILL


def test_sigkill_then_resume_equals_the_uninterrupted_run(tmp_path: Path, har, har_cache_dir: Path) -> None:
    env = {**os.environ, "EDGE_GMP_CACHE": str(har_cache_dir), "OMP_NUM_THREADS": "1"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_command(full), env=env, check=True, timeout=900)
    _run_and_kill(killed, env)
    assert not (killed / "model.pt").exists()

    subprocess.run(_command(killed, "--resume"), env=env, check=True, timeout=900)
    for name in ("model.pt", "checkpoint.pt"):
        assert (full / name).read_bytes() == (killed / name).read_bytes(), name


def test_ctrl_c_prints_one_line_whose_command_resumes_the_run(tmp_path: Path, har, har_cache_dir: Path) -> None:
    import shlex

    env = {**os.environ, "EDGE_GMP_CACHE": str(har_cache_dir), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    # a longer run than ARGS: the signal must land mid-run, not as the process is already exiting
    # a shell that starts jobs in the background (CI) leaves SIGINT ignored, and Python keeps an ignored SIGINT:
    # give the child the default disposition, as a terminal's foreground job has
    child = subprocess.Popen(_command(out, "--epochs", "20"), env=env, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600
    while _epoch(out / "checkpoint.pt") < 1 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the run finished before it could be interrupted; make ARGS longer"
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stopped (Ctrl-C):") and "Traceback" not in stderr, stderr
    command = shlex.split(lines[0].split("continue with: ", 1)[1])
    assert command[:3] == ["python", "-m", "edge_gmp.pipeline"] and command[-1] == "--resume"
    subprocess.run([sys.executable, *command[1:]], env=env, check=True, timeout=900)
    assert (out / "model.pt").is_file()


# what models/in-progress/README.md commits
RESUME_FILES = ("config.toml", "command.txt", "checkpoint.pt", "epoch_seconds.json")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_a_committed_checkpoint_resumes_in_a_fresh_clone(tmp_path: Path, har, har_cache_dir: Path) -> None:
    """An unfinished run's folder committed as models/in-progress/README.md says, cloned elsewhere and resumed
    from the clone's root with --out and --resume only: the uninterrupted run's model.pt, byte for byte."""
    env = {**os.environ, "EDGE_GMP_CACHE": str(har_cache_dir), "OMP_NUM_THREADS": "1"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_command(full), env=env, check=True, timeout=900)
    _run_and_kill(killed, env)

    origin = tmp_path / "origin"
    folder = origin / "models" / "in-progress" / "tiny"
    folder.mkdir(parents=True)
    for name in RESUME_FILES:
        (folder / name).write_bytes((killed / name).read_bytes())
    _git(origin, "init", "-q")
    _git(origin, "add", ".")
    _git(origin, "commit", "-q", "-m", "unfinished run")
    clone = tmp_path / "elsewhere" / "clone"
    clone.parent.mkdir()
    _git(clone.parent, "clone", "-q", str(origin), str(clone))

    subprocess.run([sys.executable, "-m", "edge_gmp.pipeline", "--out", "models/in-progress/tiny", "--resume",
                    "--quiet"], cwd=clone, env=env, check=True, timeout=900)
    assert (full / "model.pt").read_bytes() == (clone / "models/in-progress/tiny/model.pt").read_bytes()
    reproduce = (clone / "models/in-progress/tiny/MODEL_CARD.md").read_text().split("## Reproduce\n```\n")[1]
    started = [a for a in _command(killed)[1:] if a != "--quiet"]
    assert reproduce.splitlines()[0] == shlex.join(["python", *started])  # the command that started it
