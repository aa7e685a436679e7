"""What a figure was measured on: CPU, cores, torch threads, Python and torch versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    import torch

    threads = torch.get_num_threads()
    return (f"{cpu_model()} ({platform.machine()}), {os.cpu_count()} CPU cores, {threads} torch "
            f"thread{'' if threads == 1 else 's'}, Python {platform.python_version()}, torch {torch.__version__}")
