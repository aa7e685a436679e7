"""python -m edge_gmp.validate --emulate as a user meets it."""

from __future__ import annotations

import json

from edge_gmp.validate import main


def test_emulated_figures_and_budget(fastgrnn_device_file, capsys):
    assert main([str(fastgrnn_device_file), "--board", "nano33ble", "--emulate", "--emulate-samples", "1"]) == 0
    out = capsys.readouterr().out
    assert "target    cortex-m4 at 64 MHz (emulated)" in out and "estimate" in out
    assert "identical to the host build" in out and "OK: every budget holds" in out
    assert max(len(line) for line in out.splitlines()) <= 120


def test_json_carries_the_target(fastgrnn_device_file, capsys):
    assert main([str(fastgrnn_device_file), "--board", "stm32f746-disco", "--emulate", "--emulate-samples", "1",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    target = report["target"]
    assert target["core"] == "cortex-m7" and target["identical_to_host"]["identical"] and report["ok"]
    assert target["flash_bytes"] > 0 and target["instructions"] > 0 and "estimate" in target["cycle_estimate_note"]


def test_bad_emulate_requests_are_one_line(fastgrnn_device_file, capsys):
    cases = [(["--board", "esp32", "--emulate"], "has no emulated core"),
             (["--board", "nano33ble", "--emulate-samples", "3"], "only applies with --emulate"),
             (["--board", "nano33ble", "--emulate", "--emulate-samples", "0"], "must be positive")]
    for extra, words in cases:
        assert main([str(fastgrnn_device_file), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err
