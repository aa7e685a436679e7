"""Tar archives read safely in one pass (no extraction), and file checksums, for the CIFAR-10 readers."""

from __future__ import annotations

import hashlib
import os
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from edge_gmp.errors import DataError

Parts = tuple[str, ...]  # a member's path components, e.g. ("train", "cat", "0001.jpg")
# a damaged archive raises any of these (gzip.BadGzipFile is an OSError; a cut-off stream an EOFError)
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)


def file_digests(path: str | os.PathLike, *algorithms: str) -> tuple[str, ...]:
    """Hex digests of ``path`` for each hashlib algorithm name, computed in one read."""
    hashes = [hashlib.new(name, usedforsecurity=False) for name in algorithms]
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            for digest in hashes:
                digest.update(block)
    return tuple(digest.hexdigest() for digest in hashes)


def member_parts(member: tarfile.TarInfo, archive: Path) -> Parts:
    """Path components of a regular file or folder member; a ``DataError`` for anything unsafe."""
    parts = PurePosixPath(member.name).parts
    if member.name.startswith(("/", "\\")) or ".." in parts:
        raise DataError(f"unsafe member {member.name!r} in {archive}: absolute paths and '..' are not allowed; "
                        f"rebuild the archive with relative paths")
    if not (member.isreg() or member.isdir()):
        kind = "link" if member.issym() or member.islnk() else "device or special file"
        raise DataError(f"unsafe member {member.name!r} in {archive}: a {kind} (only regular files and folders "
                        f"are allowed); rebuild the archive without it")
    return parts


def read_tar(path: Path, wanted: Callable[[Parts], bool]) -> dict[Parts, bytes]:
    """Contents of the wanted regular files of a tar (any compression). Every member is checked, wanted or not;
    members are read in archive order because seeking back in a .gz restarts the decompression."""
    files: dict[Parts, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = member_parts(member, path)
                if member.isreg() and wanted(parts):
                    stream = tar.extractfile(member)
                    assert stream is not None  # always a stream for a regular file
                    files[parts] = stream.read()
            # tarfile ends quietly at a cut-off or garbled header: a complete archive has a zero block there
            tar.fileobj.seek(tar.offset)
            if tar.fileobj.read(tarfile.BLOCKSIZE) != bytes(tarfile.BLOCKSIZE):
                raise DataError(f"{path} is truncated or corrupt (no end-of-archive marker after byte "
                                f"{tar.offset} of the tar); download or build it again")
    except ARCHIVE_ERRORS as exc:
        raise DataError(f"{path} is truncated or corrupt, or not a .tar/.tar.gz archive ({type(exc).__name__}: "
                        f"{exc}); download or build it again") from exc
    return files
