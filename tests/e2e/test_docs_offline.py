"""/docs in a real browser cut off from the internet: Swagger UI renders every operation,
under the page's Content-Security-Policy (nothing it needs is blocked).

Chromium may reach only 127.0.0.1; every other request is refused and recorded. Before the
API served Swagger UI itself, /docs asked a CDN for it and stayed blank (and Swagger UI 4,
the first local copy tried, cannot read FastAPI's OpenAPI 3.1: "Unable to render this
definition").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.main import create_app
from bench.harness.api_server import ApiServer

pytestmark = pytest.mark.browser


def test_the_docs_render_every_operation_without_internet(
    browser: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    operations = sum(len(methods) for methods in create_app().openapi()["paths"].values())
    server = ApiServer(tiny_model_dir, tmp_path / "docs.db").start()
    context = browser.new_context()
    refused: list[str] = []

    def loopback_only(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    try:
        context.route("**/*", loopback_only)
        page = context.new_page()
        blocked: list[str] = []
        page.on(
            "console",
            lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text
            else None,
        )
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.locator(".opblock").count() == operations
        assert page.locator(".info .title").inner_text().startswith("CineMatch API")
        assert refused == []
        assert blocked == []
        # Swagger UI works under it: "Try it out" on GET /genres reaches the API.
        page.locator("#operations-movies-list_genres_genres_get .opblock-summary").click()
        page.locator("button.try-out__btn").click()
        page.locator("button.execute").click()
        answered = ".live-responses-table tbody .response-col_status"
        page.wait_for_selector(answered, timeout=30_000)
        assert "200" in page.locator(answered).first.inner_text()
        assert blocked == []
        policy = page.request.get(f"{server.url}/docs").headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
    finally:
        context.close()
        server.stop()
