"""Type checks for config dataclasses: a value given in TOML or on the command line must have its field's
declared type (an integer option refuses 2.5, a flag refuses "yes"), so a bad value is one clear error
before anything runs or is written."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from edge_gmp.errors import ConfigError

_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
          "tuple[str, ...]": "a list of strings"}


def _matches(kind: str, value: Any) -> tuple[bool, Any]:
    """(value fits ``kind``, the value converted to it: ints become floats for float fields)."""
    if kind == "None":
        return value is None, value
    if kind == "bool":
        return isinstance(value, bool), value
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return ok, float(value) if ok else value
    if kind == "str":
        return isinstance(value, str), value
    if kind == "tuple[str, ...]":
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        return ok, tuple(value) if ok else value
    return True, value  # Any and other annotations are checked by the dataclass itself


def check_field_types(obj: Any, section: str) -> None:
    """Check (and normalise: int -> float, list -> tuple) every field of the frozen dataclass ``obj`` against
    its annotation; ConfigError naming ``section.field`` on a mismatch."""
    for field in dataclasses.fields(obj):
        annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "Any")
        kinds = [k.strip() for k in annotation.split("|")]
        value = getattr(obj, field.name)
        for kind in kinds:
            ok, converted = _matches(kind, value)
            if ok:
                object.__setattr__(obj, field.name, converted)
                break
        else:
            wanted = " or ".join(_NAMES.get(k, k) if k != "None" else "unset" for k in kinds)
            raise ConfigError(f"{section}.{field.name} must be {wanted}, got {value!r}")


def build_options(cls: type, values: Mapping[str, Any], section: str, owner: str) -> Any:
    """``cls(**values)`` for a registered model's or dataset's own options: unknown names, values of the wrong
    type and values its ``__post_init__`` refuses all become one ConfigError naming ``owner``."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) for {owner} in [{section}]: {', '.join(unknown)}; its options: "
                          f"{', '.join(sorted(known)) or 'none'}")
    try:
        options = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid [{section}] option for {owner}: {exc}") from exc
    check_field_types(options, section)
    return options
