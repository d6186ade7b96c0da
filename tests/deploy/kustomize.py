"""A small kustomize renderer for the tests: what `kubectl kustomize DIR` prints for deploy/kubernetes/.

It supports the fields those kustomizations use (``resources`` files and folders, ``images`` with
``newName``/``newTag``, ``patches`` as JSON 6902 files with a kind/name target) and refuses any
other field, so a kustomization that outgrows it fails the tests rather than being half-rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonpatch
import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "images", "patches"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a file (empty ones dropped)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(folder: Path) -> list[dict[str, Any]]:
    """The resources of the kustomization in ``folder``, transformed as kustomize would."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise ValueError(f"{folder}: fields this renderer does not support: {sorted(unknown)}")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        resources += render(path) if path.is_dir() else load_documents(path)
    for image in kustomization.get("images", []):
        for resource in resources:
            for container in _containers(resource):
                _set_image(container, image)
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        operations = yaml.safe_load((folder / patch["path"]).read_text())
        matched = [
            r for r in resources if r["kind"] == target["kind"] and r["metadata"]["name"] == target["name"]
        ]
        if not matched:
            raise ValueError(f"{folder}: patch {patch['path']} matches no resource")
        for resource in matched:
            resources[resources.index(resource)] = jsonpatch.apply_patch(resource, operations)
    return resources


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def _set_image(container: dict[str, Any], image: dict[str, str]) -> None:
    name, _, tag = container["image"].partition(":")
    if name != image["name"]:
        return
    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}".rstrip(":")
