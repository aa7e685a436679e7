"""Fixtures for the data tests: the official UCI HAR labels shipped in ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# every checkout and CI run has ../shared beside the project root
OFFICIAL_LABELS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "uci-har" / \
    "uci_har_official_labels.npz"


@pytest.fixture(scope="session")
def official_npz() -> Path:
    if not OFFICIAL_LABELS.is_file():
        pytest.skip(f"official labels not found at {OFFICIAL_LABELS}")
    return OFFICIAL_LABELS


@pytest.fixture(scope="session")
def official(official_npz: Path) -> dict[str, np.ndarray]:
    with np.load(official_npz) as npz:
        return {key: np.asarray(npz[key]) for key in ("y_train", "subject_train", "y_test", "subject_test")}
