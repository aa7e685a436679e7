"""From an integer .tflite to a C library: fold PAD into the convolution that reads it, lower each operator,
plan the memory, and write ``<name>.c`` / ``<name>.h`` with a report of bytes, memory and MACs per layer."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_gmp.codegen import lower_conv, lower_elementwise, lower_shape  # noqa: F401  (register lowerings)
from edge_gmp.codegen.csource import PRELUDE
from edge_gmp.codegen.graph import Graph, UnsupportedModel, load_graph
from edge_gmp.codegen.layers import C_TYPES, LOWERINGS, Emitter, Layer
from edge_gmp.codegen.lower_shape import pad_amounts
from edge_gmp.codegen.pieces import assemble
from edge_gmp.codegen.plan import Buffer, plan_memory

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


@dataclass
class Library:
    name: str
    source: str
    header: str
    report: dict = field(default_factory=dict)


def _fold_pads(graph: Graph) -> None:
    """A PAD whose only reader is a VALID convolution, padding H and W with the input's zero point, becomes that
    convolution's padding: the padded tensor is never stored (padded taps add (zp - zp) * w = 0 in TFLM too)."""
    for pad in [op for op in graph.ops if op.kind in ("PAD", "PADV2")]:
        out = pad.outputs[0]
        readers = graph.consumers(out)
        if len(readers) != 1 or out in graph.outputs or readers[0].kind not in _CONVS:
            continue
        conv, x = readers[0], graph.tensor(pad.inputs[0])
        paddings, value = pad_amounts(graph, pad)
        if (conv.inputs[0] != out or conv.options.padding != 1 or len(x.shape) != 4 or paddings[0].any()
                or paddings[3].any() or value != graph.tensor(out).zero_point):
            continue
        conv.fused_pad = (int(paddings[1, 0]), int(paddings[2, 0]), x.shape[1], x.shape[2])
        conv.inputs = [pad.inputs[0], *conv.inputs[1:]]
        graph.ops.remove(pad)


def _lower(graph: Graph, emitter: Emitter) -> list[Layer]:
    for t in graph.inputs + graph.outputs:
        tensor = graph.tensor(t)
        if tensor.dtype not in ("int8", "int16", "float32"):
            raise UnsupportedModel(f"{graph.path}: graph {'input' if t in graph.inputs else 'output'} "
                                   f"{tensor.name or t} is {tensor.dtype}; the code generator compiles integer models "
                                   "with int8/int16 (or float32 through QUANTIZE/DEQUANTIZE) inputs and outputs")
    for op in graph.ops:
        if op.kind not in LOWERINGS:
            raise UnsupportedModel(f"{graph.path}: operator {op.index} is {op.kind}, which the code generator does "
                                   f"not support (supported: {', '.join(sorted(LOWERINGS))})")
    return [LOWERINGS[op.kind](graph, op, emitter) for op in graph.ops]


def _aliases(layers: list[Layer]) -> dict[int, int]:
    alias: dict[int, int] = {}
    for layer in layers:
        if layer.op.kind == "RESHAPE":
            alias[layer.writes[0]] = alias.get(layer.reads[0], layer.reads[0])
    return alias


def _buffers(graph: Graph, layers: list[Layer], alias: dict[int, int]) -> list[Buffer]:
    spans: dict[int, list[int]] = {}
    for i, layer in enumerate(layers):
        for t in layer.writes + layer.reads:
            root = alias.get(t, t)
            if graph.tensor(root).data is None and root not in graph.inputs:
                span = spans.setdefault(root, [i, i])
                span[0], span[1] = min(span[0], i), max(span[1], i)
    for t in graph.outputs:
        root = alias.get(t, t)
        if root in spans:
            spans[root][1] = len(layers)
    buffers = [Buffer(f"t{t}", graph.tensor(t).size * graph.tensor(t).itemsize, a, b) for t, (a, b) in spans.items()]
    buffers += [Buffer(f"s{i}", layer.scratch_bytes, i, i) for i, layer in enumerate(layers) if layer.scratch_bytes]
    return buffers


class _Pointers:
    def __init__(self, graph: Graph, alias: dict[int, int], offsets: dict[str, int], emitter: Emitter) -> None:
        self.graph, self.alias, self.offsets, self.emitter = graph, alias, offsets, emitter
        self.constants: dict[int, str] = {}

    def __call__(self, t: int) -> str:
        root = self.alias.get(t, t)
        tensor = self.graph.tensor(root)
        ctype = C_TYPES.get(self.graph.tensor(t).dtype, "int8_t")
        if root in self.graph.inputs:
            return f"(const {ctype} *){self.graph.io_names[root]}"
        if tensor.data is not None:
            if root not in self.constants:
                self.constants[root] = self.emitter.array(f"c{root}", np.asarray(tensor.data))
            return self.constants[root]
        return f"({ctype} *)(eg_arena + {self.offsets[f't{root}']})"


def _calls(layers: list[Layer], pointers: _Pointers, offsets: dict[str, int]) -> list[str]:
    lines = []
    for i, layer in enumerate(layers):
        lines.append(f"  EG_LAYER_HOOK({i});")
        if not layer.call:
            continue
        names = {f"in{j}": pointers(t) for j, t in enumerate(layer.reads)}
        names.update({f"out{j}": pointers(t) for j, t in enumerate(layer.writes)})
        names["scratch"] = f"(eg_arena + {offsets[f's{i}']})" if layer.scratch_bytes else "0"
        lines.append(f"  /* {layer.op.index}: {layer.op.kind} */\n  " + layer.call.format(**names))
    lines.append(f"  EG_LAYER_HOOK({len(layers)});")
    return lines


