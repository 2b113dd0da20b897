"""deploy/compose.yaml and the Dockerfile, checked as far as a machine without Docker can.

Docker cannot run here, so the file is parsed and its structure checked: the services the
deployment needs, a healthcheck on each, a start order that waits for health (and for the
migration to finish), one database for all, the replicas behind nginx, and images built from
stages and files that exist. The same topology runs as real processes in the replica tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVICES = {"postgres", "migrate", "api-1", "api-2", "nginx-conf", "nginx", "ui", "prometheus"}
REPLICAS = ("api-1", "api-2")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def depends(service: dict) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def test_the_deployment_has_exactly_its_services(services):
    assert set(services) == SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(services, name):
    check = services[name]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1
    assert check.get("disable") is not True
    assert check["interval"] and check["timeout"] and check["retries"] >= 1


def test_services_start_only_when_what_they_need_is_healthy(services):
    assert depends(services["migrate"]) == {"postgres": "service_healthy"}
    for replica in REPLICAS:
        assert depends(services[replica]) == {
            "postgres": "service_healthy",
            "migrate": "service_completed_successfully",
        }
    assert depends(services["nginx"]) == {
        **dict.fromkeys(REPLICAS, "service_healthy"),
        "nginx-conf": "service_completed_successfully",
    }
    assert depends(services["prometheus"]) == dict.fromkeys(REPLICAS, "service_healthy")
    assert depends(services["ui"]) == {"nginx": "service_healthy"}


def test_the_start_order_has_no_cycle(services):
    done: set[str] = set()
    while len(done) < len(services):
        ready = {n for n, s in services.items() if n not in done and set(depends(s)) <= done}
        assert ready, f"dependency cycle among {set(services) - done}"
        done |= ready


def test_migrate_runs_once_and_the_replicas_do_not_migrate(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "-m", "db.migrate"]  # what `make migrate` runs
    assert migrate["restart"] == "no"
    for replica in REPLICAS:
        assert services[replica]["environment"]["CINEMATCH_MIGRATE_ON_START"] == "false"
        assert services[replica].get("restart") == "unless-stopped"


def test_everything_uses_the_one_postgres_service_with_a_password_from_outside(services):
    postgres = services["postgres"]["environment"]
    assert "${POSTGRES_PASSWORD:?" in postgres["POSTGRES_PASSWORD"]
    for name in ("migrate", *REPLICAS):
        url = services[name]["environment"]["DATABASE_URL"]
        match = re.fullmatch(r"postgresql\+psycopg://(\w+):(.+)@postgres:5432/(\w+)", url)
        assert match, url
        user, password, database = match.groups()
        assert (user, database) == (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
        assert password.startswith("${POSTGRES_PASSWORD")  # never a literal password
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])


def test_two_identical_replicas_answer_health_on_port_8000(services):
    first, second = (services[name] for name in REPLICAS)
    assert first == second
    assert first["build"]["target"] == "api"
    assert "127.0.0.1:8000/health" in " ".join(first["healthcheck"]["test"])
    assert "ports" not in first  # reached only through nginx


def nginx_port() -> int:
    """The port deploy/nginx.conf listens on."""
    (port,) = re.findall(r"^\s*listen\s+(\d+);", (DEPLOY / "nginx.conf").read_text(), re.M)
    return int(port)


def test_nginx_balances_exactly_the_replicas_on_its_published_port(services):
    config = (DEPLOY / "nginx.conf").read_text()
    upstream = re.findall(r"^\s*server\s+([\w.-]+:\d+)", config, flags=re.MULTILINE)
    assert sorted(upstream) == [f"{name}:8000" for name in REPLICAS]
    nginx = services["nginx"]
    assert f"{nginx_port()}:{nginx_port()}" in nginx["ports"]
    assert f"127.0.0.1:{nginx_port()}/health" in " ".join(nginx["healthcheck"]["test"])


def test_nginx_runs_the_rendered_config_and_nginx_and_the_ui_are_the_only_trusted_proxies(
    services,
):
    """The UI names each browser in X-Forwarded-For and nginx appends the UI's address: the
    replicas believe exactly those two fixed addresses."""
    render, nginx = services["nginx-conf"], services["nginx"]
    assert render["command"][:3] == ["python", "-m", "api.proxy_conf"]
    assert f"./nginx.conf:{render['command'][3]}:ro" in render["volumes"]
    (volume,) = (v for v in nginx["volumes"] if v.startswith("nginx-conf:"))
    rendered = render["command"][-1].replace("/data", volume.split(":")[1])
    assert nginx["command"][:3] == ["nginx", "-c", rendered]
    addresses = {services[name]["networks"]["backend"]["ipv4_address"] for name in ("nginx", "ui")}
    assert len(addresses) == 2
    for replica in REPLICAS:
        trusted = services[replica]["environment"]["CINEMATCH_TRUSTED_PROXIES"]
        assert set(trusted.split(",")) == addresses


def test_the_ui_talks_to_the_api_through_nginx(services):
    ui = services["ui"]
    assert ui["build"]["target"] == "ui"
    assert ui["environment"]["CINEMATCH_API_URL"] == f"http://nginx:{nginx_port()}"
    assert "8501:8501" in ui["ports"]


def test_the_dockerfile_builds_both_targets_from_files_that_exist():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", dockerfile, flags=re.MULTILINE)
    assert stages == ["base", "ui", "api"]  # the API last: a plain `docker build .` builds it
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for source in re.findall(r"^COPY (\S+) ", dockerfile, flags=re.MULTILINE):
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is not in .dockerignore's allow-list"
    assert not any(".streamlit/secrets" in name or name.startswith("data") for name in allowed)
    # The API runs on stock uvicorn (api/server.py); nginx guards it (deploy/nginx.conf).
    assert 'CMD ["python", "-m", "api.server", "--host", "0.0.0.0", "--port", "8000"]' in (
        dockerfile
    )


def test_nginx_renders_its_body_limits_from_the_apis_settings(services):
    """One setting: the replicas' environment is the renderer's, and the committed file
    carries the defaults' values."""
    from api.proxy_conf import import_body_bytes, render
    from api.settings import Settings

    assert services["nginx-conf"]["environment"] == services["api-1"]["environment"]
    committed = (DEPLOY / "nginx.conf").read_text()
    assert render(committed, Settings()) == committed
    env = services["api-1"]["environment"]
    settings = Settings(CINEMATCH_IMPORT_MAX_BYTES=env["CINEMATCH_IMPORT_MAX_BYTES"])
    assert f"client_max_body_size {import_body_bytes(settings)};" in render(committed, settings)
    smaller = render(committed, Settings(CINEMATCH_IMPORT_MAX_BYTES=2 * 1024 * 1024))
    assert f"client_max_body_size {2 * 1024 * 1024 + 64 * 1024};" in smaller


