"""The released device files' generated C on emulated Cortex-M4 and M7 cores, beside TFLite Micro's file and arena,
and the instructions per kept multiply-accumulate of each kernel and weight format.

    python benchmarks/target.py [--samples 200] [--dense-samples 20] [--no-kernels]
        [--data-path ../shared/data/cifar10/cifar10-jpeg.tar.gz]

Per model, core and build (TFLM-equivalent dense C: every weight stored and multiplied by the portable C, the
arithmetic of TFLM's reference kernels; dense DSP: the same weights with the Cortex-M DSP-extension inner loops of
edge_gmp/target/dsp.py; sparse DSP: the formats the generator chooses, with those loops; sparse portable: the same
without them): the whole image's flash (.text + .rodata + .data), RAM (.data + .bss + the stack's high-water
mark), instructions per inference (FastGRNN: per step), an ESTIMATED cycle count from the per-class table in
edge_gmp/target/timing.py and the milliseconds it means at the board's clock, estimated cycles per dense-equivalent
MAC, instructions as a share of the TFLM-equivalent dense build's, and whether the emulated outputs equal the host
build's (and so TFLM's) on every sample (test samples spread evenly over the test set; FastGRNN: whole windows,
every step). Then, on the Cortex-M4, synthetic layers per kernel, density and forced weight format
(edge_gmp/target/kernels.py): instructions per kept (non-zero) MAC with and without the DSP loops. Prints the tables
and writes benchmarks/results/target.json and .md.
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
from edge_gmp.target.kernels import kernel_costs
from edge_gmp.verify.datasets import load_test_set
from edge_gmp.verify.devices import find_device
from edge_gmp.verify.equivalence import quantize_inputs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODELS = {"fastgrnn-har2": ("har2", "export/fastgrnn-har2/fastgrnn_har2.tflite"),
          "mobilenetv1-cifar10-distilled": ("cifar10", "export/mobilenetv1-cifar10-distilled/"
                                                       "mobilenetv1_cifar10_distilled.tflite")}
BOARDS = ("nano33ble", "stm32f746-disco")
HEADERS = ("model", "core", "build", "flash B", "RAM B", "instructions", "vs dense C", "cycles (est.)", "ms (est.)",
           "cyc/dense MAC", "identical on")
# build, weight formats (None: the generator's choice), DSP loops, samples option
BUILDS = (("TFLM-equivalent dense C", ("dense",), False, "dense"), ("dense, DSP kernels", ("dense",), True, "dense"),
          ("sparse, DSP kernels", None, True, "sparse"), ("sparse, portable C", None, False, "dense"))
KERNEL_HEADERS = ("kernel", "density", "format", "weight B", "kept MACs", "instr/kept MAC portable",
                  "instr/kept MAC DSP")


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
        for build, formats, dsp, which in BUILDS:
            n = samples if which == "sparse" else dense_samples
            library = generate(path, "model", formats=formats)
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                report = emulate_model(path, device, [raw[0][:n]], library=library, build_dir=tmp, dsp=dsp)
            row = _row(name, build, report, library.report["dense_macs"])
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(f"{name} {report.core} {build}: {report.instructions:,.0f} instructions, "
                  f"{row['seconds']:.0f} s", file=sys.stderr, flush=True)
    return rows


def _number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _cells(r: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[Any, ...]:
    same = r["identical_to_host"]
    what = "" if same is None else (("yes: " if same["identical"] else "NO: ") + (
        f"{same['samples']} windows x {same['steps']}" if same["streaming"] else f"{same['samples']}"))
    base = next((b["instructions"] for b in rows if b["model"] == r["model"] and b["core"] == r["core"]
                 and b["build"] == BUILDS[0][0]), None)
    share = None if r["instructions"] is None or not base else 100 * r["instructions"] / base
    return (r["model"], r["core"], r["build"], r["flash_bytes"], r["ram_bytes"], _number(r["instructions"], ",.0f"),
            _number(share, ".1f") + ("" if share is None else " %"), _number(r["cycles_estimate"], ",.0f"),
            _number(r["ms_estimate"], ".1f"), _number(r["cycles_per_dense_mac"], ".2f"), what or "reference")


def kernel_table() -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """Instructions per kept MAC per kernel, density and format on the Cortex-M4, portable and DSP."""
    costs = kernel_costs(find_device(BOARDS[0]).target)
    table = []
    for c in (c for c in costs if c.dsp):
        portable = next(p for p in costs if not p.dsp and (p.kernel, p.format, p.density) == (c.kernel, c.format,
                                                                                             c.density))
        table.append((c.kernel, f"{c.density:.0%}", c.format, c.weight_bytes, c.kept_macs,
                      f"{portable.per_kept_mac:.2f}", f"{c.per_kept_mac:.2f}"))
    table.sort(key=lambda t: (t[0], float(t[1][:-1]), t[2]))
    return [c.to_dict() for c in costs], table


def _notes(command: str, machine: str) -> list[str]:
    return [f"`{command}` on {machine}, {time.strftime('%Y-%m-%d')}.", "",
            f"Cycles and milliseconds are an ESTIMATE ({ESTIMATE}). Flash: the whole image (.text + .rodata + "
            ".data); RAM: .data + .bss + the stack's high-water mark. The TFLM rows give the device file and "
            "TFLM's measured arena (decoded tensors included), without TFLM's own interpreter code. \"vs dense C\": "
            "instructions as a share of the TFLM-equivalent dense build's on the same core. Builds: "
            + "; ".join(f"{b}: {'formats ' + '/'.join(f) if f else 'the chosen formats'}, "
                        f"{'DSP loops' if dsp else 'portable C'}" for b, f, dsp, _ in BUILDS) + "."]


KERNEL_NOTE = ("## Instructions per kept MAC, per kernel and weight format (Cortex-M4)\n\nSynthetic int8 layers "
               "(edge_gmp/target/kernels.py), weights kept at random with the given density, every format forced; "
               "instructions of the layer (requantisation included) over its non-zero weights times its output "
               "positions. The DSP build drops stored zeros when it recodes a convolution or fully connected row "
               "read by enough outputs, so there the formats differ only in decoding; depthwise kernels multiply "
               "every stored value.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=200, help="test samples per model for the sparse DSP builds")
    p.add_argument("--dense-samples", type=int, default=20, help="test samples for the other builds")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--no-kernels", action="store_true", help="skip the per-kernel, per-format table")
    p.add_argument("--data-path", default=str(ROOT.parent / "shared/data/cifar10/cifar10-jpeg.tar.gz"))
    args = p.parse_args(argv)
    rows = [r for name in args.models.split(",") for r in measure(name, args.samples, args.dense_samples,
                                                                   args.data_path)]
    table = [_cells(r, rows) for r in rows]
    print(text_table(HEADERS, table))
    kernels, ktable = ([], []) if args.no_kernels else kernel_table()
    if ktable:
        print(text_table(KERNEL_HEADERS, ktable))
    command = "python benchmarks/target.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    machine = describe_machine()
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / "target.json", json.dumps({"command": command, "machine": machine,
                                                           "cycle_estimate": ESTIMATE, "rows": rows,
                                                           "kernels": kernels}, indent=2))
    text = "# The generated C on emulated Cortex-M cores\n\n" + "\n".join(_notes(command, machine)) + "\n\n" \
        + markdown_table(HEADERS, table) + "\n"
    if ktable:
        text += "\n" + KERNEL_NOTE + "\n\n" + markdown_table(KERNEL_HEADERS, ktable) + "\n"
    write_text_atomic(RESULTS / "target.md", text)
    return 0 if all(r["identical_to_host"] is None or r["identical_to_host"]["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
