"""The load test of bench/load.py, shorter: 8 clients for 10 s against uvicorn in its own process.

Same visitors, same bookkeeping, same verification as the full run (docs/reliability.md):
every acknowledged write must be in the SQLite file with its value, nothing else may be, no
request may fail, and no issued token may appear in the server's JSON log.
"""

from __future__ import annotations

from bench.load import ENDPOINTS, run_load

CLIENTS = 8
SECONDS = 10.0


def test_eight_clients_for_ten_seconds_lose_no_write_and_see_no_error(tiny_model_dir, tmp_path):
    result = run_load(tiny_model_dir, clients=CLIENTS, seconds=SECONDS, workdir=tmp_path)
    assert result.errors == [], result.errors[:10]
    assert result.lost_writes == [], result.lost_writes[:10]
    assert result.unexpected_rows == [], result.unexpected_rows[:10]
    assert result.stale_reads == 0
    assert result.integrity == "ok"
    assert result.tokens_in_log == 0
    # The mix really ran: every endpoint, many visitors, writes of every kind.
    assert {e.endpoint for e in result.endpoints if e.requests > 0} == set(ENDPOINTS)
    assert result.users >= CLIENTS * 3
    assert result.rating_writes >= result.users and result.deletes > 0
    assert result.acknowledged_keys > 100
