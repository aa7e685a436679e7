"""The generated C built for Cortex-M4/M7 and run on the emulated core: the host build's outputs, the whole
image's sections, the stack's high-water mark, instructions per layer; a model that does not fit is a budget
failure naming the region and the overflow."""

from __future__ import annotations

import numpy as np
import pytest

from edge_gmp.codegen.generate import generate
from edge_gmp.target import DoesNotFit, build_firmware, emulate_model
from edge_gmp.target.emulator import Emulator
from edge_gmp.verify.devices import find_device
from edge_gmp.verify.equivalence import random_inputs


@pytest.mark.parametrize("board", ["nano33ble", "stm32f746-disco"])
def test_fastgrnn_step_matches_the_host_build(fastgrnn_device_file, board, tmp_path):
    raw = random_inputs(fastgrnn_device_file, 2, seed=4)
    report = emulate_model(fastgrnn_device_file, find_device(board), [raw[0][:, :6]], build_dir=tmp_path)
    assert report.identical.identical and report.invocations == 12
    assert report.core == {"nano33ble": "cortex-m4", "stm32f746-disco": "cortex-m7"}[board]
    assert set(report.sections) >= {".text", ".rodata", ".bss"}
    assert report.flash_bytes == sum(v for k, v in report.sections.items() if k != ".bss")
    assert 0 < report.stack_bytes < 4096 and report.ram_bytes == report.static_ram_bytes + report.stack_bytes
    assert len(report.layer_instructions) == len(generate(fastgrnn_device_file, "m").report["layers"])
    assert sum(report.layer_instructions) <= report.instructions
    assert report.cycles_estimate > 0 and report.ms_estimate > 0 and not report.failures()


def test_mobilenet_matches_the_host_build_and_fits_the_nano(mobilenet_device_file, nano, tmp_path):
    raw = random_inputs(mobilenet_device_file, 2, seed=2)
    report = emulate_model(mobilenet_device_file, nano, raw, build_dir=tmp_path)
    assert report.identical.identical
    assert report.flash_bytes <= 75_000 and report.ram_bytes <= 40 * 1024
    assert (tmp_path / "model.elf").is_file()


def test_counts_are_deterministic(fastgrnn_device_file, nano, tmp_path):
    library = generate(fastgrnn_device_file, "m")
    emulator = Emulator(build_firmware(library, nano.target, tmp_path, nano.name))
    feeds = [np.full((1, 64), 100, np.int16), np.arange(9, dtype=np.int16).reshape(1, 9)]
    first, second = emulator.run(feeds), emulator.run(feeds)
    assert first.instructions == second.instructions and first.layer_instructions == second.layer_instructions
    assert all(np.array_equal(a, b) for a, b in zip(first.outputs, second.outputs, strict=True))


def test_an_image_that_does_not_fit_names_the_region_and_the_overflow(mobilenet_device_file, tiny_board, tmp_path):
    library = generate(mobilenet_device_file, "m")
    with pytest.raises(DoesNotFit) as caught:
        build_firmware(library, tiny_board.target, tmp_path, tiny_board.name)
    assert caught.value.region in ("flash", "RAM") and caught.value.overflow > 0
    assert "does not fit Tiny's" in str(caught.value) and "overflows by" in str(caught.value)
