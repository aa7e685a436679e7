"""Time to compute global magnitude masks, edge_gmp vs torch.nn.utils.prune.global_unstructured.

    python benchmarks/prune_speed.py [--sizes 1e6,1e7,2.5e7] [--repeats 3]

Prints a table and writes benchmarks/results/prune_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from edge_gmp.prune import NO_FLOOR, MinimumThreshold, global_magnitude_masks


def layers_for(total: int, n_layers: int = 20) -> list[nn.Linear]:
    """Layers of growing width (like a CNN's 1x1 convs) adding up to about ``total`` weights."""
    shares = torch.linspace(1, 10, n_layers)
    sizes = (shares / shares.sum() * total).long()
    g = torch.Generator().manual_seed(0)
    layers = []
    for n in sizes.tolist():
        rows = max(1, int(n**0.5))
        layer = nn.Linear(max(1, n // rows), rows, bias=False)
        layer.weight.data = torch.randn(layer.weight.shape, generator=g)
        layers.append(layer)
    return layers


def best_of(fn, repeats: int, reset=None) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if reset is not None:
            reset()
    return min(times)


def torch_masks(layers: list[torch.nn.Module], sparsity: float) -> None:
    torch_prune.global_unstructured([(m, "weight") for m in layers],
                                    pruning_method=torch_prune.L1Unstructured, amount=sparsity)


def restore(layers: list[torch.nn.Module], originals: list[torch.Tensor]) -> None:
    """Untimed: drop torch's reparametrisation and restore the dense weights."""
    for m, w in zip(layers, originals, strict=True):
        torch_prune.remove(m, "weight")
        m.weight.data = w.clone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,2.5e7")
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "prune_speed.json"))
    args = parser.parse_args()
    rows = []
    print(f"{'weights':>12} {'edge_gmp (s)':>13} {'+floor (s)':>11} {'torch (s)':>10} {'torch/edge_gmp':>15}")
    for size in (int(float(s)) for s in args.sizes.split(",")):
        layers = layers_for(size)
        weights = {f"l{i}": m.weight for i, m in enumerate(layers)}
        ours = best_of(partial(global_magnitude_masks, weights, args.sparsity, NO_FLOOR), args.repeats)
        floored = best_of(partial(global_magnitude_masks, weights, args.sparsity, MinimumThreshold()), args.repeats)

        originals = [m.weight.detach().clone() for m in layers]

        theirs = best_of(partial(torch_masks, layers, args.sparsity), args.repeats,
                         partial(restore, layers, originals))
        weights = {f"l{i}": m.weight for i, m in enumerate(layers)}
        n = sum(w.numel() for w in weights.values())
        rows.append({"weights": n, "edge_gmp_s": ours, "edge_gmp_floor_s": floored, "torch_s": theirs,
                     "speedup": theirs / ours})
        print(f"{n:>12,} {ours:>13.3f} {floored:>11.3f} {theirs:>10.3f} {theirs / ours:>14.2f}x")
    result = {"command": "python benchmarks/prune_speed.py", "sparsity": args.sparsity,
              "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
              "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
