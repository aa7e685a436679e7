"""ONNX -> SavedModel (onnx2tf) -> float32 / int8 / int16x8 / sparse-encoded .tflite, each described in ONNX
terms (the verify stage checks them)."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edge_gmp.atomic import write_bytes_atomic
from edge_gmp.errors import UserError
from edge_gmp.export.artifacts import ARTIFACT_KINDS, DEFAULT_KINDS, FLOAT_KINDS, INTEGER_KINDS, KINDS, TFLiteArtifact
from edge_gmp.export.onnx2tf_runner import fixed_batch_shapes, onnx_input_shapes, run_onnx2tf
from edge_gmp.export.tflite_check import layout_perm, map_inputs, map_outputs
from edge_gmp.export.tflite_io import describe_artifacts
from edge_gmp.native import capture_native_output, import_tensorflow
from edge_gmp.runtimes import dequantize, quantize
from edge_gmp.runtimes.litert import LiteRTSession
from edge_gmp.runtimes.onnxruntime import run_onnx
from edge_gmp.tflite import inspect_tflite
from edge_gmp.tflite.edit import tie_quantization
from edge_gmp.tflite.sparsity import encode_sparse_tflite

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
    tf = import_tensorflow()

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
    tf = import_tensorflow()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([func], loaded)
    opts = []
    precision = ARTIFACT_KINDS[kind].precision
    if precision == "int8":
        opts.append(tf.lite.Optimize.DEFAULT)
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif precision == "int16x8":
        opts.append(tf.lite.Optimize.DEFAULT)
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if ARTIFACT_KINDS[kind].sparse:
        opts.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    conv.optimizations = opts
    return conv.convert()


def _choose_kinds(kinds: Sequence[str] | None, calibrated: bool) -> list[str]:
    """The kinds to write, in conversion order; float32 always comes first (every check compares with it)."""
    if kinds is None:
        return list(DEFAULT_KINDS if calibrated else FLOAT_KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UserError(f"unknown TFLite kind(s) {unknown}; choose from {list(KINDS)}")
    chosen = ["float32", *[k for k in KINDS if k in kinds and k != "float32"]]
    if not calibrated and any(k in INTEGER_KINDS for k in chosen):
        raise UserError(f"integer kinds {[k for k in chosen if k in INTEGER_KINDS]} need calibration samples")
    if "int8_sparse" in chosen and "int8" not in chosen:
        raise UserError("int8_sparse is checked against its dense twin: ask for int8 as well")
    return chosen


def _state_tensor_indices(path: Path, onnx_path: Path, shapes: dict[str, tuple[int, ...]], kept: Sequence[str],
                          sample: dict[str, np.ndarray]) -> dict[str, int]:
    """ONNX input/output name -> tensor index in the .tflite (inputs by signature name, outputs by shape and
    value on one real sample)."""
    session = LiteRTSession(path)
    ins = map_inputs(session.interpreter, shapes, kept)
    feeds = [quantize(sample[s.onnx_name].transpose(s.perm_from_onnx), session.inputs[s.index]) for s in ins]
    values = [dequantize(v, t) for v, t in zip(session.run_raw(feeds), session.outputs, strict=True)]
    outs = map_outputs(session.interpreter, values, run_onnx(onnx_path, sample))
    return {s.onnx_name: s.tensor_index for s in (*ins, *outs)}


def _structurally_sound(path: Path, kind: str) -> bool:
    """TFLite's sparse conversion of small models can write a broken file (e.g. a weight whose buffer it dropped);
    such a reference file is not kept, and the user is told why."""
    try:
        inspect_tflite(path)
    except UserError as exc:
        warnings.warn(f"TFLite's {kind} conversion wrote an unusable file, not kept: {exc}", stacklevel=3)
        return False
    return True


def _tie_states(path: Path, tied_states: Mapping[str, str], onnx_path: Path, shapes: dict[str, tuple[int, ...]],
                kept: Sequence[str], sample: dict[str, np.ndarray]) -> Path:
    index = _state_tensor_indices(path, onnx_path, shapes, kept, sample)
    pairs = {index[state]: index[state_next] for state, state_next in tied_states.items()}
    return write_bytes_atomic(path, tie_quantization(path.read_bytes(), pairs))


def _check_tied_states(tied_states: Mapping[str, str] | None, shapes: dict[str, tuple[int, ...]],
                       outputs: Sequence[str]) -> dict[str, str]:
    tied = dict(tied_states or {})
    for state, state_next in tied.items():
        if state not in shapes or state_next not in outputs:
            raise UserError(f"tied_states {state!r} -> {state_next!r}: needs an ONNX input ({sorted(shapes)}) "
                            f"-> an ONNX output ({list(outputs)})")
    return tied


def convert_onnx_to_tflite(onnx_path: str | os.PathLike, out_dir: str | os.PathLike,
                           calibration: dict[str, np.ndarray] | None,
                           keep_shape_inputs: Sequence[str] | None = None, *,
                           class_output: str | None = None, stem: str | None = None,
                           min_calibration_samples: int = MIN_CALIBRATION_SAMPLES,
                           max_check_samples: int = 200, kinds: Sequence[str] | None = None,
                           tied_states: Mapping[str, str] | None = None) -> list[TFLiteArtifact]:
    """Write ``<stem>_<kind>.tflite`` (batch 1) into ``out_dir`` for each of ``kinds`` (default:
    float32, int8, float32_sparse, int8_sparse; without calibration only the float32 ones; see ``KINDS``:
    ``int16x8`` has int16 activations and I/O with int8 weights). float32 is always written.

    ``calibration`` maps each ONNX input name to (N, ...) float samples in the ONNX layout (N >= 200);
    without it only float kinds are possible (checked on seeded random inputs). Inputs in
    ``keep_shape_inputs`` (default: every input of rank <= 3) keep their ONNX layout; rank-4 images
    become NHWC. ``tied_states`` maps a recurrent state input to the output fed back into it (e.g.
    ``{"h": "h_next"}``): in every integer kind the input then takes the output's quantisation, so the raw
    output can be copied back unchanged. The files are described, not judged: the verify stage runs them.
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
    tied = _check_tied_states(tied_states, shapes, outputs)
    if calibration is not None:
        calibration = _check_calibration(calibration, shapes, min_calibration_samples)
    kinds = _choose_kinds(kinds, calibration is not None)
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
            if kind == "int8_sparse":  # the converter's int8 1x16 blocks lose weights: CSR of the dense int8 file
                data = encode_sparse_tflite(paths["int8"].read_bytes()).data
            else:
                try:
                    with capture_native_output() as log:  # the converter's C++ logging, dozens of lines per call
                        data = _convert(loaded, func, kind, rep if calibration is not None else None)
                except Exception as exc:
                    raise UserError(f"TFLite conversion ({kind}) of {onnx_path.name} failed: {exc}\n"
                                    f"{log.text[-2000:]}") from exc
            paths[kind] = write_bytes_atomic(out / f"{stem}_{kind}.tflite", data)
            if ARTIFACT_KINDS[kind].sparse and not _structurally_sound(paths[kind], kind):
                paths.pop(kind).unlink()
                continue
            if tied and ARTIFACT_KINDS[kind].integer and not ARTIFACT_KINDS[kind].sparse:
                sample = {name: arr[:1] for name, arr in calibration.items()}
                _tie_states(paths[kind], tied, onnx_path, shapes, kept, sample)
    return describe_artifacts(onnx_path, paths, shapes, kept, calibration, class_output, max_check_samples)


__all__ = ["DEFAULT_KINDS", "KINDS", "TFLiteArtifact", "convert_onnx_to_tflite"]
