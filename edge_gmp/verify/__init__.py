"""Verify exported models: run them in onnxruntime / LiteRT / TFLite Micro, measure the TFLM arena and
check flash/RAM/accuracy budgets against device profiles."""

from edge_gmp.verify.agreement import Agreement, compare_outputs
from edge_gmp.verify.arena import HOST_NOTE, arena_breakdown, measure_arena
from edge_gmp.verify.budget import BudgetReport, BudgetRow, check_budget
from edge_gmp.verify.datasets import load_test_set, streaming_indices
from edge_gmp.verify.devices import Device, builtin_devices, find_device, load_devices
from edge_gmp.verify.errors import ArenaTooSmall, NonFiniteOutput, Unsupported, VerificationFailure
from edge_gmp.verify.evaluate import evaluate_classifier, evaluate_streaming, run_samples, to_model_layout
from edge_gmp.verify.session import RUNTIMES, Session, TensorInfo, open_session
from edge_gmp.verify.tflite_file import TFLiteInfo, inspect_tflite
from edge_gmp.verify.validation import Validation, validate_model

__all__ = [
    "HOST_NOTE", "RUNTIMES", "Agreement", "ArenaTooSmall", "BudgetReport", "BudgetRow", "Device",
    "NonFiniteOutput", "Session", "TFLiteInfo", "TensorInfo", "Unsupported", "Validation",
    "VerificationFailure",
    "arena_breakdown", "builtin_devices", "check_budget", "compare_outputs", "evaluate_classifier",
    "evaluate_streaming", "find_device", "inspect_tflite", "load_devices", "load_test_set", "measure_arena",
    "open_session", "run_samples", "streaming_indices", "to_model_layout", "validate_model",
]
