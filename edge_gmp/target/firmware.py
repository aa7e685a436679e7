"""A bare-metal image for a board's core: a startup file and a linker script generated from the board's memory
regions, a harness that runs the generated model once on input buffers in RAM and leaves its outputs in output
buffers, and a stop the emulator halts at. Built with zig's clang (``python -m ziglang cc``) from PyPI."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edge_gmp.codegen.generate import Library
from edge_gmp.codegen.layers import C_TYPES
from edge_gmp.errors import UserError
from edge_gmp.target.dsp import HEADER_NAME, header
from edge_gmp.verify.devices import EmulationTarget

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-ffreestanding", "-nostdlib", "-fno-unwind-tables",
          "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections"]
MCPU = {"cortex-m4": "cortex_m4", "cortex-m7": "cortex_m7"}
STACK_PATTERN = 0xA5A5A5A5

_STARTUP = """\
#include <stdint.h>
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
void eg_run(void);
volatile int32_t eg_layer_mark;

__attribute__((noinline)) void eg_stop(void) { __asm__ volatile("bkpt #0"); }

/* The emulator enters here for every inference: .data and .bss are set up once, by eg_reset. */
__attribute__((noinline)) void eg_entry(void) {
  eg_run();
  eg_stop();
}

void eg_reset(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  eg_stop();
}

/* What the compiler may call in a freestanding build. */
void *memcpy(void *d, const void *s, unsigned n) {
  char *a = (char *)d;
  const char *b = (const char *)s;
  while (n--) *a++ = *b++;
  return d;
}
void *memset(void *d, int c, unsigned n) {
  char *a = (char *)d;
  while (n--) *a++ = (char)c;
  return d;
}

__attribute__((section(".vectors"), used)) const void *const eg_vectors[2] = {(const void *)&__stack_top,
                                                                              (const void *)eg_reset};
"""

_HOOKS = """\
#include <stdint.h>
extern volatile int32_t eg_layer_mark;
#define EG_LAYER_HOOK(layer) (eg_layer_mark = (layer))
"""

_LINKER = """\
ENTRY(eg_reset)
EXTERN(eg_entry)
MEMORY {{
  FLASH (rx) : ORIGIN = {flash_origin:#x}, LENGTH = {flash_bytes}
  RAM (rwx) : ORIGIN = {ram_origin:#x}, LENGTH = {ram_bytes}
}}
SECTIONS {{
  .text : {{ KEEP(*(.vectors)) *(.text*) }} > FLASH
  .rodata : {{ *(.rodata*) }} > FLASH
  .data : {{ . = ALIGN(4); __data_start = .; *(.data*) . = ALIGN(4); __data_end = .; }} > RAM AT > FLASH
  __data_load = LOADADDR(.data);
  .bss (NOLOAD) : {{ . = ALIGN(4); __bss_start = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end = .; }} > RAM
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
  /DISCARD/ : {{ *(.ARM.exidx*) *(.ARM.extab*) *(.comment) }}
}}
"""

_OVERFLOW = re.compile(r"section '([^']+)' will not fit in region '(\w+)': overflowed by (\d+) bytes")


class DoesNotFit(UserError):
    """The image does not fit the board's flash or RAM (a budget failure, named by region and overflow)."""

    def __init__(self, region: str, overflow: int, board: str) -> None:
        self.region, self.overflow = region, overflow
        super().__init__(f"the firmware image does not fit {board}'s {region}: it overflows by {overflow:,} bytes")


@dataclass(frozen=True)
class Firmware:
    elf: Path
    target: EmulationTarget
    library: Library


def harness(library: Library) -> str:
    """Input and output buffers the emulator fills and reads, and the one call."""
    io = library.report["io"]
    lines = ["#include <stdint.h>", f'#include "{library.name}.h"']
    lines += [f"{C_TYPES[x['dtype']]} eg_{x['name']}[{x['size']}];" for x in io]
    args = ", ".join(f"eg_{x['name']}" for x in io)
    lines += ["void eg_run(void);", f"void eg_run(void) {{ (void){library.name}_invoke({args}); }}", ""]
    return "\n".join(lines)


def linker_script(target: EmulationTarget) -> str:
    return _LINKER.format(flash_origin=target.flash_origin, flash_bytes=target.flash_bytes,
                          ram_origin=target.ram_origin, ram_bytes=target.ram_bytes)


def compile_command(target: EmulationTarget, sources: list[Path], out: Path, script: Path,
                    extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "ziglang", "cc", "-target", "thumb-freestanding-eabihf",
            f"-mcpu={MCPU[target.core]}", *CFLAGS, *extra, "-Wl,--gc-sections", "-T", str(script),
            *map(str, sources), "-o", str(out)]


def build_firmware(library: Library, target: EmulationTarget, folder: Path, board: str,
                   extra_flags: tuple[str, ...] = (), dsp: bool = True) -> Firmware:
    """Write the sources into ``folder`` and link ``<name>.elf``, with the DSP extension's inner loops
    (:mod:`edge_gmp.target.dsp`) unless ``dsp`` is false (the portable C alone); DoesNotFit when the linker says a
    region overflows."""
    folder.mkdir(parents=True, exist_ok=True)
    if dsp:
        (folder / HEADER_NAME).write_text(header())
        extra_flags = (f'-DEG_TARGET_HEADER="{HEADER_NAME}"', *extra_flags)
    (folder / f"{library.name}.c").write_text(library.source)
    (folder / f"{library.name}.h").write_text(library.header)
    (folder / "eg_startup.c").write_text(_STARTUP)
    (folder / "eg_harness.c").write_text(harness(library))
    (folder / "eg_hooks.h").write_text(_HOOKS)
    script = folder / "eg_link.ld"
    script.write_text(linker_script(target))
    elf = folder / f"{library.name}.elf"
    sources = [folder / "eg_startup.c", folder / "eg_harness.c", folder / f"{library.name}.c"]
    flags = ("-I", str(folder), "-include", str(folder / "eg_hooks.h"), *extra_flags)
    result = subprocess.run(compile_command(target, sources, elf, script, flags), capture_output=True, text=True)
    if result.returncode != 0:
        overflow = _OVERFLOW.search(result.stderr)
        if overflow:
            region = "flash" if overflow.group(2) == "FLASH" else "RAM"
            raise DoesNotFit(region, int(overflow.group(3)), board)
        raise RuntimeError(f"the firmware does not build: {result.stderr.strip()[:2000]}")
    return Firmware(elf, target, library)
