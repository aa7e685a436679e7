"""edge-gmp: train, prune (Global Magnitude Pruning), export and verify TinyML models."""

import os as _os

# TensorFlow (imported by the converter) logs its C++ start-up to the terminal: CUDA probing on a CPU machine
# ("failed call to cuInit"), oneDNN and XLA notes. None of it concerns a user of this package; our own
# warnings still show. Set before anything imports TensorFlow; a user's own setting wins.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
_os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
