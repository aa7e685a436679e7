"""After training, three stages, each once: export (the artifacts, written and described, not judged) ->
verify (every artifact in every runtime on the whole test set, one loop; the device file, compressed when smaller
and proven identical to the integer file against that loop's TFLite Micro trace; the device budget) -> deliver
(the compiled C, checked against the same trace, the emulated core and the deliverable folder).

Composes the export, verify and report stages through their public functions; takes the run's record and
returns what goes into its ``metrics.json``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_gmp.codegen import CompiledModel, UnsupportedModel, compile_model
from edge_gmp.config import ExportConfig
from edge_gmp.data.registry import PreparedData, dataset_spec
from edge_gmp.errors import UserError
from edge_gmp.export import gzip_size, information_limit_bits, tflite_weight_counts
from edge_gmp.export.artifacts import ARTIFACT_KINDS, TFLiteArtifact
from edge_gmp.export.bundle import ExportBundle, export_bundle, write_deliverable
from edge_gmp.runtimes import device_runtime, runtime_spec
from edge_gmp.target import DoesNotFit, TargetReport, emulate_model
from edge_gmp.verify import check_budget, check_image_budget, find_device
from edge_gmp.verify.checks import ArtifactCheck, Candidate, check_artifacts
from edge_gmp.verify.equivalence import quantize_inputs
from edge_gmp.workflow.device_file import DeviceFile, build_device_file
from edge_gmp.workflow.run_record import RunRecord

SPARSE_ON_TFLM = ("TFLite's sparse-encoded flatbuffers cannot run on TFLite Micro (no DENSIFY kernel): their size is "
                  "reported for reference only; the device file stores pruned weights with TFLM_DECODE instead")
Log = Callable[..., None]


@dataclass
class Deployment:
    """What the stages after training found: the ``metrics.json`` entries they add and the failed checks."""

    metrics: dict[str, Any]
    failures: list[str]


def symbol_for(name: str) -> str:
    """A C identifier for a run name: ``fastgrnn-har2`` -> ``fastgrnn_har2``."""
    symbol = re.sub(r"\W", "_", name)
    return symbol if not symbol[:1].isdigit() else f"m_{symbol}"


def _class_step(artifact: TFLiteArtifact) -> float | None:
    """The quantisation step of an artifact's class output (``logits``, else its last output)."""
    spec = next((o for o in artifact.outputs if o.onnx_name == "logits"), artifact.outputs[-1])
    return spec.scale


def candidates(bundle: ExportBundle) -> list[Candidate]:
    """Every exported file as a verification candidate (a sparse-encoded one names its dense twin); only the
    device artifact and the float files are shipped."""
    out = [Candidate(f"onnx {role}", str(path), "float32") for role, path in bundle.onnx.items()]
    device = bundle.find(bundle.device_graph, bundle.device_kind)
    for a in bundle.tflite:
        graph, kind = bundle.graph_of(a), ARTIFACT_KINDS[a.kind]
        twin = bundle.find(graph, kind.dense_twin) if kind.sparse else None
        note = f"TFLite Micro would reject: {', '.join(a.micro_issues)}" if a.micro_issues else ""
        out.append(Candidate(f"tflite {graph} {a.kind}", a.path, kind.precision, sparse=kind.sparse,
                             note=note, shipped=a is device or not kind.integer,
                             twin=f"tflite {graph} {twin.kind}" if twin else "",
                             output_step=_class_step(twin) if twin else None))
    return out


def sizes(path: Path, precision: str, prunable: int) -> dict[str, Any]:
    """gzip size, stored non-zero weights and the information limit of an artifact."""
    out: dict[str, Any] = {"gzip_bytes": gzip_size(path.read_bytes()), "prunable_weights": prunable}
    if path.suffix != ".tflite":
        return {**out, "nonzero_weights": None}
    counts = tflite_weight_counts(path)
    bits = 32 if precision == "float32" else 8  # integer variants store int8 weights
    return {**out, "nonzero_weights": counts["nonzero"], "weight_elements": counts["elements"],
            "info_limit_bytes": round(information_limit_bits(counts["nonzero"], counts["elements"], bits) / 8)}


def _device_check(checks: list[ArtifactCheck], bundle: ExportBundle) -> ArtifactCheck:
    device_path = bundle.device_artifact().path
    return next(c for c in checks if c.candidate.path == device_path)


