"""Speed-up of a grid search with loky and with a 2-worker Dask LocalCluster.

GridSearchCV over learning_rate x kernel_scale (9 candidates, 3 folds, 27 fits)
on load_digits (8x8 images, target digit / 9), n_filters=8, kernel_size=3,
max_iter=50: serially (with the default BLAS threads, and with one), with loky
``n_jobs=2`` and on a LocalCluster of 2 worker processes with 1 thread each.
Each runs once to warm up (worker start-up and imports, reported as "first
run"), then ``--repeats`` times in turn; the medians are compared with the
serial run. The Dask runs happen while the cluster is up, beside a serial
reference measured at the same time; the others before it starts. Also checks
that all runs give the same scores.

Run from the repository root::

    python benchmarks/bench_scaling.py --repeats 5

The numbers in docs/user_guide/scaling.rst come from this script.
"""

import argparse
import platform
import statistics
import time
import warnings

import dask
import distributed
import joblib
import numpy as np
import sklearn
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from sktinycnn import TinyConvRegressor

GRID = {"learning_rate": [0.003, 0.01, 0.03], "kernel_scale": [None, 0.3, 1.0]}


def search(n_jobs):
    estimator = TinyConvRegressor(
        padding="valid", n_filters=8, kernel_size=3, max_iter=50, random_state=0
    )
    return GridSearchCV(estimator, GRID, cv=3, n_jobs=n_jobs, error_score="raise")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=50 on purpose
    X, digit = load_digits(return_X_y=True)
    X, y = X / 16, digit / 9

    def fit(n_jobs):
        return search(n_jobs).fit(X, y).cv_results_["mean_test_score"]

    def serial_one_blas_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            return fit(1)

    def loky():
        with joblib.parallel_config(backend="loky"):
            return fit(2)

    def on_dask():
        with joblib.parallel_config(backend="dask"):
            return fit(-1)

    def measure(runs, first, times, scores):
        for name, run in runs.items():  # warm-up: worker start-up and imports
            start = time.perf_counter()
            scores[name] = run()
            first[name] = time.perf_counter() - start
        # Round robin, so that the load of other processes on the machine
        # weighs on every backend alike.
        for _ in range(args.repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times.setdefault(name, []).append(time.perf_counter() - start)

    first, times, scores = {}, {}, {}
    # loky without a Dask cluster alive: an idle LocalCluster (scheduler in
    # this process, 2 nannies and 2 workers) was seen to make loky's search
    # about 2x slower, which says nothing about loky.
    measure(
        {
            "n_jobs=1": lambda: fit(1),
            "n_jobs=1, 1 BLAS thread": serial_one_blas_thread,
            "loky n_jobs=2": loky,
        },
        first, times, scores,
    )
    cluster_start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster),
    ):
        cluster_start = time.perf_counter() - cluster_start
        # The serial search again, beside the cluster, as the Dask reference.
        measure(
            {
                "n_jobs=1 (cluster up)": lambda: fit(1),
                "dask 2 workers x 1 thread": on_dask,
            },
            first, times, scores,
        )

    print(
        f"sktinycnn on {platform.machine()}, {joblib.cpu_count()} cores; "
        f"scikit-learn {sklearn.__version__}, joblib {joblib.__version__}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}"
    )
    print(f"LocalCluster start-up: {cluster_start:.1f} s")
    print(f"{'backend':<28}{'first run':>10}{'median':>9}{'speed-up':>10}  runs (s)")
    for name in times:
        reference = "n_jobs=1 (cluster up)" if "dask" in name else "n_jobs=1"
        serial = statistics.median(times[reference])
        median = statistics.median(times[name])
        listed = " ".join(f"{t:.2f}" for t in times[name])
        print(
            f"{name:<28}{first[name]:>9.2f}s{median:>8.2f}s"
            f"{serial / median:>9.2f}x  {listed}"
        )
    same = all(np.array_equal(s, scores["n_jobs=1"]) for s in scores.values())
    print(f"identical mean_test_score across backends: {same}")


if __name__ == "__main__":
    main()
