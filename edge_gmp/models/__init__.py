"""Model registry and the models it knows."""

from edge_gmp.models import fastgrnn as _fastgrnn  # noqa: F401  (registers "fastgrnn")
from edge_gmp.models.fastgrnn import FastGRNN, FastGRNNConfig
from edge_gmp.models.registry import available_models, create_model, model_config, register_model

__all__ = ["FastGRNN", "FastGRNNConfig", "available_models", "create_model", "model_config", "register_model"]
