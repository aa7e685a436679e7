"""The memory plan never lets two live buffers share bytes."""

from __future__ import annotations

import numpy as np

from edge_gmp.codegen.generate import generate
from edge_gmp.codegen.plan import Buffer, overlaps, plan_memory


def test_random_lifetimes_never_overlap():
    rng = np.random.default_rng(0)
    for _ in range(200):
        buffers = []
        for i in range(int(rng.integers(1, 25))):
            first = int(rng.integers(-1, 20))
            buffers.append(Buffer(f"b{i}", int(rng.integers(0, 5000)), first, first + int(rng.integers(0, 6))))
        offsets, arena = plan_memory(buffers)
        assert overlaps(buffers, offsets) == []
        assert all(offsets[b.key] + b.size <= arena for b in buffers)
        peak_live = max(sum(b.size for b in buffers if b.first <= t <= b.last) for t in range(-1, 26))
        assert arena >= peak_live


def test_disjoint_lifetimes_share_memory():
    offsets, arena = plan_memory([Buffer("a", 100, 0, 1), Buffer("b", 100, 2, 3), Buffer("c", 40, 1, 2)])
    assert offsets["a"] == offsets["b"] and arena == 140


def test_mobilenet_plan(mobilenet_device_file):
    report = generate(mobilenet_device_file, "m").report
    buffers = [Buffer(b["key"], b["size"], b["first"], b["last"]) for b in report["buffers"]]
    assert overlaps(buffers, {b["key"]: b["offset"] for b in report["buffers"]}) == []
    assert report["arena_bytes"] <= 32 * 1024
