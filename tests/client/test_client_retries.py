"""Retries with exponential backoff: on 503 answers and on connection errors, not on 4xx.

Deterministic: the client's ``time.sleep`` is replaced by a recorder (no real waiting, nothing
racing a back-off), and the server that "comes up late" starts listening, from inside that
recorder, on a socket bound (and kept) before the first attempt.
"""

from __future__ import annotations

import pytest
from mri_client import MRIClient, MRIError
from mri_client.cli import main

from tests.servers import bound_socket


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The delays the client waits, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr("mri_client.client.time.sleep", recorded.append)
    return recorded


def test_503_twice_then_success(flaky_url, service_url, lgg_slices, sleeps):
    with MRIClient(flaky_url.url, retries=3, backoff=0.05) as client:
        result = client.classify(lgg_slices[0])
    with MRIClient(service_url, retries=0) as direct:
        assert result == direct.classify(lgg_slices[0]), "the answer that got through is the service's"
    assert [path for path, _ in flaky_url.seen] == ["/classify"] * 3
    assert len(sleeps) == 2 and 0.05 <= sleeps[0] <= 0.055 and 0.1 <= sleeps[1] <= 0.11  # 0.05 * 2**n, +10%


def test_503_until_retries_are_exhausted(make_stub, service_url, lgg_slices, sleeps):
    with (
        make_stub(service_url, failures=10) as stub,
        MRIClient(stub.url, retries=2, backoff=0.01) as client,
        pytest.raises(MRIError) as info,
    ):
        client.classify(lgg_slices[0])
    assert info.value.status_code == 503
    assert len(stub.seen) == 3 and len(sleeps) == 2


def test_client_errors_are_not_retried(make_stub, service_url, tmp_path, sleeps):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00 truncated tiff")
    with (
        make_stub(service_url, failures=0) as stub,
        MRIClient(stub.url, retries=3, backoff=0.01) as client,
        pytest.raises(MRIError) as info,
    ):
        client.classify(bad)
    assert 400 <= info.value.status_code < 500
    assert len(stub.seen) == 1 and sleeps == []


def test_connection_refused_until_the_server_comes_up(make_stub, service_url, lgg_slices, monkeypatch):
    sock = bound_socket()  # bound, not listening: connections are refused, the port stays ours
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    waits: list[float] = []
    with sock, _LateServer(make_stub, service_url, sock) as late:
        monkeypatch.setattr("mri_client.client.time.sleep", lambda s: (waits.append(s), late.start()))
        with MRIClient(url, retries=6, backoff=0.1) as client:
            result = client.classify(lgg_slices[0])
    assert len(waits) == 1, "one refused attempt, then the server listened"
    assert late.server.seen == [("/classify", None)] and "tumour_probability" in result


class _LateServer:
    """Starts a stub on ``sock`` when :meth:`start` is first called; stops it on exit."""

    def __init__(self, make_stub, upstream: str, sock) -> None:
        self._cm = make_stub(upstream, failures=0, sock=sock)
        self._entered = False
        self.server = None

    def start(self) -> None:
        if not self._entered:
            self.server = self._cm.__enter__()
            self._entered = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._entered:
            self._cm.__exit__(*exc)


def test_cli_retries_and_sends_the_api_key(
    make_stub, keyed_service_url, lgg_slices, tmp_path, monkeypatch, sleeps
):
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
    assert stub.gets == ["/v2/health/ready", "/v2/models"], "one service check before the files"
    assert ",ok," in out.read_text() and len(sleeps) == 2
