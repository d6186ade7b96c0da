"""Write docker/requirements-*.txt from pyproject.toml, the one place the serving pins live.

``[project].dependencies`` pins every serving package exactly (``name==version``), the inference
runtimes are extras (``keras``, ``onnxruntime``, ``openvino``), pinned the same way. This script
turns them into the files the Dockerfile, CI and ``scripts/setup_env.sh`` install:

- ``requirements-common.txt``: the serving dependencies, no inference runtime;
- ``requirements-cpu.txt``: the common file plus the extras of :data:`CPU_RUNTIMES`, among which
  the service's default ``MRI_RUNTIME=auto`` picks the fastest at start-up (no TensorFlow);
- ``requirements-gpu.txt``: the common file plus Keras and ``tensorflow[and-cuda]`` at the
  ``keras`` extra's TensorFlow version (CUDA and cuDNN as pip wheels): the GPU image runs the
  ``keras`` runtime;
- ``requirements-gateway.txt``: the common file plus the ``gateway`` extra, the pins of the client
  package's dependencies (client/pyproject.toml; the gateway image installs the package with them,
  and every one of them must be pinned in the common dependencies or that extra).

    python -m scripts.requirements           # (re)write the files
    python -m scripts.requirements --check   # exit 1, naming the files, when they are out of date

To add or bump a serving dependency, edit pyproject.toml and run the first command;
tests/scripts/test_requirements.py fails while the files disagree with pyproject.toml.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DOCKER = "docker"
TENSORFLOW = {"tensorflow", "tensorflow-cpu"}
RUNTIME_EXTRAS = ("keras", "onnxruntime", "openvino")
#: The runtimes the CPU image installs: the ONNX exports' two (docs/runtimes.md).
CPU_RUNTIMES = ("onnxruntime", "openvino")
GPU_RUNTIME = "keras"
GATEWAY_EXTRA = "gateway"
CLIENT_PYPROJECT = Path("client") / "pyproject.toml"
HEADER = "# Generated from pyproject.toml by `python -m scripts.requirements`: edit pyproject.toml, not this file.\n"


def _name(requirement: str) -> str:
    """The distribution name of a requirement line (``uvicorn[standard]==1; m`` -> ``uvicorn``)."""
    head = requirement.split(";")[0]
    for stop in "[=<>!~ ":
        head = head.split(stop)[0]
    return head.strip().lower().replace("_", "-")


def _version(requirement: str) -> str:
    """The exact version of a ``name==version`` requirement; ValueError for anything else."""
    spec = requirement.split(";")[0]
    if "==" not in spec or any(op in spec for op in (">", "<", "~", "!", ",")):
        raise ValueError(
            f"pyproject.toml: serving dependency {requirement!r} must be pinned as name==version"
        )
    return spec.split("==", 1)[1].strip()


def render(
    pyproject: Path = REPO / "pyproject.toml", cpu_runtimes: tuple[str, ...] = CPU_RUNTIMES
) -> dict[str, str]:
    """``file name -> content`` of the three requirement files for the given pyproject.toml."""
    project = tomllib.loads(pyproject.read_text())["project"]
    common = project["dependencies"]
    extras = {name: project["optional-dependencies"][name] for name in (*RUNTIME_EXTRAS, GATEWAY_EXTRA)}
    for requirement in common + [r for lines in extras.values() for r in lines]:
        _version(requirement)
    client = tomllib.loads((pyproject.parent / CLIENT_PYPROJECT).read_text())["project"]["dependencies"]
    unpinned = sorted({_name(d) for d in client} - {_name(d) for d in common + extras[GATEWAY_EXTRA]})
    if unpinned:
        raise ValueError(
            f"pyproject.toml: the client package's dependencies {unpinned} need a pin in the {GATEWAY_EXTRA!r} extra"
        )
    if any(_name(d) in TENSORFLOW | {"keras"} | set(RUNTIME_EXTRAS) for d in common):
        raise ValueError("pyproject.toml: inference runtimes belong in their extras, not in dependencies")
    tensorflow = [d for d in extras[GPU_RUNTIME] if _name(d) in TENSORFLOW]
    tf_versions = {_version(d) for d in tensorflow}
    if len(tf_versions) != 1:
        raise ValueError(f"pyproject.toml: expected one TensorFlow version, got {sorted(tf_versions)}")
    keras = [d for d in extras[GPU_RUNTIME] if _name(d) not in TENSORFLOW]
    return {
        "requirements-common.txt": HEADER
        + "# Serving dependencies shared by the CPU and GPU images (no inference runtime).\n"
        + "".join(f"{d}\n" for d in common),
        "requirements-cpu.txt": HEADER
        + "# CPU image (Dockerfile target `cpu`, the default), CI and scripts/setup_env.sh:\n"
        + f"# serving deps + the runtimes {' and '.join(cpu_runtimes)}; MRI_RUNTIME=auto serves the fastest\n"
        + "# (docs/runtimes.md).\n"
        + "-r requirements-common.txt\n"
        + "".join(f"{d}\n" for runtime in cpu_runtimes for d in extras[runtime]),
        "requirements-gpu.txt": HEADER
        + "# GPU image (Dockerfile target `gpu`, MRI_RUNTIME=keras): serving deps + Keras on TensorFlow\n"
        + "# with the CUDA 12 / cuDNN 9 runtime as pip wheels (nvidia-*-cu12). The host needs only the\n"
        + "# NVIDIA driver and the NVIDIA container toolkit. Linux x86_64 only.\n-r requirements-common.txt\n"
        + "".join(f"{d}\n" for d in keras)
        + f"tensorflow[and-cuda]=={tf_versions.pop()}\n",
        "requirements-gateway.txt": HEADER
        + "# Gateway image (Dockerfile target `gateway`): serving deps + the pinned dependencies of the client\n"
        + "# package (client/), installed with it; the gateway runs no model (no inference runtime).\n"
        + "-r requirements-common.txt\n"
        + "".join(f"{d}\n" for d in extras[GATEWAY_EXTRA]),
    }


def stale(repo: Path = REPO) -> list[str]:
    """Requirement files (repo-relative) whose content differs from what pyproject.toml gives."""
    out = []
    for name, text in render(repo / "pyproject.toml").items():
        path = repo / DOCKER / name
        if not path.is_file() or path.read_text() != text:
            out.append(f"{DOCKER}/{name}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files (exit 1)")
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        for path in out_of_date:
            sys.stderr.write(f"{path} is out of date: run python -m scripts.requirements\n")
        return 1 if out_of_date else 0
    for name, text in render().items():
        (REPO / DOCKER / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
