"""Check one .tflite against a device: flash (file size), RAM (measured TFLM arena), optional accuracy."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.runtimes import Session, device_runtime, open_session
from edge_gmp.runtimes.errors import VerificationFailure
from edge_gmp.runtimes.tflite_file import TFLiteInfo, inspect_tflite
from edge_gmp.runtimes.tflm import sparse_unsupported
from edge_gmp.verify.arena import HOST_NOTE, measure_arena
from edge_gmp.verify.budget import BudgetReport, check_budget
from edge_gmp.verify.datasets import load_test_set, streaming_indices
from edge_gmp.verify.devices import find_device
from edge_gmp.verify.evaluate import Progress, evaluate_classifier, evaluate_streaming


@dataclass
class Validation:
    info: TFLiteInfo
    arena_bytes: int
    us_per_inference: float
    budget: BudgetReport | None = None
    accuracy: float | None = None
    samples: int = 0
    accuracy_note: str = ""
    failures: list[str] = field(default_factory=list)  # runtime failures (non-finite outputs, ...)

    @property
    def ok(self) -> bool:
        return not self.failures and self.budget is not None and self.budget.ok

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "model": {"path": self.info.path, "bytes": self.info.size_bytes,
                                         "ops": list(self.info.ops)},
                "arena_bytes": self.arena_bytes, "arena_note": HOST_NOTE,
                "tflm_us_per_inference": None if math.isnan(self.us_per_inference) else self.us_per_inference,
                "accuracy": self.accuracy,
                "accuracy_samples": self.samples, "accuracy_note": self.accuracy_note,
                "budget": self.budget.to_dict() if self.budget else None,
                "failures": self.failures + (self.budget.failures() if self.budget else [])}


def _accuracy(session: Session, dataset: str, path: Path, limit: int | None, progress: Progress | None,
              data_path: str | os.PathLike | None = None) -> tuple[float, int, str]:
    x, y, note = load_test_set(dataset, path, limit, data_path)
    stream = streaming_indices(session)
    if stream is not None:
        acc, _ = evaluate_streaming(session, x, y, progress=progress, **stream)
        return acc, len(y), f"streaming cell stepped over {x.shape[1]} steps; {note}"
    if len(session.inputs) != 1 or session.inputs[0].size != x[0].size:
        raise UserError(f"cannot evaluate on {dataset}: the model takes inputs "
                        f"{[t.shape for t in session.inputs]}, expected one input of {x[0].size} values "
                        f"{x.shape[1:]} or a (x_t, h) -> (h_next, logits) streaming cell")
    acc, _ = evaluate_classifier(session, x, y, progress=progress)
    return acc, len(y), note


def validate_model(model: str | os.PathLike, device: str, devices_file: str | os.PathLike | None = None,
                   min_accuracy: float | None = None, dataset: str | None = None, limit: int | None = None,
                   progress: Progress | None = None, data_path: str | os.PathLike | None = None) -> Validation:
    """Raises UserError for bad input (file, device, options, a model TFLite Micro cannot run)."""
    if min_accuracy is not None and not 0.0 <= min_accuracy <= 1.0:
        raise UserError(f"--min-accuracy must be a fraction in [0, 1], got {min_accuracy}")
    if min_accuracy is not None and dataset is None:
        raise UserError("--min-accuracy needs --dataset (har2 or cifar10) to measure accuracy on")
    if limit is not None and limit <= 0:
        raise UserError(f"--limit must be positive, got {limit}")
    dev = find_device(device, devices_file)
    path = Path(model)
    info = inspect_tflite(path)
    if info.sparse_encoded:
        raise sparse_unsupported(info)
    arena = measure_arena(path)
    result = Validation(info=info, arena_bytes=arena, us_per_inference=float("nan"))
    session = open_session(device_runtime(), path, arena_bytes=arena)
    try:
        session.run([np.zeros(t.shape, np.float32) for t in session.inputs])  # finite outputs?
        result.us_per_inference = session.time_us()
        if dataset is not None:
            result.accuracy, result.samples, result.accuracy_note = _accuracy(session, dataset, path, limit,
                                                                              progress, data_path)
    except VerificationFailure as exc:
        result.failures.append(str(exc))
    result.budget = check_budget(info.size_bytes, arena, dev, accuracy=result.accuracy,
                                 min_accuracy=min_accuracy if result.accuracy is not None else None)
    return result
