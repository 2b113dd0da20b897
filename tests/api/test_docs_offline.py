"""/docs works without internet access: the page refers only to this API's own assets, and
the API serves them (Swagger UI 5 from the ``fastapi-offline`` package, not a CDN).
tests/e2e/test_docs_offline.py renders it in a browser cut off from the internet.
"""

from __future__ import annotations

from html.parser import HTMLParser

EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    """Every URL the page makes the browser load: ``src`` and ``href`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    return parser.urls


def page_text(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_the_page_refers_only_to_local_assets(client):
    page = page_text(client, "/docs")
    urls = references(page)
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
    # Nothing else in the page reaches out either: no CDN, no validator badge from
    # validator.swagger.io.
    assert "http://" not in page and "https://" not in page


def test_the_api_serves_every_asset_the_page_loads(client):
    for url in references(page_text(client, "/docs")):
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert EXPECTED_TYPES[suffix] in response.headers["content-type"], url


def test_the_script_is_the_real_swagger_ui_5(client):
    swagger = client.get("/docs/assets/swagger-ui-bundle.js").content
    assert b"SwaggerUIBundle" in swagger
    # FastAPI writes OpenAPI 3.1, which Swagger UI 4 refuses ("Unable to render this
    # definition"); the bundle must be Swagger UI 5.
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert b'"5.' in swagger


def test_swagger_ui_asks_this_api_for_the_schema_and_the_oauth_redirect(client):
    page = page_text(client, "/docs")
    assert "url: '/openapi.json'" in page
    assert '"validatorUrl": null' in page
    assert "'/docs/oauth2-redirect'" in page
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_no_page_that_reaches_a_cdn_is_served(client):
    # ReDoc's standalone bundle fetches its logo from cdn.redoc.ly, so /redoc is off.
    assert client.get("/redoc").status_code == 404
