"""Every MobileNet-V1 CIFAR-10 candidate measured for the release, in one table: width, sparsity, epochs, teacher,
dense / pruned float / int8 TFLite Micro accuracy, device bytes, RAM, CPU hours and the machine.

    python benchmarks/mobilenet_candidates.py [--add RUN_DIR ...] [--label NAME]

``--add`` reads a finished run directory (its ``metrics.json`` and ``config.toml``, e.g. ``models/mobilenet_v1``
or a pipeline ``--out``) and adds or replaces its row; rows of runs whose directories were not kept stay as they
were recorded, each with its source. Prints the table and writes benchmarks/results/mobilenet_candidates.json and
.md. Accuracies are on all 10,000 test images of the JPEG copy; CPU hours are training seconds times torch
threads (export and verification excluded).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from edge_gmp.report.tables import markdown_table, text_table

RESULTS = Path(__file__).resolve().parent / "results" / "mobilenet_candidates.json"
HEADERS = ("candidate", "width", "sparsity", "epochs (dense+prune+tune)", "teacher", "dense", "pruned float",
           "int8 TFLM", "TFLM file B", "TFLM RAM B", "compiled flash B", "compiled RAM B", "CPU h", "machine",
           "source")
INT8_DEVICE = "tflite classifier int8 compressed"


def _tflm_accuracy(metrics: dict[str, Any]) -> float | None:
    for artifact in metrics.get("artifacts", []):
        if artifact["name"] == INT8_DEVICE:
            for result in artifact.get("runtimes", []):
                if result.get("runtime") == "tflm" and result.get("status") == "ok":
                    return result["accuracy"]
    return None


def _teacher(train: dict[str, Any]) -> str:
    if train.get("distill_from"):
        return Path(train["distill_from"]).parent.name
    return "its dense weights" if train.get("distill", 0) > 0 else "-"


def row_from_run(run_dir: Path, label: str | None = None) -> dict[str, Any]:
    """The candidate row of a finished run directory."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = tomllib.loads((run_dir / "config.toml").read_text())
    train, prune, model = config["train"], config["prune"], config["model"]
    dense_epochs = 0 if train.get("init_from") else train["epochs"]
    target = metrics.get("target") or {}
    device = metrics.get("device_file") or {}
    return {
        "candidate": label or metrics["preset"], "width": model["width"], "sparsity": prune["sparsity"],
        "epochs": f"{dense_epochs}+{prune['prune_epochs']}+{prune['finetune_epochs']}"
                  + (f" (dense from {Path(train['init_from']).parent.name})" if train.get("init_from") else ""),
        "teacher": _teacher(train), "dense": metrics["dense_test_accuracy"],
        "pruned_float": metrics["pruned_test_accuracy"], "int8_tflm": _tflm_accuracy(metrics),
        "tflm_file_bytes": device.get("bytes"), "tflm_ram_bytes": device.get("ram_bytes"),
        "compiled_flash_bytes": target.get("flash_bytes"), "compiled_ram_bytes": target.get("ram_bytes"),
        "compiled_core": target.get("core"),
        "cpu_hours": round(metrics["train_seconds"] * train.get("threads", 1) / 3600, 2),
        "machine": metrics.get("machine", "not recorded"), "source": str(run_dir),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _bytes(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["candidate"], f"{r['width']:g}", f"{100 * r['sparsity']:g} %", r["epochs"], r["teacher"],
             _pct(r["dense"]), _pct(r["pruned_float"]), _pct(r["int8_tflm"]), _bytes(r["tflm_file_bytes"]),
             _bytes(r["tflm_ram_bytes"]),
             _bytes(r["compiled_flash_bytes"]) + (f" ({r['compiled_core']})" if r.get("compiled_core") else ""),
             _bytes(r["compiled_ram_bytes"]), "-" if r["cpu_hours"] is None else f"{r['cpu_hours']:.2f}",
             r["machine"], r["source"]] for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", nargs="*", default=[], metavar="RUN_DIR",
                        help="finished run directories whose rows to add or replace")
    parser.add_argument("--label", help="the candidate's name for a single --add (default: its preset)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.label and len(args.add) != 1:
        parser.error("--label names one run: give exactly one --add")
    stored = json.loads(args.results.read_text()) if args.results.is_file() else {"rows": []}
    rows = stored["rows"]
    for run in args.add:
        run_dir = Path(run)
        if not (run_dir / "metrics.json").is_file() or not (run_dir / "config.toml").is_file():
            print(f"error: --add {run}: no finished run there (needs metrics.json and config.toml)", file=sys.stderr)
            return 2
        new = row_from_run(run_dir, args.label)
        rows = [r for r in rows if r["candidate"] != new["candidate"]] + [new]
    stored["rows"] = rows
    print(text_table(HEADERS, table_rows(rows)))
    args.results.write_text(json.dumps(stored, indent=2) + "\n")
    intro = ("# MobileNet-V1 on CIFAR-10: every candidate measured for the release\n\n"
             "`python benchmarks/mobilenet_candidates.py` (rows added from finished run directories with `--add`; "
             "rows of runs whose directories were not kept as recorded then, their source says where). "
             "Accuracies on all 10,000 test images of the JPEG copy in `../shared` (one seed each unless said); "
             "TFLM file: the TFLM_DECODE device file, TFLM RAM its arena with the decoded tensors; compiled: "
             "the emulated firmware image of our generated C (whole flash image; RAM with the stack). "
             "CPU h: training seconds x torch threads.\n\n")
    notes = "".join(f"- {note}\n" for note in stored.get("notes", []))
    args.results.with_suffix(".md").write_text(intro + markdown_table(HEADERS, table_rows(rows)) + "\n"
                                               + ("\n" + notes if notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
