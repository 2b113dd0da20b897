"""Accounts: import and export, sign-in with a password, sign-out, deleting an account.

The tiny model's films are "Action Film 1" (1980, id 1, IMDb tt0000001) ... (tests/synthetic.py).
"""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from db.models import Base, Token, User
from db.session import write_transaction
from db.token_use import flush_token_use
from ml.text.imports import MAX_ROWS

LETTERBOXD = (
    "Date,Name,Year,Letterboxd URI,Rating\n"
    "2024-01-05,Action Film 1,1980,https://boxd.it/a,4.5\n"
    "2024-01-06,Action Film 2,1981,https://boxd.it/b,3\n"
    "2024-01-07,Parasite,2019,https://boxd.it/c,5\n"
)
IMDB = (
    "Const,Your Rating,Date Rated,Title,URL,Title Type,Year\n"
    "tt0000101,8,2023-03-01,Romance Film 1,u,Movie,1980\n"
    "tt0000201,3,2023-03-02,Comedy Film 1,u,Movie,1980\n"
    "tt0903747,10,2023-03-03,Breaking Bad,u,TV Series,2008\n"
)
MOVIELENS = "userId,movieId,rating,timestamp\n9,3,4.0,964982703\n9,4,2.5,964981247\n"


def upload(client, who, text, *, source="auto", dry_run=False, name="ratings.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        f"/users/{who.user_id}/import",
        params={"source": source, "dry_run": str(dry_run).lower()},
        files={"file": (name, data, "text/csv")},
        headers=who.headers,
    )


def my_ratings(client, who) -> dict[int, float]:
    body = client.get(f"/users/{who.user_id}/ratings", headers=who.headers).json()
    return {r["movie_id"]: r["rating"] for r in body["ratings"]}


def test_a_dry_run_shows_matches_and_reasons_and_writes_nothing(client, user, count_ratings):
    response = upload(client, user, LETTERBOXD, dry_run=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "letterboxd" and body["rows"] == 3 and body["dry_run"] is True
    assert [(m["movie_id"], m["rating"]) for m in body["matched"]] == [(1, 4.5), (2, 3.0)]
    assert body["unmatched"] == [
        {"title": "Parasite", "year": 2019, "reason": "not in the catalogue"}
    ]
    assert body["saved"] == 2 and count_ratings() == 0


def test_an_import_writes_and_the_same_file_again_changes_nothing(client, user):
    first = upload(client, user, LETTERBOXD).json()
    assert first["saved"] == 2 and first["dry_run"] is False
    assert my_ratings(client, user) == {1: 4.5, 2: 3.0}
    listed = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()
    assert {r["updated_at"][:10] for r in listed["ratings"]} == {"2024-01-05", "2024-01-06"}
    again = upload(client, user, LETTERBOXD).json()
    assert again["saved"] == 0 and again["unchanged"] == 2
    assert client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json() == listed


def test_only_a_newer_date_overwrites_a_stored_rating(client, user, rate):
    rate(user, {1: 1.0})  # rated today, in CineMatch
    older = upload(client, user, LETTERBOXD).json()
    assert older["saved"] == 1 and my_ratings(client, user)[1] == 1.0
    newer = LETTERBOXD.replace("2024-01-05", "2999-01-05")  # clamped to now, still newer
    assert upload(client, user, newer).json()["saved"] == 1
    assert my_ratings(client, user)[1] == 4.5


def test_imdb_by_id_halved_with_tv_skipped(client, user):
    body = upload(client, user, IMDB).json()
    assert body["source"] == "imdb"
    assert [(m["movie_id"], m["rating"]) for m in body["matched"]] == [(101, 4.0), (201, 1.5)]
    assert body["unmatched"][0]["title"] == "Breaking Bad"
    assert "TV" in body["unmatched"][0]["reason"]


def test_movielens_ratings(client, user):
    body = upload(client, user, MOVIELENS, source="movielens").json()
    assert body["saved"] == 2 and my_ratings(client, user) == {3: 4.0, 4: 2.5}


def test_an_export_re_imports_to_exactly_the_same_ratings(client, user, new_user, rate):
    rate(user, {1: 5.0, 101: 1.5, 205: 3.5})
    exported = client.get(f"/users/{user.user_id}/export", headers=user.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["cache-control"] == "no-store"
    lines = exported.text.splitlines()
    assert lines[0] == "movie_id,imdb_id,tmdb_id,title,year,rating,rated_at,list"
    assert any(line.startswith("1,tt0000001,1001,Action Film 1,1980,5.0,") for line in lines)
    other = new_user()
    body = upload(client, other, exported.text).json()
    assert body["source"] == "cinematch" and body["saved"] == 3
    mine = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()["ratings"]
    theirs = client.get(f"/users/{other.user_id}/ratings", headers=other.headers).json()
    strip = [{k: v for k, v in r.items() if k != "created_at"} for r in mine]
    assert [{k: v for k, v in r.items() if k != "created_at"} for r in theirs["ratings"]] == strip
    assert upload(client, user, exported.text).json()["saved"] == 0


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (b"\xff\xfe\xfa junk \xc3\x28", "UTF-8"),
        (b"name,stars\nAlien,5\n", "no known export"),
        (LETTERBOXD.replace(",4.5\n", ",9\n").encode(), "off the scale"),
        (b"userId,movieId,rating,timestamp\n" + b"1,1,4,1\n" * (MAX_ROWS + 1), "rows"),
        (
            b"Date,Name,Year,Letterboxd URI,Rating\n2024-01-01," + b"x" * 5000 + b",1980,u,4\n",
            "longer than",
        ),
    ],
)
def test_bad_files_are_a_422_and_write_nothing(client, user, rate, count_ratings, data, fragment):
    rate(user, {1: 2.0})
    response = upload(client, user, data, name="mine.csv")
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"] and "mine.csv" in response.json()["detail"]
    assert count_ratings() == 1 and my_ratings(client, user) == {1: 2.0}


