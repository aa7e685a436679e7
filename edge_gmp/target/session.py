"""The firmware image on an emulated core as a :class:`~edge_gmp.runtimes.Session`: the traces and bit-exact
comparisons used everywhere else compare it with the host build of the same C (and so with TFLM)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge_gmp.codegen.generate import Library
from edge_gmp.codegen.graph import load_graph
from edge_gmp.runtimes import Session, TensorInfo
from edge_gmp.target.emulator import Emulator, Run
from edge_gmp.target.firmware import build_firmware
from edge_gmp.verify.devices import Device


class EmulatedSession(Session):
    """``library`` (generated from ``path``) linked for ``device``'s core and run in the emulator; every
    invocation's counts are kept in ``runs``."""

    runtime = "emulated"

    def __init__(self, path: str | os.PathLike, library: Library, device: Device, build_dir: str | os.PathLike,
                 extra_flags: tuple[str, ...] = (), dsp: bool = True) -> None:
        if device.target is None:
            raise ValueError(f"{device.id} has no emulation target")
        graph = load_graph(path)
        self.firmware = build_firmware(library, device.target, Path(build_dir), device.name, extra_flags, dsp)
        self.emulator = Emulator(self.firmware)
        self.runs: list[Run] = []

        def info(t: int) -> TensorInfo:
            x = graph.tensor(t)
            return TensorInfo(x.name, tuple(x.shape), np.dtype(x.dtype), x.scale if x.quantized else None,
                              x.zero_point if x.quantized else None)

        super().__init__(path, [info(t) for t in graph.inputs], [info(t) for t in graph.outputs])

    def _invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        run = self.emulator.run(feeds)
        self.runs.append(run)
        return [o.reshape(t.shape) for o, t in zip(run.outputs, self.outputs, strict=True)]
