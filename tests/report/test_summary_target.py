"""The closing summary and the card give the emulated firmware image a row: flash, RAM, estimated latency."""

import copy
import json
import tomllib
from pathlib import Path

from edge_gmp.report.summary import model_card, summary_text

ROOT = Path(__file__).resolve().parents[2]


def _metrics() -> dict:
    return json.loads((ROOT / "models" / "fastgrnn" / "metrics.json").read_text())


def test_the_image_row_has_flash_ram_and_estimated_latency() -> None:
    metrics = _metrics()
    t = metrics["target"]
    row = next(line for line in summary_text(metrics).splitlines() if line.startswith("compiled C image"))
    assert f"{t['flash_bytes']:,}" in row and f"{t['ram_bytes']:,}" in row
    assert f"{t['ms_estimate']:.1f} ms est." in row and t["core"] in row and " ok " in row
    config = tomllib.loads((ROOT / "models" / "fastgrnn" / "config.toml").read_text())
    card_row = next(line for line in model_card(metrics, config, "x").splitlines() if "compiled C image" in line)
    assert card_row.count("|") == 12  # the card's 11 columns


def test_an_image_that_differs_is_marked_and_gets_no_accuracy() -> None:
    metrics = copy.deepcopy(_metrics())
    metrics["target"]["identical_to_host"]["identical"] = False
    row = next(line for line in summary_text(metrics).splitlines() if line.startswith("compiled C image"))
    assert "DIFFERENT" in row and "%" not in row


def test_no_image_no_row() -> None:
    metrics = _metrics()
    del metrics["target"]
    assert "compiled C image" not in summary_text(metrics)