def test_a_file_over_the_limit_is_a_413(settings, tmp_path):
    small = settings.model_copy(update={"import_max_bytes": 2048})
    with TestClient(create_app(small)) as client:
        created = client.post("/users").json()
        headers = {"Authorization": f"Bearer {created['token']}"}
        response = client.post(
            f"/users/{created['user_id']}/import",
            files={"file": ("big.csv", b"userId,movieId,rating,timestamp\n" + b"1" * 3000)},
            headers=headers,
        )
        assert response.status_code == 413 and "limit" in response.json()["detail"]
        # Far over the cap, the body itself is refused before it is read.
        response = client.post(
            f"/users/{created['user_id']}/import",
            files={"file": ("huge.csv", b"1" * 200_000)},
            headers=headers,
        )
        assert response.status_code == 413


def test_an_import_needs_the_users_token(client, user, new_user):
    other = new_user()
    response = client.post(
        f"/users/{user.user_id}/import",
        files={"file": ("r.csv", LETTERBOXD.encode())},
        headers=other.headers,
    )
    assert response.status_code == 403


def test_an_import_is_one_write_of_the_users_allowance(client, user, app, count_ratings):
    services = app.state.services
    limiter = services.write_limiter

    def spend() -> float:
        with services.session_factory() as session, write_transaction(session):
            return limiter.wait(session, user.user_id)

    upload(client, user, MOVIELENS, source="movielens")  # 2 films, one write
    spent = 0
    while spend() == 0.0:  # spend the rest of the burst
        spent += 1
    # One write went to the import (a second may have refilled meanwhile, at one a second).
    assert limiter.burst - 1 <= spent <= limiter.burst
    refused = upload(client, user, LETTERBOXD, dry_run=True)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert count_ratings() == 2


# --- credentials and sessions -----------------------------------------------------------------


def set_password(client, who, username="Ana.Film", password="correct horse battery"):
    return client.put(
        f"/users/{who.user_id}/credentials",
        json={"username": username, "password": password},
        headers=who.headers,
    )


def test_sign_in_on_another_device_gets_a_second_working_token(client, user, rate, caplog):
    caplog.set_level(logging.DEBUG)
    assert set_password(client, user).status_code == 200
    rate(user, {1: 4.0})
    response = client.post(
        "/sessions", json={"username": "ana.FILM", "password": "correct horse battery"}
    )
    assert response.status_code == 201 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["user_id"] == user.user_id and body["token"] != user.token
    second = {"Authorization": f"Bearer {body['token']}"}
    assert client.get(f"/users/{user.user_id}/ratings", headers=second).status_code == 200
    assert client.get(f"/users/{user.user_id}/ratings", headers=user.headers).status_code == 200
    assert "correct horse battery" not in caplog.text


def test_usernames_are_unique_ignoring_case(client, user, new_user):
    url = f"/users/{user.user_id}/credentials"
    assert client.get(url, headers=user.headers).json()["username"] is None
    assert set_password(client, user).status_code == 200
    assert client.get(url, headers=user.headers).json()["username"] == "Ana.Film"
    taken = set_password(client, new_user(), username="ANA.FILM")
    assert taken.status_code == 409 and "taken" in taken.json()["detail"]
    assert set_password(client, user, username="ana.film").status_code == 200  # own name


