"""Capture what native code (TFLite Micro's MicroPrintf) writes to file descriptors 1 and 2."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_LIBC = ctypes.CDLL(None)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    _LIBC.fflush(None)


@dataclass
class Captured:
    """What native code wrote while captured (filled in when the ``with`` block ends)."""

    text: str = ""


@contextlib.contextmanager
def capture_native_output() -> Iterator[Captured]:
    """Redirect fds 1 and 2 to a temp file for the block; the text is in the yielded object afterwards."""
    cap = Captured()
    _flush()
    with tempfile.TemporaryFile() as tmp:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            yield cap
        finally:
            _flush()
            for fd, old in zip((1, 2), saved, strict=True):
                os.dup2(old, fd)
                os.close(old)
            tmp.seek(0)
            cap.text = tmp.read().decode("utf-8", "replace")


def import_tensorflow() -> Any:
    """TensorFlow, imported with what its C++ side prints at start-up (absl's pre-init notice, CUDA/cuDNN factory
    registrations, XLA placer warnings on a CPU machine) captured instead of shown; kept in ``IMPORT_LOG``."""
    global IMPORT_LOG
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with capture_native_output() as cap:
        import tensorflow
    IMPORT_LOG = cap.text
    return tensorflow


IMPORT_LOG = ""
