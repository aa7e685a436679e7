"""Labelled test sets for on-device accuracy checks of any model, ours or a user's.

The inputs a model expects depend on how it was trained, so the normalisation is explicit:

- ``none``: the data in its natural units (sensor units; pixels 0-255);
- ``fit``: standardised with statistics fitted on the same source's training split (the pipeline's recipe);
- a JSON file: ``{"mean": [...], "std": [...]}`` per channel (images: of pixels / 255), or a deliverable's
  ``manifest.json`` (its ``normalization``);
- unset: the ``normalization`` of the ``manifest.json`` beside the model, but only when that manifest names
  this model's SHA-256 (a manifest written for another file is ignored), else ``fit`` with a notice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.data import datasets as _datasets  # noqa: F401  (registers every dataset)
from edge_gmp.data.registry import available_datasets, dataset_spec
from edge_gmp.errors import DataError, UserError
from edge_gmp.runtimes import Session

NORMALIZATIONS = ("none", "fit")  # or a path to a JSON file


@dataclass
class TestSet:
    x: np.ndarray  # float32 model inputs (time series (N, T, D); images NCHW)
    y: np.ndarray
    source: str
    normalization: str  # "none", "fit", "manifest" or the JSON file's path
    statistics: dict[str, Any] | None
    notices: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        how = {"none": "natural units (no normalisation)", "fit": "normalisation fitted on the training split",
               "manifest": "normalisation from manifest.json"}.get(self.normalization,
                                                                 f"normalisation from {self.normalization}")
        return f"source {self.source}; {how}"


def sha256_of(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest_statistics(model_path: str | os.PathLike) -> tuple[dict[str, Any] | None, str]:
    """The manifest's normalisation when ``manifest.json`` beside the model names the model's SHA-256; else
    (None, why not)."""
    manifest = Path(model_path).parent / "manifest.json"
    if not manifest.is_file():
        return None, "no manifest.json beside the model"
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"{manifest} is not valid JSON ({exc})"
    digests = content.get("sha256") if isinstance(content, dict) else None
    listed = set(digests.values()) if isinstance(digests, dict) else {digests} if isinstance(digests, str) else set()
    if not listed:
        return None, (f"{manifest} lists no SHA-256 checksum, so it cannot be matched to this model (pass it as "
                      "--normalization FILE if it describes this file)")
    if sha256_of(model_path) not in listed:
        return None, f"{manifest} does not name this model's SHA-256 (it describes another file)"
    stats = content.get("normalization")
    if not isinstance(stats, dict):
        return None, f"{manifest} has no normalization entry"
    return stats, ""


def _json_statistics(path: str) -> dict[str, Any]:
    try:
        stats = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"--normalization {path}: cannot read it ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"--normalization {path} is not valid JSON ({exc})") from exc
    if isinstance(stats, dict) and isinstance(stats.get("normalization"), dict):  # a deliverable's manifest.json
        stats = stats["normalization"]
    if not isinstance(stats, dict) or not {"mean", "std"} <= set(stats):
        raise UserError(f"--normalization {path} must be a JSON object with 'mean' and 'std' lists per channel, "
                        "or a manifest.json holding one under 'normalization'")
    return stats


def _statistics(normalization: str | None, model_path: str | os.PathLike,
                fit: Any) -> tuple[str, dict[str, Any] | None, list[str]]:
    if normalization == "none":
        return "none", None, []
    if normalization == "fit":
        return "fit", fit(), []
    if normalization is not None:
        return normalization, _json_statistics(normalization), []
    stats, why_not = manifest_statistics(model_path)
    if stats is not None:
        return "manifest", stats, []
    return "fit", fit(), [f"normalisation: {why_not}; using statistics fitted on the training split "
                          "(--normalization none|fit|FILE.json to choose)"]


def _evenly_spaced(n: int, limit: int | None) -> np.ndarray:
    """``limit`` indices spread over ``range(n)`` (test sets stored by class or subject stay balanced)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def load_test_set(dataset: str, model_path: str | os.PathLike, *, normalization: str | None = None,
                  source: str | None = None, data_path: str | os.PathLike | None = None,
                  limit: int | None = None, download: bool = False) -> TestSet:
    """The test split of ``dataset`` from ``source`` (default: the one ``data_path`` implies, else the
    dataset's default) as model inputs, normalised as the module docstring says. ``limit`` takes that many
    samples evenly spread over the set."""
    if dataset not in available_datasets():
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(available_datasets())}")
    spec = dataset_spec(dataset)
    path = None if data_path is None else str(data_path)
    source = source or spec.source_of(path)
    if source not in spec.sources:
        raise UserError(f"unknown {dataset} source {source!r}; use one of {', '.join(spec.sources)}")
    if source in spec.needs_path and path is None and not download:
        raise UserError(f"--dataset {dataset} needs --data-path ({spec.path_hint})")
    labelled = spec.test_set(source, path, download)
    mode, stats, notices = _statistics(normalization, model_path, labelled.fit_statistics)
    pick = _evenly_spaced(len(labelled.y), limit)
    try:
        x = spec.to_inputs(labelled.x[pick], stats)
    except DataError as exc:
        raise UserError(f"normalisation ({mode}) does not fit {spec.display}: {exc}") from exc
    return TestSet(np.asarray(x, dtype=np.float32), np.asarray(labelled.y[pick], dtype=np.int64), labelled.source,
                   mode, stats, notices)


def _base(name: str) -> str:
    return name.lower().split(":")[0].removeprefix("serving_default_")


def streaming_indices(session: Session, features: int = 9) -> dict[str, int] | None:
    """Index arguments for evaluate_streaming when ``session`` looks like a (x_t, h) -> (h_next, logits)
    cell, else None. The input with ``features`` elements is x_t; the output sized like h is h_next
    (names decide when sizes tie, else the order h_next, logits)."""
    if len(session.inputs) != 2 or len(session.outputs) != 2:
        return None
    sizes = [t.size for t in session.inputs]
    if sizes[0] == sizes[1]:
        x_index = 1 if _base(session.inputs[0].name) == "h" else 0
    elif features in sizes:
        x_index = sizes.index(features)
    else:
        return None
    h_index = 1 - x_index
    out_sizes = [t.size for t in session.outputs]
    h_size = sizes[h_index]
    logit_named = [i for i, t in enumerate(session.outputs) if "logit" in t.name.lower()]
    if out_sizes.count(h_size) == 1:
        h_next = out_sizes.index(h_size)
    elif len(logit_named) == 1:
        h_next = 1 - logit_named[0]
    elif h_size in out_sizes:
        h_next = 0
    else:
        return None
    return {"x_index": x_index, "h_index": h_index, "h_next_index": h_next, "logits_index": 1 - h_next}


def statistics_text(stats: Mapping[str, Any] | None) -> str:
    if stats is None:
        return "none"
    return f"mean {list(np.round(stats['mean'], 4))}, std {list(np.round(stats['std'], 4))}"
