"""Does a .tflite model fit a microcontroller? Flash, TFLite Micro arena RAM and (optionally) accuracy.

    python -m edge_gmp.validate MODEL.tflite --device nano33ble [--devices FILE.toml]
        [--min-accuracy 0.9 --dataset har2|cifar10 [--data-path P] [--limit N]] [--json]

Exit status: 0 every budget holds, 1 a budget fails (or outputs are non-finite), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

from edge_gmp.errors import UserError
from edge_gmp.verify.arena import HOST_NOTE
from edge_gmp.verify.budget import fmt_bytes
from edge_gmp.verify.datasets import DATASETS
from edge_gmp.verify.devices import find_device
from edge_gmp.verify.validation import Validation, validate_model


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge_gmp.validate", description=__doc__.split("\n")[0])
    p.add_argument("model", help="the .tflite file (the artifact you would flash: dense int8 for TFLM)")
    p.add_argument("--device", required=True, help="device id or alias, e.g. nano33ble, stm32f746-disco, uno")
    p.add_argument("--devices", metavar="FILE.toml", help="extra device profiles (same schema as built-ins)")
    p.add_argument("--min-accuracy", type=float, metavar="A", help="required top-1 accuracy in [0, 1]")
    p.add_argument("--dataset", choices=DATASETS, help="labelled test set to measure accuracy in TFLM")
    p.add_argument("--data-path", metavar="P", help="CIFAR-10: image folder, its .tar.gz, or cifar-10-python.tar.gz")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate N test samples spread evenly over the set")
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    return p


def _text(v: Validation, device_id: str, devices_file: str | None) -> str:
    dev = find_device(device_id, devices_file)
    lines = [f"model     {v.info.path} ({fmt_bytes(v.info.size_bytes)}; ops: {', '.join(v.info.ops)})",
             f"device    {dev.name} [{dev.id}]{' - ' + dev.mcu if dev.mcu else ''}: "
             f"{fmt_bytes(dev.flash_bytes)} flash, {fmt_bytes(dev.sram_bytes)} SRAM",
             f"arena     {v.arena_bytes} bytes, smallest that allocates and runs in TFLite Micro",
             f"          ({HOST_NOTE})"]
    if not math.isnan(v.us_per_inference):
        lines.append(f"speed     {v.us_per_inference:.1f} µs per inference "
                     "(TFLM reference kernels on this host, not the MCU)")
    if v.accuracy is not None:
        lines.append(f"accuracy  {v.accuracy:.4f} on {v.samples} test samples in TFLM ({v.accuracy_note})")
    if dev.note:
        lines.append(f"note      {dev.note}")
    if v.budget is not None:
        lines += ["", v.budget.table()]
    problems = v.failures + (v.budget.failures() if v.budget else [])
    lines += [""] + [f"FAIL: {p}" for p in problems] + (["OK: every budget holds"] if v.ok else [])
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = validate_model(args.model, args.device, args.devices, min_accuracy=args.min_accuracy,
                                dataset=args.dataset, limit=args.limit, data_path=args.data_path)
        text = None if args.json else _text(result, args.device, args.devices)
    except UserError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}, indent=2))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else text)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
