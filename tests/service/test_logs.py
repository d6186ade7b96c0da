"""Request IDs (X-Request-ID taken or made, echoed, in every log line of the request) and JSON logs."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from service.logs import configure_logging, formatter
from tests.service import samples

PNG = samples.png_bytes(np.full((40, 40, 3), 200, np.uint8))


def _records_of(caplog, request_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "request_id", None) == request_id]


@contextmanager
def _json_access_lines() -> Iterator[list[dict]]:
    """The access lines logged inside the block, as a real JSON handler writes them (filled on exit)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    access = logging.getLogger("service.access")
    access.addHandler(handler)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        access.removeHandler(handler)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_a_callers_request_id_is_echoed_and_in_every_log_line_of_the_request(make_client, caplog):
    client = make_client()
    caplog.set_level(logging.DEBUG, logger="service")
    caplog.clear()
    response = client.post(
        "/classify", files={"file": ("a.png", PNG, "image/png")}, headers={"X-Request-ID": "scan-42.a"}
    )
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "scan-42.a"
    ours = _records_of(caplog, "scan-42.a")
    assert any(r.name == "service.access" for r in ours)
    service_records = [r for r in caplog.records if r.name.startswith("service")]
    assert service_records and all(r.request_id == "scan-42.a" for r in service_records)


def test_without_one_or_with_an_unsafe_one_a_new_id_is_made(client, caplog):
    for headers in ({}, {"X-Request-ID": "two words\nforged line"}):
        response = client.get("/v2/health/ready", headers=headers)
        request_id = response.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id


def test_errors_carry_the_request_id_too(client):
    response = client.post(
        "/classify",
        files={"file": ("a.txt", b"not an image", "text/plain")},
        headers={"X-Request-ID": "bad-upload-1"},
    )
    assert response.status_code == 415 and response.headers["X-Request-ID"] == "bad-upload-1"


def test_text_and_json_formats_write_the_request_id():
    configure_logging("INFO")  # installs the record factory that adds request_id
    record = logging.getLogger("service.test").makeRecord(
        "service.test", logging.INFO, __file__, 1, "hello %s", ("x",), None
    )
    assert record.request_id == "-"
    record.request_id = "r-1"
    assert formatter("text").format(record).endswith("INFO service.test [r-1] hello x")
    line = json.loads(formatter("json").format(record))
    assert line["request_id"] == "r-1" and line["message"] == "hello x" and line["level"] == "INFO"
    assert line["logger"] == "service.test"


def test_json_log_lines_of_a_request_under_a_real_handler(make_client):
    """MRI_LOG_FORMAT=json: the access line of a request is one JSON object with its request_id."""
    with _json_access_lines() as lines:
        make_client(log_format="json").get("/v2/models", headers={"X-Request-ID": "json-7"})
    assert any(line["request_id"] == "json-7" and "endpoint=/v2/models" in line["message"] for line in lines)


def test_control_characters_in_logged_values_are_escaped_so_no_line_can_be_forged():
    configure_logging("INFO")
    logger = logging.getLogger("service.test")
    record = logger.makeRecord(
        "service.test",
        logging.INFO,
        __file__,
        1,
        "upload %s",
        ("a.dcm\n2026-01-01 INFO forged\x1b[2J\u2028",),
        None,
    )
    line = formatter("text").format(record)
    assert "\n" not in line and "\x1b" not in line and "\u2028" not in line
    assert line.endswith("upload a.dcm\\n2026-01-01 INFO forged\\x1b[2J\\u2028")
    try:
        raise ValueError("bad value\n2026-01-01 INFO forged")
    except ValueError:
        import sys

        record = logger.makeRecord("service.test", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    lines = formatter("text").format(record).splitlines()
    assert all(line.startswith("    ") for line in lines[1:])  # traceback lines cannot pass for records


def test_file_names_and_dicom_identifiers_stay_out_of_info_logs(make_client, caplog):
    """A volume and a slice whose file names carry a patient's name and a line feed."""
    from tests.service import volume_samples as vs

    client = make_client()
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    name = "Doe^Jane\n2026-01-01 INFO service.access forged"
    slices, _ = vs.synthetic_volume(slices=3)
    files = vs.dicom_series(slices)
    response = client.post(
        "/volume", files=[("files", (f"{name}{i}.dcm", f, "application/dicom")) for i, f in enumerate(files)]
    )
    assert response.status_code == 200
    client.post("/classify", files={"file": (name, b"not an image", "text/plain")})
    client.post("/volume", files={"file": (name, b"\0" * 128 + b"DICM" + b"\xff" * 64, "application/dicom")})
    for record in caplog.records:
        message = record.getMessage()
        assert "\n" not in message, message
        if record.levelno >= logging.INFO:
            assert "Doe" not in message and "TEST01" not in message and "Test^Volume" not in message, message


def test_the_access_line_carries_its_values_as_structured_fields(make_client):
    with _json_access_lines() as lines:
        make_client().get("/v2/models", headers={"X-Request-ID": "fields-1"})
    line = next(x for x in lines if x.get("request_id") == "fields-1")
    assert line["endpoint"] == "/v2/models" and line["status"] == 200 and line["method"] == "GET"
    assert isinstance(line["latency_ms"], float) and line["images"] == 0
