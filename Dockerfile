# CineMatch images (deploy/compose.yaml builds both):
#   API (default): docker build -t cinematch-api . && docker run -p 8000:8000 -v cinematch-data:/data cinematch-api
#   UI:            docker build --target ui -t cinematch-ui . && docker run -p 8501:8501 -e CINEMATCH_API_URL=http://api:8000 cinematch-ui

# --- What both images share: Python, quiet pip, an unprivileged user.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Each image installs one extra of pyproject.toml at the compiled pins (constraints.txt), not the
# project itself: the code is copied beside it and run from /app.
COPY pyproject.toml constraints.txt ./

RUN groupadd --system cinematch \
    && useradd --system --gid cinematch --no-create-home --shell /usr/sbin/nologin cinematch

# --- The Streamlit UI: talks to the API over HTTP only, so it needs none of api/, db/, ml/.
FROM base AS ui

RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['ui'], sep='\n')" \
      > /tmp/ui.txt && pip install -r /tmp/ui.txt -c constraints.txt && rm /tmp/ui.txt
COPY streamlit_app.py ./
COPY ui/ ui/
COPY .streamlit/config.toml .streamlit/config.toml
RUN chmod -R a+rX /app

# The API's address and the TMDB key come from the environment (or a mounted secrets.toml).
ENV CINEMATCH_API_URL=http://api:8000 \
    CINEMATCH_CACHE_DIR=/tmp/cinematch-cache
USER cinematch
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["streamlit", "run", "streamlit_app.py", "--server.address", "0.0.0.0", "--server.port", "8501", \
     "--server.headless", "true", "--browser.gatherUsageStats", "false"]

# --- The API (the last stage, so a plain `docker build .` builds it).
FROM base AS api

# Dependencies first so that code changes do not reinstall them.
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['api'], sep='\n')" \
      > /tmp/api.txt && pip install -r /tmp/api.txt -c constraints.txt && rm /tmp/api.txt

RUN mkdir /data && chown cinematch:cinematch /data

# Code and the shipped model stay root-owned: the service can read them, never change them.
COPY ml/ ml/
COPY db/ db/
COPY api/ api/
COPY models/ models/
# The trainer writes its directory atomically via mkdtemp (mode 0700); make it world-readable.
RUN chmod -R a+rX /app

# One BLAS thread per worker (api/__init__.py explains why). Workers: WEB_CONCURRENCY, one per
# CPU the container gets; 2 by default, which the /recommend p99 target on 2 cores needs
# (docs/operations.md, "Workers"). The SQLite default's writers take turns across them.
ENV CINEMATCH_MODEL_DIR=/app/models \
    DATABASE_URL=sqlite:////data/cinematch.db \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 \
    WEB_CONCURRENCY=2

# Ratings and users live on the volume; the image holds no state.
VOLUME ["/data"]

USER cinematch
EXPOSE 8000

# Healthy only when the API answers and its database is reachable ("status": "ok").
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import json, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4); sys.exit(0 if json.load(r).get('status') == 'ok' else 1)"]

# Stock uvicorn (api/server.py: the h11 protocol, metrics shared between workers); the limits on
# heads, bodies and slow clients are nginx's (deploy/). Workers: WEB_CONCURRENCY.
CMD ["python", "-m", "api.server", "--host", "0.0.0.0", "--port", "8000"]
