"""``python -m edge_gmp.pipeline``: data -> train -> Global MP -> fine-tune -> test -> export -> verify ->
device file -> budget, into a self-describing run directory."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from edge_gmp.atomic import write_bytes_atomic, write_text_atomic
from edge_gmp.cli import (
    OneLineParser,
    add_config_arguments,
    config_from_args,
    config_overrides,
    print_error,
    print_interrupted,
    short_warnings,
)
from edge_gmp.config import DEFAULT_PRESET, RUNS_ROOT, RunConfig, dump_toml
from edge_gmp.data.prepare import prepare_data
from edge_gmp.errors import ConfigError, UserError
from edge_gmp.models import create_model
from edge_gmp.models.macs import macs_report
from edge_gmp.prune import LayerSparsity, check_feasible, format_report, prunable_parameters
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.summary import model_card, summary_text
from edge_gmp.train import distributed, evaluate, load_dense_weights, load_into, save_torch, train
from edge_gmp.train.checkpoint import load_model_file
from edge_gmp.verify import find_device
from edge_gmp.workflow.deployment import deploy
from edge_gmp.workflow.run_dir import check_resumable, prepare_new, teacher_split_differences
from edge_gmp.workflow.run_record import RunRecord, build_record
from edge_gmp.workflow.trained_run import (
    TrainedRun,
    check_same_training,
    export_config,
    load_trained_run,
    trained_record,
)


class PipelineFailed(Exception):
    """The run finished and wrote its directory, but a verification or budget check failed."""

    def __init__(self, failures: list[str], out_dir: Path) -> None:
        self.failures, self.out_dir = failures, out_dir
        super().__init__("; ".join(failures))


def _warn_on_teacher_split(config: RunConfig) -> None:
    differences = teacher_split_differences(config.train.distill_from, config)
    if differences:
        warnings.warn(f"train.distill_from: the teacher was trained on another data split ({'; '.join(differences)});"
                      " it may have learnt this run's validation data, so model selection is optimistic (the test "
                      "set is unaffected). Distil from a run with this run's data options and seed.", stacklevel=3)


def _load_teacher(config: RunConfig) -> torch.nn.Module | None:
    if config.train.distill_from is None:
        return None
    return load_model_file(config.train.distill_from, "train.distill_from: ")


def preflight(config: RunConfig) -> None:
    """Everything that can be checked before a file is written: model, floors, devices, starting weights."""
    model = create_model(config.model_name, config.model)
    params = prunable_parameters(model, config.prune.include, config.prune.exclude)
    if not params:
        raise ConfigError(f"prune.include/exclude select no weights of {config.model_name}; "
                          f"prunable candidates: {[n for n, p in model.named_parameters() if p.ndim >= 2]}")
    check_feasible({n: p.numel() for n, p in params.items()}, config.prune.sparsity, config.prune.floor)
    distributed.device_for(config.train.device, distributed.Ranks())
    if config.train.init_from is not None:
        load_into(model, load_dense_weights(config.train.init_from), config.train.init_from)
    if _load_teacher(config) is not None:
        _warn_on_teacher_split(config)
    if config.export.enabled:
        find_device(config.export.device, config.export.devices_file)


def _train(config: RunConfig, record_data: Any, out_dir: Path, resume: bool, progress: bool) -> Any:
    torch.manual_seed(config.train.seed)
    model = create_model(config.model_name, config.model)
    pretrained = config.train.init_from is not None
    if pretrained:
        load_into(model, load_dense_weights(config.train.init_from), config.train.init_from)
    return train(model, (record_data.x_train, record_data.y_train), (record_data.x_val, record_data.y_val),
                 config.train, config.prune, out_dir, resume=resume, progress=progress,
                 augment=record_data.augment, pretrained=pretrained, teacher=_load_teacher(config))


def _evaluate(config: RunConfig, data: Any, result: Any) -> RunRecord:
    dense = create_model(config.model_name, config.model)
    dense.load_state_dict(result.dense_state)
    record = build_record(config, data, result, evaluate(dense, data.x_test, data.y_test)[0])
    record.macs_per_sample["dense_model"] = macs_report(dense, data.x_test[:1])
    return record


def _write_results(config: RunConfig, record: RunRecord, metrics: dict[str, Any], out_dir: Path,
                   command: str | None) -> None:
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n")
    write_text_atomic(out_dir / "MODEL_CARD.md", model_card(metrics, config.to_dict(), command
                                                            or f"python -m edge_gmp.pipeline --preset {config.name}"))


COMMAND_FILE = "command.txt"  # the command line that started the run


def _started_by(out_dir: Path, resume: bool, command: str | None) -> str | None:
    """The command the model card reproduces: the one that started the run, also when a later sitting finished
    it with --resume (kept in the run directory beside its config)."""
    stored = out_dir / COMMAND_FILE
    if resume:
        return (stored.read_text().strip() or command) if stored.is_file() else command
    if command:
        write_text_atomic(stored, command + "\n")
    return command


def run(config: RunConfig, out_dir: Path, resume: bool = False, progress: bool = True,
        command: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Run the whole pipeline for ``config`` into ``out_dir`` and return the metrics. ``command`` is the
    command line recorded in the model card (default: the preset's).

    Raises UserError (before anything is written) for bad input, PipelineFailed (after writing the run
    directory) when a verification or budget check fails."""
    started = time.perf_counter()
    ranks = distributed.current()
    log = print if progress and ranks.is_main else (lambda *_: None)
    preflight(config)
    if resume:
        check_resumable(out_dir, config)
    elif ranks.is_main:
        prepare_new(out_dir, overwrite)
    torch.set_num_threads(config.train.threads)
    stage = time.perf_counter()
    data = prepare_data(config.data, seed=config.train.seed)
    timings = {"data": time.perf_counter() - stage}
    if ranks.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out_dir / "config.toml", dump_toml(config))
        command = _started_by(out_dir, resume, command)
    log(f"{data.dataset} ({data.source}): {len(data.y_train)} train / {len(data.y_val)} val / {len(data.y_test)} "
        f"test samples ({timings['data']:.1f} s); training on {config.train.device}, "
        f"{config.train.threads} torch thread(s)")
    stage = time.perf_counter()
    result = _train(config, data, out_dir, resume, progress)
    timings["train"] = time.perf_counter() - stage
    if not ranks.is_main:  # rank 0 evaluates, exports and writes; the others are done
        return {}
    stage = time.perf_counter()
    record = _evaluate(config, data, result)
    record.timings = {**timings, "evaluate": time.perf_counter() - stage}
    save_torch(out_dir / "model.pt", record.model_file(config))
    return _deploy_and_write(config, record, data, out_dir, command, started, log)


