"""Boards and device files for the target tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from edge_gmp.verify.devices import find_device

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def fastgrnn_device_file() -> Path:
    return ROOT / "export" / "fastgrnn-har2" / "fastgrnn_har2.tflite"


@pytest.fixture(scope="session")
def mobilenet_device_file() -> Path:
    return ROOT / "export" / "mobilenetv1-cifar10-distilled" / "mobilenetv1_cifar10_distilled.tflite"


@pytest.fixture(scope="session")
def nano():
    return find_device("nano33ble")


@pytest.fixture(scope="session")
def tiny_board(nano):
    """The Nano's core with 8 KB of flash and 2 KB of RAM."""
    return replace(nano, id="tiny", name="Tiny", target=replace(nano.target, flash_bytes=8192, ram_bytes=2048))
