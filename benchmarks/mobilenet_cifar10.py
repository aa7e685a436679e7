"""MobileNet-V1 on CIFAR-10: dense and Global MP with floors at several sparsities, through export to TFLite
Micro. Per row: float accuracy, int8 accuracy in TFLite Micro (and LiteRT), int8 flatbuffer / gzip /
sparse-encoded bytes, information limit, measured arena, MACs.

    python benchmarks/mobilenet_cifar10.py --data-path ../shared/data/cifar10/cifar10-jpeg.tar.gz \\
        [--width 0.25] [--sparsities 0.5,0.8,0.9,0.95] [--init-from runs/mobilenetv1-cifar10/checkpoint.pt]

Each sparsity is a cell of ``python -m edge_gmp.sweep`` (method gmp, gradual, the preset's recipe, --export),
starting from one dense model: trained here with the preset's recipe, or taken from ``--init-from`` (e.g. the
dense state a run of the preset saved in its checkpoint). Prints a table and writes
benchmarks/results/mobilenet_cifar10.json and .md (rows of other widths are kept).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from edge_gmp.config import load_config
from edge_gmp.data.prepare import prepare_data
from edge_gmp.models import create_model
from edge_gmp.prune import GRADUAL
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import markdown_table, text_table
from edge_gmp.sweep import plan, run_sweep
from edge_gmp.workflow.deployment import measure_device_artifact
from edge_gmp.workflow.run_record import record_for_model

RESULTS = Path(__file__).resolve().parent / "results"
HEADERS = ("width", "sparsity", "float", "int8 TFLM", "int8 LiteRT", "int8 bytes", "device bytes", "gzip",
           "sparse-encoded", "info limit", "arena", "device RAM", "MACs (effective)", "checks")


def _row(width: float, sparsity: float, float_accuracy: float, export: dict[str, Any], macs: int,
         dense_macs: int, train_seconds: float | None) -> dict[str, Any]:
    return {"width": width, "sparsity": sparsity, "float_accuracy": float_accuracy,
            "int8_tflm_accuracy": export["accuracy"].get("tflm"),
            "int8_litert_accuracy": export["accuracy"].get("litert"),
            "int8_bytes": export["bytes"], "device_bytes": export.get("device_bytes"),
            "device_ram_bytes": export.get("device_ram_bytes"), "gzip_bytes": export["gzip_bytes"],
            "sparse_encoded_bytes": export["sparse_encoded_bytes"], "info_limit_bytes": export["info_limit_bytes"],
            "arena_bytes": export["arena_bytes"], "macs": macs, "dense_macs": dense_macs,
            "problems": export["problems"], "train_seconds": train_seconds}


def _cells(r: dict[str, Any]) -> tuple[Any, ...]:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.2%}"
    return (f"{r['width']:g}", f"{r['sparsity']:.0%}", pct(r["float_accuracy"]), pct(r["int8_tflm_accuracy"]),
            pct(r["int8_litert_accuracy"]), r["int8_bytes"], r.get("device_bytes"), r["gzip_bytes"],
            r["sparse_encoded_bytes"], r["info_limit_bytes"], r["arena_bytes"], r.get("device_ram_bytes"),
            f"{r['macs']:,} ({r['macs'] / r['dense_macs']:.0%})",
            "; ".join(r["problems"]) or "ok")


def write_markdown(runs: list[dict[str, Any]]) -> None:
    md = ["# MobileNet-V1 on CIFAR-10: dense and Global MP with floors, down to TFLite Micro", ""]
    for run in runs:
        prune = run["recipe"]["prune"]
        source = run["dense"]["source"]
        dense = (f"the dense state saved by a run of the preset ({source})" if source != "trained here"
                 else "trained here with the preset's recipe")
        md += [f"## width {run['width']:g}", "",
               f"`{run['command']}` on {run['machine']} ({run['wall_seconds'] / 60:.0f} min). Dense model: {dense}. "
               f"Each pruned row: gradual Global MP with floors ({prune['floor_percent']} %), "
               f"{prune['prune_epochs']} pruning + {prune['finetune_epochs']} fine-tuning epochs from the dense "
               "weights. Accuracies on all 10,000 test images (the JPEG copy in ../shared: absolute figures are "
               "not comparable with papers on the PNG originals); int8 = full-integer flatbuffer, what TFLite "
               "Micro runs; device bytes = the file a microcontroller gets: the int8 file with its pruned weights "
               "stored for TFLite Micro's TFLM_DECODE operator (PRUNING/LUT), outputs proven identical to the int8 "
               "file on 500 test images; sparse-encoded = TFLite's sparsity format (TFLite Micro cannot run it); "
               "info limit = int8 non-zeros + positions at the entropy bound; arena = smallest TFLite Micro arena "
               "of the int8 file, 64-bit host; device RAM = the device file's arena (+ decompression buffer); MACs "
               "per image, counting non-zero weights.", "",
               markdown_table(HEADERS, [_cells(r) for r in run["rows"]]), ""]
    (RESULTS / "mobilenet_cifar10.md").write_text("\n".join(md))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-path", required=True, help="CIFAR-10 image folder / archive")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--sparsities", default="0.5,0.8,0.9,0.95")
    parser.add_argument("--init-from", help="dense weights to start from (default: train them here)")
    parser.add_argument("--out", default="runs/bench-mobilenet", help="working directory (sweep cells)")
    parser.add_argument("--preset", default="mobilenetv1-cifar10", help="the recipe of the cells")
    args = parser.parse_args()

    overrides: dict[str, Any] = {"model": {"width": args.width}, "data": {"path": args.data_path}}
    if args.init_from:
        overrides["train"] = {"init_from": args.init_from}
    base = load_config(args.preset, overrides=overrides)
    sparsities = [float(s) for s in args.sparsities.split(",")]
    started = time.perf_counter()
    out = Path(args.out) / f"width{args.width:g}"
    summary = run_sweep(base, plan(base, ["gmp"], [GRADUAL], sparsities, [base.train.seed]), out, export=True,
                        command=shlex.join(sys.argv))
    if summary["failed"]:
        print(f"failed cells: {summary['failed']}", file=sys.stderr)
        return 1

    # the dense model itself, exported and measured like the cells
    data = prepare_data(base.data, seed=base.train.seed)
    dense = create_model(base.model_name, base.model)
    dense.load_state_dict(torch.load(out / f"dense-seed{base.train.seed}" / "model.pt", weights_only=True))
    record = record_for_model(base, data, dense)
    accuracy = record.pruned_test_accuracy
    dense_export = measure_device_artifact(record, data, base.export, out / "dense-artifacts", seed=base.train.seed)
    dense_macs = summary["dense"][0]["macs"]["dense"]
    rows = [_row(args.width, 0.0, accuracy, dense_export, dense_macs, dense_macs, None)]
    rows += [_row(args.width, c["sparsity"], c["test_accuracy"], c["export"], c["macs"]["effective"], dense_macs,
                  c["train_seconds"]) for c in sorted(summary["cells"], key=lambda c: c["sparsity"])]
    print(text_table(HEADERS, [_cells(r) for r in rows]))

    out_json = RESULTS / "mobilenet_cifar10.json"
    previous = json.loads(out_json.read_text()) if out_json.is_file() else {"runs": []}
    runs = [r for r in previous["runs"] if r["width"] != args.width]
    runs.append({"width": args.width, "command": shlex.join(["python", *sys.argv]), "machine": describe_machine(),
                 "dense": summary["dense"][0], "recipe": base.to_dict(), "rows": rows,
                 "wall_seconds": time.perf_counter() - started})
    runs.sort(key=lambda r: r["width"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    write_markdown(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
