"""What every benchmark result records about how it was produced: command line, machine, load, versions.

Example:
    >>> from benchmarks.environment import machine_info
    >>> sorted(machine_info())[:3]
    ['cpu_model', 'cpus_usable', 'load_average']
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` where that file does not exist)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def total_memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other processes competing for the CPU), None where unsupported."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, memory, load, Python/torch/transformers versions and torch's thread settings."""
    import torch
    import transformers

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "cpus_logical": os.cpu_count(),
        "cpus_usable": usable,
        "memory_gb": total_memory_gb(),
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
    }


def command_line(module: str | None = None, argv: Sequence[str] | None = None) -> str:
    """The command that is running, as it could be typed again.

    With ``argv`` (a benchmark's ``main(argv)`` called from Python), ``python -m MODULE ARGV``; else ``sys.argv``.
    """
    if argv is not None and module is not None:
        return shlex.join(["python", "-m", module, *argv])
    if module is not None and sys.argv and sys.argv[0].endswith(module.replace(".", "/") + ".py"):
        return shlex.join(["python", "-m", module, *sys.argv[1:]])
    return shlex.join([Path(sys.executable).name, *sys.argv])


def run_record(benchmark: str, argv: Sequence[str] | None, load_at_start: Sequence[float], started: float) -> dict[str, Any]:
    """The head of a results JSON: benchmark name, the command that made it, the machine, the load average at the
    start and now, and the seconds since ``started`` (a `time.perf_counter` reading)."""
    return {
        "benchmark": benchmark,
        "command": command_line(f"benchmarks.{benchmark}", argv),
        "machine": machine_info(),
        "load_average_start": load_at_start,
        "load_average_end": load_average(),
        "duration_seconds": round(time.perf_counter() - started, 1),
    }


def write_result(path: str | os.PathLike, result: dict[str, Any]) -> Path:
    """Write ``result`` as indented JSON (parents created), stamped with the UTC time; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {**result, "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


__all__ = ["command_line", "cpu_model", "load_average", "machine_info", "run_record", "total_memory_gb", "write_result"]
