"""CineMatch's HTTP API (FastAPI): run with ``python -m api.server`` (stock uvicorn)."""

import os

# One BLAS thread per process. A request's linear algebra is one small matrix-vector product;
# OpenBLAS's default thread team spends far longer waking and spinning than computing, and
# under concurrent requests on 2 cores it made /recommend 25x slower (4 ms instead of 0.15 ms
# of CPU for the 10k-film model). Parallelism comes from serving requests, not from BLAS.
# This must run before numpy is first imported, hence the package's __init__; an operator's
# explicit setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
