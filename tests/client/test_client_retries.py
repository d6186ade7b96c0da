"""Retries with exponential backoff: on 503 answers and on connection errors, not on 4xx."""

from __future__ import annotations

import threading
import time

import pytest
from mri_client import MRIClient, MRIError
from mri_client.cli import main

from .conftest import free_port


def test_503_twice_then_success(flaky_url, lgg_slices, monkeypatch):
    sleeps = []
    original = time.sleep
    monkeypatch.setattr("mri_client.client.time.sleep", lambda s: (sleeps.append(s), original(s)))
    with MRIClient(flaky_url.url, retries=3, backoff=0.05) as client:
        result = client.classify(lgg_slices[0])
    assert 0.0 <= result["tumour_probability"] <= 1.0
    assert [path for path, _ in flaky_url.seen] == ["/classify"] * 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] >= 0.05  # exponential


def test_503_until_retries_are_exhausted(make_stub, service_url, lgg_slices):
    with (
        make_stub(service_url, failures=10) as stub,
        MRIClient(stub.url, retries=2, backoff=0.01) as client,
        pytest.raises(MRIError) as info,
    ):
        client.classify(lgg_slices[0])
    assert info.value.status_code == 503
    assert len(stub.seen) == 3


def test_client_errors_are_not_retried(make_stub, service_url, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00 truncated tiff")
    with (
        make_stub(service_url, failures=0) as stub,
        MRIClient(stub.url, retries=3, backoff=0.01) as client,
        pytest.raises(MRIError) as info,
    ):
        client.classify(bad)
    assert 400 <= info.value.status_code < 500
    assert len(stub.seen) == 1


def test_connection_refused_until_the_server_comes_up(make_stub, service_url, lgg_slices):
    port = free_port()
    started = threading.Event()
    stop = threading.Event()

    def late_server() -> None:
        time.sleep(0.6)
        with make_stub(service_url, failures=0, port=port):
            started.set()
            stop.wait(30)

    thread = threading.Thread(target=late_server, daemon=True)
    thread.start()
    try:
        with MRIClient(f"http://127.0.0.1:{port}", retries=6, backoff=0.1) as client:
            result = client.classify(lgg_slices[0])
        assert started.is_set() and "tumour_probability" in result
    finally:
        stop.set()
        thread.join(10)


def test_cli_retries_and_sends_the_api_key(make_stub, keyed_service_url, lgg_slices, tmp_path, monkeypatch):
    monkeypatch.setenv("MRI_API_KEY", "client-test-key")
    out = tmp_path / "rows.csv"
    with make_stub(keyed_service_url, failures=2) as stub:
        status = main(
            [
                "classify",
                str(lgg_slices[0]),
                "--url",
                stub.url,
                "--retries",
                "3",
                "--backoff",
                "0.01",
                "-q",
                "-o",
                str(out),
            ]
        )
    assert status == 0
    assert len(stub.seen) == 3 and {key for _, key in stub.seen} == {"client-test-key"}
    assert ",ok," in out.read_text()
