"""One small runtime interface (float32 in, float32 out, in the model's own order and layout) and the registry
of runtimes behind it. A runtime is one module that subclasses :class:`Session` and registers itself with
:func:`register_runtime`; nothing else names it."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.runtimes.errors import NonFiniteOutput


@dataclass(frozen=True)
class TensorInfo:
    """An input or output. ``shape`` uses -1 for dynamic dims; ``scale``/``zero_point`` are set for
    quantised tensors (``real = scale * (q - zero_point)``) and None otherwise."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float | None = None
    zero_point: int | None = None

    @cached_property
    def size(self) -> int:
        """Elements per batch-1 sample (dynamic dims count as 1)."""
        return int(np.prod([max(d, 1) for d in self.shape]))

    @property
    def fixed_batch(self) -> bool:
        return bool(self.shape) and self.shape[0] != -1


def quantize(x: np.ndarray, t: TensorInfo) -> np.ndarray:
    """Float -> the tensor's dtype with its params (round half to even, saturate); float passes through."""
    if t.scale is None:
        return np.asarray(x).astype(t.dtype)
    info = np.iinfo(t.dtype)
    q = np.round(np.asarray(x, dtype=np.float64) / t.scale) + (t.zero_point or 0)
    return np.clip(q, info.min, info.max).astype(t.dtype)


def dequantize(q: np.ndarray, t: TensorInfo) -> np.ndarray:
    if t.scale is None:
        return np.asarray(q).astype(np.float32)
    return ((np.asarray(q).astype(np.float32) - (t.zero_point or 0)) * np.float32(t.scale)).astype(np.float32)


def check_finite(runtime: str, outputs: Sequence[np.ndarray], infos: Sequence[TensorInfo]) -> None:
    for value, info in zip(outputs, infos, strict=True):
        finite = np.isfinite(value)
        if not finite.all():
            raise NonFiniteOutput(runtime, info.name, int(finite.size - finite.sum()), int(finite.size))


class Session(ABC):
    """An opened model. ``run`` takes and returns float32 arrays, quantising/dequantising integer tensors
    itself; ``run_raw`` works in the tensors' own dtypes."""

    runtime: str  # set by register_runtime

    def __init__(self, path: str | os.PathLike, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]):
        self.path = str(path)
        self.inputs: tuple[TensorInfo, ...] = tuple(inputs)
        self.outputs: tuple[TensorInfo, ...] = tuple(outputs)

    @abstractmethod
    def _invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """Raw arrays in the tensors' dtypes and shapes -> raw outputs."""

    def _shape_for(self, x: np.ndarray, t: TensorInfo) -> tuple[int, ...]:
        if t.fixed_batch and -1 not in t.shape:
            if x.size != t.size:
                raise ValueError(f"{self.runtime}: input {t.name!r} needs {t.size} values {t.shape}, "
                                 f"got {x.shape}; run one sample at a time (see evaluate.run_samples)")
            return t.shape
        return x.shape

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One inference. Non-finite outputs raise NonFiniteOutput."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"{self.runtime}: model takes {len(self.inputs)} input(s), got {len(inputs)}")
        feeds = []
        for x, t in zip(inputs, self.inputs, strict=True):
            arr = np.asarray(x, dtype=np.float32)
            feeds.append(quantize(arr.reshape(self._shape_for(arr, t)), t))
        outs = [dequantize(o, t) for o, t in zip(self._invoke(feeds), self.outputs, strict=True)]
        check_finite(self.runtime, outs, self.outputs)
        return outs

    def run_raw(self, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One inference on inputs already in the tensors' dtypes (quantised), returning the raw outputs: for
        bit-exact comparisons of integer models."""
        if len(feeds) != len(self.inputs):
            raise ValueError(f"{self.runtime}: model takes {len(self.inputs)} input(s), got {len(feeds)}")
        arrays = []
        for x, t in zip(feeds, self.inputs, strict=True):
            arr = np.asarray(x)
            if arr.dtype != t.dtype:
                raise ValueError(f"{self.runtime}: input {t.name!r} is {t.dtype}, got {arr.dtype}")
            arrays.append(arr.reshape(self._shape_for(arr, t)))
        return self._invoke(arrays)

    def raw_step(self) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
        """The leanest raw call, for loops that invoke a model many times (the streaming trace): inputs already
        in the tensors' dtypes and shapes (checked once by the caller, or by the runtime itself), fresh output
        arrays back. By default the runtime's own call."""
        return self._invoke

    def batched(self, batch: int) -> Session | None:
        """This model opened again to take ``batch`` samples per call where the runtime can resize a fixed batch of
        1 and a sample's outputs do not depend on the batch (see the runtime's own note), else None. The caller
        closes it. A stateful cell then runs every window in one call per time step."""
        return None

    def time_us(self, repeats: int = 100) -> float:
        """Median µs of the runtime's own call on zero inputs (already quantised: no Python conversions or
        checks). A host-CPU figure for comparing models, not a prediction of MCU latency."""
        feeds = [np.zeros([max(d, 1) for d in t.shape], dtype=t.dtype) for t in self.inputs]
        self._invoke(feeds)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            self._invoke(feeds)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1e6)

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class RuntimeSpec:
    """A registered runtime: the file formats it opens, whether it is the on-device runtime (the one budgets
    and device artifacts are judged in), a display name and how to open a file (``opener(path, **options)``)."""

    name: str
    formats: tuple[str, ...]
    display: str
    on_device: bool
    opener: Any


_REGISTRY: dict[str, RuntimeSpec] = {}


def register_runtime(name: str, formats: Sequence[str], display: str, on_device: bool = False):
    """Class decorator: register a :class:`Session` subclass as runtime ``name`` for files ending in
    ``formats`` (e.g. ``(".tflite",)``)."""

    def decorator(cls: type[Session]) -> type[Session]:
        if name in _REGISTRY:
            raise ValueError(f"runtime {name!r} is already registered")
        if on_device and any(spec.on_device for spec in _REGISTRY.values()):
            raise ValueError("only one runtime can be the on-device runtime")
        cls.runtime = name
        _REGISTRY[name] = RuntimeSpec(name, tuple(f.lower() for f in formats), display, on_device, cls)
        return cls

    return decorator


def runtime_spec(name: str) -> RuntimeSpec:
    if name not in _REGISTRY:
        raise ValueError(f"unknown runtime {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def device_runtime() -> str:
    """The runtime that executes models on the microcontroller (budgets and deliverables are judged in it)."""
    return next(spec.name for spec in _REGISTRY.values() if spec.on_device)


def runtimes_for(path: str | os.PathLike) -> tuple[str, ...]:
    """Runtimes that take this file format, in registration order."""
    suffix = Path(path).suffix.lower()
    found = tuple(spec.name for spec in _REGISTRY.values() if suffix in spec.formats)
    if not found:
        raise ValueError(f"no runtime opens {suffix!r} files ({path})")
    return found


def open_session(runtime: str, path: str | os.PathLike, **options: Any) -> Session:
    """Open ``path`` in ``runtime`` (a registered name, see :func:`runtimes_for`); ``options`` go to that runtime
    (TFLite Micro: ``arena_bytes``). Raises UserError for unreadable files and Unsupported when the runtime cannot
    execute the model."""
    given = {key: value for key, value in options.items() if value is not None}
    return runtime_spec(runtime).opener(path, **given)
