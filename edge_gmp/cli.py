"""Command-line flags shared by the pipeline and the sweep: preset, config file, overrides -> RunConfig."""

from __future__ import annotations

import argparse
import re
from typing import Any

from edge_gmp.config import RunConfig, available_presets, load_config, merge, parse_assignment

SHORTCUTS = {  # CLI flag -> (section, option, type)
    "method": ("prune", "method", str),
    "sparsity": ("prune", "sparsity", float),
    "schedule": ("prune", "schedule", str),
    "prune_epochs": ("prune", "prune_epochs", int),
    "finetune_epochs": ("prune", "finetune_epochs", int),
    "epochs": ("train", "epochs", int),
    "batch_size": ("train", "batch_size", int),
    "lr": ("train", "lr", float),
    "seed": ("train", "seed", int),
    "hidden": ("model", "hidden", int),
    "width": ("model", "width", float),
    "source": ("data", "source", str),
    "data_path": ("data", "path", str),
    "init_from": ("train", "init_from", str),
    "board": ("export", "device", str),
    "min_accuracy": ("export", "min_accuracy", float),
}
TORCH_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """--preset, --config, --set, --download, --device and the shortcuts (except those in ``skip``)."""
    parser.add_argument("--preset", help=f"named preset; one of: {', '.join(available_presets())}")
    parser.add_argument("--config", help="a TOML config file (merged over --preset when both are given)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config value, e.g. --set prune.floor_percent=0.1 (repeatable)")
    parser.add_argument("--download", action="store_true",
                        help="fetch the dataset's official archive (checksum-verified) and use it")
    parser.add_argument("--device", action="append", default=[], metavar="BOARD_OR_TORCH_DEVICE",
                        help="a microcontroller profile for the budget check (e.g. nano33ble, stm32f746-disco; "
                             "= --board) or where training runs (cpu, cuda, cuda:N; = --set train.device=...); "
                             "repeat it to give both")
    for flag, (section, option, kind) in SHORTCUTS.items():
        if flag not in skip:
            parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=kind,
                                help=f"shortcut for --set {section}.{option}=...")


def config_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> RunConfig:
    """The RunConfig the flags describe: preset/file, then --set, shortcuts, --device, --download, ``extra``."""
    overrides: dict[str, Any] = {}
    for text in args.set:
        overrides = merge(overrides, parse_assignment(text))
    for flag, (section, option, _) in SHORTCUTS.items():
        if getattr(args, flag, None) is not None:
            overrides = merge(overrides, {section: {option: getattr(args, flag)}})
    for value in args.device:
        section, option = ("train", "device") if TORCH_DEVICE.fullmatch(value) else ("export", "device")
        overrides = merge(overrides, {section: {option: value}})
    if args.download:
        overrides = merge(overrides, {"data": {"download": True}})
    return load_config(args.preset, args.config, merge(overrides, extra or {}))
