"""The DSP-extension inner loops (edge_gmp.target.dsp) on both emulated cores, every weight format: a chain of a
3x3 convolution with a border, stride-1 and stride-2 depthwise convolutions, an odd-width pointwise convolution and
a fully connected layer, with negative zero points, rows of odd lengths with tails, all-zero rows and extreme
inputs. The firmware's outputs must equal the host build's, and the host build's TFLM's."""

from __future__ import annotations

from pathlib import Path

import capstone
import numpy as np
import pytest
from elftools.elf.elffile import ELFFile
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.codegen.formats import FORMATS
from edge_gmp.codegen.generate import generate
from edge_gmp.codegen.reference import Spec, graph_model, run_tflm
from edge_gmp.codegen.session import CompiledSession
from edge_gmp.target import build_firmware, emulate_model
from edge_gmp.target.emulator import Emulator
from edge_gmp.verify.devices import find_device

BOARDS = ("nano33ble", "stm32f746-disco")  # Cortex-M4, Cortex-M7
H, W, C = 9, 11, 5


def _weights(rng: np.random.Generator, shape: tuple[int, ...], keep: float, zero_rows: int) -> np.ndarray:
    w = rng.integers(-127, 128, shape).astype(np.int8)
    w[rng.random(shape) >= keep] = 0
    w[:zero_rows] = 0
    w.reshape(shape[0], -1)[-1, :2] = (-127, 127)
    return w


def _conv(kind: str, stride: int, padding: int, multiplier: int = 0):
    o = schema.DepthwiseConv2DOptionsT() if kind == "dw" else schema.Conv2DOptionsT()
    o.padding, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = padding, stride, stride, 1, 1
    o.fusedActivationFunction = 3  # RELU6
    if kind == "dw":
        o.depthMultiplier = multiplier
    return o


def _layer(rng, specs: list[Spec], shape: tuple[int, ...], w: np.ndarray, axis: int, out: tuple[int, ...]) -> int:
    """Weights, bias and output tensors of one layer appended to ``specs``; returns the weights' index."""
    channels = w.shape[axis]
    scales = list(rng.uniform(0.002, 0.02, channels))
    specs += [Spec(shape, "int8", scales, [0] * channels, axis, w),
              Spec((channels,), "int32", [0.05 * s for s in scales], None, 0, rng.integers(-3000, 3000, channels)),
              Spec(out, "int8", [float(rng.uniform(0.05, 0.1))], [int(rng.integers(-20, 5))])]
    return len(specs) - 3


def chain_model(keep: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    specs = [Spec((1, H, W, C), "int8", [0.05], [-9])]
    ops = []
    plan = [("CONV_2D", (13, 3, 3, C), 0, (1, H, W, 13), _conv("conv", 1, 0)),
            ("DEPTHWISE_CONV_2D", (1, 3, 3, 13), 3, (1, H, W, 13), _conv("dw", 1, 0, 1)),
            ("DEPTHWISE_CONV_2D", (1, 3, 3, 26), 3, (1, 4, 5, 26), _conv("dw", 2, 1, 2)),
            ("CONV_2D", (19, 1, 1, 26), 0, (1, 4, 5, 19), _conv("conv", 1, 1)),
            ("FULLY_CONNECTED", (7, 19), 0, (20, 7), schema.FullyConnectedOptionsT())]
    x = 0
    for kind, shape, axis, out, options in plan:
        rows = _weights(rng, (shape[axis], *np.delete(shape, axis)), keep, 2)
        w = np.moveaxis(rows.reshape(shape[axis], *np.delete(shape, axis)), 0, axis)
        first = _layer(rng, specs, shape, w, axis, out)
        ops.append((kind, [x, first, first + 1], [first + 2], options))
        x = first + 2
    return graph_model(ops, specs, [0], [x])


def _feeds(seed: int, samples: int) -> np.ndarray:
    x = np.random.default_rng(seed).integers(-128, 128, (samples, 1, H, W, C)).astype(np.int8)
    x[0, 0, 0, :, :] = -128
    x[0, 0, 1, :, :] = 127
    return x


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("keep", [0.25, 0.8])
def test_dsp_kernels_match_the_host_build_and_tflm(tmp_path, board, fmt, keep):
    model = chain_model(keep, seed=int(keep * 100) + len(fmt))
    path = tmp_path / "chain.tflite"
    path.write_bytes(model)
    library = generate(path, "m", formats=(fmt,))
    assert {layer["format"] for layer in library.report["layers"] if layer["format"]} == {fmt}
    feeds = _feeds(len(fmt), 3)
    with CompiledSession(path, library, "m") as host:
        for x in feeds:
            assert np.array_equal(host.run_raw([x])[0], run_tflm(model, [x])[0])
    report = emulate_model(path, find_device(board), [feeds], library=library, build_dir=tmp_path / "fw")
    assert report.identical.identical, report.identical.describe()


def _mnemonics(elf: Path) -> set[str]:
    with open(elf, "rb") as f:
        text = ELFFile(f).get_section_by_name(".text")
        code, address = text.data(), text["sh_addr"]
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    return {insn[2] for insn in md.disasm_lite(code, address)}


def test_the_firmware_uses_the_dsp_loops_and_saves_instructions(tmp_path):
    model = chain_model(0.8, seed=1)
    path = tmp_path / "chain.tflite"
    path.write_bytes(model)
    library, nano = generate(path, "m"), find_device("nano33ble")
    feeds = [_feeds(1, 1)[0]]
    runs = {}
    for dsp in (True, False):
        firmware = build_firmware(library, nano.target, tmp_path / str(dsp), nano.name, dsp=dsp)
        runs[dsp] = Emulator(firmware).run(feeds)
        assert ("smlad" in _mnemonics(firmware.elf)) == dsp
    assert np.array_equal(runs[True].outputs[0], runs[False].outputs[0])
    assert runs[True].instructions < runs[False].instructions
