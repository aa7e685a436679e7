"""Every artifact in every runtime that can execute it, on a full labelled set.

A runtime that cannot execute an artifact is recorded as ``unsupported`` with its own reason; an artifact
that runs but produces non-finite outputs is recorded as ``failed``. Neither crashes the caller.

The device runtime (TFLite Micro) is run through the raw-output trace of edge_gmp.verify.equivalence: its
accuracy and logits come from the trace, which is kept, so the proofs that need TFLM's raw outputs on the same
inputs (the compressed device file, the compiled C) compare with it instead of running the model again.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_gmp.runtimes import (
    Agreement,
    Session,
    Unsupported,
    VerificationFailure,
    compare_outputs,
    device_runtime,
    open_session,
)
from edge_gmp.runtimes.base import check_finite
from edge_gmp.verify.datasets import streaming_indices
from edge_gmp.verify.equivalence import Trace, session_inputs, trace_session
from edge_gmp.verify.evaluate import Progress, evaluate_classifier, evaluate_streaming, top1_accuracy


@dataclass
class RuntimeResult:
    runtime: str
    status: str  # "ok", "unsupported" or "failed"
    accuracy: float | None = None
    samples: int = 0
    seconds: float = 0.0
    note: str = ""
    agreement: Agreement | None = None  # with the float reference, filled in by compare()
    logits: np.ndarray | None = field(default=None, repr=False)
    trace: Trace | None = field(default=None, repr=False)  # raw outputs, kept for the device runtime

    def compare(self, reference: np.ndarray) -> Agreement | None:
        if self.logits is not None:
            self.agreement = compare_outputs(reference, self.logits)
        return self.agreement

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runtime": self.runtime, "status": self.status, "accuracy": self.accuracy,
                               "samples": self.samples, "seconds": round(self.seconds, 2), "note": self.note}
        if self.agreement is not None:
            out["top1_agreement"] = self.agreement.top1
            out["max_abs_logit_diff"] = self.agreement.max_abs
        return out


def _traced(session: Session, windows: np.ndarray, labels: np.ndarray,
            stream: dict[str, int] | None) -> tuple[float, np.ndarray, Trace]:
    """Accuracy, logits and the raw-output trace of one run (non-finite outputs raise VerificationFailure)."""
    trace = trace_session(session, session_inputs(session, [windows]))
    check_finite(session.runtime, [trace.final(i) for i in range(len(trace.outputs))], trace.infos)
    logits = trace.final(stream["logits_index"] if stream is not None else -1)
    return top1_accuracy(logits, labels), logits, trace


def _streamed(session: Session, windows: np.ndarray, labels: np.ndarray, stream: dict[str, int],
              progress: Progress | None) -> tuple[float, np.ndarray, str]:
    """Accuracy, logits and how of a streaming cell outside the device runtime: all windows per call where the
    runtime resizes the batch (LiteRT, see Session.batched), dynamic-batch sessions in chunks, else one window
    at a time on raw integers (the trace loop: the same trajectories as stepping in floats, fewer conversions)."""
    how = f"streaming: stepped over {windows.shape[1]} steps"
    if not all(t.shape[:1] == (-1,) for t in session.inputs):
        wide = session.batched(len(windows))
        if wide is None:
            accuracy, logits, _ = _traced(session, windows, labels, stream)
            return accuracy, logits, how
        wide.close()
        how += f", all {len(windows):,} windows in one call per step"
    return (*evaluate_streaming(session, windows, labels, progress=progress, **stream), how)


def run_artifact(path: str | os.PathLike, runtime: str, windows: np.ndarray, labels: np.ndarray,
                 progress: Progress | None = None, **options: Any) -> RuntimeResult:
    """Accuracy and logits of one artifact in one runtime. Streaming cells ((x_t, h) -> (h_next, logits))
    are stepped over each window; other models take whole windows. In the device runtime the raw outputs are
    traced and kept (``RuntimeResult.trace``)."""
    start = time.perf_counter()
    try:
        session = open_session(runtime, path, **options)
    except Unsupported as exc:
        return RuntimeResult(runtime, "unsupported", note=exc.reason)
    trace = None
    try:
        with session:
            stream = streaming_indices(session, features=windows.shape[-1])
            how = f"streaming: stepped over {windows.shape[1]} steps" if stream is not None else "whole window"
            if runtime == device_runtime():
                accuracy, logits, trace = _traced(session, windows, labels, stream)
            elif stream is not None:
                accuracy, logits, how = _streamed(session, windows, labels, stream, progress)
            else:
                accuracy, logits = evaluate_classifier(session, windows, labels, progress=progress)
    except VerificationFailure as exc:
        return RuntimeResult(runtime, "failed", note=str(exc), seconds=time.perf_counter() - start)
    return RuntimeResult(runtime, "ok", accuracy=accuracy, samples=len(labels), note=how,
                         seconds=time.perf_counter() - start, logits=logits, trace=trace)
