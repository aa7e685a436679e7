"""Flash, RAM, instructions and an estimated latency of a model's generated C on a board's emulated core, with the
outputs compared byte for byte with the host build."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.codegen.generate import Library, generate
from edge_gmp.codegen.session import CompiledSession
from edge_gmp.errors import UserError
from edge_gmp.target.emulator import Run
from edge_gmp.target.session import EmulatedSession
from edge_gmp.target.timing import estimate
from edge_gmp.verify.devices import Device
from edge_gmp.verify.equivalence import Equivalence, compare_traces, trace_session

ESTIMATE = ("estimate: instructions counted on the emulated core times a per-class cycle table "
            "(edge_gmp/target/timing.py); not calibrated on a board")


@dataclass
class TargetReport:
    board: str
    core: str
    clock_hz: int
    sections: dict[str, int]
    flash_bytes: int  # .text + .rodata + .data: the whole image
    flash_available: int
    static_ram_bytes: int  # .data + .bss
    stack_bytes: int  # deepest stack use over every run
    ram_available: int
    invocations: int
    instructions: float  # per invocation, mean
    layer_instructions: list[float]
    cycles_estimate: float
    identical: Equivalence
    elf: str
    notes: list[str] = field(default_factory=list)

    @property
    def ram_bytes(self) -> int:
        return self.static_ram_bytes + self.stack_bytes

    @property
    def ms_estimate(self) -> float:
        return 1000.0 * self.cycles_estimate / self.clock_hz

    def failures(self) -> list[str]:
        found = []
        if self.flash_bytes > self.flash_available:
            found.append(f"flash: the image needs {self.flash_bytes:,} B of {self.flash_available:,} B "
                         f"({self.flash_bytes - self.flash_available:,} B over)")
        if self.ram_bytes > self.ram_available:
            found.append(f"RAM: .data + .bss + stack need {self.ram_bytes:,} B of {self.ram_available:,} B "
                         f"({self.ram_bytes - self.ram_available:,} B over)")
        if not self.identical.identical:
            found.append(f"the emulated core's outputs differ from the host build's: {self.identical.describe()}")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"board": self.board, "core": self.core, "clock_hz": self.clock_hz, "sections": self.sections,
                "flash_bytes": self.flash_bytes, "flash_available": self.flash_available,
                "static_ram_bytes": self.static_ram_bytes, "stack_bytes": self.stack_bytes,
                "ram_bytes": self.ram_bytes, "ram_available": self.ram_available, "invocations": self.invocations,
                "instructions": self.instructions, "layer_instructions": self.layer_instructions,
                "cycles_estimate": self.cycles_estimate, "ms_estimate": self.ms_estimate,
                "cycle_estimate_note": ESTIMATE, "identical_to_host": self.identical.to_dict(),
                "elf": self.elf, "failures": self.failures(), "notes": self.notes}


def _mean_layers(runs: list[Run]) -> list[float]:
    width = min(len(r.layer_instructions) for r in runs)
    return [float(np.mean([r.layer_instructions[i] for r in runs])) for i in range(width)]


def emulate_model(path: str | os.PathLike, device: Device, raw_inputs: list[np.ndarray], *,
                  library: Library | None = None, build_dir: str | os.PathLike | None = None,
                  extra_flags: tuple[str, ...] = (), dsp: bool = True) -> TargetReport:
    """Build ``path``'s generated C for ``device`` and run it on ``raw_inputs`` (quantised; a streaming cell's
    (N, T, D) windows), with the DSP inner loops unless ``dsp`` is false; UserError for a board without an emulated
    core."""
    if device.target is None:
        raise UserError(f"{device.name} ({device.id}) has no emulated core (only Cortex-M4/M7 boards with a target "
                        "profile); its budget is judged on host figures, without --emulate")
    library = library or generate(path, "model")
    folder = Path(build_dir) if build_dir else Path(tempfile.mkdtemp(prefix="edge_gmp_fw_"))
    with CompiledSession(path, library, library.name) as host, \
            EmulatedSession(path, library, device, folder, extra_flags, dsp) as target:
        identical = compare_traces(trace_session(host, raw_inputs), trace_session(target, raw_inputs))
    runs, t = target.runs, device.target
    classes: Counter = Counter()
    for run in runs:
        classes.update(run.classes)
    mean = {k: v / len(runs) for k, v in classes.items()}
    sections = {**target.emulator.sections.flash, **target.emulator.sections.ram}
    return TargetReport(device.id, t.core, t.clock_hz, sections, target.emulator.sections.flash_bytes,
                        t.flash_bytes, sum(target.emulator.sections.ram.values()),
                        max(r.stack_bytes for r in runs), t.ram_bytes, len(runs),
                        float(np.mean([r.instructions for r in runs])), _mean_layers(runs),
                        estimate(t.core, mean, t.flash_wait_states).total, identical, str(target.firmware.elf))
