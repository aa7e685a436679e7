"""Our CSR SparsityParameters for int8 constants: exact round trip, LiteRT outputs equal to the dense file's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
from torch import nn

from edge_gmp.export import convert_onnx_to_tflite, export_onnx, tflite_weight_counts
from edge_gmp.runtimes import quantize
from edge_gmp.runtimes.litert import LiteRTSession
from edge_gmp.tflite import inspect_tflite
from edge_gmp.tflite.sparsity import (
    best_encoding,
    csr_decode,
    csr_encode,
    encode_sparse_tflite,
    sparsity_parameters,
)

SHAPES = [(5,), (16, 9), (9, 16), (2, 3, 4), (3, 1, 1, 300), (1, 3, 3, 70), (1, 1, 1, 1), (4, 1), (1, 70_000)]


def _pruned(shape: tuple[int, ...], keep: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(-127, 128, shape)
    return (values * (rng.random(shape) < keep)).astype(np.int8)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("keep", [0.02, 0.2, 1.0])
def test_round_trip_every_split(shape, keep):
    dense = _pruned(shape, keep)
    for split in range(len(shape)):
        enc = csr_encode(dense, split)
        assert np.array_equal(csr_decode(enc), dense), split
        assert np.array_equal(enc.values, dense[dense != 0])  # row-major non-zeros, the order DENSIFY reads
        for k, level in enumerate(enc.levels):  # a CSR level has one segment per position of the level above
            above = np.prod(shape[:split]) if k == 0 else len(enc.levels[k - 1].indices)
            assert len(level.segments) == above + 1 and level.segments[-1] == len(level.indices)
    best = best_encoding(dense)
    if np.any(dense):
        assert best is not None and best.nbytes == min(csr_encode(dense, s).nbytes for s in range(len(shape)))


def test_index_vectors_take_the_narrowest_type():
    def kinds(shape, keep=0.5):
        params = sparsity_parameters(csr_encode(_pruned(shape, keep), len(shape) - 1))
        meta = params.dimMetadata[-1]
        return meta.arraySegmentsType, meta.arrayIndicesType, meta.arrayIndices.values.dtype

    vec = schema.SparseIndexVector
    assert kinds((4, 200)) == (vec.Uint16Vector, vec.Uint8Vector, np.uint8)  # > 255 non-zeros, columns < 256
    assert kinds((2, 300)) == (vec.Uint16Vector, vec.Uint16Vector, np.uint16)
    assert kinds((1, 70_000), keep=1.0) == (vec.Int32Vector, vec.Int32Vector, np.int32)


def test_odd_tensors_not_encoded():
    assert best_encoding(np.zeros((4, 4), np.int8)) is None  # DENSIFY needs constant (non-empty) data
    assert best_encoding(np.int8(3)) is None  # a scalar has no dimension to compress
    assert best_encoding(np.zeros((0, 4), np.int8)) is None
    with pytest.raises(ValueError, match="split"):
        csr_encode(np.ones((2, 2), np.int8), 2)


def test_inconsistent_metadata_refused():
    enc = csr_encode(_pruned((4, 8), 0.5), 1)
    level = enc.levels[0]
    bad_index = type(level)(segments=level.segments, indices=level.indices + 8)
    with pytest.raises(ValueError, match="outside"):
        csr_decode(type(enc)(enc.shape, enc.split, (bad_index,), enc.values))
    with pytest.raises(ValueError, match="values"):
        csr_decode(type(enc)(enc.shape, enc.split, enc.levels, enc.values[:-1]))


# --- in LiteRT -------------------------------------------------------------------------------------------


def _raw_outputs(path: str | Path, feeds: dict[str, np.ndarray], names: dict[str, str]) -> list[np.ndarray]:
    """Each sample of the (N, ...) float ``feeds`` quantised and run; raw integer outputs, stacked."""
    session = LiteRTSession(path)
    outs: list[list[np.ndarray]] = [[] for _ in session.outputs]
    for k in range(len(next(iter(feeds.values())))):
        sample = [quantize(feeds[names[t.name]][k:k + 1].reshape(t.shape), t) for t in session.inputs]
        for j, value in enumerate(session.run_raw(sample)):
            outs[j].append(value.copy())
    return [np.concatenate(o) for o in outs]


@pytest.mark.slow
def test_step_int8_sparse_is_the_dense_file(step_tflite, step_calib, tmp_path):
    """The pipeline's int8_sparse gives the dense int8 file's raw outputs; every constant forced sparse (odd
    shapes: [1], [1, 16], a buffer three tensors share) still gives the same integers."""
    dense, sparse = step_tflite["int8"], step_tflite["int8_sparse"]
    names = {"serving_default_x_t:0": "x_t", "serving_default_h:0": "h"}
    expected = _raw_outputs(dense.path, step_calib, names)
    for got, want in zip(_raw_outputs(sparse.path, step_calib, names), expected, strict=True):
        assert np.array_equal(got, want)
    forced = encode_sparse_tflite(Path(dense.path).read_bytes(), overhead=-10**6)
    assert len(forced.tensors) == 6 and {t.shape for t in forced.tensors} >= {(1,), (16, 9), (16, 16)}
    path = tmp_path / "forced.tflite"
    path.write_bytes(forced.data)
    assert inspect_tflite(path).sparse_encoded
    for got, want in zip(_raw_outputs(path, step_calib, names), expected, strict=True):
        assert np.array_equal(got, want)
    assert tflite_weight_counts(path)["nonzero"] == tflite_weight_counts(dense.path)["nonzero"]
    again = encode_sparse_tflite(forced.data, overhead=-10**6)  # already sparse: nothing left to encode
    assert again.tensors == () and again.data == forced.data


class PrunedConvNet(nn.Module):
    """MobileNet's layer kinds (conv, depthwise, pointwise, FC), 85 % of each weight zero."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1, groups=64), nn.ReLU(),
            nn.Conv2d(64, 128, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(128, 10)
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for module in (*self.features, self.fc):
                if isinstance(module, nn.Conv2d | nn.Linear):
                    module.weight.mul_((torch.rand(module.weight.shape, generator=gen) > 0.85).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@pytest.fixture(scope="module")
def conv_tflite(tmp_path_factory) -> tuple[dict, dict[str, np.ndarray]]:
    out = tmp_path_factory.mktemp("sparse_conv")
    torch.manual_seed(0)
    onnx_path = export_onnx(PrunedConvNet().eval(), (torch.zeros(1, 3, 16, 16),), out / "net.onnx", ["image"],
                            ["logits"])
    cal = {"image": np.random.default_rng(0).random((200, 3, 16, 16), dtype=np.float32)}
    with pytest.MonkeyPatch.context() as mp:  # onnx2tf would download a sample for 3-channel images
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            mp.setenv(var, "http://127.0.0.1:9")
        for var in ("NO_PROXY", "no_proxy"):
            mp.delenv(var, raising=False)
        arts = convert_onnx_to_tflite(onnx_path, out, cal, kinds=["int8", "int8_sparse", "int16x8"],
                                      max_check_samples=50)
    return {a.kind: a for a in arts}, cal


@pytest.mark.slow
def test_conv_int8_sparse_smaller_and_identical(conv_tflite):
    arts, cal = conv_tflite
    dense, sparse = arts["int8"], arts["int8_sparse"]
    assert dense.bytes - sparse.bytes > 5_000  # of 11,776 weight bytes, 85 % zero
    assert "DENSIFY" in sparse.ops and {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= set(sparse.ops)
    assert len(inspect_tflite(sparse.path).sparse_tensors) == 4  # all four weights
    feeds = {"image": cal["image"][:40].transpose(0, 2, 3, 1)}
    names = {t.name: "image" for t in LiteRTSession(dense.path).inputs}
    for got, want in zip(_raw_outputs(sparse.path, feeds, names), _raw_outputs(dense.path, feeds, names),
                         strict=True):
        assert np.array_equal(got, want)
    dense_counts, sparse_counts = tflite_weight_counts(dense.path), tflite_weight_counts(sparse.path)
    assert sparse_counts["nonzero"] == sparse_counts["stored"] == dense_counts["nonzero"]


@pytest.mark.slow
def test_int16x8_weights_encode_too(conv_tflite, tmp_path):
    """int16 activations read int8 weights: DENSIFY rebuilds them for the 16x8 kernels just the same."""
    arts, cal = conv_tflite
    dense = arts["int16x8"]
    encoded = encode_sparse_tflite(Path(dense.path).read_bytes())
    assert len(encoded.tensors) == 4 and len(encoded.data) < dense.bytes
    path = tmp_path / "int16x8_sparse.tflite"
    path.write_bytes(encoded.data)
    feeds = {"image": cal["image"][:40].transpose(0, 2, 3, 1)}
    names = {t.name: "image" for t in LiteRTSession(dense.path).inputs}
    for got, want in zip(_raw_outputs(path, feeds, names), _raw_outputs(dense.path, feeds, names), strict=True):
        assert np.array_equal(got, want)
