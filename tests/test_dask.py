"""Grid searches and streaming on a real dask.distributed LocalCluster.

The cluster has two worker processes on 127.0.0.1, no dashboard; every test
has a timeout (pytest-timeout, SIGALRM), so that a worker that cannot run the
tasks fails the test instead of hanging the suite, and the ``with`` blocks
still close the cluster. The oracle for the grid search is the same search
(``oracles.grid_search``) with loky, which ``test_parallel.py`` checks against
the serial run.
"""

import os

import dask.array as da
import joblib
import psutil
import pytest
from distributed import Client, LocalCluster
from numpy.testing import assert_allclose
from oracles import (
    assert_same_cv_results,
    fit_pids,
    fit_quietly,
    fitted_arrays,
    grid_search,
    process_id,
)
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sktinycnn import TinyConvRegressor
from sktinycnn.streaming import fit_chunks

pytestmark = pytest.mark.timeout(90)

CLUSTER = dict(
    n_workers=2,
    threads_per_worker=1,
    processes=True,
    host="127.0.0.1",
    dashboard_address=None,
    # Even without a dashboard the scheduler serves health and metrics routes
    # over HTTP, by default on port 8787; any free loopback port avoids a clash
    # (and distributed's warning) when another cluster runs on the machine.
    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(**CLUSTER) as cluster, Client(cluster) as client:
        yield client


def _search(n_jobs):
    # Scored on R² and on the process each fit ran in; refit on R².
    return grid_search(
        n_jobs, scoring={"r2": "r2", "pid": process_id}, refit="r2"
    )


def test_grid_search_on_dask_equals_loky(client, search_digits):
    # scikit-learn hands fit_quietly's filter on to dask workers as to loky's.
    X, y = search_digits
    worker_pids = set(client.run(os.getpid).values())
    with joblib.parallel_config(backend="dask"):
        on_dask = fit_quietly(_search(n_jobs=-1), X, y)
    with joblib.parallel_config(backend="loky"):
        on_loky = fit_quietly(_search(n_jobs=2), X, y)

    # The fits ran on the cluster's workers (the scheduler decides which: not
    # necessarily both), not in this process.
    assert len(worker_pids) == 2
    assert fit_pids(on_dask) <= worker_pids
    assert_same_cv_results(on_dask.cv_results_, on_loky.cv_results_, skip=["_pid"])
    assert len(set(on_loky.cv_results_["mean_test_r2"])) == 4
    assert_allclose(
        on_dask.best_estimator_.coef_, on_loky.best_estimator_.coef_, rtol=1e-12
    )


def test_fit_chunks_over_dask_array_on_the_cluster_equals_fit(
    client, search_digits
):
    # The chunks are computed on the workers and pulled one at a time.
    X, y = search_digits
    X_dask = client.persist(da.from_array(X, chunks=(150, X.shape[1])))
    y_dask = client.persist(da.from_array(y, chunks=150))
    estimator = TinyConvRegressor(
        n_filters=2, shuffle=False, batch_size=50, random_state=0
    )
    streamed = fit_chunks(clone(estimator), X_dask, y_dask, chunk_size=150, n_epochs=2)
    reference = clone(estimator).set_params(max_iter=2)
    with pytest.warns(ConvergenceWarning):
        reference.fit(X, y)
    expected = fitted_arrays(reference)
    for name, array in fitted_arrays(streamed).items():
        assert_allclose(array, expected[name], rtol=1e-12, atol=1e-15, err_msg=name)


def test_local_cluster_leaves_no_process_behind():
    me = psutil.Process()
    before = {child.pid for child in me.children(recursive=True)}
    with LocalCluster(**CLUSTER) as cluster, Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        assert client.submit(sum, [1, 2]).result() == 3
    assert len(worker_pids) == 2
    assert not any(psutil.pid_exists(pid) for pid in worker_pids)
    # multiprocessing's resource tracker, started with the first spawned
    # process, is the only newcomer: one per interpreter, it exits with it.
    for child in me.children(recursive=True):
        if child.pid not in before:
            assert "multiprocessing.resource_tracker" in " ".join(child.cmdline())


def test_progress_bar_on_the_local_cluster(
    client, search_digits, capsys, monkeypatch
):
    # Workers on this machine reach the client's local socket: the bars are the
    # same as with loky, one per (candidate, split) fit, drawn in this process.
    from sklearn.callback import ProgressBar  # scikit-learn >= 1.9

    monkeypatch.setenv("COLUMNS", "200")  # rich's width: no truncated lines
    X, y = search_digits
    search = _search(n_jobs=-1).set_callbacks(ProgressBar(max_propagation_depth=None))
    with joblib.parallel_config(backend="dask"):
        fit_quietly(search, X, y)

    assert fit_pids(search) <= set(client.run(os.getpid).values())
    lines = capsys.readouterr().out.splitlines()
    fits = [line for line in lines if "candidate-split-evaluation" in line]
    assert len(fits) == 4 * 3
    assert all(" 100% " in f"{line} " for line in fits)
