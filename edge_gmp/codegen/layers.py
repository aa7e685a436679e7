"""What one operator becomes in C: a :class:`Layer` (the call, the constants it needs, the C pieces it uses, and
its line of the report), and the :class:`Emitter` that names constants uniquely. Operators register their
lowering by TFLite name with :func:`lowering`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_gmp.codegen.graph import Graph, Op, UnsupportedModel

LOWERINGS: dict[str, Callable[[Graph, Op, Emitter], Layer]] = {}

C_TYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t", "uint8": "uint8_t",
           "uint16": "uint16_t", "float32": "float"}


@dataclass
class LayerReport:
    index: int
    op: str
    output: str
    format: str = ""
    weight_bytes: int = 0  # stored weight values and their index data
    param_bytes: int = 0  # bias, multipliers, shifts, tables
    dense_macs: int = 0
    kept_macs: int = 0
    constant_channels: int = 0


@dataclass
class Layer:
    op: Op
    call: str  # a C statement; {in0}, {out0}, ... stand for tensor pointers, {scratch} for the layer's scratch
    reads: list[int]
    writes: list[int]
    pieces: list[str] = field(default_factory=list)
    report: LayerReport | None = None
    scratch_bytes: int = 0
    row_length: int = 0  # longest weight row: sizes the shared row-decoding buffers


@dataclass
class Emitter:
    """Collects the constant data of the generated file under unique names."""

    declarations: list[str] = field(default_factory=list)
    formats: tuple[str, ...] | None = None  # weight formats to choose from (None: every registered one)
    _names: set[str] = field(default_factory=set)

    def name(self, hint: str) -> str:
        base, n = hint, 1
        while hint in self._names:
            n += 1
            hint = f"{base}_{n}"
        self._names.add(hint)
        return hint

    def array(self, hint: str, values: np.ndarray) -> str:
        """A ``static const`` array; returns its name."""
        values = np.asarray(values).reshape(-1)
        ctype = C_TYPES[values.dtype.name]
        name = self.name(hint)
        if values.size == 0:
            self.declarations.append(f"static const {ctype} {name}[1] = {{0}};")
            return name
        body = _format_values(values)
        self.declarations.append(f"static const {ctype} {name}[{values.size}] = {{\n{body}}};")
        return name

    def struct(self, hint: str, ctype: str, fields: str) -> str:
        name = self.name(hint)
        self.declarations.append(f"static const {ctype} {name} = {{{fields}}};")
        return name


def _literal(v: int, dtype: str) -> str:
    if dtype == "int64":
        return f"INT64_C({v})"
    if dtype == "int32" and v == -(2**31):
        return "INT32_MIN"
    if dtype == "uint16" or dtype == "uint8":
        return f"{v}u"
    return str(v)


def _format_values(values: np.ndarray, per_line: int = 16) -> str:
    dtype = values.dtype.name
    items = [_literal(int(v), dtype) for v in values]
    lines = ["  " + ", ".join(items[i:i + per_line]) + ",\n" for i in range(0, len(items), per_line)]
    return "".join(lines)


def lowering(*kinds: str) -> Callable[[Callable[[Graph, Op, Emitter], Layer]], Callable]:
    def wrap(fn: Callable[[Graph, Op, Emitter], Layer]) -> Callable[[Graph, Op, Emitter], Layer]:
        for kind in kinds:
            LOWERINGS[kind] = fn
        return fn
    return wrap


def unsupported(graph: Graph, op: Op, what: str) -> UnsupportedModel:
    return UnsupportedModel(f"{graph.path}: operator {op.index} ({op.kind}) {what}; the code generator cannot "
                            "compile it (python -m edge_gmp.codegen --help lists what it supports)")


def require(condition: bool, graph: Graph, op: Op, what: str) -> None:
    if not condition:
        raise unsupported(graph, op, what)


def shape4(shape: tuple[int, ...], graph: Graph, op: Op) -> list[int]:
    require(len(shape) <= 4, graph, op, f"has a rank-{len(shape)} tensor (at most 4 dimensions)")
    return [1] * (4 - len(shape)) + list(shape)
