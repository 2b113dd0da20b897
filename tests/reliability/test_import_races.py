"""The newer date wins, even when imports race: ten files imported into one account at once.

File k rates every film of the tiny model ``0.5 * (k + 1)`` on day k, so the newest file (the
tenth) rates all of them 5.0. Sent at the same moment to a real server (two worker processes,
SQLite or PostgreSQL), in whatever order they land, the stored ratings must end as the tenth
file's values and dates: the date comparison is made inside the write statement. A
comparison made in Python on ratings read before the write transaction let an older file,
whose read came before the newer file's write, overwrite it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bench.harness.api_server import ApiServer
from tests.api.conftest import ACTION, COMEDY, ROMANCE

FILMS = [*ACTION, *ROMANCE, *COMEDY]
FILES = 10
ROUNDS = 3
FIRST_DAY = datetime(2020, 1, 1, tzinfo=UTC)


def export_file(k: int) -> bytes:
    """A MovieLens ratings.csv: every film rated 0.5 * (k + 1), on day k."""
    stamp = int((FIRST_DAY + timedelta(days=k)).timestamp())
    rows = "".join(f"1,{movie},{0.5 * (k + 1)},{stamp}\n" for movie in FILMS)
    return ("userId,movieId,rating,timestamp\n" + rows).encode()


@pytest.fixture
def server(tiny_model_dir, tmp_path, database_url) -> Iterator[ApiServer]:
    url = None if database_url.startswith("sqlite") else database_url
    env = {"CINEMATCH_WRITE_LIMIT_BURST": "100"}
    api = ApiServer(
        tiny_model_dir, tmp_path / "db" / "cinematch.db", database_url=url, env=env, workers=2
    )
    try:
        yield api.start()
    finally:
        api.stop()


def import_at_once(client: httpx.Client, user: dict, files: list[bytes]) -> list[int]:
    """POST every file at the same moment (a barrier), each on its own thread."""
    barrier = threading.Barrier(len(files))
    statuses: list[int] = [0] * len(files)
    headers = {"Authorization": f"Bearer {user['token']}"}

    def send(k: int) -> None:
        barrier.wait()
        response = client.post(
            f"/users/{user['user_id']}/import",
            params={"source": "movielens"},
            files={"file": (f"ratings-{k}.csv", files[k], "text/csv")},
            headers=headers,
            timeout=60,
        )
        statuses[k] = response.status_code

    threads = [threading.Thread(target=send, args=(k,)) for k in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_ten_concurrent_imports_end_with_the_newest_files_values(server):
    files = [export_file(k) for k in range(FILES)]
    newest_day = (FIRST_DAY + timedelta(days=FILES - 1)).date().isoformat()
    limits = httpx.Limits(max_connections=FILES, max_keepalive_connections=FILES)
    with httpx.Client(base_url=server.url, limits=limits) as client:
        for _ in range(ROUNDS):
            user = client.post("/users").json()
            assert import_at_once(client, user, files) == [200] * FILES
            listed = client.get(
                f"/users/{user['user_id']}/ratings",
                params={"limit": 200},
                headers={"Authorization": f"Bearer {user['token']}"},
            ).json()["ratings"]
            assert len(listed) == len(FILMS)
            wrong = {r["movie_id"]: r["rating"] for r in listed if r["rating"] != 5.0}
            assert wrong == {}, f"older files won for {len(wrong)} films: {wrong}"
            assert {r["updated_at"][:10] for r in listed} == {newest_day}
