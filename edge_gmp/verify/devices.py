"""Device profiles: flash/SRAM from vendor datasheets plus reserves for runtime code and stack."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edge_gmp.errors import UserError

_REQUIRED_INT = ("flash_bytes", "sram_bytes", "flash_reserve_bytes", "ram_reserve_bytes")
_OPTIONAL_INT = ("largest_block_bytes",)
_OPTIONAL_STR = ("mcu", "source", "note")
_ALLOWED = {"name", "aliases", "target", *_REQUIRED_INT, *_OPTIONAL_INT, *_OPTIONAL_STR}
CORES = ("cortex-m4", "cortex-m7")
_TARGET_INT = ("flash_origin", "flash_bytes", "ram_origin", "ram_bytes", "clock_hz", "flash_wait_states")


@dataclass(frozen=True)
class EmulationTarget:
    """Where a bare-metal image goes on the board: the core, the flash region the application may use (after a
    bootloader), the RAM region, the core clock and the flash wait states at that clock (a cycle-estimate input)."""

    core: str
    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int
    clock_hz: int
    flash_wait_states: int = 0


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    flash_bytes: int
    sram_bytes: int
    flash_reserve_bytes: int
    ram_reserve_bytes: int
    mcu: str = ""
    aliases: tuple[str, ...] = ()
    source: str = ""
    note: str = ""
    largest_block_bytes: int | None = None  # largest contiguous RAM block, where the heap is fragmented
    target: EmulationTarget | None = None  # for --emulate: None where no emulated core exists (e.g. Xtensa)

    @property
    def flash_available(self) -> int:
        return self.flash_bytes - self.flash_reserve_bytes

    @property
    def ram_available(self) -> int:
        return self.sram_bytes - self.ram_reserve_bytes


def normalize(name: str) -> str:
    """Case- and punctuation-insensitive key: "STM32F746-Disco" -> "stm32f746disco"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _target(where: str, raw: Any) -> EmulationTarget | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise UserError(f"{where}: target must be a table (core, flash_origin, flash_bytes, ram_origin, ...)")
    unknown = sorted(set(raw) - {"core", *_TARGET_INT})
    missing = [k for k in ("core", *_TARGET_INT[:-1]) if k not in raw]
    if unknown or missing:
        raise UserError(f"{where}: target has unknown field(s) {unknown} or lacks {missing}")
    if raw["core"] not in CORES:
        raise UserError(f"{where}: target core {raw['core']!r} cannot be emulated; use one of {', '.join(CORES)}")
    for key in (k for k in _TARGET_INT if k in raw):
        if isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] < 0 or raw[key] >= 2**32:
            raise UserError(f"{where}: target {key} must be an integer in [0, 2^32), got {raw[key]!r}")
    if raw["flash_bytes"] == 0 or raw["ram_bytes"] == 0 or raw["clock_hz"] == 0:
        raise UserError(f"{where}: target flash_bytes, ram_bytes and clock_hz must be positive")
    if raw["flash_origin"] + raw["flash_bytes"] > 2**32 or raw["ram_origin"] + raw["ram_bytes"] > 2**32:
        raise UserError(f"{where}: target memory regions must lie within the 32-bit address space")
    return EmulationTarget(**raw)


def _device(dev_id: str, raw: Any, origin: str) -> Device:
    where = f"{origin}: device {dev_id!r}"
    if not isinstance(raw, dict):
        raise UserError(f"{where} must be a table ([device.{dev_id}])")
    unknown = sorted(set(raw) - _ALLOWED)
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(unknown)}; "
                        f"allowed: {', '.join(sorted(_ALLOWED))}")
    missing = [k for k in ("name", *_REQUIRED_INT) if k not in raw]
    if missing:
        raise UserError(f"{where}: missing field(s) {', '.join(missing)}")
    for key in (*_REQUIRED_INT, *(k for k in _OPTIONAL_INT if k in raw)):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"{where}: {key} must be a non-negative integer (bytes), got {value!r}")
    for key in ("flash_bytes", "sram_bytes"):
        if raw[key] == 0:
            raise UserError(f"{where}: {key} must be positive")
    for total, reserve in (("flash_bytes", "flash_reserve_bytes"), ("sram_bytes", "ram_reserve_bytes")):
        if raw[reserve] >= raw[total]:
            raise UserError(f"{where}: {reserve} ({raw[reserve]}) leaves nothing of {total} ({raw[total]})")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise UserError(f"{where}: aliases must be a list of strings")
    for key in ("name", *_OPTIONAL_STR):
        if key in raw and not isinstance(raw[key], str):
            raise UserError(f"{where}: {key} must be a string")
    block = raw.get("largest_block_bytes")
    if block is not None and not 0 < block <= raw["sram_bytes"] - raw["ram_reserve_bytes"]:
        raise UserError(f"{where}: largest_block_bytes must be positive and within the SRAM left after the reserve")
    return Device(id=dev_id, name=raw["name"], aliases=tuple(aliases), largest_block_bytes=block,
                  target=_target(where, raw.get("target")),
                  **{k: raw[k] for k in _REQUIRED_INT}, **{k: raw.get(k, "") for k in _OPTIONAL_STR})


def parse_devices(text: str, origin: str) -> dict[str, Device]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{origin}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"device"})
    if unknown or not isinstance(data.get("device"), dict) or not data["device"]:
        raise UserError(f"{origin}: expected one or more [device.ID] tables"
                        + (f" (unknown top-level keys: {', '.join(unknown)})" if unknown else ""))
    return {dev_id: _device(dev_id, raw, origin) for dev_id, raw in data["device"].items()}


def builtin_devices() -> dict[str, Device]:
    text = resources.files("edge_gmp.verify").joinpath("devices.toml").read_text(encoding="utf-8")
    return parse_devices(text, "edge_gmp/verify/devices.toml")


def load_devices(extra: str | os.PathLike | None = None) -> dict[str, Device]:
    """Built-in profiles, then those in ``extra`` (a user TOML file; same ids replace built-ins)."""
    devices = builtin_devices()
    if extra is not None:
        path = Path(extra)
        if not path.is_file():
            raise UserError(f"devices file not found: {path}")
        devices.update(parse_devices(path.read_text(encoding="utf-8"), str(path)))
    return devices


def find_device(name: str, extra: str | os.PathLike | None = None) -> Device:
    """Match ``name`` against ids, aliases and full names, ignoring case and punctuation."""
    devices = load_devices(extra)
    key = normalize(name)
    hits = {d.id: d for d in devices.values()
            if key in {normalize(d.id), normalize(d.name), *(normalize(a) for a in d.aliases)}}
    if len(hits) == 1:
        return next(iter(hits.values()))
    if len(hits) > 1:
        raise UserError(f"device {name!r} is ambiguous: {', '.join(sorted(hits))}")
    known = ", ".join(f"{d.id} ({d.name})" for d in devices.values())
    raise UserError(f"unknown device {name!r}; known devices: {known}. Add your own in a TOML file of the same "
                    "schema (validate: --devices FILE.toml; pipeline: --set export.devices_file=FILE.toml)")
