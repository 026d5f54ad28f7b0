"""Depth: the two-block classifier's speed and memory, and depth 1 unchanged.

Ratios measured side by side in one process (within each repeat the
contenders run one after the other; medians over the repeats):

- **PyTorch**: an epoch of ``TinyConvClassifier(n_filters=(16, 32),
  kernel_size=3, padding="same", pool_size=2)`` (batches of 64, Adam, float32)
  on 10,000 random 28x28 images, at ``n_jobs=1``, against the same network in
  PyTorch on 2 threads (``bench_depth_torch.py``; PyTorch is optional), and
  against the epoch's FLOP floor at the machine's measured float32 GEMM rate.
- **Threads**: the same epoch at ``n_jobs=2`` against ``n_jobs=1``; the
  weights after the same epochs must be bit-identical.
- **Memory**: ``predict`` on 60,000 such images, the peak of the memory
  traced (``tracemalloc``, which NumPy reports to) beyond its input and
  output.
- **Depth 1**: W1 (the tutorial's fit, 1000 epochs of one image per step),
  W3 (8 3x3 "valid" unpooled filters, batches of 64, 20,000 28x28 images, 2
  epochs) and the default regressor on 1,000 digits, each against the same
  fit by the package at ``--baseline`` (a git revision, extracted to a
  temporary directory and imported under another name).

Run from the repository root on an otherwise idle machine::

    python benchmarks/bench_depth.py --json /tmp/depth.json
    python benchmarks/bench_depth.py --quick        # tiny sizes: the script runs
"""

import argparse
import gc
import importlib
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:  # run from a checkout without installing
        sys.path.insert(0, str(path))

import bench_depth_torch  # noqa: E402

from sktinycnn import TinyConvClassifier, TinyConvRegressor  # noqa: E402

#: The engine before the layered chain: the depth-1 baseline.
BASELINE = "4ad8571"

#: The issue's two-block network, with PyTorch's training settings.
TWO_BLOCKS = dict(
    n_filters=(16, 32), kernel_size=3, padding="same", pooling="max", pool_size=2,
    batch_size=bench_depth_torch.BATCH_SIZE, solver="adam",
    learning_rate=bench_depth_torch.LEARNING_RATE, random_state=0,
)


def _timed(func, *args, **kwargs):
    gc.collect()
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def _median(values):
    return float(statistics.median(values))


def _epoch_seconds(model, X, y, classes, epochs):
    """Median seconds of ``epochs`` partial_fit calls (one epoch each), after
    one warm-up epoch."""
    model.partial_fit(X, y, classes=classes)
    return _median(_timed(model.partial_fit, X, y)[0] for _ in range(epochs))


def bench_two_blocks(quick, repeats):
    n = 256 if quick else 10_000
    epochs = 1 if quick else 2
    X, y = bench_depth_torch.random_depth_data(n)
    classes = np.arange(bench_depth_torch.N_CLASSES)
    torch = None
    if not quick:
        try:
            import torch  # optional: never a dependency of the package
        except ImportError:  # depends on the machine
            torch = None
    rows = []
    for _ in range(repeats):
        row = {}
        for n_jobs in (1, 2):
            model = TinyConvClassifier(**TWO_BLOCKS, n_jobs=n_jobs)
            row[f"n_jobs={n_jobs}"] = _epoch_seconds(model, X, y, classes, epochs)
        if torch is not None:
            row["torch"] = bench_depth_torch.torch_depth_epoch_seconds(
                X, y, n_threads=2, epochs=epochs
            )
        rows.append(row)
    # The same epochs with one thread and with two: the same weights.
    fitted = []
    for n_jobs in (1, 2):
        model = TinyConvClassifier(**TWO_BLOCKS, n_jobs=n_jobs)
        for _ in range(2):
            model.partial_fit(X, y, classes=classes)
        fitted.append(model)
    one, two = fitted
    identical = all(
        np.array_equal(a, b)
        for name in ("kernels_", "kernel_intercepts_")
        for a, b in zip(getattr(one, name), getattr(two, name), strict=True)
    ) and np.array_equal(one.coef_, two.coef_) and np.array_equal(
        one.intercept_, two.intercept_
    )
    flops = bench_depth_torch.depth_network_flops(n)["flops"]
    gflops = bench_depth_torch.gemm_gflops()["best"]
    result = {
        "n_images": n,
        "epoch_s": {key: _median(r[key] for r in rows) for key in rows[0]},
        "threads_speedup": _median(r["n_jobs=1"] / r["n_jobs=2"] for r in rows),
        "threads_identical_weights": bool(identical),
        "floor_s": flops / (1e9 * gflops),
        "gemm_gflops": gflops,
    }
    if torch is not None:
        result["vs_torch"] = _median(r["torch"] / r["n_jobs=1"] for r in rows)
        result["torch_version"] = torch.__version__
    return result