def test_a_short_password_is_refused_without_echoing_it(client, user):
    response = set_password(client, user, password="hunter2")
    assert response.status_code == 422 and "hunter2" not in response.text


def test_a_password_with_a_lone_surrogate_is_a_422_not_a_500(client, user):
    """JSON can carry ``\\ud800``; no UTF-8 byte can, so neither the hash nor the database."""
    lone = '"' + "\\ud800" * 10 + '"'
    for path, method, extra in (("/sessions", "POST", {}),
                                (f"/users/{user.user_id}/credentials", "PUT", user.headers)):
        body = '{"username": "ana.film", "password": ' + lone + "}"
        response = client.request(method, path, content=body,
                                  headers={**extra, "Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert "lone surrogate" in response.json()["detail"]
    name = '{"username": "\\udc00x", "password": "correct horse battery"}'
    response = client.post("/sessions", content=name, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text


def test_wrong_username_and_wrong_password_get_the_same_401(client, user):
    set_password(client, user)
    wrong_password = client.post(
        "/sessions", json={"username": "ana.film", "password": "not the password"}
    )
    wrong_user = client.post(
        "/sessions", json={"username": "nobody.here", "password": "correct horse battery"}
    )
    assert wrong_password.status_code == wrong_user.status_code == 401
    assert wrong_password.json() == wrong_user.json()


def test_sign_in_attempts_are_limited_per_username_and_address(client, user, app):
    set_password(client, user)  # asking for the username was one attempt on it
    burst = app.state.services.signin_limiter.per_pair.burst - 1
    codes = [
        client.post("/sessions", json={"username": "ana.film", "password": "guess number x"})
        .status_code
        for _ in range(burst + 1)
    ]
    assert codes[:burst] == [401] * burst and codes[-1] == 429
    right = client.post(
        "/sessions", json={"username": "ana.film", "password": "correct horse battery"}
    )
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1


def test_changing_the_password_signs_out_every_other_device(client, user):
    set_password(client, user)
    signin = {"username": "ana.film", "password": "correct horse battery"}
    second = client.post("/sessions", json=signin).json()["token"]
    other_device = {"Authorization": f"Bearer {second}"}
    ratings = f"/users/{user.user_id}/ratings"
    assert client.get(ratings, headers=other_device).status_code == 200
    assert set_password(client, user, password="a new long passphrase").status_code == 200
    assert client.get(ratings, headers=other_device).status_code == 401
    assert client.get(ratings, headers=user.headers).status_code == 200  # this device stays
    new_signin = {"username": "ana.film", "password": "a new long passphrase"}
    assert client.post("/sessions", json=new_signin).status_code == 201


def test_signing_out_revokes_only_the_token_in_use(client, user):
    set_password(client, user)
    second = client.post(
        "/sessions", json={"username": "ana.film", "password": "correct horse battery"}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {second}"}
    assert client.delete("/sessions/current", headers=headers).status_code == 204
    assert client.get(f"/users/{user.user_id}/ratings", headers=headers).status_code == 401
    assert client.delete("/sessions/current", headers=headers).status_code == 401
    assert client.get(f"/users/{user.user_id}/ratings", headers=user.headers).status_code == 200


def test_token_use_is_recorded(client, user, app):
    flush_token_use(app.state.services.engine, timeout=30)
    with app.state.services.session_factory() as session:
        used = session.scalar(select(Token.last_used_at).where(Token.user_id == user.user_id))
    assert used is not None


# --- deleting an account ------------------------------------------------------------------------


def test_deleting_an_account_leaves_no_row_and_the_token_dead(client, user, new_user, rate, app):
    other = new_user()
    rate(user, {1: 4.0, 2: 3.0})
    rate(other, {1: 2.0})
    set_password(client, user)
    client.post("/sessions", json={"username": "ana.film", "password": "correct horse battery"})
    assert client.delete(f"/users/{user.user_id}", headers=user.headers).status_code == 204
    for path in (f"/users/{user.user_id}/ratings", f"/recommend?user_id={user.user_id}"):
        assert client.get(path, headers=user.headers).status_code in (401, 404)
    with app.state.services.session_factory() as session:
        for table in Base.metadata.sorted_tables:
            column = table.c.get("user_id")
            if column is None:
                column = table.c.id if table.name == User.__tablename__ else None
            if column is not None:
                left = session.scalar(
                    select(func.count()).select_from(table).where(column == user.user_id)
                )
                assert left == 0, table.name
    assert my_ratings(client, other) == {1: 2.0}
    signin = {"username": "ana.film", "password": "correct horse battery"}
    assert client.post("/sessions", json=signin).status_code == 401


def test_deleting_needs_the_users_token(client, user, new_user):
    assert client.delete(f"/users/{user.user_id}", headers=new_user().headers).status_code == 403


def test_the_export_carries_the_watchlist_and_hidden_lists_when_they_are_kept(
    app, client, user, new_user, rate
):
    """The signals table (signals-ui) is declared here only when the schema lacks it."""
    from datetime import UTC, datetime

    from sqlalchemy import Column, DateTime, Integer, String, Table

    declared = "user_signals" not in Base.metadata.tables
    table = Base.metadata.tables.get("user_signals")
    if table is None:
        table = Table(
            "user_signals",
            Base.metadata,
            Column("user_id", Integer, primary_key=True),
            Column("kind", String(16), primary_key=True),
            Column("movie_id", Integer, primary_key=True),
            Column("created_at", DateTime(timezone=True)),
        )
    try:
        engine = app.state.services.engine
        table.create(engine, checkfirst=True)
        rate(user, {1: 4.0})
        with engine.begin() as connection:
            connection.execute(
                table.insert(),
                [
                    {"user_id": user.user_id, "kind": kind, "movie_id": m,
                     "created_at": datetime(2024, 1, 1, tzinfo=UTC)}
                    for kind, m in (("watchlist", 2), ("hidden", 101), ("skipped", 3))
                ],
            )  # fmt: skip
        lines = client.get(f"/users/{user.user_id}/export", headers=user.headers).text
        rows = [line.split(",") for line in lines.splitlines()[1:]]
        assert [(r[0], r[5], r[7]) for r in rows] == [
            ("1", "4.0", "rated"),
            ("2", "", "watchlist"),
            ("101", "", "hidden"),
        ]
        # Into a new account, the file puts back the ratings and both lists.
        other = new_user()
        preview = upload(client, other, lines, dry_run=True).json()
        assert preview["saved"] == 1 and preview["listed"] == 2
        assert upload(client, other, lines).json()["listed"] == 2
        assert my_ratings(client, other) == {1: 4.0}
        for kind, movie_id in (("watchlist", 2), ("hidden", 101)):
            got = client.get(f"/users/{other.user_id}/{kind}", headers=other.headers).json()
            assert [m["movie_id"] for m in got["movies"]] == [movie_id]
        assert upload(client, other, lines).json()["listed"] == 0  # already there
        assert client.delete(f"/users/{user.user_id}", headers=user.headers).status_code == 204
        with engine.connect() as connection:
            left = connection.execute(select(func.count()).select_from(table).where(
                table.c.user_id == user.user_id)).scalar_one()
        assert left == 0  # deleting the account empties every table with a user_id
    finally:
        if declared:
            Base.metadata.remove(table)


def test_a_failure_while_writing_an_import_leaves_nothing_half_written(
    client, user, rate, count_ratings, monkeypatch
):
    from sqlalchemy.exc import OperationalError

    from db import repository

    rate(user, {5: 1.0})
    real = repository.import_ratings

    def write_then_fail(*args, **kwargs):
        real(*args, **kwargs)  # the rows are written inside the transaction...
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))  # ...then it fails

    monkeypatch.setattr(repository, "import_ratings", write_then_fail)
    response = upload(client, user, LETTERBOXD)
    assert response.status_code == 503
    assert count_ratings() == 1 and my_ratings(client, user) == {5: 1.0}


def test_an_equal_value_from_a_newer_file_advances_the_date(client, user):
    """Otherwise a later import of an older file would still find itself 'newer'."""
    march = LETTERBOXD.replace("2024-01-05", "2024-03-05")
    assert upload(client, user, LETTERBOXD).json()["saved"] == 2
    assert upload(client, user, march).json()["saved"] == 1  # same 4.5, newer date
    listed = client.get(f"/users/{user.user_id}/ratings", headers=user.headers).json()
    dates = {r["movie_id"]: r["updated_at"][:10] for r in listed["ratings"]}
    assert dates[1] == "2024-03-05"
    february = LETTERBOXD.replace("2024-01-05", "2024-02-05").replace(",4.5\n", ",1\n")
    assert upload(client, user, february).json()["saved"] == 0
    assert my_ratings(client, user)[1] == 4.5
