"""Every path that a model card, manifest, README or result file names exists in the repository (the released
models in models/, the device deliverables in export/, the results in benchmarks/results/), and none of them
names a checkout's own absolute location. Paths under runs/ (a run's output, never committed), ../shared/ (beside
the checkout) and /tmp/ (scratch files a measurement named) are outside the repository by design, and so is a
released model's record of the in-progress folder it trained in (models/in-progress/<run>/, removed when it lands).
A candidate run kept as a record only (benchmarks/results/candidate-runs/<run>/: its metrics and card, not its
weights) names the folders it ran in and exported to, which are gone by design."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_FOLDERS = ("models", "export", "releases", "benchmarks", "edge_gmp", "tests")  # releases/: the old layout
REPO_PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(TOP_FOLDERS) + r")/[\w./-]*)(.?)")
ABSOLUTE_PATH = re.compile(r"""(?:^|[\s"'`(=:])(/(?!tmp/)[A-Za-z_][\w.-]*/[\w./-]+)""")
IN_PROGRESS = "models/in-progress/"
CANDIDATE_RUNS = ROOT / "benchmarks" / "results" / "candidate-runs"
PLACEHOLDER = "<{*["  # `export/<preset>/`, `study-{name}`, `*.toml`: patterns, not paths


def _documents() -> list[Path]:
    found = [ROOT / "README.md", *ROOT.glob("models/*/MODEL_CARD.md"), *ROOT.glob("models/*/metrics.json"),
             *ROOT.glob("export/*/manifest.json")]
    found += [p for p in (ROOT / "benchmarks" / "results").rglob("*") if p.suffix in (".md", ".json")]
    return sorted(found)


def _named_paths(text: str) -> list[str]:
    return sorted({m.group(1).rstrip(".,:;") for m in REPO_PATH.finditer(text)
                   if m.group(2) not in PLACEHOLDER or m.group(2) == ""})


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("document", _documents(), ids=_relative)
def test_every_repository_path_a_document_names_exists(document: Path) -> None:
    released = document.parent.parent == ROOT / "models" and document.parent.name != "in-progress"
    record_only = document.parent.parent == CANDIDATE_RUNS
    history = (IN_PROGRESS, "export/") if record_only else (IN_PROGRESS,) if released else ()
    missing = [name for name in _named_paths(document.read_text()) if not (ROOT / name).exists()
               and not name.startswith(history)]
    assert not missing, f"{_relative(document)} names paths that are not in the repository: {missing}"


@pytest.mark.parametrize("document", _documents(), ids=_relative)
def test_no_document_names_an_absolute_path(document: Path) -> None:
    found = sorted({m.group(1) for m in ABSOLUTE_PATH.finditer(document.read_text())})
    assert not found, f"{_relative(document)} names absolute paths (name them relative to the repository): {found}"


@pytest.mark.parametrize("manifest", sorted(ROOT.glob("export/*/manifest.json")), ids=_relative)
def test_every_file_a_manifest_names_is_beside_it(manifest: Path) -> None:
    content = json.loads(manifest.read_text())
    names = [*content["files"].values(), *content.get("sha256", {})]
    device = content.get("device_file") or {}
    names += [device[key] for key in ("file", "dense_file") if key in device]
    missing = sorted({name for name in names if not (manifest.parent / name).is_file()})
    assert not missing, f"{_relative(manifest)} names files that are not beside it: {missing}"
    assert content.get("sha256"), "a manifest without checksums cannot be matched to its file"


def test_every_released_model_has_its_deliverable() -> None:
    """models/<model>/ (the registry name) and export/<preset>/ (the preset that trained it) come in pairs."""
    for metrics_file in ROOT.glob("models/*/metrics.json"):
        metrics = json.loads(metrics_file.read_text())
        assert metrics_file.parent.name == metrics["model"]
        assert (ROOT / "export" / metrics["preset"] / "manifest.json").is_file(), metrics["preset"]
    released = {json.loads(m.read_text())["preset"] for m in ROOT.glob("models/*/metrics.json")}
    delivered = {p.parent.name for p in ROOT.glob("export/*/manifest.json")}
    assert delivered == released, "every export/<preset>/ is the deliverable of a model in models/"
    assert not (ROOT / "releases").exists(), "released models live in models/<model>/"


def test_the_path_patterns_catch_what_they_should() -> None:
    text = ("see `models/fastgrnn/model.pt`, export/x/ and `export/<preset>/`, runs/a/b, ../shared/data/x.tar.gz, "
            "benchmarks/results/x.md.")
    assert _named_paths(text) == ["benchmarks/results/x.md", "export/x/", "models/fastgrnn/model.pt"]
    found = [m.group(1) for m in ABSOLUTE_PATH.finditer('"/work/main/models/x.pt" and /tmp/a/b and 1/2 and x / y')]
    assert found == ["/work/main/models/x.pt"]
