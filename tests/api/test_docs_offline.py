"""/docs works without internet access: the page refers only to this API's own assets, and the
API serves them (Swagger UI from the ``swagger-ui-bundle`` package, not a CDN)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    """Every URL the page makes the browser load: ``src`` and ``href`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture
def docs_page(client) -> str:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_the_docs_page_refers_only_to_local_assets(docs_page):
    parser = _References()
    parser.feed(docs_page)
    assert len(parser.urls) >= 3  # stylesheet, icon, script
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
    # Nothing else in the page (the Swagger UI settings) reaches out either: no CDN, no
    # validator badge from validator.swagger.io.
    assert "http://" not in docs_page and "https://" not in docs_page
    assert '"validatorUrl": null' in docs_page


def test_the_api_serves_every_asset_the_docs_page_loads(client, docs_page):
    parser = _References()
    parser.feed(docs_page)
    for url in parser.urls:
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert EXPECTED_TYPES[suffix] in response.headers["content-type"], url
    script = next(url for url in parser.urls if url.endswith(".js"))
    assert b"SwaggerUIBundle" in client.get(script).content  # the real Swagger UI, not a stub


def test_the_page_loads_the_schema_and_the_oauth_redirect_from_this_api(client, docs_page):
    assert "url: '/openapi.json'" in docs_page
    assert client.get("/openapi.json").status_code == 200
    assert "'/docs/oauth2-redirect'" in docs_page
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_no_page_that_needs_a_cdn_is_served(client):
    # FastAPI's ReDoc page loads ReDoc and Google Fonts from the internet.
    assert client.get("/redoc").status_code == 404
