"""edge-gmp: train, prune (Global Magnitude Pruning), export and verify TinyML models."""

__version__ = "0.1.0"
