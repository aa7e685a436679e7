from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from edge_gmp.errors import UserError
from edge_gmp.export import export_onnx


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_sequence_parity_dynamic_batch(fastgrnn_model, fastgrnn_onnx):
    x = torch.randn(32, 128, 9, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = fastgrnn_model(x).numpy()
    (got,) = _session(fastgrnn_onnx["sequence"]).run(None, {"x": x.numpy()})
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= 1e-4
    assert np.array_equal(got.argmax(1), ref.argmax(1))


def test_pruned_zeros_preserved_bitwise(fastgrnn_model, fastgrnn_onnx):
    weights = {"W": fastgrnn_model.W.detach().numpy(), "U": fastgrnn_model.U.detach().numpy()}
    assert all((w == 0).sum() > 0 for w in weights.values())
    for key in ("sequence", "step"):
        inits = [numpy_helper.to_array(i) for i in onnx.load(str(fastgrnn_onnx[key])).graph.initializer]
        for name, w in weights.items():
            # The exporter folds the transpose (x @ W.t()), so the initializer is W.T, bit for bit.
            matches = [a for a in inits if a.shape == w.T.shape and np.array_equal(a, w.T)]
            assert matches, f"{name}.T not stored unchanged in the {key} graph"
            assert (matches[0] == 0).sum() == (w == 0).sum()


def test_no_external_data(fastgrnn_onnx):
    for path in fastgrnn_onnx.values():
        model = onnx.load(str(path), load_external_data=False)
        assert all(i.data_location != onnx.TensorProto.EXTERNAL for i in model.graph.initializer)
        names = sorted(p.name for p in path.parent.iterdir())
        assert names == ["fastgrnn_sequence.onnx", "fastgrnn_step.onnx"]


def test_step_graph_streams_to_sequence_result(fastgrnn_model, fastgrnn_onnx, windows):
    seq = _session(fastgrnn_onnx["sequence"])
    step = _session(fastgrnn_onnx["step"])
    x = windows[:8]
    (seq_logits,) = seq.run(None, {"x": x})
    h = np.zeros((len(x), fastgrnn_model.config.hidden), np.float32)
    for t in range(x.shape[1]):
        h, logits = step.run(["h_next", "logits"], {"x_t": x[:, t], "h": h})
    assert np.max(np.abs(logits - seq_logits)) <= 1e-4
    assert np.array_equal(logits.argmax(1), seq_logits.argmax(1))
    assert [(i.name, i.shape) for i in step.get_inputs()] == [("x_t", ["batch", 9]), ("h", ["batch", 16])]
    outputs = [(o.name, o.shape) for o in step.get_outputs()]
    assert outputs == [("h_next", ["batch", 16]), ("logits", ["batch", 2])]


def test_batchnorm_folded_and_parity(convnet, convnet_onnx):
    model = onnx.load(str(convnet_onnx))
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = convnet(x).numpy()
    (got,) = _session(convnet_onnx).run(None, {"image": x.numpy()})
    assert np.max(np.abs(got - ref)) <= 1e-4
    assert convnet.training is False


class _Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


def test_failed_export_leaves_nothing(tmp_path):
    target = tmp_path / "m.onnx"
    with pytest.raises(RuntimeError):
        export_onnx(_Broken(), (torch.zeros(1, 3),), target, ["x"], ["y"])
    assert list(tmp_path.iterdir()) == []


def test_input_name_count_checked(tmp_path):
    with pytest.raises(UserError):
        export_onnx(nn.Linear(3, 2), (torch.zeros(1, 3),), tmp_path / "m.onnx", ["a", "b"], ["y"])


def test_low_rank_graphs_keep_factors(low_rank_model, low_rank_onnx, windows):
    x = torch.from_numpy(windows[:16])
    with torch.no_grad():
        ref = low_rank_model(x).numpy()
    (got,) = _session(low_rank_onnx["sequence"]).run(None, {"x": windows[:16]})
    assert np.max(np.abs(got - ref)) <= 1e-4 and np.array_equal(got.argmax(1), ref.argmax(1))
    x_t, h = torch.randn(4, 9), torch.rand(4, 16)
    with torch.no_grad():
        h_ref = low_rank_model.step(x_t, h).numpy()
    h_got, _ = _session(low_rank_onnx["step"]).run(None, {"x_t": x_t.numpy(), "h": h.numpy()})
    assert np.max(np.abs(h_got - h_ref)) <= 1e-5
    for key in ("sequence", "step"):
        inits = [numpy_helper.to_array(i) for i in onnx.load(str(low_rank_onnx[key])).graph.initializer]
        for name in ("W1", "W2", "U1", "U2"):  # factors stored (transposed) bit for bit, not their product
            w = getattr(low_rank_model, name).detach().numpy().T
            assert any(a.shape == w.shape and np.array_equal(a, w) for a in inits), (key, name)
        assert not any(a.shape in ((9, 16), (16, 9)) for a in inits)
