"""Every artifact in every runtime that can execute it, on a full labelled set.

A runtime that cannot execute an artifact is recorded as ``unsupported`` with its own reason; an artifact
that runs but produces non-finite outputs is recorded as ``failed``. Neither crashes the caller.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_gmp.runtimes import Agreement, Unsupported, VerificationFailure, compare_outputs, open_session
from edge_gmp.verify.datasets import streaming_indices
from edge_gmp.verify.evaluate import Progress, evaluate_classifier, evaluate_streaming


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


def run_artifact(path: str | os.PathLike, runtime: str, windows: np.ndarray, labels: np.ndarray,
                 progress: Progress | None = None, **options: Any) -> RuntimeResult:
    """Accuracy and logits of one artifact in one runtime. Streaming cells ((x_t, h) -> (h_next, logits))
    are stepped over each window; other models take whole windows."""
    start = time.perf_counter()
    try:
        session = open_session(runtime, path, **options)
    except Unsupported as exc:
        return RuntimeResult(runtime, "unsupported", note=exc.reason)
    try:
        with session:
            stream = streaming_indices(session, features=windows.shape[-1])
            if stream is not None:
                accuracy, logits = evaluate_streaming(session, windows, labels, progress=progress, **stream)
                how = f"streaming: stepped over {windows.shape[1]} steps"
            else:
                accuracy, logits = evaluate_classifier(session, windows, labels, progress=progress)
                how = "whole window"
    except VerificationFailure as exc:
        return RuntimeResult(runtime, "failed", note=str(exc), seconds=time.perf_counter() - start)
    return RuntimeResult(runtime, "ok", accuracy=accuracy, samples=len(labels), note=how,
                         seconds=time.perf_counter() - start, logits=logits)
