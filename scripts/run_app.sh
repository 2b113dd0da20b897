#!/usr/bin/env bash
# Start the API and the UI on the shipped model and SQLite; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
API_PORT=${API_PORT:-8000}
UI_PORT=${UI_PORT:-8501}
export CINEMATCH_MODEL_DIR=${CINEMATCH_MODEL_DIR:-models}
export DATABASE_URL=${DATABASE_URL:-sqlite:///data/cinematch.db}
# make run may start on a new machine: an empty SQLite file is what it wants there.
export CINEMATCH_CREATE_DB=${CINEMATCH_CREATE_DB:-true}
export CINEMATCH_API_URL=${CINEMATCH_API_URL:-http://127.0.0.1:$API_PORT}
# Two API workers, one per core of a 2-core machine (docs/operations.md, "Workers").
export WEB_CONCURRENCY=${WEB_CONCURRENCY:-2}
mkdir -p data

pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

"$PY" -m api.server --host 127.0.0.1 --port "$API_PORT" --log-level warning &
pids+=($!)
for _ in $(seq 1 100); do
  if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('$CINEMATCH_API_URL/health', timeout=1)" 2>/dev/null; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "error: the API did not start (see above)" >&2; exit 1; fi
  sleep 0.2
done
"$PY" -m streamlit run streamlit_app.py --server.port "$UI_PORT" --server.address 127.0.0.1 \
  --server.headless true --browser.gatherUsageStats false >/dev/null &
pids+=($!)
echo
echo "  CineMatch is running (Ctrl-C stops both):"
echo "    App      http://127.0.0.1:$UI_PORT"
echo "    API      $CINEMATCH_API_URL   (Swagger: $CINEMATCH_API_URL/docs)"
echo
wait -n "${pids[@]}"
