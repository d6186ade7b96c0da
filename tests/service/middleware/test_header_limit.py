"""431 for request headers over MRI_MAX_HEADER_BYTES (the app's own check, under any server); the server's
own bound while a block arrives is in tests/service/test_protocol.py."""

from __future__ import annotations


def test_headers_over_the_limit_are_431_and_the_service_stays_up(make_client):
    client = make_client(max_header_bytes=4096)
    response = client.get("/v2/health/live", headers={"X-Padding": "a" * 5000})
    assert response.status_code == 431
    assert response.json() == {
        "detail": "request headers larger than 4096 bytes; send fewer or shorter headers"
    }
    assert client.get("/v2/health/live", headers={"X-Padding": "a" * 1000}).status_code == 200


def test_the_default_limit_refuses_a_huge_header_block(client):
    response = client.get("/v2/health/live", headers={f"X-H{i}": "b" * 1000 for i in range(40)})
    assert response.status_code == 431
