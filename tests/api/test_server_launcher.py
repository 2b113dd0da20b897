"""``python -m api.server`` is stock uvicorn with safe defaults (the h11 protocol, which limits
request heads); the caller's options pass through and win."""

from __future__ import annotations

from api.server import APP, HTTP, command_line, uvicorn_command


def parsed(argv: list[str]) -> dict:
    context = uvicorn_command.make_context("api.server", command_line(argv))
    return context.params


def test_the_launcher_serves_the_app_with_uvicorns_h11_protocol():
    params = parsed(["--port", "0"])
    assert params["app"] == APP and params["factory"] is True
    assert params["http"] == HTTP == "h11"
    assert params["proxy_headers"] is False  # X-Forwarded-For is the app's setting


def test_the_callers_options_pass_through():
    params = parsed(["--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--no-access-log"])
    assert (params["host"], params["port"], params["workers"]) == ("0.0.0.0", 8000, 2)
    assert params["access_log"] is False
    assert params["http"] == HTTP
    assert parsed(["--http", "httptools"])["http"] == "httptools"
