"""No one let in: tokens, ownership on every per-user route, CORS, body and write limits,
no secrets in the repository, the responses or the logs.

Nobody may write anyone else's ratings, and CORS never allows ``*`` with credentials.
The protected routes are not listed by hand here: they are read from the OpenAPI
schema (every operation that takes a ``user_id``), so a new per-user route is covered, or
fails these tests, the day it is added.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import auth
from api.limits import RateLimiter
from api.main import create_app
from api.schemas import MAX_RATINGS_PER_REQUEST
from api.settings import Settings
from bench.harness.api_server import HOST, Request, call, call_json
from db.migrate import upgrade
from db.models import RateLimit
from db.session import create_db_engine, create_session_factory, write_transaction
from tests.api.conftest import User

REPO = Path(__file__).resolve().parents[2]
SPEC = create_app().openapi()


def per_user_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation that acts for one user (takes a ``user_id``)."""
    found = []
    for path, methods in SPEC["paths"].items():
        for method, operation in methods.items():
            names = {p["name"] for p in operation.get("parameters", [])}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            fields = (
                SPEC["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"] if ref else {}
            )
            if "user_id" in names or "user_id" in fields:
                found.append((method.upper(), path))
    return sorted(found)


PER_USER = per_user_operations()


def request_for(method: str, path: str, user_id: int) -> dict:
    """A well-formed request to ``path`` acting for ``user_id`` (film 1 where one is needed)."""
    url = path.replace("{user_id}", str(user_id)).replace("{movie_id}", "1")
    operation = SPEC["paths"][path][method.lower()]
    if any(p["name"] == "user_id" and p["in"] == "query" for p in operation.get("parameters", [])):
        url += f"?user_id={user_id}"
    body, files = None, None
    if path.endswith("/import"):
        files = {"file": ("r.csv", b"userId,movieId,rating,timestamp\n1,1,4.5,1\n", "text/csv")}
    elif path.endswith("/credentials") and method == "PUT":
        body = {"username": f"user{user_id}", "password": "a long passphrase"}
    elif "requestBody" in operation:
        body = {"user_id": user_id, "ratings": [{"movie_id": 1, "rating": 4.5}]}
    return {"method": method, "url": url, "json": body, "files": files}


def test_the_schema_lists_the_per_user_routes_we_expect_and_all_need_a_token():
    assert PER_USER == [
        ("DELETE", "/users/{user_id}"),
        ("DELETE", "/users/{user_id}/hidden/{movie_id}"),
        ("DELETE", "/users/{user_id}/ratings/{movie_id}"),
        ("DELETE", "/users/{user_id}/skipped/{movie_id}"),
        ("DELETE", "/users/{user_id}/watchlist/{movie_id}"),
        ("GET", "/recommend"),
        ("GET", "/user/{user_id}/stats"),
        ("GET", "/users/{user_id}/credentials"),
        ("GET", "/users/{user_id}/export"),
        ("GET", "/users/{user_id}/hidden"),
        ("GET", "/users/{user_id}/onboarding"),
        ("GET", "/users/{user_id}/ratings"),
        ("GET", "/users/{user_id}/similar/{movie_id}"),
        ("GET", "/users/{user_id}/skipped"),
        ("GET", "/users/{user_id}/watchlist"),
        ("POST", "/rate"),
        ("POST", "/users/{user_id}/import"),
        ("PUT", "/users/{user_id}/credentials"),
        ("PUT", "/users/{user_id}/hidden/{movie_id}"),
        ("PUT", "/users/{user_id}/skipped/{movie_id}"),
        ("PUT", "/users/{user_id}/watchlist/{movie_id}"),
    ]
    for method, path in PER_USER:
        assert SPEC["paths"][path][method.lower()]["security"] == [{"BearerToken": []}]


@pytest.mark.parametrize(("method", "path"), PER_USER)
def test_another_users_token_is_403_and_changes_nothing(client, new_user, rate, method, path):
    owner, intruder = new_user(), new_user()
    rate(owner, {1: 3.0, 2: 2.0})
    before = client.get(f"/users/{owner.user_id}/ratings", headers=owner.headers).json()
    response = client.request(**request_for(method, path, owner.user_id), headers=intruder.headers)
    assert response.status_code == 403, response.text
    assert response.json() == {"detail": f"this token does not belong to user {owner.user_id}"}
    after = client.get(f"/users/{owner.user_id}/ratings", headers=owner.headers).json()
    assert after == before


