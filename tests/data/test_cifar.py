"""CIFAR-10 image folders: the shared JPEG archive (decoded once per session), and small synthetic folders and
archives for the layout rules, the cache and bad input."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_gmp.data import CIFAR10_CLASSES, ImageData, cifar, cifar_archive, cifar_folder, load_cifar10
from edge_gmp.errors import DataError

# every checkout and CI run has ../shared beside the project root
SHARED_ARCHIVE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"
SHARED_SHA256 = "b8064bfae058ced272f37ae0d7bb675ed74e5b6071c06dfd0e4e8ff12d1cf1de"  # ../shared/.../SHA256SUMS
PER_CLASS = {"train": 2, "test": 1}


@dataclass
class Decoded:
    data: ImageData
    cache_dir: Path
    seconds: float


@pytest.fixture(scope="session")
def shared_cifar(tmp_path_factory: pytest.TempPathFactory) -> Decoded:
    """The shared archive decoded once, into a private cache."""
    if not SHARED_ARCHIVE.is_file():
        pytest.skip(f"CIFAR-10 JPEG archive not found at {SHARED_ARCHIVE}")
    cache_dir = tmp_path_factory.mktemp("cifar_cache")
    start = time.perf_counter()
    data = load_cifar10("folder", SHARED_ARCHIVE, cache_dir=cache_dir)
    return Decoded(data, cache_dir, time.perf_counter() - start)


def _shared_members(*names: str) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    with tarfile.open(SHARED_ARCHIVE) as tar:
        for member in tar:
            if member.name in names:
                found[member.name] = np.asarray(Image.open(tar.extractfile(member)).convert("RGB"))
                if len(found) == len(names):
                    return found
    raise AssertionError(f"{names} not all in {SHARED_ARCHIVE}")


def test_shared_archive(shared_cifar: Decoded) -> None:
    data = shared_cifar.data
    assert data.x_train.shape == (50000, 32, 32, 3) and data.x_test.shape == (10000, 32, 32, 3)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
    assert data.classes == CIFAR10_CLASSES == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                               "horse", "ship", "truck")
    np.testing.assert_array_equal(np.bincount(data.y_train, minlength=10), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(data.y_test, minlength=10), [1000] * 10)
    np.testing.assert_array_equal(data.y_train, np.repeat(np.arange(10), 5000))  # class, then file-name order
    assert (data.source, data.source_sha256) == ("folder", SHARED_SHA256)
    images = _shared_members("test/airplane/0000.jpg", "test/airplane/0001.jpg", "train/airplane/0000.jpg")
    np.testing.assert_array_equal(data.x_test[0], images["test/airplane/0000.jpg"])
    np.testing.assert_array_equal(data.x_test[1], images["test/airplane/0001.jpg"])
    np.testing.assert_array_equal(data.x_train[0], images["train/airplane/0000.jpg"])


def test_shared_archive_reload_uses_cache(shared_cifar: Decoded, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(cifar_folder, "decode_folder", no_decoding)
    monkeypatch.setattr(cifar_folder, "read_tar", no_decoding)
    start = time.perf_counter()
    again = load_cifar10("folder", SHARED_ARCHIVE, cache_dir=shared_cifar.cache_dir)
    seconds = time.perf_counter() - start
    print(f"\nshared CIFAR-10 archive: decoded in {shared_cifar.seconds:.1f} s, cached reload {seconds:.2f} s")
    assert seconds < shared_cifar.seconds
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, name), getattr(shared_cifar.data, name))
    assert again.source_sha256 == SHARED_SHA256
    assert [p.name for p in shared_cifar.cache_dir.iterdir()] == [f"cifar10-folder-{SHARED_SHA256[:16]}-v1.npz"]


def _image(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)


def make_folder(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """PNGs in ``root/{train,test}/<class>/``; the arrays a loader must return (class, then name order)."""
    rng = np.random.default_rng(seed)
    expected: dict[str, np.ndarray] = {}
    for split, count in PER_CLASS.items():
        images = []
        for name in CIFAR10_CLASSES:
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                images.append(_image(rng))
                Image.fromarray(images[-1]).save(root / split / name / f"{i:02d}.png")
        expected[f"x_{split}"] = np.stack(images)
        expected[f"y_{split}"] = np.repeat(np.arange(10), count)
    return expected


def make_tar(root: Path, target: Path, top: str | None = None) -> Path:
    """``root``'s files as a tar (gzip if ``.gz``), added in reverse name order, optionally under ``top``."""
    with tarfile.open(target, "w:gz" if target.suffix in (".gz", ".tgz") else "w") as tar:
        for file in sorted((f for f in root.rglob("*") if f.is_file()), reverse=True):
            relative = file.relative_to(root).as_posix()
            tar.add(file, f"{top}/{relative}" if top else relative)
    return target


