"""``python -m edge_gmp.pipeline``: data -> train -> Global MP -> fine-tune -> test -> export -> verify ->
budget, into a self-describing run directory."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from edge_gmp.atomic import atomic_path, write_text_atomic
from edge_gmp.cli import add_config_arguments, config_from_args
from edge_gmp.config import RunConfig, dump_toml
from edge_gmp.data.prepare import prepare_data
from edge_gmp.deployment import deploy
from edge_gmp.errors import ConfigError, UserError
from edge_gmp.models import create_model
from edge_gmp.models.macs import macs_report
from edge_gmp.prune import (
    check_feasible,
    format_report,
    layer_report,
    overall_sparsity,
    prunable_parameters,
)
from edge_gmp.report.summary import model_card, summary_text
from edge_gmp.train import distributed, evaluate, load_dense_weights, load_into, predict, train
from edge_gmp.verify import find_device


class PipelineFailed(Exception):
    """The run finished and wrote its directory, but a verification or budget check failed."""

    def __init__(self, failures: list[str], out_dir: Path) -> None:
        self.failures, self.out_dir = failures, out_dir
        super().__init__("; ".join(failures))


def preflight(config: RunConfig) -> None:
    """Everything that can be checked before a file is written: model, floors, device."""
    model = create_model(config.model_name, config.model)
    params = prunable_parameters(model, config.prune.include, config.prune.exclude)
    if not params:
        raise ConfigError(f"prune.include/exclude select no weights of {config.model_name}; "
                          f"prunable candidates: {[n for n, p in model.named_parameters() if p.ndim >= 2]}")
    check_feasible({n: p.numel() for n, p in params.items()}, config.prune.sparsity, config.prune.floor)
    distributed.device_for(config.train.device, distributed.Ranks())
    if config.train.init_from is not None:
        load_into(model, load_dense_weights(config.train.init_from), config.train.init_from)
    if config.export.enabled:
        find_device(config.export.device, config.export.devices_file)


def run(config: RunConfig, out_dir: Path, resume: bool = False, progress: bool = True,
        command: str | None = None) -> dict[str, Any]:
    """Run the whole pipeline for ``config`` into ``out_dir`` and return the metrics. ``command`` is the
    command line recorded in the model card (default: the preset's).

    Raises UserError (before anything is written) for bad input, PipelineFailed (after writing the run
    directory) when a verification or budget check fails."""
    started = time.perf_counter()
    log = print if progress else (lambda *_: None)
    preflight(config)
    if resume and not (out_dir / "checkpoint.pt").is_file():
        raise UserError(f"--resume: no checkpoint in {out_dir}; start a new run without --resume")
    ranks = distributed.current()
    log = log if ranks.is_main else (lambda *_: None)
    data = prepare_data(config.data, seed=config.train.seed)
    if ranks.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out_dir / "config.toml", dump_toml(config))
    torch.manual_seed(config.train.seed)
    x_train, y_train, x_val, y_val, x_test, y_test = (data.x_train, data.y_train, data.x_val, data.y_val,
                                                      data.x_test, data.y_test)
    log(f"{data.dataset} ({data.source}): {len(x_train)} train / {len(x_val)} val / {len(x_test)} test samples")

    model = create_model(config.model_name, config.model)
    pretrained = config.train.init_from is not None
    if pretrained:
        load_into(model, load_dense_weights(config.train.init_from), config.train.init_from)
    result = train(model, (x_train, y_train), (x_val, y_val), config.train, config.prune, out_dir,
                   resume=resume, progress=progress, augment=data.augment, pretrained=pretrained)

    if not ranks.is_main:  # rank 0 evaluates, exports and writes; the others are done
        return {}
    dense = create_model(config.model_name, config.model)
    dense.load_state_dict(result.dense_state)
    dense_accuracy, _ = evaluate(dense, x_test, y_test)
    pruned_logits = predict(result.model, x_test)  # also the verification reference below
    pruned_accuracy = int((pruned_logits.argmax(1) == y_test).sum()) / len(y_test)
    weights = {name: p.detach() for name, p in result.model.named_parameters() if name in result.masks}
    # "would collapse without the floor" compares with plain Global MP, so only for Global MP runs
    layers = layer_report(result.masks, weights if config.prune.method == "gmp" else None, config.prune.sparsity)
    n_params = sum(p.numel() for p in result.model.parameters())
    n_zero = sum(int((w == 0).sum()) for w in weights.values())
    metrics: dict[str, Any] = {
        "preset": config.name,
        "model": config.model_name,
        "dataset": config.data.dataset,
        "data_source": data.source,
        "samples": data.counts,
        "classes": list(data.classes),
        "dense_test_accuracy": dense_accuracy,
        "pruned_test_accuracy": pruned_accuracy,
        "best_epoch": result.best_epoch,
        "best_val_accuracy": max(h["val_accuracy"] for h in result.history if h["epoch"] == result.best_epoch),
        "dense_weights_from": config.train.init_from,
        "pruning_method": config.prune.method,
        "floor_per_layer": config.prune.floor.weights_per_layer(sum(w.numel() for w in weights.values())),
        "target_sparsity": config.prune.sparsity,
        "sparsity": overall_sparsity(result.masks),
        "layers": [row.to_dict() for row in layers],
        "parameters": n_params,
        "prunable_parameters": sum(w.numel() for w in weights.values()),
        "nonzero_parameters": n_params - n_zero,
        "normalization": data.normalization,
        "macs_per_sample": {"dense_model": macs_report(dense, x_test[:1]),
                            "pruned_model": macs_report(result.model, x_test[:1])},
        "history": result.history,
    }
    state = {"model_name": config.model_name, "model_config": config.to_dict()["model"],
             "state_dict": result.model.state_dict(), "masks": result.masks,
             "normalization": data.normalization}
    with atomic_path(out_dir / "model.pt", suffix=".pt") as tmp:
        torch.save(state, tmp)
    log(format_report(layers))
    log(f"PyTorch test accuracy: dense {dense_accuracy:.4f}, pruned ({metrics['sparsity']:.2%} sparse) "
        f"{pruned_accuracy:.4f}")

    failures: list[str] = []
    if config.export.enabled:
        reference = pruned_logits.numpy()
        deployed = deploy(result.model, config.name, config.export, out_dir, x_train.numpy(), x_test.numpy(),
                          y_test.numpy(), reference, pruned_accuracy, data.normalization, metrics,
                          classes=data.classes, seed=config.train.seed, log=log)
        metrics.update(deployed.metrics)
        failures = deployed.failures
    metrics["train_seconds"] = sum(h["seconds"] for h in result.history)  # all epochs, also across resumes
    metrics["wall_seconds"] = time.perf_counter() - started  # this invocation
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n")
    write_text_atomic(out_dir / "MODEL_CARD.md",
                      model_card(metrics, config.to_dict(),
                                 command or f"python -m edge_gmp.pipeline --preset {config.name}"))
    log("\n" + summary_text(metrics))
    log(f"\n{metrics['wall_seconds']:.0f} s -> {out_dir}")
    if failures:
        raise PipelineFailed(failures, out_dir)
    return metrics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edge_gmp.pipeline",
        description="Train, prune with Global Magnitude Pruning (Minimum-Threshold floors), fine-tune, "
                    "evaluate, export ONNX/TFLite (float32, int8, sparse), verify every artifact in "
                    "onnxruntime, LiteRT and TFLite Micro, and check the device budget. With no arguments: "
                    "preset fastgrnn-har2 (FastGRNN on HAR-2, offline data, Arduino Nano 33 BLE Sense). "
                    "Exit status: 0 ok, 1 a verification or budget check failed, 2 bad input.",
    )
    parser.add_argument("--out", help="run directory (default: runs/<preset name>)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--no-export", action="store_true",
                        help="stop after the PyTorch test evaluation (same as --set export.enabled=false)")
    add_config_arguments(parser)
    return parser


def _command(argv: list[str] | None) -> str:
    """The command line that reproduces this run (without --resume/--quiet)."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a not in ("--resume", "--quiet")]
    return shlex.join(["python", "-m", "edge_gmp.pipeline", *args])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    distributed.init_from_env()  # under torchrun: join the process group; otherwise a single process
    expected_end = True
    try:
        config = config_from_args(args, {"export": {"enabled": False}} if args.no_export else None)
        out_dir = Path(args.out) if args.out else Path("runs") / config.name
        run(config, out_dir, resume=args.resume, progress=not args.quiet, command=_command(argv))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PipelineFailed as exc:
        print(f"FAILED ({exc.out_dir}):", file=sys.stderr)
        for failure in exc.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    except BaseException:
        expected_end = False
        raise
    finally:
        distributed.shutdown(synchronize=expected_end)
    return 0


if __name__ == "__main__":
    sys.exit(main())
