"""Session fixtures shared by every test folder: one HAR-2 reconstruction in a private cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_gmp.data import HarData, load_har2


@pytest.fixture(scope="session")
def har_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge_gmp_cache")


@pytest.fixture(scope="session")
def har(har_cache_dir: Path) -> HarData:
    """HAR-2 rebuilt from the HAPT recordings (the default offline source), built once."""
    return load_har2(source="hapt", cache_dir=har_cache_dir)