def _check(data: ImageData, expected: dict[str, np.ndarray]) -> None:
    assert data.classes == CIFAR10_CLASSES and data.source == "folder" and len(data.source_sha256) == 64
    for name, array in expected.items():
        got = getattr(data, name)
        assert got.dtype == (np.uint8 if name.startswith("x") else np.int64)
        np.testing.assert_array_equal(got, array)


def _nothing_cached(cache_dir: Path) -> bool:
    return not any(p.is_file() for p in cache_dir.rglob("*"))


def test_directory_and_archives_agree(tmp_path: Path) -> None:
    expected = make_folder(tmp_path / "wrap" / "cifar")
    root = tmp_path / "wrap" / "cifar"
    cache_dir = tmp_path / "cache"
    from_dir = load_cifar10("folder", root, cache_dir=cache_dir)
    _check(from_dir, expected)
    assert load_cifar10("folder", tmp_path / "wrap", cache_dir=cache_dir).source_sha256 == from_dir.source_sha256
    for archive, top in [("a.tar.gz", None), ("b.tar", "cifar"), ("c.tgz", "CIFAR-10-images")]:
        path = make_tar(root, tmp_path / archive, top)
        data = load_cifar10("folder", str(path), cache_dir=cache_dir)
        _check(data, expected)
        assert data.source_sha256 == cifar_archive.file_digests(path, "sha256")[0]


