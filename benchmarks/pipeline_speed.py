"""How long a newcomer waits: the default pipeline run end to end, stage by stage.

    python benchmarks/pipeline_speed.py [--export-from models/fastgrnn] [--note "busy machine"] [--keep DIR]

Runs ``python -m edge_gmp.pipeline`` on its default preset (with --export-from: the stored weights of a finished
run, no training) into a temporary run directory and reads the stage times the run records in its metrics.json
(``timings``: data, train, evaluate, export, verify, compress, codegen, emulate, total), plus each verified
artifact's seconds per runtime. Prints the tables and writes benchmarks/results/pipeline_speed.{json,md} with
the machine, the date, the command and the load average around the run (timings on a loaded machine are not
those of a quiet one: say so with --note).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import text_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _run(out: Path, export_from: str | None) -> tuple[list[str], float, int]:
    command = [sys.executable, "-m", "edge_gmp.pipeline", "--out", str(out), "--quiet"]
    if export_from:
        command += ["--export-from", export_from]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, text=True, capture_output=True)
    if proc.returncode not in (0, 1):  # 1: a verification or budget check failed; the run is still written
        raise SystemExit(f"the pipeline failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return command, time.perf_counter() - started, proc.returncode


def _artifact_rows(metrics: dict[str, Any]) -> list[list[object]]:
    rows = []
    for art in metrics.get("artifacts", []):
        for r in art.get("runtimes", []):
            if r.get("status") == "ok" and r.get("samples"):
                rows.append([art["name"], r["runtime"], r["seconds"], r["accuracy"], r.get("note", "")])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export-from", metavar="DIR", help="no training: export the stored weights of DIR")
    parser.add_argument("--note", default="", help="conditions of the run, e.g. 'busy machine: training runs'")
    parser.add_argument("--keep", metavar="DIR", help="write the run there (default: a temporary directory)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for pipeline_speed.{json,md}")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pipeline_speed_") as tmp:
        out = Path(args.keep) if args.keep else Path(tmp) / "run"
        load_before = os.getloadavg()
        command, wall, status = _run(out, args.export_from)
        load_after = os.getloadavg()
        metrics = json.loads((out / "metrics.json").read_text())
    timings = {k: round(v, 1) for k, v in metrics["timings"].items()}
    shown = ["python", "benchmarks/pipeline_speed.py"] + (["--export-from", args.export_from] if args.export_from
                                                           else [])
    result = {
        "command": shlex.join(shown), "pipeline_command": shlex.join(["python", *command[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": describe_machine(),
        "note": args.note, "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after], "exit_status": status,
        "wall_seconds": round(wall, 1), "timings": timings,
        "artifacts": [dict(zip(("artifact", "runtime", "seconds", "accuracy", "how"), row, strict=True))
                      for row in _artifact_rows(metrics)],
        "failures": metrics.get("failures", []),
    }
    stage_table = text_table(["stage", "seconds"], [[k, v] for k, v in timings.items()])
    art_table = text_table(["artifact", "runtime", "seconds", "accuracy"],
                           [row[:4] for row in _artifact_rows(metrics)])
    print(stage_table + "\n\n" + art_table)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "pipeline_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Pipeline speed: the default run, stage by stage", "",
        f"Command: `{result['command']}` (runs `{result['pipeline_command']}`)  ",
        f"Date: {result['date']}  ", f"Machine: {result['machine']}  ",
        f"Load average (1, 5, 15 min) before / after: {load_before[0]:.2f}, {load_before[1]:.2f}, "
        f"{load_before[2]:.2f} / {load_after[0]:.2f}, {load_after[1]:.2f}, {load_after[2]:.2f}  ",
        *([f"Conditions: {args.note}  "] if args.note else []), "",
        "Stage times from the run's metrics.json (`timings`, seconds):", "", "```", stage_table, "```", "",
        "Each artifact in each runtime on the whole test set (verify stage):", "", "```", art_table, "```", "",
    ]
    (args.results / "pipeline_speed.md").write_text("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
