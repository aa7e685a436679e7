"""One-operator models with exact quantisation, run in TFLM and in the generated C."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_gmp.codegen.reference import Spec, graph_model, run_tflm
from edge_gmp.codegen.session import CompiledSession


def random_int(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


def weights(rng: np.random.Generator, shape: tuple[int, ...], keep: float, zero_rows: int = 0) -> np.ndarray:
    """int8 weights with a fraction ``keep`` non-zero; the first ``zero_rows`` output channels all zero."""
    w = rng.integers(-127, 128, shape).astype(np.int8)
    w[rng.random(shape) >= keep] = 0
    if zero_rows:
        w[:zero_rows] = 0
    return w


def assert_matches_tflm(tmp_path: Path, ops: list, specs: list[Spec], inputs: list[int], outputs: list[int],
                        feeds: list[np.ndarray]) -> CompiledSession:
    """Build the model, run it in TFLM and in the generated C on ``feeds``; every output byte must agree."""
    model = graph_model(ops, specs, inputs, outputs)
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    expected = run_tflm(model, feeds, outputs=len(outputs))
    session = CompiledSession(path, name="m")
    got = session.run_raw(feeds)
    for e, g in zip(expected, got, strict=True):
        assert e.dtype == g.dtype
        mismatch = np.flatnonzero(e.reshape(-1) != g.reshape(-1))
        assert mismatch.size == 0, (f"{mismatch.size} of {e.size} values differ, first at {mismatch[0]}: "
                                    f"TFLM {e.reshape(-1)[mismatch[0]]}, C {g.reshape(-1)[mismatch[0]]}")
    return session
