"""No cheap CPU and no lock-out by strangers: the limits on passwords, in the shared buckets.

* Setting a password (an argon2 hash each time) is limited per user and per address.
* Whether a username is taken is answered only within the sign-in limits.
* Sign-in limits key on (username, address) tightly and on the username loosely, so a
  stranger guessing from one address cannot keep the owner out.
* Deleting an account deletes its rate-limit rows.

Addresses are set per client (``TestClient(client=...)``); every client shares one app, whose
lifespan the ``client`` fixture runs.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from db.models import RateLimit
from tests.api.conftest import User

OWNER_PASSWORD = "correct horse battery"
ATTACKER = ("198.51.100.7", 40000)
OWNER_HOME = ("203.0.113.9", 40000)


def from_address(app: FastAPI, address: tuple[str, int]) -> TestClient:
    """Another client of the running app, connecting from ``address``."""
    return TestClient(app, client=address)


def put_credentials(client, who, username="Ana.Film", password=OWNER_PASSWORD):
    return client.put(
        f"/users/{who.user_id}/credentials",
        json={"username": username, "password": password},
        headers=who.headers,
    )


def sign_in(client, password, username="ana.film"):
    return client.post("/sessions", json={"username": username, "password": password})


def test_a_hundred_password_changes_with_one_token_meet_429s(client, user):
    codes = [
        put_credentials(client, user, password=f"new password {i:03d}").status_code
        for i in range(100)
    ]
    assert set(codes) == {200, 429}, codes
    assert codes.count(200) <= 6, codes  # the burst (5), and at most one refill


def test_password_changes_are_limited_per_address_across_users(app, client):
    limiter = app.state.services.credentials_limiter.per_address
    limiter._clock = lambda: 1e9  # no refill during the test, however slow the hashes
    codes = []
    for i in range(limiter.burst + 3):  # each user signs up from an address of their own
        body = from_address(app, (f"192.0.2.{i + 1}", 40000)).post("/users").json()
        who = User(body["user_id"], body["token"])
        codes.append(put_credentials(client, who, username=f"user.{i:02d}").status_code)
    assert codes == [200] * limiter.burst + [429] * 3, codes


def test_whether_a_username_is_taken_is_answered_only_within_the_sign_in_limits(
    app, client, new_user
):
    owner, prober = new_user(), new_user()
    assert put_credentials(client, owner).status_code == 200
    attacker = from_address(app, ATTACKER)
    codes = [sign_in(attacker, f"guess number {i}").status_code for i in range(5)]
    assert codes == [401] * 5
    # The sign-in allowance for this username from this address is spent: the prober's
    # question about the same name is refused the same way, not answered with "taken".
    probe = put_credentials(attacker, prober, username="ANA.FILM", password="another password")
    assert probe.status_code == 429 and "taken" not in probe.text
    elsewhere = put_credentials(client, prober, username="ANA.FILM", password="another password")
    assert elsewhere.status_code == 409


def test_a_stranger_guessing_from_one_address_cannot_lock_the_owner_out(app, client, user):
    assert put_credentials(client, user).status_code == 200
    attacker, owner = from_address(app, ATTACKER), from_address(app, OWNER_HOME)
    guesses = [sign_in(attacker, f"guess number {i}").status_code for i in range(12)]
    assert guesses[:5] == [401] * 5 and set(guesses[5:]) == {429}, guesses
    assert sign_in(owner, OWNER_PASSWORD).status_code == 201
    # The stranger is still refused, even with the right password, from their address.
    assert sign_in(attacker, OWNER_PASSWORD).status_code == 429


def test_guessing_from_many_addresses_is_still_bounded_per_username(app, client, user):
    assert put_credentials(client, user).status_code == 200
    limiter = app.state.services.signin_limiter
    for bucket in (limiter.per_pair, limiter.per_username, limiter.per_address):
        bucket._clock = lambda: 2e9  # no refill during the test, however slow the hashes
    codes = []
    for k in range(12):  # 12 addresses x 5 guesses: past the loose per-username allowance
        guesser = from_address(app, (f"192.0.2.{k + 1}", 40000))
        codes += [sign_in(guesser, f"guess number {i}").status_code for i in range(5)]
    # Setting the username spent one attempt on it: the rest of the allowance, then 429s.
    assert codes.count(401) == limiter.per_username.burst - 1 and 429 in codes


def test_deleting_an_account_deletes_its_rate_limit_rows(app, client, user, new_user, rate):
    other = new_user()
    rate(user, {1: 4.0})
    rate(other, {1: 2.0})
    assert put_credentials(client, user, username="Le_Film").status_code == 200
    assert sign_in(client, "a wrong password", username="le_film").status_code == 401
    assert client.delete(f"/users/{user.user_id}", headers=user.headers).status_code == 204
    with app.state.services.session_factory() as session:
        keys = session.scalars(select(RateLimit.key)).all()
    mine = [k for k in keys if k.endswith(f":{user.user_id}") or "le_film" in k]
    assert mine == [], keys
    assert f"write:{other.user_id}" in keys  # another user's are kept
