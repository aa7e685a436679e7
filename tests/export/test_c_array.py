from __future__ import annotations

import os

import pytest

from edge_gmp.errors import UserError
from edge_gmp.export import read_c_array, write_c_array


def test_round_trip_identical_bytes(tmp_path):
    data = os.urandom(1000) + bytes(range(256)) + b"\x00" * 7
    src = tmp_path / "model.tflite"
    src.write_bytes(data)
    c_path, h_path = write_c_array(src, tmp_path / "out", "g_model")
    assert (c_path.name, h_path.name) == ("g_model.cc", "g_model.h")
    assert read_c_array(c_path) == data
    cc, hh = c_path.read_text(), h_path.read_text()
    assert "alignas(16) const unsigned char g_model[] = {" in cc
    assert f"const unsigned int g_model_len = {len(data)};" in cc
    assert '#include "g_model.h"' in cc
    assert "extern const unsigned char g_model[];" in hh and "extern const unsigned int g_model_len;" in hh
    assert hh.startswith("#ifndef EDGE_GMP_G_MODEL_H_\n#define EDGE_GMP_G_MODEL_H_")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["g_model.cc", "g_model.h"]


@pytest.mark.parametrize("symbol", ["", "1model", "my-model", "model.tflite", "int", "a b", "ünï"])
def test_bad_symbol_is_user_error(tmp_path, symbol):
    src = tmp_path / "m.tflite"
    src.write_bytes(b"\x01\x02")
    with pytest.raises(UserError):
        write_c_array(src, tmp_path / "out", symbol)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_read_rejects_length_mismatch(tmp_path):
    src = tmp_path / "m.tflite"
    src.write_bytes(b"\x01\x02\x03")
    c_path, _ = write_c_array(src, tmp_path, "m")
    c_path.write_text(c_path.read_text().replace("m_len = 3", "m_len = 4"))
    with pytest.raises(UserError):
        read_c_array(c_path)
    (tmp_path / "x.cc").write_text("int main() {}")
    with pytest.raises(UserError):
        read_c_array(tmp_path / "x.cc")
