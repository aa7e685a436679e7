"""The run's closing summary (terminal and Markdown) and the released model's card, from metrics.json."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from edge_gmp.data.registry import dataset_spec
from edge_gmp.prune import NO_FLOOR, MinimumThreshold, effective_floor, get_method
from edge_gmp.report.tables import markdown_table, text_table, wrap

TERMINAL_HEADERS = ("artifact", "runtime", "status", "accuracy", "same class", "bytes", "RAM", "latency")
CARD_HEADERS = ("artifact", "runtime", "status", "accuracy", "same class as float", "bytes", "gzip", "non-zero",
                "info limit", "RAM", "latency")
SAME_CLASS = ("`same class` is top-1 agreement: the share of test samples whose predicted class equals the float "
              "PyTorch model's")

TARGET_COLUMNS = ("; for the compiled C image on the emulated core, bytes = its whole flash image, RAM = .data + .bss "
                  "+ the stack's high-water mark, latency = an estimate from its instruction counts at the board's "
                  "clock")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _rows(metrics: dict[str, Any], card: bool) -> tuple[list[tuple[Any, ...]], list[str]]:
    """One row per artifact x runtime (the PyTorch float models first) and the footnotes their statuses point
    to (the runtime's own reason an artifact did not run), so no cell is ever cut short."""
    dense, pruned = metrics.get("dense_test_accuracy"), metrics["pruned_test_accuracy"]
    extra = ("-", metrics["parameters"], "-") if card else ()
    rows: list[tuple[Any, ...]] = [
        ("pytorch (dense)", "torch", "ok", _pct(dense), "-", "-", *extra, "-", "-"),
        (f"pytorch ({metrics['sparsity']:.1%} sparse)", "torch", "ok", _pct(pruned), "100.00%", "-",
         *(("-", metrics["nonzero_parameters"], "-") if card else ()), "-", "-"),
    ]
    notes: list[str] = []
    for art in metrics.get("artifacts", []):
        label = art["name"] + ("" if art["valid"] else " (invalid)")
        for r in art["runtimes"]:
            status = r["status"]
            if status != "ok":
                notes.append(f"{art['name']} in {r['runtime']}: {' '.join(str(r['note']).split())}")
                status = f"{status} [{len(notes)}]"
            extra = (art.get("gzip_bytes"), art.get("nonzero_weights"), art.get("info_limit_bytes")) if card else ()
            rows.append((label, r["runtime"], status, _pct(r["accuracy"]), _pct(r.get("top1_agreement")),
                         art["bytes"], *extra, art["arena_bytes"], "-"))
    return rows + _target_rows(metrics, card), notes


def _target_rows(metrics: dict[str, Any], card: bool) -> list[tuple[Any, ...]]:
    """The firmware image on the emulated core: flash of the whole image, RAM with the stack, estimated latency.
    Its accuracy is the device file's in TFLM: the C matches TFLM on the whole test set and the image the C."""
    t, device = metrics.get("target"), metrics.get("device_file") or {}
    if not t:
        return []
    same = t["identical_to_host"]["identical"] and (metrics.get("compiled") or {}).get(
        "identical_to_tflm", {}).get("identical", False)
    runs = [r for art in metrics.get("artifacts", []) if PurePath(art["path"]).name == device.get("file")
            for r in art["runtimes"] if r["runtime"] == "tflm" and r["status"] == "ok"]
    return [("compiled C image (emulated)", t["core"], "ok" if same else "DIFFERENT",
             _pct(runs[0]["accuracy"]) if runs and same else "-", "-", t["flash_bytes"],
             *(("-", "-", "-") if card else ()), t["ram_bytes"], f"{t['ms_estimate']:.1f} ms est.")]


def _device_name(metrics: dict[str, Any]) -> str:
    """The device file as the deliverable holds it (``export/<preset>/<symbol>.tflite``, the same path in the run
    directory and, once released, in the repository)."""
    shipped = (metrics.get("deliverable") or {}).get("tflite")
    return f"export/{metrics['preset']}/{PurePath(shipped).name}" if shipped else metrics["device_file"]["file"]


def _device_lines(metrics: dict[str, Any]) -> list[str]:
    device = metrics.get("device_file")
    if not device:
        return []
    name = _device_name(metrics)
    if not device["compressed"]:
        return [f"device file: {name} ({device['bytes']:,} B)"] + ([f"  {device['note']}"] if device["note"] else [])
    same = device["identical_outputs"]
    return [f"device file: {name}, {device['bytes']:,} B (TFLM_DECODE-compressed from {device['dense_bytes']:,} B);",
            f"  RAM {device['ram_bytes']:,} B ({device['ram_mode']}); outputs identical to the dense file on "
            f"{same['samples']:,} test samples"]


def _compiled_lines(metrics: dict[str, Any]) -> list[str]:
    c = metrics.get("compiled")
    if not c:
        return []
    same = c["identical_to_tflm"]
    what = (f"{same['samples']:,} windows x {same['steps']} steps" if same["streaming"] else f"{same['samples']:,} "
            "test samples")
    return [f"compiled C: {c['files'][0]} ({c['entry_point']}), {c['const_bytes']:,} B weights + parameters, "
            f"{c['arena_bytes']:,} B arena; {c['kept_macs']:,} of {c['dense_macs']:,} MACs executed",
            f"  ({c['kept_mac_fraction']:.1%}); outputs {'identical to' if same['identical'] else 'DIFFERENT from'} "
            f"TFLite Micro on {what}"]


def _target_lines(metrics: dict[str, Any]) -> list[str]:
    t = metrics.get("target")
    if not t:
        return []
    same = t["identical_to_host"]
    return [f"on the target: {t['elf']} on an emulated {t['core']} ({t['board']}): flash {t['flash_bytes']:,} B "
            f"(whole image), RAM {t['ram_bytes']:,} B",
            f"  (.data + .bss + stack {t['stack_bytes']:,} B); {t['instructions']:,.0f} instructions per "
            f"inference, about {t['ms_estimate']:.1f} ms at {t['clock_hz'] / 1e6:g} MHz (estimate); outputs "
            f"{'identical to' if same['identical'] else 'DIFFERENT from'} the host build on {same['samples']} "
            "samples"]


def summary_text(metrics: dict[str, Any]) -> str:
    """The run's closing summary for a terminal: fits 120 columns; reasons and notes below the table."""
    rows, footnotes = _rows(metrics, card=False)
    parts = [text_table(TERMINAL_HEADERS, rows), wrap(SAME_CLASS + "; RAM = tensor arena (+ decompression "
                                                          "buffer)" + (TARGET_COLUMNS if metrics.get("target") else "")
                                                          + ".")]
    parts += [wrap(f"[{i}] {note}") for i, note in enumerate(footnotes, 1)]
    parts += [wrap(line) for line in _device_lines(metrics)]
    parts += [wrap(" ".join(lines).replace("  (", "(")) for lines in (_compiled_lines(metrics),
                                                                    _target_lines(metrics)) if lines]
    budget = metrics.get("budget")
    if budget:
        dev = budget["device"]
        parts.append("\n" + wrap(f"budget on {dev['name']} ({dev['id']}) for {budget['artifact']}: "
                                     + ("OK" if budget["ok"] else "FAILED")))
        parts.append(text_table(("budget", "needed", "available", "margin", "ok"),
                                [(r["budget"], r["needed"], r["available"], r["margin"],
                                  "yes" if r["ok"] else "NO") for r in budget["rows"]]))
    if metrics.get("notes"):
        parts.append("\n" + "\n".join(wrap(f"note: {n}") for n in metrics["notes"]))
    return "\n".join(parts)


def _data_text(metrics: dict[str, Any]) -> str:
    return dataset_spec(metrics["dataset"]).describe(metrics)


def _optimizer(train: dict[str, Any]) -> str:
    if train.get("optimizer", "adam") == "sgd":
        return f"SGD (momentum {train.get('momentum', 0.9)})"
    return "Adam"


def _dense_line(train: dict[str, Any]) -> str:
    recipe = (f"{_optimizer(train)} lr {train['lr']} (cosine), batch {train['batch_size']}, weight decay "
              f"{train.get('weight_decay', 0.0)} (weights only), label smoothing {train.get('label_smoothing', 0.0)}, "
              f"seed {train['seed']}")
    if train.get("init_from"):
        return f"- dense weights: loaded from `{train['init_from']}` (no dense training in this run); {recipe}"
    return f"- dense training: {train['epochs']} epochs, {recipe}"


def _augment_lines(data: dict[str, Any]) -> list[str]:
    """The training augmentation a dataset with ``augment_*`` options used (those that are on); none for a
    dataset without such options (its augmentation is fixed and described with its data)."""
    options = {k.removeprefix("augment_"): v for k, v in data.items() if k.startswith("augment_")}
    if not options:
        return []
    on = [f"{k} {v}" for k, v in options.items() if k != "shift_mode" and v]
    return [f"- training augmentation: {', '.join(on) if on else 'none'}"]


def _floor_text(prune: dict[str, Any]) -> str:
    floor = effective_floor(prune.get("method", "gmp"),
                            MinimumThreshold(prune.get("floor_percent", 0.05), prune.get("floor_count")))
    if floor == NO_FLOOR:
        return "no Minimum-Threshold floor (the rule's own policy)"
    return f"Minimum-Threshold floor {floor.count or str(floor.percent) + ' %'} per layer"


def _method(prune: dict[str, Any]) -> str:
    return get_method(prune.get("method", "gmp")).description


def _macs_text(macs: dict[str, Any]) -> str:
    text = (f"Multiply-accumulates {macs.get('unit', 'per sample')}: {macs['effective']:,} counting non-zero weights "
            f"of {macs['dense']:,} dense ({macs['ratio']:.1%})")
    if "per_step" in macs:
        step = macs["per_step"]
        text += f"; per time step (the cell): {step['effective']:,} of {step['dense']:,}"
    return text + ". Biases, normalisation and activations are not counted."


def _distill_lines(train: dict[str, Any]) -> list[str]:
    """How the run distilled, if it did: from another model file (every epoch) or its own dense model."""
    if not train.get("distill"):
        return []
    weight = f"weight {train['distill']}, temperature {train.get('distill_temperature', 4.0)}"
    if train.get("distill_from"):
        return [f"- distillation: soft targets of `{train['distill_from']}` in every epoch ({weight})"]
    return [f"- distillation: soft targets of the run's dense model while pruning and fine-tuning ({weight})"]


def _machine_lines(metrics: dict[str, Any]) -> list[str]:
    """Where the model was trained and the stage times; for a run exported again from stored weights, also where
    that export ran (the stage times are then the export's)."""
    machine = metrics.get("machine", "not recorded")
    stages = "stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in (metrics.get("timings") or {}).items())
    exported = metrics.get("exported_from")
    lines = [f"- machine: {machine}; {stages}"] if not exported else [
        f"- trained on: {machine}",
        f"- exported again from `{exported['from']}` without training, on {exported['machine']}; {stages}"]
    return [*lines, DRAW_NOTE]


DRAW_NOTE = ("- one draw: training is deterministic for a machine and torch thread count, and another machine or "
             "thread count with the same seed gives another model; the recipe's spread over seeds and threads is "
             "the figure to expect (README, benchmarks/results/)")


def model_card(metrics: dict[str, Any], config: dict[str, Any], command: str) -> str:
    """Markdown model card: data, recipe, sparsity, accuracy per runtime, sizes, arena, reproduction."""
    prune, train = config["prune"], config["train"]
    model = {k: v for k, v in config["model"].items() if k != "name"}
    macs = (metrics.get("macs_per_sample") or {}).get("pruned_model")
    layer_macs = {row["name"]: row for row in macs["layers"]} if macs else {}

    def macs_of(weight: str) -> str:
        row = layer_macs.get(weight) or layer_macs.get(weight.removesuffix(".weight"))
        return "-" if row is None else f"{row['effective']:,} / {row['dense']:,}"

    layers = markdown_table(("layer", "size", "kept", "sparsity", "MACs effective / dense"),
                            [(r["name"], r["size"], r["kept"], f"{r['sparsity']:.2%}", macs_of(r["name"]))
                             for r in metrics["layers"]])
    dataset = dataset_spec(metrics["dataset"]).display
    selection = ("the uniform average of the weights of every epoch at the final sparsity"
                 if metrics.get("selection") == "average" else "the best validation epoch at the final sparsity")
    rows, footnotes = _rows(metrics, card=True)
    lines = [
        f"# {metrics['model']} on {dataset} — {metrics['sparsity']:.1%} sparse ({prune.get('method', 'gmp')})",
        "",
        "## Data",
        _data_text(metrics),
        "",
        "## Recipe",
        f"- model: `{metrics['model']}` {model}",
        _dense_line(train),
        *_augment_lines(config.get("data", {})),
        *_distill_lines(train),
        f"- pruning: {_method(prune)}, {prune['schedule']} to {prune['sparsity']:.0%} over "
        f"{prune['prune_epochs']} epochs, then {prune['finetune_epochs']} fine-tuning epochs (lr {prune['lr']}), "
        f"{_floor_text(prune)}",
        f"- model selection: {selection} (epoch {metrics['best_epoch']}, validation accuracy "
        f"{metrics['best_val_accuracy']:.4f}; the test set was not used)",
        *_machine_lines(metrics),
        "",
        "## Sparsity",
        f"{metrics['nonzero_parameters']:,} non-zero of {metrics['parameters']:,} parameters; "
        f"{metrics['sparsity']:.2%} of the {metrics['prunable_parameters']:,} prunable weights are zero.",
        "",
        *([_macs_text(macs)] if macs else []),
        "",
        layers,
        "",
        "## Accuracy, sizes and memory (full test set)",
        markdown_table(CARD_HEADERS, rows),
        "",
        *[f"[{i}] {note}  " for i, note in enumerate(footnotes, 1)],
        "",
        f"{SAME_CLASS}. `bytes` is the flatbuffer/ONNX file, `gzip` its gzip -9 size, `info limit` the bytes "
        "needed at best for the non-zero values and their positions. `RAM` is the smallest TFLite Micro tensor "
        "arena that allocates and runs the model (plus, for a compressed file, its decompression buffer when "
        "that mode needs less in total), measured on a 64-bit host (a 32-bit MCU needs somewhat less). TFLite's "
        "sparse-encoded flatbuffers cannot run on TFLite Micro (no DENSIFY kernel); the device file stores the "
        "pruned weights for TFLite Micro's TFLM_DECODE operator instead"
        + (TARGET_COLUMNS if metrics.get("target") else "") + ".",
        "",
        *_device_lines(metrics),
        *(["", " ".join(_compiled_lines(metrics)).replace("  (", "(")] if metrics.get("compiled") else []),
        *(["", " ".join(_target_lines(metrics)).replace("  (", "(")] if metrics.get("target") else []),
    ]
    budget = metrics.get("budget")
    if budget:
        lines += ["", f"## Budget: {budget['device']['name']}", "", f"Judged on {budget['artifact']}.", "",
                  markdown_table(("budget", "needed", "available", "margin", "ok"),
                                 [(r["budget"], r["needed"], r["available"], r["margin"],
                                   "yes" if r["ok"] else "NO") for r in budget["rows"]])]
    lines += ["", "## Reproduce", "```", command, "```", ""]
    return "\n".join(lines)
