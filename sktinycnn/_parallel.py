"""Threads inside one fit or predict: how many, a team of them, BLAS on one.

``n_jobs`` has scikit-learn's meaning (:func:`n_threads`): None is 1 unless
``joblib.parallel_config(n_jobs=...)`` says otherwise, -1 is every core the
process may use, ``-2`` all but one. Threads never outnumber what the process
is allowed: ``joblib.cpu_count`` (affinity and cgroup quotas), and the
``OMP_NUM_THREADS`` limit that joblib's loky workers (``inner_max_num_threads``,
by default ``cpu_count // n_jobs``) and Dask's workers are started with, so a
fit inside ``GridSearchCV(n_jobs=k)`` does not oversubscribe the cores.

:class:`ThreadTeam` runs one job on the calling thread and its helpers at
once. The helpers live as long as the team (one fit, one predict), so a
mini-batch costs one wake-up per helper, not a thread start; the work is
handed out from a shared counter, so a helper that a busy machine delays
just takes fewer chunks. The caller decides what each chunk writes; results
never depend on which thread ran which chunk.

NumPy and the standard library only (joblib and threadpoolctl, which
scikit-learn depends on, for the core count and the BLAS limit).
"""

import os
import threading
from contextlib import contextmanager

import numpy as np

__all__ = [
    "MIN_PARALLEL_WORK",
    "ThreadTeam",
    "allowed_threads",
    "n_threads",
    "one_blas_thread",
    "team_size",
]

#: Work of one parallel round, in multiply-adds of the convolution's GEMM
#: (``images * n_pixels * n_rows * n_filters``), below which the serial path
#: runs: below it, waking the helpers and the GIL held by each chunk's Python
#: part cost more than the second core gains (docs/user_guide/scaling.rst).
MIN_PARALLEL_WORK = 3 * 10**6


def allowed_threads():
    """Threads the process may run at once: cores, capped by ``OMP_NUM_THREADS``.

    joblib's loky workers and Dask's workers are started with
    ``OMP_NUM_THREADS`` set to their share of the cores, which is how they
    tell the libraries in them (OpenMP, BLAS, and this one) not to
    oversubscribe.
    """
    from joblib import cpu_count

    allowed = cpu_count()
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) >= 1:
        allowed = min(allowed, int(value))
    return max(1, allowed)


def n_threads(n_jobs):
    """Threads for ``n_jobs`` (scikit-learn's meaning), within the allowance.

    Parameters
    ----------
    n_jobs : int or None
        None: ``joblib.parallel_config``'s ``n_jobs`` if set, else 1. A
        negative value counts back from every allowed thread (-1: all).

    Returns
    -------
    n : int
        At least 1 and at most :func:`allowed_threads`.
    """
    if n_jobs is None:
        from joblib.parallel import get_active_backend

        n_jobs = get_active_backend()[1]
        if n_jobs is None:
            return 1
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning: use None, -1 or a positive int.")
    if n_jobs == 1:
        return 1
    allowed = allowed_threads()
    if n_jobs < 0:
        return max(1, allowed + 1 + n_jobs)
    return min(n_jobs, allowed)


def team_size(requested, n_chunks, work):
    """Threads for one round of ``n_chunks`` chunks and ``work`` multiply-adds.

    ``requested`` (from :func:`n_threads`) when the round has the work to pay
    for them (:data:`MIN_PARALLEL_WORK`), never more than it has chunks; else
    1, the serial path.
    """
    if work < MIN_PARALLEL_WORK:
        return 1
    return max(1, min(requested, n_chunks))


_BLAS_LIMIT = {
    "lock": threading.Lock(), "users": 0, "limiter": None, "controller": None
}


@contextmanager
def one_blas_thread():
    """Run BLAS on one thread meanwhile (process-wide; nests across threads).

    A chunk's GEMMs are small: split over two threads they gain little on an
    idle machine, and when the other core is busy the calling thread waits a
    whole scheduler time slice for its helper at every call; with a team of
    threads, each doing its own chunks, one BLAS thread each is what keeps
    them to their cores. OpenBLAS's thread count is one number for the whole
    process (its ``openblas_set_num_threads_local`` sets the same global with
    a pthreads build), so the limit holds for every thread of the process
    while a fit or predict runs. The first of concurrent users sets it and
    the last one restores the original. The controller is made once: finding
    the BLAS libraries costs more than a small predict.
    """
    state = _BLAS_LIMIT
    with state["lock"]:
        if state["users"] == 0:
            if state["controller"] is None:
                from threadpoolctl import ThreadpoolController

                state["controller"] = ThreadpoolController()
            state["limiter"] = state["controller"].limit(limits=1, user_api="blas")
        state["users"] += 1
    try:
        yield
    finally:
        with state["lock"]:
            state["users"] -= 1
            if state["users"] == 0:
                state["limiter"].restore_original_limits()
                state["limiter"] = None


class ThreadTeam:
    """The calling thread and ``n - 1`` helpers running one job at a time.

    Use as a context manager (the helpers are joined on exit, whatever
    happened). :meth:`run` calls ``job(worker)`` on every member, the caller
    being worker 0, and returns once all have finished; the first exception
    raised by any member is raised again in the caller, after every helper
    has finished, so no helper still writes into buffers the caller reuses.
    The helpers run under the caller's NumPy error state (``np.errstate``),
    which is per thread.
    """

    def __init__(self, n):
        self.n = int(n)
        self._job = None
        self._stop = False
        #: Set while a member's exception (or Ctrl-C) is ending the job:
        #: jobs that hand out chunks stop handing them out.
        self.cancelled = False
        self._errors = [None] * self.n
        self._start = [threading.Event() for _ in range(self.n)]
        self._done = [threading.Event() for _ in range(self.n)]
        self._helpers = [
            threading.Thread(target=self._serve, args=(i,), daemon=True,
                             name=f"sktinycnn-worker-{i}")
            for i in range(1, self.n)
        ]
        for helper in self._helpers:
            helper.start()

    def _serve(self, worker):
        start, done = self._start[worker], self._done[worker]
        while True:
            start.wait()
            start.clear()
            if self._stop:
                return
            try:
                # NumPy's error state is per thread: the caller's holds here.
                with np.errstate(**self._errstate):
                    self._job(worker)
            except BaseException as error:  # handed to the caller
                self.cancelled = True
                self._errors[worker] = error
            finally:
                done.set()

    def run(self, job):
        """Run ``job(worker)`` on every member; return when all are done."""
        if self.n == 1:
            job(0)
            return
        self._job, self._errstate = job, np.geterr()
        for i in range(1, self.n):
            self._start[i].set()
        try:
            job(0)
        except BaseException:
            self.cancelled = True
            raise
        finally:
            # Even on KeyboardInterrupt: the helpers finish their chunk
            # before the caller touches the buffers again.
            for i in range(1, self.n):
                self._done[i].wait()
                self._done[i].clear()
            self._job = None
        errors = [e for e in self._errors if e is not None]
        self._errors = [None] * self.n
        self.cancelled = False
        if errors:
            raise errors[0]

    def close(self):
        """Stop and join the helpers."""
        self._stop = True
        for i in range(1, self.n):
            self._start[i].set()
        for helper in self._helpers:
            helper.join()
        self._helpers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False
