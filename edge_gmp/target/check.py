"""``validate --emulate``: the model's generated C on the board's emulated core, judged on those figures."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from edge_gmp.codegen.generate import generate
from edge_gmp.codegen.graph import UnsupportedModel
from edge_gmp.errors import UserError
from edge_gmp.target.measure import ESTIMATE, TargetReport, emulate_model
from edge_gmp.verify.budget import fmt_bytes
from edge_gmp.verify.devices import Device
from edge_gmp.verify.equivalence import quantize_inputs, random_inputs

DEFAULT_SAMPLES = 10


def preflight(model: str | os.PathLike, device: Device) -> None:
    """Fail before minutes of TFLM work: a board without an emulated core, a model the generator cannot compile."""
    if device.target is None:
        raise UserError(f"--emulate: {device.name} ({device.id}) has no emulated core (Cortex-M4/M7 boards with a "
                        "target profile only); drop --emulate to judge it on host figures")
    try:
        generate(model, "model")
    except UnsupportedModel as exc:
        raise UserError(f"--emulate: {exc}") from None


def emulate_for_validation(model: str | os.PathLike, device: Device, samples: int,
                           test_inputs: np.ndarray | None = None, quiet: bool = False) -> TargetReport:
    """Run ``samples`` inputs (the first test samples, else random ones) on ``device``'s emulated core."""
    raw = (quantize_inputs(model, [test_inputs[:samples]]) if test_inputs is not None
           else random_inputs(model, samples))
    if not quiet:
        print(f"emulating {device.target.core} for {device.name}: {samples} sample(s)...", file=sys.stderr,
              flush=True)
    start = time.perf_counter()
    report = emulate_model(model, device, raw)
    if not quiet:
        print(f"emulated {report.invocations:,} invocation(s) in {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
    return report


def target_text(r: TargetReport) -> list[str]:
    flash = " + ".join(f"{name} {size:,}" for name, size in r.sections.items() if name != ".bss")
    static = " + ".join(f"{name} {size:,}" for name, size in r.sections.items() if name in (".data", ".bss"))
    return [f"target    {r.core} at {r.clock_hz / 1e6:g} MHz (emulated): flash {fmt_bytes(r.flash_bytes)} "
            f"({flash}) of {fmt_bytes(r.flash_available)}",
            f"          RAM {fmt_bytes(r.ram_bytes)} ({static} + stack {r.stack_bytes:,}) of "
            f"{fmt_bytes(r.ram_available)}",
            f"          {r.instructions:,.0f} instructions per inference; about {r.cycles_estimate / 1e6:.2f} M "
            f"cycles = {r.ms_estimate:.1f} ms at {r.clock_hz / 1e6:g} MHz",
            f"          ({ESTIMATE})",
            f"          outputs {'identical to' if r.identical.identical else 'DIFFERENT from'} the host build "
            f"(and so TFLM) on {r.identical.describe().split(' on ', 1)[-1]}"]
