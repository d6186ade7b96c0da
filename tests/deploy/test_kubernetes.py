"""deploy/kubernetes/: strict schema validation of every manifest and of the rendered overlays.

Kubernetes kinds are validated with ``kubernetes-validate --strict`` (its bundled schemas of
Kubernetes ``K8S_VERSION``, no download; unknown fields fail). The KServe InferenceService is a
custom resource without a schema there: its ``spec.predictor`` pod fields are validated as a strict
PodSpec, its metadata as strict ObjectMeta, and its KServe fields against ``KSERVE_PREDICTOR``
below, written from the KServe v1beta1 API reference (ComponentExtensionSpec:
https://kserve.github.io/website/latest/reference/api/); KServe's own CRD is not vendored (its
minimal CRD accepts any spec).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from service.settings import Settings
from tests.deploy.kustomize import load_documents, render

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"
OVERLAYS = ["base", "overlays/cpu", "overlays/gpu", "overlays/models-volume"]
KSERVE_FILE = K8S / "kserve" / "inferenceservice.yaml"
PORT = 8000
POD_FIELDS_OF_PREDICTOR = {
    "containers",
    "volumes",
    "securityContext",
    "serviceAccountName",
    "nodeSelector",
    "tolerations",
    "affinity",
    "imagePullSecrets",
    "initContainers",
    "priorityClassName",
    "terminationGracePeriodSeconds",
}
#: KServe v1beta1 ComponentExtensionSpec fields this project uses or may use (types from the API reference).
KSERVE_PREDICTOR = {
    "type": "object",
    "properties": {
        "minReplicas": {"type": "integer", "minimum": 0},
        "maxReplicas": {"type": "integer", "minimum": 0},
        "scaleMetric": {"enum": ["cpu", "memory", "concurrency", "rps"]},
        "scaleTarget": {"type": "integer", "minimum": 1},
        "containerConcurrency": {"type": "integer", "minimum": 0},
        "timeout": {"type": "integer", "minimum": 0},
        "canaryTrafficPercent": {"type": "integer", "minimum": 0, "maximum": 100},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}


def _manifest_files() -> list[Path]:
    """Every Kubernetes object file (not kustomizations, JSON patches or the KServe resource)."""
    files = []
    for path in sorted(K8S.rglob("*.yaml")):
        docs = load_documents(path)
        if path.name == "kustomization.yaml" or path == KSERVE_FILE or isinstance(docs[0], list):
            continue
        files.append(path)
    return files


def _validate(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, K8S_VERSION, strict=True)


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_each_manifest_file_passes_strict_validation(path):
    for doc in load_documents(path):
        _validate(doc)


def test_strict_validation_catches_unknown_fields():
    (deployment,) = [r for r in render(K8S / "base") if r["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, dict[str, dict[str, Any]]]:
    resources = render(K8S / request.param)
    return request.param, {r["kind"]: r for r in resources}


def test_rendered_overlays_pass_strict_validation(rendered):
    _, resources = rendered
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= set(resources)
    for resource in resources.values():
        _validate(resource)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_deployment_probes_security_and_tmp(rendered):
    _, resources = rendered
    deployment = resources["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": PORT} and container["readinessProbe"]["httpGet"]["port"] == "http"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert tmp and "emptyDir" in volumes[tmp[0]["name"]]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    env = _env(container)
    assert env["MRI_EXIT_ON_LOAD_FAILURE"] == "true"
    settings = {f"MRI_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= settings, f"not settings of the service: {set(env) - settings}"


def test_service_hpa_and_pdb_point_at_the_deployment(rendered):
    _, resources = rendered
    deployment = resources["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert resources["Service"]["spec"]["selector"].items() <= labels.items()
    assert resources["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = resources["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    hpa = resources["HorizontalPodAutoscaler"]["spec"]
    assert hpa["minReplicas"] >= resources["PodDisruptionBudget"]["spec"]["minAvailable"]


def test_cpu_and_gpu_variants(rendered):
    overlay, resources = rendered
    container = _container(resources["Deployment"])
    gpu = overlay == "overlays/gpu"
    assert container["image"] == f"brain-mri-tumour:{'gpu' if gpu else 'cpu'}"  # Dockerfile targets
    limits = container["resources"]["limits"]
    if gpu:
        assert limits["nvidia.com/gpu"] == "1" and _env(container)["MRI_REQUIRE_GPU"] == "true"
        tolerations = resources["Deployment"]["spec"]["template"]["spec"]["tolerations"]
        assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)
    else:
        assert "nvidia.com/gpu" not in limits


def test_models_from_a_volume():
    resources = {r["kind"]: r for r in render(K8S / "overlays/models-volume")}
    container = _container(resources["Deployment"])
    mount = next(m for m in container["volumeMounts"] if m["name"] == "models")
    assert mount["readOnly"] is True and _env(container)["MRI_MODELS_DIR"] == mount["mountPath"]
    assert resources["PersistentVolumeClaim"]["metadata"]["name"] == "mri-models"


def test_kserve_inference_service_runs_the_image_as_a_custom_predictor():
    (isvc,) = load_documents(KSERVE_FILE)
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert set(isvc) == {"apiVersion", "kind", "metadata", "spec"} and set(isvc["spec"]) == {"predictor"}
    _validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": isvc["metadata"]})  # strict ObjectMeta
    predictor = isvc["spec"]["predictor"]
    pod_part = {k: v for k, v in predictor.items() if k in POD_FIELDS_OF_PREDICTOR}
    kserve_part = {k: v for k, v in predictor.items() if k not in POD_FIELDS_OF_PREDICTOR}
    _validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"}, "spec": pod_part})
    jsonschema.validate(kserve_part, KSERVE_PREDICTOR)
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container" and container["image"] == "brain-mri-tumour:cpu"
    assert container["ports"][0]["containerPort"] == PORT
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_kserve_schema_refuses_an_unknown_predictor_field():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"minReplica": 1}, KSERVE_PREDICTOR)
