"""Check one .tflite against a device: flash (file size), RAM (measured TFLM arena), optional accuracy.

Meant for models this project did not make: the file passes the structural check before any runtime sees
it, TFLite Micro runs it in a child process (a crash becomes an error, not a dead validator), the arena
search is bounded by the device's RAM, and an accuracy measured on inputs that the model's quantisation
saturates is flagged as unreliable.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.runtimes import (
    Session,
    VerificationFailure,
    device_runtime,
    open_session,
    quantize,
    runtime_spec,
)
from edge_gmp.runtimes.isolated import run_isolated
from edge_gmp.runtimes.tflm import sparse_unsupported
from edge_gmp.tflite import TFLiteInfo, inspect_tflite
from edge_gmp.verify.arena import HOST_NOTE
from edge_gmp.verify.budget import BudgetReport, check_budget
from edge_gmp.verify.datasets import TestSet, load_test_set, streaming_indices
from edge_gmp.verify.decoded import ArenaModes, DecodeSummary, decode_summary, measure_arena_modes
from edge_gmp.verify.devices import Device, find_device
from edge_gmp.verify.evaluate import Progress, evaluate_classifier, evaluate_streaming
from edge_gmp.verify.tolerances import MIN_LEVELS, SATURATED_SHARE


@dataclass(frozen=True)
class InputCheck:
    """How the test inputs look after the model's input quantisation."""

    name: str
    saturated_share: float
    distinct_levels: int

    @property
    def problem(self) -> str:
        if self.saturated_share > SATURATED_SHARE or self.distinct_levels < MIN_LEVELS:
            return (f"input {self.name!r}: {self.saturated_share:.1%} of the quantised test inputs sit at the "
                    f"type's limits and only {self.distinct_levels} distinct levels are used; the inputs do not "
                    "match the model's input quantisation (try --normalization none|fit|FILE.json)")
        return ""


@dataclass
class Measurement:
    """What the device runtime measured (in a child process for foreign files)."""

    arena_bytes: int | None  # None: it did not fit within the device's SRAM
    arena_limit: int
    modes: ArenaModes | None = None  # set for models with TFLM_DECODE operators
    us_per_inference: float = float("nan")
    accuracy: float | None = None
    samples: int = 0
    inputs: list[InputCheck] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass
class Validation:
    info: TFLiteInfo
    device: Device
    measured: Measurement
    test: TestSet | None = None
    budget: BudgetReport | None = None
    min_accuracy: float | None = None
    warnings: list[str] = field(default_factory=list)
    unreliable: list[str] = field(default_factory=list)  # reasons the accuracy cannot be trusted
    decode: DecodeSummary | None = None  # set for models with TFLM_DECODE operators

    @property
    def failures(self) -> list[str]:
        """With an accuracy budget, an unreliable measurement fails too: the budget cannot be judged."""
        gated = self.min_accuracy is not None
        unreliable = [f"accuracy measurement unreliable: {u}" for u in self.unreliable if gated]
        return self.measured.failures + unreliable + (self.budget.failures() if self.budget else [])

    @property
    def ok(self) -> bool:
        return self.budget is not None and not self.failures

    def to_dict(self) -> dict[str, Any]:
        m = self.measured
        return {"ok": self.ok, "model": {"path": self.info.path, "bytes": self.info.size_bytes,
                                         "ops": list(self.info.ops)},
                "device": self.device.id, "arena_bytes": m.arena_bytes, "arena_note": HOST_NOTE,
                "arena_search_limit_bytes": m.arena_limit,
                "tflm_us_per_inference": None if math.isnan(m.us_per_inference) else m.us_per_inference,
                "accuracy": m.accuracy, "accuracy_samples": m.samples,
                "accuracy_note": self.test.note if self.test else "",
                "normalization": None if self.test is None else {"mode": self.test.normalization,
                                                                 "statistics": self.test.statistics},
                "inputs": [vars(i) for i in m.inputs], "warnings": self.warnings,
                "budget": self.budget.to_dict() if self.budget else None, "failures": self.failures,
                **self._decode_dict()}

    def _decode_dict(self) -> dict[str, Any]:
        """Keys only a DECODE model's report has (a dense model's report is unchanged)."""
        if self.decode is None:
            return {}
        modes = self.measured.modes
        return {"decode": self.decode.to_dict(), "arena_modes": modes.to_dict() if modes else None,
                "ram_mode": modes.mode if modes else None,
                "decompression_buffer_bytes": modes.ram[1] if modes else 0}


def _input_checks(session: Session, x: np.ndarray, stream: dict[str, int] | None) -> list[InputCheck]:
    """Saturation of the test inputs under the model's input quantisation (the data input only)."""
    index = stream["x_index"] if stream else 0
    info = session.inputs[index]
    if info.scale is None:
        return []
    q = quantize(x.reshape(-1), info)
    limits = np.iinfo(info.dtype)
    share = float(np.mean((q == limits.min) | (q == limits.max))) if q.size else 0.0
    return [InputCheck(info.name, share, int(len(np.unique(q))))]


