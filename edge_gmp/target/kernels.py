"""Instructions per kept multiply-accumulate of each kernel and weight format on an emulated core: synthetic int8
layers at a given density (a 3x3 convolution, stride-1 and stride-2 depthwise, a pointwise convolution and a fully
connected layer over many positions, and one over a single position, where the row decoding dominates), built with
every weight format forced, with the DSP inner loops and with the portable C alone."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.codegen.formats import FORMATS
from edge_gmp.codegen.generate import generate
from edge_gmp.codegen.reference import Spec, graph_model
from edge_gmp.target.emulator import Emulator
from edge_gmp.target.firmware import build_firmware
from edge_gmp.verify.devices import EmulationTarget

# name, op, weight shape, channel axis, output shape, stride (input 1 x 16 x 16 x 32)
LAYERS = [("conv 3x3", "CONV_2D", (32, 3, 3, 32), 0, (1, 16, 16, 32), 1),
          ("depthwise s1", "DEPTHWISE_CONV_2D", (1, 3, 3, 32), 3, (1, 16, 16, 32), 1),
          ("depthwise s2", "DEPTHWISE_CONV_2D", (1, 3, 3, 32), 3, (1, 8, 8, 32), 2),
          ("pointwise", "CONV_2D", (64, 1, 1, 32), 0, (1, 8, 8, 64), 1),
          ("fully connected", "FULLY_CONNECTED", (48, 64), 0, (64, 48), 1)]
SINGLE = ("fully connected, 1 position", "FULLY_CONNECTED", (256, 512), 0, (1, 256), 1)


@dataclass(frozen=True)
class KernelCost:
    kernel: str
    format: str
    density: float
    weight_bytes: int
    kept_macs: int  # non-zero weights times output positions
    instructions: float
    dsp: bool

    @property
    def per_kept_mac(self) -> float:
        return self.instructions / self.kept_macs

    def to_dict(self) -> dict:
        return asdict(self) | {"instructions_per_kept_mac": self.per_kept_mac}


def _options(op: str, stride: int):
    if op == "FULLY_CONNECTED":
        return schema.FullyConnectedOptionsT()
    o = schema.DepthwiseConv2DOptionsT() if op == "DEPTHWISE_CONV_2D" else schema.Conv2DOptionsT()
    o.padding, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = 0, stride, stride, 1, 1
    o.fusedActivationFunction = 3
    if op == "DEPTHWISE_CONV_2D":
        o.depthMultiplier = 1
    return o


def layer_model(layers: list[tuple], input_shape: tuple[int, ...], density: float, seed: int = 0) -> tuple[bytes,
                                                                                                             list]:
    """A chain of ``layers``, each weight kept with probability ``density``; returns the model and its weights."""
    rng = np.random.default_rng(seed)
    specs, ops, kept, x = [Spec(input_shape, "int8", [0.05], [-3])], [], [], 0
    for _, op, shape, axis, out, stride in layers:
        w = rng.integers(-127, 128, shape).astype(np.int8)
        w[rng.random(shape) >= density] = 0
        channels = shape[axis]
        scales = list(rng.uniform(0.002, 0.01, channels))
        specs += [Spec(shape, "int8", scales, [0] * channels, axis, w),
                  Spec((channels,), "int32", [0.05 * s for s in scales], None, 0, rng.integers(-999, 999, channels)),
                  Spec(out, "int8", [0.1], [-5])]
        ops.append((op, [x, len(specs) - 3, len(specs) - 2], [len(specs) - 1], _options(op, stride)))
        kept.append(np.count_nonzero(w) * int(np.prod(out[:-1])))
        x = len(specs) - 1
    return graph_model(ops, specs, [0], [x]), kept


def measure_layers(layers: list[tuple], input_shape: tuple[int, ...], density: float, fmt: str,
                   target: EmulationTarget, dsp: bool) -> list[KernelCost]:
    model, kept = layer_model(layers, input_shape, density)
    with tempfile.TemporaryDirectory(prefix="edge_gmp_kernels_") as tmp:
        path = Path(tmp) / "layers.tflite"
        path.write_bytes(model)
        library = generate(path, "m", formats=(fmt,))
        emulator = Emulator(build_firmware(library, target, Path(tmp) / "fw", "board", dsp=dsp))
        feed = np.random.default_rng(1).integers(-128, 128, input_shape).astype(np.int8)
        run = emulator.run([feed])
    reports = library.report["layers"]
    return [KernelCost(name, fmt, density, report["weight_bytes"], k, float(n), dsp)
            for (name, *_), report, k, n in zip(layers, reports, kept, run.layer_instructions, strict=False)]


def kernel_costs(target: EmulationTarget, densities: tuple[float, ...] = (0.1, 0.3, 0.6, 0.9)) -> list[KernelCost]:
    """Every kernel, format, density, with and without the DSP loops, on ``target``'s core."""
    rows = []
    for density in densities:
        for fmt in FORMATS:
            for dsp in (True, False):
                rows += measure_layers(LAYERS, (1, 16, 16, 32), density, fmt, target, dsp)
                rows += measure_layers([SINGLE], (1, 512), density, fmt, target, dsp)
    return rows
