"""Model registry and the models it knows: every module here that is not infrastructure registers one."""

import importlib
import pkgutil

from edge_gmp.models.registry import (
    ModelSpec,
    StreamingModel,
    StreamingPlan,
    available_models,
    create_model,
    model_config,
    model_spec,
    register_model,
    spec_of,
)

_INFRASTRUCTURE = {"registry", "macs"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE:
        importlib.import_module(f"{__name__}.{_module.name}")

from edge_gmp.models.fastgrnn import FastGRNN, FastGRNNConfig  # noqa: E402
from edge_gmp.models.mobilenet import MobileNetV1, MobileNetV1Config  # noqa: E402

__all__ = ["FastGRNN", "FastGRNNConfig", "MobileNetV1", "MobileNetV1Config", "ModelSpec", "StreamingModel",
           "StreamingPlan", "available_models", "create_model", "model_config", "model_spec", "register_model",
           "spec_of"]
