"""Verify a set of exported artifacts against the float model: accuracy per runtime, agreement, arena.

Tolerances (a failure is reported, not raised, so every artifact is still measured):
- ONNX: max |Δlogit| <= 1e-4 against the PyTorch logits and identical top-1 (a near tie that this rounding
  can flip, top-2 gap within 2 max |Δ|, is not counted as a difference);
- float TFLite: top-1 agreement >= 99 % and max |Δlogit| <= 1e-3 * max(1, |logit|);
- integer TFLite (int8, int16x8): accuracy within 1 point of the float model, the device runtime agreeing with
  the others on >= 99 % top-1;
- an artifact the exporter already marked invalid (e.g. a sparse encoding that changed outputs) is
  measured and labelled, never shipped, and not counted as a failure here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.runtimes import compare_outputs, device_runtime, runtime_spec, runtimes_for
from edge_gmp.verify.arena import HOST_NOTE, measure_arena
from edge_gmp.verify.matrix import RuntimeResult, run_artifact

ONNX_MAX_ABS = 1e-4
FLOAT_REL_MAX_ABS = 1e-3
MIN_TOP1 = 0.99
INT8_MAX_DROP = 0.01


@dataclass(frozen=True)
class Candidate:
    """One artifact to verify. ``precision`` is "float32", "int8" or "int16x8"; ``valid=False`` marks a file the
    exporter refused to ship (``note`` says why)."""

    name: str
    path: str
    precision: str
    sparse: bool = False
    valid: bool = True
    note: str = ""
    shipped: bool = True  # False: a reference variant (e.g. int8 beside an int16x8 device artifact)


@dataclass
class ArtifactCheck:
    candidate: Candidate
    runtimes: list[RuntimeResult]
    arena_bytes: int | None
    arena_note: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # findings on reference variants: reported, not failures

    def result(self, runtime: str) -> RuntimeResult | None:
        return next((r for r in self.runtimes if r.runtime == runtime), None)

    def to_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {"name": c.name, "path": c.path, "precision": c.precision, "sparse": c.sparse,
                "valid": c.valid, "note": c.note, "bytes": Path(c.path).stat().st_size,
                "arena_bytes": self.arena_bytes, "arena_note": self.arena_note,
                "runtimes": [r.to_dict() for r in self.runtimes], "problems": self.problems, "notes": self.notes}


def _arena(path: str) -> tuple[int | None, str]:
    device = runtime_spec(device_runtime()).display
    if device_runtime() not in runtimes_for(path):
        return None, f"not a {device} artifact"
    try:
        return measure_arena(path), HOST_NOTE
    except UserError as exc:  # Unsupported included: sparse encoding, an op the runtime lacks
        return None, f"{device} cannot allocate it: {exc}"


def _problems(c: Candidate, runs: list[RuntimeResult], reference: np.ndarray,
              float_accuracy: float) -> list[str]:
    out = []
    for r in runs:
        if r.status == "failed":
            out.append(f"{c.name} in {r.runtime}: {r.note}")
            continue
        if r.status != "ok":
            continue
        agreement = r.compare(reference)
        if c.precision != "float32":
            if r.accuracy < float_accuracy - INT8_MAX_DROP:
                out.append(f"{c.name} in {r.runtime}: {c.precision} accuracy {r.accuracy:.4f} is more than "
                           f"{INT8_MAX_DROP:.0%} below the float model's {float_accuracy:.4f}")
            continue
        if Path(c.path).suffix == ".onnx":
            out += [f"{c.name} in {r.runtime} vs PyTorch: {p}"
                    for p in agreement.problems(ONNX_MAX_ABS, min_top1=1.0, count_ties=True)]
        else:
            tol = FLOAT_REL_MAX_ABS * max(1.0, agreement.ref_max_abs)
            out += [f"{c.name} in {r.runtime} vs PyTorch: {p}" for p in agreement.problems(tol, MIN_TOP1)]
    ok = {r.runtime: r for r in runs if r.status == "ok"}
    device = ok.get(device_runtime())
    for other in (r for r in ok.values() if device is not None and r is not device):
        between = compare_outputs(other.logits, device.logits)
        out += [f"{c.name}: {runtime_spec(device.runtime).display} vs {runtime_spec(other.runtime).display}: {p}"
                for p in between.problems(min_top1=MIN_TOP1)]
    return out


def check_artifacts(candidates: Sequence[Candidate], windows: np.ndarray, labels: np.ndarray,
                    reference_logits: np.ndarray, float_accuracy: float,
                    log: Callable[..., None] = lambda *_: None) -> list[ArtifactCheck]:
    """Run every candidate in every runtime that takes its format, on all of ``windows``; ``log`` gets one line
    per artifact and runtime."""
    checks = []
    for i, c in enumerate(candidates, 1):
        if not os.path.isfile(c.path):
            raise UserError(f"artifact {c.path} does not exist")
        arena, arena_note = _arena(c.path)
        runs = [run_artifact(c.path, runtime, windows, labels,
                             **({"arena_bytes": arena} if runtime == device_runtime() else {}))
                for runtime in runtimes_for(c.path)]
        for r in runs:
            accuracy = "-" if r.accuracy is None else f"{r.accuracy:.2%}"
            log(f"verify [{i}/{len(candidates)}] {c.name} in {runtime_spec(r.runtime).display}: {r.status}, "
                f"accuracy {accuracy} on {len(labels):,} samples ({r.seconds:.1f} s)")
        problems = _problems(c, runs, reference_logits, float_accuracy)
        notes: list[str] = []
        if not c.valid or not c.shipped:  # measured and labelled, never shipped: not a failure of the run
            problems, notes = [], problems
        checks.append(ArtifactCheck(c, runs, arena, arena_note, problems, notes))
    return checks
