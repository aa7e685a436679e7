"""How close the offline HAR-2 rebuild (HAPT recordings -> UCI HAR windows) comes to the real UCI HAR windows.

    python benchmarks/har_rebuild_fidelity.py [--real ../shared/data/uci-har/uci_har_real_train_windows.npz]

Each of the 2,400 real windows of the official training subjects is matched to the nearest rebuilt window of
the same subjects and activity (``edge_gmp.data.fidelity``); the matched pairs are compared per channel.
Variants: ``before`` (the rebuild up to CODE_VERSION 1, ``hapt.LEGACY``), ``after`` (``hapt.UCI_MATCHED``),
each change of ``after`` applied alone to ``before``, each reverted alone from ``after``, and alternatives
that were tried and rejected. Prints the tables and writes benchmarks/results/har_rebuild_fidelity.json and
.md. The real windows are only a yardstick: nothing here trains on them or copies them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage, signal

from edge_gmp.data import fidelity, hapt
from edge_gmp.data.layout import ACTIVITIES, CHANNELS, SAMPLE_RATE_HZ, TEST_SUBJECTS, WINDOW
from edge_gmp.report.tables import markdown_table, text_table

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci-har"
EXACT_DISTANCE = 1e-3  # RMS (g) on total_acc: a match this close is the same samples up to the 4-digit rounding
STANDARD_GRAVITY = 9.80665
ALL_CHANNELS = tuple(range(len(CHANNELS)))  # at rest total_acc alone leaves a window's place ambiguous
# also placed off the grid; starting at rest only changes windows in a recording's first seconds, which shows there
DETAILED = ("before", "after", "after - filters start at rest")
GROUPS = {"body_acc": (0, 1, 2), "body_gyro": (3, 4, 5), "total_acc": (6, 7, 8)}

Preprocess = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Variant:
    """A way to rebuild windows: ``design`` (filters and grid), optionally another ``transform`` of a raw
    recording, or filtering each labelled segment on its own instead of the whole recording."""

    name: str
    description: str
    design: hapt.Rebuild
    transform: Preprocess | None = None
    per_segment: bool = False

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        return self.transform(raw) if self.transform else hapt.preprocess(raw, design=self.design)


@dataclass(frozen=True)
class Rebuilt:
    """Windows of the training subjects with where they come from (recording index, first sample)."""

    x: np.ndarray
    activity: np.ndarray
    recording: np.ndarray
    start: np.ndarray


def zero_phase(raw: np.ndarray, design: hapt.Rebuild = hapt.UCI_MATCHED) -> np.ndarray:
    """The UCI-matched chain with every filter run forwards and backwards (``sosfiltfilt``)."""
    fs = SAMPLE_RATE_HZ
    denoised = ndimage.median_filter(raw, size=(design.median_kernel, 1), mode="nearest")
    denoised = signal.sosfiltfilt(signal.butter(design.noise_order, design.noise_cutoff_hz, fs=fs, output="sos"),
                                  denoised, axis=0)
    total_acc, gyro = denoised[:, :3], denoised[:, 3:]
    gravity = signal.sosfiltfilt(signal.butter(design.gravity_order, design.gravity_cutoff_hz, fs=fs,
                                               output="sos"), total_acc, axis=0)
    drift = signal.sosfiltfilt(signal.butter(design.gyro_order, design.gyro_cutoff_hz, fs=fs, output="sos"),
                               gyro, axis=0)
    return np.concatenate([total_acc - gravity, gyro - drift, total_acc], axis=1)


def gyro_kept_whole(raw: np.ndarray) -> np.ndarray:
    """The UCI-matched chain without removing the gyro's slow part."""
    design = hapt.UCI_MATCHED
    out = hapt.preprocess(raw)
    gyro = ndimage.median_filter(raw[:, 3:], size=(design.median_kernel, 1), mode="nearest")
    noise = signal.butter(design.noise_order, design.noise_cutoff_hz, fs=SAMPLE_RATE_HZ, output="sos")
    out[:, 3:6] = signal.sosfilt(noise, gyro, axis=0)
    return out


def acc_in_metres(raw: np.ndarray) -> np.ndarray:
    """The UCI-matched chain on acceleration converted from g to m/s^2 (a units check)."""
    scaled = raw.copy()
    scaled[:, :3] *= STANDARD_GRAVITY
    return hapt.preprocess(scaled)


