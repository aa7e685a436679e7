from edge_gmp.target.timing import COSTS, classify, estimate


def test_instruction_classes():
    assert classify("ldrsb.w", "r1, [r2, r3]") == ("load", 1)
    assert classify("str", "r0, [sp, #4]") == ("store", 1)
    assert classify("smlad", "r0, r1, r2, r0") == ("mul", 1)
    assert classify("mla", "r0, r1, r2, r0") == ("mul", 1)
    assert classify("push", "{r4, r5, r6, r7, lr}") == ("multi", 6)
    assert classify("pop.w", "{r4-r11, pc}") == ("multi", 10)
    assert classify("ldrd", "r0, r1, [r2, #-8]") == ("multi", 3)
    assert classify("bne", "#0x100") == ("branch", 1)
    assert classify("bx", "lr") == ("branch", 1)
    assert classify("cbz", "r0, #0x20") == ("branch", 1)
    assert classify("bic", "r0, r1, #3") == ("alu", 1)
    assert classify("sdiv", "r0, r1, r2") == ("divide", 1)
    assert classify("adds", "r0, #1") == ("alu", 1)


def test_estimate_adds_wait_states_to_refills():
    counts = {"alu": 10, "load": 4, "branch": 3, "taken": 2}
    m4 = estimate("cortex-m4", counts, 0)
    assert m4.total == 10 * 1 + 4 * 2 + 3 * 1 + 2 * COSTS["cortex-m4"]["taken"]
    assert estimate("cortex-m4", counts, 3).total == m4.total + 2 * 3
    assert estimate("cortex-m7", counts, 0).total < m4.total