def bench_predict_memory(quick):
    n = 600 if quick else 60_000
    X, y = bench_depth_torch.random_depth_data(n)
    model = TinyConvClassifier(**TWO_BLOCKS)
    model.partial_fit(X[:256], y[:256], classes=np.arange(10))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        predicted = model.predict(X)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return {
        "n_images": n,
        "input_mb": X.nbytes / 2**20,
        "peak_beyond_input_and_output_mb": (peak - predicted.nbytes) / 2**20,
        "target_mb": 100,
    }


# ------------------------------------------------------------------ depth 1


def import_baseline(revision):
    """The package at ``revision``, imported as ``sktinycnn_baseline``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "sktinycnn"],
        capture_output=True, check=True,
    ).stdout
    directory = Path(tempfile.mkdtemp(prefix="sktinycnn-baseline-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    # Relative imports inside the package: only the top-level name changes.
    (directory / "sktinycnn").rename(directory / "sktinycnn_baseline")
    sys.path.insert(0, str(directory))
    return importlib.import_module("sktinycnn_baseline")


def _depth_1_workloads(quick):
    never_stop = {"tol": 0.0, "n_iter_no_change": 10**9}
    tutorial_X = np.array(
        [np.zeros(9), [1, 1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1, 1, 1],
         np.ones(9)]
    )
    tutorial_y = np.array([0.53, 0.77, 0.88, 1.1])
    rng = np.random.RandomState(1)
    n_w3 = 512 if quick else 20_000
    w3_X = rng.rand(n_w3, 28, 28)
    w3_y = np.tanh(w3_X[:, 10:18, 10:18].mean(axis=(1, 2)) * 6 - 3)
    digits_X, digits_y = load_digits(return_X_y=True)
    return {
        "W1": (
            dict(padding="valid", image_shape=(3, 3), n_filters=1, kernel_size=2,
                 pooling=None, kernel_scale=4.0, learning_rate=0.7, solver="sgd",
                 momentum=0.0, batch_size=1, shuffle=False,
                 max_iter=100 if quick else 1000, alpha=0.0, fit_intercept=False,
                 scale_target=False, random_state=598765, **never_stop),
            tutorial_X, tutorial_y,
        ),
        "W3": (
            dict(padding="valid", n_filters=8, kernel_size=3, pooling=None,
                 batch_size=64, solver="adam", max_iter=1 if quick else 2,
                 learning_rate=0.001, random_state=0, **never_stop),
            w3_X, w3_y,
        ),
        "default": (
            dict(random_state=0, max_iter=5 if quick else 30, **never_stop),
            digits_X[:1000] / 16, digits_y[:1000] / 9,
        ),
    }


def bench_depth_1(quick, repeats, revision):
    baseline = import_baseline(revision)
    results = {"baseline": revision}
    for name, (params, X, y) in _depth_1_workloads(quick).items():
        ratios, times = [], {"new": [], "baseline": []}
        for estimator in (baseline.TinyConvRegressor, TinyConvRegressor):
            estimator(**params).fit(X[:64], y[:64])  # imports, caches
        for _ in range(repeats):
            pair = {}
            for label, estimator in (("baseline", baseline.TinyConvRegressor),
                                     ("new", TinyConvRegressor)):
                pair[label] = _timed(estimator(**params).fit, X, y)[0]
                times[label].append(pair[label])
            ratios.append(pair["new"] / pair["baseline"])
        results[name] = {
            "new_s": _median(times["new"]),
            "baseline_s": _median(times["baseline"]),
            "new_over_baseline": _median(ratios),
        }
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--only", default="two_blocks,memory,depth_1")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    only = set(args.only.split(","))
    results = {"quick": args.quick, "repeats": repeats}
    with warnings.catch_warnings():
        # Fixed epoch counts on random labels: never converged, by design.
        warnings.simplefilter("ignore", ConvergenceWarning)
        if "two_blocks" in only:
            results["two_blocks"] = bench_two_blocks(args.quick, repeats)
        if "memory" in only:
            results["memory"] = bench_predict_memory(args.quick)
        if "depth_1" in only:
            results["depth_1"] = bench_depth_1(args.quick, repeats, args.baseline)
    print(json.dumps(results, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
