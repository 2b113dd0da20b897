"""CineMatch's HTTP API (FastAPI): run with ``python -m api.server`` (stock uvicorn)."""

import os

# One BLAS thread per process: a request's algebra is one small matrix-vector product, and
# OpenBLAS's thread team made /recommend 25x slower under concurrent requests on 2 cores.
# Set before numpy is first imported, hence here; an operator's explicit setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
