"""compress_tflite against TFLM's own C++ DECODE kernel: every compressed model must give byte-identical outputs.

Small models are built with tflite_micro's model_editor: a CONCATENATION of the input with a constant shows the
decoded constant verbatim in the output; a FULLY_CONNECTED exercises weights, bias and the quantisation cuts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.compression import model_editor
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError
from edge_gmp.export.compression import CompressionInputError, byte_breakdown, compress_tflite
from edge_gmp.export.compression.model import build_compressed
from edge_gmp.export.compression.selection import DECODE_OPCODE_BYTES, DECODE_OVERHEAD_BYTES
from edge_gmp.native import capture_native_output
from edge_gmp.tflite.decode.lut import lut_encode
from edge_gmp.tflite.decode.pruning import prune_encode

T = schema.TensorType
Q = model_editor.Quantization
ROOT = Path(__file__).resolve().parents[2]
FASTGRNN = ROOT / "tests/fixtures/fastgrnn_step_int8.tflite"
MOBILENET = ROOT / "export/mobilenetv1-cifar10-distilled/classifier_int8.tflite"  # the dense twin of the device file
IO_QUANT = Q(scales=0.5, zero_points=3)


def _operator(opcode: int, options_type: int, options: object, inputs: list, outputs: list) -> model_editor.Operator:
    fb = schema.OperatorT()
    fb.builtinOptionsType, fb.builtinOptions = options_type, options
    return model_editor.Operator(opcode=opcode, inputs=inputs, outputs=outputs, _fb=fb)


def concat_model(const: np.ndarray, dtype: int, const_quant: Q | None = None, io_quant: Q | None = None,
                 metadata: dict[str, bytes] | None = None) -> bytes:
    """y = concatenate([x, const], axis 0): the second half of y is the constant as TFLM sees it."""
    x = model_editor.Tensor(shape=const.shape, dtype=dtype, quantization=io_quant, name="x")
    c = model_editor.Tensor(shape=const.shape, dtype=dtype, data=const.tobytes(), quantization=const_quant,
                            name="const")
    y = model_editor.Tensor(shape=(2 * const.shape[0], *const.shape[1:]), dtype=dtype, quantization=io_quant,
                            name="y")
    options = schema.ConcatenationOptionsT()
    op = _operator(schema.BuiltinOperator.CONCATENATION, schema.BuiltinOptions.ConcatenationOptions, options,
                   [x, c], [y])
    subgraph = model_editor.Subgraph(tensors=[x, c, y], operators=[op], inputs=[x], outputs=[y])
    return bytes(model_editor.Model(subgraphs=[subgraph], metadata=metadata).build())


def fc_model(weights: np.ndarray, bias: np.ndarray, weight_scales: list[float]) -> bytes:
    """int8 FULLY_CONNECTED with int32 bias; per-channel (axis 0) when there are several weight scales."""
    axis = 0 if len(weight_scales) > 1 else None
    in_quant, out_quant = Q(0.05, -3), Q(0.2, 5)
    w_quant = Q(list(weight_scales), [0] * len(weight_scales), axis=axis)
    b_quant = Q([0.05 * s for s in weight_scales], [0] * len(weight_scales), axis=axis)
    x = model_editor.Tensor(shape=(1, weights.shape[1]), dtype=T.INT8, quantization=in_quant, name="x")
    w = model_editor.Tensor(shape=weights.shape, dtype=T.INT8, data=weights.tobytes(), quantization=w_quant,
                            name="weights")
    b = model_editor.Tensor(shape=bias.shape, dtype=T.INT32, data=bias.tobytes(), quantization=b_quant,
                            name="bias")
    y = model_editor.Tensor(shape=(1, weights.shape[0]), dtype=T.INT8, quantization=out_quant, name="y")
    op = _operator(schema.BuiltinOperator.FULLY_CONNECTED, schema.BuiltinOptions.FullyConnectedOptions,
                   schema.FullyConnectedOptionsT(), [x, w, b], [y])
    subgraph = model_editor.Subgraph(tensors=[x, w, b, y], operators=[op], inputs=[x], outputs=[y])
    return bytes(model_editor.Model(subgraphs=[subgraph]).build())


def tflm(data: bytes, arena: int = 1 << 20, alt: int = 0) -> runtime.Interpreter:
    with capture_native_output() as cap:
        try:
            return runtime.Interpreter.from_bytes(data, arena_size=arena, alt_decompression_memory_size=alt)
        except RuntimeError as exc:
            error = exc
    raise AssertionError(f"TFLM rejected the model: {cap.text.strip()}") from error


def io_counts(data: bytes) -> tuple[int, int]:
    subgraph = schema.Model.GetRootAs(data, 0).Subgraphs(0)
    return subgraph.InputsLength(), subgraph.OutputsLength()


def run(data: bytes, feeds: list[list[np.ndarray]], **kwargs: int) -> list[list[np.ndarray]]:
    interp, (_, outputs) = tflm(data, **kwargs), io_counts(data)
    results = []
    for feed in feeds:
        for i, value in enumerate(feed):
            interp.set_input(value, i)
        interp.invoke()
        results.append([np.array(interp.get_output(i), copy=True) for i in range(outputs)])
    return results


def random_feeds(data: bytes, count: int, seed: int = 0) -> list[list[np.ndarray]]:
    interp, (inputs, _) = tflm(data), io_counts(data)
    details = [interp.get_input_details(i) for i in range(inputs)]
    rng = np.random.default_rng(seed)
    return [[rng.integers(-128, 128, d["shape"], dtype=np.int8) for d in details] for _ in range(count)]


def assert_identical(dense: bytes, compressed: bytes, feeds: list[list[np.ndarray]], **kwargs: int) -> None:
    expected, got = run(dense, feeds), run(compressed, feeds, **kwargs)
    for want, have in zip(expected, got, strict=True):
        for a, b in zip(want, have, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def decoded_const(data: bytes, const: np.ndarray) -> bytes:
    """The constant half of a concat model's output for a zero input."""
    interp = tflm(data)
    interp.set_input(np.zeros(const.shape, const.dtype), 0)
    interp.invoke()
    return np.asarray(interp.get_output(0))[const.shape[0]:].tobytes()


