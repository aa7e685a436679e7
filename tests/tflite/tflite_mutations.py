"""Corrupted and hostile .tflite files made from a real model, and a crash-proof way to open them natively.

Semantic mutations edit the object tree (``schema.ModelT``) and re-serialise it; byte mutations damage the
file itself (truncations, vtable bytes, vector lengths, seeded random bytes). ``open_in_child`` opens files in
TFLite Micro and LiteRT in child processes so that a segmentation fault is observed instead of killing pytest.
"""

from __future__ import annotations

import inspect
import math
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

Mutation = Callable[[schema.ModelT], None]


def load(path: Path) -> schema.ModelT:
    """The object tree of a .tflite; its arrays are writable views of a private copy of the bytes."""
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(path.read_bytes()), 0))


def serialise(model: schema.ModelT) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# --- semantic mutations (object tree) --------------------------------------------------------------------


def _main(model: schema.ModelT) -> schema.SubGraphT:
    return model.subgraphs[0]


def _has_data(model: schema.ModelT, tensor: schema.TensorT) -> bool:
    data = model.buffers[tensor.buffer].data
    return data is not None and len(data) > 0


def _weight(model: schema.ModelT, per_channel: bool = False) -> int:
    """Index of the first int8 constant tensor (with more than one quantisation scale if ``per_channel``)."""
    for i, t in enumerate(_main(model).tensors):
        scales = 0 if t.quantization is None or t.quantization.scale is None else len(t.quantization.scale)
        if t.type == schema.TensorType.INT8 and _has_data(model, t) and (scales > 1 or not per_channel):
            return i
    raise LookupError("no such weight tensor")


def _activation(model: schema.ModelT) -> int:
    """The tensor the first operator writes (a per-tensor quantised int8 activation in the models used)."""
    return int(_main(model).operators[0].outputs[0])


def _set_quant(model: schema.ModelT, tensor: int, **fields: object) -> None:
    q = _main(model).tensors[tensor].quantization
    for field, value in fields.items():
        setattr(q, field, value)


def _scale(value: float) -> Mutation:
    return lambda m: _set_quant(m, _activation(m), scale=np.array([value], np.float32))


