import numpy as np
import pytest

from edge_gmp.errors import UserError
from edge_gmp.runtimes import NonFiniteOutput, Unsupported, compare_outputs, open_session, runtimes_for
from edge_gmp.runtimes.tflm import create_interpreter
from edge_gmp.tflite import inspect_tflite
from edge_gmp.verify import evaluate_classifier, evaluate_streaming, run_samples


def _run_all(session, samples):
    return run_samples(session, [samples])[0]


def test_float_parity_all_three_runtimes(models):
    outs = {}
    for runtime, path in (("onnxruntime", models.onnx), ("litert", models.float32), ("tflm", models.float32)):
        with open_session(runtime, path) as s:
            assert [t.shape for t in s.inputs] == [(1, 128, 9)] and s.outputs[0].shape == (1, 2)
            outs[runtime] = _run_all(s, models.samples)
    for runtime in ("litert", "tflm"):
        agree = compare_outputs(outs["onnxruntime"], outs[runtime])
        # 1e-5 relative to the output magnitude: 1152-term float32 sums differ in summation order only
        assert agree.top1 == 1.0 and agree.max_abs <= 1e-5 * max(1.0, agree.ref_max_abs), (runtime, agree)


def test_int8_litert_reference_vs_tflm_within_one_lsb(models):
    lite, micro = open_session("litert", models.int8), open_session("tflm", models.int8)
    assert micro.inputs[0].dtype == np.int8 and micro.outputs[0].scale == lite.outputs[0].scale
    a, b = _run_all(lite, models.samples), _run_all(micro, models.samples)
    assert compare_outputs(a, b).max_abs <= 1.0001 * micro.outputs[0].scale
    ref = _run_all(open_session("onnxruntime", models.onnx), models.samples)
    assert compare_outputs(ref, b).top1 >= 0.9  # int8 still classifies like float


def test_sparse_model_unsupported_in_tflm_but_runs_in_litert(models):
    assert inspect_tflite(models.sparse).sparse_encoded
    with pytest.raises(Unsupported) as err:
        open_session("tflm", models.sparse)
    assert err.value.runtime == "tflm" and "DENSIFY" in str(err.value)
    with pytest.raises(Unsupported) as raw:  # TFLM's own words when asked to allocate it anyway
        create_interpreter(models.sparse.read_bytes(), 1 << 20)
    assert raw.value.op == "DENSIFY" and "Didn't find op" in raw.value.reason
    out = _run_all(open_session("litert", models.sparse), models.samples[:4])
    assert out.shape == (4, 2) and np.isfinite(out).all()


def test_missing_op_is_unsupported_with_op_name(models):
    with pytest.raises(Unsupported) as err:
        open_session("tflm", models.topk)
    assert err.value.op == "TOPK_V2" and "TOPK_V2" in str(err.value)
    assert open_session("litert", models.topk).run([np.arange(8, dtype=np.float32)])[0].tolist() == [[7, 6]]


@pytest.mark.parametrize("runtime", ["litert", "tflm"])
def test_non_finite_output_is_a_failure(models, runtime):
    with pytest.raises(NonFiniteOutput, match="non-finite"):
        open_session(runtime, models.nan).run([np.ones((1, 4), np.float32)])


def test_batch_is_the_models_fixed_shape(models):
    s = open_session("tflm", models.float32)
    with pytest.raises(ValueError, match="one sample at a time"):
        s.run([models.samples[:2]])


def test_evaluate_classifier_and_layout(models):
    s = open_session("tflm", models.float32)
    ref = _run_all(open_session("onnxruntime", models.onnx), models.samples)
    y = ref.argmax(1)
    acc, logits = evaluate_classifier(s, models.samples, y)
    assert acc == 1.0 and logits.shape == (24, 2)
    acc_t, _ = evaluate_classifier(s, models.samples.transpose(0, 2, 1), y)  # (N, 9, 128) data
    assert acc_t == 1.0
    with pytest.raises(UserError, match="expects samples"):
        evaluate_classifier(s, models.samples[:, :64], y)