def _evaluate(session: Session, test: TestSet, progress: Progress | None) -> tuple[float, list[InputCheck]]:
    stream = streaming_indices(session, features=test.x.shape[-1])
    checks = _input_checks(session, test.x, stream)
    if stream is not None:
        return evaluate_streaming(session, test.x, test.y, progress=progress, **stream)[0], checks
    if len(session.inputs) != 1 or session.inputs[0].size != test.x[0].size:
        raise UserError(f"cannot evaluate on this dataset: the model takes inputs "
                        f"{[t.shape for t in session.inputs]}, expected one input of {test.x[0].size} values "
                        f"{test.x.shape[1:]} or a (x_t, h) -> (h_next, logits) streaming cell")
    return evaluate_classifier(session, test.x, test.y, progress=progress)[0], checks


def measure(path: str | os.PathLike, device: Device, test: TestSet | None,
            progress: Progress | None = None) -> Measurement:
    """Arena (searched up to the device's SRAM; for DECODE models in both modes, the one with the smaller total
    kept), speed and accuracy in the device runtime."""
    modes = measure_arena_modes(path, device.sram_bytes)
    arena, buffer = modes.ram
    result = Measurement(arena, device.sram_bytes, modes if modes.buffer else None)
    if arena is None:
        return result
    with open_session(device_runtime(), path, arena_bytes=arena, alt_decompression_bytes=buffer) as session:
        try:
            session.run([np.zeros(t.shape, np.float32) for t in session.inputs])  # finite outputs?
            result.us_per_inference = session.time_us()
            if test is not None:
                result.accuracy, result.inputs = _evaluate(session, test, progress)
                result.samples = len(test.y)
        except VerificationFailure as exc:
            result.failures.append(str(exc))
    return result


def _check_options(min_accuracy: float | None, dataset: str | None, limit: int | None,
                   dataset_options: dict[str, Any]) -> None:
    if min_accuracy is not None and not 0.0 <= min_accuracy <= 1.0:
        raise UserError(f"--min-accuracy must be a fraction in [0, 1], got {min_accuracy}")
    if min_accuracy is not None and dataset is None:
        raise UserError("--min-accuracy needs --dataset to measure accuracy on")
    if limit is not None and limit <= 0:
        raise UserError(f"--limit must be positive, got {limit}")
    given = [name for name, value in {**dataset_options, "--limit": limit}.items() if value not in (None, False)]
    if dataset is None and given:
        raise UserError(f"{', '.join(given)} only apply with --dataset; add --dataset or drop them")


def validate_model(model: str | os.PathLike, device: str, devices_file: str | os.PathLike | None = None, *,
                   min_accuracy: float | None = None, dataset: str | None = None, source: str | None = None,
                   data_path: str | os.PathLike | None = None, normalization: str | None = None,
                   limit: int | None = None, progress: Progress | None = None,
                   isolate: bool = True) -> Validation:
    """Raises UserError for bad input (file, device, options, a model TFLite Micro cannot run)."""
    _check_options(min_accuracy, dataset, limit, {"--source": source, "--data-path": data_path,
                                                  "--normalization": normalization})
    dev = find_device(device, devices_file)
    path = Path(model)
    info = inspect_tflite(path)  # the structural check, before any native runtime sees the bytes
    if info.sparse_encoded:
        raise sparse_unsupported(info)
    test = None
    if dataset is not None:
        test = load_test_set(dataset, path, normalization=normalization, source=source, data_path=data_path,
                             limit=limit)
    runtime = runtime_spec(device_runtime()).display
    measured = (run_isolated(measure, path, dev, test, progress, runtime=runtime) if isolate
                else measure(path, dev, test, progress))
    result = Validation(info, dev, measured, test, min_accuracy=min_accuracy,
                        warnings=list(test.notices) if test else [], decode=decode_summary(path.read_bytes()))
    result.unreliable = [c.problem for c in measured.inputs if c.problem]
    result.warnings += result.unreliable
    if measured.arena_bytes is None:
        result.warnings.append(f"the model does not allocate within the device's {dev.sram_bytes:,} B of SRAM; "
                               "accuracy and speed were not measured")
    ram = measured.arena_bytes if measured.arena_bytes is not None else measured.arena_limit + 1
    buffer = measured.modes.ram[1] if measured.modes and measured.arena_bytes is not None else 0
    result.budget = check_budget(info.size_bytes, ram, dev, accuracy=measured.accuracy,
                                 min_accuracy=min_accuracy if measured.accuracy is not None else None,
                                 decompression_bytes=buffer, ram_at_least=measured.arena_bytes is None)
    return result
