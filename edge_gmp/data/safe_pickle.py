"""Read the old-pandas DataFrame pickle in HAPT.pkl.gz without trusting it.

``pickle.load`` would run whatever callables the file names. Here ``find_class`` allows only numpy's array
reconstruction, a latin-1 ``encode`` and inert stand-ins for the pandas classes, which capture their pickled
state; ``frame_columns`` then rebuilds plain numpy columns from that state. pandas itself is never imported
(current pandas cannot rebuild these 2019-era BlockManagers anyway).
"""

from __future__ import annotations

import codecs
import pickle
from typing import IO, Any

import numpy as np

from edge_gmp.errors import DataError


class FrameState:
    """Stand-in for ``pandas.DataFrame``: keeps the pickled ``__dict__``."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class ManagerState(FrameState):
    """Stand-in for ``pandas...BlockManager``: keeps ``(axes, values, items, extra)``."""


class IndexMarker:
    """Stand-in for ``pandas.Index`` (only passed to ``_new_Index``)."""


class RangeIndexMarker:
    """Stand-in for ``pandas.RangeIndex``."""


def _reconstructor(cls: type, base: type, state: Any) -> object:
    # copyreg._reconstructor for protocol-2 objects; only our own inert stand-ins may be created
    if cls not in (FrameState, ManagerState) or base is not object or state is not None:
        raise DataError(f"pickle tries to reconstruct {cls!r} from {base!r}: not a DataFrame/BlockManager")
    return object.__new__(cls)


def _new_index(cls: type, d: dict[str, Any]) -> np.ndarray:
    if cls is RangeIndexMarker:
        return np.arange(d["start"], d["stop"], d.get("step", 1))
    if cls is IndexMarker:
        return np.asarray(d["data"])
    raise DataError(f"pickle builds an index of unexpected type {cls!r}")


def _encode_latin1(text: str, encoding: str) -> bytes:
    # protocol 2 stores bytes as latin-1 text and calls _codecs.encode to turn them back
    if encoding != "latin1" or not isinstance(text, str):
        raise DataError(f"pickle calls _codecs.encode with {encoding!r}; only 'latin1' is expected")
    return codecs.encode(text, "latin1")


ALLOWED: dict[tuple[str, str], Any] = {
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("pandas.core.frame", "DataFrame"): FrameState,
    ("pandas.core.internals.managers", "BlockManager"): ManagerState,
    ("pandas.core.indexes.base", "_new_Index"): _new_index,
    ("pandas.core.indexes.base", "Index"): IndexMarker,
    ("pandas.core.indexes.range", "RangeIndex"): RangeIndexMarker,
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _encode_latin1,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "slice"): slice,
    ("builtins", "slice"): slice,
}


class AllowlistUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the globals in ``allowed``; anything else is a ``DataError`` whose
    message ends with ``refusal``."""

    allowed: dict[tuple[str, str], Any] = {}
    refusal = "not on the allowlist"

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise DataError(f"refusing to unpickle {module}.{name}: {self.refusal}") from None


class RestrictedUnpickler(AllowlistUnpickler):
    """The HAPT reader's unpickler: numpy arrays and inert pandas stand-ins only."""

    allowed = ALLOWED
    refusal = "not on the allowlist of the HAPT reader (the file is not the expected DataFrame pickle)"


def load_restricted(file: IO[bytes]) -> Any:
    """Unpickle ``file`` with ``RestrictedUnpickler``; any failure becomes a ``DataError``."""
    try:
        return RestrictedUnpickler(file, fix_imports=False).load()
    except DataError:
        raise
    except Exception as exc:  # truncated/garbled streams raise many types (EOFError, UnpicklingError, ...)
        raise DataError(f"cannot read the pickle: {type(exc).__name__}: {exc}") from exc


def frame_columns(frame: Any) -> dict[str, np.ndarray]:
    """Column name -> 1-D array from an unpickled ``FrameState`` (pandas 0.14.1+ BlockManager state)."""
    if not isinstance(frame, FrameState) or not isinstance(frame.state, dict) \
            or not isinstance(frame.state.get("_data"), ManagerState):
        raise DataError("unexpected object in the pickle where a DataFrame was expected")
    try:
        axes_and_blocks = frame.state["_data"].state[3]["0.14.1"]
        columns = [str(c) for c in axes_and_blocks["axes"][0]]
        out: dict[str, np.ndarray] = {}
        for block in axes_and_blocks["blocks"]:
            locs = block["mgr_locs"]
            positions = range(*locs.indices(len(columns))) if isinstance(locs, slice) else list(locs)
            values = np.asarray(block["values"])
            if values.ndim != 2 or values.shape[0] != len(positions):
                raise ValueError(f"block of shape {values.shape} for {len(positions)} columns")
            for position, row in zip(positions, values, strict=True):
                out[columns[position]] = row
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"unexpected DataFrame layout in the pickle: {type(exc).__name__}: {exc}") from exc
    return out
