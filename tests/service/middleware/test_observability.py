"""One structured log line per request, without pixel data."""

from __future__ import annotations

import logging
import re

from tests.service import samples

LINE = re.compile(
    r"^request method=(\w+) endpoint=(\S+) status=(\d+) latency_ms=([\d.]+) bytes_in=(\d+) images=(\d+)$"
)


def _access_lines(caplog) -> list[re.Match]:
    return [LINE.match(r.getMessage()) for r in caplog.records if r.name == "service.access"]


def test_one_line_per_request(client, caplog):
    caplog.set_level(logging.INFO, logger="service")
    image = samples.png_bytes(samples.positive_image())

    client.post(
        "/classify",
        files=[("files", ("a.png", image, "image/png")), ("files", ("b.png", image, "image/png"))],
    )
    client.get("/v2/health/live")

    lines = _access_lines(caplog)
    assert all(lines) and len(lines) == 2
    method, endpoint, status, latency, bytes_in, images = lines[0].groups()
    assert (method, endpoint, status, images) == ("POST", "/classify", "200", "2")
    assert int(bytes_in) > 2 * len(image) and float(latency) > 0
    assert lines[1].groups()[1:3] == ("/v2/health/live", "200")
    assert all(len(r.getMessage()) < 200 for r in caplog.records)  # no pixel data in the logs


def test_refused_upload_is_logged_with_its_endpoint(make_client, caplog):
    client = make_client(max_upload_bytes=1_000)
    caplog.set_level(logging.INFO, logger="service")

    client.post("/segment", files={"file": ("a.png", b"\0" * 5_000, "image/png")})

    (line,) = _access_lines(caplog)
    assert line.group(2) == "/segment" and line.group(3) == "413"
