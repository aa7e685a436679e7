"""The .tflite structural check below the file level: the model's buffers, operator codes, signatures and
metadata; each subgraph's tensors (:mod:`edge_gmp.tflite.tensors`), operators, dataflow and operator contracts
(:mod:`edge_gmp.tflite.contracts`); control flow (:mod:`edge_gmp.tflite.control_flow`). Every problem raises
:class:`~edge_gmp.tflite.graph.Invalid`."""

from __future__ import annotations

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.tflite.contracts import check_operator_shapes
from edge_gmp.tflite.control_flow import check_control_flow
from edge_gmp.tflite.decode.operators import decode_inputs, decode_outputs
from edge_gmp.tflite.graph import (
    OPTIONAL_INPUT_OPS,
    Invalid,
    SubgraphView,
    buffer_bytes,
    check_utf8,
    entry_label,
    ints,
    operator_name,
    text,
)
from edge_gmp.tflite.tensors import check_tensor


def _check_buffers(model: schema.ModelT, file_bytes: int) -> None:
    for i, buf in enumerate(model.buffers or []):
        if buf.offset > 1 and buf.offset + buf.size > file_bytes:
            raise Invalid(f"buffer {i} (offset {buf.offset}, {buf.size} bytes) runs past the end of the file "
                          f"({file_bytes} bytes)")
    if model.buffers and buffer_bytes(model.buffers[0]):
        raise Invalid("buffer 0 holds data; it must be the empty buffer that non-constant tensors point to")


def _check_operator_codes(model: schema.ModelT) -> None:
    for i, code in enumerate(model.operatorCodes or []):
        if code.builtinCode < 0 or code.deprecatedBuiltinCode < 0:
            raise Invalid(f"operator code {i} has a negative builtin code "
                          f"({code.builtinCode}/{code.deprecatedBuiltinCode})")
        check_utf8(f"operator code {i}: the custom op name", code.customCode)


def _check_signatures(model: schema.ModelT) -> None:
    subgraphs = model.subgraphs or []
    for i, sig in enumerate(model.signatureDefs or []):
        if not 0 <= sig.subgraphIndex < len(subgraphs):
            raise Invalid(f"signature {i} refers to subgraph {sig.subgraphIndex}; the model has "
                          f"{len(subgraphs)}")
        n_tensors = len(subgraphs[sig.subgraphIndex].tensors or [])
        check_utf8(f"signature {i}: the key", sig.signatureKey)
        for entry in (sig.inputs or []) + (sig.outputs or []):
            check_utf8(f"signature {i}: the entry name", entry.name)
            if not 0 <= entry.tensorIndex < n_tensors:
                raise Invalid(f"signature {i} entry {text(entry.name)!r} refers to tensor {entry.tensorIndex}; "
                              f"subgraph {sig.subgraphIndex} has {n_tensors}")


def _check_metadata(model: schema.ModelT) -> None:
    n_buffers = len(model.buffers or [])
    refs = [(f"metadata {text(m.name)!r}", m.buffer) for m in model.metadata or []]
    refs += [("metadata_buffer entry", b) for b in ints(model.metadataBuffer)]
    for what, index in refs:
        if not 0 <= index < n_buffers:
            raise Invalid(f"{what} refers to buffer {index}; the model has {n_buffers}")


# --- subgraphs and operators ---------------------------------------------------------------------------


def _check_operator(graph: SubgraphView, op_index: int, op: schema.OperatorT, n_codes: int) -> None:
    where = f"subgraph {graph.index} operator {op_index}"
    if not 0 <= op.opcodeIndex < n_codes:
        raise Invalid(f"{where}: operator code index {op.opcodeIndex} is out of range (the model has {n_codes})")
    op_name = graph.op_names[op.opcodeIndex]
    where += f" ({op_name})"
    if op.inputs is None or op.outputs is None:
        raise Invalid(f"{where}: the {'inputs' if op.inputs is None else 'outputs'} field is missing")
    for kind, options in ((op.builtinOptionsType, op.builtinOptions), (op.builtinOptions2Type, op.builtinOptions2)):
        if kind and options is None:  # TFLite Micro would run the kernel with zeroed options (stride 0...)
            raise Invalid(f"{where}: builtin options of type {kind} are missing or of an unknown type")
    for t in ints(op.inputs):
        graph.check_index(f"{where} input", t, optional=True)
    if -1 in ints(op.inputs) and op_name not in OPTIONAL_INPUT_OPS and not op_name.startswith("CUSTOM:"):
        raise Invalid(f"{where}: inputs {ints(op.inputs)} leave one out (-1), but {op_name} has no optional inputs")
    for t in ints(op.outputs):
        graph.check_index(f"{where} output", t)
        if graph.constant[t]:
            raise Invalid(f"{where} writes into {graph.tensor_label(t)}, a constant (weight) tensor")
    for t in ints(op.intermediates):
        graph.check_index(f"{where} intermediate", t)


