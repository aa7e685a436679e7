"""CIFAR-10 as an image folder ``<root>/{train,test}/<class>/*.{png,jpg,jpeg}``: a directory, or a ``.tar`` /
``.tar.gz`` read in place; in both the layout may sit under one top-level folder.

Files beside ``train/`` and ``test/`` and hidden files (``.DS_Store``, ``._*``) are ignored. Every image is
decoded with ``convert("RGB")`` (grayscale and palette images are expanded, an alpha channel is dropped) and
must be 32x32: other sizes are rejected, never resized. Within a class, files are taken in name order.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edge_gmp.data.cifar_archive import Parts, read_tar
from edge_gmp.data.uci import sha256_file
from edge_gmp.errors import DataError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SIZE = 32
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


def locate_folder(path: str | os.PathLike) -> Path:
    """The archive, or the directory holding ``train/`` and ``test/`` (``path`` or its only subfolder)."""
    candidate = Path(path).expanduser()
    if not candidate.exists():
        raise DataError(f"{candidate} does not exist: give --data-path a CIFAR-10 image folder or its .tar/.tar.gz")
    if candidate.is_file():
        return candidate
    subfolders = [d for d in candidate.iterdir() if d.is_dir() and not d.name.startswith(".")]
    for root in (candidate, *(subfolders if len(subfolders) == 1 else [])):
        if all((root / split).is_dir() for split in SPLITS):
            return root
    raise DataError(f"no train/ and test/ folders in {candidate}: expected <root>/{{train,test}}/<class>/*.png|jpg")


def _read_directory(root: Path) -> dict[Parts, bytes]:
    files: dict[Parts, bytes] = {}
    for split in SPLITS:
        for folder, dirs, names in os.walk(root / split):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            relative = Path(folder).relative_to(root).parts
            for name in names:
                if name.startswith("."):
                    continue
                try:
                    files[(*relative, name)] = (Path(folder) / name).read_bytes()
                except OSError as exc:
                    raise DataError(f"cannot read {Path(folder) / name}: {exc.strerror or exc}") from exc
    return files


def _dataset_files(files: dict[Parts, bytes]) -> dict[Parts, bytes]:
    """Non-hidden files under train/ and test/, relative to the root (the top, or its only top-level folder)."""
    files = {parts: data for parts, data in files.items() if not any(p.startswith(".") for p in parts)}
    folders = {parts[0] for parts in files if len(parts) > 1}
    if len(folders) == 1 and not folders & set(SPLITS):
        files = {parts[1:]: data for parts, data in files.items() if parts[0] in folders}
    return {parts: data for parts, data in files.items() if parts[0] in SPLITS}


def _digest(files: dict[Parts, bytes]) -> str:
    digest = hashlib.sha256()
    for parts, data in sorted(files.items()):
        digest.update(f"{'/'.join(parts)}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def _decode(data: bytes, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=("PNG", "JPEG")) as image:
            if image.size != (SIZE, SIZE):
                raise DataError(f"{name} is {image.size[0]}x{image.size[1]} pixels; CIFAR-10 images must be "
                                f"{SIZE}x{SIZE} (resize it or remove it)")
            if image.mode in ("I", "F") or image.mode.startswith("I;"):
                raise DataError(f"{name} has {image.mode!r} (16/32-bit) pixels; save it as 8-bit RGB")
            return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    except DataError:
        raise
    except UnidentifiedImageError as exc:
        raise DataError(f"{name} is not a PNG or JPEG image; replace or remove it") from exc
    except Exception as exc:  # PIL raises many types for damaged files (OSError, SyntaxError, ValueError, ...)
        raise DataError(f"{name} cannot be decoded as a PNG/JPEG image ({type(exc).__name__}: {exc}); "
                        f"replace or remove it") from exc


def _split_groups(files: dict[Parts, bytes], where: str) -> dict[str, list[tuple[str, bytes]]]:
    groups: dict[str, dict[str, list[tuple[str, bytes]]]] = {split: {} for split in SPLITS}
    for parts, data in sorted(files.items()):
        name = "/".join(parts)
        if len(parts) != 3:
            raise DataError(f"{where}: {name} is not directly in a <split>/<class>/ folder; move or remove it")
        if not parts[2].lower().endswith(IMAGE_SUFFIXES):
            raise DataError(f"{where}: {name} is not an image ({'/'.join(IMAGE_SUFFIXES)}); remove it")
        groups[parts[0]].setdefault(parts[1], []).append((name, data))
    for split, classes in groups.items():
        if not classes:
            raise DataError(f"{where}: no images under {split}/; expected {split}/<class>/*.png|jpg (optionally "
                            f"under one top-level folder)")
        missing = [c for c in CIFAR10_CLASSES if c not in classes]
        extra = sorted(set(classes) - set(CIFAR10_CLASSES))
        if missing or extra:
            problems = [f"{label}: {', '.join(names)}" for label, names in
                        (("missing or empty", missing), ("unexpected", extra)) if names]
            raise DataError(f"{where}: {split}/ must hold exactly the CIFAR-10 class folders "
                            f"({' '.join(CIFAR10_CLASSES)}), each with images; {'; '.join(problems)}")
    return {split: [item for c in CIFAR10_CLASSES for item in groups[split][c]] for split in SPLITS}


def decode_folder(files: dict[Parts, bytes], where: str) -> Arrays:
    """(x_train, y_train, x_test, y_test) from the files of a located folder, in class then name order."""
    groups = _split_groups(files, where)
    out: list[np.ndarray] = []
    for split in SPLITS:
        x = np.empty((len(groups[split]), SIZE, SIZE, 3), dtype=np.uint8)
        for i, (name, data) in enumerate(groups[split]):
            x[i] = _decode(data, f"{where}: {name}")
        labels = [CIFAR10_CLASSES.index(name.split("/")[1]) for name, _ in groups[split]]
        out += [x, np.asarray(labels, dtype=np.int64)]
    return tuple(out)  # type: ignore[return-value]


def folder_source(path: str | os.PathLike) -> tuple[str, Callable[[], Arrays]]:
    """(cache key, decoder) of an image folder: the archive's SHA-256, or a digest of a directory's files."""
    located = locate_folder(path)
    if located.is_file():
        def decode_archive() -> Arrays:
            return decode_folder(_dataset_files(read_tar(located, lambda parts: True)), str(located))

        return sha256_file(located), decode_archive
    files = _dataset_files(_read_directory(located))
    return _digest(files), lambda: decode_folder(files, str(located))
