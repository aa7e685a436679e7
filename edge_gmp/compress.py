"""Compress a pruned .tflite for TensorFlow Lite Micro: weights stored encoded, decoded at run time.

    python -m edge_gmp.compress IN.tflite OUT.tflite [--method auto|prune|lut] [--keep-names] [--samples N]
        [--json]

Any .tflite with zeros (or few distinct values) in its constants is welcome, also one this project did not
write: it is checked structurally first, compressed with TFLM_DECODE operators (PRUNING / LUT), and both files
run in TFLite Micro in a child process on N seeded random inputs (streaming cells stepped over random windows)
whose raw outputs must be identical before OUT is written. Exit status: 0 written, 2 bad input or a compressed
model that is not identical (nothing written).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_gmp.cli import OneLineParser, description, print_error, print_interrupted
from edge_gmp.errors import UserError
from edge_gmp.export.compression import CompressedModel
from edge_gmp.export.compression.selection import methods
from edge_gmp.report.tables import text_table, wrap
from edge_gmp.runtimes.isolated import RuntimeCrashed, run_isolated
from edge_gmp.runtimes.tflm import sparse_unsupported
from edge_gmp.tflite import inspect_tflite
from edge_gmp.verify.arena import HOST_NOTE, ArenaExceeds, measure_arena
from edge_gmp.verify.budget import fmt_bytes
from edge_gmp.verify.decoded import ArenaModes
from edge_gmp.verify.equivalence import Equivalence, random_inputs
from edge_gmp.workflow.device_file import ARENA_LIMIT, DeviceFile, build_device_file

DEFAULT_SAMPLES = 200
TFLM = "TFLite Micro"


@dataclass
class Compression:
    """What ``compress_file`` did: the written file (its proofs and arenas) and the input model's arena."""

    source: str
    target: str
    method: str
    device: DeviceFile
    arena_before: int | None = None  # the input model's arena
    seconds: float = 0.0

    @property
    def model(self) -> CompressedModel:
        assert self.device.model is not None
        return self.device.model

    @property
    def check(self) -> Equivalence:
        assert self.device.equivalence is not None
        return self.device.equivalence

    @property
    def check_with_buffer(self) -> Equivalence | None:
        return self.device.with_buffer

    @property
    def modes(self) -> ArenaModes | None:
        return self.device.modes

    @property
    def arena_problem(self) -> str:
        return self.device.arena_problem

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` report."""
        m = self.model
        return {"input": self.source, "output": self.target, "method": self.method, "bytes_before": m.size_before,
                "bytes_after": m.size_after, "reduction": 1 - m.size_after / m.size_before,
                "tensors": [asdict(row) for row in m.tensors], "breakdown": {"before": m.before, "after": m.after},
                "cuts": m.cuts, "identical": self.check.to_dict(),
                "identical_with_buffer": self.check_with_buffer.to_dict() if self.check_with_buffer else None,
                "arena": {"input_arena_bytes": self.arena_before, **(self.modes.to_dict() if self.modes else {}),
                          "note": self.arena_problem or HOST_NOTE},
                "seconds": self.seconds}


def _check_paths(source: Path, target: Path, samples: int) -> None:
    if samples < 1:
        raise UserError(f"--samples must be at least 1, got {samples}")
    if target.is_dir():
        raise UserError(f"OUT {target} is a directory; give a file name such as {target / source.name}")
    if target.resolve() == source.resolve() or (target.exists() and os.path.samefile(target, source)):
        raise UserError(f"OUT must differ from IN ({target}): the input would be overwritten")


def _arena_or_none(source: Path) -> int | None:
    try:
        return measure_arena(source, limit_bytes=ARENA_LIMIT)
    except ArenaExceeds:
        return None


def _input_arena(source: Path) -> int | None:
    """The input model's arena (None: over ARENA_LIMIT, or TFLM crashed during the search), in a child process."""
    try:
        return run_isolated(_arena_or_none, source, runtime=TFLM)
    except RuntimeCrashed:
        return None


def compress_file(source: str | os.PathLike, target: str | os.PathLike, method: str = "auto",
                  keep_names: bool = False, samples: int = DEFAULT_SAMPLES, seed: int = 0) -> Compression:
    """Compress ``source`` into ``target`` with :func:`edge_gmp.workflow.device_file.build_device_file` on ``samples``
    seeded random inputs (written only once the outputs are proven identical). Raises UserError for input it
    cannot compress or a compressed model whose outputs differ."""
    start = time.perf_counter()
    source, target = Path(source), Path(target)
    _check_paths(source, target, samples)
    info = inspect_tflite(source)
    if info.sparse_encoded:
        raise sparse_unsupported(info)
    inputs = run_isolated(random_inputs, source, samples, seed, runtime=TFLM)
    before = _input_arena(source)
    device = build_device_file(source, target, inputs, method=method, keep_names=keep_names)
    return Compression(str(source), str(target), method, device, before, time.perf_counter() - start)


NAME_WIDTH = 40  # longer tensor names (TF joins several) are cut in the table; --json has them whole


def _tensor_table(model: CompressedModel) -> str:
    """One row per constant tensor; why a tensor stayed dense is a numbered note below the table."""
    notes: list[str] = []

    def mark(note: str) -> str:
        if not note:
            return ""
        notes.append(note)
        return f"[{len(notes)}]"

    def name(row: Any) -> str:
        text = row.name or f"#{row.index}"
        return text if len(text) <= NAME_WIDTH else text[:NAME_WIDTH - 3] + "..."

    headers = ("tensor", "shape", "elements", "non-zeros", "method", "bytes before", "bytes after", "note")
    rows = [(name(r), "x".join(map(str, r.shape)) or "scalar", r.elements, r.nonzeros if r.nonzeros >= 0 else "-",
             r.method, r.bytes_before, r.bytes_after, mark(r.note)) for r in model.tensors]
    table = [line.rstrip() for line in text_table(headers, rows).splitlines()]
    return "\n".join(table + [wrap(f"[{i}] {note}") for i, note in enumerate(notes, 1)])


def _breakdown_table(model: CompressedModel) -> str:
    rows = [(key, model.before[key], model.after[key]) for key in model.before]
    return text_table(("bytes", "before", "after"), [*rows, ("total", model.size_before, model.size_after)])


def _arena_lines(result: Compression) -> list[str]:
    if result.modes is None:
        return [f"TFLite Micro RAM: {result.arena_problem}"]
    m = result.modes

    def figure(value: int | None) -> str:
        return fmt_bytes(value) if value is not None else f"over {fmt_bytes(m.limit)}"

    return [f"TFLite Micro RAM ({HOST_NOTE})",
            f"  input model                      arena {figure(result.arena_before)}",
            f"  decoded tensors in the arena     arena {figure(m.in_arena)} = total {figure(m.in_arena)}",
            f"  alternate decompression buffer   arena {figure(m.with_buffer)} + buffer {fmt_bytes(m.buffer)} = total "
            f"{figure(m.buffer_total)}",
            f"  smaller total: {m.mode or 'neither mode allocates'}"]


def report_text(result: Compression) -> str:
    """The human report: sizes, the TFLite Micro check, the tensor and byte-breakdown tables, arena, cuts."""
    m = result.model
    check = f"{TFLM}: {result.check.describe()}"
    if result.check_with_buffer is not None:
        check += f"; with the alternate decompression buffer too on the first {result.check_with_buffer.samples}"
    lines = [wrap(f"compressed  {result.source} -> {result.target} (method {result.method})", 12),
             f"size        {fmt_bytes(m.size_before)} -> {fmt_bytes(m.size_after)} "
             f"({1 - m.size_after / m.size_before:.1%} smaller)",
             wrap(f"outputs     {check} ({result.check.seconds:.1f} s)", 12), "", _tensor_table(m), "",
             _breakdown_table(m), "", *_arena_lines(result), "",
             wrap("cuts: " + ", ".join(f"{k} {v}" for k, v in m.cuts.items()), 6), f"done in {result.seconds:.1f} s"]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m edge_gmp.compress", description=description(__doc__))
    p.add_argument("input", metavar="IN.tflite", help="a .tflite with pruned (zero) or few-valued constants")
    p.add_argument("output", metavar="OUT.tflite", help="where the compressed model goes (must differ from IN)")
    p.add_argument("--method", choices=methods(), default="auto",
                   help="auto: the smallest of PRUNING and LUT per tensor; prune or lut: only that one "
                        f"(one of: {', '.join(methods())}; default auto)")
    p.add_argument("--keep-names", action="store_true", help="keep internal tensor names (default: cut them; "
                   "input and output names always stay)")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, metavar="N",
                   help=f"random inputs on which the outputs must be identical (default {DEFAULT_SAMPLES})")
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = compress_file(args.input, args.output, args.method, args.keep_names, args.samples)
    except UserError as exc:
        print_error(exc)
        return 2
    except KeyboardInterrupt:
        return print_interrupted(f"nothing was written to {args.output} (it is written only once verified); "
                                 "run the same command again")
    print(json.dumps(result.to_dict(), indent=2) if args.json else report_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
