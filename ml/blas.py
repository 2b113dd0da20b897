"""One BLAS thread for the many small matrix products of fold-in and ALS, through threadpoolctl.

OpenBLAS splits even a 128 × 128 solve across every core, and on busy cores its threads wait on
each other (8.8 ms instead of 0.14 ms). One ``ThreadpoolController`` is kept: building one
scans the loaded libraries (~2 ms), and fold-in runs on /recommend's personal path.
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
