"""Grid searches on one machine with joblib's default (loky) process backend.

The oracle is the serial run: every candidate's estimator carries its own
``random_state``, so ``n_jobs=2`` must reproduce ``n_jobs=1``'s scores exactly.
The BLAS thread count is read inside the workers by a scorer, which runs in
the worker process right after the candidate's fit.
"""

import os

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from oracles import (
    assert_same_cv_results,
    fit_pids,
    fit_quietly,
    grid_search,
    process_id,
)
from threadpoolctl import threadpool_info


def test_grid_search_loky_equals_serial(search_digits):
    # max_iter=8 is meant to stop before convergence: fit_quietly's filter is
    # handed on to the workers and honoured there too.
    X, y = search_digits
    serial = fit_quietly(grid_search(n_jobs=1), X, y)
    with joblib.parallel_config(backend="loky"):
        parallel = fit_quietly(grid_search(n_jobs=2), X, y)

    assert_same_cv_results(serial.cv_results_, parallel.cv_results_)
    assert np.all(np.isfinite(serial.cv_results_["mean_test_score"]))
    # The scores depend on the candidate: the comparison is not vacuous.
    assert len(set(serial.cv_results_["mean_test_score"])) == 4
    assert serial.best_params_ == parallel.best_params_
    assert_allclose(
        serial.best_estimator_.coef_, parallel.best_estimator_.coef_, rtol=1e-12
    )


def blas_threads(estimator, X, y):
    """Scorer: the largest BLAS thread pool of the process it runs in."""
    pools = [info["num_threads"] for info in threadpool_info()
             if info["user_api"] == "blas"]
    return float(max(pools))


def _worker_readings(search_digits, **config):
    X, y = search_digits
    search = grid_search(
        n_jobs=2, scoring={"blas": blas_threads, "pid": process_id}, refit=False
    )
    with joblib.parallel_config(backend="loky", **config):
        fit_quietly(search, X, y)
    return np.asarray(search.cv_results_["mean_test_blas"]), fit_pids(search)


@pytest.mark.parametrize("inner_max_num_threads", [1, 2])
def test_loky_workers_use_the_configured_blas_threads(
    search_digits, inner_max_num_threads
):
    # joblib.parallel_config(inner_max_num_threads=k) caps BLAS (and OpenMP)
    # pools in each loky worker; k=2 shows the reading follows the setting.
    blas, pids = _worker_readings(
        search_digits, inner_max_num_threads=inner_max_num_threads
    )
    assert os.getpid() not in pids  # measured in the workers, not here
    assert_array_equal(blas, inner_max_num_threads)


def test_loky_workers_do_not_oversubscribe_by_default(search_digits):
    # Without a setting, loky gives each of n_jobs workers cpu_count // n_jobs
    # BLAS threads, so that workers times threads stay within the cores.
    blas, pids = _worker_readings(search_digits)
    assert os.getpid() not in pids
    assert_array_equal(blas, max(1, joblib.cpu_count() // 2))


def test_progress_bar_shows_every_fit_run_in_loky_workers(
    search_digits, capsys, monkeypatch
):
    # scikit-learn's ProgressBar on the search propagates to each candidate's
    # TinyConvRegressor; the workers report back to this process, which draws
    # one bar per (candidate, split) fit, all complete, and one for the refit.
    from sklearn.callback import ProgressBar  # scikit-learn >= 1.9

    monkeypatch.setenv("COLUMNS", "200")  # rich's width: no truncated lines
    X, y = search_digits
    search = grid_search(n_jobs=2).set_callbacks(
        ProgressBar(max_propagation_depth=None)
    )
    with joblib.parallel_config(backend="loky"):
        fit_quietly(search, X, y)

    lines = capsys.readouterr().out.splitlines()
    fits = [line for line in lines if "candidate-split-evaluation" in line]
    assert len(fits) == 4 * 3
    assert all(" 100% " in f"{line} " for line in fits)
    numbers = sorted(int(line.split("fit #")[1].split()[0]) for line in fits)
    assert numbers == list(range(12))
    assert any("refit-with-best-params" in line and "100%" in line for line in lines)


def fit_threads(estimator, X, y):
    """Scorer: the threads that a fit like ``estimator``'s runs in this process.

    A one-epoch fit of a clone, made to take the threaded path (small chunks,
    no work threshold, as in test_threads.py), with a spy on the size of the
    thread teams it starts: what the process's allowance and ``n_jobs`` give.
    """
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    import sktinycnn._kernels as kernels
    import sktinycnn._parallel as parallel

    teams = [1]
    team = parallel.ThreadTeam
    saved = (kernels.CHUNK_BYTES, parallel.MIN_PARALLEL_WORK, team.__init__,
             kernels.MIN_CHUNK_IMAGES)

    def spy(self, n):
        teams.append(n)
        saved[2](self, n)

    kernels.CHUNK_BYTES, parallel.MIN_PARALLEL_WORK = 2**14, 0
    kernels.MIN_CHUNK_IMAGES = 1
    team.__init__ = spy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clone(estimator).set_params(max_iter=1).fit(X, y)
    finally:
        kernels.CHUNK_BYTES, parallel.MIN_PARALLEL_WORK = saved[:2]
        team.__init__, kernels.MIN_CHUNK_IMAGES = saved[2:]
    return float(max(teams))


@pytest.mark.parametrize(
    ("n_jobs", "config", "expected"),
    [
        (None, {}, 1),
        (-1, {}, max(1, joblib.cpu_count() // 2)),
        (-1, {"inner_max_num_threads": 1}, 1),
        (-1, {"inner_max_num_threads": 2}, min(2, joblib.cpu_count())),
        (2, {"inner_max_num_threads": 1}, 1),
    ],
    ids=["None", "-1-default", "-1-inner-1", "-1-inner-2", "2-inner-1"],
)
def test_fits_in_loky_workers_use_no_more_threads_than_given(
    search_digits, n_jobs, config, expected
):
    # Inside GridSearchCV(n_jobs=2) workers: None is 1, and -1 (or any
    # n_jobs) is capped by the threads joblib gives each worker.
    X, y = search_digits
    search = grid_search(
        n_jobs=2, scoring={"threads": fit_threads, "pid": process_id}, refit=False
    )
    search.estimator.set_params(n_jobs=n_jobs)
    with joblib.parallel_config(backend="loky", **config):
        fit_quietly(search, X, y)
    assert os.getpid() not in fit_pids(search)
    assert_array_equal(search.cv_results_["mean_test_threads"], expected)


def test_n_jobs_minus_1_uses_every_core_in_the_main_process(search_digits, monkeypatch):
    # The counterpart of the loky test: outside a worker, -1 is every core.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    X, y = search_digits
    estimator = grid_search(n_jobs=1).estimator.set_params(n_jobs=-1)
    assert fit_threads(estimator, X, y) == joblib.cpu_count()
