"""GET /metrics: Prometheus text with request counts, latency, errors and inference batches."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from contract.spec import JOINT_FILE
from tests.service import samples


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_errors_images_and_batches(make_client):
    client = make_client()  # a fresh app: its own registry, counts start at zero
    image = samples.png_bytes(samples.positive_image())
    client.post(
        "/classify",
        files=[("files", ("a.png", image, "image/png")), ("files", ("b.png", image, "image/png"))],
    )
    client.post("/classify", files={"file": ("x.txt", b"nope", "text/plain")})
    client.get("/nowhere")

    response = client.get("/metrics")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = _samples(response.text)
    ok = (("endpoint", "/classify"), ("method", "POST"), ("status", "200"))
    assert values[("mri_http_requests_total", ok)] == 1
    assert values[("mri_http_errors_total", (("endpoint", "/classify"), ("status", "415")))] == 1
    assert values[("mri_http_errors_total", (("endpoint", "unmatched"), ("status", "404")))] == 1
    assert values[("mri_http_request_duration_seconds_count", (("endpoint", "/classify"),))] == 2
    assert values[("mri_images_total", (("endpoint", "/classify"),))] == 3
    model = (("model", Path(JOINT_FILE).stem),)  # the model file's label
    assert values[("mri_inference_batch_size_sum", model)] == 2  # warm-up not counted
    assert values[("mri_inference_duration_seconds_count", model)] == 1
    assert values[("mri_models_ready", ())] == 1


def test_two_apps_do_not_share_metrics(make_client):
    first, second = make_client(), make_client()
    first.get("/v2/health/live")

    assert "/v2/health/live" in first.get("/metrics").text
    assert "/v2/health/live" not in second.get("/metrics").text


def test_static_files_are_counted_under_their_mount(make_client):
    client = make_client()
    assert client.get("/web/app.js").status_code == 200
    assert client.get("/web/nothing.js").status_code == 404

    values = _samples(client.get("/metrics").text)

    ok = (("endpoint", "/web"), ("method", "GET"), ("status", "200"))
    assert values[("mri_http_requests_total", ok)] == 1
    assert values[("mri_http_errors_total", (("endpoint", "/web"), ("status", "404")))] == 1
    assert ("mri_http_errors_total", (("endpoint", "unmatched"), ("status", "404"))) not in values
