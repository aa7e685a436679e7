"""Global Magnitude Pruning and the rules it is compared with: masks, floors, schedules, holding masks."""

from edge_gmp.prune.masks import (
    NO_FLOOR,
    MinimumThreshold,
    check_feasible,
    global_magnitude_masks,
    global_masks,
    layer_floors,
    lowest_k,
)
from edge_gmp.prune.methods import (
    METHODS,
    VARIANTS,
    MaskContext,
    PruningMethod,
    StudyMethod,
    compute_masks,
    effective_floor,
    folded_magnitudes,
    get_method,
    lamp_scores,
    random_scores,
    study_methods,
    uniform_magnitude_masks,
)
from edge_gmp.prune.params import (
    apply_masks,
    batchnorm_scales,
    mask_gradients,
    mask_optimizer_state,
    prunable_parameters,
)
from edge_gmp.prune.report import LayerSparsity, format_report, layer_report, overall_sparsity
from edge_gmp.prune.schedule import GRADUAL, ONESHOT, SCHEDULES, OneShot, PolynomialDecay

__all__ = [
    "GRADUAL", "METHODS", "NO_FLOOR", "ONESHOT", "SCHEDULES", "LayerSparsity", "MaskContext", "MinimumThreshold",
    "OneShot", "PolynomialDecay", "PruningMethod", "StudyMethod", "VARIANTS",
    "apply_masks", "batchnorm_scales", "check_feasible", "compute_masks", "effective_floor", "folded_magnitudes",
    "format_report", "get_method",
    "global_magnitude_masks", "global_masks", "lamp_scores", "layer_floors", "layer_report", "lowest_k",
    "mask_gradients", "mask_optimizer_state", "overall_sparsity", "prunable_parameters", "random_scores",
    "study_methods",
    "uniform_magnitude_masks",
]