@pytest.mark.parametrize(("method", "path"), PER_USER)
@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Basic b3duZXI6cGFzcw==", "Token abc"]
)
def test_no_token_or_a_malformed_one_is_401(client, user, method, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.request(**request_for(method, path, user.user_id), headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), PER_USER)
def test_the_owners_token_is_accepted(client, user, rate, method, path):
    rate(user, {1: 3.0})  # so that DELETE has a rating to take back
    response = client.request(**request_for(method, path, user.user_id), headers=user.headers)
    assert response.status_code in (200, 204), response.text


def test_tokens_are_looked_up_by_their_hash_only(app, client, user, monkeypatch):
    """The token check asks the database for the SHA-256 of what was presented (a unique
    index), never for the token: no stored secret is compared in Python, and learning when a
    lookup fails tells nothing about a token whose hash nobody can invert."""
    asked: list[str] = []
    real = auth.hash_token

    def spy(token: str) -> str:
        digest = real(token)
        asked.append(digest)
        return digest

    monkeypatch.setattr(auth, "hash_token", spy)
    assert client.get(f"/user/{user.user_id}/stats", headers=user.headers).status_code == 200
    wrong = client.get(f"/user/{user.user_id}/stats", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    expected = hashlib.sha256(user.token.encode()).hexdigest()
    assert asked == [expected, hashlib.sha256(b"wrong").hexdigest()]


def test_tokens_are_stored_only_as_hashes_on_disk(api_server, tmp_path):
    """The raw SQLite file (and its WAL) never holds a token, only its SHA-256."""
    database = tmp_path / "tokens.db"
    server = api_server(database=database)
    tokens = []
    for _ in range(5):
        created = call_json(server.port, Request("POST", "/users"), expect=201)
        tokens.append(created["token"])
        body = json.dumps(
            {"user_id": created["user_id"], "ratings": [{"movie_id": 1, "rating": 4}]}
        )
        assert (
            call(server.port, Request("POST", "/rate", body.encode(), created["token"]))[0] == 200
        )
    server.stop()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("tokens.db*") if p.suffix != ".log")
    for token in tokens:
        assert token.encode() not in raw
        assert hashlib.sha256(token.encode()).hexdigest().encode() in raw


# -- CORS -----------------------------------------------------------------------------------


