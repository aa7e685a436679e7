"""Models register by name with a frozen config dataclass (like timm's ``create_model``) and declare what the
later stages need to know about them: the input layout, whether the device runs them streamed (one step
graph per time step) or whole, and how their multiply-accumulates are counted.

Adding a model is one module in ``edge_gmp/models/`` whose class is decorated with :func:`register_model`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor, nn

from edge_gmp.errors import ConfigError
from edge_gmp.fields import build_options


class StreamingModel(Protocol):
    """What a streamed model provides: its state before the first step, one step, and the two graphs export
    writes (``step_graph``: (x_t, state) -> (state_next, logits); ``sequence_graph``: (B, T, D) -> logits)."""

    def initial_state(self, batch: int) -> Tensor: ...

    def step(self, x_t: Tensor, h: Tensor) -> Tensor: ...

    def step_graph(self) -> nn.Module: ...

    def sequence_graph(self) -> nn.Module: ...


@dataclass(frozen=True)
class StreamingPlan:
    """A model the device runs one time step at a time, feeding its state back (see :class:`StreamingModel`).
    ``usage`` tells firmware how to step it; names are the step graph's input and output names.

    ``device_kind`` is the precision of the device artifact: the state is requantised at every step, so an
    int8 state compounds its rounding over a window; ``int16x8`` (int16 activations, int8 weights) keeps the
    device within rounding of float (measured: benchmarks/results/fastgrnn_quantization.md). The state input
    is given its next value's quantisation (``tied``), so firmware copies h_next's raw integers into h."""

    description: str
    usage: str
    input_names: tuple[str, str] = ("x_t", "h")
    output_names: tuple[str, str] = ("h_next", "logits")
    device_kind: str = "int16x8"

    @property
    def tied(self) -> dict[str, str]:
        return {self.input_names[1]: self.output_names[0]}


@dataclass(frozen=True)
class ModelSpec:
    """A registered model. ``input_layout``: "NTC" (time series) or "NCHW" (images) in PyTorch; ``streaming``:
    set for models the device steps through time (else the device runs the whole classifier); ``macs``: a
    per-sample MAC report ``(model, example_input) -> dict`` where forward hooks cannot see the work (a time
    loop), else None (counted by hooks on Conv2d/Linear)."""

    name: str
    config_cls: type
    model_cls: type
    input_layout: str
    streaming: StreamingPlan | None = None
    macs: Callable[[nn.Module, Tensor], dict[str, Any]] | None = None


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, config_cls: type, input_layout: str, streaming: StreamingPlan | None = None,
                   macs: Callable[[nn.Module, Tensor], dict[str, Any]] | None = None) -> Callable[[type], type]:
    """Class decorator: register ``model_cls(config)`` under ``name`` with its config dataclass."""

    def decorator(model_cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name, config_cls, model_cls, input_layout, streaming, macs)
        return model_cls

    return decorator


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def model_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[name]


def spec_of(model: nn.Module) -> ModelSpec:
    """The registry entry of a built model."""
    for spec in _REGISTRY.values():
        if type(model) is spec.model_cls:
            return spec
    raise ConfigError(f"{type(model).__name__} is not a registered model; register it with @register_model")


def model_config(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Validate ``params`` against the model's config dataclass and return a frozen instance."""
    return build_options(model_spec(name).config_cls, dict(params or {}), "model", f"model {name!r}")


def create_model(name: str, config: Any = None, **params: Any) -> nn.Module:
    """Build model ``name`` from a config instance or from keyword parameters."""
    spec = model_spec(name)
    if config is None:
        config = model_config(name, params)
    elif params:
        config = dataclasses.replace(config, **params)
    if not isinstance(config, spec.config_cls):
        raise ConfigError(f"model {name!r} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    return spec.model_cls(config)
