"""Hosting on one process: paged ratings, the per-user cap, ids never reused, /health that
reads and writes, sign-ups limited per address, X-Forwarded-For only from a trusted proxy.
Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import gc
import sqlite3
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import GC_THRESHOLDS, create_app
from tests.api.conftest import User, make_read_only


def signup(client: TestClient, headers: dict[str, str] | None = None):
    return client.post("/users", headers=headers or {})


def as_user(response) -> User:
    assert response.status_code == 201, response.text
    return User(response.json()["user_id"], response.json()["token"])


# -- paging ----------------------------------------------------------------------------------


def test_ratings_come_in_pages_that_cover_everything_once(client, user, rate):
    films = [*range(1, 21), *range(101, 121), *range(201, 221)]
    for start in range(0, len(films), 20):
        rate(user, {m: 3.0 for m in films[start : start + 20]})
    seen: list[int] = []
    offset = 0
    while True:
        page = client.get(
            f"/users/{user.user_id}/ratings?limit=7&offset={offset}", headers=user.headers
        ).json()
        assert page["total"] == 60 and page["limit"] == 7 and page["offset"] == offset
        assert page["count"] == len(page["ratings"]) <= 7
        seen += [r["movie_id"] for r in page["ratings"]]
        offset += page["count"]
        if offset >= page["total"]:
            break
    assert sorted(seen) == sorted(films) and len(seen) == 60  # no overlap, no gap
    assert seen[:20] == sorted(films[40:])  # newest batch first, ties by movie id


@pytest.mark.parametrize("query", ["limit=501", "limit=0", "offset=-1"])
def test_a_page_over_the_maximum_is_a_clear_422(client, user, query):
    response = client.get(f"/users/{user.user_id}/ratings?{query}", headers=user.headers)
    assert response.status_code == 422
    assert ("limit" in response.json()["detail"]) or ("offset" in response.json()["detail"])


# -- the per-user cap ------------------------------------------------------------------------


def test_a_user_holds_at_most_the_configured_number_of_ratings(settings, count_ratings):
    capped = settings.model_copy(update={"max_ratings_per_user": 10})
    with TestClient(create_app(capped)) as client:
        who = as_user(signup(client))

        def rate(ratings: dict[int, float]):
            body = {
                "user_id": who.user_id,
                "ratings": [{"movie_id": m, "rating": r} for m, r in ratings.items()],
            }
            return client.post("/rate", json=body, headers=who.headers)

        assert rate({m: 4.0 for m in range(1, 9)}).status_code == 200
        refused = rate({m: 4.0 for m in range(101, 104)})  # 8 + 3 > 10: refused whole
        assert refused.status_code == 409
        assert "limit is 10" in refused.json()["detail"]
        listed = client.get(f"/users/{who.user_id}/ratings", headers=who.headers).json()
        assert listed["total"] == 8  # nothing of the refused batch was written
        assert rate({1: 2.0, 2: 2.0, 101: 3.0, 102: 3.0}).status_code == 200  # re-rates are free
        assert rate({103: 3.0}).status_code == 409


# -- ids -------------------------------------------------------------------------------------


def test_user_ids_are_never_reused_after_a_delete(app, client):
    first, newest = as_user(signup(client)), as_user(signup(client))
    with app.state.services.engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": newest.user_id})
    after = as_user(signup(client))
    assert after.user_id > newest.user_id > first.user_id
    # The deleted user's token reaches nobody.
    response = client.get(f"/users/{newest.user_id}/ratings", headers=newest.headers)
    assert response.status_code == 401


# -- /health ---------------------------------------------------------------------------------


def test_health_writes_as_well_as_reads(app, client):
    assert client.get("/health").json()["database"] == "ok"
    make_read_only(app.state.services.engine)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["database"] == "read-only"
    assert body["n_users"] is not None  # reads still work: it says exactly what is wrong


def test_a_sqlite_file_deleted_under_the_service_is_noticed(sqlite_settings, tmp_path):
    with TestClient(create_app(sqlite_settings)) as client:
        who = as_user(signup(client))
        Path(sqlite_settings.database_url.removeprefix("sqlite:///")).unlink()
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["database"] == "gone"
        body = {"user_id": who.user_id, "ratings": [{"movie_id": 1, "rating": 4.0}]}
        refused = client.post("/rate", json=body, headers=who.headers)
        assert refused.status_code == 503  # never acknowledged into a deleted file
        assert signup(client).status_code == 503


def test_a_missing_sqlite_file_is_a_clear_error_unless_creating_one_is_asked_for(
    sqlite_settings,
):
    from db.session import MissingDatabaseError

    strict = sqlite_settings.model_copy(update={"create_db": False})
    with pytest.raises(MissingDatabaseError, match="CINEMATCH_CREATE_DB"), TestClient(
        create_app(strict)
    ):
        pass
    with TestClient(create_app(sqlite_settings)) as client:  # create_db=True: a new one
        assert client.get("/health").json()["database"] == "ok"
    with TestClient(create_app(strict)) as client:  # now it exists
        assert client.get("/health").status_code == 200


# -- sign-ups per address ----------------------------------------------------------------------


def test_a_household_signs_up_but_a_flood_gets_429_with_retry_after(settings):
    with TestClient(create_app(settings)) as client:
        statuses = [signup(client).status_code for _ in range(25)]
        assert statuses[:20] == [201] * 20  # a household's worth at once
        refused = signup(client)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 60
        assert "sign-ups from testclient" in refused.json()["detail"]


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(settings):
    burst = settings.model_copy(update={"signup_limit_burst": 2})
    with TestClient(create_app(burst)) as client:  # no trusted proxy: the header is ignored
        spoofed = [signup(client, {"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(4)]
        assert [r.status_code for r in spoofed] == [201, 201, 429, 429]
    behind_proxy = burst.model_copy(update={"trusted_proxies": ("testclient",)})
    with TestClient(create_app(behind_proxy)) as client:  # the proxy names each client
        for address in ("198.51.100.1", "198.51.100.2"):
            forwarded = {"X-Forwarded-For": address}
            codes = [signup(client, forwarded).status_code for _ in range(3)]
            assert codes == [201, 201, 429], address
        # A client cannot pose as another by prepending its own X-Forwarded-For entry:
        # the proxy appends the real one, and the right-most untrusted entry counts.
        posing = {"X-Forwarded-For": "198.51.100.9, 198.51.100.1"}
        assert signup(client, posing).status_code == 429


def test_a_read_never_waits_for_the_token_use_record_behind_a_lock(sqlite_settings):
    """An outside process holds SQLite's write lock; a token's first read in the hour must
    still answer at once: recording its use is a write, done off the request's path."""
    slow = sqlite_settings.model_copy(update={"sqlite_busy_timeout_ms": 60_000})
    with TestClient(create_app(slow)) as client:
        user = as_user(signup(client))
        path = slow.database_url.removeprefix("sqlite:///")
        holding, release, released = threading.Event(), threading.Event(), threading.Event()

        def hold_the_lock() -> None:
            outside = sqlite3.connect(path, isolation_level=None)
            outside.execute("BEGIN IMMEDIATE")
            holding.set()
            release.wait(timeout=30)  # a read stuck behind the lock finishes only after this
            outside.execute("ROLLBACK")
            outside.close()
            released.set()

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        assert holding.wait(timeout=10)
        response = client.get(f"/users/{user.user_id}/ratings", headers=user.headers)
        answered_while_locked = not released.is_set()
        release.set()
        holder.join(timeout=40)
        assert response.status_code == 200
        assert answered_while_locked


# -- the garbage collector ---------------------------------------------------------------------


def test_the_app_collects_young_garbage_less_often_while_it_serves(settings):
    before = gc.get_threshold()
    assert before != GC_THRESHOLDS
    with TestClient(create_app(settings)) as client:
        assert client.get("/genres").status_code == 200
        assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_threshold() == before
