"""Verify exported models: every artifact in every runtime that takes it (through edge_gmp.runtimes),
accuracy and agreement on a full test set, the smallest TFLite Micro arena, and flash/RAM/accuracy budgets
against device profiles."""

from edge_gmp.verify.arena import HOST_NOTE, arena_breakdown, measure_arena
from edge_gmp.verify.budget import BudgetReport, BudgetRow, check_budget, check_image_budget
from edge_gmp.verify.datasets import load_test_set, streaming_indices
from edge_gmp.verify.devices import Device, builtin_devices, find_device, load_devices
from edge_gmp.verify.evaluate import evaluate_classifier, evaluate_streaming, run_samples, to_model_layout
from edge_gmp.verify.validation import Validation, validate_model

__all__ = [
    "HOST_NOTE", "BudgetReport", "BudgetRow", "Device", "Validation",
    "arena_breakdown", "builtin_devices", "check_budget", "check_image_budget", "evaluate_classifier",
    "evaluate_streaming", "find_device", "load_devices", "load_test_set", "measure_arena", "run_samples",
    "streaming_indices", "to_model_layout", "validate_model",
]
