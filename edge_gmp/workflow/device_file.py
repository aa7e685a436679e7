"""The file a microcontroller gets: an integer .tflite's weights stored for TFLM_DECODE (PRUNING / LUT), written
only once TFLite Micro gives raw outputs identical to the integer file's, every output and every step of a
streaming cell, with the decoded tensors in the arena and in the alternate decompression buffer.

:func:`build_device_file` is the one place this happens: the pipeline's device file (on the test set, reusing
the verify stage's TFLM trace of the integer file) and ``python -m edge_gmp.compress`` (on random inputs) both
call it. It composes the compressor (edge_gmp.export.compression) and the verify stage's proofs (equivalence,
arena modes); native runs happen in child processes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.atomic import write_bytes_atomic
from edge_gmp.errors import UserError
from edge_gmp.export.compression import CompressedModel, compress_tflite
from edge_gmp.runtimes import device_runtime, runtime_spec
from edge_gmp.runtimes.isolated import RuntimeCrashed, run_isolated
from edge_gmp.verify.decoded import ArenaModes, measure_arena_modes
from edge_gmp.verify.equivalence import Equivalence, Trace, compare_traces, trace

ARENA_LIMIT = 1 << 28  # the arena search stops here (measure_arena's own default)
ALT_SAMPLES = 20  # inputs also proven with the decoded tensors in the alternate decompression buffer
ARENA_CRASHED = ("arenas not measured: TFLite Micro crashed during the arena search (it does for some models when an "
                 "arena a few bytes below the minimum fails to allocate); the outputs were verified above")


@dataclass
class DeviceFile:
    """What is flashed: ``path`` (compressed, or the dense integer file when kept), its arena (and decompression
    buffer) and, when compressed, the proofs that it behaves exactly like ``dense_path``."""

    path: Path
    dense_path: Path
    arena_bytes: int | None
    decompression_bytes: int = 0
    ram_mode: str = "dense"
    equivalence: Equivalence | None = None  # decoded tensors in the arena
    compression: dict[str, Any] | None = None
    note: str = ""
    reference: Trace | None = field(default=None, repr=False)  # TFLM's raw outputs of the dense file
    with_buffer: Equivalence | None = None  # decoded tensors in the alternate decompression buffer
    model: CompressedModel | None = field(default=None, repr=False)
    modes: ArenaModes | None = None
    arena_problem: str = ""  # why the arenas were not measured

    @property
    def compressed(self) -> bool:
        return self.path != self.dense_path

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size

    def to_dict(self) -> dict[str, Any]:
        """The ``device_file`` entry of metrics.json and the manifest."""
        return {"file": self.path.name, "bytes": self.bytes, "compressed": self.compressed,
                "dense_file": self.dense_path.name, "dense_bytes": self.dense_path.stat().st_size,
                "arena_bytes": self.arena_bytes, "decompression_buffer_bytes": self.decompression_bytes,
                "ram_mode": self.ram_mode, "ram_bytes": (self.arena_bytes or 0) + self.decompression_bytes,
                "identical_outputs": None if self.equivalence is None else self.equivalence.to_dict(),
                "compression": self.compression, "note": self.note}


def _prove(dense: Path, candidate: Path, inputs: Sequence[np.ndarray],
           reference: Trace | None) -> tuple[Equivalence, Trace]:
    """Raw TFLM outputs of the candidate against the dense file's (traced here unless given)."""
    if reference is None:
        reference = trace(dense, inputs)
    return compare_traces(reference, trace(candidate, inputs)), reference


def _prove_with_buffer(candidate: Path, inputs: Sequence[np.ndarray], reference: Trace,
                       buffer: int) -> Equivalence:
    few = min(len(inputs[0]), ALT_SAMPLES)
    alt = trace(candidate, [x[:few] for x in inputs], alt_decompression_bytes=buffer)
    return compare_traces(reference.head(few), alt)


def _refuse_different(check: Equivalence, what: str) -> None:
    if not check.identical:
        raise UserError(f"the compressed model's {runtime_spec(device_runtime()).display} outputs differ from the "
                        f"input's{what}: {check.describe()}. This is a bug in edge_gmp's compressor; please report "
                        "it with the input file. Nothing was written")


