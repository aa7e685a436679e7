"""ONNX -> SavedModel (onnx2tf) -> float32 / int8 / sparse-encoded .tflite, each checked in LiteRT."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edge_gmp.atomic import write_bytes_atomic
from edge_gmp.errors import UserError
from edge_gmp.export.artifacts import TFLiteArtifact
from edge_gmp.export.onnx2tf_runner import fixed_batch_shapes, onnx_input_shapes, run_onnx2tf
from edge_gmp.export.tflite_check import layout_perm
from edge_gmp.export.tflite_validate import describe_artifacts
from edge_gmp.native import capture_native_output

MIN_CALIBRATION_SAMPLES = 200


def _check_calibration(calibration: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
                       minimum: int) -> dict[str, np.ndarray]:
    if set(calibration) != set(shapes):
        raise UserError(f"calibration inputs {sorted(calibration)} do not match the ONNX inputs "
                        f"{sorted(shapes)}")
    out = {name: np.asarray(arr, dtype=np.float32) for name, arr in calibration.items()}
    counts = {len(arr) for arr in out.values()}
    if len(counts) != 1:
        raise UserError(f"calibration inputs have different sample counts: {sorted(counts)}")
    for name, arr in out.items():
        if arr.shape[1:] != shapes[name][1:]:
            raise UserError(f"calibration[{name!r}] has shape {arr.shape}; expected (N, *{shapes[name][1:]}) "
                            "in the ONNX input layout")
        if not np.all(np.isfinite(arr)):
            raise UserError(f"calibration[{name!r}] contains NaN or infinite values")
    count = counts.pop()
    if count < minimum:
        raise UserError(f"int8 calibration needs at least {minimum} real samples, got {count}")
    return out


def _batch1_function(saved_dir: Path, onnx_shapes: dict[str, tuple[int, ...]],
                     kept: Sequence[str]) -> tuple[Any, Any, list[str], list[tuple[int, ...]]]:
    """The SavedModel's serving signature as a concrete function with a fixed batch of 1.

    Returns (loaded SavedModel, concrete function, its input names in order, each input's
    ONNX -> TF permutation). Converting from it gives static (1, ...) shapes instead of (-1, ...).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter (no GPU, ...)
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_dir))
    sig = loaded.signatures["serving_default"]
    spec = sig.structured_input_signature[1]
    names = sorted(spec)
    perms = []
    for name in names:
        shape = (1, *spec[name].shape[1:])
        found = layout_perm(onnx_shapes[name], shape, prefer_same=name in kept)
        if found is None:
            raise RuntimeError(f"SavedModel input {name} {shape} does not fit ONNX shape {onnx_shapes[name]}")
        perms.append(found[0])
    tensor_specs = [tf.TensorSpec((1, *spec[n].shape[1:]), spec[n].dtype, name=n) for n in names]

    @tf.function(input_signature=tensor_specs)
    def serve(*args: Any) -> Any:
        return sig(**dict(zip(names, args, strict=True)))

    return loaded, serve.get_concrete_function(), names, perms


def _convert(loaded: Any, func: Any, kind: str,
             rep: Callable[[], Iterator[list[np.ndarray]]] | None) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([func], loaded)
    opts = []
    if kind.startswith("int8"):
        opts.append(tf.lite.Optimize.DEFAULT)
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if kind.endswith("_sparse"):
        opts.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    conv.optimizations = opts
    return conv.convert()


def convert_onnx_to_tflite(onnx_path: str | os.PathLike, out_dir: str | os.PathLike,
                           calibration: dict[str, np.ndarray] | None,
                           keep_shape_inputs: Sequence[str] | None = None, *,
                           class_output: str | None = None, stem: str | None = None,
                           min_calibration_samples: int = MIN_CALIBRATION_SAMPLES,
                           max_check_samples: int = 200) -> list[TFLiteArtifact]:
    """Write ``<stem>_{float32,int8,float32_sparse,int8_sparse}.tflite`` (batch 1) into ``out_dir``.

    ``calibration`` maps each ONNX input name to (N, ...) float samples in the ONNX layout (N >= 200);
    without it only the float32 variants are written (checked on seeded random inputs). Inputs in
    ``keep_shape_inputs`` (default: every input of rank <= 3) keep their ONNX layout; rank-4 images
    become NHWC. Every artifact is run in LiteRT against onnxruntime, and every sparse one against its
    dense twin; a sparse file whose outputs differ is returned with ``valid=False``.
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise UserError(f"ONNX model {onnx_path} does not exist")
    model = onnx.load(str(onnx_path), load_external_data=False)
    shapes = fixed_batch_shapes(onnx_input_shapes(model))
    kept = list(keep_shape_inputs) if keep_shape_inputs is not None else [
        n for n, s in shapes.items() if len(s) <= 3]
    unknown = set(kept) - set(shapes)
    if unknown:
        raise UserError(f"keep_shape_inputs names unknown ONNX inputs {sorted(unknown)}")
    outputs = [o.name for o in model.graph.output]
    if class_output is not None and class_output not in outputs:
        raise UserError(f"class_output {class_output!r} is not an ONNX output ({outputs})")
    if calibration is not None:
        calibration = _check_calibration(calibration, shapes, min_calibration_samples)
        kinds = ["float32", "int8", "float32_sparse", "int8_sparse"]
    else:
        kinds = ["float32", "float32_sparse"]
    stem = stem or onnx_path.stem
    out = Path(out_dir)
    paths = {}
    with tempfile.TemporaryDirectory(prefix="onnx2tf_") as work:
        saved = run_onnx2tf(onnx_path, work, kept)
        loaded, func, names, perms = _batch1_function(saved, shapes, kept)

        def rep() -> Iterator[list[np.ndarray]]:
            n = len(calibration[names[0]])
            for k in range(n):
                yield [calibration[name][k:k + 1].transpose(perm) for name, perm in zip(names, perms,
                                                                                        strict=True)]

        for kind in kinds:
            try:
                with capture_native_output() as log:  # the converter's C++ logging, dozens of lines per call
                    data = _convert(loaded, func, kind, rep if calibration is not None else None)
            except Exception as exc:
                raise UserError(f"TFLite conversion ({kind}) of {onnx_path.name} failed: {exc}\n"
                                f"{log.text[-2000:]}") from exc
            paths[kind] = write_bytes_atomic(out / f"{stem}_{kind}.tflite", data)
    return describe_artifacts(onnx_path, paths, shapes, kept, calibration, class_output, max_check_samples)


__all__ = ["TFLiteArtifact", "convert_onnx_to_tflite"]