def _channel_scale(value: float) -> Mutation:
    def mutate(m: schema.ModelT) -> None:
        q = _main(m).tensors[_weight(m, per_channel=True)].quantization
        q.scale = q.scale.copy()
        q.scale[len(q.scale) // 2] = value
    return mutate


def _n_tensors(m: schema.ModelT) -> int:
    return len(_main(m).tensors)


def _op(m: schema.ModelT, index: int = 0) -> schema.OperatorT:
    return _main(m).operators[index]


def _set_item(values: np.ndarray | list[int], index: int, value: int) -> np.ndarray:
    out = np.array(values, np.int32)
    out[index] = value
    return out


def _shorten_weight(fraction: float) -> Mutation:
    def mutate(m: schema.ModelT) -> None:
        buf = m.buffers[_main(m).tensors[_weight(m)].buffer]
        buf.data = buf.data[: math.floor(len(buf.data) * fraction)]
    return mutate


def _set_tensor(field: str, value: Callable[[schema.ModelT], object], pick: Callable = _activation) -> Mutation:
    return lambda m: setattr(_main(m).tensors[pick(m)], field, value(m))


def _set_op(field: str, index: int, value: Callable[[schema.ModelT], int], op: int = 0) -> Mutation:
    return lambda m: setattr(_op(m, op), field, _set_item(getattr(_op(m, op), field), index, value(m)))


def _set_graph(field: str, index: int, value: Callable[[schema.ModelT], int]) -> Mutation:
    return lambda m: setattr(_main(m), field, _set_item(getattr(_main(m), field), index, value(m)))


def _no_operators(m: schema.ModelT) -> None:
    _main(m).operators = []


def _bad_channel_count(m: schema.ModelT) -> None:
    q = _main(m).tensors[_weight(m, per_channel=True)].quantization
    q.scale, q.zeroPoint = np.append(q.scale, q.scale[-1]), np.append(q.zeroPoint, 0)


def _scale_zero_point_mismatch(m: schema.ModelT) -> None:
    q = _main(m).tensors[_weight(m, per_channel=True)].quantization
    q.zeroPoint = np.append(q.zeroPoint, 0)


def _buffer_offset_past_end(m: schema.ModelT) -> None:
    buf = m.buffers[_main(m).tensors[_weight(m)].buffer]
    buf.offset, buf.size, buf.data = 1 << 40, 64, None


def _signature_tensor(m: schema.ModelT) -> None:
    m.signatureDefs[0].outputs[0].tensorIndex = _n_tensors(m) + 3


def _buffer_zero_data(m: schema.ModelT) -> None:
    m.buffers[0].data = np.zeros(16, np.uint8)


# name: (mutation, a phrase the UserError must contain)
_STRUCTURAL: dict[str, tuple[Mutation, str]] = {
    "op input index = tensor count": (_set_op("inputs", 0, _n_tensors), "out of range"),
    "op input index = -2": (_set_op("inputs", 0, lambda m: -2), "out of range"),
    "op output index = tensor count + 5": (_set_op("outputs", 0, lambda m: _n_tensors(m) + 5), "out of range"),
    "op output index = -1": (_set_op("outputs", 0, lambda m: -1), "out of range"),
    "op intermediate out of range": (lambda m: setattr(_op(m), "intermediates", np.array([9999], np.int32)),
                                     "out of range"),
    "last op output = tensor count": (lambda m: _set_op("outputs", 0, _n_tensors, op=len(_main(m).operators) - 1)(m),
                                      "out of range"),
    "opcode index out of range": (lambda m: setattr(_op(m), "opcodeIndex", len(m.operatorCodes)), "operator code"),
    "subgraph output = -1": (_set_graph("outputs", 0, lambda m: -1), "out of range"),
    "subgraph input = tensor count": (_set_graph("inputs", 0, _n_tensors), "out of range"),
    "subgraph input is a weight": (_set_graph("inputs", 0, _weight), "is a constant tensor"),
    "tensor buffer index = buffer count": (_set_tensor("buffer", lambda m: len(m.buffers)), "buffer index"),
    "tensor buffer index = 2**32-1": (_set_tensor("buffer", lambda m: 0xFFFFFFFF), "buffer index"),
    "weight buffer one byte short": (_shorten_weight(0.999), "constant buffer"),
    "weight buffer a quarter long": (_shorten_weight(0.25), "constant buffer"),
    "weight buffer empty-ish (1 byte)": (lambda m: setattr(m.buffers[_main(m).tensors[_weight(m)].buffer], "data",
                                                           np.zeros(1, np.uint8)), "constant buffer"),
    "buffer offset past the end": (_buffer_offset_past_end, "runs past the end"),
    "zero operators": (_no_operators, "no operators"),
    "no subgraphs": (lambda m: setattr(m, "subgraphs", []), "no subgraph"),
    "schema version 2": (lambda m: setattr(m, "version", 2), "schema version 2"),
    "schema version 4": (lambda m: setattr(m, "version", 4), "schema version 4"),
    "no outputs": (lambda m: setattr(_main(m), "outputs", np.array([], np.int32)), "no outputs"),
    "operator writes into a weight": (_set_op("outputs", 0, _weight), "constant (weight) tensor"),
    "scale 0": (_scale(0.0), "scale[0]"),
    "scale NaN": (_scale(float("nan")), "scale[0]"),
    "scale +inf": (_scale(float("inf")), "scale[0]"),
    "scale -1": (_scale(-1.0), "scale[0]"),
    "per-channel scale NaN": (_channel_scale(float("nan")), "finite and > 0"),
    "per-channel scale 0": (_channel_scale(0.0), "finite and > 0"),
    "int8 zero point 200": (lambda m: _set_quant(m, _activation(m), zeroPoint=np.array([200])), "zero point"),
    "int8 zero point -129": (lambda m: _set_quant(m, _activation(m), zeroPoint=np.array([-129])), "zero point"),
    "per-channel count != axis size": (_bad_channel_count, "per-channel scales"),
    "scale / zero point count mismatch": (_scale_zero_point_mismatch, "zero points"),
    "quantized_dimension = rank": (lambda m: _set_quant(m, _weight(m, True), quantizedDimension=4), "quantized_dim"),
    "quantized_dimension = -1": (lambda m: _set_quant(m, _weight(m, True), quantizedDimension=-1), "quantized_dim"),
    "negative shape": (_set_tensor("shape", lambda m: np.array([1, -64], np.int32)), "negative dimension"),
    "negative weight shape": (_set_tensor("shape", lambda m: np.array([-2, 64], np.int32), _weight),
                              "negative dimension"),
    "absurd element count": (_set_tensor("shape", lambda m: np.array([1 << 20, 1 << 20], np.int32)), "bytes"),
    "rank 20": (_set_tensor("shape", lambda m: np.ones(20, np.int32)), "rank 20"),
    "unknown tensor type": (_set_tensor("type", lambda m: 99), "unknown tensor type"),
    "signature tensor out of range": (_signature_tensor, "signature"),
    "metadata buffer out of range": (lambda m: setattr(m.metadata[0], "buffer", len(m.buffers) + 1), "metadata"),
    "buffer 0 holds data": (_buffer_zero_data, "buffer 0"),
    "external buffer": (_set_tensor("externalBuffer", lambda m: 1, _weight), "external buffer"),
    "tensor name not UTF-8": (_set_tensor("name", lambda m: b"conv\xff\xfe"), "not valid UTF-8"),
}


def _op_named(m: schema.ModelT, name: int) -> int:
    """Index of the first operator of builtin code ``name`` in the main subgraph."""
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    for i, op in enumerate(_main(m).operators):
        if codes[op.opcodeIndex] == name:
            return i
    raise LookupError(f"no operator {name}")


def _on_op(name: int, mutate: Callable[[schema.ModelT, schema.OperatorT], None]) -> Mutation:
    return lambda m: mutate(m, _op(m, _op_named(m, name)))


def _out_tensor(m: schema.ModelT, op: schema.OperatorT) -> schema.TensorT:
    return _main(m).tensors[op.outputs[0]]


def _grow_output(m: schema.ModelT, op: schema.OperatorT) -> None:
    out = _out_tensor(m, op)
    out.shape = np.array([*out.shape[:-1], out.shape[-1] * 700], np.int32)


def _tiny_output_scale(m: schema.ModelT, op: schema.OperatorT) -> None:
    _out_tensor(m, op).quantization.scale = np.array([1e-9], np.float32)


def _unquantised_output(m: schema.ModelT, op: schema.OperatorT) -> None:
    _out_tensor(m, op).quantization = None


def _float_output(m: schema.ModelT, op: schema.OperatorT) -> None:
    _out_tensor(m, op).type = schema.TensorType.FLOAT32


def _drop_options(m: schema.ModelT, op: schema.OperatorT) -> None:
    op.builtinOptions = None  # the options type stays set


def _stride(value: int) -> Callable[[schema.ModelT, schema.OperatorT], None]:
    return lambda m, op: setattr(op.builtinOptions, "strideW", value)


def _second_writer(m: schema.ModelT) -> None:
    _op(m, 1).outputs = np.array(_op(m, 0).outputs, np.int32)


def _variable_weight(m: schema.ModelT) -> None:
    _main(m).tensors[_weight(m)].isVariable = True


_OP = schema.BuiltinOperator
_KERNEL_CONTRACTS: dict[str, tuple[Mutation, str]] = {  # shapes, types and scales the kernels trust
    "ADD output 700x too large": (_on_op(_OP.ADD, _grow_output), "broadcast shape"),
    "FULLY_CONNECTED output 700x too large": (_on_op(_OP.FULLY_CONNECTED, _grow_output), "do not make output"),
    "CONV_2D output 700x too large": (_on_op(_OP.CONV_2D, _grow_output), "channels do not agree"),
    "CONV_2D stride 0": (_on_op(_OP.CONV_2D, _stride(0)), "are invalid"),
    "CONV_2D stride 3": (_on_op(_OP.CONV_2D, _stride(3)), "does not match input"),
    "DEPTHWISE_CONV_2D multiplier 3": (_on_op(_OP.DEPTHWISE_CONV_2D,
                                              lambda m, op: setattr(op.builtinOptions, "depthMultiplier", 3)),
                                       "depth multiplier 3"),
    "CONV_2D options missing": (_on_op(_OP.CONV_2D, _drop_options), "missing or of an unknown type"),
    "ADD output scale 1e-9": (_on_op(_OP.ADD, _tiny_output_scale), "rescale factor"),
    "ADD output unquantised": (_on_op(_OP.ADD, _unquantised_output), "without quantisation parameters"),
    "MUL output FLOAT32": (_on_op(_OP.MUL, _float_output), "but the output is FLOAT32"),
    "ADD input absent (-1)": (_on_op(_OP.ADD, lambda m, op: setattr(op, "inputs", _set_item(op.inputs, 1, -1))),
                              "no optional inputs"),
    "two operators write one tensor": (_second_writer, "already provides"),
    "operator reads a tensor nobody writes": (_set_op("inputs", 0, lambda m: _activation(m) + 1, op=0),
                                              "before any operator writes it"),
    "variable tensor with data": (_variable_weight, "variable tensor with constant data"),
    "custom quantisation details": (lambda m: _set_quant(m, _activation(m), detailsType=1), "quantisation details"),
    "subgraph inputs field missing": (lambda m: setattr(_main(m), "inputs", None), "inputs field is missing"),
    "operator outputs field missing": (lambda m: setattr(_op(m), "outputs", None), "outputs field is missing"),
}
SEMANTIC = {**_STRUCTURAL, **_KERNEL_CONTRACTS}




# --- byte-level mutations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    name: str
    data: bytes


def _tables(model: schema.Model) -> Iterator[object]:
    """Every table object reachable from the root (models of this project: no control flow)."""
    yield model
    for i in range(model.BuffersLength()):
        yield model.Buffers(i)
    for i in range(model.OperatorCodesLength()):
        yield model.OperatorCodes(i)
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        yield sg
        for i in range(sg.OperatorsLength()):
            yield sg.Operators(i)
        for i in range(sg.TensorsLength()):
            tensor = sg.Tensors(i)
            yield tensor
            if tensor.Quantization() is not None:
                yield tensor.Quantization()


def _vtables(data: bytes) -> list[tuple[int, int]]:
    """(position, byte size) of each distinct vtable."""
    found = {}
    for table in _tables(schema.Model.GetRootAsModel(data, 0)):
        tab = table._tab
        vtable = tab.Pos - int(np.frombuffer(data, "<i4", 1, tab.Pos)[0])
        found[vtable] = int(np.frombuffer(data, "<u2", 1, vtable)[0])
    return sorted(found.items())


def _vector_slots(table: object) -> list[int]:
    """The vtable slots of the table's vector fields, read off the generated ``<Field>Length`` accessors."""
    slots = []
    for attr in dir(type(table)):
        if attr.endswith("Length"):
            found = re.search(r"Offset\((\d+)\)", inspect.getsource(getattr(type(table), attr)))
            slots += [int(found.group(1))] if found else []
    return slots


def _vector_length_positions(data: bytes) -> list[int]:
    """Where the length word of each vector of each table sits."""
    positions = set()
    for table in _tables(schema.Model.GetRootAsModel(data, 0)):
        tab = table._tab
        for slot in _vector_slots(table):
            field = tab.Offset(slot)
            if field:
                pos = tab.Pos + field
                positions.add(pos + int(np.frombuffer(data, "<u4", 1, pos)[0]))
    return sorted(positions)


def _replace(data: bytes, pos: int, new: bytes) -> bytes:
    return data[:pos] + new + data[pos + len(new):]


def truncations(data: bytes) -> list[Mutant]:
    n = len(data)
    cuts = sorted({0, 3, 4, 7, 8, 12, 16, 24, 32, 64, 100, n // 8, n // 4, n // 2, 3 * n // 4, n - 16, n - 4, n - 1})
    return [Mutant(f"truncated to {c} bytes", data[:c]) for c in cuts]


def vtable_mutations(data: bytes) -> list[Mutant]:
    """Each 16-bit entry of each vtable (its size, the table size and every field offset) set to 0xFFFF, to
    1 more and to 0 (an absent field)."""
    out = []
    for pos, size in _vtables(data):
        for entry in range(pos, pos + size, 2):
            old = int(np.frombuffer(data, "<u2", 1, entry)[0])
            for new in {0xFFFF, (old + 1) & 0xFFFF, 0} - {old}:
                out.append(Mutant(f"vtable@{pos} entry {entry - pos} {old}->{new}",
                                  _replace(data, entry, int(new).to_bytes(2, "little"))))
    return out


def vector_length_mutations(data: bytes) -> list[Mutant]:
    out = []
    for pos in _vector_length_positions(data):
        old = int(np.frombuffer(data, "<u4", 1, pos)[0])
        for new in (0xFFFFFFFF, 0x7FFFFFFF, old * 1000 + 1, old + 1):
            out.append(Mutant(f"vector length@{pos} {old}->{new}",
                              _replace(data, pos, (new & 0xFFFFFFFF).to_bytes(4, "little"))))
    return out


def _data_ranges(data: bytes) -> np.ndarray:
    """A mask of the bytes that hold constant buffer data (mutating them only changes weights)."""
    mask = np.zeros(len(data), bool)
    model = schema.Model.GetRootAsModel(data, 0)
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            start = buf._tab.Vector(4)
            mask[start:start + buf.DataLength()] = True
    return mask


def random_mutations(data: bytes, count: int, seed: int) -> list[Mutant]:
    """Seeded random damage, mostly outside the weight bytes: one flipped bit, one random byte, a random
    32-bit word at an aligned offset (a wild offset or length), or a run of random bytes."""
    rng = np.random.default_rng(seed)
    structure = np.flatnonzero(~_data_ranges(data))
    out = []
    for k in range(count):
        pos = int(rng.choice(structure)) if rng.random() < 0.85 else int(rng.integers(len(data)))
        kind = k % 4
        if kind == 0:
            new = bytes([data[pos] ^ (1 << int(rng.integers(8)))])
        elif kind == 1:
            new = bytes([int(rng.integers(256))])
        elif kind == 2:
            pos -= pos % 4
            new = rng.bytes(4)
        else:
            new = rng.bytes(int(rng.integers(2, 17)))
        out.append(Mutant(f"seed {seed} #{k}: {len(new)} byte(s) at {pos}", _replace(data, pos, new)[:len(data)]))
    return out


# --- opening files in the native runtimes ----------------------------------------------------------------

_CHILD = r"""
import os, signal, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tflite_micro.python.tflite_micro import runtime as tflm


def run_tflm(data):  # the interpreters are destroyed on return, so a crash there is blamed on this file
    micro = tflm.Interpreter.from_bytes(data, arena_size=max(10 * len(data), 1 << 20))
    micro.invoke()


def run_litert(path):
    lite = Interpreter(model_path=path, num_threads=1,
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    lite.allocate_tensors()
    lite.invoke()


for line in sys.stdin:
    index, path = line.rstrip("\n").split("\t", 1)
    print("START", index, flush=True)
    signal.alarm(HANG_SECONDS)  # a file that hangs a runtime ends this child with SIGALRM
    results = []
    for name, run, arg in (("tflm", run_tflm, open(path, "rb").read()), ("litert", run_litert, path)):
        try:
            run(arg)
            results.append(name + ":ok")
        except Exception as exc:
            results.append(name + ":" + type(exc).__name__)
    signal.alarm(0)
    print("DONE", index, " ".join(results), flush=True)
"""


@dataclass(frozen=True)
class ChildResult:
    outcomes: dict[int, str]  # file index -> "tflm:<ok|exception> litert:<ok|exception>" for files opened cleanly
    crashes: dict[int, str]  # file index -> how the child died while it had that file open, and its last words


def _describe_exit(returncode: int, stderr: str) -> str:
    how = f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
    return f"{how}: {' | '.join(stderr.strip().splitlines()[-3:])}"


def open_in_child(paths: list[Path], hang_seconds: int = 60, timeout: float = 900) -> ChildResult:
    """Open (and invoke once) every file in TFLite Micro and LiteRT, in child processes. A child that dies
    (a signal, or a native exit) is recorded against the file it had open, and a new child carries on with
    the next file."""
    outcomes: dict[int, str] = {}
    crashes: dict[int, str] = {}
    script = _CHILD.replace("HANG_SECONDS", str(hang_seconds))
    start = 0
    while start < len(paths):
        feed = "".join(f"{i}\t{paths[i]}\n" for i in range(start, len(paths)))
        proc = subprocess.run([sys.executable, "-c", script], input=feed, capture_output=True, text=True,
                              timeout=timeout)
        started = None
        for line in proc.stdout.splitlines():
            word, index, *rest = line.split(" ", 2)
            started = int(index)
            if word == "DONE":
                outcomes[started] = rest[0] if rest else ""
        if proc.returncode == 0:
            break
        if started is None:
            raise RuntimeError(f"the child failed before opening any file: {proc.stderr[-2000:]}")
        crashes[started] = _describe_exit(proc.returncode, proc.stderr)
        start = started + 1
    return ChildResult(outcomes, crashes)
