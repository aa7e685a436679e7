"""Model registry and the models it knows."""

from edge_gmp.models import fastgrnn as _fastgrnn  # noqa: F401  (registers "fastgrnn")
from edge_gmp.models import mobilenet as _mobilenet  # noqa: F401  (registers "mobilenet_v1")
from edge_gmp.models.fastgrnn import FastGRNN, FastGRNNConfig
from edge_gmp.models.mobilenet import MobileNetV1, MobileNetV1Config
from edge_gmp.models.registry import available_models, create_model, model_config, register_model

__all__ = ["FastGRNN", "FastGRNNConfig", "MobileNetV1", "MobileNetV1Config", "available_models", "create_model",
           "model_config", "register_model"]
