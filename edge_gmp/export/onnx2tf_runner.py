"""Run onnx2tf offline in a subprocess and return the SavedModel directory it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from edge_gmp.errors import UserError

# onnx2tf loads (and otherwise downloads) this file for any 4-D 3-channel input, even for float output.
IMAGE_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def onnx_input_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Graph inputs (not initializers) and their shapes; symbolic dimensions are ``None``."""
    inits = {init.name for init in model.graph.initializer}
    shapes = {}
    for value in model.graph.input:
        if value.name in inits:
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return shapes


def fixed_batch_shapes(shapes: dict[str, list[int | None]], batch: int = 1) -> dict[str, tuple[int, ...]]:
    """Input shapes with the batch axis set to ``batch``; any other unknown dimension is an error."""
    fixed = {}
    for name, shape in shapes.items():
        if not shape:
            raise UserError(f"ONNX input {name!r} is a scalar; only batched tensors can be converted")
        rest = shape[1:]
        if any(d is None or d <= 0 for d in rest):
            raise UserError(f"ONNX input {name!r} has an unknown non-batch dimension {shape}; export it "
                            "with fixed shapes except the batch axis")
        fixed[name] = (batch, *[int(d) for d in rest])
    return fixed


def _needs_image_sample(shapes: dict[str, tuple[int, ...]]) -> bool:
    return any(len(s) == 4 and 3 in (s[1], s[-1]) for s in shapes.values())


def write_image_sample(work_dir: Path) -> Path:
    """The offline stand-in for onnx2tf's downloaded sample (only used for its own dummy inference)."""
    path = work_dir / IMAGE_SAMPLE_FILE
    data = np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)
    np.save(path, data)
    return path


def run_onnx2tf(onnx_path: str | os.PathLike, work_dir: str | os.PathLike,
                keep_shape_inputs: Sequence[str], batch: int = 1, timeout_s: float = 1800) -> Path:
    """Convert ``onnx_path`` to a SavedModel under ``work_dir`` (also its working directory).

    Inputs named in ``keep_shape_inputs`` keep their ONNX shape (``-kat``); other rank >= 3 inputs are
    made channels-last by onnx2tf. The batch axis of every input is fixed to ``batch`` (``-ois``).
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    shapes = fixed_batch_shapes(onnx_input_shapes(onnx.load(str(onnx_path), load_external_data=False)), batch)
    if _needs_image_sample(shapes):
        write_image_sample(work)
    saved = work / "saved_model"
    cmd = [sys.executable, "-m", "onnx2tf", "-i", str(Path(onnx_path).resolve()), "-o", str(saved), "-osd",
           "-ois", *[f"{name}:{','.join(map(str, s))}" for name, s in shapes.items()]]
    if keep_shape_inputs:
        cmd += ["-kat", *keep_shape_inputs]
    env = dict(os.environ)
    # onnx2tf shells out to `onnxsim`, which lives next to this interpreter in a virtual environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout_s,
                          check=False)
    (work / "onnx2tf.log").write_text(proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0 or not (saved / "saved_model.pb").exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"onnx2tf failed on {Path(onnx_path).name} (exit {proc.returncode}):\n{tail}")
    return saved
