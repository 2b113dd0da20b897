"""kill -9 the API mid-stream, restart it: every acknowledged rating is still there.

No rating is lost on a redeploy or a crash. Here the API runs as its own uvicorn
process on a SQLite file; writer threads post rating batches (new films and re-rates) as fast
as it answers, the process is SIGKILLed while they are in flight, then started again on the
same file. Repeated ``CINEMATCH_CRASH_ROUNDS`` times (default 3; docs/reliability.md used 10).

After every kill, and at the end:
* ``PRAGMA integrity_check`` says ok;
* each (user, film) holds the value of its last acknowledged write, or, if a later write was
  in flight when the process died, that newer value: an unanswered write may or may not have
  landed, but nothing acknowledged may be lost;
* nothing is stored that was never sent;
* the restarted API itself serves exactly what the file holds.

The writers are scripts hammering one user each, far past a person's pace, so the per-user
write limit is off for this test (test_security.py covers it).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field

from bench.harness.api_server import HOST, ApiServer, Request, call_json
from tests.api.conftest import ACTION, COMEDY, ROMANCE
from tests.reliability.conftest import integrity, stored_ratings

ROUNDS = int(os.environ.get("CINEMATCH_CRASH_ROUNDS", "3"))
WRITERS = 4
FILMS = [*ACTION, *ROMANCE, *COMEDY]
VALUES = [v / 2 for v in range(1, 11)]
#: Acknowledged writes to wait for in a round before the kill is armed.
WARM_UP_WRITES = 40

Key = tuple[int, int]


@dataclass
class Ledger:
    """What the clients know: for each (user, film), the values it may legitimately hold."""

    allowed: dict[Key, set[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: int = 0
    ratings_acknowledged: int = 0
    unanswered: int = 0
    in_flight: list[tuple[int, dict[int, float]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def acknowledge(self, user_id: int, batch: dict[int, float]) -> None:
        with self.lock:
            for movie_id, value in batch.items():
                self.allowed[(user_id, movie_id)] = {value}
            self.acknowledged += 1
            self.ratings_acknowledged += len(batch)

    def in_doubt(self, user_id: int, batch: dict[int, float]) -> None:
        # Died in flight: the old value (or no row, None) and the new one are both legitimate.
        with self.lock:
            for movie_id, value in batch.items():
                self.allowed.setdefault((user_id, movie_id), {None}).add(value)  # type: ignore[arg-type]
            self.unanswered += 1
            self.in_flight.append((user_id, batch))

    def violations(self, stored: dict[Key, float]) -> list[str]:
        problems = []
        for key, values in self.allowed.items():
            held = stored.get(key)
            if held not in values:
                problems.append(f"user {key[0]} film {key[1]}: holds {held}, expected {values}")
        problems += [
            f"user {key[0]} film {key[1]}: stored {value}, never sent"
            for key, value in stored.items()
            if key not in self.allowed
        ]
        return problems


def write_until_the_server_dies(port: int, user_id: int, token: str, ledger: Ledger, seed: int):
    """Post batches of 1–5 ratings back to back until a request goes unanswered."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        while True:
            batch = {m: rng.choice(VALUES) for m in rng.sample(FILMS, rng.randint(1, 5))}
            body = json.dumps(
                {
                    "user_id": user_id,
                    "ratings": [{"movie_id": m, "rating": r} for m, r in batch.items()],
                }
            )
            try:
                conn.request(
                    "POST",
                    "/rate",
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        "Authorization": f"Bearer {token}",
                    },
                )
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                ledger.in_doubt(user_id, batch)
                return
            if response.status != 200:  # any answer but success is a bug here
                ledger.errors.append(f"user {user_id}: {response.status}")
                return
            ledger.acknowledge(user_id, batch)
    finally:
        conn.close()


def served_ratings(server: ApiServer, users: dict[int, str]) -> dict[Key, float]:
    served: dict[Key, float] = {}
    for user_id, token in users.items():
        listed = call_json(server.port, Request("GET", f"/users/{user_id}/ratings", token=token))
        served.update({(user_id, r["movie_id"]): r["rating"] for r in listed["ratings"]})
    return served


def test_kill_9_mid_stream_loses_no_acknowledged_rating(api_server, tmp_path):
    database = tmp_path / "crash.db"
    server = api_server(database=database, env={"CINEMATCH_WRITE_LIMIT_PER_MINUTE": "0"})
    users = {}
    for _ in range(WRITERS):
        created = call_json(server.port, Request("POST", "/users"), expect=201)
        users[created["user_id"]] = created["token"]
    ledger = Ledger()
    rng = random.Random(5)
    summary = []
    for round_number in range(1, ROUNDS + 1):
        before = (ledger.acknowledged, ledger.ratings_acknowledged)
        ledger.in_flight.clear()
        writers = [
            threading.Thread(
                target=write_until_the_server_dies,
                args=(server.port, user_id, token, ledger, round_number * 100 + k),
            )
            for k, (user_id, token) in enumerate(users.items())
        ]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 30
        while ledger.acknowledged - before[0] < WARM_UP_WRITES and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.5))  # mid-stream, at a moment no one chose
        server.kill()
        for writer in writers:
            writer.join(timeout=30)
        assert not any(writer.is_alive() for writer in writers)
        assert ledger.errors == []

        assert integrity(database) == "ok"
        stored = stored_ratings(database)
        assert ledger.violations(stored) == []
        landed = sum(
            all(stored.get((user_id, m)) == v for m, v in batch.items())
            for user_id, batch in ledger.in_flight
        )
        server.start()  # same file, same port: a redeploy
        assert served_ratings(server, users) == stored_ratings(database)
        summary.append(
            f"round {round_number}: {ledger.acknowledged - before[0]} batches "
            f"({ledger.ratings_acknowledged - before[1]} ratings) acknowledged, all present; "
            f"{len(ledger.in_flight)} in flight at the kill, {landed} of them found with "
            "their new values; integrity ok"
        )
    assert ledger.acknowledged >= ROUNDS * WARM_UP_WRITES
    print(f"\ncrash safety: {ROUNDS} kill -9 rounds, {len(ledger.allowed)} (user, film) pairs")
    print("\n".join(f"  {line}" for line in summary))
