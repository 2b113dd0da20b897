"""``/docs`` that works offline: Swagger UI's JavaScript and CSS served by the API itself.

FastAPI's default page loads Swagger UI from a CDN (jsdelivr) and its favicon from
fastapi.tiangolo.com, so /docs was blank on a machine or network without internet access. The
``swagger-ui-bundle`` package carries Swagger UI's built files; they are mounted under
``/docs/assets`` and the page points there (FastAPI's documented self-hosting recipe). The
online validator badge (validator.swagger.io) is turned off. ReDoc, which also comes from a CDN
(and Google Fonts), is not served.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/docs"
ASSETS_URL = f"{DOCS_URL}/assets"
OAUTH2_REDIRECT_URL = f"{DOCS_URL}/oauth2-redirect"


def install_offline_docs(app: FastAPI) -> None:
    """Serve /docs and its assets from this process. ``app`` must be built with
    ``docs_url=None, redoc_url=None`` (FastAPI's own pages point at CDNs)."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
