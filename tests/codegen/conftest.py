"""The committed device files of the released models (export/<preset>/) as generator inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _first(folder: Path, *names: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"no device file in {folder}")


@pytest.fixture(scope="session")
def fastgrnn_device_file() -> Path:
    return _first(ROOT / "export" / "fastgrnn-har2", "fastgrnn_har2.tflite")


@pytest.fixture(scope="session")
def mobilenet_device_file() -> Path:
    """TFLM_DECODE-compressed."""
    return _first(ROOT / "export" / "mobilenetv1-cifar10-distilled", "mobilenetv1_cifar10_distilled.tflite")


@pytest.fixture(scope="session")
def mobilenet_dense_file() -> Path:
    return _first(ROOT / "export" / "mobilenetv1-cifar10-distilled", "classifier_int8.tflite")
