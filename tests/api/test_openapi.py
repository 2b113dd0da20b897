"""/docs alone must be enough to onboard a user: summaries, examples, documented errors."""

from __future__ import annotations

import pytest

from api.main import create_app

PER_USER = [
    ("post", "/rate"),
    ("get", "/recommend"),
    ("get", "/user/{user_id}/stats"),
    ("get", "/users/{user_id}/ratings"),
    ("delete", "/users/{user_id}/ratings/{movie_id}"),
    ("post", "/users/{user_id}/import"),
    ("get", "/users/{user_id}/export"),
    ("put", "/users/{user_id}/credentials"),
    ("delete", "/users/{user_id}"),
]


@pytest.fixture(scope="module")
def spec():
    return create_app().openapi()  # building the schema needs no model or database


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_the_contract_paths_are_all_there(spec):
    expected = {
        ("get", "/health"), ("post", "/users"), ("post", "/rate"),
        ("delete", "/users/{user_id}/ratings/{movie_id}"), ("get", "/users/{user_id}/ratings"),
        ("get", "/recommend"), ("get", "/user/{user_id}/stats"), ("get", "/movies"),
        ("get", "/movies/{movie_id}"), ("get", "/movies/{movie_id}/similar"), ("get", "/genres"),
        ("get", "/decades"),
        ("get", "/onboarding/movies"), ("get", "/metrics"), ("get", "/intent"),
        ("get", "/model/evaluation"),
        ("post", "/users/{user_id}/import"), ("get", "/users/{user_id}/export"),
        ("put", "/users/{user_id}/credentials"), ("post", "/sessions"),
        ("get", "/users/{user_id}/credentials"),
        ("delete", "/sessions/current"), ("delete", "/users/{user_id}"),
        ("get", "/users/{user_id}/similar/{movie_id}"), ("get", "/users/{user_id}/onboarding"),
    } | {
        (method, path)
        for name in ("hidden", "watchlist", "skipped")
        for method, path in (("put", f"/users/{{user_id}}/{name}/{{movie_id}}"),
                             ("delete", f"/users/{{user_id}}/{name}/{{movie_id}}"),
                             ("get", f"/users/{{user_id}}/{name}"))
    }  # fmt: skip
    assert {(m, p) for m, p, _ in operations(spec)} == expected


def test_every_operation_has_a_tag_a_summary_and_a_description(spec):
    for method, path, operation in operations(spec):
        assert operation.get("tags"), (method, path)
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)


def test_every_parameter_and_body_has_an_example(spec):
    schemas = spec["components"]["schemas"]
    for method, path, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            has_example = (
                "example" in parameter
                or "examples" in parameter
                or ("examples" in schema or any("examples" in s for s in schema.get("anyOf", [])))
            )
            assert has_example, (method, path, parameter["name"])
        body = operation.get("requestBody")
        if body and "application/json" in body["content"]:  # the import's body is a file
            ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            assert schemas[ref].get("examples"), (method, path)


@pytest.mark.parametrize(("method", "path"), PER_USER)
def test_per_user_routes_document_every_error_with_an_example_and_need_the_token(
    spec, method, path
):
    operation = spec["paths"][path][method]
    assert operation["security"] == [{"BearerToken": []}]
    for code in ("401", "403", "404", "422"):
        example = operation["responses"][code]["content"]["application/json"]["example"]
        assert example["detail"], (path, code)


def test_the_token_scheme_is_bearer(spec):
    scheme = spec["components"]["securitySchemes"]["BearerToken"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}


def test_the_description_walks_a_newcomer_through_onboarding(spec):
    text = spec["info"]["description"]
    for step in ("POST /users", "Authorize", "POST /rate", "GET /recommend"):
        assert step in text


def test_swagger_ui_and_the_schema_are_served(client):
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "CineMatch API"
