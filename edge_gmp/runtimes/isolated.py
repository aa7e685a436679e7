"""Native runtime work on files the project did not write, in a child process.

TFLite Micro and LiteRT parse flatbuffers in C++ without a verifier. The structural check in
:mod:`edge_gmp.runtimes.tflite_file` refuses the broken files we know of; anything that still crashes the
native library kills only the child, and the caller gets one clear error instead of a dead process.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from edge_gmp.errors import UserError

T = TypeVar("T")


class RuntimeCrashed(UserError):
    """The native runtime died on the model (a signal, or the child exited without an answer)."""


def _child(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        conn.send(("ok", fn(*args, **kwargs)))
    except UserError as exc:
        conn.send(("user", str(exc)))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it there
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _context() -> Any:
    # fork: the child inherits what the parent loaded (registered datasets, test data) without pickling it
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_isolated(fn: Callable[..., T], *args: Any, runtime: str = "TFLite Micro", **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a child process; its result, its UserError re-raised here with the same
    message, or :class:`RuntimeCrashed` naming ``runtime`` when the child dies."""
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, fn, args, kwargs), daemon=True)
    child.start()
    sender.close()
    try:
        kind, payload = receiver.recv()  # before join: a large result would block the child's send
    except EOFError:
        kind, payload = None, None
    finally:
        receiver.close()
    child.join()
    if kind == "ok":
        return payload
    if kind == "user":
        raise UserError(payload)
    if kind == "error":
        raise RuntimeError(f"the {runtime} check failed in its child process:\n{payload}")
    code = child.exitcode
    how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
    raise RuntimeCrashed(f"the {runtime} runtime crashed on this model ({how}); the file is probably corrupt "
                         "or hostile in a way the structural check does not catch")
