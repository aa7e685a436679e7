"""Checkpoints that resume a run bit for bit, and torch files whose bytes depend only on their content.

``torch.save`` to a path writes the file's (temporary) name into the archive, and pickle writes an object
once and then refers to it by identity, so the same content saved from differently shared objects gives
different bytes; saving a fresh canonical copy through memory gives the same bytes for the same content. A
checkpoint also carries every
random number generator (Python, NumPy, torch CPU and CUDA), so a resumed run draws what the uninterrupted
one would have.
"""

from __future__ import annotations

import io
import pickle
import random
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from edge_gmp.atomic import write_bytes_atomic
from edge_gmp.errors import UserError

CHECKPOINT = "checkpoint.pt"


def _canonical(obj: Any) -> Any:
    """A fresh copy in which equal strings are one object and no two tensors share storage."""
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_canonical(v) for v in obj)
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, Tensor):
        return obj.detach().clone()
    return obj


def torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(_canonical(obj), buffer)
    return buffer.getvalue()


def save_torch(path: str | Path, obj: Any) -> Path:
    """``torch.save`` atomically, with bytes that depend only on ``obj``."""
    return write_bytes_atomic(path, torch_bytes(obj))


def seed_global_rngs(seed: int) -> None:
    """Python's and NumPy's global generators from the run's seed, so that the states a checkpoint stores (and a
    resumed run restores) are the same in every process: unseeded, both start from OS entropy."""
    random.seed(seed)
    np.random.seed(seed % 2**32)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    numpy_state = np.random.get_state()
    state["numpy"] = {"keys": torch.from_numpy(numpy_state[1].astype(np.int64)), "rest": list(numpy_state[2:])}
    state["numpy_kind"] = numpy_state[0]
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(_python_state(state["python"]))
    torch.set_rng_state(state["torch"])
    rest = state["numpy"]["rest"]
    np.random.set_state((state["numpy_kind"], state["numpy"]["keys"].numpy().astype(np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state(value: Any) -> tuple:
    """``random.getstate()`` comes back from a weights-only load as lists; the generator wants tuples."""
    version, internal, gauss = value
    return version, tuple(internal), gauss


class _Unreadable(Exception):
    """Why a torch file could not be read, in one line."""


def _load_untrusted(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` of a file a user handed in: torch's warnings kept off the terminal, and a
    file holding Python objects other than tensors and plain containers refused (loading it could run code)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise _Unreadable("it holds Python objects other than tensors and plain containers, which are refused "
                              "because loading them could run code") from exc
        raise _Unreadable(_first_line(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise _Unreadable(_first_line(exc)) from exc


def _load_explained(path: str | Path, missing: str, unreadable: str) -> Any:
    """``_load_untrusted`` with its failures as UserErrors: ``missing`` and ``unreadable`` are formats taking
    ``path`` (and ``why``, for an unreadable file)."""
    try:
        return _load_untrusted(path)
    except FileNotFoundError as exc:
        raise UserError(missing.format(path=path)) from exc
    except _Unreadable as exc:
        raise UserError(unreadable.format(path=path, why=exc)) from exc


def load_checkpoint(path: Path) -> dict:
    return _load_explained(path, "no checkpoint at {path}: nothing to resume; run without --resume",
                           "checkpoint {path} is unreadable ({why}); start the run again with --overwrite")


def _load_user_file(path: str | Path, context: str = "") -> Any:
    """A torch file a user named (``--init-from``, a teacher): UserError, prefixed with ``context``, if it is
    missing, corrupt or holds code."""
    missing = context + "no file {path}" + _producer_hint(path)
    return _load_explained(path, missing, context + "{path} is not a readable torch file ({why})")


def _producer_hint(path: str | Path) -> str:
    """For a missing ``runs/<preset>/...`` file: the command whose run writes it (presets chain this way)."""
    from edge_gmp.config import RUNS_ROOT, available_presets

    parts = Path(path).parts
    if len(parts) >= 3 and Path(parts[0]) == RUNS_ROOT and parts[1] in available_presets():
        return (f"; it is written by preset {parts[1]}: run `python -m edge_gmp.pipeline --preset {parts[1]}` "
                "first (from this directory), or point the setting at your own file")
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_dense_weights(path: str | Path) -> dict[str, Tensor]:
    """Weights to start pruning from: a run's ``model.pt`` (its state dict), a ``checkpoint.pt`` (the dense
    state saved at the end of dense training) or a plain state dict, loaded with ``weights_only=True``."""
    state = _load_user_file(path, "train.init_from: ")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    elif isinstance(state, dict) and "dense" in state:
        if state["dense"] is None:
            raise UserError(f"train.init_from: checkpoint {path} was saved before dense training finished")
        state = state["dense"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError(f"train.init_from: {path} holds no state dict (expected model.pt, checkpoint.pt or "
                        "torch.save(model.state_dict()))")
    return state


def load_into(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` with a clear error when the weights belong to another model/config."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[:3]
        raise UserError(f"weights in {source} do not fit this model ({' '.join(first)}); check the model "
                        "config (e.g. hidden, width) matches the run that wrote them") from exc


def cpu_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def load_model_file(path: str | Path, context: str = "") -> nn.Module:
    """A model rebuilt from a run's ``model.pt`` (its registered name, config and weights), in eval mode; errors
    start with ``context`` (the setting that named the file)."""
    from edge_gmp.models import create_model, model_config

    saved = read_model_file(path, context)
    config = {k: v for k, v in saved["model_config"].items() if k != "name"}
    model = create_model(saved["model_name"], model_config(saved["model_name"], config))
    load_into(model, saved["state_dict"], str(path))
    return model.eval()


def read_model_file(path: str | Path, context: str = "") -> dict[str, Any]:
    """The contents of a run's ``model.pt`` (model name, config, state dict, masks, normalisation); UserError,
    prefixed with ``context``, when it is missing, unreadable or not a run's model file."""
    saved = _load_user_file(path, context)
    if not isinstance(saved, dict) or not {"model_name", "model_config", "state_dict"} <= set(saved):
        raise UserError(f"{context}{path} is not a run's model.pt (needs model_name, model_config and state_dict)")
    return saved