def _check_dataflow(graph: SubgraphView, sg: schema.SubGraphT) -> None:
    """Operators run in file order: each must read only tensors already holding data (constants, subgraph
    inputs, variables, earlier outputs) and write tensors nothing else writes. The runtimes leave a tensor
    nobody writes unallocated, and LiteRT then reads a null pointer."""
    written = set(ints(sg.inputs)) | {t for t, tensor in enumerate(graph.tensors) if tensor.isVariable}
    for op_index, op in enumerate(sg.operators):
        where = f"subgraph {graph.index} operator {op_index} ({graph.op_names[op.opcodeIndex]})"
        for t in ints(op.inputs):
            if t >= 0 and not graph.constant[t] and t not in written:
                raise Invalid(f"{where} reads {graph.tensor_label(t)} before any operator writes it")
        for t in ints(op.outputs):
            if t in written and not graph.tensors[t].isVariable:
                raise Invalid(f"{where} writes {graph.tensor_label(t)}, which a subgraph input or an earlier "
                              "operator already provides")
            written.add(t)
    for t in ints(sg.outputs):
        if not graph.constant[t] and t not in written:
            raise Invalid(f"subgraph {graph.index} output {graph.tensor_label(t)} is never written")


def _check_buffer_indices(index: int, tensors: list[schema.TensorT], n_buffers: int) -> None:
    for t, tensor in enumerate(tensors):
        if not 0 <= tensor.buffer < n_buffers:
            raise Invalid(f"subgraph {index} {entry_label('tensor', t, text(tensor.name))}: buffer index "
                          f"{tensor.buffer} is out of range (the model has {n_buffers} buffers)")


def _check_subgraph(model: schema.ModelT, index: int, op_names: list[str]) -> None:
    sg = model.subgraphs[index]
    missing = [field for field in ("tensors", "inputs", "outputs", "operators") if getattr(sg, field) is None]
    if missing:  # TFLite Micro reads these vectors without a null check
        raise Invalid(f"subgraph {index}: the {missing[0]} field is missing")
    buffers = model.buffers or []
    _check_buffer_indices(index, sg.tensors, len(buffers))
    constant = [bool(buffer_bytes(buffers[t.buffer])) for t in sg.tensors]
    graph = SubgraphView(index, sg.tensors, buffers, constant, op_names)
    for t in ints(sg.inputs):
        graph.check_index(f"subgraph {index} input", t)
        if constant[t]:
            raise Invalid(f"subgraph {index} input {graph.tensor_label(t)} is a constant tensor")
    for t in ints(sg.outputs):
        graph.check_index(f"subgraph {index} output", t)
    for op_index, op in enumerate(sg.operators):
        _check_operator(graph, op_index, op, len(op_names))
    _check_dataflow(graph, sg)
    encoded = decode_inputs(graph, sg.operators)
    decoded = decode_outputs(graph, sg.operators)
    for t, tensor in enumerate(sg.tensors):
        check_tensor(graph.tensor_label(t), tensor, buffers, t in encoded, decoded.get(t))
    for op_index, op in enumerate(sg.operators):
        check_operator_shapes(graph, op_index, op)


SCHEMA_VERSION = 3  # the only flatbuffer schema version LiteRT and TFLite Micro load


def check_model(model: schema.ModelT, file_bytes: int) -> None:
    """Run every check below the file level on the parsed ``model``; raise Invalid for the first problem."""
    if model.version != SCHEMA_VERSION:
        raise Invalid(f"schema version {model.version}; LiteRT and TFLite Micro load version {SCHEMA_VERSION} only "
                      "(LiteRT refuses any other)")
    if not model.subgraphs:
        raise Invalid("the model has no subgraph")
    main = model.subgraphs[0]
    if not main.operators:
        raise Invalid(f"the main subgraph {text(main.name)!r} has no operators")
    if not ints(main.outputs):
        raise Invalid(f"the main subgraph {text(main.name)!r} has no outputs")
    _check_buffers(model, file_bytes)
    _check_operator_codes(model)
    op_names = [operator_name(code) for code in model.operatorCodes or []]
    for index in range(len(model.subgraphs)):
        _check_subgraph(model, index, op_names)
    check_control_flow(model, op_names)
    _check_signatures(model)
    _check_metadata(model)
