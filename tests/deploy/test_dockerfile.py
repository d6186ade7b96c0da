"""Static checks of the Dockerfile, its requirement files and .dockerignore (no engine needed)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from contract import read_card
from contract.exports import export_entry
from contract.layout import layout_files
from service.protocol import UVICORN_HTTP
from tests.project import REPO, pinned_version, serving_pins

TARGETS = ("cpu", "gpu")
READY_PATH = "/v2/health/ready"


def test_multi_stage_with_cpu_and_gpu_targets(dockerfile):
    names = [s.name for s in dockerfile.stages]
    assert len(dockerfile.stages) >= 3, "expected build stages plus runtime stages"
    assert set(TARGETS) <= set(names)
    assert names[-1] == "cpu", "the default (last) stage should be the CPU image"
    stage_names = set(names)
    for stage in dockerfile.stages:
        assert stage.base in stage_names or stage.base == "python:3.11-slim", stage.base


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_invariants(dockerfile, target):
    user = dockerfile.effective(target, "USER")
    assert user is not None, "the image must not run as root"
    uid = user.value.split(":")[0]
    uid = re.sub(r"\$\{?(\w+)\}?", lambda m: _arg_default(dockerfile, target, m.group(1)), uid)
    assert uid not in {"root", "0", ""}

    expose = dockerfile.effective(target, "EXPOSE")
    assert expose is not None and expose.value.split("/")[0] == "8000"

    health = dockerfile.effective(target, "HEALTHCHECK")
    assert health is not None and health.exec_form, "HEALTHCHECK CMD in exec form"
    assert health.exec_form[:2] == ["python", "-c"], "slim images have no curl: use python"
    assert f"127.0.0.1:8000{READY_PATH}" in health.exec_form[2]
    assert "urllib" in health.exec_form[2]

    cmd = dockerfile.effective(target, "CMD")
    assert cmd.exec_form == [
        "uvicorn",
        "service.main:app",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--no-access-log",
        "--http",
        UVICORN_HTTP,
    ]

    env = dockerfile.env(target)
    copies = [i.value.split() for i in dockerfile.chain(target)[-1].all("COPY")]
    workdir = dockerfile.effective(target, "WORKDIR").value
    baked = {str(Path(workdir, dst.rstrip("/"))) for *_, src, dst in copies if src == "models/"}
    assert env["MRI_MODELS_DIR"] in baked, "MRI_MODELS_DIR must point at the baked-in models"
    for src in ("contract/", "imaging/", "service/", "models/"):
        assert any(c[-2] == src for c in copies), f"{target} does not copy {src}"


def _arg_default(dockerfile, target: str, name: str) -> str:
    for stage in dockerfile.chain(target):
        for ins in stage.all("ARG"):
            key, _, default = ins.value.partition("=")
            if key == name:
                return default
    return dockerfile.args.get(name, "")


def test_targets_install_their_requirement_files(requirement_files, image_requirements):
    assert requirement_files("cpu") == ["docker/requirements-cpu.txt"]
    assert requirement_files("gpu") == ["docker/requirements-gpu.txt"]
    gpu = image_requirements("gpu")
    cpu = image_requirements("cpu")
    tensorflow = pinned_version("tensorflow-cpu")  # pyproject.toml's pin, whatever it is
    assert f"tensorflow[and-cuda]=={tensorflow}" in gpu and any(r.startswith("keras==") for r in gpu)
    assert not any(r.startswith("tensorflow-cpu") for r in gpu), "tensorflow-cpu would shadow CUDA"
    # the CPU image serves the ONNX exports: ONNX Runtime and OpenVINO (auto picks), no TensorFlow, no Keras
    assert any(r.startswith("onnxruntime==") for r in cpu) and any(r.startswith("openvino==") for r in cpu)
    assert not any(r.startswith(("tensorflow", "keras")) for r in cpu)


def test_requirements_agree_with_pyproject(image_requirements):
    """The image pins must satisfy the project's declared dependencies (same keras/TF)."""
    from packaging.requirements import Requirement

    pins = {}
    for line in image_requirements("cpu"):
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate():
            pins[req.name.lower()] = next(iter(req.specifier)).version
    for name, req in serving_pins().items():
        if req.marker is not None and not req.marker.evaluate():
            continue
        assert name in pins, f"{name} (pyproject) missing from docker/requirements-*.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {req}"


def test_copy_sources_exist_and_are_not_dockerignored(dockerfile):
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]

    def ignored(rel: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            parts = Path(rel).parts
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            if any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", "")) for p in prefixes):
                result = not negate
        return result

    sources = []
    for stage in dockerfile.stages:
        for ins in stage.all("COPY"):
            if "--from=" not in ins.value:
                sources += ins.value.split()[:-1]
    assert "models/" in sources
    for src in sources:
        probe = src.rstrip("/") + (
            "/__init__.py" if src in {"contract/", "imaging/", "service/", "gateway/"} else ""
        )
        assert not ignored(probe), f".dockerignore excludes {probe}"
        assert src == "models/" or (REPO / src).exists(), f"COPY source {src} missing"
    for heavy in (".venv/bin/python", ".git/config", "tests/deploy/conftest.py", "runs/x"):
        assert ignored(heavy), f".dockerignore should exclude {heavy}"
    card = read_card(REPO / "models")
    files = [
        f for keras_file in layout_files(card) for f in (keras_file, export_entry(card, keras_file)["file"])
    ]
    missing = [f for f in files if not (REPO / "models" / f).is_file()]
    assert not missing, f"models/ lacks {missing}: the image bakes the bundled models in"


@pytest.mark.parametrize("target", TARGETS)
def test_gpu_visibility_and_tensorflow_logs_are_left_to_the_runtime(dockerfile, target):
    env = dockerfile.env(target)
    assert "NVIDIA_VISIBLE_DEVICES" not in env, "the runtime (--gpus, device plugin) decides which GPUs"
    assert "TF_CPP_MIN_LOG_LEVEL" not in env, "TensorFlow's device lines must stay visible"
    assert env["MRI_EXIT_ON_LOAD_FAILURE"] == "true", "models that cannot load must end the container"
    assert env.get("MRI_REQUIRE_GPU", "false") == ("true" if target == "gpu" else "false")
    # the GPU image runs Keras on TensorFlow with CUDA; the CPU image the default runtime (settings)
    assert env.get("MRI_RUNTIME") == ("keras" if target == "gpu" else None)


FIRST_PARTY = {"contract", "imaging", "service", "training", "gateway", "scripts", "tests"}


def _imported_packages(package: Path) -> set[str]:
    """The first-party top-level packages that the modules of ``package`` import (at any depth)."""
    import ast

    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found & FIRST_PARTY


@pytest.mark.parametrize("target", [*TARGETS, "gateway"])
def test_each_image_copies_every_package_its_code_imports(dockerfile, target):
    """A package the copied code imports (e.g. the gateway's ``imaging``) must be in the image."""
    copied = {
        src.rstrip("/")
        for stage in dockerfile.chain(target)
        for ins in stage.all("COPY")
        if "--from=" not in ins.value
        for src in ins.value.split()[:-1]
    }
    packages = copied & FIRST_PARTY
    assert packages, f"{target} copies no package"
    needed = set().union(*(_imported_packages(REPO / name) for name in packages))
    assert needed <= packages, f"{target} imports {sorted(needed - packages)} without copying them"
