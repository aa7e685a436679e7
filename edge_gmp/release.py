"""Release a finished, verified run into the repository: ``releases/<run name>/`` (checkpoint, model card,
metrics, config, ONNX graphs) and ``export/<run name>/`` (the device deliverable: the device file, its C array,
the dense integer file and the manifest).

    python -m edge_gmp.release RUN_DIR [--releases-root releases] [--export-root export]

A run whose verification or budget failed is refused. Each folder is replaced as a whole, never left
half-written.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_gmp.atomic import atomic_dir
from edge_gmp.cli import OneLineParser, description, print_error, print_interrupted
from edge_gmp.errors import UserError

MODEL_FILES = ("model.pt", "metrics.json", "MODEL_CARD.md", "config.toml")


def _load_metrics(run_dir: Path) -> dict:
    path = run_dir / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError as exc:
        if (run_dir / "checkpoint.pt").is_file():
            raise UserError(f"{run_dir} is an unfinished run (no metrics.json); finish it with python -m "
                            f"edge_gmp.pipeline --out {shlex.quote(str(run_dir))} --resume, then release it") from exc
        raise UserError(f"{run_dir} holds no run (no metrics.json); give the directory a finished python -m "
                        "edge_gmp.pipeline run wrote") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); re-run the pipeline") from exc
    if "deliverable" not in metrics:
        raise UserError(f"{run_dir} was run without export (--no-export): nothing to release")
    if metrics.get("failures"):
        raise UserError(f"{run_dir} failed verification or its budget and cannot be released: "
                        + "; ".join(metrics["failures"]))
    return metrics


def release(run_dir: str | Path, releases_root: str | Path = "releases",
            export_root: str | Path = "export") -> dict[str, Path]:
    """Copy a verified run into ``releases_root/<run>`` and ``export_root/<run>``; returns both."""
    run = Path(run_dir)
    metrics = _load_metrics(run)
    deliverable = run / "export" / metrics["preset"]
    onnx = sorted((run / "artifacts").glob("*.onnx"))
    missing = [name for name in MODEL_FILES if not (run / name).is_file()]
    if missing or not deliverable.is_dir() or not onnx:
        raise UserError(f"{run} is incomplete (missing: {missing or ''} {'' if deliverable.is_dir() else deliverable}"
                        f"{'' if onnx else ' ONNX graphs'}); re-run the pipeline")
    model_dir = Path(releases_root) / metrics["preset"]
    export_dir = Path(export_root) / metrics["preset"]
    with atomic_dir(model_dir) as staging:
        for path in [run / name for name in MODEL_FILES] + onnx:
            shutil.copy2(path, staging / path.name)
    with atomic_dir(export_dir) as staging:
        for path in sorted(deliverable.iterdir()):
            shutil.copy2(path, staging / path.name)
    return {"model": model_dir, "export": export_dir}


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m edge_gmp.release", description=description(__doc__))
    parser.add_argument("run_dir", help="a finished run directory written by python -m edge_gmp.pipeline")
    parser.add_argument("--releases-root", default="releases", help="where releases/<run>/ goes")
    parser.add_argument("--export-root", default="export", help="where export/<run>/ goes")
    args = parser.parse_args(argv)
    try:
        paths = release(args.run_dir, args.releases_root, args.export_root)
    except UserError as exc:
        print_error(exc)
        return 2
    except KeyboardInterrupt:
        return print_interrupted("each folder is replaced as a whole, so it holds the old release or the new one; "
                                 "run the same command again")
    print(f"released {paths['model']} and {paths['export']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
