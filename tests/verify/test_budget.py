import pytest

from edge_gmp.errors import UserError
from edge_gmp.verify import builtin_devices, check_budget, find_device, load_devices
from edge_gmp.verify.devices import Device

BOARD = """
[device.myboard]
name = "My Board"
flash_bytes = 65_536
sram_bytes = 20_000
flash_reserve_bytes = 1_000
ram_reserve_bytes = 2_000
aliases = ["mb1"]
"""


def test_builtin_profiles_and_names():
    devs = builtin_devices()
    assert {"uno", "nano33ble", "stm32f746-disco", "stm32l4r5-nucleo", "pico", "esp32"} <= set(devs)
    assert devs["uno"].sram_bytes == 2048 and devs["nano33ble"].sram_bytes == 256 * 1024
    assert devs["stm32l4r5-nucleo"].flash_bytes == 2 * 1024 * 1024 and devs["pico"].sram_bytes == 264 * 1024
    assert find_device("STM32F746-Disco").id == "stm32f746-disco"
    assert find_device("Arduino Nano 33 BLE Sense").id == "nano33ble"
    assert find_device("RP2040").id == "pico" and find_device("UNO").id == "uno"
    with pytest.raises(UserError, match="unknown device 'nope'.*nano33ble"):
        find_device("nope")


def test_user_devices_file(tmp_path):
    f = tmp_path / "boards.toml"
    f.write_text(BOARD)
    assert find_device("MB1", f).flash_available == 64_536
    assert "uno" in load_devices(f)
    for bad, msg in ((BOARD.replace("sram_bytes = 20_000\n", ""), "missing field.*sram_bytes"),
                     (BOARD.replace("1_000", "-5"), "non-negative"),
                     (BOARD.replace("2_000", "30_000"), "leaves nothing"),
                     (BOARD.replace("aliases", "alias"), "unknown field"),
                     ("[device.x\n", "not valid TOML")):
        f.write_text(bad)
        with pytest.raises(UserError, match=msg):
            load_devices(f)
    with pytest.raises(UserError, match="not found"):
        load_devices(tmp_path / "missing.toml")


def test_check_budget_rows_and_failures():
    dev = find_device("nano33ble")
    ok = check_budget(100_000, 10_000, dev, accuracy=0.95, min_accuracy=0.9)
    assert ok.ok and [r.budget for r in ok.rows] == ["flash", "ram", "accuracy"]
    assert ok.rows[1].margin == dev.ram_available - 10_000
    bad = check_budget(100_000, dev.ram_available + 2048, dev, accuracy=0.85, min_accuracy=0.9)
    assert not bad.ok and [r.ok for r in bad.rows] == [True, False, False]
    msgs = bad.failures()
    assert "ram over budget by 2,048 B" in msgs[0] and "0.0500 below" in msgs[1]
    assert "NO" in bad.table() and bad.to_dict()["failures"] == msgs


def test_decompression_buffer_counts_and_fragmented_ram_is_checked_per_block():
    esp32 = find_device("esp32")
    assert esp32.largest_block_bytes == 112_640
    report = check_budget(100_000, 100_000, esp32, decompression_bytes=20_000)
    assert [r.budget for r in report.rows] == ["flash", "ram", "ram block"]
    assert report.rows[1].needed == 120_000 and report.ok
    split = check_budget(100_000, 120_000, esp32)  # fits the DRAM in total, not in one block
    assert [r.ok for r in split.rows] == [True, True, False]
    assert "ram block over budget by 7,360 B" in split.failures()[0]


@pytest.mark.parametrize("kwargs,msg", [({"accuracy": 0.9, "min_accuracy": 1.5}, r"\[0, 1\]"),
                                        ({"min_accuracy": 0.9}, "measured accuracy"),
                                        ({"accuracy": -0.1}, r"\[0, 1\]")])
def test_impossible_budget_is_user_error(kwargs, msg):
    with pytest.raises(UserError, match=msg):
        check_budget(1, 1, find_device("pico"), **kwargs)


def test_reserve_larger_than_device_is_user_error():
    dev = Device("t", "T", flash_bytes=1000, sram_bytes=1000, flash_reserve_bytes=2000, ram_reserve_bytes=0)
    with pytest.raises(UserError, match="leave nothing"):
        check_budget(1, 1, dev)
