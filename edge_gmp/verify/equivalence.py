"""Are two .tflite files the same model in TFLite Micro? Bit-exact comparison of raw outputs.

Inputs are given in the tensors' own dtypes (quantised), one (N, ...) array per model input. A streaming cell
((x_t, h) -> (h_next, logits)) is given a single (N, T, D) array of x_t windows instead: each model is stepped
from h = 0 and its own h_next goes back as h, and every step's outputs must match. Where h_next and h carry
different quantisation, the raw h_next passes through a table equal to quantize(dequantize(.)) (the mapping
evaluate_streaming applies in floats), computed once: identical trajectories, no floats per step.

The work is two traces (each model's raw outputs over all samples) and one vectorised comparison, so a caller
can compute a reference trace once and compare several candidates with it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.runtimes import Session, TensorInfo, dequantize, device_runtime, open_session, quantize
from edge_gmp.verify.datasets import streaming_indices
from edge_gmp.verify.evaluate import to_model_layout

DEFAULT_STEPS = 32  # random streaming windows: enough steps for state errors to show, few enough to be quick


@dataclass(frozen=True)
class Mismatch:
    """The first difference: lowest sample, then lowest step (0 for one-shot models), then output order."""

    sample: int
    step: int
    output: str
    max_difference: float  # max |a - b| of that output at that sample and step (inf when a NaN is involved)


@dataclass(frozen=True)
class Equivalence:
    samples: int
    steps: int  # invocations per sample: the window length of a streaming cell, 1 for one-shot models
    streaming: bool
    mismatched_samples: int
    mismatch: Mismatch | None
    seconds: float  # both traces and the comparison

    @property
    def identical(self) -> bool:
        return self.mismatch is None

    @property
    def invocations(self) -> int:
        """Invocations compared per model."""
        return self.samples * self.steps

    def describe(self) -> str:
        what = (f"{self.samples:,} windows x {self.steps} steps ({self.invocations:,} invocations per model)"
                if self.streaming else f"{self.samples:,} inputs")
        if self.mismatch is None:
            return f"identical raw outputs on {what}"
        m = self.mismatch
        where = f"sample {m.sample}" + (f", step {m.step}" if self.streaming else "")
        return (f"outputs differ on {self.mismatched_samples:,} of {what}; first at {where}, output {m.output!r} "
                f"(max difference {m.max_difference:g})")

    def to_dict(self) -> dict:
        return {**asdict(self), "identical": self.identical, "invocations": self.invocations}


@dataclass(frozen=True)
class Trace:
    """One model's raw outputs: per output an (N, T, elements) array (T = 1 for one-shot models)."""

    outputs: tuple[np.ndarray, ...]
    infos: tuple[TensorInfo, ...]
    streaming: bool
    seconds: float

    @property
    def samples(self) -> int:
        return len(self.outputs[0]) if self.outputs else 0

    def final(self, output: int) -> np.ndarray:
        """Output ``output`` (an index, -1 the last) after each sample's last step, dequantised: (N, elements)."""
        return dequantize(self.outputs[output][:, -1], self.infos[output])

    def head(self, samples: int) -> Trace:
        """The first ``samples`` samples (to compare with a shorter run)."""
        return Trace(tuple(o[:samples] for o in self.outputs), self.infos, self.streaming, self.seconds)


def stream_plan(session: Session) -> dict[str, int] | None:
    """streaming_indices for a cell whose x_t size is not known: the input that no output mirrors is x_t."""
    if len(session.inputs) != 2:
        return None
    for x_t in session.inputs:
        plan = streaming_indices(session, features=x_t.size)
        if plan is not None:
            return plan
    return None


def _is_streaming(session: Session, inputs: Sequence[np.ndarray]) -> dict[str, int] | None:
    """A plan when ``inputs`` is one (N, T, D) window array for a streaming cell, else None (one-shot)."""
    if len(inputs) != 1 or np.ndim(inputs[0]) != 3 or len(session.inputs) != 2:
        return None
    plan = streaming_indices(session, features=np.shape(inputs[0])[-1])
    if plan is None:
        raise UserError(f"one (N, T, D) window array was given, but the model is not a (x_t, h) -> (h_next, logits) "
                        f"cell taking D = {np.shape(inputs[0])[-1]} features; give one array per model input")
    return plan


