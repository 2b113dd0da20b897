"""Replicas for real: 3 API processes on one PostgreSQL behind Debian's nginx, configured by
deploy/nginx.conf (rendered for loopback by bench/harness/nginx.py, with the replicas' body
limits).

- An export of 1 MB is imported through nginx (its body limit is the API's, from the one
  setting); a body over the limit gets a JSON 413, and a proxy with no replica left a JSON 502.

- The per-user write limit and the per-address sign-up limit hold across replicas (they live
  in the database): with per-process limits, two replicas accepted 59 of 70 quick writes.
- X-Forwarded-For set by nginx names the client; the replicas trust it from nginx only.
- bench/load.py, shorter (8 clients, 10 s), with one replica SIGKILLed and restarted
  mid-run: no acknowledged write is lost, nothing unacknowledged appears, and no rating is
  refused: nginx re-sends POST /rate (an upsert) to the next replica. The only errors left
  are the few non-repeatable requests (POST /users) that were inside the killed process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from bench.harness.api_server import HOST, ApiServer, Request, call, call_json
from bench.harness.nginx import NginxProxy
from bench.load import run_load

REPLICAS = 3


@pytest.fixture
def replicas(tiny_model_dir, tmp_path, postgres) -> Iterator[tuple[NginxProxy, list[ApiServer]]]:
    url = postgres.create_database()
    env = {
        "CINEMATCH_TRUSTED_PROXIES": HOST,  # nginx connects from loopback
        "CINEMATCH_WRITE_LIMIT_PER_MINUTE": "60",
        "CINEMATCH_WRITE_LIMIT_BURST": "10",
        "CINEMATCH_SIGNUP_LIMIT_BURST": "5",
    }
    servers = [
        ApiServer(tiny_model_dir, tmp_path / f"api-{i}.db", database_url=url, env=env)
        for i in range(REPLICAS)
    ]
    proxy = None
    try:
        for server in servers:
            server.start()
        proxy = NginxProxy([server.port for server in servers], env=env).start()
        yield proxy, servers
    finally:
        if proxy is not None:
            proxy.stop()
        for server in servers:
            server.stop()


def post_json(port: int, path: str, body: dict, token: str, headers: dict | None = None):
    return call(port, Request("POST", path, json.dumps(body).encode(), token))


def test_limits_hold_across_replicas(replicas):
    proxy, servers = replicas
    created = call_json(proxy.port, Request("POST", "/users"), expect=201)
    uid, token = created["user_id"], created["token"]
    statuses = []
    for k in range(30):  # round-robin over the 3 replicas
        body = {"user_id": uid, "ratings": [{"movie_id": 1 + k % 20, "rating": 4.0}]}
        statuses.append(post_json(proxy.port, "/rate", body, token)[0])
    accepted = statuses.count(200)
    # Burst 10 plus at most the refill of the run (1 a second): per-process limits would
    # have let through about 3 × 10.
    assert 10 <= accepted <= 10 + 5, statuses
    assert set(statuses) == {200, 429}
    # Sign-ups: 5 in a burst from this address over all replicas (1 was made above).
    signups = [call(proxy.port, Request("POST", "/users"))[0] for _ in range(8)]
    assert signups.count(201) == 4 and signups.count(429) == 4, signups
    # Direct to a replica (no proxy in between): X-Forwarded-For from the client is ignored,
    # so the same address is limited there too.
    direct = call(servers[2].port, Request("POST", "/users"))
    assert direct[0] == 429


def test_load_with_a_replica_killed_mid_run_loses_no_write(tiny_model_dir, tmp_path, postgres):
    result = run_load(
        tiny_model_dir,
        clients=8,
        seconds=10.0,
        workdir=tmp_path,
        database_url=postgres.create_database(),
        replicas=REPLICAS,
        kill_at=4.0,
    )
    assert result.restart_s is not None  # the kill and the restart happened
    assert result.lost_writes == [], result.lost_writes[:10]
    assert result.unexpected_rows == [], result.unexpected_rows[:10]
    assert result.stale_reads == 0 and result.tokens_in_log == 0
    # Ratings are re-sent to the next replica: not one is lost to the kill. Only requests
    # that must not be repeated (sign-ups) and were inside the killed process may fail, with
    # nginx's JSON 502, a handful at most.
    assert not [e for e in result.errors if e.startswith("POST /rate")], result.errors
    assert all(e.startswith("POST /users: 502 b'{\"detail\"") for e in result.errors), (
        result.errors
    )
    assert len(result.errors) <= 8, result.errors
    assert result.users >= 8 and result.acknowledged_keys > 100


def letterboxd_export(size: int) -> bytes:
    """A Letterboxd ratings.csv of about ``size`` bytes, every row a film of the tiny model
    (long review links pad it out, as real exports' long titles and links do)."""
    header = "Date,Name,Year,Letterboxd URI,Rating\n"
    rows, total, k = [], len(header), 0
    while total < size:
        film = 1 + k % 20
        row = (
            f"2024-01-{1 + k % 28:02d},Action Film {film},{1979 + film},"
            f"https://boxd.it/{k:06d}/{'x' * 90},{0.5 + (k % 10) * 0.5}\n"
        )
        rows.append(row)
        total += len(row)
        k += 1
    return (header + "".join(rows)).encode()


def test_a_1_mb_export_is_imported_through_nginx(replicas):
    proxy, _ = replicas
    user = call_json(proxy.port, Request("POST", "/users"), expect=201)
    export = letterboxd_export(1024 * 1024)
    assert len(export) > 1024 * 1024
    response = httpx.post(
        f"http://{HOST}:{proxy.port}/users/{user['user_id']}/import",
        files={"file": ("ratings.csv", export, "text/csv")},
        headers={"Authorization": f"Bearer {user['token']}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert body["source"] == "letterboxd" and body["saved"] == 20


def test_nginx_refuses_what_the_api_refuses_in_the_apis_json_shape(replicas):
    proxy, _ = replicas
    user = call_json(proxy.port, Request("POST", "/users"), expect=201)
    too_big = httpx.post(
        f"http://{HOST}:{proxy.port}/users/{user['user_id']}/import",
        files={"file": ("ratings.csv", letterboxd_export(6 * 1024 * 1024), "text/csv")},
        headers={"Authorization": f"Bearer {user['token']}"},
        timeout=60,
    )
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/json"
    assert too_big.json()["detail"]
    batch = httpx.post(
        f"http://{HOST}:{proxy.port}/rate", content=b"{" + b" " * 100_000 + b"}",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {user['token']}"},
    )
    assert batch.status_code == 413 and batch.json()["detail"]


def test_with_every_replica_down_nginx_answers_a_json_502(replicas):
    proxy, servers = replicas
    for server in servers:
        server.kill()
    response = httpx.get(f"http://{HOST}:{proxy.port}/movies/1", timeout=30)
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "No API replica could answer; please retry shortly."}