def test_modes_converted_and_junk_ignored(tmp_path: Path) -> None:
    expected = make_folder(tmp_path / "src")
    gray = np.arange(1024, dtype=np.uint16).reshape(32, 32) % 256
    Image.fromarray(gray.astype(np.uint8)).save(tmp_path / "src" / "train" / "cat" / "00.png")
    rgba = np.dstack([expected["x_train"][7], np.full((32, 32), 17, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "src" / "train" / "cat" / "01.png")
    (tmp_path / "src" / "train" / "cat" / ".DS_Store").write_bytes(b"\0junk")
    (tmp_path / "src" / "README.txt").write_text("beside train/ and test/: ignored")
    data = load_cifar10("folder", tmp_path / "src", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(data.x_train[6], np.repeat(gray[:, :, None], 3, axis=2))  # grayscale -> RGB
    np.testing.assert_array_equal(data.x_train[7], expected["x_train"][7])  # alpha dropped
    np.testing.assert_array_equal(data.y_train, expected["y_train"])


def test_directory_cache_follows_content(tmp_path: Path) -> None:
    expected = make_folder(tmp_path / "src")
    cache_dir = tmp_path / "cache"
    first = load_cifar10("folder", tmp_path / "src", cache_dir=cache_dir)
    replacement = 255 - expected["x_test"][3]
    Image.fromarray(replacement).save(tmp_path / "src" / "test" / "cat" / "00.png")
    second = load_cifar10("folder", tmp_path / "src", cache_dir=cache_dir)
    assert second.source_sha256 != first.source_sha256
    np.testing.assert_array_equal(second.x_test[3], replacement)
    assert len(list(cache_dir.glob("cifar10-folder-*.npz"))) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-arrays"])
def test_corrupt_cache_is_rebuilt_silently(tmp_path: Path, damage: str) -> None:
    expected = make_folder(tmp_path / "src")
    archive = make_tar(tmp_path / "src", tmp_path / "cifar.tar.gz")
    cache_dir = tmp_path / "cache"
    digest = load_cifar10("folder", archive, cache_dir=cache_dir).source_sha256
    cached = cifar.cache_path(cache_dir, "folder", digest)
    good = cached.read_bytes()
    if damage == "garbage":
        cached.write_bytes(b"not an npz")
    elif damage == "truncated":
        cached.write_bytes(good[: len(good) // 2])
    else:  # a readable npz whose arrays do not fit together
        np.savez(cached, x_train=np.zeros((2, 32, 32, 3), np.uint8), y_train=np.zeros(3, np.int64),
                 x_test=np.zeros((1, 32, 32, 3), np.uint8), y_test=np.zeros(1, np.int64),
                 classes=np.array(CIFAR10_CLASSES), source=np.str_("folder"), source_sha256=np.str_(digest),
                 code_version=np.int64(cifar.CODE_VERSION))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check(load_cifar10("folder", archive, cache_dir=cache_dir), expected)
    assert cached.read_bytes() != b"not an npz" and cifar._load(cached, "folder", digest) is not None
    assert [p.name for p in cache_dir.iterdir()] == [cached.name]  # no temporary files left behind


def _write_png(path: Path, size: tuple[int, int] = (32, 32)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 20, 30)).save(path)


def _cut_file(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


BAD_FOLDERS = {  # name -> (damage to a valid folder, message)
    "missing-class": (lambda root: shutil.rmtree(root / "test" / "cat"), "missing or empty: cat$"),
    "extra-class": (lambda root: _write_png(root / "train" / "kitten" / "00.png"), "images; unexpected: kitten$"),
    "non-image": (lambda root: (root / "train" / "dog" / "notes.txt").write_text("x"),
                  "train/dog/notes.txt is not an image"),
    "undecodable": (lambda root: (root / "test" / "ship" / "00.png").write_bytes(b"\x89PNG broken"),
                    "test/ship/00.png is not a PNG or JPEG image"),
    "cut-image": (lambda root: _cut_file(root / "train" / "bird" / "01.png"), "bird/01.png cannot be decoded"),
    "wrong-size": (lambda root: _write_png(root / "train" / "frog" / "00.png", (31, 32)), "00.png is 31x32 pixels"),
    "outside-class": (lambda root: _write_png(root / "train" / "stray.png"), "train/stray.png is not directly"),
    "no-test-split": (lambda root: shutil.rmtree(root / "test") or (root / "test").mkdir(), "no images under test/"),
}


@pytest.mark.parametrize("as_archive", [False, True])
@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_bad_folder(tmp_path: Path, case: str, as_archive: bool) -> None:
    root = tmp_path / "src"
    make_folder(root)
    damage, message = BAD_FOLDERS[case]
    damage(root)
    source = make_tar(root, tmp_path / "cifar.tar.gz") if as_archive else root
    with pytest.raises(DataError, match=message):
        load_cifar10("folder", source, cache_dir=tmp_path / "cache")
    assert _nothing_cached(tmp_path / "cache")


def test_bad_arguments(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match="does not exist"):
        load_cifar10("folder", tmp_path / "missing", cache_dir=cache_dir)
    with pytest.raises(DataError, match="needs --data-path"):
        load_cifar10("folder", cache_dir=cache_dir)
    with pytest.raises(DataError, match="--download applies to --source official"):
        load_cifar10("folder", tmp_path, download=True, cache_dir=cache_dir)
    with pytest.raises(DataError, match="no train/ and test/ folders"):
        load_cifar10("folder", tmp_path, cache_dir=cache_dir)
    with pytest.raises(DataError, match="unknown CIFAR-10 source"):
        load_cifar10("cifar100", cache_dir=cache_dir)
    assert _nothing_cached(cache_dir)


def _add(tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"",
         link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data) if kind == tarfile.REGTYPE else 0, link
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


UNSAFE = {
    "dotdot": ("train/cat/../../../evil.png", tarfile.REGTYPE, ""),
    "absolute": ("/tmp/evil.png", tarfile.REGTYPE, ""),
    "symlink": ("train/cat/99.png", tarfile.SYMTYPE, "/etc/passwd"),
    "hardlink": ("train/cat/99.png", tarfile.LNKTYPE, "train/cat/00.png"),
    "device": ("train/cat/99.png", tarfile.CHRTYPE, ""),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_member(tmp_path: Path, case: str) -> None:
    make_folder(tmp_path / "src")
    archive = make_tar(tmp_path / "src", tmp_path / "cifar.tar")
    with tarfile.open(archive, "a") as tar:
        name, kind, link = UNSAFE[case]
        _add(tar, name, kind, b"\x89PNG", link)
    with pytest.raises(DataError, match=f"unsafe member '{name}'"):
        load_cifar10("folder", archive, cache_dir=tmp_path / "cache")
    assert _nothing_cached(tmp_path / "cache")


def _cut(plain: bytes, last: tarfile.TarInfo, cut: str) -> bytes:
    if cut == "gzip-stream":
        return gzip.compress(plain)[: len(gzip.compress(plain)) // 2]
    size = {"half": len(plain) // 2, "mid-member": last.offset_data + 10, "member-boundary": last.offset}[cut]
    return plain[:size]


@pytest.mark.parametrize(("cut", "compress"), [(cut, compress) for cut in ("half", "mid-member", "member-boundary")
                                                for compress in (False, True)] + [("gzip-stream", True)])
def test_truncated_archive(tmp_path: Path, cut: str, compress: bool) -> None:
    make_folder(tmp_path / "src")
    plain = make_tar(tmp_path / "src", tmp_path / "plain.tar")
    with tarfile.open(plain) as tar:
        last = tar.getmembers()[-1]
    body = _cut(plain.read_bytes(), last, cut)
    path = tmp_path / ("cifar.tar.gz" if compress else "cifar.tar")
    path.write_bytes(gzip.compress(body) if compress and cut != "gzip-stream" else body)
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_cifar10("folder", path, cache_dir=tmp_path / "cache")
    assert _nothing_cached(tmp_path / "cache")


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "cifar.tar.gz").write_bytes(b"hello, not a tar")
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_cifar10("folder", tmp_path / "cifar.tar.gz", cache_dir=tmp_path / "cache")
