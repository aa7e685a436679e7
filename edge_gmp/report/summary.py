"""The run's closing summary (terminal and Markdown) and the released model's card, from metrics.json."""

from __future__ import annotations

from typing import Any

from edge_gmp.report.tables import markdown_table, text_table

HEADERS = ("artifact", "runtime", "status", "accuracy", "top-1 vs float", "bytes", "gzip", "non-zero",
           "info limit", "arena")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def artifact_rows(metrics: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One row per artifact x runtime, plus the PyTorch float model first."""
    rows: list[tuple[Any, ...]] = [
        ("pytorch (dense)", "torch", "ok", _pct(metrics["dense_test_accuracy"]), "-", "-", "-",
         metrics["parameters"], "-", "-"),
        (f"pytorch ({metrics['sparsity']:.1%} sparse)", "torch", "ok", _pct(metrics["pruned_test_accuracy"]),
         "-", "-", "-", metrics["nonzero_parameters"], "-", "-"),
    ]
    for art in metrics.get("artifacts", []):
        label = art["name"] + ("" if art["valid"] else " (invalid, not shipped)")
        for r in art["runtimes"]:
            status = r["status"] if r["status"] != "unsupported" else "unsupported: " + _short(r["note"])
            rows.append((label, r["runtime"], status, _pct(r["accuracy"]), _pct(r.get("top1_agreement")),
                         art["bytes"], art.get("gzip_bytes"), art.get("nonzero_weights"),
                         art.get("info_limit_bytes"), art["arena_bytes"]))
    return rows


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summary_text(metrics: dict[str, Any]) -> str:
    parts = [text_table(HEADERS, artifact_rows(metrics))]
    budget = metrics.get("budget")
    if budget:
        dev = budget["device"]
        parts.append(f"\nbudget on {dev['name']} ({dev['id']}) for {budget['artifact']}: "
                     + ("OK" if budget["ok"] else "FAILED"))
        parts.append(text_table(("budget", "needed", "available", "margin", "ok"),
                                [(r["budget"], r["needed"], r["available"], r["margin"],
                                  "yes" if r["ok"] else "NO") for r in budget["rows"]]))
    if metrics.get("notes"):
        parts.append("\n" + "\n".join(f"note: {n}" for n in metrics["notes"]))
    return "\n".join(parts)


DATASET_NAMES = {"har2": "HAR-2", "cifar10": "CIFAR-10"}


def _data_text(metrics: dict[str, Any]) -> str:
    n = metrics["samples"]
    split = (f"{n['train']:,} train / {n['val']:,} validation / {n['test']:,} test samples; classes: "
             + ", ".join(f"{i} = {c}" for i, c in enumerate(metrics["classes"])))
    if metrics["dataset"] == "har2":
        return (f"HAR-2 (binary UCI HAR), source `{metrics['data_source']}`, 128 steps × 9 channels; {split}. "
                "Validation subjects are held out of training; the test set is the official test subjects. "
                "Inputs are normalised per channel with the training statistics in `metrics.json` "
                "(`normalization`) and in the device manifest.")
    return (f"{DATASET_NAMES.get(metrics['dataset'], metrics['dataset'])}, source `{metrics['data_source']}`; "
            f"{split}. Validation images are held out of the training set; pixels are scaled to [0, 1] and "
            "normalised per channel with the training statistics in `metrics.json` and the device manifest.")


def _optimizer(train: dict[str, Any]) -> str:
    if train.get("optimizer", "adam") == "sgd":
        return f"SGD (momentum {train.get('momentum', 0.9)})"
    return "Adam"


METHOD_NAMES = {"gmp": "global magnitude", "uniform": "layer-wise magnitude (uniform)", "random": "random",
                "lamp": "LAMP"}


def _dense_line(train: dict[str, Any]) -> str:
    recipe = (f"{_optimizer(train)} lr {train['lr']} (cosine), batch {train['batch_size']}, weight decay "
              f"{train.get('weight_decay', 0.0)} (weights only), label smoothing {train.get('label_smoothing', 0.0)}, "
              f"seed {train['seed']}")
    if train.get("init_from"):
        return f"- dense weights: loaded from `{train['init_from']}` (no dense training in this run); {recipe}"
    return f"- dense training: {train['epochs']} epochs, {recipe}"


def _floor_text(prune: dict[str, Any]) -> str:
    if prune.get("method", "gmp") == "uniform":
        return "no floor (every layer at the same sparsity)"
    floor = prune.get("floor_count") or str(prune["floor_percent"]) + " %"
    return f"Minimum-Threshold floor {floor} per layer"


def _macs_text(macs: dict[str, Any]) -> str:
    text = (f"Multiply-accumulates {macs.get('unit', 'per sample')}: {macs['effective']:,} counting non-zero weights "
            f"of {macs['dense']:,} dense ({macs['ratio']:.1%})")
    if "per_step" in macs:
        step = macs["per_step"]
        text += f"; per time step (the cell): {step['effective']:,} of {step['dense']:,}"
    return text + ". Biases, normalisation and activations are not counted."


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
    dataset = DATASET_NAMES.get(metrics["dataset"], metrics["dataset"])
    lines = [
        f"# {metrics['model']} on {dataset} — {metrics['sparsity']:.1%} sparse "
        f"({METHOD_NAMES.get(prune.get('method', 'gmp'), 'global magnitude')} pruning)",
        "",
        "## Data",
        _data_text(metrics),
        "",
        "## Recipe",
        f"- model: `{metrics['model']}` {model}",
        _dense_line(train),
        f"- pruning: {METHOD_NAMES.get(prune.get('method', 'gmp'), prune.get('method'))}, {prune['schedule']} to "
        f"{prune['sparsity']:.0%} over {prune['prune_epochs']} epochs, then {prune['finetune_epochs']} "
        f"fine-tuning epochs (lr {prune['lr']}), {_floor_text(prune)}",
        f"- selected epoch {metrics['best_epoch']} (best validation accuracy at the final sparsity; the test "
        "set was not used for selection)",
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
        markdown_table(HEADERS, artifact_rows(metrics)),
        "",
        "`bytes` is the flatbuffer/ONNX file, `gzip` its gzip -9 size, `info limit` the bytes needed at "
        "best for the non-zero values and their positions. `arena` is the smallest TFLite Micro tensor arena "
        "that allocates and runs the model, measured on a 64-bit host (a 32-bit MCU needs somewhat less). "
        "Sparse-encoded flatbuffers cannot run on TFLite Micro (no DENSIFY kernel): the device artifact is "
        "the dense int8 file.",
    ]
    budget = metrics.get("budget")
    if budget:
        lines += ["", f"## Budget: {budget['device']['name']}",
                  markdown_table(("budget", "needed", "available", "margin", "ok"),
                                 [(r["budget"], r["needed"], r["available"], r["margin"],
                                   "yes" if r["ok"] else "NO") for r in budget["rows"]])]
    lines += ["", "## Reproduce", "```", command, "```", ""]
    return "\n".join(lines)
