"""Run a firmware image on an emulated Cortex-M (unicorn): inputs written into the harness's RAM buffers, one
inference from eg_entry to eg_stop, outputs read back. Counts the instructions executed (capstone decodes each
translated block once; a block hook adds its count), per layer (the generated code marks each layer's start), and
the stack's high-water mark (free RAM filled with a pattern before the run, the deepest word changed after it)."""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

import capstone
import numpy as np
from elftools.elf.elffile import ELFFile
from unicorn import UC_ARCH_ARM, UC_HOOK_BLOCK, UC_HOOK_MEM_WRITE, UC_MODE_MCLASS, UC_MODE_THUMB, Uc, UcError
from unicorn.arm_const import UC_ARM_REG_LR, UC_ARM_REG_SP, UC_CPU_ARM_CORTEX_M4, UC_CPU_ARM_CORTEX_M7

from edge_gmp.target.firmware import STACK_PATTERN, Firmware
from edge_gmp.target.timing import classify

CPU_MODELS = {"cortex-m4": UC_CPU_ARM_CORTEX_M4, "cortex-m7": UC_CPU_ARM_CORTEX_M7}
MAX_INSTRUCTIONS = 2_000_000_000  # a runaway model is stopped, not waited for
_PAGE = 0x1000


def _pages(start: int, size: int) -> tuple[int, int]:
    first = start // _PAGE * _PAGE
    return first, (start + size - first + _PAGE - 1) // _PAGE * _PAGE


@dataclass
class Sections:
    flash: dict[str, int] = field(default_factory=dict)
    ram: dict[str, int] = field(default_factory=dict)

    @property
    def flash_bytes(self) -> int:
        return sum(self.flash.values())


@dataclass(frozen=True)
class Run:
    outputs: list[np.ndarray]
    instructions: int
    layer_instructions: list[int]
    classes: dict[str, float]
    stack_bytes: int


class Emulator:
    """One firmware image, loaded once, run for many inputs."""

    def __init__(self, firmware: Firmware) -> None:
        self.firmware, target = firmware, firmware.target
        with open(firmware.elf, "rb") as f:
            elf = ELFFile(f)
            self.symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
            self.sections = self._sections(elf)
            segments = [(seg["p_paddr"], seg.data()) for seg in elf.iter_segments()
                        if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]]
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(CPU_MODELS[target.core])
        for start, size in (_pages(target.flash_origin, target.flash_bytes), _pages(target.ram_origin,
                                                                                     target.ram_bytes)):
            self.uc.mem_map(start, size)
        for address, data in segments:
            self.uc.mem_write(address, data)
        self.md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self._blocks: dict[tuple[int, int], tuple[int, Counter]] = {}
        self._count = self._taken = self._fall_through = 0
        self._executed: Counter = Counter()
        self._marks: list[tuple[int, int]] = []
        self.uc.hook_add(UC_HOOK_BLOCK, self._on_block)
        mark = self.symbols["eg_layer_mark"]
        self.uc.hook_add(UC_HOOK_MEM_WRITE, self._on_mark, begin=mark, end=mark + 3)
        self.stack_top = target.ram_origin + target.ram_bytes
        self._call("eg_reset")

    @staticmethod
    def _sections(elf: ELFFile) -> Sections:
        found = Sections()
        for s in elf.iter_sections():
            if s["sh_flags"] & 2 and s["sh_size"]:  # SHF_ALLOC
                if s.name in (".text", ".rodata"):
                    found.flash[s.name] = s["sh_size"]
                elif s.name == ".data":
                    found.flash[s.name] = s["sh_size"]
                    found.ram[s.name] = s["sh_size"]
                elif s.name == ".bss":
                    found.ram[s.name] = s["sh_size"]
        return found

    def _on_block(self, uc: Uc, address: int, size: int, _: object) -> None:
        key = (address, size)
        known = self._blocks.get(key)
        if known is None:
            classes: Counter = Counter()
            count = 0
            for insn in self.md.disasm_lite(bytes(uc.mem_read(address, size)), address):
                kind, weight = classify(insn[2], insn[3])
                classes[kind] += weight
                count += 1
            known = self._blocks[key] = (count, classes)
        if address != self._fall_through:
            self._taken += 1
        self._fall_through = address + size
        self._count += known[0]
        self._executed[key] += 1
        if self._count > MAX_INSTRUCTIONS:
            uc.emu_stop()

    def _on_mark(self, uc: Uc, access: int, address: int, size: int, value: int, _: object) -> None:
        self._marks.append((value, self._count))

    def _call(self, symbol: str) -> None:
        stop = self.symbols["eg_stop"] & ~1
        self.uc.reg_write(UC_ARM_REG_SP, self.stack_top)
        self.uc.reg_write(UC_ARM_REG_LR, stop | 1)
        try:
            self.uc.emu_start(self.symbols[symbol] | 1, stop)
        except UcError as exc:
            raise RuntimeError(f"the emulated core faulted in {symbol}: {exc}") from exc

    def _fill_stack(self) -> int:
        low = self.symbols["__bss_end"]
        words = (self.stack_top - low) // 4
        self.uc.mem_write(low, struct.pack("<I", STACK_PATTERN) * words)
        return low

    def _stack_depth(self, low: int) -> int:
        data = np.frombuffer(bytes(self.uc.mem_read(low, self.stack_top - low)), dtype="<u4")
        touched = np.flatnonzero(data != STACK_PATTERN)
        return 0 if not len(touched) else int(self.stack_top - (low + 4 * touched[0]))

    def run(self, inputs: list[np.ndarray]) -> Run:
        io = self.firmware.library.report["io"]
        ins = [x for x in io if x["direction"] == "in"]
        for spec, value in zip(ins, inputs, strict=True):
            self.uc.mem_write(self.symbols[f"eg_{spec['name']}"], np.ascontiguousarray(value).tobytes())
        low = self._fill_stack()
        self._count, self._taken, self._executed, self._marks = 0, 0, Counter(), []
        self._call("eg_entry")
        if self._count > MAX_INSTRUCTIONS:
            raise RuntimeError(f"stopped after {MAX_INSTRUCTIONS:,} instructions: the model does not finish")
        outputs = []
        for spec in (x for x in io if x["direction"] == "out"):
            dtype = np.dtype(spec["dtype"])
            raw = self.uc.mem_read(self.symbols[f"eg_{spec['name']}"], spec["size"] * dtype.itemsize)
            outputs.append(np.frombuffer(bytes(raw), dtype=dtype).copy())
        classes: Counter = Counter()
        for key, times in self._executed.items():
            for kind, n in self._blocks[key][1].items():
                classes[kind] += n * times
        classes["taken"] = self._taken - 1  # the entry itself is not a branch
        return Run(outputs, self._count, self._layer_counts(), dict(classes), self._stack_depth(low))

    def _layer_counts(self) -> list[int]:
        marks = sorted(self._marks, key=lambda m: m[1])
        return [b[1] - a[1] for a, b in zip(marks, marks[1:], strict=False)]
