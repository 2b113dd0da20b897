"""Every response says ``nosniff``; every response that carries a token, or answers a request
that carried one, says ``Cache-Control: no-store``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi.routing import APIRoute

import api.routes
from api.headers import no_store
from api.main import create_app


def assert_nosniff(response) -> None:
    assert response.headers.get("x-content-type-options") == "nosniff", response.request.url


def test_sign_up_carries_a_token_and_is_never_stored(client):
    response = client.post("/users")
    assert response.status_code == 201
    assert "token" in response.json()
    assert response.headers["cache-control"] == "no-store"
    assert_nosniff(response)


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/recommend?user_id={id}"),
        ("get", "/users/{id}/ratings"),
        ("get", "/user/{id}/stats"),
        ("delete", "/users/{id}/ratings/1"),  # 404: not rated
        ("get", "/user/{other}/stats"),  # 403: someone else's
    ],
)
def test_answers_to_requests_with_a_token_are_never_stored(client, new_user, method, path):
    owner, other = new_user(), new_user()
    url = path.format(id=owner.user_id, other=other.user_id)
    response = client.request(method.upper(), url, headers=owner.headers)
    assert response.status_code in (200, 403, 404), response.text
    assert response.headers["cache-control"] == "no-store"
    assert_nosniff(response)


def test_a_bad_token_is_answered_with_no_store_too(client, user):
    response = client.get(f"/user/{user.user_id}/stats", headers={"Authorization": "Bearer nope"})
    assert response.status_code in (401, 403)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/health", None),
        ("get", "/movies?query=film", None),
        ("get", "/movies/999999999", None),  # 404
        ("get", "/movies?limit=abc", None),  # 422
        ("post", "/rate", b"{not json"),  # 401 before the body is read
        ("post", "/rate", b"{" + b" " * 70_000 + b"}"),  # 413
        ("put", "/users", None),  # 405
        ("get", "/nowhere", None),  # 404 from the router
        ("get", "/docs", None),
        ("get", "/openapi.json", None),
    ],
)
def test_every_response_says_nosniff(client, method, path, body):
    response = client.request(
        method.upper(), path, content=body, headers={"Content-Type": "application/json"}
    )
    assert_nosniff(response)


def test_a_cors_preflight_says_nosniff(client):
    response = client.options(
        "/movies",
        headers={"Origin": "http://localhost:8501", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert_nosniff(response)


def test_public_catalogue_answers_are_not_marked_no_store(client):
    # no-store is for private answers; the catalogue may be cached like any public page.
    assert "cache-control" not in client.get("/genres").headers


def test_every_operation_whose_answer_has_a_token_declares_no_store():
    """A new route that hands out a token (a login, a token rotation) is covered the day it is
    added: its success schema has a ``token`` field, so it must depend on ``no_store``."""
    app = create_app()
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    issuing = set()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for code, answer in operation["responses"].items():
                ref = answer.get("content", {}).get("application/json", {}).get("schema", {})
                name = ref.get("$ref", "").rsplit("/", 1)[-1]
                if code.startswith("2") and "token" in schemas.get(name, {}).get("properties", {}):
                    issuing.add((method.upper(), path))
    assert ("POST", "/users") in issuing
    checked = set()
    for module in pkgutil.iter_modules(api.routes.__path__):
        router = importlib.import_module(f"api.routes.{module.name}").router
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for method in route.methods & {m for m, p in issuing if p == route.path}:
                calls = [dependency.call for dependency in route.dependant.dependencies]
                assert no_store in calls, (method, route.path)
                checked.add((method, route.path))
    assert checked == issuing


def test_every_answer_forbids_framing_loading_and_referrers(client, user):
    for response in (
        client.get("/health"),
        client.get(f"/user/{user.user_id}/stats", headers=user.headers),
        client.get("/no/such/path"),
        client.get("/openapi.json"),
    ):
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_the_docs_page_allows_its_own_inline_script_by_hash_and_nothing_else(client):
    import base64
    import hashlib
    import re

    response = client.get("/docs")
    assert response.status_code == 200
    policies = response.headers.get_list("content-security-policy")
    assert len(policies) == 1
    directives = dict(d.strip().split(" ", 1) for d in policies[0].split(";"))
    (script,) = re.findall(r"<script>(.*?)</script>", response.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert directives["frame-ancestors"] == "'none'" and directives["connect-src"] == "'self'"
    assert response.headers["x-frame-options"] == "DENY"
