"""Does a .tflite model fit a microcontroller? Flash, TFLite Micro arena RAM and (optionally) accuracy.

    python -m edge_gmp.validate MODEL.tflite --board nano33ble [--devices FILE.toml]
        [--dataset NAME [--source S] [--data-path P] [--normalization none|fit|FILE.json] [--limit N]
         [--min-accuracy 0.9]] [--json]

Any .tflite is welcome, also one this project did not write: it is checked structurally before a runtime
sees it and runs in TFLite Micro in a child process. A model compressed with TFLM_DECODE operators (python -m
edge_gmp.compress) is measured in both RAM modes, decoded tensors in the arena or in an alternate decompression
buffer, and the RAM budget takes the smaller total. Exit status: 0 every budget holds, 1 a budget fails (or
outputs are non-finite, or an accuracy budget was asked for on inputs the model's quantisation saturates),
2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

from edge_gmp.cli import OneLineParser, description, print_error, print_interrupted
from edge_gmp.data.registry import available_datasets, dataset_spec
from edge_gmp.errors import UserError
from edge_gmp.report.tables import wrap
from edge_gmp.target.check import DEFAULT_SAMPLES, emulate_for_validation, preflight, target_text
from edge_gmp.target.measure import TargetReport
from edge_gmp.verify.arena import HOST_NOTE
from edge_gmp.verify.budget import fmt_bytes
from edge_gmp.verify.datasets import NORMALIZATIONS, statistics_text
from edge_gmp.verify.decoded import ArenaModes
from edge_gmp.verify.devices import builtin_devices, find_device
from edge_gmp.verify.validation import Validation, validate_model


def _parser() -> argparse.ArgumentParser:
    datasets = available_datasets()
    sources = sorted({s for d in datasets for s in dataset_spec(d).sources})
    p = OneLineParser(prog="python -m edge_gmp.validate", description=description(__doc__))
    p.add_argument("model", help="the .tflite file (the artifact you would flash)")
    p.add_argument("--board", "--device", dest="board", required=True, metavar="BOARD",
                   help=f"a device profile id or alias; built in: {', '.join(builtin_devices())}")
    p.add_argument("--devices", metavar="FILE.toml", help="extra device profiles (same schema as built-ins)")
    p.add_argument("--min-accuracy", type=float, metavar="A", help="required top-1 accuracy in [0, 1]")
    p.add_argument("--dataset", choices=datasets, help="labelled test set to measure accuracy in TFLM")
    p.add_argument("--source", choices=sources, help="where the dataset comes from (default: what --data-path "
                   "implies, else the dataset's default; har2: hapt|uci, cifar10: folder|official)")
    p.add_argument("--data-path", metavar="P", help="the dataset's files (e.g. CIFAR-10 image folder or archive, "
                   "the UCI HAR folder or zip)")
    p.add_argument("--normalization", metavar="|".join(NORMALIZATIONS) + "|FILE.json",
                   help="how test inputs are prepared: none (natural units: sensor units, pixels 0-255), fit "
                        "(statistics of the training split), or a JSON file with per-channel mean/std (a "
                        "deliverable's manifest.json too); "
                        "default: the manifest.json beside the model if it names this file's SHA-256, else fit")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate N test samples spread evenly over the set")
    p.add_argument("--emulate", action="store_true", help="also build the model's generated C for the board's core "
                   "and run it on an emulated Cortex-M: flash, RAM with stack, instructions and estimated latency "
                   "from the real binary, and the budget judged on them")
    p.add_argument("--emulate-samples", type=int, default=DEFAULT_SAMPLES, metavar="N",
                   help=f"inputs run on the emulated core (the first test samples with --dataset, else random; "
                        f"default {DEFAULT_SAMPLES})")
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    return p


def _modes_text(modes: ArenaModes) -> list[str]:
    """Both RAM modes of a DECODE model and the one the budget uses."""
    def figure(value: int | None) -> str:
        return fmt_bytes(value) if value is not None else f"more than {fmt_bytes(modes.limit)}"

    in_arena = f"{figure(modes.in_arena)} with the decoded tensors in the arena"
    buffer = (f"{figure(modes.with_buffer)} + {fmt_bytes(modes.buffer)} alternate decompression buffer"
              + (f" = {fmt_bytes(modes.buffer_total)}" if modes.buffer_total is not None else ""))
    chosen = (f"the RAM budget uses the smaller total: {modes.mode}" if modes.mode
              else "neither mode fits the device's SRAM")
    return [f"arena     {in_arena}", f"          {buffer}", f"          {chosen}", f"          ({HOST_NOTE})"]


def _text(v: Validation, target: TargetReport | None = None) -> str:
    dev, m = v.device, v.measured
    lines = [f"model     {v.info.path} ({fmt_bytes(v.info.size_bytes)}; ops: {', '.join(v.info.ops)})",
             f"device    {dev.name} [{dev.id}]{' - ' + dev.mcu if dev.mcu else ''}: "
             f"{fmt_bytes(dev.flash_bytes)} flash, {fmt_bytes(dev.sram_bytes)} SRAM"]
    if v.decode is not None:
        lines.append(f"decode    {v.decode.describe()}")
    if m.modes is not None:
        lines += _modes_text(m.modes)
    elif m.arena_bytes is not None:
        lines += [f"arena     {fmt_bytes(m.arena_bytes)}, smallest that allocates and runs in TFLite Micro",
                  f"          ({HOST_NOTE})"]
    else:
        lines.append(f"arena     more than the device's {fmt_bytes(m.arena_limit)} of SRAM (search stopped there)")
    if not math.isnan(m.us_per_inference):
        lines.append(f"speed     {m.us_per_inference:.1f} µs per inference "
                     "(TFLM reference kernels on this host, not the MCU)")
    if m.accuracy is not None and v.test is not None:
        lines.append(f"accuracy  {m.accuracy:.4f} on {m.samples} test samples in TFLM ({v.test.note})")
        if v.test.statistics is not None:
            lines.append(f"          inputs: {statistics_text(v.test.statistics)}")
    if dev.note:
        lines.append(f"note      {dev.note}")
    lines += [f"warning   {w}" for w in v.warnings]
    failures = v.failures + (target.failures() if target is not None else [])
    lines += target_text(target) if target is not None else []
    if v.budget is not None:
        lines += ["", v.budget.table()]
    lines += [""] + [f"FAIL: {p}" for p in failures] + (["OK: every budget holds"] if v.ok and not failures else [])
    return "\n".join(wrap(line, 10) for text in lines for line in text.splitlines() or [""])


def _validate(args: argparse.Namespace) -> tuple[Validation, TargetReport | None]:
    if args.emulate:
        if args.emulate_samples <= 0:
            raise UserError(f"--emulate-samples must be positive, got {args.emulate_samples}")
        preflight(args.model, find_device(args.board, args.devices))
    elif args.emulate_samples != DEFAULT_SAMPLES:
        raise UserError("--emulate-samples only applies with --emulate")
    result = validate_model(args.model, args.board, args.devices, min_accuracy=args.min_accuracy,
                            dataset=args.dataset, source=args.source, data_path=args.data_path,
                            normalization=args.normalization, limit=args.limit)
    if not args.emulate:
        return result, None
    inputs = result.test.x if result.test is not None else None
    return result, emulate_for_validation(args.model, result.device, args.emulate_samples, inputs, args.json)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result, target = _validate(args)
    except UserError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}, indent=2))
        print_error(exc)
        return 2
    except KeyboardInterrupt:
        return print_interrupted("validate writes nothing; run the same command again")
    failures = target.failures() if target is not None else []
    if args.json:
        report = result.to_dict()
        if target is not None:
            report = {**report, "target": target.to_dict(), "ok": report["ok"] and not failures}
        print(json.dumps(report, indent=2, default=str))
    else:
        print(_text(result, target))
    return 0 if result.ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
