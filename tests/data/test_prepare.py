"""prepare_data: model-ready tensors, held-out validation, statistics from training data only, subsets."""

from __future__ import annotations

import numpy as np
import pytest

from edge_gmp.config import DataConfig
from edge_gmp.data.datasets.har2 import CLASSES as HAR2_CLASSES
from edge_gmp.data.prepare import prepare_data
from edge_gmp.errors import ConfigError


def test_har2_tensors_and_classes(har, har_cache_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    data = prepare_data(DataConfig(), seed=0)
    assert data.x_train.shape[1:] == (128, 9) and data.x_test.shape[0] == len(har.y_test)
    assert data.counts["train"] + data.counts["val"] == len(har.y_train)
    train_mean = data.x_train.numpy().reshape(-1, 9).mean(0)
    assert np.abs(train_mean).max() < 1e-3  # normalised with the training statistics
    assert data.augment is None
    assert HAR2_CLASSES == ("walking/walking_downstairs/standing", "walking_upstairs/sitting/laying")


def test_limits_take_seeded_subsets(har, har_cache_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    a = prepare_data(DataConfig(train_limit=300, test_limit=200), seed=0)
    b = prepare_data(DataConfig(train_limit=300, test_limit=200), seed=0)
    assert a.counts["train"] == 300 and a.counts["test"] == 200
    assert np.array_equal(a.x_train.numpy(), b.x_train.numpy())
    assert len(set(a.y_test.tolist())) == 2  # a random subset, not the first subject's windows


@pytest.mark.parametrize("bad", [
    {"dataset": "mnist"}, {"source": "folder"}, {"dataset": "cifar10"}, {"train_limit": 0},
    {"dataset": "cifar10", "path": "x", "options": {"val_images": 0}}, {"options": {"val_images": 10}},
    {"options": {"val_subjects": 2.5}}, {"train_limit": 2.5}, {"download": "yes"},
])
def test_bad_data_config(bad: dict) -> None:
    with pytest.raises(ConfigError):
        DataConfig(**bad)


def test_download_implies_the_official_source() -> None:
    assert DataConfig(download=True).source == "uci"
    assert DataConfig(dataset="cifar10", download=True).source == "official"
    assert DataConfig(dataset="cifar10", path="x").source == "folder"
