"""Training: the loop, evaluation, and holding pruning masks while training."""

from edge_gmp.train.loop import (
    Augment,
    TrainResult,
    evaluate,
    load_checkpoint,
    load_dense_weights,
    load_into,
    make_optimizer,
    predict,
    pruning_schedule,
    train,
)
from edge_gmp.train.masking import MaskedTraining

__all__ = ["Augment", "MaskedTraining", "TrainResult", "evaluate", "load_checkpoint", "load_dense_weights",
           "load_into", "make_optimizer", "predict", "pruning_schedule", "train"]
