"""
=========================================
A grid search on a local Dask cluster
=========================================

:class:`~sklearn.model_selection.GridSearchCV` runs its fits through joblib,
and joblib can hand them to a `Dask <https://distributed.dask.org>`_ cluster.
This example starts a :class:`~distributed.LocalCluster` of two worker
processes on this machine, runs a sweep of ``learning_rate`` x
``kernel_scale`` on it, checks that it finds exactly what the serial search
finds, draws which worker ran which fit and when, and shuts the cluster down.
On a real cluster only the line that creates the
:class:`~distributed.Client` changes. It needs the ``dask`` extra
(``pip install "sktinycnn[dask]"``); see :ref:`scaling`.
"""

# %%
# The data and the search
# -----------------------
# Dask starts its workers as new Python processes that import this script
# again (as ``__mp_main__``): the top level only defines things, and the work
# is under ``if __name__ == "__main__":``, as in any script that starts a
# ``LocalCluster`` with worker processes.
import time
import warnings

import joblib
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster, get_task_stream
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from sktinycnn import TinyConvRegressor


def make_search(n_jobs):
    """9 candidates x 3 folds = 27 fits of 30 epochs on 900 digits."""
    return GridSearchCV(
        TinyConvRegressor(n_filters=8, kernel_size=3, max_iter=30, random_state=0),
        {"learning_rate": [0.003, 0.01, 0.03], "kernel_scale": [None, 0.3, 1.0]},
        cv=3,
        n_jobs=n_jobs,
    )


def load_data():
    X, digit = load_digits(return_X_y=True)
    return X[:900] / 16, digit[:900] / 9


# %%
# Serially, then on the cluster
# -----------------------------
# ``threads_per_worker=1`` and two workers use the two cores of the machine
# this documentation is built on. ``host="127.0.0.1"`` keeps the scheduler
# and workers on the loopback interface; there is no dashboard. scikit-learn
# passes the warning filter on to the workers, so the 30-epoch fits that would
# go on improving do not warn there either. ``get_task_stream`` records where
# and when each task ran.
if __name__ == "__main__":
    X, y = load_data()
    warnings.simplefilter("ignore", ConvergenceWarning)

    # One BLAS thread, as in each worker: a like-for-like comparison (and, for
    # matrices this small, more threads do not help; see the user guide).
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        serial = make_search(n_jobs=1).fit(X, y)
        serial_seconds = time.perf_counter() - start

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            # The scheduler's HTTP routes on any free loopback port.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        # Every worker must be able to import sktinycnn: check it first.
        versions = client.run(lambda: __import__("sktinycnn").__version__)
        print("sktinycnn on the workers:", versions)
        # Warm up: the workers import scikit-learn and sktinycnn once.
        with joblib.parallel_config(backend="dask"):
            make_search(n_jobs=-1).fit(X[:60], y[:60])

        with get_task_stream(client) as task_stream, joblib.parallel_config(
            backend="dask"
        ):
            start = time.perf_counter()
            on_dask = make_search(n_jobs=-1).fit(X, y)
            dask_seconds = time.perf_counter() - start
        tasks = task_stream.data
    # Leaving the ``with`` block closed the client, the workers and the scheduler.

    same = np.array_equal(
        serial.cv_results_["mean_test_score"], on_dask.cv_results_["mean_test_score"]
    )
    print("best parameters:", on_dask.best_params_)
    print(f"cross-validated R²: {on_dask.best_score_:.3f}")
    print(f"same scores as the serial search: {same}")
    print(f"serial {serial_seconds:.1f} s, Dask {dask_seconds:.1f} s")

# %%
# Who ran what
# ------------
# joblib sends the fits in batches; each bar is one batch on one worker. The
# two rows overlap in time: both workers computed at once. On a machine shared
# with other work the wall-clock times vary from run to run; see
# :ref:`scaling` for medians.
if __name__ == "__main__":
    workers = sorted({task["worker"] for task in tasks})
    t0 = min(
        part["start"] for task in tasks for part in task["startstops"]
        if part["action"] == "compute"
    )
    fig, (ax_tasks, ax_time) = plt.subplots(
        1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [3, 1]}
    )
    for task in tasks:
        for part in task["startstops"]:
            if part["action"] == "compute":
                ax_tasks.barh(
                    workers.index(task["worker"]),
                    part["stop"] - part["start"],
                    left=part["start"] - t0,
                    height=0.6,
                    edgecolor="white",
                )
    labels = [f"worker {i}" for i in range(len(workers))]
    ax_tasks.set_yticks(range(len(workers)), labels)
    ax_tasks.set_xlabel("seconds since the first fit started")
    ax_tasks.set_title("Fit batches on the two workers")
    ax_time.bar(
        ["serial", "Dask"], [serial_seconds, dask_seconds], color=["grey", "C0"]
    )
    ax_time.set_ylabel("wall-clock seconds")
    ax_time.set_title("This run")
    fig.tight_layout()
    plt.show()
