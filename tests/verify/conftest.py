"""Tiny TFLite/ONNX models for the verify tests, built once per session (TF conversion takes seconds)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

T, D, HIDDEN, CLASSES = 128, 9, 16, 2


def _convert(converter, path: Path) -> Path:
    path.write_bytes(converter.convert())
    return path


def _mlp(tf, sparse: bool = False):
    rng = np.random.default_rng(1)
    inp = tf.keras.Input((T, D), batch_size=1)
    dense = tf.keras.layers.Dense(HIDDEN, activation="relu")
    head = tf.keras.layers.Dense(CLASSES)
    model = tf.keras.Model(inp, head(dense(tf.keras.layers.Flatten()(inp))))
    w = rng.standard_normal((T * D, HIDDEN)).astype(np.float32) * 0.05
    if sparse:
        w *= rng.random(w.shape) < 0.1
    dense.set_weights([w, rng.standard_normal(HIDDEN).astype(np.float32) * 0.1])
    head.set_weights([rng.standard_normal((HIDDEN, CLASSES)).astype(np.float32),
                      np.zeros(CLASSES, np.float32)])
    return model


def _onnx_mlp(model, path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    (w1, b1), (w2, b2) = [layer.get_weights() for layer in model.layers if layer.get_weights()]
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in
             ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    inits.append(numpy_helper.from_array(np.array([1, T * D], np.int64), "shape"))
    steps = [("Reshape", ["x", "shape"], "flat"), ("MatMul", ["flat", "w1"], "m1"),
             ("Add", ["m1", "b1"], "a1"), ("Relu", ["a1"], "r1"),
             ("MatMul", ["r1", "w2"], "m2"), ("Add", ["m2", "b2"], "logits")]
    nodes = [helper.make_node(op, ins, [out]) for op, ins, out in steps]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, T, D])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES])
    graph = helper.make_graph(nodes, "mlp", [x], [logits], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _from_function(tf, fn, specs, path: Path) -> Path:
    f = tf.function(fn, input_signature=specs)
    return _convert(tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f), path)


class Models:
    def __init__(self, root: Path) -> None:
        import tensorflow as tf

        rng = np.random.default_rng(0)
        self.root = root
        self.samples = rng.standard_normal((24, T, D)).astype(np.float32)
        mlp = _mlp(tf)
        self.onnx = _onnx_mlp(mlp, root / "mlp.onnx")
        self.float32 = _convert(tf.lite.TFLiteConverter.from_keras_model(mlp), root / "mlp_float32.tflite")
        conv = tf.lite.TFLiteConverter.from_keras_model(mlp)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([s[None]] for s in self.samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
        self.int8 = _convert(conv, root / "mlp_int8.tflite")
        conv = tf.lite.TFLiteConverter.from_keras_model(_mlp(tf, sparse=True))
        conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        self.sparse = _convert(conv, root / "mlp_float32_sparse.tflite")
        self.nan = _from_function(tf, lambda x: tf.math.log(x - 100.0), [tf.TensorSpec([1, 4], tf.float32)],
                                  root / "nan.tflite")
        self.topk = _from_function(tf, lambda x: tf.math.top_k(x, k=2).values,
                                   [tf.TensorSpec([1, 8], tf.float32)], root / "topk.tflite")
        self.w = rng.standard_normal((D, HIDDEN)).astype(np.float32) * 0.3
        self.u = rng.standard_normal((HIDDEN, HIDDEN)).astype(np.float32) * 0.3
        self.v = rng.standard_normal((HIDDEN, CLASSES)).astype(np.float32)

        def step(x, h):
            h_next = tf.tanh(tf.matmul(x, self.w) + tf.matmul(h, self.u))
            return {"h_next": h_next, "logits": tf.matmul(h_next, self.v)}

        self.stream = _from_function(tf, step, [tf.TensorSpec([1, D], tf.float32, name="x_t"),
                                                tf.TensorSpec([1, HIDDEN], tf.float32, name="h")],
                                     root / "stream.tflite")

    def stream_reference(self, windows: np.ndarray) -> np.ndarray:
        h = np.zeros((len(windows), HIDDEN), np.float32)
        for t in range(windows.shape[1]):
            h = np.tanh(windows[:, t] @ self.w + h @ self.u)
        return h @ self.v


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(tmp_path_factory.mktemp("verify_models"))
