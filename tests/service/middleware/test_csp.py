"""ContentSecurityPolicyMiddleware: the policy header on HTML answers only."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.testclient import TestClient

from service.middleware.csp import CONTENT_SECURITY_POLICY, ContentSecurityPolicyMiddleware


def _app(policy: str | None = None) -> TestClient:
    app = FastAPI()
    app.add_middleware(ContentSecurityPolicyMiddleware, **({"policy": policy} if policy else {}))
    app.get("/page", response_class=HTMLResponse)(lambda: "<p>hi</p>")
    app.get("/text", response_class=PlainTextResponse)(lambda: "hi")
    app.get("/json")(lambda: {"a": 1})
    return TestClient(app)


def test_html_gets_the_policy_other_answers_do_not():
    client = _app()

    assert client.get("/page").headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "content-security-policy" not in client.get("/text").headers
    assert "content-security-policy" not in client.get("/json").headers
    assert "content-security-policy" not in client.get("/missing").headers


def test_policy_is_configurable_and_allows_only_the_own_origin():
    assert _app("default-src 'none'").get("/page").headers["content-security-policy"] == "default-src 'none'"
    for directive in CONTENT_SECURITY_POLICY.split("; "):
        sources = directive.split()[1:]
        assert all(s in {"'self'", "'unsafe-inline'", "'none'", "data:", "blob:"} for s in sources), directive
