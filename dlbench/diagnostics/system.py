"""Machine checks that need no framework: threads and affinity, CPU frequency scaling, busy processes."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from dlbench.environment import usable_cores

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "XLA_FLAGS")
BUSY_SHARE = 0.10  # of one core


def threads() -> list[str]:
    logical = os.cpu_count() or 1
    usable = usable_cores() or logical
    lines = [f"{logical} logical cores, {usable} usable by this process"
             + (" (restricted by affinity: taskset/cgroup)" if usable < logical else "")]
    set_vars = {k: os.environ[k] for k in THREAD_VARS if k in os.environ}
    lines.append("thread variables: " + (", ".join(f"{k}={v}" for k, v in set_vars.items()) or
                                         "none set (each framework picks its own thread count)"))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load is not None:
        lines.append(f"load average {load[0]:.2f} (1 min) on {usable} usable cores"
                     + (": the machine is busy" if load[0] > 0.5 * usable else ""))
    return lines


def frequency_scaling(root: Path = Path("/sys/devices/system/cpu")) -> list[str]:
    governors = Counter()
    for path in root.glob("cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            governors[path.read_text().strip()] += 1
        except OSError:
            continue
    if not governors:
        return ["scaling governor not readable (a VM or container usually hides it)"]
    lines = ["scaling governor: " + ", ".join(f"{g} on {n} cores" for g, n in sorted(governors.items()))]
    if set(governors) - {"performance"}:
        lines.append("advice: `sudo cpupower frequency-set -g performance` keeps the clock from ramping during runs")
    boost = root / "cpufreq" / "boost"
    if boost.exists():
        try:
            lines.append(f"turbo boost {'on' if boost.read_text().strip() == '1' else 'off'}")
        except OSError:
            pass
    return lines


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1: text.rfind(")")]
        fields = text.rsplit(")", 1)[1].split()
        ticks[int(stat.parent.name)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


def busy_processes(interval: float = 0.5) -> list[tuple[int, str, float]]:
    """(pid, name, share of one core) of other processes using more than 10 % of a core (Linux /proc)."""
    if not Path("/proc/self/stat").exists():
        return []
    hz = os.sysconf("SC_CLK_TCK")
    before = _cpu_ticks()
    time.sleep(interval)
    after = _cpu_ticks()
    mine = os.getpid()
    busy = []
    for pid, (name, t) in after.items():
        if pid == mine or pid not in before:
            continue
        share = (t - before[pid][1]) / hz / interval
        if share > BUSY_SHARE:
            busy.append((pid, name, share))
    return sorted(busy, key=lambda b: -b[2])


def busy(interval: float = 0.5) -> list[str]:
    found = busy_processes(interval)
    if not found:
        return [f"no other process used more than {BUSY_SHARE:.0%} of a core over {interval:g} s"]
    return [f"pid {pid} {name}: {share:.0%} of a core" for pid, name, share in found[:10]] + [
        "advice: benchmark figures on a busy machine are shared with these processes; stop them or wait"]
