"""The file a microcontroller gets: the integer device artifact, or its TFLM_DECODE-compressed twin when that is
smaller and proven to give the same raw outputs on the whole test set (every step of a streaming cell).

Composes the export stage (the compressor) and the verify stage (equivalence, arena modes) through their
public functions; native runs happen in child processes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.atomic import write_bytes_atomic
from edge_gmp.errors import UserError
from edge_gmp.export.compression import compress_tflite
from edge_gmp.runtimes import device_runtime, runtime_spec
from edge_gmp.runtimes.isolated import run_isolated
from edge_gmp.verify.decoded import ArenaModes, measure_arena_modes
from edge_gmp.verify.equivalence import Equivalence, Trace, compare_traces, quantize_inputs, trace

ARENA_LIMIT = 1 << 28


@dataclass
class DeviceFile:
    """What is flashed: ``path`` (compressed or the dense integer file), its arena (and decompression buffer),
    and, when compressed, the proof that it behaves exactly like ``dense_path``."""

    path: Path
    dense_path: Path
    arena_bytes: int
    decompression_bytes: int = 0
    ram_mode: str = "dense"
    equivalence: Equivalence | None = None
    compression: dict[str, Any] | None = None
    note: str = ""
    reference: Trace | None = field(default=None, repr=False)  # TFLM's raw outputs on the inputs proven on

    @property
    def compressed(self) -> bool:
        return self.path != self.dense_path

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path.name, "bytes": self.bytes, "compressed": self.compressed,
                "dense_file": self.dense_path.name, "dense_bytes": self.dense_path.stat().st_size,
                "arena_bytes": self.arena_bytes, "decompression_buffer_bytes": self.decompression_bytes,
                "ram_mode": self.ram_mode, "ram_bytes": self.arena_bytes + self.decompression_bytes,
                "identical_outputs": None if self.equivalence is None else self.equivalence.to_dict(),
                "compression": self.compression, "note": self.note}


def _traces(dense: Path, candidate: Path, raw: list[np.ndarray]) -> tuple[Equivalence, Trace]:
    reference = trace(dense, raw)
    return compare_traces(reference, trace(candidate, raw)), reference


def choose_device_file(dense: Path, dense_arena: int, test_inputs: np.ndarray, samples: int | None = None,
                       log: Any = print) -> DeviceFile:
    """Compress ``dense`` (the verified integer device artifact, arena ``dense_arena``) into
    ``<stem>_compressed.tflite`` beside it and return it when it is smaller and its raw outputs are identical to
    the dense file's on ``test_inputs`` (float, the model's layout; the first ``samples`` of them when given);
    else the dense file, saying why."""
    runtime = runtime_spec(device_runtime()).display
    kept = DeviceFile(dense, dense, dense_arena)
    try:
        model = compress_tflite(dense.read_bytes())
    except UserError as exc:
        kept.note = f"kept dense: {exc}"
        return kept
    if model.size_after >= model.size_before:
        kept.note = f"kept dense: compression would not make it smaller ({model.size_after:,} B)"
        return kept
    target = write_bytes_atomic(dense.with_name(f"{dense.stem}_compressed.tflite"), model.data)
    inputs = test_inputs if samples is None else test_inputs[:samples]
    raw = quantize_inputs(dense, [inputs])
    log(f"compress: {dense.name} {model.size_before:,} -> {model.size_after:,} B; proving identical {runtime} "
        f"outputs on {len(inputs):,} test samples")
    equivalence, reference = run_isolated(_traces, dense, target, raw, runtime=runtime)
    if not equivalence.identical:
        raise UserError(f"the compressed device artifact's {runtime} outputs differ from the dense file's: "
                        f"{equivalence.describe()}; this is a bug in edge_gmp's compressor")
    modes: ArenaModes = run_isolated(measure_arena_modes, target, ARENA_LIMIT, runtime=runtime)
    arena, buffer = modes.ram
    if arena is None:
        kept.note = f"kept dense: the compressed file does not allocate within {ARENA_LIMIT:,} B"
        return kept
    compression = {"bytes_before": model.size_before, "bytes_after": model.size_after,
                   "breakdown": {"before": model.before, "after": model.after}, "cuts": model.cuts,
                   "tensors": [asdict(row) for row in model.tensors], "arena_modes": modes.to_dict()}
    return DeviceFile(target, dense, arena, buffer, modes.mode or "", equivalence, compression, reference=reference)