def _compressed_row(device: DeviceFile, check: ArtifactCheck, prunable: int) -> dict[str, Any]:
    """The compressed device file as one more artifact: bit-identical to the dense one in the device runtime,
    which LiteRT cannot run (no TFLM_DECODE kernel)."""
    device_result = check.result(device_runtime())
    runtimes = [{"runtime": "litert", "status": "unsupported", "accuracy": None, "samples": 0, "seconds": 0.0,
                 "note": "no TFLM_DECODE kernel (a TFLite Micro operator)"},
                {**device_result.to_dict(), "note": f"outputs identical to {device.dense_path.name}: "
                                                    f"{device.equivalence.describe()}"}]
    dense_sizes = sizes(device.dense_path, check.candidate.precision, prunable)  # the same weights, stored encoded
    return {"name": f"{check.candidate.name} compressed", "path": str(device.path),
            "precision": check.candidate.precision, "sparse": False, "valid": True,
            "note": "the device artifact with its weights stored for TFLM_DECODE (PRUNING/LUT)",
            "bytes": device.bytes, "arena_bytes": device.arena_bytes + device.decompression_bytes,
            "arena_note": f"RAM: {device.ram_mode}", "runtimes": runtimes, "problems": [], "notes": [],
            **dense_sizes, "gzip_bytes": gzip_size(device.path.read_bytes())}


def _manifest(record: RunRecord, bundle: ExportBundle, device: DeviceFile, check: ArtifactCheck,
              budget: dict[str, Any] | None, name: str, shipped: str, device_artifact: str = "tflm") -> dict[str, Any]:
    """The deliverable's manifest; every file it names by the name it has in the deliverable (the device file
    is ``shipped`` there, the dense integer file keeps its name)."""
    artifact = bundle.device_artifact()
    data_usage = dataset_spec(record.dataset).usage
    digests = {shipped: device.path} | ({device.dense_path.name: device.dense_path} if device.compressed else {})
    dense_name = device.dense_path.name if device.compressed else shipped
    return {
        "model": name, "graph": bundle.graph_description, "precision": bundle.device_kind,
        "usage": f"{data_usage}; {bundle.usage}",
        "classes": record.classes,
        "tensors": {"inputs": [asdict(s) for s in artifact.inputs], "outputs": [asdict(s) for s in artifact.outputs]},
        "device_file": {**device.to_dict(), "file": shipped, "dense_file": dense_name},
        "bytes": device.bytes, "arena_bytes": device.arena_bytes,
        "decompression_buffer_bytes": device.decompression_bytes, "ram_bytes": device.arena_bytes
        + device.decompression_bytes, "arena_note": check.arena_note,
        **sizes(device.dense_path, check.candidate.precision, record.prunable_parameters),
        "sparsity": record.sparsity, "float_test_accuracy": record.pruned_test_accuracy,
        "test_accuracy": {r.runtime: r.accuracy for r in check.runtimes}, "test_samples": record.samples["test"],
        "normalization": record.normalization,
        "device_artifact": device_artifact,
        "budget": None if budget is None else {**budget, "artifact": budget["artifact"] if device_artifact ==
                                               "compiled" else _budget_label(shipped, device.compressed)},
        "sha256": {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in digests.items()},
    }


def _budget_label(file_name: str, compressed: bool) -> str:
    return f"{file_name} on {runtime_spec(device_runtime()).display}" + (" (compressed)" if compressed else "")


def _budget(device_file: DeviceFile, check: ArtifactCheck, export: ExportConfig) -> tuple[dict | None, list[str]]:
    result = check.result(device_runtime())
    runtime = runtime_spec(device_runtime()).display
    if check.arena_bytes is None or result is None or result.status != "ok":
        why = check.arena_note if check.arena_bytes is None else (result.note if result else "not run")
        return None, [f"the device artifact ({check.candidate.path}) does not run on {runtime}: {why}"]
    bar = export.max_flash_bytes if export.device_artifact == "tflm" else None
    budget = check_budget(device_file.bytes, device_file.arena_bytes, find_device(export.device, export.devices_file),
                          accuracy=result.accuracy, min_accuracy=export.min_accuracy,
                          decompression_bytes=device_file.decompression_bytes, max_flash_bytes=bar)
    label = _budget_label(Path(device_file.path).name, device_file.compressed)
    return {**budget.to_dict(), "artifact": label}, budget.failures()


