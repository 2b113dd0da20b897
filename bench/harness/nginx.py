"""Debian's nginx on 127.0.0.1 in front of API replicas, configured by deploy/nginx.conf.

``NginxProxy`` renders the deployment's own file for loopback: the body limits from the
replicas' settings (``api.proxy_conf``, as the deployment does), the upstream block between
its "upstream servers" markers gets the replicas' ports, ``listen`` a free port, and the
runtime paths (pid, logs, temporary files) a temporary folder, so nginx runs without root and
leaves nothing behind. Everything else (limits, retries, headers) is exactly what deploys; the
client timeouts too, unless a test shortens them (``client_timeout_s``) to see them act in
seconds.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from api import proxy_conf
from api.settings import Settings
from bench.harness.api_server import HOST, REPO, Request, call, free_port

CONFIG = REPO / "deploy" / "nginx.conf"
_UPSTREAMS = re.compile(
    r"(# upstream servers: begin\n).*?(\s*# upstream servers: end)", flags=re.DOTALL
)
_CLIENT_TIMEOUTS = re.compile(r"^(\s*client_(?:header|body)_timeout )\S+;", flags=re.MULTILINE)


def render(
    config: str,
    upstream_ports: list[int],
    port: int,
    runtime: Path,
    settings: Settings | None = None,
    client_timeout_s: float | None = None,
) -> str:
    """deploy/nginx.conf for loopback: the body limits of the replicas' ``settings``, these
    upstreams, this port, runtime files in ``runtime``; ``client_timeout_s`` replaces the
    client header and body timeouts."""
    config = proxy_conf.render(config, settings or Settings())
    if client_timeout_s is not None:
        config, found = _CLIENT_TIMEOUTS.subn(rf"\g<1>{client_timeout_s:g}s;", config)
        if found != 2:
            raise ValueError("deploy/nginx.conf must set client_header/body_timeout once each")
    servers = "".join(
        f"        server {HOST}:{p} max_fails=1 fail_timeout=5s;\n" for p in upstream_ports
    )
    rendered, found = _UPSTREAMS.subn(
        lambda m: m.group(1) + servers + m.group(2).lstrip("\n"), config
    )
    if found != 1:
        raise ValueError("deploy/nginx.conf has lost its 'upstream servers' markers")
    rendered, found = re.subn(r"listen 8080;", f"listen {HOST}:{port};", rendered)
    if found != 1:
        raise ValueError("deploy/nginx.conf must 'listen 8080;' exactly once")
    paths = "".join(
        f"    {name}_temp_path {runtime / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    rendered = rendered.replace("http {\n", f"http {{\n{paths}", 1)
    return f"pid {runtime / 'nginx.pid'};\nerror_log {runtime / 'error.log'} warn;\n" + rendered


class NginxProxy:
    """nginx in the foreground on a free loopback port, balancing ``upstream_ports``."""

    def __init__(
        self,
        upstream_ports: list[int],
        *,
        binary: str = "nginx",
        env: dict[str, str] | None = None,
        client_timeout_s: float | None = None,
    ) -> None:
        #: The replicas' settings (their ``env``), whose body limits nginx applies too.
        self.settings = Settings(**(env or {}))
        self.binary = shutil.which(binary) or "/usr/sbin/nginx"
        self.upstream_ports = upstream_ports
        self.client_timeout_s = client_timeout_s
        self.port = free_port()
        self.runtime = Path(tempfile.mkdtemp(prefix="cinematch-nginx-"))
        self.runtime.chmod(0o755)  # as root, nginx's workers run as nobody
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> NginxProxy:
        conf = self.runtime / "nginx.conf"
        conf.write_text(render(
            CONFIG.read_text(), self.upstream_ports, self.port, self.runtime, self.settings,
            self.client_timeout_s,
        ))
        self._process = subprocess.Popen(
            [self.binary, "-p", str(self.runtime), "-c", str(conf),
             "-e", str(self.runtime / "error.log"), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            try:
                call(self.port, Request("GET", "/health"), timeout=2)
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not answer within {timeout:g} s: {self.error_log()}")

    def error_log(self) -> str:
        path = self.runtime / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.runtime, ignore_errors=True)

    def __enter__(self) -> NginxProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
