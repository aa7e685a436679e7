"""Command-line flags shared by the pipeline and the sweep: preset, config file, overrides -> RunConfig; and an
argument parser whose errors are one line, like every other error the commands print."""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

from edge_gmp.config import RunConfig, available_presets, load_config, merge, parse_assignment
from edge_gmp.data.registry import available_datasets, dataset_spec
from edge_gmp.prune import METHODS, SCHEDULES
from edge_gmp.verify.devices import builtin_devices

TORCH_DEVICE = re.compile(r"cpu|cuda(:\d+)?")
PACKAGE_DIR = Path(__file__).resolve().parent


def _sources() -> list[str]:
    return sorted({s for name in available_datasets() for s in dataset_spec(name).sources})


SHORTCUTS = {  # CLI flag -> (section, option, type, choices or None)
    "method": ("prune", "method", str, lambda: sorted(METHODS)),
    "sparsity": ("prune", "sparsity", float, None),
    "schedule": ("prune", "schedule", str, lambda: list(SCHEDULES)),
    "prune_epochs": ("prune", "prune_epochs", int, None),
    "finetune_epochs": ("prune", "finetune_epochs", int, None),
    "epochs": ("train", "epochs", int, None),
    "batch_size": ("train", "batch_size", int, None),
    "lr": ("train", "lr", float, None),
    "seed": ("train", "seed", int, None),
    "threads": ("train", "threads", int, None),
    "train_device": ("train", "device", str, None),
    "hidden": ("model", "hidden", int, None),
    "width": ("model", "width", float, None),
    "source": ("data", "source", str, _sources),
    "data_path": ("data", "path", str, None),
    "init_from": ("train", "init_from", str, None),
    "board": ("export", "device", str, None),
    "min_accuracy": ("export", "min_accuracy", float, None),
}
_HELP = {
    "train_device": "where training runs: cpu, cuda or cuda:N",
    "threads": "torch CPU threads for training (default: the preset's train.threads)",
    "board": "microcontroller profile for the budget check; built in: {boards} (your own: --set "
             "export.devices_file=FILE.toml)",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``error: ...``) and exit status 2, like every bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """--preset, --config, --set, --download, --device and the shortcuts (except those in ``skip``)."""
    parser.add_argument("--preset", choices=available_presets(), metavar="NAME",
                        help=f"named preset: {', '.join(available_presets())} (default: fastgrnn-har2)")
    parser.add_argument("--config", help="a TOML config file (merged over --preset when both are given)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config value, e.g. --set prune.floor_percent=0.1 (repeatable)")
    parser.add_argument("--download", action="store_true",
                        help="fetch the dataset's official archive (checksum-verified) and use it")
    board = "--set export.device=BOARD" if "board" in skip else "--board"
    torch_device = "--set train.device=..." if "train_device" in skip else "--train-device"
    parser.add_argument("--device", action="append", default=[], metavar="BOARD_OR_TORCH_DEVICE",
                        help=f"alias: a board profile (= {board}) or a torch device cpu|cuda|cuda:N "
                             f"(= {torch_device}); repeat it to give both")
    boards = ", ".join(builtin_devices())
    for flag, (section, option, kind, choices) in SHORTCUTS.items():
        if flag in skip:
            continue
        text = _HELP.get(flag, f"shortcut for --set {section}.{option}=...").format(boards=boards)
        parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=kind,
                            choices=choices() if choices else None, help=text)


def config_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None,
                     base_file: Path | None = None) -> RunConfig:
    """The RunConfig the flags describe: preset/file (``base_file`` when neither is given, e.g. a resumed run's
    own config.toml), then --set, shortcuts, --device, --download, ``extra``."""
    path = args.config if args.config or args.preset else base_file
    return load_config(args.preset, path, config_overrides(args, extra))


def config_overrides(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What --set, the shortcuts, --device, --download and ``extra`` change, as a nested dict."""
    overrides: dict[str, Any] = {}
    for text in args.set:
        overrides = merge(overrides, parse_assignment(text))
    for flag, (section, option, _, _) in SHORTCUTS.items():
        if getattr(args, flag, None) is not None:
            overrides = merge(overrides, {section: {option: getattr(args, flag)}})
    for value in args.device:
        section, option = ("train", "device") if TORCH_DEVICE.fullmatch(value) else ("export", "device")
        overrides = merge(overrides, {section: {option: value}})
    if args.download:
        overrides = merge(overrides, {"data": {"download": True}})
    return merge(overrides, extra or {})


def description(doc: str | None) -> str:
    """A module docstring's first paragraph as a ``--help`` description (argparse re-wraps it)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split()).replace("``", "")


def one_line(exc: BaseException) -> str:
    """An error's text on one line (a library's multi-line message joined with '; ')."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def print_error(exc: BaseException) -> None:
    """Print ``error: <message>`` on one line to stderr (the commands' way to report bad input)."""
    print(f"error: {one_line(exc)}", file=sys.stderr)


INTERRUPTED = 130  # the shell's status for a process stopped by SIGINT


def print_interrupted(state: str) -> int:
    """Ctrl-C: one line saying what was left behind and what to do next; the status for ``main`` to return."""
    print(f"stopped (Ctrl-C): {state}", file=sys.stderr)
    return INTERRUPTED


def short_warnings() -> None:
    """Our own warnings print as ``warning: ...`` lines, like the errors; a library's keep Python's format."""
    default = warnings.formatwarning

    def formatted(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  line: str | None = None) -> str:
        if Path(filename).resolve().is_relative_to(PACKAGE_DIR):
            return f"warning: {one_line(Exception(str(message)))}\n"
        return default(message, category, filename, lineno, line)

    warnings.formatwarning = formatted