def _image_budget(compiled: CompiledModel | None, target: TargetReport | None, verified: Verified,
                  export: ExportConfig) -> tuple[dict | None, list[str], list[str]]:
    """export.device_artifact = "compiled": the budget judged on the firmware image (whole flash, RAM with the
    stack; its accuracy is TFLM's, the compiled C being proven identical to it on the whole test set); the device
    file's own budget becomes a note. Returns the budget, its failures and the notes."""
    tflm_notes = [f"not judged (export.device_artifact = 'compiled'): the TFLite Micro device file's {f}"
                  for f in verified.budget_failures if not f.startswith("accuracy")]  # the image's own row
    if target is None:
        return None, ["export.device_artifact = 'compiled', but the compiled C did not run on the board's emulated "
                      "core (see the notes)"], tflm_notes
    result = verified.device_check.result(device_runtime())
    identical = compiled is not None and compiled.equivalence.identical
    accuracy = result.accuracy if result is not None and result.status == "ok" and identical else None
    budget = check_image_budget(target.flash_bytes, target.ram_bytes, find_device(export.device, export.devices_file),
                                accuracy=accuracy, min_accuracy=export.min_accuracy,
                                max_flash_bytes=export.max_flash_bytes)
    label = f"{target.elf} on the emulated {target.core} (whole image; outputs identical to TFLite Micro's)"
    # flash and RAM over the board are already among the emulation's failures
    failures = [f for r, f in zip([r for r in budget.rows if not r.ok], budget.failures(), strict=True)
                if r.budget not in ("flash", "ram")]
    if export.min_accuracy is not None and accuracy is None:
        failures.append("the compiled C's accuracy is not established (it differs from TFLite Micro or TFLite "
                        "Micro did not run the device file)")
    return {**budget.to_dict(), "artifact": label}, failures, tflm_notes


def _compile(device: DeviceFile, x_test: Any, out_dir: Path, name: str,
             log: Log) -> tuple[CompiledModel | None, list[str], list[str]]:
    """The device file as our own C library, its outputs compared with TFLM's on the whole test set; returns it,
    the failures (outputs that differ) and the notes (a model the generator does not compile)."""
    raw = quantize_inputs(device.dense_path, [x_test])
    try:
        compiled = compile_model(device.path, out_dir, name, raw, device.reference)
    except UnsupportedModel as exc:
        return None, [], [f"compiled C not generated: {exc}"]
    s = compiled.summary()
    log(f"codegen: {name}.c: {s['const_bytes']:,} B of weights and parameters, {s['arena_bytes']:,} B arena, "
        f"{s['kept_mac_fraction']:.0%} of dense MACs; {compiled.equivalence.describe()} vs TFLite Micro")
    if not compiled.equivalence.identical:
        return compiled, [f"the compiled C ({name}.c) differs from TFLite Micro: {compiled.equivalence.describe()}"], []
    return compiled, [], []


def _emulate(device: DeviceFile, compiled: CompiledModel, x_test: Any, export: ExportConfig,
             log: Log) -> tuple[TargetReport | None, list[str], list[str]]:
    """The compiled C on the board's emulated core: the report, its budget failures, notes."""
    board = find_device(export.device, export.devices_file)
    if board.target is None:
        return None, [], [f"{board.name} has no emulated core: flash, RAM and latency of the compiled C are not "
                          "measured on the target"]
    samples = min(export.emulate_samples, len(x_test))
    raw = quantize_inputs(device.dense_path, [x_test[:samples]])
    log(f"emulate: {compiled.library.name} on {board.target.core} ({board.name}), {samples} test sample(s)")
    folder = compiled.files[0].parent / "firmware"
    try:
        report = emulate_model(device.path, board, raw, library=compiled.library, build_dir=folder)
    except DoesNotFit as exc:
        return None, [str(exc)], []
    elf = folder / f"{compiled.library.name}.elf"
    compiled.files.append(elf.rename(compiled.files[0].parent / elf.name))
    report.elf = compiled.files[-1].name
    log(f"emulate: flash {report.flash_bytes:,} B, RAM {report.ram_bytes:,} B, {report.instructions:,.0f} "
        f"instructions, about {report.ms_estimate:.1f} ms at {report.clock_hz / 1e6:g} MHz (estimate)")
    return report, report.failures(), []


def _sparse_notes(artifacts: list[dict[str, Any]], deliverable: str) -> None:
    """A sparse-encoded file the device runtime cannot run points at the run's device file, not at a twin."""
    runtime = runtime_spec(device_runtime()).display
    note = f"sparse-encoded (DENSIFY); {runtime} has no DENSIFY kernel. The device file is {deliverable}"
    for art in artifacts:
        for r in art["runtimes"] if art.get("sparse") else ():
            if r["runtime"] == device_runtime() and r["status"] == "unsupported":
                r["note"] = note
                art["arena_note"] = f"{runtime} cannot allocate it: {note}"


