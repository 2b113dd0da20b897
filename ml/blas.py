"""One BLAS thread for the many small matrix products of fold-in and ALS.

Why: numpy's OpenBLAS splits even a 128 × 128 solve across every core. When the cores are busy
(a loaded server, a shared machine), its threads wait on each other: measured on 2 shared
cores, a 128 × 128 solve took 8.8 ms instead of 0.14 ms, and one ALS half-sweep 100 s instead
of 1.5 s. Small problems are fastest on one thread, so the code that issues them asks for one,
for the calling thread only where OpenBLAS allows it (``openblas_set_num_threads_local``,
0.3.27+), and restores the previous count afterwards. Elsewhere (another BLAS, no OpenBLAS
found) it does nothing: the results are the same, only the speed differs.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_SETTERS = (  # (thread-local?, setter, getter) in order of preference
    (True, "openblas_set_num_threads_local", None),
    (False, "scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    (False, "openblas_set_num_threads", "openblas_get_num_threads"),
)


@functools.cache
def _thread_control() -> tuple[Callable[[int], int], bool] | None:
    """A function that sets the thread count and returns the previous one, and whether it
    is thread-local; None when numpy's OpenBLAS cannot be found."""
    library = _numpy_openblas()
    if library is None:
        return None
    for local, setter_name, getter_name in _SETTERS:
        setter = getattr(library, setter_name, None)
        if setter is None:
            continue
        if local:
            setter.restype = ctypes.c_int
            return (lambda n, f=setter: int(f(ctypes.c_int(n)))), True
        getter = getattr(library, getter_name or "", None)
        if getter is None:
            continue
        getter.restype = ctypes.c_int

        def swap(
            n: int, get: Callable[[], int] = getter, put: Callable[..., object] = setter
        ) -> int:
            previous = int(get())
            put(ctypes.c_int(n))
            return previous

        return swap, False
    return None


def _numpy_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS that numpy's wheel bundles (already loaded, so this opens the same copy)."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    candidates = sorted(libs.glob("libscipy_openblas*")) + sorted(libs.glob("libopenblas*"))
    for path in candidates:
        try:
            return ctypes.CDLL(str(path))
        except OSError:
            continue
    return None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with one BLAS thread, then put the previous count back."""
    control = _thread_control()
    if control is None:
        yield
        return
    swap, _ = control
    previous = swap(1)
    try:
        yield
    finally:
        swap(previous)
