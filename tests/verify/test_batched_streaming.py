"""LiteRT steps every test window at once (one invoke per time step, the step graph resized to the batch) instead
of one window at a time: proven on the released FastGRNN's step files over the whole HAR-2 test set. Integer
files give bit-identical outputs, float files agree within float rounding with the same accuracy, and int16x8
files (LiteRT's int16 ADD rounds differently when it broadcasts over a batch) are not resized: verify steps them
one window at a time on raw integers, bit-identical to stepping in floats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_gmp.data import HarData, Normalizer
from edge_gmp.export.bundle import export_bundle
from edge_gmp.models import create_model
from edge_gmp.runtimes import open_session
from edge_gmp.verify import evaluate_streaming, streaming_indices
from edge_gmp.verify.matrix import run_artifact

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "fastgrnn"
MANIFEST = ROOT / "export" / "fastgrnn-har2" / "manifest.json"


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.from_dict(json.loads(MANIFEST.read_text())["normalization"])


@pytest.fixture(scope="module")
def test_windows(har: HarData, normalizer: Normalizer) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(normalizer.apply(har.x_test), np.float32), np.asarray(har.y_test)


@pytest.fixture(scope="module")
def step_files(har: HarData, normalizer: Normalizer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The released weights exported as the pipeline does: the step graph in every TFLite variant."""
    state = torch.load(MODEL_DIR / "model.pt", weights_only=True)
    model = create_model(state["model_name"], **{k: v for k, v in state["model_config"].items() if k != "name"})
    model.load_state_dict(state["state_dict"])
    model.eval()
    x_train = np.asarray(normalizer.apply(har.x_train), np.float32)
    bundle = export_bundle(model, tmp_path_factory.mktemp("steps"), x_train, 500, seed=0)
    return {a.kind: Path(a.path) for a in bundle.tflite if Path(a.path).stem.startswith("fastgrnn_step")}


@pytest.mark.parametrize("kind", ["int8", "int8_sparse", "float32", "float32_sparse"])
def test_all_windows_at_once_match_one_at_a_time(kind: str, step_files: dict[str, Path], test_windows) -> None:
    x, y = test_windows
    session = open_session("litert", step_files[kind])
    plan = streaming_indices(session)
    wide = session.batched(len(x))
    assert wide is not None and wide.inputs[plan["x_index"]].shape == (len(x), 9)
    wide.close()
    accuracy, at_once = evaluate_streaming(session, x, y, **plan)
    accuracy_one, one_by_one = evaluate_streaming(session, x, y, **plan, batch_all=False)
    assert accuracy == accuracy_one
    if kind.startswith("int8"):
        assert np.array_equal(at_once, one_by_one)
    else:
        assert np.array_equal(at_once.argmax(1), one_by_one.argmax(1))
        assert np.abs(at_once - one_by_one).max() <= 1e-5 * max(1.0, float(np.abs(one_by_one).max()))
    result = run_artifact(step_files[kind], "litert", x, y)
    assert np.array_equal(result.logits, at_once) and "in one call per step" in result.note


def test_int16_files_are_stepped_one_window_at_a_time_on_raw_integers(step_files: dict[str, Path],
                                                                       test_windows) -> None:
    x, y = test_windows
    session = open_session("litert", step_files["int16x8"])
    assert session.batched(len(x)) is None
    accuracy, logits = evaluate_streaming(session, x, y, **streaming_indices(session), batch_all=False)
    result = run_artifact(step_files["int16x8"], "litert", x, y)
    assert result.accuracy == accuracy and np.array_equal(result.logits, logits)
