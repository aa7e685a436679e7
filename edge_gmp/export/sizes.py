"""Honest model sizes: compressed bytes, the information-theoretic limit, stored non-zero weights."""

from __future__ import annotations

import gzip
import math
import os

import numpy as np

from edge_gmp.errors import UserError

WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "BATCH_MATMUL")


def gzip_size(data: bytes, level: int = 9) -> int:
    """Bytes after gzip (mtime fixed to 0, so the result is reproducible)."""
    return len(gzip.compress(bytes(data), compresslevel=level, mtime=0))


def binary_entropy(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise UserError(f"density must be in [0, 1], got {p}")
    if p in (0.0, 1.0):
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def information_limit_bits(nonzeros: int, n_prunable: int, value_bits: int) -> float:
    """Bits to store ``nonzeros`` values of ``value_bits`` each plus their positions among ``n_prunable``.

    ``nonzeros * value_bits + n * H(nonzeros / n)`` with H the binary entropy: no encoding of the
    sparsity pattern can beat ``n * H`` bits on average.
    """
    if n_prunable < 0 or not 0 <= nonzeros <= max(n_prunable, 0) or value_bits < 0:
        raise UserError(f"need 0 <= nonzeros <= n_prunable and value_bits >= 0, got {nonzeros}, "
                        f"{n_prunable}, {value_bits}")
    if n_prunable == 0:
        return 0.0
    return nonzeros * value_bits + n_prunable * binary_entropy(nonzeros / n_prunable)


def tflite_weight_counts(path: str | os.PathLike) -> dict[str, int]:
    """Weights of FC/conv ops in a .tflite: dense element count, values stored and non-zero stored values.

    Sparse-encoded weights (read through their DENSIFY op) store fewer values than their shape says;
    ``nonzero`` counts stored values != 0 (int8 weights are symmetric, zero point 0).
    """
    from edge_gmp.runtimes.litert import load_interpreter

    interp = load_interpreter(path)
    details = {int(t["index"]): t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    producer = {int(o): op for op in ops for o in op["outputs"]}
    counts = {"tensors": 0, "elements": 0, "stored": 0, "nonzero": 0}
    seen = set()
    for op in ops:
        if op["op_name"] not in WEIGHT_OPS or len(op["inputs"]) < 2:
            continue
        weight = int(op["inputs"][1])
        source = producer.get(weight)
        stored = int(source["inputs"][0]) if source is not None and source["op_name"] == "DENSIFY" else weight
        if stored in seen or (source is not None and stored == weight):
            continue  # an activation (BATCH_MATMUL of two tensors), not a constant
        seen.add(stored)
        values = interp.get_tensor(stored)
        counts["tensors"] += 1
        counts["elements"] += int(np.prod(details[weight]["shape"]))
        counts["stored"] += int(values.size)
        counts["nonzero"] += int(np.count_nonzero(values))
    return counts