def _location(config: str, head: str) -> str:
    start = config.index(head)
    return config[start : config.index("\n        }", start)]


def test_nginx_re_sends_only_the_repeatable_posts():
    config = (DEPLOY / "nginx.conf").read_text()
    live = "\n".join(line for line in config.splitlines() if not line.lstrip().startswith("#"))
    assert live.count("non_idempotent") == 2
    assert "non_idempotent" in _location(live, "location = /rate {")
    assert "non_idempotent" in _location(live, "location ~ ^/users/[^/]+/import$ {")
    assert "location = /users" not in live and "location = /sessions" not in live


def test_nginx_errors_are_json_and_hsts_is_set_where_tls_would_end():
    config = (DEPLOY / "nginx.conf").read_text()
    for code in (413, 502, 504):
        assert f"error_page {code} /_errors/{code}.json;" in config
        body = re.search(rf"return {code} '(.*?)\\n';", config)
        assert body and json.loads(body.group(1))["detail"], code
    tls = [line.strip() for line in config.splitlines() if "Strict-Transport-Security" in line]
    assert tls and all(line.startswith("#") for line in tls)  # only in the TLS server
    assert "listen 8443 ssl;" in config


def test_nginx_guards_against_huge_heads_and_slow_clients():
    # The API process leaves these to the edge (api/server.py); tests/reliability/
    # test_front_door.py sees each one act through this file.
    config = (DEPLOY / "nginx.conf").read_text()
    live = "\n".join(line for line in config.splitlines() if not line.lstrip().startswith("#"))
    directives: dict[str, str] = {}  # the server's own (the first of each)
    for name, value in re.findall(
        r"^\s*(client_\w+|large_client_header_buffers)\s+([^;]+);", live, flags=re.MULTILINE
    ):
        directives.setdefault(name, value)
    assert directives["large_client_header_buffers"] == "4 16k"
    assert directives["client_header_buffer_size"] == "1k"
    assert directives["client_header_timeout"] == "10s"
    assert directives["client_body_timeout"] == "10s"
    assert directives["client_max_body_size"] == "65536"
    assert "proxy_request_buffering off" not in live  # a body is read whole before a replica
    assert "error_page 494 =431 /_errors/431.json;" in live


def test_prometheus_scrapes_every_replica():
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"]
    (job,) = scrape
    assert job["metrics_path"] == "/metrics"
    assert sorted(job["static_configs"][0]["targets"]) == [f"{name}:8000" for name in REPLICAS]


def test_the_public_front_door_does_not_expose_the_metrics():
    config = (DEPLOY / "nginx.conf").read_text()
    assert "return 404" in _location(config, "location = /metrics {")
