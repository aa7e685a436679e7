"""Accuracy of an opened Session on a labelled set: whole-window classifiers and streaming cells.

Fixed-shape runtimes (LiteRT, TFLite Micro: batch 1 as in the model) are run one sample at a time, except that a
streaming cell LiteRT can resize steps all windows at once (``Session.batched``); sessions with a dynamic batch
dimension (typical ONNX) are run in chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.runtimes.base import Session, TensorInfo

Progress = Callable[[int, int], None]


def _sample_shape(t: TensorInfo) -> tuple[int, ...]:
    return t.shape[1:] if t.shape and t.shape[0] in (1, -1) else t.shape


def _matches(shape: Sequence[int], target: Sequence[int]) -> bool:
    return len(shape) == len(target) and all(d == e or e == -1 for d, e in zip(shape, target, strict=True))


def to_model_layout(x: np.ndarray, t: TensorInfo) -> np.ndarray:
    """(N, ...) samples -> the input's per-sample layout: as is, (T, D) <-> (D, T) or NCHW <-> NHWC
    transposed, or reshaped when only the element count matches a flat input. UserError when the data
    cannot fit the input."""
    x = np.asarray(x, dtype=np.float32)
    target = _sample_shape(t)
    if _matches(x.shape[1:], target):
        return x
    if x.ndim == 3 and _matches((x.shape[2], x.shape[1]), target):
        return np.ascontiguousarray(x.transpose(0, 2, 1))
    if x.ndim == 4 and _matches((x.shape[2], x.shape[3], x.shape[1]), target):  # NCHW images, NHWC model
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if x.ndim == 4 and _matches((x.shape[3], x.shape[1], x.shape[2]), target):  # NHWC images, NCHW model
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    per_sample = int(np.prod(x.shape[1:]))
    if -1 not in target and per_sample == int(np.prod(target)) and (len(target) == 1 or x.ndim == 2):
        return x.reshape(len(x), *target)
    raise UserError(f"input {t.name!r} expects samples shaped {tuple(target)}, the data has {x.shape[1:]}")


def _dynamic(session: Session) -> bool:
    return all(t.shape and t.shape[0] == -1 for t in session.inputs)


def run_samples(session: Session, inputs: Sequence[np.ndarray], chunk: int = 256,
                progress: Progress | None = None) -> list[np.ndarray]:
    """Run N samples (``inputs[i]`` is (N, ...) in input i's layout); returns one (N, ...) per output."""
    n = len(inputs[0])
    step = chunk if _dynamic(session) else 1
    parts: list[list[np.ndarray]] = [[] for _ in session.outputs]
    for start in range(0, n, step):
        outs = session.run([a[start:start + step] for a in inputs])
        for j, o in enumerate(outs):
            parts[j].append(o if step > 1 else o.reshape(1, *(o.shape[1:] if o.ndim and o.shape[0] == 1
                                                              else o.shape)))
        if progress is not None:
            progress(min(start + step, n), n)
    return [np.concatenate(p, axis=0) for p in parts]


def top1_accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """The share of samples whose argmax over the (flattened) logits is the label."""
    pred = np.argmax(logits.reshape(len(logits), -1), axis=1)
    return float(np.mean(pred == np.asarray(y).reshape(-1))) if len(pred) else float("nan")


def evaluate_classifier(session: Session, x: np.ndarray, y: np.ndarray, input_index: int = 0,
                        output_index: int = -1, progress: Progress | None = None) -> tuple[float, np.ndarray]:
    """Top-1 accuracy and (N, ...) logits of a one-input classifier on samples ``x`` (N, ...)."""
    if len(session.inputs) != 1:
        raise UserError(f"evaluate_classifier needs a one-input model; this one has {len(session.inputs)}")
    feed = to_model_layout(x, session.inputs[input_index])
    logits = run_samples(session, [feed], progress=progress)[output_index]
    return top1_accuracy(logits, y), logits


def evaluate_streaming(session: Session, windows: np.ndarray, y: np.ndarray, x_index: int = 0,
                       h_index: int = 1, h_next_index: int = 0, logits_index: int = 1, chunk: int = 256,
                       progress: Progress | None = None, batch_all: bool = True) -> tuple[float, np.ndarray]:
    """Step a (x_t, h) -> (h_next, logits) cell over each (T, D) window: h starts at zero, h_next is fed
    back, the logits after the last step classify the window. Returns (accuracy, (N, C) logits).

    A dynamic-batch session steps ``chunk`` windows per call; a fixed batch-1 session steps all windows in one
    call per time step where ``session.batched`` allows it (and ``batch_all``), else one window at a time."""
    windows = np.asarray(windows, dtype=np.float32)
    if windows.ndim != 3:
        raise UserError(f"windows must be (N, T, D), got {windows.shape}")
    n, steps = windows.shape[:2]
    if steps == 0:
        raise UserError("windows have no time steps")
    x_t, h_t = session.inputs[x_index], session.inputs[h_index]
    wide = session.batched(n) if batch_all and n > 1 and not _dynamic(session) else None
    batch = chunk if _dynamic(session) else n if wide is not None else 1
    runner = wide if wide is not None else session
    feeds_x = [to_model_layout(windows[:, t], x_t) for t in range(steps)]
    h_shape = _sample_shape(h_t)
    out = []
    try:
        for start in range(0, n, batch):
            b = min(batch, n - start)
            h = np.zeros((b, *h_shape) if batch > 1 else h_t.shape, dtype=np.float32)
            feeds = [np.empty(0, np.float32)] * len(session.inputs)
            for t in range(steps):
                feeds[x_index] = feeds_x[t][start:start + b] if batch > 1 else feeds_x[t][start:start + 1]
                feeds[h_index] = h
                outs = runner.run(feeds)
                h = outs[h_next_index]
            out.append(outs[logits_index].reshape(b, -1))
            if progress is not None:
                progress(start + b, n)
    finally:
        if wide is not None:
            wide.close()
    logits = np.concatenate(out, axis=0) if out else np.zeros((0, 0), np.float32)
    return top1_accuracy(logits, y), logits
