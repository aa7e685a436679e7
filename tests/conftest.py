"""Session fixtures shared by every test folder: one HAR-2 reconstruction and one decoded CIFAR-10 (the offline
JPEG copy in ../shared), each in a private cache that subprocesses reach through EDGE_GMP_CACHE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge_gmp.data import HarData, load_cifar10, load_har2

# The test models are tiny: a second thread buys nothing and, on a loaded 2-core machine, costs 10x
# (threads wait on each other in every op).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def har_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge_gmp_cache")


@pytest.fixture(scope="session")
def har(har_cache_dir: Path) -> HarData:
    """HAR-2 rebuilt from the HAPT recordings (the default offline source), built once."""
    return load_har2(source="hapt", cache_dir=har_cache_dir)


# every checkout and CI run has ../shared beside the project root
SHARED_CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"


@pytest.fixture(scope="session")
def cifar_archive() -> Path:
    if not SHARED_CIFAR.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {SHARED_CIFAR}")
    return SHARED_CIFAR


@pytest.fixture(scope="session")
def cifar_cache_dir(cifar_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the decoded archive (decoded once per test session)."""
    cache_dir = tmp_path_factory.mktemp("cifar_cache")
    load_cifar10("folder", cifar_archive, cache_dir=cache_dir)
    return cache_dir
