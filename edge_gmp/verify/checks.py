"""Verify a set of exported artifacts against the float model, in one loop: every artifact in every runtime that
takes it, on the whole test set; accuracy, agreement (edge_gmp.runtimes.compare_outputs) and arena.

The tolerances are those of :mod:`edge_gmp.verify.tolerances`. A failure is reported, not raised, so every
artifact is still measured. A sparse-encoded file whose outputs differ from its dense twin's is labelled
``valid: false`` ("not shipped"); findings on files that are never shipped (such a file, a reference variant)
are notes, not failures of the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.runtimes import Agreement, compare_outputs, device_runtime, runtime_spec, runtimes_for
from edge_gmp.verify.arena import HOST_NOTE, measure_arena
from edge_gmp.verify.matrix import RuntimeResult, run_artifact
from edge_gmp.verify.tolerances import (
    FLOAT_REL_MAX_ABS,
    INTEGER_MAX_DROP,
    MIN_TOP1,
    ONNX_REL_MAX_ABS,
    SPARSE_FLOAT_REL_MAX_ABS,
    SPARSE_INTEGER_STEPS,
)


@dataclass(frozen=True)
class Candidate:
    """One artifact to verify. ``precision`` is "float32", "int8" or "int16x8". A sparse-encoded file names its
    dense ``twin`` (a candidate checked before it) and, when integer, ``output_step``: the quantisation step of
    the twin's class output. ``note`` describes the file (e.g. ops TFLite Micro would reject)."""

    name: str
    path: str
    precision: str
    sparse: bool = False
    note: str = ""
    shipped: bool = True  # False: a reference variant (e.g. int8 beside an int16x8 device artifact)
    twin: str = ""
    output_step: float | None = None


@dataclass
class ArtifactCheck:
    """What verify found for one candidate: its runs, arena, whether it may be shipped and why (``note``),
    problems (failures of the run) and notes (findings on files never shipped)."""

    candidate: Candidate
    runtimes: list[RuntimeResult]
    arena_bytes: int | None
    arena_note: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # findings on reference variants: reported, not failures
    valid: bool = True
    note: str = ""

    def result(self, runtime: str) -> RuntimeResult | None:
        """This artifact's run in ``runtime``, or None when it was not run there."""
        return next((r for r in self.runtimes if r.runtime == runtime), None)

    def to_dict(self) -> dict[str, Any]:
        """The artifact's row in metrics.json."""
        c = self.candidate
        return {"name": c.name, "path": c.path, "precision": c.precision, "sparse": c.sparse,
                "valid": self.valid, "note": self.note, "bytes": Path(c.path).stat().st_size,
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


def _describe(agreement: Agreement) -> str:
    return f"top-1 agreement {agreement.top1:.2f}, max |Δ| {agreement.max_abs:.3g}"


def _vs_reference(c: Candidate, r: RuntimeResult, agreement: Agreement, float_accuracy: float) -> list[str]:
    """One run judged against the float model: accuracy for integer files, agreement for float ones."""
    if c.precision != "float32":
        if r.accuracy < float_accuracy - INTEGER_MAX_DROP:
            return [f"{c.name} in {r.runtime}: {c.precision} accuracy {r.accuracy:.4f} is more than "
                    f"{INTEGER_MAX_DROP:.0%} below the float model's {float_accuracy:.4f}"]
        return []
    scale = max(1.0, agreement.ref_max_abs)
    if Path(c.path).suffix == ".onnx":
        return [f"{c.name} in {r.runtime} vs PyTorch: {p}"
                for p in agreement.problems(ONNX_REL_MAX_ABS * scale, min_top1=1.0, count_ties=True)]
    tol = FLOAT_REL_MAX_ABS * scale
    return [f"{c.name} in {r.runtime} vs PyTorch: {p}" for p in agreement.problems(tol, MIN_TOP1)]


def _problems(c: Candidate, runs: list[RuntimeResult], reference: np.ndarray,
              float_accuracy: float) -> list[str]:
    out = []
    for r in runs:
        if r.status == "failed":
            out.append(f"{c.name} in {r.runtime}: {r.note}")
        elif r.status == "ok":
            out += _vs_reference(c, r, r.compare(reference), float_accuracy)
    ok = {r.runtime: r for r in runs if r.status == "ok"}
    device = ok.get(device_runtime())
    for other in (r for r in ok.values() if device is not None and r is not device):
        between = compare_outputs(other.logits, device.logits)
        out += [f"{c.name}: {runtime_spec(device.runtime).display} vs {runtime_spec(other.runtime).display}: {p}"
                for p in between.problems(min_top1=MIN_TOP1)]
    return out


def _vs_twin(c: Candidate, runs: list[RuntimeResult], twin: ArtifactCheck) -> tuple[bool, str]:
    """A sparse-encoded file against its dense twin, runtime by runtime: (still the same model, why)."""
    notes = []
    for r in (r for r in runs if r.status == "ok"):
        dense = twin.result(r.runtime)
        if dense is None or dense.status != "ok":
            continue
        agreement = compare_outputs(dense.logits, r.logits)
        tol = (SPARSE_INTEGER_STEPS * c.output_step if c.precision != "float32" and c.output_step
               else SPARSE_FLOAT_REL_MAX_ABS * max(1.0, agreement.ref_max_abs))
        if agreement.problems(tol, MIN_TOP1):
            return False, (f"sparse encoding changed outputs in {runtime_spec(r.runtime).display}: "
                           f"{_describe(agreement)} vs {twin.candidate.precision}")
        notes.append(f"matches {twin.candidate.name.rsplit(' ', 1)[-1]} in {runtime_spec(r.runtime).display}: "
                     f"{_describe(agreement)}")
    return True, "; ".join(notes)


def _finding(c: Candidate, runs: list[RuntimeResult], checked: dict[str, ArtifactCheck]) -> tuple[bool, str]:
    """Whether ``c`` may be shipped and the note that says why (agreement with the float model or its twin)."""
    valid, note = True, ""
    if c.twin and c.twin in checked:
        valid, note = _vs_twin(c, runs, checked[c.twin])
    else:
        note = "; ".join(f"vs PyTorch in {runtime_spec(r.runtime).display}: {_describe(r.agreement)}"
                         for r in runs if r.agreement is not None)
    return valid, "; ".join(n for n in (note, c.note) if n)


def check_artifacts(candidates: Sequence[Candidate], windows: np.ndarray, labels: np.ndarray,
                    reference_logits: np.ndarray, float_accuracy: float,
                    log: Callable[..., None] = lambda *_: None) -> list[ArtifactCheck]:
    """Run every candidate in every runtime that takes its format, on all of ``windows``, and judge it; ``log``
    gets one line per artifact and runtime. In the device runtime the raw outputs are kept (the trace)."""
    checked: dict[str, ArtifactCheck] = {}
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
        valid, note = _finding(c, runs, checked)
        notes: list[str] = []
        if not valid or not c.shipped:  # measured and labelled, never shipped: not a failure of the run
            problems, notes = [], problems
        checked[c.name] = ArtifactCheck(c, runs, arena, arena_note, problems, notes, valid, note)
    return list(checked.values())
