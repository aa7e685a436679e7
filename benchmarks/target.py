"""The released device files' generated C on emulated Cortex-M4 and M7 cores, beside TFLite Micro's file and arena.

    python benchmarks/target.py [--samples 200] [--dense-samples 20]
        [--data-path ../shared/data/cifar10/cifar10-jpeg.tar.gz]

Per model, core and build (sparse: the formats the generator chooses; dense: every weight stored and multiplied,
same generator): the whole image's flash (.text + .rodata + .data), RAM (.data + .bss + the stack's high-water
mark), instructions per inference (FastGRNN: per step), an ESTIMATED cycle count from the per-class table in
edge_gmp/target/timing.py and the milliseconds it means at the board's clock, estimated cycles per dense-equivalent
MAC, and whether the emulated outputs equal the host build's (and so TFLM's) on every sample (test samples spread
evenly over the test set; FastGRNN: whole windows, every step). Prints a table and writes
benchmarks/results/target.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge_gmp.atomic import write_text_atomic
from edge_gmp.codegen.generate import generate
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import markdown_table, text_table
from edge_gmp.target import ESTIMATE, emulate_model
from edge_gmp.verify.datasets import load_test_set
from edge_gmp.verify.devices import find_device
from edge_gmp.verify.equivalence import quantize_inputs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODELS = {"fastgrnn-har2": ("har2", "export/fastgrnn-har2/fastgrnn_har2.tflite"),
          "mobilenetv1-cifar10": ("cifar10", "export/mobilenetv1-cifar10/mobilenetv1_cifar10.tflite")}
BOARDS = ("nano33ble", "stm32f746-disco")
HEADERS = ("model", "core", "build", "flash B", "RAM B", "instructions", "cycles (est.)", "ms (est.)",
           "cyc/dense MAC", "identical on")


def _row(name: str, build: str, report: Any, dense_macs: int) -> dict[str, Any]:
    return {"model": name, "board": report.board, "core": report.core, "build": build, **report.to_dict(),
            "dense_macs": dense_macs, "cycles_per_dense_mac": report.cycles_estimate / dense_macs,
            "seconds": 0.0}


def measure(name: str, samples: int, dense_samples: int, data_path: str) -> list[dict[str, Any]]:
    dataset, model = MODELS[name]
    path = ROOT / model
    test = load_test_set(dataset, path, data_path=data_path if dataset == "cifar10" else None, limit=samples)
    raw = quantize_inputs(path, [test.x])
    manifest = json.loads((path.parent / "manifest.json").read_text())
    rows = [{"model": name, "board": "-", "core": "TFLM", "build": f"{path.name} (TFLM_DECODE)",
             "flash_bytes": path.stat().st_size, "ram_bytes": manifest.get("ram_bytes"), "instructions": None,
             "cycles_estimate": None, "ms_estimate": None, "cycles_per_dense_mac": None, "identical_to_host": None}]
    for board in BOARDS:
        device = find_device(board)
        for build, formats, n in (("sparse", None, samples), ("dense", ("dense",), dense_samples)):
            library = generate(path, "model", formats=formats)
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                report = emulate_model(path, device, [raw[0][:n]], library=library, build_dir=tmp)
            row = _row(name, build, report, library.report["dense_macs"])
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(f"{name} {report.core} {build}: {report.instructions:,.0f} instructions, "
                  f"{row['seconds']:.0f} s", file=sys.stderr, flush=True)
    return rows


def _number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _cells(r: dict[str, Any]) -> tuple[Any, ...]:
    same = r["identical_to_host"]
    what = "" if same is None else (("yes: " if same["identical"] else "NO: ") + (
        f"{same['samples']} windows x {same['steps']}" if same["streaming"] else f"{same['samples']}"))
    return (r["model"], r["core"], r["build"], r["flash_bytes"], r["ram_bytes"], _number(r["instructions"], ",.0f"),
            _number(r["cycles_estimate"], ",.0f"), _number(r["ms_estimate"], ".1f"),
            _number(r["cycles_per_dense_mac"], ".2f"), what or "reference")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=200, help="test samples per model for the sparse builds")
    p.add_argument("--dense-samples", type=int, default=20, help="test samples for the dense builds")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--data-path", default=str(ROOT.parent / "shared/data/cifar10/cifar10-jpeg.tar.gz"))
    args = p.parse_args(argv)
    rows = [r for name in args.models.split(",") for r in measure(name, args.samples, args.dense_samples,
                                                                   args.data_path)]
    table = [_cells(r) for r in rows]
    print(text_table(HEADERS, table))
    command = "python benchmarks/target.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    machine = describe_machine()
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "target.json", json.dumps({"command": command, "machine": machine,
                                                           "cycle_estimate": ESTIMATE, "rows": rows}, indent=2))
    notes = [f"`{command}` on {machine}, {time.strftime('%Y-%m-%d')}.", "",
             f"Cycles and milliseconds are an ESTIMATE ({ESTIMATE}). Flash: the whole image (.text + .rodata + "
             ".data); RAM: .data + .bss + the stack's high-water mark. The TFLM rows give the device file and "
             "TFLM's measured arena (decoded tensors included), without TFLM's own interpreter code."]
    write_text_atomic(RESULTS / "target.md", "# The generated C on emulated Cortex-M cores\n\n" + "\n".join(notes)
                      + "\n\n" + markdown_table(HEADERS, table) + "\n")
    return 0 if all(r["identical_to_host"] is None or r["identical_to_host"]["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
