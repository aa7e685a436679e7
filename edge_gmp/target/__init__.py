"""The generated C on the target: a bare-metal image per board profile (zig's clang for Cortex-M4/M7), run on an
emulated core (unicorn) to measure flash, RAM with the stack, instructions per layer and an estimated latency."""

from edge_gmp.target.firmware import DoesNotFit, build_firmware
from edge_gmp.target.measure import ESTIMATE, TargetReport, emulate_model

__all__ = ["ESTIMATE", "DoesNotFit", "TargetReport", "build_firmware", "emulate_model"]
