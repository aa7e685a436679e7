"""Compile an integer .tflite into a C library whose kernels skip pruned weights.

    python -m edge_gmp.codegen MODEL.tflite --out DIR [--name NAME] [--samples N] [--json]

Writes DIR/NAME.c, NAME.h (entry point NAME_invoke) and NAME.json (bytes, memory plan and MACs per layer). The C
is built for this machine with -Wall -Wextra -Werror and its outputs compared bit for bit with TFLite Micro's on
N random inputs (0: skip). Exit status: 0 identical, 1 the outputs differ, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_gmp.cli import OneLineParser, print_error
from edge_gmp.codegen.build import CompiledModel, c_name, compile_model
from edge_gmp.codegen.layers import LOWERINGS
from edge_gmp.errors import UserError
from edge_gmp.tflite import inspect_tflite
from edge_gmp.verify.equivalence import random_inputs

DEFAULT_SAMPLES = 100


def _parser() -> argparse.ArgumentParser:
    import edge_gmp.codegen.generate  # noqa: F401  (registers the lowerings listed in --help)

    p = OneLineParser(prog="python -m edge_gmp.codegen", description=__doc__.split("\n")[0],
                      epilog=f"operators: {', '.join(sorted(LOWERINGS))} (int8 or int16 activations, int8 weights)")
    p.add_argument("model", metavar="MODEL.tflite", help="a full-integer .tflite (TFLM_DECODE-compressed or not)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for NAME.c, NAME.h and NAME.json")
    p.add_argument("--name", metavar="NAME", help="C name prefix (default: the model file's stem)")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, metavar="N",
                   help=f"random inputs compared with TFLite Micro (default {DEFAULT_SAMPLES}; 0: skip)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _table(result: CompiledModel) -> str:
    r = result.report
    us = result.host_layer_us
    lines = [f"{'#':>3}  {'op':<18} {'format':<8} {'weights B':>9} {'params B':>8} {'kept MACs':>10} "
             f"{'dense MACs':>10} {'kept':>5} {'host us':>8}"]
    for i, layer in enumerate(r["layers"]):
        share = f"{layer['kept_macs'] / layer['dense_macs']:.0%}" if layer["dense_macs"] else ""
        host = f"{us[i]:.1f}" if i < len(us) else ""
        lines.append(f"{layer['index']:>3}  {layer['op'][:18]:<18} {layer['format']:<8} {layer['weight_bytes']:>9,} "
                     f"{layer['param_bytes']:>8,} {layer['kept_macs']:>10,} {layer['dense_macs']:>10,} {share:>5} "
                     f"{host:>8}")
    lines.append(f"weights {r['weight_bytes']:,} B + per-channel parameters {r['param_bytes']:,} B = "
                 f"{r['weight_bytes'] + r['param_bytes']:,} B constant data")
    lines.append(f"memory plan: {r['arena_bytes']:,} B arena + {r['row_scratch_bytes']:,} B row buffers; kept MACs "
                 f"{r['kept_macs']:,} of {r['dense_macs']:,} ({r['kept_mac_fraction']:.1%})")
    if result.equivalence is not None:
        lines.append(f"vs TFLite Micro: {result.equivalence.describe()}")
    lines.append("host us: time per layer on this machine (a profile, not a microcontroller figure)")
    lines.append("wrote " + ", ".join(p.name for p in result.files))
    if result.files:
        lines.append(f"   in {result.files[0].parent}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.samples < 0:
            raise UserError(f"--samples must be >= 0, got {args.samples}")
        if args.name is not None and c_name(args.name) != args.name:
            raise UserError(f"--name {args.name!r} is not a C identifier; use letters, digits and _ "
                            f"(e.g. {c_name(args.name)})")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} exists and is not a folder")
        inspect_tflite(args.model)
        raw = random_inputs(args.model, args.samples) if args.samples else None
        result = compile_model(args.model, out, args.name or c_name(Path(args.model).stem), raw)
    except UserError as exc:
        print_error(exc)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps({**result.report, "host_layer_us": result.host_layer_us, "files": [str(p) for p in
                          result.files], "identical_to_tflm": result.summary()["identical_to_tflm"]}, indent=2))
    else:
        print(_table(result))
    return 0 if result.equivalence is None or result.equivalence.identical else 1


if __name__ == "__main__":
    sys.exit(main())