@dataclass
class Verified:
    """What the verify stage found: every artifact's check, the device artifact's, the device file (proven) and
    the budget."""

    checks: list[ArtifactCheck]
    device_check: ArtifactCheck
    device: DeviceFile
    budget: dict[str, Any] | None
    problems: list[str]  # the artifacts'
    budget_failures: list[str]


def _export(record: RunRecord, data: PreparedData, export: ExportConfig, out_dir: Path, seed: int,
            log: Log) -> ExportBundle:
    """The export stage: ONNX and TFLite files into ``out_dir/artifacts``, described, not judged."""
    log(f"export: ONNX + TFLite (integer variants calibrated on {export.calibration_samples} training samples)")
    with record.timed("export"):
        return export_bundle(record.model, out_dir / "artifacts", data.x_train.numpy(), export.calibration_samples,
                             export.sequence_tflite, seed=seed)


def _device_file(check: ArtifactCheck, x_test: Any, samples: int | None = None, log: Log = print) -> DeviceFile:
    """The device file from the verified integer artifact, its identity proven against verify's TFLM trace."""
    dense = Path(check.candidate.path)
    run = check.result(device_runtime())
    reference = run.trace if run is not None else None
    if check.arena_bytes is None:
        return DeviceFile(dense, dense, 0, reference=reference)
    inputs = x_test if samples is None else x_test[:samples]
    return build_device_file(dense, dense.with_name(f"{dense.stem}_compressed.tflite"),
                             quantize_inputs(dense, [inputs]), reference=reference, fallback=True,
                             dense_arena=check.arena_bytes, log=log)


def _verify(record: RunRecord, data: PreparedData, export: ExportConfig, bundle: ExportBundle,
            log: Log) -> Verified:
    """The verify stage: every artifact in every runtime on the whole test set (one loop), the device file
    (compressed when smaller, proven identical to the device artifact's TFLM trace from that loop), the budget."""
    x_test, y_test = data.x_test.numpy(), data.y_test.numpy()
    with record.timed("verify"):
        checks = check_artifacts(candidates(bundle), x_test, y_test, record.test_logits,
                                 record.pruned_test_accuracy, log=log)
    device_check = _device_check(checks, bundle)
    with record.timed("compress"):
        device = _device_file(device_check, x_test, log=log)
    budget, budget_failures = _budget(device, device_check, export)
    return Verified(checks, device_check, device, budget, [p for c in checks for p in c.problems], budget_failures)


def _notes(checks: list[ArtifactCheck], device: DeviceFile) -> list[str]:
    notes = [SPARSE_ON_TFLM] + [f"{c.candidate.name} is not shipped: {c.note}" for c in checks if not c.valid]
    notes += [n for c in checks for n in c.notes]
    return notes + ([f"device file: {device.note}"] if device.note else [])


def _build(record: RunRecord, data: PreparedData, export: ExportConfig, out_dir: Path, device: DeviceFile,
           log: Log) -> tuple[CompiledModel | None, TargetReport | None, list[str], list[str]]:
    """The compiled C (checked against the verified TFLM trace) and the emulated core: failures and notes."""
    x_test = data.x_test.numpy()
    with record.timed("codegen"):
        compiled, failures, notes = _compile(device, x_test, out_dir / "compiled",
                                             f"{symbol_for(record.preset)}_compiled", log)
    target = None
    if compiled is not None and export.emulate_samples:
        with record.timed("emulate"):
            target, target_failures, target_notes = _emulate(device, compiled, x_test, export, log)
        failures, notes = failures + target_failures, notes + target_notes
    return compiled, target, failures, notes


