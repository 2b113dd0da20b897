"""Load from wrk, the standard HTTP load generator in C (Debian's package ``wrk``).

The Python client in ``bench.harness.measure`` runs each connection on a thread of its own, so
at 16 connections its threads queue for the GIL and a request's latency includes that queue;
on this 2-core machine it also takes CPU from the server it measures. wrk drives the same
keep-alive connections from two event loops in C (~35 µs of CPU a request here, against the
server's ~700 µs), so its figures are the server's. Both are reported.

``drive_wrk`` cycles through prebuilt requests (the same bytes the Python client sends), for a
fixed time, and reads back wrk's own latency percentiles and error counts as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness.api_server import HOST, KeepAliveClient, Request

#: Requests per connection are cycled from this many prebuilt ones.
PREBUILT = 2048
PERCENTILES = (50, 95, 99)

# wrk runs the script once per thread; each thread reads the prebuilt requests (separated by a
# NUL byte, which no request contains) and sends them in turn. ``done`` runs once at the end.
SCRIPT = """
local requests = {}
local next_index = 1

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local blob = file:read("*a")
  file:close()
  for request in string.gmatch(blob, "([^%z]+)") do
    table.insert(requests, request)
  end
end

function request()
  local wire = requests[next_index]
  next_index = next_index % #requests + 1
  return wire
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, "percentiles_us": {',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
  local parts = {}
  for _, p in ipairs({%s}) do
    table.insert(parts, string.format('"%d": %d', p, latency:percentile(p)))
  end
  io.write(table.concat(parts, ", "), "}}\\n")
end
""".replace("{%s}", "{" + ", ".join(str(p) for p in PERCENTILES) + "}")


@dataclass(frozen=True)
class WrkRun:
    seconds: float
    requests: int
    errors: int  # socket errors and timeouts, plus answers other than 2xx/3xx
    percentiles_ms: dict[int, float]


def available() -> bool:
    return shutil.which("wrk") is not None


def drive_wrk(
    port: int, make: Callable[[int], Request], connections: int, seconds: float
) -> WrkRun:
    """``connections`` keep-alive connections on 2 wrk threads for ``seconds``."""
    with tempfile.TemporaryDirectory(prefix="cinematch-wrk-") as folder:
        wires = Path(folder) / "requests.bin"
        wires.write_bytes(b"\0".join(KeepAliveClient.encode(make(i)) for i in range(PREBUILT)))
        script = Path(folder) / "cycle.lua"
        script.write_text(SCRIPT)
        command = [
            "wrk", "--threads", "2", "--connections", str(connections),
            "--duration", f"{seconds:g}s", "--timeout", "10s", "--script", str(script),
            f"http://{HOST}:{port}", str(wires),
        ]  # fmt: skip
        completed = subprocess.run(
            command,
            check=True,
            capture_output=True,
            text=True,
        )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return WrkRun(
        seconds=report["duration_us"] / 1e6,
        requests=report["requests"],
        errors=report["errors"] + report["non_2xx"],
        percentiles_ms={int(p): us / 1000 for p, us in report["percentiles_us"].items()},
    )
