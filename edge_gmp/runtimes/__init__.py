"""The runtimes layer, shared by export (describing files, tying states) and verify (accuracy, agreement, arena,
budgets): one Session interface over onnxruntime, LiteRT and TFLite Micro, the registry that opens a file in a
runtime, int8 (de)quantisation, output comparison and the runtimes' typed errors. Every .tflite file is read and
checked by :mod:`edge_gmp.tflite` before a runtime opens it.

Adding a runtime is one module: subclass :class:`Session`, decorate it with :func:`register_runtime` and
import the module below.
"""

from edge_gmp.runtimes import litert as _litert  # noqa: F401  (registers "litert")
from edge_gmp.runtimes import onnxruntime as _onnxruntime  # noqa: F401  (registers "onnxruntime")
from edge_gmp.runtimes import tflm as _tflm  # noqa: F401  (registers "tflm", the on-device runtime)
from edge_gmp.runtimes.agreement import Agreement, compare_outputs
from edge_gmp.runtimes.base import (
    RuntimeSpec,
    Session,
    TensorInfo,
    dequantize,
    device_runtime,
    open_session,
    quantize,
    register_runtime,
    runtime_spec,
    runtimes_for,
)
from edge_gmp.runtimes.errors import ArenaTooSmall, NonFiniteOutput, Unsupported, VerificationFailure

__all__ = [
    "Agreement", "ArenaTooSmall", "NonFiniteOutput", "RuntimeSpec", "Session", "TensorInfo", "Unsupported",
    "VerificationFailure", "compare_outputs", "dequantize", "device_runtime", "open_session", "quantize",
    "register_runtime", "runtime_spec", "runtimes_for",
]
