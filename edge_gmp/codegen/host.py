"""Build a generated library for this machine with the system C compiler and call it from Python (ctypes): the
bit-exactness checks against TFLM and a quick per-layer profile (host time, not a target figure)."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

from edge_gmp.codegen.generate import Library
from edge_gmp.errors import UserError

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]

_HARNESS = """\
#define _POSIX_C_SOURCE 199309L
#include <time.h>
#include <stdint.h>
void eg_host_hook(int layer);
#define EG_LAYER_HOOK(layer) eg_host_hook(layer)
#include "{name}.c"
int eg_host_profiling = 0;
int64_t eg_host_ns[{slots}];
static struct timespec eg_host_last;
void eg_host_hook(int layer) {{
  struct timespec now;
  if (!eg_host_profiling) return;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (layer > 0)
    eg_host_ns[layer - 1] += (int64_t)(now.tv_sec - eg_host_last.tv_sec) * 1000000000 +
                             (now.tv_nsec - eg_host_last.tv_nsec);
  eg_host_last = now;
}}
"""


def compiler() -> str:
    for candidate in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate.split()[0]):
            return candidate.split()[0]
    raise UserError("no C compiler found (install gcc, or set CC); the host build of the generated library needs one")


def write_library(library: Library, folder: Path) -> tuple[Path, Path]:
    c_path, h_path = folder / f"{library.name}.c", folder / f"{library.name}.h"
    c_path.write_text(library.source)
    h_path.write_text(library.header)
    return c_path, h_path


class HostLibrary:
    """The generated library compiled as a shared object, with its invoke function typed from the report."""

    def __init__(self, library: Library, build_dir: str | os.PathLike | None = None,
                 cflags: tuple[str, ...] = ()) -> None:
        self.library = library
        self._tmp = tempfile.TemporaryDirectory(prefix="edge_gmp_codegen_") if build_dir is None else None
        folder = Path(build_dir or self._tmp.name)
        folder.mkdir(parents=True, exist_ok=True)
        write_library(library, folder)
        layers = len(library.report["layers"]) + 8
        harness = folder / f"{library.name}_host.c"
        harness.write_text(_HARNESS.format(name=library.name, slots=layers + 1))
        so = folder / f"lib{library.name}.so"
        cmd = [compiler(), *CFLAGS, *cflags, "-shared", "-fPIC", "-I", str(folder), str(harness), "-o", str(so)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"the generated C does not compile: {result.stderr.strip()[:2000]}")
        self._dll = ctypes.CDLL(str(so))
        self._invoke = getattr(self._dll, f"{library.name}_invoke")
        self._invoke.argtypes = [ctypes.c_void_p] * len(library.report["io"])  # pointers, never truncated to int
        self._invoke.restype = ctypes.c_int
        self.slots = layers

    def __call__(self, *inputs: np.ndarray, output_dtypes: list[np.dtype], output_sizes: list[int]) -> list[np.ndarray]:
        ins = [np.ascontiguousarray(x) for x in inputs]
        outs = [np.empty(n, dtype=d) for d, n in zip(output_dtypes, output_sizes, strict=True)]
        self._invoke(*[x.ctypes.data for x in ins + outs])
        return outs

    def raw_call(self, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> None:
        """The library's own call on contiguous arrays of the right dtypes and sizes (the caller's to ensure)."""
        self._invoke(*[x.ctypes.data for x in inputs], *[y.ctypes.data for y in outputs])

    def profile(self, enabled: bool) -> None:
        ctypes.c_int.in_dll(self._dll, "eg_host_profiling").value = int(enabled)

    def layer_ns(self) -> np.ndarray:
        array = (ctypes.c_int64 * (self.slots + 1)).in_dll(self._dll, "eg_host_ns")
        return np.array(array[: len(self.library.report["layers"])], dtype=np.int64)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
