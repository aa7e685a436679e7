"""Global Magnitude Pruning: masks, floors, schedules, and holding masks during training."""

from edge_gmp.prune.masks import (
    NO_FLOOR,
    MinimumThreshold,
    check_feasible,
    global_magnitude_masks,
    layer_floors,
)
from edge_gmp.prune.params import apply_masks, mask_gradients, mask_optimizer_state, prunable_parameters
from edge_gmp.prune.report import LayerSparsity, format_report, layer_report, overall_sparsity
from edge_gmp.prune.schedule import OneShot, PolynomialDecay

__all__ = [
    "NO_FLOOR", "LayerSparsity", "MinimumThreshold", "OneShot", "PolynomialDecay", "apply_masks", "check_feasible",
    "format_report", "global_magnitude_masks", "layer_floors", "layer_report", "mask_gradients",
    "mask_optimizer_state", "overall_sparsity", "prunable_parameters",
]