def _deploy_and_write(config: RunConfig, record: RunRecord, data: Any, out_dir: Path, command: str | None,
                      started: float, log: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """After training: export, verify, device file and budget (when export is on), then ``metrics.json`` (with
    ``extra``) and the model card; PipelineFailed when a check failed."""
    log(format_report([LayerSparsity(r["name"], r["size"], r["kept"], r["kept_without_floor"])
                       for r in record.layers]))
    dense = "-" if record.dense_test_accuracy is None else f"{record.dense_test_accuracy:.4f}"
    log(f"PyTorch test accuracy: dense {dense}, pruned ({record.sparsity:.2%} sparse) "
        f"{record.pruned_test_accuracy:.4f}")
    failures: list[str] = []
    deployed: dict[str, Any] = {}
    if config.export.enabled:
        deployment = deploy(record, data, config.export, out_dir, seed=config.train.seed, log=log)
        deployed, failures = deployment.metrics, deployment.failures
    record.timings["total"] = time.perf_counter() - started
    metrics = {**record.metrics(), **deployed, "failures": failures, "wall_seconds": record.timings["total"],
               **(extra or {})}
    _write_results(config, record, metrics, out_dir, command)
    log("\n" + summary_text(metrics))
    log("\nstages: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in record.timings.items()))
    log(f"run directory: {out_dir}")
    if failures:
        raise PipelineFailed(failures, out_dir)
    return metrics


def _check_export_target(trained: TrainedRun, config: RunConfig, out_dir: Path) -> None:
    check_same_training(trained, config)
    if not config.export.enabled:
        raise UserError("--export-from with export.enabled = false has nothing to do")
    if out_dir.resolve() == trained.source.resolve():
        raise UserError(f"--out {out_dir} is the run being exported; write the export to another --out")
    find_device(config.export.device, config.export.devices_file)


def export_again(trained: TrainedRun, config: RunConfig, out_dir: Path, progress: bool = True,
                 command: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """The stages after training for a finished run's stored weights, without training: test evaluation,
    export, verify, device file, budget, deliverable, into the new run directory ``out_dir`` (its ``model.pt``
    the same bytes, its training record the stored one). Raises like ``run``."""
    started = time.perf_counter()
    log = print if progress else (lambda *_: None)
    _check_export_target(trained, config, out_dir)
    prepare_new(out_dir, overwrite)
    torch.set_num_threads(config.train.threads)
    stage = time.perf_counter()
    data = prepare_data(config.data, seed=config.train.seed)
    timings = {"data": time.perf_counter() - stage}
    log(f"{data.dataset} ({data.source}): {len(data.y_test)} test samples; exporting the trained weights of "
        f"{trained.source} (no training), {config.train.threads} torch thread(s)")
    stage = time.perf_counter()
    record = trained_record(trained, config, data)  # refuses other data before anything is written
    record.timings = {**timings, "evaluate": time.perf_counter() - stage}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "config.toml", dump_toml(config))
    write_bytes_atomic(out_dir / "model.pt", (trained.source / "model.pt").read_bytes())
    exported = {"from": str(trained.source), "command": command, "machine": describe_machine(),
                "training_command": trained.training_command()}
    card_command = f"{exported['training_command']}\n{command}" if command else None
    return _deploy_and_write(config, record, data, out_dir, card_command, started, log, {"exported_from": exported})


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m edge_gmp.pipeline",
        description="Train, prune with Global Magnitude Pruning (Minimum-Threshold floors), fine-tune, "
                    "evaluate, export ONNX/TFLite, verify every artifact in onnxruntime, LiteRT and TFLite "
                    "Micro, store the pruned weights compressed for TFLite Micro and check the board's budget. "
                    "With no arguments: preset fastgrnn-har2 (FastGRNN on HAR-2, offline data, Arduino Nano 33 "
                    "BLE Sense). Exit status: 0 ok, 1 a verification or budget check failed, 2 bad input.",
    )
    parser.add_argument("--out", help="run directory (default: runs/<preset name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out with its own config.toml (options given beside "
                             "--resume must match it; --threads may change)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run --out holds (without it, a directory holding a run is refused)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--no-export", action="store_true",
                        help="stop after the PyTorch test evaluation (same as --set export.enabled=false)")
    parser.add_argument("--export-from", metavar="DIR",
                        help="no training: export, verify and deliver the trained weights of a finished run or "
                             "released model (its config.toml, model.pt, metrics.json) into --out (default: "
                             "runs/<its name>-export); data and export options may change")
    add_config_arguments(parser)
    return parser


def _given(argv: list[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)


def _command(argv: list[str] | None) -> str:
    """The command line that reproduces this run (without --resume/--quiet/--overwrite)."""
    args = [a for a in _given(argv) if a not in ("--resume", "--quiet", "--overwrite")]
    return shlex.join(["python", "-m", "edge_gmp.pipeline", *args])


def resume_command(argv: list[str] | None, out_dir: Path) -> str:
    """The command that continues this run: the options given (they must still match the run's), --out, --resume."""
    args = [a for a in _given(argv) if a not in ("--resume", "--overwrite")]
    if not any(a == "--out" or a.startswith("--out=") for a in args):
        args += ["--out", str(out_dir)]
    return shlex.join(["python", "-m", "edge_gmp.pipeline", *args, "--resume"])


def _stored_config(args: argparse.Namespace) -> Path | None:
    """A resume without --preset or --config continues the run its directory describes: its own config.toml."""
    if not args.resume or args.preset or args.config:
        return None
    stored = (Path(args.out) if args.out else RUNS_ROOT / DEFAULT_PRESET) / "config.toml"
    return stored if stored.is_file() else None


def _interrupted(argv: list[str] | None, out_dir: Path | None) -> int:
    if out_dir is not None and (out_dir / "checkpoint.pt").is_file():
        return print_interrupted(f"{out_dir} can be resumed from its last finished epoch; continue with: "
                                 f"{resume_command(argv, out_dir)}")
    again = shlex.join(["python", "-m", "edge_gmp.pipeline", *_given(argv)])
    return print_interrupted(f"no epoch had finished, nothing to resume; start again with: {again}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    short_warnings()
    if args.resume and args.overwrite:
        print("error: --resume continues the run in --out, --overwrite replaces it: give one", file=sys.stderr)
        return 2
    if args.export_from:
        return _exit_status(lambda: _export(args, argv), lambda: print_interrupted(
            "the export was stopped before its deliverable was written; run the same command again"))
    distributed.init_from_env()  # under torchrun: join the process group; otherwise a single process
    state: dict[str, Any] = {"expected_end": True}

    def interrupted() -> int:
        state["expected_end"] = False
        return _interrupted(argv, state.get("out_dir"))

    try:
        return _exit_status(lambda: _train_and_export(args, argv, state), interrupted)
    except BaseException:
        state["expected_end"] = False
        raise
    finally:
        distributed.shutdown(synchronize=state["expected_end"])


def _exit_status(action: Callable[[], object], interrupted: Callable[[], int]) -> int:
    """Run ``action``: 0 done, 2 bad input (one line), 1 a verification or budget check failed (each failure),
    ``interrupted()`` on Ctrl-C."""
    try:
        action()
    except UserError as exc:
        print_error(exc)
        return 2
    except PipelineFailed as exc:
        print(f"FAILED ({exc.out_dir}):", file=sys.stderr)
        for failure in exc.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return interrupted()
    return 0


def _train_and_export(args: argparse.Namespace, argv: list[str] | None, state: dict[str, Any]) -> None:
    config = config_from_args(args, {"export": {"enabled": False}} if args.no_export else None,
                              base_file=_stored_config(args))
    state["out_dir"] = out_dir = Path(args.out) if args.out else RUNS_ROOT / config.name
    run(config, out_dir, resume=args.resume, progress=not args.quiet, command=_command(argv), overwrite=args.overwrite)


def _export(args: argparse.Namespace, argv: list[str] | None) -> None:
    """``--export-from DIR``: the run's own configuration with the flags' overrides, no training."""
    clashing = [flag for flag, given in (("--preset", args.preset), ("--config", args.config),
                                         ("--resume", args.resume), ("--no-export", args.no_export)) if given]
    if clashing:
        raise UserError(f"--export-from uses the run's own config.toml and exports it: drop {', '.join(clashing)}")
    trained = load_trained_run(args.export_from)
    config = export_config(trained, config_overrides(args))
    out_dir = Path(args.out) if args.out else RUNS_ROOT / f"{config.name}-export"
    export_again(trained, config, out_dir, progress=not args.quiet, command=_command(argv), overwrite=args.overwrite)


if __name__ == "__main__":
    distributed.exit_process(main())
