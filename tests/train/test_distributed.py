"""torchrun with 2 CPU processes (gloo): gradual Global MP gives the same weights and masks on every rank
(checked inside the run) and matches one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edge_gmp.train.distributed import Ranks, local_slice, loss_weight

TINY = ["--no-export", "--epochs", "1", "--prune-epochs", "1", "--finetune-epochs", "1", "--hidden", "8",
        "--set", "data.train_limit=512", "--batch-size", "64", "--set", "prune.frequency=2", "--quiet"]


def test_shards_cover_the_global_batch_once() -> None:
    idx = torch.arange(10)
    shards = [local_slice(idx, Ranks(r, 3)) for r in range(3)]
    assert sorted(torch.cat(shards).tolist()) == list(range(10))
    # weighted local means average (as DDP does) to the global mean
    weights = [loss_weight(len(s), 10, Ranks(r, 3)) for r, s in enumerate(shards)]
    assert sum(w * len(s) / len(s) for w, s in zip(weights, shards, strict=True)) / 3 == pytest.approx(1.0)
    assert loss_weight(7, 10, Ranks()) == 1.0


@pytest.mark.slow
def test_two_processes_match_one(tmp_path: Path, har, har_cache_dir: Path) -> None:
    env = {**os.environ, "EDGE_GMP_CACHE": str(har_cache_dir), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two = subprocess.run([*torchrun, "-m", "edge_gmp.pipeline", *TINY, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert two.returncode == 0, two.stdout + two.stderr  # a rank out of sync would have raised
    one = subprocess.run([sys.executable, "-m", "edge_gmp.pipeline", *TINY, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert one.returncode == 0, one.stdout + one.stderr

    a = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=1e-5), key
    assert all(torch.equal(a["masks"][k], b["masks"][k]) for k in a["masks"])
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gmp", "gmp-folded"])
def test_mobilenet_with_augmentation_stays_in_sync_across_ranks(tmp_path: Path, cifar_archive: Path,
                                                               cifar_cache_dir: Path, method: str) -> None:
    """BatchNorm and batch augmentation under DDP: every rank ends with rank 0's weights and masks (the run
    checks a fingerprint per tensor and fails otherwise); only rank 0 writes. gmp-folded ranks by BatchNorm
    statistics, which each rank updates from its own shard: its masks must still agree."""
    env = {**os.environ, "EDGE_GMP_CACHE": str(cifar_cache_dir), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    argv = ["--preset", "mobilenetv1-cifar10", "--data-path", str(cifar_archive), "--no-export", "--epochs", "1",
            "--prune-epochs", "1", "--finetune-epochs", "1", "--set", "data.train_limit=256", "--set",
            "data.val_images=64", "--set", "data.test_limit=64", "--set", "prune.frequency=1", "--method", method,
            "--quiet"]
    run = subprocess.run([*torchrun, "-m", "edge_gmp.pipeline", *argv, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    state = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    total = sum(m.numel() for m in state["masks"].values())
    assert total - sum(int(m.sum()) for m in state["masks"].values()) == round(0.9 * total)
    assert not list((tmp_path / "two").glob(".*tmp*"))


@pytest.mark.parametrize("joined", [False, True])
def test_a_process_leaves_with_its_status_and_all_its_output(joined: bool) -> None:
    """A rank that joined a process group skips the interpreter's teardown (gloo's threads can abort it there)
    but still returns its exit status and everything it printed, buffered or not."""
    code = ("import sys; import edge_gmp.train.distributed as d; "
            f"d._joined.extend([True] if {joined} else []); print('done', end=''); sys.stderr.write('warned'); "
            "d.exit_process(3)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (3, "done", "warned")