@pytest.mark.parametrize("runtime", ["litert", "tflm"])
def test_evaluate_streaming_matches_numpy(models, runtime):
    from edge_gmp.verify import streaming_indices
    windows = models.samples[:6, :32]
    ref = models.stream_reference(windows)
    s = open_session(runtime, models.stream)
    idx = streaming_indices(s)
    assert idx is not None and s.inputs[idx["h_index"]].size == 16
    assert s.outputs[idx["logits_index"]].size == 2
    acc, logits = evaluate_streaming(s, windows, ref.argmax(1), **idx)
    assert acc == 1.0 and np.abs(logits - ref).max() < 1e-4


def test_bad_files_are_user_errors(models, tmp_path):
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(models.int8.read_bytes()[:2000])
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(np.random.default_rng(0).bytes(4000))
    for path, msg in ((trunc, "truncated or corrupt"), (junk, "not a TFLite flatbuffer"),
                      (tmp_path / "missing.tflite", "not found")):
        for runtime in ("litert", "tflm"):
            with pytest.raises(UserError, match=msg):
                open_session(runtime, path)


def test_image_layouts_are_transposed_to_the_models() -> None:
    from edge_gmp.runtimes import TensorInfo
    from edge_gmp.verify import to_model_layout
    nchw = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    nhwc_input = TensorInfo("x", (1, 4, 5, 3), np.dtype(np.float32))
    out = to_model_layout(nchw, nhwc_input)
    assert out.shape == (2, 4, 5, 3) and np.array_equal(out, nchw.transpose(0, 2, 3, 1))
    nchw_input = TensorInfo("x", (-1, 3, 4, 5), np.dtype(np.float32))
    assert np.array_equal(to_model_layout(out, nchw_input), nchw)


def test_a_near_tie_flipped_by_rounding_is_not_a_disagreement_when_asked() -> None:
    reference = np.array([[1.0, 1.00001], [0.0, 2.0]])
    candidate = np.array([[1.00002, 1.0], [0.0, 2.0]])
    agreement = compare_outputs(reference, candidate)
    assert agreement.ties == 1 and agreement.top1 == 0.5
    assert agreement.problems(1e-4, min_top1=1.0, count_ties=True) == []
    assert agreement.problems(1e-4, min_top1=1.0)  # unless near ties are excused
    flipped = compare_outputs(np.array([[3.0, 0.0]]), np.array([[0.0, 3.0]]))  # a real flip is never a tie
    assert flipped.problems(1e-4, min_top1=1.0, count_ties=True)


def test_a_runtime_is_one_file(models, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/plugins/onnx_reference.py registers ONNX's reference evaluator; from then on ONNX artifacts are
    verified in it too, with nothing else changed (the registry is restored after the test)."""
    import importlib
    import sys

    from edge_gmp.runtimes import base
    from edge_gmp.verify.checks import Candidate, check_artifacts

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    if "plugins.onnx_reference" in sys.modules:
        importlib.reload(sys.modules["plugins.onnx_reference"])
    else:
        importlib.import_module("plugins.onnx_reference")
    assert runtimes_for(models.onnx) == ("onnxruntime", "onnx-reference")
    reference = np.concatenate([open_session("onnxruntime", models.onnx).run([s[None]])[0]
                                for s in models.samples])
    labels = reference.argmax(1)
    (check,) = check_artifacts([Candidate("onnx mlp", str(models.onnx), "float32")], models.samples, labels,
                               reference, 1.0)
    assert [r.runtime for r in check.runtimes] == ["onnxruntime", "onnx-reference"]
    assert all(r.status == "ok" and r.accuracy == 1.0 for r in check.runtimes) and not check.problems


def test_onnx_agreement_is_judged_relative_to_the_logits_scale() -> None:
    from types import SimpleNamespace

    from edge_gmp.runtimes.agreement import Agreement
    from edge_gmp.verify.checks import Candidate, _vs_reference

    onnx, run = Candidate("onnx sequence", "m.onnx", "float32"), SimpleNamespace(runtime="onnxruntime", accuracy=1.0)
    # float32 rounding carried through 128 recurrent steps: 1.24e-4 on logits of 8.3 (a real FastGRNN run)
    assert _vs_reference(onnx, run, Agreement(2973, 1.0, 1.24e-4, 8.29), 0.96) == []
    assert _vs_reference(onnx, run, Agreement(2973, 1.0, 1.24e-4, 0.5), 0.96)  # small logits: absolute 1e-4
    assert _vs_reference(onnx, run, Agreement(2973, 1.0, 2e-3, 8.29), 0.96)  # a wrong graph is far off