def test_a_preflight_from_a_disallowed_origin_is_refused(client):
    response = client.options(
        "/rate",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


def test_only_the_configured_origin_is_allowed_and_never_with_credentials(client):
    preflight = client.options(
        "/rate",
        headers={
            "Origin": "http://localhost:8501",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8501"
    assert "access-control-allow-credentials" not in preflight.headers
    for origin in ("https://evil.example", "http://localhost:8502", "null"):
        simple = client.get("/genres", headers={"Origin": origin})
        assert "access-control-allow-origin" not in simple.headers, origin


def test_a_wildcard_origin_cannot_be_configured(monkeypatch):
    monkeypatch.setenv("CINEMATCH_CORS_ORIGINS", "http://localhost:8501,*")
    with pytest.raises(ValueError, match="explicitly"):
        Settings()


# -- body size ------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_even_when_streamed_without_a_length(api_server, tmp_path):
    server = api_server(env={"CINEMATCH_MAX_BODY_BYTES": "4096"})
    created = call_json(server.port, Request("POST", "/users"), expect=201)
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        chunks = (b'{"user_id": 1, "ratings": [' + b" " * 1000 for _ in range(10))
        conn.request(
            "POST",
            "/rate",
            body=chunks,
            encode_chunked=True,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {created['token']}",
                "Transfer-Encoding": "chunked",
            },
        )
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {
            "detail": "Request body too large: the limit is 4096 bytes."
        }
    finally:
        conn.close()
    declared = call(server.port, Request("POST", "/rate", b"{" + b" " * 5000 + b"}"))
    assert declared[0] == 413


def test_the_largest_legitimate_batch_fits_well_under_the_default_limit(client, user):
    ratings = [
        {"movie_id": m, "rating": 4.5} for m in range(10**8, 10**8 + MAX_RATINGS_PER_REQUEST)
    ]
    body = json.dumps({"user_id": user.user_id, "ratings": ratings}, indent=2)
    assert len(body) * 2 < Settings().max_body_bytes
    response = client.post(
        "/rate", content=body, headers={**user.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 404  # read and validated: the films are unknown


# -- write rate limit ---------------------------------------------------------------------------


@pytest.fixture
def limited(settings) -> Callable[..., TestClient]:
    def build(per_minute: float, burst: int) -> TestClient:
        limited_settings = settings.model_copy(
            update={"write_limit_per_minute": per_minute, "write_limit_burst": burst}
        )
        return TestClient(create_app(limited_settings))

    return build


def signup(client: TestClient) -> User:
    created = client.post("/users").json()
    return User(created["user_id"], created["token"])


def rate_once(client: TestClient, who: User, movie_id: int = 1, value: float = 4.0):
    body = {"user_id": who.user_id, "ratings": [{"movie_id": movie_id, "rating": value}]}
    return client.post("/rate", json=body, headers=who.headers)


def test_writes_past_the_burst_are_429_with_retry_after_for_that_user_only(limited):
    with limited(per_minute=60, burst=3) as client:
        hasty, other, intruder = signup(client), signup(client), signup(client)
        for value in (1.0, 2.0, 3.0):
            assert rate_once(client, hasty, value=value).status_code == 200
        refused = rate_once(client, hasty, value=5.0)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "Retry in" in refused.json()["detail"]
        deleted = client.delete(f"/users/{hasty.user_id}/ratings/1", headers=hasty.headers)
        assert deleted.status_code == 429  # deletes count as writes
        # The refused write wrote nothing; reads and other users are untouched.
        listed = client.get(f"/users/{hasty.user_id}/ratings", headers=hasty.headers).json()
        assert [r["rating"] for r in listed["ratings"]] == [3.0]
        assert (
            client.get(f"/recommend?user_id={hasty.user_id}", headers=hasty.headers).status_code
            == 200
        )
        assert rate_once(client, other).status_code == 200
        # Someone without the token cannot spend another user's allowance.
        for _ in range(5):
            assert rate_once(client, User(other.user_id, intruder.token)).status_code == 403
        assert rate_once(client, other, value=2.0).status_code == 200


def test_a_batch_refused_for_unknown_films_costs_no_allowance(limited):
    with limited(per_minute=60, burst=2) as client:
        who = signup(client)
        assert rate_once(client, who).status_code == 200
        for _ in range(3):  # 404s write nothing, so they spend nothing
            assert rate_once(client, who, movie_id=999_999).status_code == 404
        assert rate_once(client, who, value=2.0).status_code == 200


def test_the_allowance_refills_with_time(limited):
    with limited(per_minute=120, burst=1) as client:  # one write every 0.5 s
        who = signup(client)
        assert rate_once(client, who).status_code == 200
        assert rate_once(client, who).status_code == 429
        time.sleep(0.6)
        assert rate_once(client, who).status_code == 200


@pytest.fixture
def limiter_sessions(database_url) -> Iterator[Callable[[], Session]]:
    engine = create_db_engine(database_url)
    upgrade(engine)
    yield create_session_factory(engine)
    engine.dispose()


def spend(sessions, limiter: RateLimiter, subject: object) -> float:
    with sessions() as session, write_transaction(session):
        return limiter.wait(session, subject)


def test_a_person_is_never_limited_but_a_script_is_within_seconds(limiter_sessions):
    """Default limit: a film every second for ten minutes passes; ten a second does not."""
    now = [1e9]
    defaults = Settings()
    limiter = RateLimiter(
        "write", defaults.write_limit_per_minute, defaults.write_limit_burst,
        clock=lambda: now[0],
    )  # fmt: skip
    for _ in range(600):
        assert spend(limiter_sessions, limiter, "person") == 0.0
        now[0] += 1.0
    refused_after = None
    for k in range(100):
        if spend(limiter_sessions, limiter, "script") > 0:
            refused_after = k * 0.1
            break
        now[0] += 0.1
    assert refused_after is not None and refused_after < 5


def test_idle_subjects_rows_are_pruned(limiter_sessions):
    now = [1e9]
    limiter = RateLimiter("write", 60, 1, clock=lambda: now[0], prune_every=102)
    for user_id in range(100):
        assert spend(limiter_sessions, limiter, user_id) == 0.0
    assert spend(limiter_sessions, limiter, 0) > 0  # the state is kept meanwhile
    now[0] += 120  # every allowance is full again: the rows mean nothing now
    spend(limiter_sessions, limiter, "someone")  # the 102nd call prunes
    with limiter_sessions() as session:
        assert session.scalar(select(func.count()).select_from(RateLimit)) <= 1


# -- secrets ------------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "JWT (e.g. a TMDB read token)": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."),
    "32-hex API key assigned": re.compile(
        r"(?i)(api_?key|secret|password)\s*[:=]\s*[\"']?[0-9a-f]{32}\b"
    ),
    "GitHub/Slack token": re.compile(r"\b(ghp_[A-Za-z0-9]{30,}|xox[bap]-[A-Za-z0-9-]{20,})"),
}


def test_no_secret_is_committed():
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [f for f in listed.split("\0") if f]
    assert ".streamlit/secrets.toml" not in files
    hits = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        hits += [
            f"{name}: {kind}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)
        ]
    assert hits == []


def test_a_token_appears_in_no_response_but_the_sign_up(client, new_user, rate):
    owner, other = new_user(), new_user()
    rate(owner, {1: 4.0, 2: 5.0})
    responses = [
        client.get(f"/users/{owner.user_id}/ratings", headers=owner.headers),
        client.get(f"/recommend?user_id={owner.user_id}", headers=owner.headers),
        client.get(f"/user/{owner.user_id}/stats", headers=owner.headers),
        client.delete(f"/users/{owner.user_id}/ratings/1", headers=owner.headers),
        client.get(f"/user/{owner.user_id}/stats", headers=other.headers),  # 403
        client.get(
            f"/user/{owner.user_id}/stats", headers={"Authorization": f"Token {owner.token}"}
        ),
        client.post(
            "/rate", json={"user_id": owner.user_id, "ratings": owner.token}, headers=owner.headers
        ),
        client.get("/health"),
        client.get("/metrics"),
    ]
    for response in responses:
        text = response.text + json.dumps(dict(response.headers))
        assert owner.token not in text, (response.request.url, response.status_code)
        assert hashlib.sha256(owner.token.encode()).hexdigest() not in text


def test_database_errors_never_carry_bound_parameters(app, client):
    assert app.state.services.engine.hide_parameters is True


# -- logs -----------------------------------------------------------------------------------------


def test_logs_are_json_lines_with_request_ids_and_never_a_token(api_server):
    """An authenticated session against the real server, with its access log at INFO."""
    server = api_server(access_log=True, log_level="info")
    owner = call_json(server.port, Request("POST", "/users"), expect=201)
    other = call_json(server.port, Request("POST", "/users"), expect=201)
    uid, token = owner["user_id"], owner["token"]
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    request_ids = []

    def send(method: str, path: str, body: object = None, authorization: str | None = None):
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
        request_ids.append(response.getheader("X-Request-ID"))
        return response.status

    bearer = f"Bearer {token}"
    ratings = {
        "user_id": uid,
        "ratings": [{"movie_id": 1, "rating": 4.5}, {"movie_id": 2, "rating": 3}],
    }
    assert send("POST", "/rate", ratings, bearer) == 200
    assert send("GET", f"/recommend?user_id={uid}", None, bearer) == 200
    assert send("GET", f"/users/{uid}/ratings", None, bearer) == 200
    assert send("GET", f"/user/{uid}/stats", None, bearer) == 200
    assert send("DELETE", f"/users/{uid}/ratings/1", None, bearer) == 200
    assert send("GET", f"/user/{uid}/stats", None, f"Bearer {other['token']}") == 403
    assert send("GET", f"/user/{uid}/stats", None, f"Token {token}") == 401
    assert send("POST", "/rate", {"user_id": uid, "ratings": token}, bearer) == 422
    assert send("GET", f"/recommend?user_id={uid}&token={token}", None, bearer) == 200
    conn.close()
    server.stop()

    log = server.log_text()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is JSON
    assert lines, "the server wrote no log"
    for secret in (token, other["token"], hashlib.sha256(token.encode()).hexdigest()):
        assert secret not in log
    access = [line for line in lines if line["logger"] == "api.access"]
    assert [line["request_id"] for line in access][-len(request_ids) :] == request_ids
    assert all({"method", "path", "status", "duration_ms"} <= set(line) for line in access)
    assert access[-1]["query"] == f"user_id={uid}&token=[redacted]"