def sparse(rng: np.random.Generator, shape: tuple[int, ...], dtype: type, density: float = 0.2,
           background: int = 0) -> np.ndarray:
    values = rng.integers(-100, 100, shape)
    return np.where(rng.random(shape) < density, values, background).astype(dtype)


def tensor_of(data: bytes, index: int = 1) -> model_editor.Tensor:
    return model_editor.read(data).subgraphs[0].tensors[index]


# --- PRUNING round trips through TFLM's decoder -------------------------------------------------------------


def _every_type(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, int]]:
    floats = np.where(rng.random((64, 16)) < 0.2, rng.standard_normal((64, 16)), 0).astype(np.float32)
    floats[0, :3] = [-0.0, np.nan, np.inf]  # -0.0 is kept as a value: only +0.0 decodes from a pruned bit
    return {
        "bool": (rng.random((64, 16)) < 0.2, T.BOOL),
        "int8": (sparse(rng, (64, 16), np.int8), T.INT8),
        "int16": (sparse(rng, (64, 16), np.int16), T.INT16),
        "int32": (sparse(rng, (64, 16), np.int32), T.INT32),
        "int64": (sparse(rng, (64, 16), np.int64), T.INT64),
        "float32": (floats, T.FLOAT32),
    }


@pytest.mark.parametrize("kind", ["bool", "int8", "int16", "int32", "int64", "float32"])
def test_prune_round_trip_every_type(kind):
    const, dtype = _every_type(np.random.default_rng(0))[kind]
    dense = concat_model(const, dtype)
    result = compress_tflite(dense, method="prune")
    assert [row.method for row in result.tensors] == ["prune"]
    assert result.size_after < len(dense)
    assert decoded_const(result.data, const) == const.tobytes() == decoded_const(dense, const)


