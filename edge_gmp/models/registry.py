"""Models register by name with a frozen config dataclass; ``create_model`` builds one from a config."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from edge_gmp.errors import ConfigError

_REGISTRY: dict[str, tuple[type, Callable[[Any], nn.Module]]] = {}


def register_model(name: str, config_cls: type) -> Callable:
    """Decorator: register ``builder(config) -> nn.Module`` under ``name`` with its config dataclass."""

    def decorator(builder: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = (config_cls, builder)
        return builder

    return decorator


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def model_config(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Validate ``params`` against the model's config dataclass and return a frozen instance."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    config_cls, _ = _REGISTRY[name]
    params = dict(params or {})
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) for model {name!r}: {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")
    try:
        return config_cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid config for model {name!r}: {exc}") from exc


def create_model(name: str, config: Any = None, **params: Any) -> nn.Module:
    """Build model ``name`` from a config instance or from keyword parameters."""
    if config is None:
        config = model_config(name, params)
    elif params:
        config = dataclasses.replace(config, **params)
    config_cls, builder = _REGISTRY[name]
    if not isinstance(config, config_cls):
        raise ConfigError(f"model {name!r} needs a {config_cls.__name__}, got {type(config).__name__}")
    return builder(config)