def variants() -> list[Variant]:
    before, after = hapt.LEGACY, hapt.UCI_MATCHED
    listed = [Variant("before", "committed rebuild (hapt.LEGACY)", before),
              Variant("after", "UCI-matched rebuild (hapt.UCI_MATCHED)", after)]
    alone = {"noise low-pass 10th order": {"noise_order": 10},
             "gyro = gyro - low-pass": {"gyro_subtracts_lowpass": True},
             "filters start at rest": {"filters_start_at_rest": True},
             "grid 1 sample before segment": {"grid_shift": 1}}
    listed += [Variant(f"before + {name}", "one change applied alone", replace(before, **change))
               for name, change in alone.items()]
    listed.append(Variant("before + 10th order and grid 1", "the higher order delays by one sample more, which the "
                          "grid takes back", replace(before, noise_order=10, grid_shift=1)))
    listed += [Variant(f"after - {name}", "one change reverted alone",
                       replace(after, **{key: getattr(before, key) for key in change}))
               for name, change in alone.items()]
    tried = {"no median": {"median_kernel": 1}, "median 5": {"median_kernel": 5},
             "noise 8th order": {"noise_order": 8}, "noise 12th order": {"noise_order": 12},
             "noise 18 Hz": {"noise_cutoff_hz": 18.0}, "noise 22 Hz": {"noise_cutoff_hz": 22.0},
             "gravity 2nd order": {"gravity_order": 2}, "gravity 4th order": {"gravity_order": 4},
             "gravity 0.2 Hz": {"gravity_cutoff_hz": 0.2}, "gravity 0.4 Hz": {"gravity_cutoff_hz": 0.4},
             "gyro 1st order": {"gyro_order": 1}, "gyro 0.05 Hz": {"gyro_cutoff_hz": 0.05},
             "gyro 0.3 Hz": {"gyro_cutoff_hz": 0.3},
             "grid 0 samples": {"grid_shift": 0}, "grid 2 samples": {"grid_shift": 2},
             "grid 3 samples": {"grid_shift": 3},
             "grid after transition 1": {"grid_shift_after_transition": 1},
             "grid after transition 3": {"grid_shift_after_transition": 3}}
    listed += [Variant(f"after, {name}", "alternative", replace(after, **change)) for name, change in tried.items()]
    zero_phase_design = replace(after, noise_order=3, grid_shift=2)  # its best of orders 3/5/10 x grids 0-3
    listed += [Variant("after, zero-phase filtfilt (3rd order, grid 2)", "alternative", zero_phase_design,
                       transform=partial(zero_phase, design=zero_phase_design)),
               Variant("after, gyro not high-passed", "alternative", after, transform=gyro_kept_whole),
               Variant("after, acc in m/s^2", "alternative", after, transform=acc_in_metres),
               Variant("after, filtered per segment", "alternative", after, per_segment=True)]
    return listed


