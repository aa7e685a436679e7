"""The firmware drop-in (edge_gmp/export/bundle.py, ``write_deliverable``): the device file ships under the
symbol's name, and the manifest names it so (its digest and ``device_file.file``), with the extra files beside."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from edge_gmp.export.bundle import write_deliverable

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "fastgrnn_step_int8.tflite"


def test_the_manifest_names_the_files_as_shipped(tmp_path: Path) -> None:
    source = shutil.copy2(FIXTURE, tmp_path / "step_int8_compressed.tflite")
    dense = shutil.copy2(FIXTURE, tmp_path / "step_int8.tflite")
    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    manifest = {"device_file": {"file": "step_int8_compressed.tflite", "dense_file": "step_int8.tflite"},
                "sha256": {"step_int8_compressed.tflite": digest, "step_int8.tflite": digest}}
    paths = write_deliverable(source, tmp_path / "out", "my_model", manifest, extra=[Path(dense)])
    written = json.loads(paths["manifest"].read_text())
    assert written["device_file"] == {"file": "my_model.tflite", "dense_file": "step_int8.tflite"}
    assert written["files"] == {"tflite": "my_model.tflite", "c_source": "my_model.cc", "c_header": "my_model.h",
                                "extra_0": "step_int8.tflite"}
    assert set(written["sha256"]) == {"my_model.tflite", "step_int8.tflite"}
    for name in (*written["files"].values(), *written["sha256"]):
        assert (tmp_path / "out" / name).is_file(), name
