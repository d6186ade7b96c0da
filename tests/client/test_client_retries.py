"""Retries with exponential backoff: on 503 answers and on connection errors, not on 4xx or 500.

Deterministic: the client's ``time.sleep`` is replaced by a recorder (no real waiting, nothing
racing a back-off), and the server that "comes up late" starts listening, from inside that
recorder, on a socket bound (and kept) before the first attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from mri_client import MRIClient, MRIError
from mri_client.cli import main
from mri_client.retry import delay_s, retry_after_s, retryable

from tests.gateway.web import answering
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


def test_a_500_is_final_and_retry_after_is_honoured_above_the_cap(sleeps):
    """The one retry policy (mri_client.retry): a 500 is a defect, not retried; a 503's Retry-After is
    waited even when it is longer than max_backoff; the error says whether it is worth trying again."""
    with (
        answering(500, body={"detail": "internal server error"}) as broken,
        MRIClient(broken.url, retries=3) as client,
        pytest.raises(MRIError) as info,
    ):
        client.models()
    assert len(broken.requests) == 1 and sleeps == [] and not info.value.transient
    assert info.value.status_code == 500 and info.value.detail == "internal server error"

    with (
        answering(503, {"Retry-After": "12"}, {"detail": "busy"}) as busy,
        MRIClient(busy.url, retries=2, backoff=0.01, max_backoff=1.0) as client,
        pytest.raises(MRIError) as info,
    ):
        client.models()
    assert len(busy.requests) == 3 and len(sleeps) == 2 and all(12 <= s <= 13.2 for s in sleeps)
    assert info.value.transient and info.value.retry_after == 12


def test_retry_after_as_an_http_date_and_the_delay_rule():
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("Tue, 01 Jan 2030 12:00:30 GMT", now) == 30
    assert retry_after_s("Tue, 01 Jan 2030 11:00:00 GMT", now) == 0  # in the past: no wait
    assert retry_after_s("soon") is None and retry_after_s("") is None and retry_after_s(" 5 ") == 5
    assert [delay_s(n, 0.5, 3.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert delay_s(0, 0.5, 3.0, retry_after=10) == 10
    assert [s for s in range(400, 600) if retryable(s)] == [429, 502, 503, 504] and retryable(None)