def _deliver(record: RunRecord, data: PreparedData, export: ExportConfig, out_dir: Path, bundle: ExportBundle,
             verified: Verified, log: Log) -> Deployment:
    """The deliver stage: compiled C, emulated core, the deliverable folder and the metrics."""
    device, device_check = verified.device, verified.device_check
    compiled, target, build_failures, build_notes = _build(record, data, export, out_dir, device, log)
    budget, budget_failures = verified.budget, verified.budget_failures
    if export.device_artifact == "compiled":
        budget, budget_failures, tflm_notes = _image_budget(compiled, target, verified, export)
        build_notes = build_notes + tflm_notes
    artifacts = [{**c.to_dict(), **sizes(Path(c.candidate.path), c.candidate.precision, record.prunable_parameters)}
                 for c in verified.checks]
    if device.compressed:
        artifacts.append(_compressed_row(device, device_check, record.prunable_parameters))
    symbol = symbol_for(record.preset)
    shipped = f"export/{record.preset}/{symbol}.tflite"  # the same path in the run directory and the repository
    kind = bundle.device_kind + (", TFLM_DECODE-compressed" if device.compressed else "")
    _sparse_notes(artifacts, f"{shipped} ({kind})")
    manifest = _manifest(record, bundle, device, device_check, budget, record.preset, Path(shipped).name,
                         export.device_artifact)
    budget = manifest["budget"]  # names the file a user receives, not the run directory's artifact
    if compiled is not None:
        manifest["compiled"] = compiled.summary()
    if target is not None:
        manifest["target"] = {k: v for k, v in target.to_dict().items() if k != "layer_instructions"}
    extra = ([device.dense_path] if device.compressed else []) + (compiled.files if compiled else [])
    deliverable = write_deliverable(device.path, out_dir / "export" / record.preset, symbol, manifest, extra=extra)
    failures = verified.problems + build_failures + budget_failures
    metrics = {"artifacts": artifacts, "device_file": device.to_dict(), "budget": budget,
               "device_artifact": export.device_artifact,
               "notes": _notes(verified.checks, device) + build_notes,
               "compiled": None if compiled is None else {**compiled.summary(), "layers": compiled.report["layers"],
                                                          "host_layer_us": compiled.host_layer_us},
               "target": None if target is None else target.to_dict(),
               "deliverable": {k: str(v) for k, v in deliverable.items()}, "failures": failures}
    return Deployment(metrics, failures)


def deploy(record: RunRecord, data: PreparedData, export: ExportConfig, out_dir: Path, seed: int = 0,
           log: Log = print) -> Deployment:
    """Export the record's model into ``out_dir/artifacts``, verify everything (artifacts on the full test set,
    the device file, the device budget), then deliver to ``out_dir/export/<preset>``: each stage once."""
    board = find_device(export.device, export.devices_file)  # a bad board fails before minutes of export
    if export.device_artifact == "compiled" and board.target is None:
        raise UserError(f"export.device_artifact = 'compiled' is judged on the board's emulated core, and {board.name} "
                        "has none; choose a board with a Cortex-M core (--board nano33ble or stm32f746-disco) or "
                        "--set export.device_artifact=tflm")
    bundle = _export(record, data, export, out_dir, seed, log)
    verified = _verify(record, data, export, bundle, log)
    return _deliver(record, data, export, out_dir, bundle, verified, log)


def measure_device_artifact(record: RunRecord, data: PreparedData, export: ExportConfig, out_dir: Path,
                            seed: int = 0, equivalence_samples: int | None = 500) -> dict[str, Any]:
    """The device artifact alone, for studies: export, run it in every runtime on the full test set, compress it
    (identical outputs proven on ``equivalence_samples`` test samples); its bytes (dense and compressed), gzip
    bytes, non-zeros, information limit, arena, accuracies and problems, with the sparse-encoded twin's bytes."""
    bundle = export_bundle(record.model, out_dir, data.x_train.numpy(), export.calibration_samples, False, seed=seed)
    device_path = bundle.device_artifact().path
    device_candidate = next(c for c in candidates(bundle) if c.path == device_path)
    x_test, y_test = data.x_test.numpy(), data.y_test.numpy()
    (check,) = check_artifacts([device_candidate], x_test, y_test, record.test_logits, record.pruned_test_accuracy)
    device = (_device_file(check, x_test, equivalence_samples, log=lambda *_: None)
              if check.arena_bytes is not None else None)
    sparse = bundle.find(bundle.device_graph, "int8_sparse")
    path = Path(check.candidate.path)
    return {
        "artifact": check.candidate.name, "bytes": path.stat().st_size,
        **sizes(path, check.candidate.precision, record.prunable_parameters),
        "device_bytes": None if device is None else device.bytes,
        "device_ram_bytes": None if device is None else (device.arena_bytes or 0) + device.decompression_bytes,
        "device_file": None if device is None else device.to_dict(),
        "arena_bytes": check.arena_bytes,
        "accuracy": {r.runtime: r.accuracy for r in check.runtimes},
        "top1_agreement": {r.runtime: r.agreement.top1 for r in check.runtimes if r.agreement is not None},
        "problems": check.problems,
        "sparse_encoded_bytes": None if sparse is None else Path(sparse.path).stat().st_size,
        "sparse_encoded_note": SPARSE_ON_TFLM,
    }
