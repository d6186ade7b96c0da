"""service/cores.py: the cores a process may use, from its affinity and its cgroup's CPU quota."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service.cores import cgroup_cpu_quota, usable_cores


def _write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_of_the_process_cgroup_and_its_parents(tmp_path):
    proc = tmp_path / "cgroup"
    _write(proc, "0::/kubepods/pod1/container\n")
    root = tmp_path / "fs"
    _write(root / "kubepods/pod1/container/cpu.max", "max 100000\n")
    _write(root / "kubepods/pod1/cpu.max", "150000 100000\n")  # a 1.5-CPU limit on the pod
    _write(root / "cpu.max", "max 100000\n")

    assert cgroup_cpu_quota(root, proc) == 1.5
    assert usable_cores(root, proc) == 1  # a fraction of a core is not a core a thread can keep busy

    _write(root / "kubepods/pod1/cpu.max", "max 100000\n")
    assert cgroup_cpu_quota(root, proc) is None
    assert usable_cores(root, proc) == len(os.sched_getaffinity(0))


def test_cgroup_v1_quota(tmp_path):
    proc = tmp_path / "cgroup"
    _write(proc, "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    root = tmp_path / "fs"
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "400000\n")
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")

    assert cgroup_cpu_quota(root, proc) == 4.0
    assert usable_cores(root, proc) == min(4, len(os.sched_getaffinity(0)))

    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n")  # unlimited
    assert cgroup_cpu_quota(root, proc) is None


def test_no_cgroup_file_system_means_no_quota(tmp_path):
    assert cgroup_cpu_quota(tmp_path / "nothing", tmp_path / "no-proc-file") is None
    assert usable_cores(tmp_path / "nothing", tmp_path / "no-proc-file") == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_a_process_pinned_to_one_core_may_use_one():
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from service.cores import usable_cores; print(usable_cores())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
    assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))
