"""The device deliverable's manifest names every file by the name it has in the deliverable folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge_gmp.export.bundle import manifest_file_names, write_deliverable
from edge_gmp.workflow.deployment import _manifest
from edge_gmp.workflow.device_file import DeviceFile

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "fastgrnn_step_int8.tflite"


def _device(tmp_path: Path, compressed: bool) -> DeviceFile:
    dense = tmp_path / "fastgrnn_step_int8.tflite"
    shutil.copy(FIXTURE, dense)
    if not compressed:
        return DeviceFile(dense, dense, 1000)
    small = dense.with_name("fastgrnn_step_int8_compressed.tflite")
    small.write_bytes(dense.read_bytes()[: len(dense.read_bytes()) // 2])
    return DeviceFile(small, dense, 1000)


def _manifest_for(device: DeviceFile) -> dict:
    record = SimpleNamespace(dataset="har2", classes=["a", "b"], prunable_parameters=100, sparsity=0.8,
                             pruned_test_accuracy=0.9, samples={"test": 10}, normalization={"mean": [0], "std": [1]})
    bundle = SimpleNamespace(device_artifact=lambda: SimpleNamespace(inputs=[], outputs=[]),
                             graph_description="step", usage="feed it", device_kind="int8")
    check = SimpleNamespace(arena_note="", candidate=SimpleNamespace(precision="int8"), runtimes=[])
    budget = {"ok": True, "rows": [], "artifact": f"{device.path.name} on TFLite Micro"}
    return _manifest(record, bundle, device, check, budget, "fastgrnn-har2", "fastgrnn_har2.tflite")


@pytest.mark.parametrize("compressed", [True, False], ids=["compressed", "dense"])
def test_every_file_the_manifest_names_is_in_the_deliverable(tmp_path: Path, compressed: bool) -> None:
    device = _device(tmp_path, compressed)
    extra = [device.dense_path] if compressed else []
    paths = write_deliverable(device.path, tmp_path / "out", "fastgrnn_har2", _manifest_for(device), extra)
    manifest = json.loads(paths["manifest"].read_text())
    held = {p.name for p in (tmp_path / "out").iterdir()}
    assert manifest_file_names(manifest) <= held
    assert manifest["device_file"]["file"] == manifest["files"]["tflite"] == "fastgrnn_har2.tflite"
    assert manifest["budget"]["artifact"].startswith("fastgrnn_har2.tflite on ")
    assert set(manifest["sha256"]) == ({"fastgrnn_har2.tflite", "fastgrnn_step_int8.tflite"} if compressed
                                       else {"fastgrnn_har2.tflite"})


def test_a_manifest_naming_a_file_the_folder_lacks_is_refused_before_writing(tmp_path: Path) -> None:
    device = _device(tmp_path, compressed=True)
    manifest = {**_manifest_for(device), "device_file": {"file": "another_model.tflite"}}
    with pytest.raises(ValueError, match="another_model.tflite"):
        write_deliverable(device.path, tmp_path / "out", "fastgrnn_har2", manifest, [device.dense_path])
    assert not (tmp_path / "out").exists()
