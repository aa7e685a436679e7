"""Shared fixtures: one full HAPT reconstruction per session, in a private cache directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_gmp.data import HarData, load_har2

# every checkout and CI run has ../shared beside the project root
OFFICIAL_LABELS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "uci-har" / \
    "uci_har_official_labels.npz"


@pytest.fixture(scope="session")
def har_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge_gmp_cache")


@pytest.fixture(scope="session")
def har(har_cache_dir: Path) -> HarData:
    """HAR-2 rebuilt from the HAPT recordings (the default offline source), built once."""
    return load_har2(source="hapt", cache_dir=har_cache_dir)


@pytest.fixture(scope="session")
def official_npz() -> Path:
    if not OFFICIAL_LABELS.is_file():
        pytest.skip(f"official labels not found at {OFFICIAL_LABELS}")
    return OFFICIAL_LABELS


@pytest.fixture(scope="session")
def official(official_npz: Path) -> dict[str, np.ndarray]:
    with np.load(official_npz) as npz:
        return {key: np.asarray(npz[key]) for key in ("y_train", "subject_train", "y_test", "subject_test")}
