"""A classifier from outside the project that takes raw pixels (int8 input, scale ~1, zero point -128, as MLPerf
Tiny's ResNet-8 does): `validate --normalization none` measures it right; with standardised inputs (`fit`) the
inputs saturate, which is flagged, and with an accuracy budget the run fails as unreliable instead of passing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

pytestmark = pytest.mark.slow
LIMIT = 1000


@pytest.fixture(scope="module")
def raw_pixel_model(cifar_archive: Path, cifar_cache_dir: Path, tmp_path_factory) -> tuple[Path, float]:
    """A small Keras CNN trained briefly on raw 0-255 pixels and converted to full-integer int8; returns the file
    and its float accuracy on the same evenly spread test images `validate --limit` takes."""
    import tensorflow as tf

    from edge_gmp.data import load_cifar10

    data = load_cifar10("folder", cifar_archive, cache_dir=cifar_cache_dir)
    subset = np.random.default_rng(0).permutation(len(data.y_train))[:8000]  # the archive is sorted by class
    x_train = np.asarray(data.x_train[subset], np.float32)  # NHWC, pixels 0-255
    y_train = np.asarray(data.y_train[subset])
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        tf.keras.Input((32, 32, 3), batch_size=1),
        tf.keras.layers.Rescaling(1 / 127.5, offset=-1.0),
        tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        tf.keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(10),
    ])
    trainer = tf.keras.Sequential(model.layers)  # same layers, any batch size
    trainer.build((None, 32, 32, 3))
    trainer.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
                    loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)

    def representative():
        for image in x_train[:200]:
            yield [image[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("raw") / "raw_pixels_int8.tflite"
    path.write_bytes(converter.convert())

    pick = np.unique(np.linspace(0, len(data.y_test) - 1, LIMIT).round().astype(np.int64))
    logits = trainer.predict(np.asarray(data.x_test[pick], np.float32), verbose=0)
    return path, float(np.mean(logits.argmax(1) == np.asarray(data.y_test)[pick]))


def _validate(model: Path, archive: Path, cache: Path, *args: str) -> tuple[int, dict]:
    env = {**os.environ, "EDGE_GMP_CACHE": str(cache)}
    r = subprocess.run([sys.executable, "-m", "edge_gmp.validate", str(model), "--board", "stm32f746-disco",
                        "--dataset", "cifar10", "--data-path", str(archive), "--limit", str(LIMIT), "--json", *args],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_raw_pixels_measure_right_with_normalization_none(raw_pixel_model, cifar_archive, cifar_cache_dir):
    path, float_accuracy = raw_pixel_model
    assert float_accuracy > 0.3  # the model learned something: a wrong feed shows
    code, report = _validate(path, cifar_archive, cifar_cache_dir, "--normalization", "none",
                             "--min-accuracy", "0.25")
    assert code == 0, report
    assert abs(report["accuracy"] - float_accuracy) < 0.03  # int8 in TFLM against Keras float, same images
    (inputs,) = report["inputs"]
    assert inputs["saturated_share"] < 0.05 and inputs["distinct_levels"] > 200
    assert not any("quantisation" in w for w in report["warnings"])


def test_standardised_inputs_are_flagged_and_fail_an_accuracy_budget(raw_pixel_model, cifar_archive,
                                                                     cifar_cache_dir):
    path, _ = raw_pixel_model
    code, report = _validate(path, cifar_archive, cifar_cache_dir, "--normalization", "fit")
    assert code == 0  # no accuracy budget asked: a warning, not a failure
    (inputs,) = report["inputs"]
    assert inputs["distinct_levels"] < 16
    assert any("do not match the model's input quantisation" in w for w in report["warnings"])
    code, report = _validate(path, cifar_archive, cifar_cache_dir, "--normalization", "fit", "--min-accuracy", "0.1")
    assert code == 1 and any("unreliable" in f for f in report["failures"])
