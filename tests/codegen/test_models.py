"""The released models' device files compile and match TFLM; so does a foreign int8 CNN from the TFLite
converter (residual ADD, AVERAGE_POOL_2D, MEAN)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_gmp.codegen.generate import generate
from edge_gmp.codegen.session import CompiledSession
from edge_gmp.verify.equivalence import compare_traces, random_inputs, trace, trace_session


def _identical(path, samples: int) -> None:
    raw = random_inputs(path, samples, seed=3)
    with CompiledSession(path) as session:
        check = compare_traces(trace(path, raw), trace_session(session, raw))
    assert check.identical, check.describe()


def test_fastgrnn_device_file(fastgrnn_device_file):
    _identical(fastgrnn_device_file, 100)


def test_mobilenet_dense_and_compressed(mobilenet_device_file, mobilenet_dense_file):
    _identical(mobilenet_dense_file, 30)
    _identical(mobilenet_device_file, 30)
    with CompiledSession(mobilenet_device_file) as session:
        report = session.library.report
    dense = generate(mobilenet_dense_file, "m").report
    same = ("op", "format", "weight_bytes", "param_bytes", "dense_macs", "kept_macs")
    assert [[row[k] for k in same] for row in dense["layers"]] == [[row[k] for k in same] for row in report["layers"]]
    assert report["weight_bytes"] + report["param_bytes"] <= 60_000
    assert report["arena_bytes"] <= 32 * 1024
    assert report["kept_mac_fraction"] <= 0.35


@pytest.mark.slow
def test_foreign_resnet(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    inp = tf.keras.Input((12, 12, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    y = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = tf.keras.layers.Conv2D(8, 3, padding="same")(y)
    x = tf.keras.layers.ReLU()(tf.keras.layers.Add()([x, y]))
    x = tf.keras.layers.AveragePooling2D(2)(x)
    x = tf.keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    out = tf.keras.layers.Dense(5)(x)
    model = tf.keras.Model(inp, out)
    for layer in model.layers:  # prune half of every kernel, as a pruned model would arrive
        weights = layer.get_weights()
        if weights:
            weights[0] = weights[0] * (rng.random(weights[0].shape) < 0.5)
            layer.set_weights(weights)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.standard_normal((1, 12, 12, 3)).astype(np.float32)]
                                                for _ in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path / "resnet.tflite"
    path.write_bytes(converter.convert())
    with CompiledSession(path) as session:
        ops = {layer["op"] for layer in session.library.report["layers"]}
    assert {"ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D"} <= ops
    _identical(path, 50)


def test_a_target_header_replaces_the_inner_loop(mobilenet_device_file, tmp_path):
    """The hook the Cortex-M kernels plug into: EG_TARGET_HEADER supplies eg_dot_s8; outputs stay TFLM's."""
    header = tmp_path / "target.h"
    header.write_text(
        "#define EG_HAVE_DOT_s8 1\nint eg_target_calls;\n"
        "static inline int32_t eg_dot_s8(const int8_t *w, const int8_t *x, const int32_t *off, int n) {\n"
        "  int32_t a = 0, b = 0;\n  int j = 0;\n  ++eg_target_calls;\n"
        "  for (; j + 1 < n; j += 2) {\n    a += w[j] * x[off[j]];\n    b += w[j + 1] * x[off[j + 1]];\n  }\n"
        "  if (j < n) a += w[j] * x[off[j]];\n  return a + b;\n}\n"
        "static inline void eg_dot4_s8(const int8_t *w, const int8_t *x, const int32_t *off, int n, int32_t step,\n"
        "                              int32_t *acc) {\n"
        "  int q;\n  for (q = 0; q < 4; ++q) acc[q] = eg_dot_s8(w, x + q * step, off, n);\n}\n")
    raw = random_inputs(mobilenet_device_file, 10, seed=5)
    with CompiledSession(mobilenet_device_file, cflags=(f'-DEG_TARGET_HEADER="{header}"',)) as session:
        check = compare_traces(trace(mobilenet_device_file, raw), trace_session(session, raw))
        import ctypes

        calls = ctypes.c_int.in_dll(session.host._dll, "eg_target_calls").value
    assert check.identical and calls > 0
