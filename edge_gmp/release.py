"""Release a finished, verified run into the repository: ``models/<model>/`` (checkpoint, model card, metrics,
config, ONNX graphs; ``<model>`` is the model's registry name, e.g. ``fastgrnn``, ``mobilenet_v1``) and
``export/<preset>/`` (the device deliverable: the device file, its C array, the dense integer file and the
manifest).

    python -m edge_gmp.release RUN_DIR [--models-root models] [--export-root export]

One release per model: releasing another run of the same model replaces ``models/<model>/`` (and removes the
replaced release's ``export/<its preset>/``). A run whose
verification or budget failed is refused. Each folder is replaced as a whole, never left half-written.
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
MODELS_ROOT = "models"  # models/<model registry name>/: the released model
EXPORT_ROOT = "export"  # export/<preset>/: its device deliverable


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


def release(run_dir: str | Path, models_root: str | Path = MODELS_ROOT,
            export_root: str | Path = EXPORT_ROOT) -> dict[str, Path]:
    """Copy a verified run into ``models_root/<model>`` and ``export_root/<preset>``; returns both."""
    run = Path(run_dir)
    metrics = _load_metrics(run)
    deliverable = run / "export" / metrics["preset"]
    onnx = sorted((run / "artifacts").glob("*.onnx"))
    missing = [name for name in MODEL_FILES if not (run / name).is_file()]
    if missing or not deliverable.is_dir() or not onnx:
        raise UserError(f"{run} is incomplete (missing: {missing or ''} {'' if deliverable.is_dir() else deliverable}"
                        f"{'' if onnx else ' ONNX graphs'}); re-run the pipeline")
    model_dir = Path(models_root) / metrics["model"]
    export_dir = Path(export_root) / metrics["preset"]
    previous = _released_preset(model_dir)
    with atomic_dir(model_dir) as staging:
        for path in [run / name for name in MODEL_FILES] + onnx:
            shutil.copy2(path, staging / path.name)
    with atomic_dir(export_dir) as staging:
        for path in sorted(deliverable.iterdir()):
            shutil.copy2(path, staging / path.name)
    paths = {"model": model_dir, "export": export_dir}
    stale = Path(export_root) / previous if previous and previous != metrics["preset"] else None
    if stale is not None and stale.is_dir():  # the replaced release's deliverable goes with it
        shutil.rmtree(stale)
        paths["removed"] = stale
    return paths


def _released_preset(model_dir: Path) -> str | None:
    """The preset of the release ``model_dir`` holds (None when it holds none)."""
    try:
        preset = json.loads((model_dir / "metrics.json").read_text()).get("preset")
    except (OSError, ValueError, AttributeError):
        return None
    return preset if isinstance(preset, str) and preset and "/" not in preset and preset not in (".", "..") else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m edge_gmp.release", description=description(__doc__))
    parser.add_argument("run_dir", help="a finished run directory written by python -m edge_gmp.pipeline")
    parser.add_argument("--models-root", default=MODELS_ROOT,
                        help=f"where the model's folder <model>/ goes (default: {MODELS_ROOT})")
    parser.add_argument("--export-root", default=EXPORT_ROOT,
                        help=f"where the deliverable's folder <preset>/ goes (default: {EXPORT_ROOT})")
    args = parser.parse_args(argv)
    try:
        paths = release(args.run_dir, args.models_root, args.export_root)
    except UserError as exc:
        print_error(exc)
        return 2
    except KeyboardInterrupt:
        return print_interrupted("each folder is replaced as a whole, so it holds the old release or the new one; "
                                 "run the same command again")
    print(f"released {paths['model']} and {paths['export']}"
          + (f"; removed {paths['removed']}, the replaced release's deliverable" if "removed" in paths else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
