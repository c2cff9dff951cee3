"""How many CPUs this process may actually use: its affinity mask, capped by a container's CPU quota.

os.cpu_count() counts the machine's CPUs; a process pinned with taskset, or a container limited to
1.5 CPUs on a 64-core host, would start far too many threads from it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus() -> int:
    """min(CPUs in this process's affinity mask, the cgroup CPU quota rounded up), at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs' worth of time this process's cgroup (or any parent) may use per period; None if unlimited."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":  # cgroup v2: cpu.max is "<quota> <period>" or "max <period>", in each ancestor
            folder = root / relative
            while True:
                cpu_max = folder / "cpu.max"
                limits.append(_ratio(cpu_max.read_text().split() if cpu_max.is_file() else []))
                if folder == root or root not in folder.parents:
                    break
                folder = folder.parent
        elif "cpu" in controllers.split(","):  # cgroup v1
            folder = root / "cpu" / relative
            for candidate in (folder, root / "cpu"):
                try:
                    quota = (candidate / "cpu.cfs_quota_us").read_text().strip()
                    period = (candidate / "cpu.cfs_period_us").read_text().strip()
                except OSError:
                    continue
                limits.append(_ratio([quota, period]))
                break
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _ratio(fields: list[str]) -> float | None:
    if len(fields) != 2 or fields[0] in ("max", "-1"):
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None