def _per_channel(rng: np.random.Generator, shape: tuple[int, int], axis: int | None) -> tuple[np.ndarray, Q]:
    """int8 constant whose pruned elements sit at their channel's (non-zero) zero point; channel 0 shares the
    output's zero point because CONCATENATION requires equal first zero points."""
    if axis is None:
        return sparse(rng, shape, np.int8, 0.3, background=IO_QUANT.zero_points), IO_QUANT
    channels = shape[axis]
    zeros = np.r_[IO_QUANT.zero_points, rng.integers(-20, 20, channels - 1)].astype(np.int8)
    background = zeros.reshape((-1, 1) if axis == 0 else (1, -1))
    values = np.where(rng.random(shape) < 0.3, rng.integers(-128, 128, shape), background).astype(np.int8)
    return values, Q(scales=[0.5] * channels, zero_points=zeros.tolist(), axis=axis)


@pytest.mark.parametrize("axis", [None, 0, 1], ids=["per-tensor", "axis-first", "axis-last"])
def test_prune_int8_non_zero_zero_points(axis):
    const, quant = _per_channel(np.random.default_rng(1), (64, 48), axis)
    dense = concat_model(const, T.INT8, quant, IO_QUANT)
    result = compress_tflite(dense, method="prune")
    assert result.tensors[0].method == "prune"
    assert decoded_const(result.data, const) == const.tobytes()


def _decode_only(dense: bytes, encode) -> bytes:
    """The concat model with its constant encoded by ``encode``, whatever the size."""
    model = model_editor.read(dense)
    return build_compressed(model, {(0, 1): encode(model.subgraphs[0].tensors[1]).result})[0]


