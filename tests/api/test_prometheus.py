"""GET /metrics: Prometheus' text format, read back with Prometheus' own parser.

Requests and latency per route template (never a raw path with a user id), 4xx and 5xx
counts, the served model's version and load time, database errors and rate-limit refusals;
and, with several uvicorn workers, every worker's counts in one answer (multiprocess mode).
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from bench.harness.api_server import ApiServer, Request, call
from db import repository


def scrape(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        family.name: family.samples
        for family in text_string_to_metric_families(response.text)
    }


def value(families, name: str, **labels) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        sample.value
        for samples in families.values()
        for sample in samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def test_requests_are_counted_and_timed_per_route_template(client, user, rate):
    rate(user, {1: 4.0})
    client.get(f"/users/{user.user_id}/ratings", headers=user.headers)
    client.get(f"/users/{user.user_id}/ratings", headers={"Authorization": "Bearer made-up"})
    client.get("/no/such/path")
    families = scrape(client)
    route = "/users/{user_id}/ratings"
    assert value(families, "cinematch_http_requests_total", route=route, status="200") >= 1
    assert value(families, "cinematch_http_requests_total", route=route, status="401") >= 1
    assert value(families, "cinematch_http_errors_total", route=route, **{"class": "4xx"}) >= 1
    assert value(families, "cinematch_http_request_duration_seconds_count", route=route) >= 2
    assert value(families, "cinematch_http_request_duration_seconds_bucket", route=route,
                 le="+Inf") >= 2
    assert value(families, "cinematch_http_requests_total", route="unmatched",
                 status="404") >= 1
    paths = {
        sample.labels.get("route")
        for sample in families["cinematch_http_requests"]
    }
    assert not any(str(user.user_id) in (p or "") for p in paths), paths


def test_made_up_methods_share_one_label(client):
    """HTTP allows any method token: each new one must not add series to every scrape."""
    for i in range(5):
        client.request(f"M{i}", "/health")
    families = scrape(client)
    methods = {sample.labels.get("method") for sample in families["cinematch_http_requests"]}
    assert not any(m.startswith("M") for m in methods if m), methods
    assert value(families, "cinematch_http_requests_total", method="other") >= 5


def test_the_served_model_and_its_load_time_are_exposed(client, app):
    families = scrape(client)
    version = app.state.services.recommender.model_version
    assert value(families, "cinematch_model_info", version=version) == 1
    assert value(families, "cinematch_model_load_seconds") > 0
    assert value(families, "cinematch_model_loaded_timestamp_seconds") > 1e9


def test_database_errors_and_5xx_are_counted(client, user, monkeypatch):
    before = scrape(client)

    def down(*_args):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(repository, "live_token", down)
    assert client.get(f"/user/{user.user_id}/stats", headers=user.headers).status_code == 503
    after = scrape(client)
    name = "cinematch_database_errors_total"
    assert value(after, name, kind="unavailable") == value(before, name, kind="unavailable") + 1
    errors = "cinematch_http_errors_total"
    route = "/user/{user_id}/stats"
    assert value(after, errors, route=route, **{"class": "5xx"}) == (
        value(before, errors, route=route, **{"class": "5xx"}) + 1
    )


def test_rate_limit_refusals_are_counted(client, user):
    before = value(scrape(client), "cinematch_rate_limit_refusals_total", limit="credential")
    for i in range(8):
        client.put(
            f"/users/{user.user_id}/credentials",
            json={"username": f"name.{i}", "password": "a long enough password"},
            headers=user.headers,
        )
    after = value(scrape(client), "cinematch_rate_limit_refusals_total", limit="credential")
    assert after >= before + 2


def test_the_models_offline_evaluation_has_its_own_path(client):
    body = client.get("/model/evaluation").json()
    assert body["model_version"] and body["rating"]


@pytest.fixture
def two_workers(tiny_model_dir, tmp_path):
    server = ApiServer(tiny_model_dir, tmp_path / "db" / "api.db", workers=2)
    try:
        yield server.start()
    finally:
        server.stop()


def test_with_two_workers_metrics_add_up_every_workers_requests(two_workers):
    port = two_workers.port
    requests = 40  # fresh connections: the kernel spreads them over both workers
    for _ in range(requests):
        assert call(port, Request("GET", "/genres"))[0] == 200
    for _ in range(4):  # whichever worker answers the scrape, it reports both workers' counts
        status, body = call(port, Request("GET", "/metrics"))
        assert status == 200
        families = {f.name: f.samples for f in text_string_to_metric_families(body.decode())}
        assert value(families, "cinematch_http_requests_total", route="/genres") == requests