def random_inputs(model: str | os.PathLike, samples: int, seed: int = 0,
                  steps: int = DEFAULT_STEPS) -> list[np.ndarray]:
    """Seeded random raw inputs: uniform over the integer type's range for integer tensors, standard normal for
    float ones. A streaming cell gets one (samples, steps, D) window array of x_t, others one (samples, ...)
    array per input."""
    if samples < 1 or steps < 1:
        raise UserError(f"need at least one sample and one step, got samples={samples}, steps={steps}")
    rng = np.random.default_rng(seed)
    with open_session(device_runtime(), model) as session:
        plan = stream_plan(session)
        if plan is not None:
            x_t = session.inputs[plan["x_index"]]
            return [_random(rng, (samples, steps, x_t.size), x_t.dtype)]
        return [_random(rng, (samples, *(max(d, 1) for d in t.shape)), t.dtype) for t in session.inputs]


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return rng.standard_normal(shape).astype(dtype)


def quantize_inputs(model: str | os.PathLike, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Float inputs -> raw inputs with the model's input parameters: (N, T, D) windows of a streaming cell with
    x_t's, otherwise each (N, ...) array in its input's layout (NCHW images for an NHWC model are transposed)."""
    with open_session(device_runtime(), model) as session:
        return session_inputs(session, inputs)


def session_inputs(session: Session, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """:func:`quantize_inputs` with an opened session."""
    plan = _is_streaming(session, inputs)
    if plan is not None:
        return [quantize(np.asarray(inputs[0], dtype=np.float32), session.inputs[plan["x_index"]])]
    _check_count(session, inputs)
    return [quantize(to_model_layout(x, t), t) for x, t in zip(inputs, session.inputs, strict=True)]


def _check_count(session: Session, inputs: Sequence[np.ndarray]) -> None:
    if len(inputs) != len(session.inputs):
        raise UserError(f"the model takes {len(session.inputs)} input(s), got {len(inputs)} array(s)")
    if len({len(x) for x in inputs}) > 1:
        raise UserError(f"the input arrays hold different numbers of samples: {[len(x) for x in inputs]}")


def _check_raw(x: np.ndarray, t: TensorInfo, per_sample: int) -> None:
    if x.dtype != t.dtype:
        raise UserError(f"input {t.name!r} is {t.dtype}, got {x.dtype} (quantise floats with quantize_inputs)")
    if x.size != len(x) * per_sample:
        raise UserError(f"input {t.name!r} needs {per_sample} values per sample, got {x.shape[1:]}")


def _feedback(h_next: TensorInfo, h: TensorInfo) -> Callable[[np.ndarray], np.ndarray]:
    """Raw h_next -> raw h: identity when the parameters agree, else a table (ints up to 16 bits) or the formula."""
    if h_next.dtype != h.dtype or h_next.size != h.size:
        raise UserError(f"h_next {h_next.dtype}{h_next.shape} cannot be fed back as h {h.dtype}{h.shape}")
    if (h_next.scale, h_next.zero_point) == (h.scale, h.zero_point) or None in (h_next.scale, h.scale):
        return lambda raw: raw
    info = np.iinfo(h.dtype)
    if info.bits > 16:
        return lambda raw: quantize(dequantize(raw, h_next), h)
    table = quantize(dequantize(np.arange(info.min, info.max + 1).astype(h.dtype), h_next), h)
    return lambda raw: table[raw.astype(np.int64) - info.min]


def _trace_one_shot(session: Session, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    _check_count(session, inputs)
    for x, t in zip(inputs, session.inputs, strict=True):
        _check_raw(np.asarray(x), t, t.size)
    n = len(inputs[0])
    outs = [np.empty((n, 1, t.size), t.dtype) for t in session.outputs]
    for i in range(n):
        for out, value in zip(outs, session.run_raw([x[i] for x in inputs]), strict=True):
            out[i, 0] = value.reshape(-1)
    return outs


def _trace_streaming(session: Session, windows: np.ndarray, plan: Mapping[str, int]) -> list[np.ndarray]:
    x_t, h_t = session.inputs[plan["x_index"]], session.inputs[plan["h_index"]]
    _check_raw(windows, x_t, windows.shape[1] * x_t.size)
    feed_back = _feedback(session.outputs[plan["h_next_index"]], h_t)
    n, steps = windows.shape[:2]
    outs = [np.empty((n, steps, t.size), t.dtype) for t in session.outputs]
    # each x_t in the shape run_raw would give it, so the loop makes only the runtime's own calls
    xs = np.ascontiguousarray(windows.reshape(n, steps, *session._shape_for(windows[0, 0], x_t)))
    h_zero = np.ascontiguousarray(quantize(np.zeros(h_t.shape, np.float32), h_t))  # h = 0: the zero point
    x_index, h_index, h_next = plan["x_index"], plan["h_index"], plan["h_next_index"]
    step, feeds = session.raw_step(), [h_zero, h_zero]
    for i in range(n):
        h = h_zero
        for t in range(steps):
            feeds[x_index], feeds[h_index] = xs[i, t], h
            values = step(feeds)
            for out, value in zip(outs, values, strict=True):
                out[i, t] = value.reshape(-1)
            h = feed_back(values[h_next]).reshape(h_zero.shape)
    return outs


def trace(model: str | os.PathLike, inputs: Sequence[np.ndarray], **options: int) -> Trace:
    """Run ``model`` in TFLite Micro over ``inputs`` (see the module docstring); ``options`` go to the session
    (``arena_bytes``, ``alt_decompression_bytes``)."""
    with open_session(device_runtime(), model, **options) as session:
        return trace_session(session, inputs)


def trace_session(session: Session, inputs: Sequence[np.ndarray]) -> Trace:
    """:func:`trace` with an opened session of any implementation (e.g. the compiled C library)."""
    start = time.perf_counter()
    plan = _is_streaming(session, inputs)
    outs = (_trace_streaming(session, np.asarray(inputs[0]), plan) if plan is not None
            else _trace_one_shot(session, inputs))
    return Trace(tuple(outs), session.outputs, plan is not None, time.perf_counter() - start)


def _bits(values: np.ndarray) -> np.ndarray:
    """Bit patterns: NaN equals the same NaN and -0.0 differs from +0.0."""
    return values.view(np.dtype(f"u{values.dtype.itemsize}")) if values.dtype.kind in "fc" else values


def _check_comparable(a: Trace, b: Trace) -> None:
    if a.streaming != b.streaming or len(a.outputs) != len(b.outputs):
        raise UserError(f"the models differ in kind: {len(a.outputs)} vs {len(b.outputs)} outputs, streaming "
                        f"{a.streaming} vs {b.streaming}")
    for x, y, info in zip(a.outputs, b.outputs, a.infos, strict=True):
        if x.dtype != y.dtype or x.shape != y.shape:
            raise UserError(f"output {info.name!r} differs in type or shape: {x.dtype}{x.shape[2:]} vs "
                            f"{y.dtype}{y.shape[2:]}")


def compare_traces(a: Trace, b: Trace) -> Equivalence:
    """Bit-exact comparison of two traces over the same inputs."""
    start = time.perf_counter()
    _check_comparable(a, b)
    differs = [(_bits(x) != _bits(y)).any(axis=2) for x, y in zip(a.outputs, b.outputs, strict=True)]
    n, steps = a.outputs[0].shape[:2] if a.outputs else (0, 1)
    any_output = np.logical_or.reduce(differs) if differs else np.zeros((n, steps), bool)
    bad_samples = np.flatnonzero(any_output.any(axis=1))
    mismatch = None
    if len(bad_samples):
        sample = int(bad_samples[0])
        step = int(np.argmax(any_output[sample]))
        j = next(k for k, d in enumerate(differs) if d[sample, step])
        delta = np.abs(a.outputs[j][sample, step].astype(np.float64) - b.outputs[j][sample, step].astype(np.float64))
        mismatch = Mismatch(sample, step, a.infos[j].name, float(np.nan_to_num(delta.max(), nan=np.inf)))
    seconds = a.seconds + b.seconds + time.perf_counter() - start
    return Equivalence(n, steps, a.streaming, len(bad_samples), mismatch, seconds)


def compare_tflite(reference: str | os.PathLike, candidate: str | os.PathLike, inputs: Sequence[np.ndarray], *,
                   candidate_options: Mapping[str, int] | None = None) -> Equivalence:
    """Run both models in TFLite Micro over raw ``inputs`` and compare every output bit for bit.
    ``candidate_options`` go to the candidate's session (e.g. ``alt_decompression_bytes``)."""
    return compare_traces(trace(reference, inputs), trace(candidate, inputs, **dict(candidate_options or {})))
