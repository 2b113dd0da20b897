"""Closed-loop load on a running API and the figures read from it: latency percentiles and
the server's own CPU time (what stays comparable when other work shares the machine)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness.api_server import KeepAliveClient, Request

#: The longest one ``drive`` runs, so a slow machine cannot stretch a benchmark.
MAX_SECONDS = 8.0


def drive(
    port: int,
    make: Callable[[int], Request],
    clients: int,
    total: int,
    max_seconds: float = MAX_SECONDS,
) -> tuple[float, list[float], int]:
    """``total`` requests split over ``clients`` keep-alive connections, stopping early after
    ``max_seconds`` so a slow machine cannot stretch the run; (seconds, ms, errors)."""
    per_client = total // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        conn = KeepAliveClient(port)
        wires = [conn.encode(make(c * per_client + k)) for k in range(per_client)]
        conn.exchange(wires[0])  # open the connection before the clock starts
        start_gate.wait()
        own = latencies[c]
        deadline = time.perf_counter() + max_seconds
        for wire in wires:
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            status, _ = conn.exchange(wire)
            own.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                errors[c] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - t0
    return seconds, [ms for own in latencies for ms in own], sum(errors)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else 0.0


def process_tree_cpu_seconds(pid: int) -> float | None:
    """User+system CPU of ``pid`` and its descendants (Linux /proc), or None elsewhere.

    CPU per request is the figure that stays comparable when other work shares the machine.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += process_tree_cpu_seconds(int(child)) or 0.0
        return total
    except (OSError, ValueError, IndexError):
        return None


def cpu_ms_per_request(pid: int, cpu_before: float | None, requests: int) -> float | None:
    """Server CPU ms per request since ``cpu_before`` (``process_tree_cpu_seconds``)."""
    cpu_after = process_tree_cpu_seconds(pid)
    if cpu_before is None or cpu_after is None or not requests:
        return None
    return (cpu_after - cpu_before) * 1000 / requests
