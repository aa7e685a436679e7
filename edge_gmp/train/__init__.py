"""Training: the loop, its plan (phases, learning rate), checkpoints, model selection and holding pruning
masks while training."""

from edge_gmp.train.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    load_dense_weights,
    load_into,
    save_torch,
    torch_bytes,
)
from edge_gmp.train.loop import (
    Augment,
    TrainResult,
    accuracy,
    evaluate,
    make_optimizer,
    predict,
    pruning_schedule,
    train,
)
from edge_gmp.train.masking import MaskedTraining
from edge_gmp.train.schedule import CosineDecay, Phase, TrainPlan
from edge_gmp.train.selection import SELECTIONS, ModelSelection

__all__ = ["CHECKPOINT", "SELECTIONS", "Augment", "CosineDecay", "MaskedTraining", "ModelSelection", "Phase",
           "TrainPlan", "TrainResult", "accuracy", "evaluate", "load_checkpoint", "load_dense_weights", "load_into",
           "make_optimizer", "predict", "pruning_schedule", "save_torch", "torch_bytes", "train"]
