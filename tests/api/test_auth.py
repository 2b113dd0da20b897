"""Tokens: issued once, stored only hashed, required and checked on every per-user route."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from db.models import Token as TokenRow

# (method, path template, json body template) of every route that acts for one user.
PROTECTED = [
    ("POST", "/rate", {"user_id": "{uid}", "ratings": [{"movie_id": 1, "rating": 4}]}),
    ("GET", "/recommend?user_id={uid}", None),
    ("GET", "/user/{uid}/stats", None),
    ("GET", "/users/{uid}/ratings", None),
    ("DELETE", "/users/{uid}/ratings/1", None),
]


def call(client, method, path, body, uid, headers=None):
    url = path.format(uid=uid)
    json_body = None
    if body is not None:
        json_body = {**body, "user_id": uid}
    return client.request(method, url, json=json_body, headers=headers or {})


def test_sign_up_returns_201_an_id_and_a_long_random_token(client):
    first, second = client.post("/users"), client.post("/users")
    assert first.status_code == second.status_code == 201
    a, b = first.json(), second.json()
    assert set(a) == {"user_id", "token"}
    assert a["user_id"] != b["user_id"] and a["token"] != b["token"]
    assert len(a["token"]) >= 43  # token_urlsafe(32)


def test_only_the_sha256_of_a_token_is_stored(app, client, user):
    with app.state.services.session_factory() as session:
        row = session.scalars(select(TokenRow).where(TokenRow.user_id == user.user_id)).one()
    assert row.token_hash == hashlib.sha256(user.token.encode()).hexdigest()
    assert user.token not in row.token_hash
    assert row.created_at.tzinfo is not None and row.revoked_at is None


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_a_missing_token_is_401_with_a_bearer_challenge(client, user, method, path, body):
    response = call(client, method, path, body, user.user_id)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Bearer" in response.json()["detail"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", "bearer"])
@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_a_malformed_authorization_header_is_401(client, user, method, path, body, header):
    response = call(client, method, path, body, user.user_id, {"Authorization": header})
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_another_users_token_is_403(client, new_user, method, path, body):
    owner, intruder = new_user(), new_user()
    response = call(client, method, path, body, owner.user_id, intruder.headers)
    assert response.status_code == 403
    assert response.json() == {"detail": f"this token does not belong to user {owner.user_id}"}


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_an_invented_token_is_401_whether_or_not_the_user_exists(client, user, method, path, body):
    invented = {"Authorization": "Bearer not-a-real-token"}
    existing = call(client, method, path, body, user.user_id, invented)
    missing = call(client, method, path, body, 987654, invented)
    assert existing.status_code == missing.status_code == 401
    assert existing.headers["WWW-Authenticate"] == "Bearer"
    assert existing.json()["detail"] == missing.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_a_revoked_token_is_401(client, user, method, path, body):
    assert client.delete("/sessions/current", headers=user.headers).status_code == 204
    response = call(client, method, path, body, user.user_id, user.headers)
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_an_unknown_user_answers_as_another_existing_user_would(
    client, new_user, method, path, body
):
    caller, other = new_user(), new_user()
    missing = call(client, method, path, body, 987654, caller.headers)
    existing = call(client, method, path, body, other.user_id, caller.headers)
    assert missing.status_code == existing.status_code == 403
    assert missing.json() == {"detail": "this token does not belong to user 987654"}


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("bad_id", [2**63, 0])
def test_an_out_of_range_user_id_is_422_json_on_every_route(
    client, user, method, path, body, bad_id
):
    response = call(client, method, path, body, bad_id, user.headers)
    assert response.status_code == 422
    assert "user_id" in response.json()["detail"]


def test_the_largest_64_bit_id_is_valid_and_simply_unknown(client, user):
    response = client.get(f"/user/{2**63 - 1}/stats", headers=user.headers)
    assert response.status_code == 403
