"""Every file a committed model card names exists in the repository (a bare file name beside the card or in a
deliverable folder under export/); manifests and other documents: tests/test_repo_paths.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARDS = sorted((ROOT / "models").glob("*/MODEL_CARD.md"))
FILE = r"[\w.-]+\.(?:tflite|onnx|pt|json|toml|md|cc|h|npz|py)"
PATH = re.compile(rf"(?<![\w./<>-])((?:[\w.-]+/)*{FILE})(?![\w/])")
FENCE = re.compile(r"```.*?```", re.S)  # commands to run, not files the repository holds


def _prose(text: str) -> str:
    return FENCE.sub("", text)


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.parent.name)
def test_every_path_a_card_names_exists(card: Path) -> None:
    """A path with a folder is from the repository root; a bare file name is beside the card or in the same
    model's export/ folder."""
    places = (ROOT, card.parent, *(ROOT / "export").iterdir())
    missing = [p for p in PATH.findall(_prose(card.read_text()))
               if not any((place / p).exists() for place in (places if "/" not in p else (ROOT,)))]
    assert not missing, f"{card.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_every_export_or_releases_path_the_readme_names_exists() -> None:
    named = re.findall(r"(?<![\w/.-])((?:export|releases)/[\w./-]*[\w])", _prose((ROOT / "README.md").read_text()))
    missing = [p for p in named if not p.startswith("export/compression") and not (ROOT / p).exists()]
    assert not missing, f"README.md names paths that do not exist: {missing}"


def test_the_path_patterns_find_what_they_should() -> None:
    text = "see runs/bench/a/fastgrnn_step_int8.tflite and `metrics.json`; (export/x/y.tflite) v2.1.0 e.g. a.b"
    assert PATH.findall(text) == ["runs/bench/a/fastgrnn_step_int8.tflite", "metrics.json", "export/x/y.tflite"]
