"""One BLAS thread for the many small matrix products of fold-in and ALS, through threadpoolctl.

numpy's OpenBLAS splits even a 128 × 128 solve across every core; when the cores are busy its
threads wait on each other (measured on 2 shared cores: a 128 × 128 solve took 8.8 ms instead
of 0.14 ms, one ALS half-sweep 100 s instead of 1.5 s). Code that issues small problems runs
them inside ``single_threaded_blas()``.

The limit is process-wide (threadpoolctl sets the library's thread count and puts the previous
one back); the API process runs BLAS on one thread anyway (``api/__init__.py``). One
``ThreadpoolController`` is kept: building one scans the loaded libraries, ~2 ms a call
against ~15 µs for ``limit`` on a kept one, and fold-in runs on /recommend's personal path.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from typing import Any

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded_blas() -> AbstractContextManager[Any]:
    """Run the block with one BLAS thread, then put the previous count back."""
    return _controller().limit(limits=1, user_api="blas")
