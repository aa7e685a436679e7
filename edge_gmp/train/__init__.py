"""Training: the loop, evaluation, and holding pruning masks while training."""

from edge_gmp.train.loop import TrainResult, evaluate, load_checkpoint, pruning_schedule, train
from edge_gmp.train.masking import MaskedTraining

__all__ = ["MaskedTraining", "TrainResult", "evaluate", "load_checkpoint", "pruning_schedule", "train"]
