"""``single_threaded_blas``: one BLAS thread inside the block, the previous count after."""

from __future__ import annotations

from threadpoolctl import ThreadpoolController

from ml.blas import single_threaded_blas


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in ThreadpoolController().select(user_api="blas").info()]


def test_the_block_runs_on_one_blas_thread_and_the_count_comes_back():
    controller = ThreadpoolController()
    with controller.limit(limits=2, user_api="blas"):
        before = blas_threads()
        assert before and all(n == 2 for n in before)  # numpy's OpenBLAS is found
        with single_threaded_blas():
            assert all(n == 1 for n in blas_threads())
        assert blas_threads() == before