def _signature(graph: Graph, name: str) -> str:
    params = [f"const {C_TYPES[graph.tensor(t).dtype]} *{graph.io_names[t]}" for t in graph.inputs]
    params += [f"{C_TYPES[graph.tensor(t).dtype]} *{graph.io_names[t]}" for t in graph.outputs]
    return f"int {name}_invoke({', '.join(params)})"


def _name_io(graph: Graph) -> None:
    if len(graph.inputs) == 1 and len(graph.outputs) == 1:
        graph.io_names = {graph.inputs[0]: "in", graph.outputs[0]: "out"}


def _outputs_copy(graph: Graph, pointers: _Pointers) -> list[str]:
    lines = []
    for t in graph.outputs:
        tensor = graph.tensor(t)
        lines.append(f"  eg_copy({graph.io_names[t]}, {pointers(t)}, {tensor.size * tensor.itemsize});")
    return lines


def _io_comment(graph: Graph) -> str:
    lines = []
    for kind, indices in (("input", graph.inputs), ("output", graph.outputs)):
        for t in indices:
            x = graph.tensor(t)
            lines.append(f" * {kind} {graph.io_names[t]}: {x.dtype} {list(x.shape)}, scale {x.scale!r}, "
                         f"zero point {x.zero_point}")
    return "\n".join(lines)


def _header(graph: Graph, name: str, arena: int, scratch: int) -> str:
    guard = f"{name.upper()}_H"
    return (f"/* {name}.h: generated by edge_gmp.codegen from {Path(graph.path).name}; do not edit.\n"
            f"{_io_comment(graph)}\n */\n#ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n\n"
            f"#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n"
            f"#define {name.upper()}_ARENA_BYTES {arena}\n#define {name.upper()}_SCRATCH_BYTES {scratch}\n\n"
            f"/* Runs the model once; returns 0. Inputs are only read, outputs fully written. */\n"
            f"{_signature(graph, name)};\n\n#ifdef __cplusplus\n}}\n#endif\n\n#endif\n")


def _keys(layers: list[Layer]) -> set[str]:
    return {k for layer in layers for k in layer.pieces}


def _source(graph: Graph, name: str, layers: list[Layer], emitter: Emitter, body: list[str], arena: int) -> str:
    keys = _keys(layers)
    row = max((layer.row_length for layer in layers), default=0)
    statics = [f"static int32_t eg_arena_words[{max(1, (arena + 3) // 4)}];",
               "#define eg_arena ((int8_t *)eg_arena_words)"]
    if row:
        statics += [f"static uint16_t eg_k[{row}];", f"static int32_t eg_off[{_off_words(row, keys)}];"]
    return (f"/* {name}.c: generated by edge_gmp.codegen from {Path(graph.path).name}; do not edit. */\n"
            f"#include \"{name}.h\"\n" + PRELUDE + "\n" + assemble(keys) + "\n" + "\n".join(statics) + "\n\n"
            + "\n".join(emitter.declarations) + "\n\n" + _signature(graph, name) + " {\n"
            + "\n".join(body) + "\n  return 0;\n}\n")


def _off_words(row: int, keys: set[str]) -> int:
    """The offsets of a row's kept weights, then, for int8 convolutions, room for a target header to recode the row
    (see csource.DOT)."""
    return 3 * row + 2 if "conv:s8" in keys else row


def _scratch_bytes(row: int, keys: set[str]) -> int:
    return 2 * row + 4 * _off_words(row, keys) if row else 0


def _report(graph: Graph, layers: list[Layer], emitter: Emitter, arena: int, row: int) -> dict:
    rows = [asdict(layer.report) for layer in layers if layer.report is not None and layer.op.kind != "RESHAPE"]
    weights = sum(r["weight_bytes"] for r in rows)
    params = sum(r["param_bytes"] for r in rows)
    dense = sum(r["dense_macs"] for r in rows)
    kept = sum(r["kept_macs"] for r in rows)
    return {"source": str(graph.path), "layers": rows, "weight_bytes": weights, "param_bytes": params,
            "arena_bytes": arena, "row_scratch_bytes": _scratch_bytes(row, _keys(layers)), "dense_macs": dense,
            "kept_macs": kept,
            "kept_mac_fraction": kept / dense if dense else 1.0,
            "inputs": {graph.io_names[t]: list(graph.tensor(t).shape) for t in graph.inputs},
            "outputs": {graph.io_names[t]: list(graph.tensor(t).shape) for t in graph.outputs},
            "io": [{"name": graph.io_names[t], "direction": "in" if t in graph.inputs else "out",
                    "dtype": graph.tensor(t).dtype, "size": graph.tensor(t).size}
                   for t in graph.inputs + graph.outputs]}


def generate(path: str | os.PathLike, name: str, formats: tuple[str, ...] | None = None) -> Library:
    """Compile the .tflite at ``path`` into a C library whose entry point is ``<name>_invoke``; weights are stored
    in the smallest of ``formats`` per tensor (default: every registered format; ``("dense",)``: a dense build)."""
    graph = load_graph(path)
    _name_io(graph)
    _fold_pads(graph)
    emitter = Emitter(formats=formats)
    layers = _lower(graph, emitter)
    alias = _aliases(layers)
    buffers = _buffers(graph, layers, alias)
    offsets, arena = plan_memory(buffers)
    pointers = _Pointers(graph, alias, offsets, emitter)
    body = _calls(layers, pointers, offsets) + _outputs_copy(graph, pointers)
    row = max((layer.row_length for layer in layers), default=0)
    report = _report(graph, layers, emitter, arena, row)
    report["buffers"] = [asdict(b) | {"offset": offsets[b.key]} for b in buffers]
    header = _header(graph, name, arena, _scratch_bytes(row, _keys(layers)))
    return Library(name, _source(graph, name, layers, emitter, body, arena), header, report)
