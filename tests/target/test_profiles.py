"""Board profiles carry the emulation target; a broken one is refused in one line."""

from __future__ import annotations

import pytest

from edge_gmp.errors import UserError
from edge_gmp.verify.devices import find_device, parse_devices

BASE = ('[device.b]\nname = "B"\nflash_bytes = 65536\nsram_bytes = 16384\nflash_reserve_bytes = 0\n'
        'ram_reserve_bytes = 0\n')


def test_builtin_targets():
    assert find_device("nano33ble").target.core == "cortex-m4"
    assert find_device("stm32f746-disco").target.flash_origin == 0x0800_0000
    assert find_device("esp32").target is None


@pytest.mark.parametrize("target,words", [
    ('{ core = "xtensa", flash_origin = 0, flash_bytes = 1, ram_origin = 0, ram_bytes = 1, clock_hz = 1 }',
     "cannot be emulated"),
    ('{ core = "cortex-m4", flash_origin = 0 }', "lacks"),
    ('{ core = "cortex-m4", flash_origin = -1, flash_bytes = 1, ram_origin = 0, ram_bytes = 1, clock_hz = 1 }',
     "must be an integer"),
    ('{ core = "cortex-m4", flash_origin = 0, flash_bytes = 0, ram_origin = 0, ram_bytes = 1, clock_hz = 1 }',
     "must be positive"),
    ('"m4"', "must be a table"),
])
def test_broken_targets_are_refused(target, words):
    with pytest.raises(UserError, match=words):
        parse_devices(BASE + f"target = {target}\n", "boards.toml")