def _arena_modes(candidate: Path) -> tuple[ArenaModes | None, str]:
    try:
        runtime = runtime_spec(device_runtime()).display
        return run_isolated(measure_arena_modes, candidate, ARENA_LIMIT, runtime=runtime), ""
    except RuntimeCrashed:
        return None, ARENA_CRASHED


def _compressed(dense: Path, method: str, keep_names: bool, fallback: bool) -> CompressedModel | str:
    """The compressed model, or (with ``fallback``) why the dense file stays the device file."""
    try:
        model = compress_tflite(dense.read_bytes(), method=method, keep_names=keep_names)
    except UserError as exc:
        if not fallback:
            raise
        return f"kept dense: {exc}"
    if fallback and model.size_after >= model.size_before:
        return f"kept dense: compression would not make it smaller ({model.size_after:,} B)"
    return model


def _summary(model: CompressedModel, modes: ArenaModes | None, with_buffer: Equivalence | None) -> dict[str, Any]:
    return {"bytes_before": model.size_before, "bytes_after": model.size_after,
            "breakdown": {"before": model.before, "after": model.after}, "cuts": model.cuts,
            "tensors": [asdict(row) for row in model.tensors],
            "arena_modes": None if modes is None else modes.to_dict(),
            "identical_with_buffer": None if with_buffer is None else with_buffer.to_dict()}


def build_device_file(dense: Path, target: Path, inputs: Sequence[np.ndarray], *, method: str = "auto",
                      keep_names: bool = False, reference: Trace | None = None, fallback: bool = False,
                      dense_arena: int | None = None, log: Callable[..., None] = lambda *_: None) -> DeviceFile:
    """Compress the integer file ``dense``, prove in TFLite Micro that its raw outputs are identical to ``dense``'s
    on the raw ``inputs`` (all of them with the decoded tensors in the arena, the first ALT_SAMPLES also with the
    alternate decompression buffer), measure its arena in both modes and only then write it to ``target``.
    ``reference`` is ``dense``'s TFLM trace on ``inputs`` when it was already run (not run again).

    Differing outputs raise UserError (nothing written). With ``fallback`` (the pipeline) a model that cannot be
    compressed, would not get smaller or does not allocate within ARENA_LIMIT leaves ``dense`` (arena
    ``dense_arena``) as the device file, the note saying why; without it a model that cannot be compressed
    raises UserError."""
    kept = DeviceFile(dense, dense, dense_arena, reference=reference)
    model = _compressed(dense, method, keep_names, fallback)
    if isinstance(model, str):
        kept.note = model
        return kept
    runtime = runtime_spec(device_runtime()).display
    if reference is not None and reference.samples > len(inputs[0]):
        reference = reference.head(len(inputs[0]))
    log(f"compress: {dense.name} {model.size_before:,} -> {model.size_after:,} B; proving identical {runtime} "
        f"outputs on {len(inputs[0]):,} test samples")
    with tempfile.TemporaryDirectory(prefix="edge_gmp_compress_") as tmp:
        candidate = Path(tmp) / target.name
        candidate.write_bytes(model.data)
        check, reference = run_isolated(_prove, dense, candidate, inputs, reference, runtime=runtime)
        _refuse_different(check, "")
        modes, problem = _arena_modes(candidate)
        with_buffer = None
        if modes is not None and modes.buffer:
            with_buffer = run_isolated(_prove_with_buffer, candidate, inputs, reference, modes.buffer, runtime=runtime)
            _refuse_different(with_buffer, " with the alternate decompression buffer")
    kept.reference = kept.reference or reference
    arena, buffer = modes.ram if modes is not None else (None, 0)
    if fallback and arena is None:
        kept.note = f"kept dense: the compressed file does not allocate within {ARENA_LIMIT:,} B"
        return kept
    write_bytes_atomic(target, model.data)
    return DeviceFile(target, dense, arena, buffer, (modes.mode if modes else None) or "", check,
                      _summary(model, modes, with_buffer), reference=reference, with_buffer=with_buffer, model=model,
                      modes=modes, arena_problem=problem)
