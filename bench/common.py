"""What every benchmark needs: its command line, the date and the machine it ran on, and the data options.

No model lives here. A benchmark that backs a lesson's claim runs the lesson itself
(``bench/full_notebooks.py``); a benchmark of the course's tooling defines its own small model inline.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

import torch

from shared import config


def add_data_dir(parser) -> None:
    """Add the --data-dir and --tiny options every benchmark takes."""
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding the datasets (default: DIC_DATA_DIR, else the per-user cache)")
    parser.add_argument("--tiny", action="store_true", help="use the small *_tiny files (a quick smoke run)")


def apply_data_dir(args) -> None:
    """Make the shared loaders read from --data-dir and in the mode asked for."""
    if args.data_dir is not None:
        os.environ["DIC_DATA_DIR"] = str(args.data_dir.resolve())
    os.environ["DIC_TINY"] = "1" if args.tiny else "0"


def machine() -> str:
    """Return one line describing the processor, core count and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {os.cpu_count()} cores{load}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}")


# The instructions that decide which fast path PyTorch can take on a CPU: vector width and fused
# multiply-add for float32 convolutions, and native bfloat16 (without it bfloat16 is emulated, and slower).
CPU_FLAGS_THAT_MATTER = {"x86": ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"), "arm": ("asimd", "bf16")}


def cpu_flags_line() -> str:
    """Return which of the CPU flags that matter for speed this processor has, and which it lacks."""
    flags = config.cpu_flags()
    if not flags:
        return "flags not reported on this system (no /proc/cpuinfo)"
    wanted = CPU_FLAGS_THAT_MATTER["arm" if "asimd" in flags else "x86"]
    has, lacks = [f for f in wanted if f in flags], [f for f in wanted if f not in flags]
    return " ".join(has or ["none of " + ", ".join(wanted)]) + (f"; no {', '.join(lacks)}" if lacks and has else "")


def today() -> str:
    """Return the date and time in UTC, for the record of a run."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def command() -> str:
    """Return the command that reproduces this run (benchmarks run as modules from the repository root)."""
    module = "bench." + Path(sys.argv[0]).stem
    return " ".join(["python -m", module, *sys.argv[1:]])


def header() -> str:
    """Return the lines every benchmark prints first: command, date and machine."""
    return (f"command : {command()}\ndate    : {today()}\nmachine : {machine()}\n"
            f"cpu     : {cpu_flags_line()}")
