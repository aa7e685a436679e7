"""Map a .tflite model's tensors to ONNX names (layouts, signature names, outputs told apart numerically)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_gmp.export.artifacts import TensorSpec

_SAME = {2: "NC", 3: "NTC", 4: "NCHW", 5: "NCDHW"}
_LAST = {3: "NWC", 4: "NHWC", 5: "NDHWC"}


def channels_last(rank: int) -> tuple[int, ...]:
    return (0, *range(2, rank), 1)


def layout_perm(onnx_shape: Sequence[int], tfl_shape: Sequence[int],
                prefer_same: bool = True) -> tuple[tuple[int, ...], str] | None:
    """The permutation taking the ONNX shape to the TFLite shape and a layout name, or None."""
    rank = len(onnx_shape)
    same = tuple(range(rank))
    options = [same, channels_last(rank)] if prefer_same else [channels_last(rank), same]
    for perm in options:
        if tuple(onnx_shape[p] for p in perm) == tuple(tfl_shape):
            name = _SAME.get(rank, "as ONNX") if perm == same else _LAST.get(rank, "channels-last")
            return perm, f"{name} ({','.join(map(str, tfl_shape))})"
    return None


def _spec(onnx_name: str, pos: int, detail: dict[str, Any], perm: tuple[int, ...], layout: str) -> TensorSpec:
    scale, zero = detail["quantization"]
    quantised = np.issubdtype(detail["dtype"], np.integer) and scale != 0
    return TensorSpec(onnx_name=onnx_name, index=pos, tensor_index=int(detail["index"]),
                      tflite_name=str(detail["name"]), shape=tuple(int(d) for d in detail["shape"]),
                      layout=layout, perm_from_onnx=perm, dtype=np.dtype(detail["dtype"]).name,
                      scale=float(scale) if quantised else None, zero_point=int(zero) if quantised else None)


def map_inputs(interp: Any, onnx_shapes: dict[str, tuple[int, ...]], kept: Sequence[str]) -> list[TensorSpec]:
    """Match TFLite inputs to ONNX inputs by signature name (onnx2tf keeps ONNX input names), else shape."""
    by_index = {}
    try:
        for name, detail in interp.get_signature_runner().get_input_details().items():
            by_index[int(detail["index"])] = name
    except ValueError:
        pass
    specs, used = [], set()
    for pos, detail in enumerate(interp.get_input_details()):
        name = by_index.get(int(detail["index"]))
        if name not in onnx_shapes:
            stripped = str(detail["name"]).removeprefix("serving_default_").split(":")[0]
            name = stripped if stripped in onnx_shapes else None
        if name is None:
            fits = [n for n in onnx_shapes if n not in used and layout_perm(onnx_shapes[n], detail["shape"])]
            if len(fits) != 1:
                raise RuntimeError(f"cannot tell which ONNX input TFLite input {detail['name']} is: {fits}")
            name = fits[0]
        found = layout_perm(onnx_shapes[name], detail["shape"], prefer_same=name in kept)
        if found is None:
            raise RuntimeError(f"TFLite input {detail['name']} {detail['shape']} does not fit ONNX input "
                               f"{name} {onnx_shapes[name]}")
        used.add(name)
        specs.append(_spec(name, pos, detail, *found))
    return specs


def map_outputs(interp: Any, tfl_outputs: Sequence[np.ndarray],
                reference: dict[str, np.ndarray]) -> list[TensorSpec]:
    """Match TFLite outputs to ONNX outputs by shape; equal shapes are told apart numerically."""
    specs, used = [], set()
    for pos, (detail, value) in enumerate(zip(interp.get_output_details(), tfl_outputs, strict=True)):
        best = None
        for name, ref in reference.items():
            found = None if name in used else layout_perm((1, *ref.shape[1:]), tuple(detail["shape"]))
            if found is None:
                continue
            err = float(np.mean(np.abs(ref.transpose(found[0]) - value)))
            if best is None or err < best[0]:
                best = (err, name, found)
        if best is None:
            raise RuntimeError(f"no ONNX output fits TFLite output {detail['name']} {detail['shape']}")
        _, name, (perm, layout) = best
        used.add(name)
        specs.append(_spec(name, pos, detail, perm, layout))
    return specs
