"""How many CPU cores this process may use: its CPU affinity, capped by its cgroup's CPU quota.

``os.cpu_count()`` counts the machine's cores; a container limited by ``docker run --cpus`` or a
Kubernetes CPU limit (a CFS quota) or pinned to some cores (``--cpuset-cpus``, affinity) may use
fewer. Thread pools sized to the machine then compete for the quota and get throttled. The quota
is read from cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) of the
process's own cgroup; a fractional quota is rounded down (at least 1 core).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """Cores this process may keep busy: CPU affinity, capped by the cgroup CPU quota; at least 1."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota(root, proc_cgroup)
    return max(1, min(affinity, math.floor(quota))) if quota is not None else max(1, affinity)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU quota of this process's cgroup in cores (quota / period), None when unlimited or
    unreadable (no cgroup file system, another OS). The tightest limit on the way to the root counts."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: "0::/path"
            limits += [_v2_quota(folder) for folder in _ancestors(root, path)]
        elif "cpu" in controllers.split(","):  # cgroup v1: "4:cpu,cpuacct:/path"
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                if mount.is_dir():
                    limits += [_v1_quota(folder) for folder in _ancestors(mount, path)]
                    break
    found = [q for q in limits if q is not None]
    return min(found) if found else None


def _ancestors(mount: Path, path: str) -> list[Path]:
    """The cgroup folder of ``path`` under ``mount`` and its parents up to the mount (a container
    sees its own cgroup as ``/``, i.e. the mount itself)."""
    parts = [p for p in path.strip("/").split("/") if p]
    return [mount.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period
