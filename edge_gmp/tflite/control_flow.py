"""Control-flow checks of the .tflite structural check: WHILE, IF and CALL_ONCE call existing subgraphs other
than the main one, with matching operands, and no subgraph calls itself directly or indirectly."""

from __future__ import annotations

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.tflite.graph import Invalid, ints

_CALLS = {"WHILE": (schema.WhileOptionsT, ("condSubgraphIndex", "bodySubgraphIndex")),
          "IF": (schema.IfOptionsT, ("thenSubgraphIndex", "elseSubgraphIndex")),
          "CALL_ONCE": (schema.CallOnceOptionsT, ("initSubgraphIndex",))}


def _signature(sg: schema.SubGraphT, tensors: list[int]) -> list[tuple[int, list[int] | None]]:
    """(type, static shape or None when dynamic) of each tensor, to compare a call's operands with a subgraph's."""
    out = []
    for t in tensors:
        tensor = sg.tensors[t] if t >= 0 else None
        dynamic = tensor is None or -1 in ints(tensor.shapeSignature)
        out.append((-1 if tensor is None else tensor.type, None if dynamic else ints(tensor.shape)))
    return out


def _same_operands(a: list[tuple[int, list[int] | None]], b: list[tuple[int, list[int] | None]]) -> bool:
    """The kernels copy operands into and out of the called subgraph byte for byte."""
    return len(a) == len(b) and all(ta == tb and (sa is None or sb is None or sa == sb)
                                    for (ta, sa), (tb, sb) in zip(a, b, strict=True))


def _check_call(model: schema.ModelT, caller: int, op: schema.OperatorT, name: str, where: str) -> list[int]:
    """Check one WHILE / IF / CALL_ONCE operator; return the subgraphs it calls."""
    kind, fields = _CALLS[name]
    if not isinstance(op.builtinOptions, kind):
        raise Invalid(f"{where}: needs {kind.__name__.removesuffix('T')}")
    targets = [getattr(op.builtinOptions, field) for field in fields]
    if any(not 0 < t < len(model.subgraphs) for t in targets):
        raise Invalid(f"{where}: calls subgraph(s) {targets}; the model has {len(model.subgraphs)}, 0 the main one")
    sg, subs = model.subgraphs[caller], [model.subgraphs[t] for t in targets]
    ins, outs = _signature(sg, ints(op.inputs)), _signature(sg, ints(op.outputs))
    if name == "WHILE":
        cond, body = subs
        ok = (_same_operands(ins, outs) and _same_operands(ins, _signature(cond, ints(cond.inputs)))
              and len(ints(cond.outputs)) == 1 and _same_operands(ins, _signature(body, ints(body.inputs)))
              and _same_operands(ins, _signature(body, ints(body.outputs))))
    elif name == "IF":
        ok = all(_same_operands(ins[1:], _signature(b, ints(b.inputs)))
                 and _same_operands(outs, _signature(b, ints(b.outputs))) for b in subs)
    else:
        ok = not ints(op.inputs) and not ints(op.outputs)
    if not ok:
        raise Invalid(f"{where}: its inputs/outputs do not match those of subgraph(s) {targets}")
    return targets


def check_control_flow(model: schema.ModelT, op_names: list[str]) -> None:
    """Called subgraphs exist, are not the main one, take and return what the caller passes, and no
    subgraph calls itself directly or indirectly (the runtimes would recurse without end)."""
    calls: dict[int, list[int]] = {}
    for s, sg in enumerate(model.subgraphs):
        for k, op in enumerate(sg.operators):
            name = op_names[op.opcodeIndex]
            if name in _CALLS:
                calls.setdefault(s, []).extend(_check_call(model, s, op, name, f"subgraph {s} operator {k} ({name})"))
    done: set[int] = set()

    def visit(s: int, path: tuple[int, ...]) -> None:
        for t in calls.get(s, []):
            if t in path:
                raise Invalid(f"subgraphs {list(path) + [t]} call each other in a cycle")
            if t not in done:
                visit(t, path + (t,))
        done.add(s)

    visit(0, (0,))