def _segment_spans(starts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(first, stop) sample span of each run of consecutive windows of one activity (one labelled segment)."""
    spans: list[tuple[int, int, int]] = []
    for activity, start in starts:
        if spans and spans[-1][0] == activity and start == spans[-1][2] - WINDOW + hapt.STEP:
            spans[-1] = (activity, spans[-1][1], start + WINDOW)
        else:
            spans.append((activity, start, start + WINDOW))
    return [(first, stop) for _, first, stop in spans]


def _recording_signals(raw: np.ndarray, starts: list[tuple[int, int]], variant: Variant) -> np.ndarray:
    """The preprocessed recording; per segment, every span of windows is filtered from its own first sample."""
    if not variant.per_segment:
        return variant.preprocess(raw)
    signals = np.zeros((len(raw), len(CHANNELS)))
    for first, stop in _segment_spans(starts):
        signals[first:stop] = variant.preprocess(raw[first:stop])
    return signals


def rebuild(recordings: list[hapt.Recording], variant: Variant) -> tuple[Rebuilt, list[np.ndarray]]:
    """Windows of ``recordings`` under ``variant`` and the preprocessed recordings they were cut from."""
    xs, activities, where, all_signals = [], [], [], []
    for number, recording in enumerate(recordings):
        starts = hapt.window_starts(recording.labels, variant.design)
        signals = _recording_signals(recording.raw, starts, variant)
        all_signals.append(signals)
        xs += [signals[s:s + WINDOW] for _, s in starts]
        activities += [a for a, _ in starts]
        where += [(number, s) for _, s in starts]
    located = np.array(where, dtype=np.int64)
    return Rebuilt(x=fidelity.round_significant(np.array(xs)), activity=np.array(activities, dtype=np.int64),
                   recording=located[:, 0], start=located[:, 1]), all_signals


def locate_anywhere(real: np.ndarray, real_activity: np.ndarray, recordings: list[hapt.Recording],
                    signals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Where each real window fits best (all channels) at any sample offset of a same-activity segment widened
    by a window on each side (one official laying window reaches 97 samples past its HAPT segment): (recording
    index, first sample) per window, free of the window grid."""
    distance = np.full(len(real), np.inf)
    where = np.full((len(real), 2), -1, dtype=np.int64)
    for number, (recording, series) in enumerate(zip(recordings, signals, strict=True)):
        for activity, start, end in hapt.activity_segments(recording.labels):
            queries = np.flatnonzero(real_activity == activity)
            first, stop = max(start - WINDOW, 0), min(end + WINDOW, len(series))
            if len(queries) == 0 or stop - first < WINDOW:
                continue
            candidates = sliding_window_view(series[first:stop], WINDOW, axis=0).transpose(0, 2, 1)
            match = fidelity.match_windows(real[queries], real_activity[queries], candidates,
                                           np.full(len(candidates), activity), channels=ALL_CHANNELS)
            better = match.distance < distance[queries]
            distance[queries[better]] = match.distance[better]
            where[queries[better]] = np.c_[np.full(better.sum(), number), first + match.index[better]]
    return where[:, 0], where[:, 1]


def grid_free(real: np.ndarray, real_activity: np.ndarray, recordings: list[hapt.Recording], rebuilt: Rebuilt,
              signals: list[np.ndarray], matched: np.ndarray) -> dict[str, Any]:
    """The error left when each real window may sit at any sample (the filters' share of the distance) and
    how far that place is from the matched grid window (the grid's share)."""
    recording, start = locate_anywhere(real, real_activity, recordings, signals)
    placed = fidelity.round_significant(np.stack([signals[r][s:s + WINDOW] for r, s in zip(recording, start,
                                                                                          strict=True)]))
    channels = fidelity.compare_channels(real, placed)
    same = recording == rebuilt.recording[matched]
    lag = np.where(same, start - rebuilt.start[matched], np.iinfo(np.int64).max)
    return {"summary_anywhere": fidelity.summary_error(channels),
            "relative_rms_error_anywhere": {c.channel: c.relative_rms_error for c in channels},
            "share_on_matched_window": float(np.mean(lag == 0)),
            "share_near_matched_window": float(np.mean(np.abs(lag) <= hapt.STEP // 2) - np.mean(lag == 0)),
            "share_elsewhere": float(np.mean(np.abs(lag) > hapt.STEP // 2))}


def _per_activity(match: fidelity.WindowMatch, activity: np.ndarray) -> dict[str, Any]:
    clear, exact = match.clear(), match.distance < EXACT_DISTANCE
    return {ACTIVITIES[a]: {"windows": int(np.sum(activity == a)),
                            "clear_share": float(clear[activity == a].mean()),
                            "exact_share": float(exact[activity == a].mean()),
                            "median_distance": float(np.median(match.distance[activity == a]))}
            for a in sorted(ACTIVITIES)}


def measure(real: np.ndarray, real_activity: np.ndarray, recordings: list[hapt.Recording], variant: Variant,
            detailed: bool) -> dict[str, Any]:
    started = time.perf_counter()
    rebuilt, signals = rebuild(recordings, variant)
    match = fidelity.match_windows(real, real_activity, rebuilt.x, rebuilt.activity)
    matched = rebuilt.x[match.index]
    channels = fidelity.compare_channels(real, matched)
    walking = real_activity <= 3
    result: dict[str, Any] = {
        "variant": variant.name, "description": variant.description,
        "summary": fidelity.summary_error(channels),
        "summary_walking": fidelity.summary_error(fidelity.compare_channels(real[walking], matched[walking])),
        "summary_static": fidelity.summary_error(fidelity.compare_channels(real[~walking], matched[~walking])),
        "clear_share": float(match.clear().mean()), "exact_share": float(np.mean(match.distance < EXACT_DISTANCE)),
        "median_match_distance": float(np.median(match.distance)),
        "median_runner_up_ratio": float(np.median(match.runner_up / np.maximum(match.distance, 1e-12))),
        "channels": [vars(c) | {"band_abs_db": list(c.band_abs_db), "band_bias_db": list(c.band_bias_db)}
                     for c in channels]}
    if detailed:
        result["per_activity"] = _per_activity(match, real_activity)
        result["grid_free"] = grid_free(real, real_activity, recordings, rebuilt, signals, match.index)
    result["seconds"] = time.perf_counter() - started
    return result


def window_count_diffs(recordings: list[hapt.Recording], design: hapt.Rebuild, official_path: Path
                       ) -> dict[str, Any]:
    """Rebuilt minus official windows per subject x activity, summarised."""
    with np.load(official_path) as npz:
        subject = np.r_[npz["subject_train"], npz["subject_test"]].astype(np.int64)
        activity = np.r_[npz["y_train"], npz["y_test"]].astype(np.int64) + 1
    diffs = np.zeros((31, 7), dtype=np.int64)
    np.add.at(diffs, (subject, activity), -1)
    for recording in recordings:
        for code, _ in hapt.window_starts(recording.labels, design):
            diffs[recording.subject, code] += 1
    test = np.isin(np.arange(31), sorted(TEST_SUBJECTS))
    return {"per_activity_train": {ACTIVITIES[a]: int(diffs[~test, a].sum()) for a in ACTIVITIES},
            "per_activity_test": {ACTIVITIES[a]: int(diffs[test, a].sum()) for a in ACTIVITIES},
            "walking_abs_sum": int(np.abs(diffs[:, 1:4]).sum()),
            "subject_activity_abs_sum": int(np.abs(diffs[:, 1:]).sum()),
            "subject_activity_abs_max": int(np.abs(diffs[:, 1:]).max())}


def _group_errors(result: dict[str, Any]) -> list[float]:
    errors = [c["relative_rms_error"] for c in result["channels"]]
    return [float(np.mean([errors[c] for c in group])) for group in GROUPS.values()]


def variant_table(results: list[dict[str, Any]]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = ("variant", "summary", "walking", "static", *(f"{g} err" for g in GROUPS), "clear matches",
               "exact matches")
    rows = [(r["variant"], r["summary"], r["summary_walking"], r["summary_static"], *_group_errors(r),
             f"{r['clear_share']:.1%}", f"{r['exact_share']:.1%}") for r in results]
    return headers, rows


def channel_table(before: dict[str, Any], after: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    bands = [f"abs dB {low:g}-{min(high, 25):g} Hz" for low, high in fidelity.BANDS_HZ]
    headers = ("channel", "rel. RMS err before", "after", "RMS ratio before", "after", *bands)
    rows = []
    for b, a in zip(before["channels"], after["channels"], strict=True):
        spectral = [f"{x:.2f} -> {y:.2f}" for x, y in zip(b["band_abs_db"], a["band_abs_db"], strict=True)]
        rows.append((b["channel"], b["relative_rms_error"], a["relative_rms_error"], b["rms_ratio"], a["rms_ratio"],
                     *spectral))
    return headers, rows


def activity_table(before: dict[str, Any], after: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = ("activity", "real windows", "clear before", "after", "exact before", "after",
               "median dist before", "after")
    rows = []
    for name, b in before["per_activity"].items():
        a = after["per_activity"][name]
        rows.append((name, b["windows"], f"{b['clear_share']:.1%}", f"{a['clear_share']:.1%}",
                     f"{b['exact_share']:.1%}", f"{a['exact_share']:.1%}", b["median_distance"], a["median_distance"]))
    return headers, rows


def grid_table(results: list[dict[str, Any]]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    headers = ("variant", "summary on grid", "summary anywhere", "best place = matched window",
               "within 32 samples", "elsewhere")
    rows = [(r["variant"], r["summary"], r["grid_free"]["summary_anywhere"],
             f"{r['grid_free']['share_on_matched_window']:.1%}", f"{r['grid_free']['share_near_matched_window']:.1%}",
             f"{r['grid_free']['share_elsewhere']:.1%}") for r in results]
    return headers, rows


def count_table(counts: dict[str, dict[str, Any]]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    names = list(counts)
    headers = ("activity", *(f"train diff {n}" for n in names), *(f"test diff {n}" for n in names))
    rows = [(activity, *(counts[n]["per_activity_train"][activity] for n in names),
             *(counts[n]["per_activity_test"][activity] for n in names)) for activity in ACTIVITIES.values()]
    rows.append(("abs diff per subject x activity: sum", *(counts[n]["subject_activity_abs_sum"] for n in names),
                 *("" for _ in names)))
    rows.append(("abs diff per subject x activity: max", *(counts[n]["subject_activity_abs_max"] for n in names),
                 *("" for _ in names)))
    return headers, rows


def worth_lines(results: list[dict[str, Any]]) -> list[str]:
    """One line per change of ``after``: the summary with it reverted alone and with it alone on ``before``."""
    by_name = {r["variant"]: r for r in results}
    before, after = by_name["before"]["summary"], by_name["after"]["summary"]
    lines = []
    for name in (r["variant"].removeprefix("after - ") for r in results if r["variant"].startswith("after - ")):
        reverted = by_name["after - " + name]
        line = (f"- {name}: reverting it alone takes the summary from {after:.4f} to {reverted['summary']:.4f}; "
                f"alone on before it goes from {before:.4f} to {by_name['before + ' + name]['summary']:.4f}")
        if "grid_free" in reverted:
            line += (f" (placed off the grid: {by_name['after']['grid_free']['summary_anywhere']:.4f} vs "
                     f"{reverted['grid_free']['summary_anywhere']:.4f} reverted)")
        lines.append(line)
    return lines


def markdown_report(payload: dict[str, Any], tables: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]
                    ) -> str:
    before, after = payload["summary"]["before"], payload["summary"]["after"]
    lines = ["# Fidelity of the offline HAR-2 rebuild against real UCI HAR windows", "",
             f"`{payload['command']}` on {payload['machine']}, {payload['seconds']:.0f} s. "
             f"{payload['real_windows']} real windows of the official training subjects "
             "(`../shared/data/uci-har/uci_har_real_train_windows.npz`, a yardstick only), each matched to the "
             "nearest rebuilt window of the same activity among the training subjects on total_acc.", "",
             f"**Summary (mean relative RMS error over the 9 channels): before {before:.4f}, "
             f"after {after:.4f}.** Clear match: the runner-up is at least "
             f"{fidelity.CLEAR_MARGIN:g}x farther; exact: total_acc RMS distance < {EXACT_DISTANCE:g} g "
             "(the same samples up to the real windows' 4-digit rounding).", ""]
    captions = {"variants": "## Variants\n\nbefore = `hapt.LEGACY`, after = `hapt.UCI_MATCHED`; `before + X` applies "
                            "one change alone, `after - X` reverts one alone, `after, X` are rejected alternatives.",
                "channels": "## Per channel, before vs after\n\nRelative RMS error pooled over matched windows; "
                            "RMS ratio real / rebuilt; abs dB = mean absolute difference of log band power "
                            "(mean-removed, Hann-tapered window).",
                "activities": "## Matches per activity",
                "grid": "## Grid vs filters\n\nEach real window also placed at the sample offset that fits it best "
                        "anywhere in a same-activity segment: the error left there is the filters' share, the rest of "
                        "the on-grid error is the window grid's; and where that place lies relative to the matched "
                        "grid window.",
                "counts": "## Window counts vs official (rebuilt - official)"}
    lines += ["## What each change is worth", "", *worth_lines(payload["variants"]), ""]
    for key, (headers, rows) in tables.items():
        lines += [captions[key], "", markdown_table(headers, rows), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", type=Path, default=SHARED / "uci_har_real_train_windows.npz")
    parser.add_argument("--official", type=Path, default=SHARED / "uci_har_official_labels.npz")
    parser.add_argument("--hapt", help="HAPT.pkl.gz (default: the installed sdist)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    real, real_activity = fidelity.load_real_windows(args.real)
    recordings = hapt.read_recordings(hapt.locate_hapt(args.hapt))
    training = [r for r in recordings if r.subject not in TEST_SUBJECTS]
    results = [measure(real, real_activity, training, v, detailed=v.name in DETAILED) for v in variants()]
    before, after = results[0], results[1]
    counts = {"before": window_count_diffs(recordings, hapt.LEGACY, args.official),
              "after": window_count_diffs(recordings, hapt.UCI_MATCHED, args.official)}
    tables = {"variants": variant_table(results), "channels": channel_table(before, after),
              "activities": activity_table(before, after), "grid": grid_table([r for r in results if "grid_free" in r]),
              "counts": count_table(counts)}
    for headers, rows in tables.values():
        print(text_table(headers, rows), end="\n\n")
    machine = (f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
               f"numpy {np.__version__}, scipy {scipy.__version__}")
    payload = {"command": "python benchmarks/har_rebuild_fidelity.py", "machine": machine,
               "seconds": time.perf_counter() - started, "real_windows": len(real),
               "summary": {"before": before["summary"], "after": after["summary"]},
               "variants": results, "window_counts": counts}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "har_rebuild_fidelity.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / "har_rebuild_fidelity.md").write_text(markdown_report(payload, tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
