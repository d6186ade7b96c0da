"""GET / (the page), its static files and GET /web/config; /docs and /redoc served offline."""

from __future__ import annotations

import re

import pytest

from service.routers.web import WEB_DIR
from service.settings import Settings

#: src="..." / href="..." / url(...) in HTML and CSS; fetch("...") in the page's script.
_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)|fetch\(\s*["'`]([^"'`]+)""")


def _urls(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _URL.finditer(text)]


def test_page_is_served_with_its_files(client):
    page = client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "not for diagnosis" in page.text
    for path in ("web/style.css", "web/app.js"):
        assert f'"{path}"' in page.text
        asset = client.get("/" + path)
        assert asset.status_code == 200 and asset.content == (WEB_DIR / path.split("/")[1]).read_bytes()


def test_page_files_name_no_other_origin():
    """Every URL in the page's HTML, CSS and script is relative to the service (or data:)."""
    urls = [url for f in sorted(WEB_DIR.iterdir()) for url in _urls(f.read_text())]

    assert len(urls) >= 8
    assert not any(re.search(r"https?:|//[a-z]", f.read_text()) for f in WEB_DIR.iterdir())
    for url in urls:
        assert not re.match(r"^([a-z]+:)?//", url) or url.startswith("data:"), url
        assert not url.startswith("http"), url


#: The only sources a same-origin policy may name: the service itself, inline code, data: and blob: URLs.
_SAME_ORIGIN_SOURCES = {"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}


def _directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (d.split() for d in policy.split(";") if d.strip())}


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc"])
def test_html_pages_carry_a_same_origin_policy(client, path):
    response = client.get(path)

    assert response.status_code == 200
    policy = _directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'self'"]
    for name, sources in policy.items():
        assert sources and set(sources) <= _SAME_ORIGIN_SOURCES, (name, sources)
    assert response.headers["content-security-policy"] == client.get("/").headers["content-security-policy"]


def test_json_answers_carry_no_page_policy(client):
    assert "content-security-policy" not in client.get("/v2/health/ready").headers


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_their_assets_from_the_service(client, path):
    html = client.get(path).text
    assets = [url for url in _urls(html) if not url.startswith("data:")]

    assert assets and all(url.startswith("/") for url in assets), assets
    assert "cdn.jsdelivr" not in html and "fonts.googleapis" not in html
    for url in assets:
        assert client.get(url).status_code == 200, url


def test_swagger_ui_asks_no_online_validator(client):
    assert '"validatorUrl": null' in client.get("/docs").text


def test_config_without_api_key(client):
    response = client.get("/web/config")
    defaults = Settings.model_fields

    assert response.status_code == 200
    assert response.json() == {
        "api_key_required": False,
        "api_key_header": "X-API-Key",
        "max_upload_bytes": defaults["max_upload_bytes"].default,
        "max_volume_upload_bytes": defaults["max_volume_upload_bytes"].default,
    }


def test_page_and_config_need_no_key_when_the_service_does(make_client):
    client = make_client(api_key="s3cret", max_upload_bytes=5000, max_volume_upload_bytes=70_000)

    assert client.get("/").status_code == 200
    assert client.get("/web/app.js").status_code == 200
    assert client.get("/docs").status_code == 200
    config = client.get("/web/config").json()
    assert config["api_key_required"] is True and config["api_key_header"] == "X-API-Key"
    assert (config["max_upload_bytes"], config["max_volume_upload_bytes"]) == (5000, 70_000)
    assert client.get("/v2/models").status_code == 401  # the API itself still needs the key


def test_unknown_page_file_is_404(client):
    assert client.get("/web/nothing.js").status_code == 404
    assert client.get("/web/../main.py").status_code == 404
