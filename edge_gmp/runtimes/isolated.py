"""Native runtime work in a forked child process.

TFLite Micro and LiteRT parse flatbuffers in C++ without a verifier, and TFLite Micro can crash on valid
models too (a kernel's Prepare failing in an arena a few bytes too small leaves temporary buffers behind, and
the interpreter then dies). The structural check in :mod:`edge_gmp.tflite` refuses the broken
files we know of; anything that still kills the native library kills only the child, and the caller gets one
clear error instead of a dead process.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from edge_gmp.errors import UserError

T = TypeVar("T")


class RuntimeCrashed(UserError):
    """The native runtime died on the model (a signal, or the child exited without an answer)."""


def _answer(fn: Callable[..., Any], args: tuple, kwargs: dict) -> bytes:
    try:
        return pickle.dumps(("ok", fn(*args, **kwargs)))
    except UserError as exc:
        try:
            return pickle.dumps(("raise", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle still gets its message across
            return pickle.dumps(("raise", UserError(str(exc))))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it there
        return pickle.dumps(("error", traceback.format_exc()))


def _run_child(write_fd: int, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    code = 0
    faulthandler.disable()  # a crash here is the expected, handled outcome: no traceback dump on stderr
    try:
        payload = _answer(fn, args, kwargs)
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
    except BaseException:  # noqa: BLE001 - the child must never return into the parent's code
        code = 70
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run_isolated(fn: Callable[..., T], *args: Any, runtime: str = "TFLite Micro", **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a forked child; its result, the UserError it raised (re-raised here), or
    :class:`RuntimeCrashed` naming ``runtime`` when the child dies. Where the platform cannot fork, ``fn`` runs
    in this process."""
    if not hasattr(os, "fork"):
        return fn(*args, **kwargs)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _run_child(write_fd, fn, args, kwargs)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        payload = pipe.read()  # before waiting: a large answer would block the child's write
    _, status = os.waitpid(pid, 0)
    if payload:
        kind, value = pickle.loads(payload)
        if kind == "ok":
            return value
        if kind == "raise":
            raise value
        raise RuntimeError(f"the {runtime} check failed in its child process:\n{value}")
    how = (f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
           else f"exit status {os.waitstatus_to_exitcode(status)}")
    raise RuntimeCrashed(f"the {runtime} runtime crashed on this model ({how})")
