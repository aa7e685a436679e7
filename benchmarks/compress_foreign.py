"""Compress an int8 model nobody here wrote: Keras MobileNetV2, 80 % of its weights zeroed, through the CLI.

    python benchmarks/compress_foreign.py [--sparsity 0.8] [--samples 200] [--keep DIR]

A size and identity benchmark, not an accuracy one: the network is randomly initialised (weights=None, no
download), 80 % of its conv/depthwise/dense kernel weights are zeroed by Global Magnitude Pruning (one threshold
over all kernels, edge_gmp's default per-layer floor), its batch-norm statistics are recalibrated on random
images, and the TFLite converter makes it full-integer int8 (calibrated on a few dozen random images). Then
``python -m edge_gmp.compress`` runs on it as a subprocess, the way a user would. Prints a table and writes
benchmarks/results/compress_foreign.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.atomic import write_text_atomic
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import markdown_table, text_table

RESULTS = Path(__file__).parent / "results"
ARCHITECTURE = "tf.keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(96, 96, 3), classes=10)"
TARGET_REDUCTION = 0.35
DISTINCT_SAMPLES = 50  # random inputs on which the input model's outputs must vary (a non-vacuous check)


def _kernel_layers(model: Any) -> list[Any]:
    """Conv, depthwise conv and dense layers: their kernel comes first in get_weights()."""
    import tensorflow as tf

    kinds = (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D, tf.keras.layers.Dense)
    return [layer for layer in model.layers if isinstance(layer, kinds)]


def _recalibrate_batch_norm(model: Any, images: np.ndarray) -> None:
    """Moving statistics of every BatchNormalization = those of ``images`` (one pass, momentum 0), as training
    would leave them: without it the pruned random network's activations fade to nothing and the converter
    gives quantisation scales so small that TFLM aborts."""
    import tensorflow as tf

    norms = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum


def build_pruned(sparsity: float, images: np.ndarray, seed: int) -> tuple[Any, dict[str, Any]]:
    """MobileNetV2 pruned by edge_gmp's Global Magnitude Pruning (one global threshold over |w| of all kernels,
    the default per-layer floor so that no layer is emptied), batch norm recalibrated on ``images``."""
    import tensorflow as tf
    import torch

    from edge_gmp.prune import global_magnitude_masks

    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(96, 96, 3), classes=10)
    layers = {layer.name: layer for layer in _kernel_layers(model)}
    kernels = {name: torch.from_numpy(layer.get_weights()[0]) for name, layer in layers.items()}
    masks = global_magnitude_masks(kernels, sparsity)
    for name, layer in layers.items():
        weights = layer.get_weights()
        weights[0] = weights[0] * masks[name].numpy().astype(weights[0].dtype)
        layer.set_weights(weights)
    _recalibrate_batch_norm(model, images)
    density = {name: float(mask.float().mean()) for name, mask in masks.items()}
    total = sum(mask.numel() for mask in masks.values())
    kept = sum(int(mask.sum()) for mask in masks.values())
    return model, {"method": "edge_gmp.prune.global_magnitude_masks (default floor)", "kernel_layers": len(layers),
                   "kernel_weights": total, "zeroed_share": 1 - kept / total,
                   "layer_density_min": min(density.values()), "layer_density_max": max(density.values()),
                   "parameters": int(model.count_params())}


def to_int8(model: Any, images: np.ndarray) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def run_compress(source: Path, target: Path, samples: int) -> tuple[dict[str, Any], float, list[str]]:
    command = [sys.executable, "-m", "edge_gmp.compress", str(source), str(target), "--samples", str(samples),
               "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"edge_gmp.compress failed (exit {done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout), seconds, command


def distinct_outputs(source: Path) -> int:
    """How many different raw outputs the input model gives on random inputs: identity on a model whose output
    never changes would prove nothing."""
    from edge_gmp.verify.equivalence import random_inputs, trace

    outputs = trace(source, random_inputs(source, DISTINCT_SAMPLES, seed=1)).outputs[0]
    return len({row.tobytes() for row in outputs})


def _rows(report: dict[str, Any]) -> list[tuple[str, object]]:
    arena = report["arena"]
    in_arena, buffer = arena.get("in_arena", {}), arena.get("alternate_buffer", {})
    identical = report["identical"]
    return [("file bytes before", report["bytes_before"]), ("file bytes after", report["bytes_after"]),
            ("reduction", f"{report['reduction']:.1%}"),
            ("identical TFLM outputs", f"{identical['identical']} on {identical['samples']} random inputs"),
            ("arena, input model", arena["input_arena_bytes"]),
            ("arena, decoded tensors in the arena", in_arena.get("total_bytes")),
            ("arena + alternate decompression buffer",
             " + ".join(f"{buffer.get(k) or 0:,}" for k in ("arena_bytes", "buffer_bytes"))
             + f" = {buffer.get('total_bytes') or 0:,}"),
            ("RAM mode with the smaller total", arena.get("chosen"))]


def _breakdown(report: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    before, after = report["breakdown"]["before"], report["breakdown"]["after"]
    return ("bytes", "before", "after"), [(k, before[k], after[k]) for k in before]


def markdown(result: dict[str, Any]) -> str:
    report = result["compress"]
    verdict = "met" if report["reduction"] >= TARGET_REDUCTION and report["identical"]["identical"] else "NOT met"
    lines = ["# Compressing a foreign int8 model (Keras MobileNetV2)", "",
             f"Model: `{ARCHITECTURE}`, {result['pruning']['zeroed_share']:.1%} of "
             f"{result['pruning']['kernel_weights']:,} conv/depthwise/dense kernel weights zeroed by Global Magnitude "
             f"Pruning (one threshold over all kernels, edge_gmp's default per-layer floor; layer density "
             f"{result['pruning']['layer_density_min']:.1%} to {result['pruning']['layer_density_max']:.1%}), batch "
             f"norm recalibrated and the model made full-integer int8 by the TFLite converter on "
             f"{result['calibration_images']} random images. Random weights: a size and identity benchmark, not "
             f"accuracy. The reference outputs are not constant: {result['distinct_outputs']} distinct outputs on "
             f"{DISTINCT_SAMPLES} random inputs.", "",
             f"Target: at least {TARGET_REDUCTION:.0%} smaller with identical outputs: **{verdict}**.", "",
             markdown_table(("figure", "value"), _rows(report)), "", markdown_table(*_breakdown(report)), "",
             f"Timing: model build {result['seconds']['build']:.1f} s, conversion {result['seconds']['convert']:.1f}"
             f" s, `edge_gmp.compress` (process start, compression, {report['identical']['samples']} x 2 TFLM runs "
             f"and the arena searches) {result['seconds']['compress_cli']:.1f} s; the identity check alone "
             f"{report['identical']['seconds']:.1f} s.", "",
             f"Arena note: {report['arena']['note']}", "",
             f"Command: `{result['command']}`; compress step: `{result['compress_command']}`", "",
             f"Machine: {result['machine']}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=float, default=0.8)
    parser.add_argument("--samples", type=int, default=200, help="random inputs for the identity check")
    parser.add_argument("--calibration", type=int, default=48, help="random calibration images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="DIR", help="keep the int8 and compressed models here")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read when TensorFlow is imported, in build_pruned
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        source, target = folder / "mobilenetv2_int8.tflite", folder / "mobilenetv2_int8_compressed.tflite"
        start = time.perf_counter()
        images = np.random.default_rng(args.seed).uniform(-1, 1, (args.calibration, 96, 96, 3)).astype(np.float32)
        model, pruning = build_pruned(args.sparsity, images, args.seed)
        built = time.perf_counter()
        source.write_bytes(to_int8(model, images))
        converted = time.perf_counter()
        report, seconds, command = run_compress(source, target, args.samples)
        distinct = distinct_outputs(source)
    result = {"command": " ".join(["python benchmarks/compress_foreign.py", *sys.argv[1:]]),
              "compress_command": " ".join(["python", *command[1:]]).replace(str(folder) + "/", ""),
              "architecture": ARCHITECTURE, "sparsity": args.sparsity, "calibration_images": args.calibration,
              "seed": args.seed, "pruning": pruning, "distinct_outputs": distinct, "machine": describe_machine(),
              "seconds": {"build": built - start, "convert": converted - built, "compress_cli": seconds},
              "compress": report}
    print(text_table(("figure", "value"), _rows(report)))
    print(text_table(*_breakdown(report)))
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "compress_foreign.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(RESULTS / "compress_foreign.md", markdown(result))


if __name__ == "__main__":
    main()