@pytest.mark.parametrize("fill", ["all-pruned", "all-kept"])
def test_prune_all_zero_and_all_kept_tensors(fill):
    const = np.zeros((32, 16), np.int16) if fill == "all-pruned" else np.arange(1, 513, dtype=np.int16).reshape(32, 16)
    dense = concat_model(const, T.INT16)
    encoding = prune_encode(tensor_of(dense))
    kept = 0 if fill == "all-pruned" else const.size
    assert encoding.parts == {"indices": const.size // 8, "kept_values": 2 * kept}
    assert decoded_const(_decode_only(dense, prune_encode), const) == const.tobytes()


def test_prune_encoding_layout():
    const = np.array([[0, 5, 0, 0, 0, 0, 0, 7], [1, 0, 0, 0, 0, 0, 0, 0]], np.int8)
    result = prune_encode(tensor_of(concat_model(const, T.INT8, Q(0.5, 0), Q(0.5, 0)))).result
    assert result.encoded_data == bytes([0b01000001, 0b10000000])  # C order, most significant bit first
    assert result.ancillary_data == bytes([2, 1, 0, 0, 1] + [0] * 11) + bytes([5, 7, 1])


def test_prune_refuses_what_tflm_rejects():
    rng = np.random.default_rng(2)
    int16 = concat_model(sparse(rng, (32, 8), np.int16, background=5), T.INT16, Q(0.1, 5), Q(0.1, 5))
    assert prune_encode(tensor_of(int16)) is None  # "All zero-points must be zero" for non-int8
    middle_axis = Q([0.5] * 8, [0] * 8, axis=1)
    int8 = concat_model(sparse(rng, (4, 8, 6), np.int8), T.INT8, middle_axis, Q(0.5, 0))
    assert prune_encode(tensor_of(int8)) is None  # "unsupported quantization axis 1"
    assert prune_encode(tensor_of(concat_model(np.zeros((8, 8), np.uint8), T.UINT8))) is None


def test_single_scale_with_non_zero_axis_decodes():
    """TFLM's decoders reject a quantized_dimension other than 0 with one scale; the decoded copy gets 0."""
    const = sparse(np.random.default_rng(3), (32, 24), np.int8)
    dense = concat_model(const, T.INT8, Q([0.5], [0], axis=1), Q(0.5, 0))
    result = compress_tflite(dense, method="prune")
    assert result.cuts["decoded_axis_normalised"] == 1
    assert decoded_const(result.data, const) == const.tobytes()


def two_reader_model(const: np.ndarray, shared_buffer: bool) -> bytes:
    """y1 = concat(x, c1), y2 = concat(x, c2): c1 and c2 are one tensor read twice, or two tensors sharing a
    buffer."""
    x = model_editor.Tensor(shape=const.shape, dtype=T.INT32, name="x")
    c1 = model_editor.Tensor(shape=const.shape, dtype=T.INT32, data=const.tobytes(), name="c1")
    c2 = model_editor.Tensor(shape=const.shape, dtype=T.INT32, buffer=c1.buffer, name="c2") if shared_buffer else c1
    outs = [model_editor.Tensor(shape=(2 * const.shape[0], *const.shape[1:]), dtype=T.INT32, name=f"y{i}")
            for i in (1, 2)]
    ops = [_operator(schema.BuiltinOperator.CONCATENATION, schema.BuiltinOptions.ConcatenationOptions,
                     schema.ConcatenationOptionsT(), [x, c], [y]) for c, y in zip((c1, c2), outs, strict=True)]
    tensors = [x, c1, *([c2] if shared_buffer else []), *outs]
    subgraph = model_editor.Subgraph(tensors=tensors, operators=ops, inputs=[x], outputs=outs)
    return bytes(model_editor.Model(subgraphs=[subgraph]).build())


@pytest.mark.parametrize("shared_buffer", [False, True], ids=["one-tensor-two-readers", "two-tensors-one-buffer"])
def test_constant_read_twice(shared_buffer):
    const = sparse(np.random.default_rng(12), (64, 32), np.int32)
    dense = two_reader_model(const, shared_buffer)
    result = compress_tflite(dense)
    assert {row.method for row in result.tensors} == {"prune"}
    assert result.after["indices"] == const.size // 8  # one bitmap, however many readers
    interp = tflm(result.data)
    interp.set_input(np.zeros(const.shape, np.int32), 0)
    interp.invoke()
    for i in (0, 1):
        assert np.asarray(interp.get_output(i))[const.shape[0]:].tobytes() == const.tobytes()


def test_buffer_shared_with_an_unread_tensor_stays_dense():
    const = sparse(np.random.default_rng(13), (64, 32), np.int32)
    model = model_editor.read(two_reader_model(const, shared_buffer=False))
    subgraph = model.subgraphs[0]
    subgraph.tensors.append(model_editor.Tensor(shape=const.shape, dtype=T.INT32, buffer=subgraph.tensors[1].buffer))
    with pytest.raises(CompressionInputError, match="nothing to compress"):
        compress_tflite(bytes(model.build()))


# --- LUT and the choice of method ---------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [None, 0, 1], ids=["per-tensor", "axis-first", "axis-last"])
def test_lut_chosen_where_smaller(axis):
    rng = np.random.default_rng(4)
    const = rng.choice(np.array([-7, 0, 3, 5, 9], np.int8), size=(64, 48))
    quant = IO_QUANT if axis is None else Q([0.5] * const.shape[axis], [IO_QUANT.zero_points] * const.shape[axis],
                                            axis=axis)
    dense = concat_model(const, T.INT8, quant, IO_QUANT)
    result = compress_tflite(dense)
    assert result.tensors[0].method == "lut"
    assert result.tensors[0].bytes_after < prune_encode(tensor_of(dense)).size
    assert result.after["lut_indices"] == const.size * 3 // 8 and result.after["lut_tables"] > 0
    assert decoded_const(result.data, const) == const.tobytes()


def test_prune_chosen_for_sparse_tensors_and_method_argument():
    rng = np.random.default_rng(5)
    const = np.where(rng.random((64, 64)) < 0.1, rng.integers(-10, 10, (64, 64)), 0).astype(np.int32)
    dense = concat_model(const, T.INT32)
    assert compress_tflite(dense).tensors[0].method == "prune"
    forced = compress_tflite(dense, method="lut")
    assert forced.tensors[0].method == "lut" and forced.size_after > compress_tflite(dense).size_after
    assert decoded_const(forced.data, const) == const.tobytes()


def test_lut_float_keeps_negative_zero():
    const = np.tile(np.array([0.0, -0.0, 1.5, np.nan], np.float32), (64, 8))
    dense = concat_model(const, T.FLOAT32)
    assert lut_encode(tensor_of(dense)) is not None
    assert decoded_const(_decode_only(dense, lut_encode), const) == const.tobytes()


# --- never grow, the overhead estimate, errors ---------------------------------------------------------------


def test_never_grows_a_tensor():
    rng = np.random.default_rng(6)
    weights = sparse(rng, (32, 64), np.int8, density=0.2)
    dense = fc_model(weights, rng.integers(-999, 999, 32).astype(np.int32), [0.01])
    result = compress_tflite(dense)
    rows = {row.name: row for row in result.tensors}
    assert rows["weights"].method == "prune" and rows["bias"].method == "dense"
    assert rows["bias"].note.startswith("not smaller")
    assert all(row.bytes_after <= row.bytes_before for row in result.tensors)
    assert result.size_after < len(dense)
    tiny = concat_model(sparse(rng, (4, 4), np.int8), T.INT8, Q(0.5, 0), Q(0.5, 0))
    with pytest.raises(CompressionInputError, match="nothing to compress"):
        compress_tflite(tiny)


def test_decode_overhead_estimate_covers_the_measured_cost():
    rng = np.random.default_rng(7)
    dense = fc_model(sparse(rng, (64, 64), np.int8, 0.1), rng.integers(-999, 999, 64).astype(np.int32),
                     list(rng.uniform(0.005, 0.02, 64)))
    plain, _ = build_compressed(model_editor.read(dense), {})
    model = model_editor.read(dense)
    encodings = {(0, i): prune_encode(model.subgraphs[0].tensors[i]) for i in (1, 2)}
    one, _ = build_compressed(model_editor.read(dense), {(0, 1): encodings[(0, 1)].result})
    both, _ = build_compressed(model, {k: e.result for k, e in encodings.items()})
    weight_change = encodings[(0, 1)].size - 64 * 64
    bias_change = encodings[(0, 2)].size - 4 * 64
    first = len(one) - len(plain) - weight_change
    second = len(both) - len(one) - bias_change
    assert 0 < first <= DECODE_OVERHEAD_BYTES + DECODE_OPCODE_BYTES
    assert 0 < second <= DECODE_OVERHEAD_BYTES


def test_bad_inputs_raise_one_line_user_errors():
    rng = np.random.default_rng(8)
    floats = concat_model(rng.standard_normal((64, 32)).astype(np.float32), T.FLOAT32)
    compressed = compress_tflite(concat_model(sparse(rng, (64, 32), np.int32), T.INT32)).data
    planned = concat_model(sparse(rng, (64, 32), np.int32), T.INT32, metadata={"OfflineMemoryAllocation": b"\0" * 8})
    cases = {b"not a model at all": "not a TFLite flatbuffer", floats[:60]: "not a valid TFLite flatbuffer",
             floats: "nothing to compress", compressed: "already compressed", planned: "offline memory plan"}
    for data, message in cases.items():
        with pytest.raises(CompressionInputError, match=message) as info:
            compress_tflite(data)
        assert isinstance(info.value, UserError) and "\n" not in str(info.value)
    with pytest.raises(CompressionInputError, match="unknown compression method"):
        compress_tflite(floats, method="huffman")


# --- the cuts, proven by identical outputs --------------------------------------------------------------------


@pytest.mark.parametrize("scales", ["per-tensor", "per-channel"])
def test_fully_connected_cuts_keep_outputs_identical(scales):
    rng = np.random.default_rng(9)
    weight_scales = [0.01] if scales == "per-tensor" else list(rng.uniform(0.005, 0.02, 32))
    dense = fc_model(sparse(rng, (32, 64), np.int8), rng.integers(-2000, 2000, 32).astype(np.int32), weight_scales)
    result = compress_tflite(dense)
    assert result.cuts["encoded_tensor_quantization"] == 1
    if scales == "per-channel":
        assert result.cuts["bias_quantization"] == 1 and result.cuts["zero_point_vectors"] == 1
    feeds = random_feeds(dense, 100)
    assert len({out[0].tobytes() for out in run(dense, feeds)}) > 50  # the comparison is not vacuous
    assert_identical(dense, result.data, feeds)


def _tensor_names(data: bytes) -> list[str]:
    return [t.name.decode() for t in schema.ModelT.InitFromPackedBuf(data, 0).subgraphs[0].tensors if t.name]


def test_cut_options():
    const = sparse(np.random.default_rng(10), (64, 32), np.int32)
    metadata = {"min_runtime_version": b"1.14.0\0", "CONVERSION_METADATA": b"\1" * 40, "user_note": b"kept"}
    dense = concat_model(const, T.INT32, metadata=metadata)
    cut = compress_tflite(dense)
    assert sorted(_tensor_names(cut.data)) == ["x", "y"]
    entries = {m.name.decode() for m in schema.ModelT.InitFromPackedBuf(cut.data, 0).metadata}
    assert entries == {"user_note"} and cut.cuts["metadata_entries"] == 2
    kept = compress_tflite(dense, keep_names=True, cut_metadata=False)
    assert {"x", "y", "const"} <= set(_tensor_names(kept.data))
    assert len(schema.ModelT.InitFromPackedBuf(kept.data, 0).metadata) == 3
    for data in (cut.data, kept.data):
        assert decoded_const(data, const) == const.tobytes()


def test_byte_breakdown_sums_to_file_size():
    rng = np.random.default_rng(11)
    dense = fc_model(sparse(rng, (64, 64), np.int8), rng.integers(-9, 9, 64).astype(np.int32), [0.01] * 64)
    result = compress_tflite(dense)
    for data, parts in ((dense, result.before), (result.data, result.after)):
        assert parts == byte_breakdown(data) and sum(parts.values()) == len(data)
        assert all(v >= 0 for v in parts.values())
    assert result.before["weights"] == 64 * 64 + 4 * 64 and result.before["indices"] == 0
    assert result.after["indices"] == 64 * 64 // 8
    assert result.after["kept_values"] == np.count_nonzero(tensor_of(dense).array)
    assert result.after["weights"] == 4 * 64 and result.after["names"] == len("x") + len("y")


# --- the real models ------------------------------------------------------------------------------------------


def _real(path: Path) -> bytes:
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


@pytest.mark.parametrize(("path", "target"), [(FASTGRNN, 8_000), (MOBILENET, 100_000)], ids=["fastgrnn", "mobilenet"])
def test_real_models_smaller_and_identical(path, target):
    dense = _real(path)
    result = compress_tflite(dense)
    assert result.size_after <= target
    assert sum(result.after.values()) == result.size_after
    feeds = random_feeds(dense, 200)
    assert len({out[0].tobytes() for out in run(dense, feeds)}) > 20
    assert_identical(dense, result.data, feeds)
    largest = max(row.bytes_before for row in result.tensors if row.method != "dense")
    assert_identical(dense, result.data, feeds[:20], alt=largest)  # decoded tensors outside the arena


@pytest.mark.parametrize("keep_names", [False, True])
@pytest.mark.parametrize("cut_quantization", [False, True])
@pytest.mark.parametrize("cut_metadata", [False, True])
def test_each_cut_alone_keeps_fastgrnn_identical(keep_names, cut_quantization, cut_metadata):
    dense = _real(FASTGRNN)
    result = compress_tflite(dense, keep_names=keep_names, cut_quantization=cut_quantization,
                             cut_metadata=cut_metadata)
    assert_identical(dense, result.data, random_feeds(dense, 50, seed=1))
