"""Generate, build for the host, prove identical to TFLM and profile: what the CLI and the pipeline call."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.atomic import atomic_path
from edge_gmp.codegen.generate import Library, generate
from edge_gmp.codegen.session import CompiledSession
from edge_gmp.runtimes.isolated import run_isolated
from edge_gmp.verify.equivalence import Equivalence, Trace, compare_traces, trace, trace_session

PROFILE_RUNS = 20


@dataclass
class CompiledModel:
    library: Library
    equivalence: Equivalence | None = None
    host_layer_us: list[float] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def report(self) -> dict[str, Any]:
        return self.library.report

    def summary(self) -> dict[str, Any]:
        """The figures a manifest and metrics.json carry."""
        r = self.report
        return {"files": [p.name for p in self.files], "entry_point": f"{self.library.name}_invoke",
                "weight_bytes": r["weight_bytes"], "param_bytes": r["param_bytes"],
                "const_bytes": r["weight_bytes"] + r["param_bytes"], "arena_bytes": r["arena_bytes"],
                "row_scratch_bytes": r["row_scratch_bytes"], "dense_macs": r["dense_macs"],
                "kept_macs": r["kept_macs"], "kept_mac_fraction": r["kept_mac_fraction"],
                "formats": sorted({layer["format"] for layer in r["layers"] if layer["format"]}),
                "identical_to_tflm": None if self.equivalence is None else self.equivalence.to_dict()}


def c_name(text: str) -> str:
    """A C identifier from a file stem or run name."""
    name = re.sub(r"\W", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"m_{name}"


def profile_layers(session: CompiledSession, raw: list[np.ndarray], streaming: bool) -> list[float]:
    """Microseconds per layer of one invocation on this machine (the first input), averaged over runs."""
    first = [x[0, 0] if streaming else x[0] for x in raw]
    if streaming:  # a cell: x_t from the window, h at its zero point
        h = next(t for t in session.inputs if t.size != first[0].size)
        first = [np.full(t.shape, t.zero_point or 0, t.dtype) if t is h else first[0].reshape(t.shape)
                 for t in session.inputs]
    session.host.profile(True)
    for _ in range(PROFILE_RUNS):
        session.run_raw(first)
    session.host.profile(False)
    return [float(ns) / PROFILE_RUNS / 1000 for ns in session.host.layer_ns()]


def _write(library: Library, out_dir: Path, extra: dict[str, Any]) -> list[Path]:
    files = {f"{library.name}.c": library.source, f"{library.name}.h": library.header,
             f"{library.name}.json": json.dumps({**library.report, **extra}, indent=2)}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, text in files.items():
        with atomic_path(out_dir / filename) as tmp:
            tmp.write_text(text)
        paths.append(out_dir / filename)
    return paths


def compile_model(path: str | os.PathLike, out_dir: str | os.PathLike, name: str,
                  raw_inputs: list[np.ndarray] | None = None, reference: Trace | None = None) -> CompiledModel:
    """Generate ``name``'s C from ``path``, build it for the host (``-Wall -Wextra -Werror``), and when
    ``raw_inputs`` are given trace it against TFLM's outputs (``reference``, or a fresh TFLM trace run in a child
    process) and profile its layers; then write ``name.c``/``.h``/``.json`` into ``out_dir``."""
    library = generate(path, name)
    result = CompiledModel(library)
    with tempfile.TemporaryDirectory(prefix="edge_gmp_build_") as build, \
            CompiledSession(path, library, name, build) as session:
        if raw_inputs is not None:
            if reference is None:
                reference = run_isolated(trace, path, raw_inputs)
            result.equivalence = compare_traces(reference, trace_session(session, raw_inputs))
            result.host_layer_us = profile_layers(session, raw_inputs, reference.streaming)
    extra = {"identical_to_tflm": None if result.equivalence is None else result.equivalence.to_dict(),
             "host_layer_us": result.host_layer_us}
    result.files = _write(library, Path(out_dir), extra)
    return result
