# CineMatch API: `docker build -t cinematch-api . && docker run -p 8000:8000 -v cinematch-data:/data cinematch-api`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first so that code changes do not reinstall them.
COPY requirements_api.txt ./
RUN pip install -r requirements_api.txt

RUN groupadd --system cinematch \
    && useradd --system --gid cinematch --no-create-home --shell /usr/sbin/nologin cinematch \
    && mkdir /data \
    && chown cinematch:cinematch /data

# Code and the shipped model stay root-owned: the service can read them, never change them.
COPY ml/ ml/
COPY db/ db/
COPY api/ api/
COPY models/ models/
# The trainer writes its directory atomically via mkdtemp (mode 0700); make it world-readable.
RUN chmod -R a+rX /app

# One BLAS thread per worker (api/__init__.py explains why); workers come from WEB_CONCURRENCY.
ENV CINEMATCH_MODEL_DIR=/app/models \
    DATABASE_URL=sqlite:////data/cinematch.db \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 \
    WEB_CONCURRENCY=1

# Ratings and users live on the volume; the image holds no state.
VOLUME ["/data"]

USER cinematch
EXPOSE 8000

# Healthy only when the API answers and its database is reachable ("status": "ok").
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import json, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4); sys.exit(0 if json.load(r).get('status') == 'ok' else 1)"]

# uvicorn with the front door (api/server.py: 431 for heads over 16 kB, slow clients cut off,
# readable 413s); it reads its worker count from WEB_CONCURRENCY.
CMD ["python", "-m", "api.server", "--host", "0.0.0.0", "--port", "8000"]
