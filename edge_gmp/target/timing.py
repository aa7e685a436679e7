"""A cycle estimate from executed instructions: a documented cost per instruction class for each core. It is an
ESTIMATE: it ignores pipeline interlocks, memory contention, bus wait states on data and caches; no board was
available to calibrate it.

Cortex-M4 (Arm Cortex-M4 Processor Technical Reference Manual, DDI 0439, table 3-1, zero wait states): data
processing, multiplies (MUL/MLA/MLS, 32x32->64 SMULL/UMLAL..., the DSP extension's SMLAD/SXTB16...) and saturation
take 1 cycle; a load or store 2 (LDR/STR; consecutive ones pipeline, so this is an upper bound), LDM/STM/PUSH/POP
and LDRD/STRD 1 + N registers; a branch 1, plus a pipeline refill P of 1-3 cycles (taken as 2) when it is taken
(the emulator sees which are); divide 2-12 (taken as 7). Flash wait states add to every refill (a fetch from flash
after a taken branch); straight-line fetches and data are assumed to hit the board's flash cache or accelerator.

Cortex-M7 (no public cycle table): a dual-issue pipeline with branch prediction; data processing is charged 0.5
(two per cycle), loads and stores 1, multiplies 1, branches 1 with no refill (predicted) and divides 7. Coarser
than the M4 model.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASSES = ("alu", "mul", "load", "store", "multi", "branch", "taken", "divide")
COSTS = {
    "cortex-m4": {"alu": 1.0, "mul": 1.0, "load": 2.0, "store": 2.0, "multi": 1.0, "branch": 1.0, "taken": 2.0,
                  "divide": 7.0},
    "cortex-m7": {"alu": 0.5, "mul": 1.0, "load": 1.0, "store": 1.0, "multi": 0.5, "branch": 1.0, "taken": 0.0,
                  "divide": 7.0},
}
_BRANCHES = ("b", "bl", "blx", "bx", "cbz", "cbnz", "tbb", "tbh")
_MULTIPLIES = ("mul", "mla", "mls", "smull", "umull", "smlal", "umlal", "smla", "smul", "smmul", "smmla", "smlad",
               "smlsd", "smuad", "smusd", "smlal", "umaal")


def classify(mnemonic: str, operands: str) -> tuple[str, int]:
    """(class, registers moved) of one Thumb instruction (capstone's lower-case mnemonic and operand text)."""
    m = mnemonic.split(".")[0]
    if m in ("push", "pop", "ldm", "stm", "ldmia", "stmia", "ldmdb", "stmdb", "vpush", "vpop"):
        return "multi", 1 + _registers(operands)
    if m in ("ldrd", "strd"):  # two registers moved: 1 + N cycles on the M4, like LDM
        return "multi", 3
    if m.startswith(("ldr", "vldr")):
        return "load", 1
    if m.startswith(("str", "vstr")):
        return "store", 1
    if m in ("sdiv", "udiv", "vdiv"):
        return "divide", 1
    if m.startswith(_MULTIPLIES):
        return "mul", 1
    conditional = m.startswith("b") and len(m) <= 3 and m not in ("bic", "bfi", "bfc")
    if m in _BRANCHES or conditional or "pc" in operands.split(",")[0]:
        return "branch", 1
    return "alu", 1


def _registers(operands: str) -> int:
    """Registers in a list such as ``{r4, r5, r6, r7, lr}`` or ``{r4-r7, lr}``."""
    inside = operands[operands.find("{") + 1:operands.find("}")] if "{" in operands else ""
    count = 0
    for part in (p.strip() for p in inside.split(",") if p.strip()):
        if "-" in part:
            a, b = (int("".join(ch for ch in x if ch.isdigit()) or 0) for x in part.split("-"))
            count += b - a + 1
        else:
            count += 1
    return count


@dataclass(frozen=True)
class CycleEstimate:
    core: str
    cycles: float
    wait_state_cycles: float

    @property
    def total(self) -> float:
        return self.cycles + self.wait_state_cycles


def estimate(core: str, counts: dict[str, float], flash_wait_states: int) -> CycleEstimate:
    """``counts``: executed instructions per class, ``multi`` counted as registers moved."""
    costs = COSTS[core]
    cycles = sum(costs[c] * counts.get(c, 0) for c in CLASSES)
    return CycleEstimate(core, cycles, flash_wait_states * counts.get("taken", 0))
