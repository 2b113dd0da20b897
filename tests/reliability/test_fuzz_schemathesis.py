"""Fuzz every operation of the OpenAPI schema with schemathesis against the real server.

The server is ``python -m api.server`` in its own process (tiny model, fresh SQLite file), so
what is checked is what a client meets on the wire. Every generated request, valid or not,
must get a response that

* is not a server error (no status ≥ 500);
* has a status code, content type, headers and body the schema documents for it;
* rejects schema-invalid input with a 4xx (``negative_data_rejection``; a 413 for a body
  over the size cap counts as a rejection);
* is refused without, or with a bogus, bearer token on the per-user routes.

One answer is outside the schema by nature: a request that uvicorn's h11 parser refuses (a
head still incomplete at 16 kB, e.g. 1,000 long ``exclude`` values arriving in pieces) gets
uvicorn's plain-text 400 before the app sees it. It is allowed, and counted in the summary.

schemathesis's ``positive_data_acceptance`` is not run: the schema cannot say which genres
and movie ids exist or that a film appears once per batch, so a schema-valid request can be
rightly refused (404 unknown film, 422 unknown genre or duplicate). Those refusals are still
checked for a documented status and shape.

Generated ids rarely name the fuzzing user or a film of the catalogue, so valid ids are
steered: odd user ids become the fuzzing user's (even ones stay strangers: 403/404), and
valid movie ids are mapped onto the catalogue. The per-user write limit is lifted for the
run (fuzzing writes hundreds of times a second as one user); tests/reliability/test_security.py
covers the limit itself.

``CINEMATCH_FUZZ_EXAMPLES`` sets the examples per operation (default 40; docs/reliability.md
used 300). The run is derandomised, so ``make test`` sees the same cases every time.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.schemas import MAX_ID
from bench.harness.api_server import ApiServer, Request, call_json
from tests.api.conftest import ACTION, COMEDY, ROMANCE

EXAMPLES = int(os.environ.get("CINEMATCH_FUZZ_EXAMPLES", "40"))
CATALOGUE = [*ACTION, *ROMANCE, *COMEDY]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
    missing_required_header,
]

# Building the schema needs neither a model nor a database.
schema = schemathesis.openapi.from_dict(create_app().openapi())

#: Filled by the ``fuzz_server`` fixture before any case is sent.
_SESSION: dict[str, Any] = {}
#: (operation, status) -> responses seen, printed at the end of the run.
_SEEN: Counter[tuple[str, int]] = Counter()


#: What generated cases carry until they are sent (schemathesis applies auth while it
#: collects cases, before the server exists); ``steer`` swaps in the real token.
PLACEHOLDER_TOKEN = "fuzz-user-token"


@schema.auth()
class FuzzUserToken:
    """Every case carries the fuzzing user's token; the auth checks strip or spoil it."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return PLACEHOLDER_TOKEN

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def fuzz_server(tiny_model_dir, tmp_path_factory) -> Iterator[ApiServer]:
    database = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    server = ApiServer(
        tiny_model_dir, database, env={"CINEMATCH_WRITE_LIMIT_PER_MINUTE": "0"}
    ).start()
    created = call_json(server.port, Request("POST", "/users"), expect=201)
    _SESSION.update(user_id=created["user_id"], token=created["token"])
    yield server
    server.stop()
    _print_summary()


def _is_valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _user_id(value: object) -> object:
    return _SESSION["user_id"] if _is_valid_id(value) and value % 2 == 1 else value


def _movie_id(value: object) -> object:
    return CATALOGUE[value % len(CATALOGUE)] if _is_valid_id(value) else value


def steer(case: schemathesis.Case) -> None:
    """Point valid ids at the fuzzing user and the catalogue (invalid ones stay invalid)."""
    headers = case.headers or {}
    if headers.get("Authorization") == f"Bearer {PLACEHOLDER_TOKEN}":
        headers["Authorization"] = f"Bearer {_SESSION['token']}"
    path = case.path_parameters or {}
    if "user_id" in path:
        path["user_id"] = _user_id(path["user_id"])
    if "movie_id" in path:
        path["movie_id"] = _movie_id(path["movie_id"])
    if isinstance(case.query, dict) and "user_id" in case.query:
        case.query["user_id"] = _user_id(case.query["user_id"])
    body = case.body
    if isinstance(body, dict):
        if "user_id" in body:
            body["user_id"] = _user_id(body["user_id"])
        ratings = body.get("ratings")
        if isinstance(ratings, list):
            for rating in ratings:
                if isinstance(rating, dict) and "movie_id" in rating:
                    rating["movie_id"] = _movie_id(rating["movie_id"])


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_schema_and_never_5xx(
    case: schemathesis.Case, fuzz_server: ApiServer
) -> None:
    steer(case)
    response = case.call(base_url=fuzz_server.url, timeout=10)
    _SEEN[(f"{case.method.upper()} {case.path}", response.status_code)] += 1
    if refused_by_the_http_server(response):
        return
    checks = CHECKS
    if response.status_code == 413:
        # A body over the size cap is refused before validation: a rejection, documented as
        # 413, which schemathesis's negative-data check does not list among rejections.
        checks = [check for check in CHECKS if check is not negative_data_rejection]
    case.validate_response(
        response, checks=checks, transport_kwargs={"base_url": fuzz_server.url, "timeout": 10}
    )


def refused_by_the_http_server(response: schemathesis.Response) -> bool:
    """uvicorn's 400 for a request its h11 parser refuses (a head still incomplete at 16 kB,
    or a malformed request line): before the app sees the request, so outside the schema.
    Still a 4xx, and counted in the summary."""
    return response.status_code == 400 and b"Invalid HTTP request received." in response.content


def test_every_operation_with_input_documents_the_422_it_can_answer() -> None:
    """FastAPI's default 422 schema (a list) is not what the API sends (a sentence)."""
    spec = create_app().openapi()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if operation.get("parameters") or operation.get("requestBody"):
                documented = operation["responses"].get("422", {})
                schema_ref = documented["content"]["application/json"]["schema"]["$ref"]
                assert schema_ref.endswith("/ValidationErrorOut"), (method, path)


def _print_summary() -> None:
    """Statuses per documented operation, then the undocumented-method probes (405)."""
    documented = {
        f"{method.upper()} {path}"
        for path, methods in schema.raw_schema["paths"].items()
        for method in methods
    }
    by_operation: dict[str, Counter[int]] = {}
    for (operation, status), count in _SEEN.items():
        by_operation.setdefault(operation, Counter())[status] += count
    total = sum(_SEEN.values())
    server_errors = sum(count for (_, status), count in _SEEN.items() if status >= 500)
    probes = {op: c for op, c in by_operation.items() if op not in documented}
    print(
        f"\nschemathesis: {total} requests, {EXAMPLES} examples per operation, "
        f"{server_errors} responses >= 500"
    )
    for operation in sorted(documented):
        statuses = by_operation.get(operation, Counter())
        listed = ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
        print(f"  {operation:<42} {listed}")
    probe_statuses = sum(probes.values(), Counter())
    listed = ", ".join(f"{s}×{n}" for s, n in sorted(probe_statuses.items()))
    print(f"  {'undocumented methods (' + str(len(probes)) + ' probes)':<42} {listed}")
