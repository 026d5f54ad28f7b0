"""Speed and memory benchmarks of TinyConvRegressor, reported as ratios.

Every comparison is measured side by side in one process, alternating the
contenders within each repeat, and reported as the median over repeats (the
machines are shared: single timings are noisy, medians of interleaved runs
much less so). Workloads (issue 4):

W1 tutorial   the tutorial's 4 images, batch_size=1, no shuffle, 1000 epochs:
              ``fit`` against the tutorial's own loop (copied below).
W2 digits     load_digits as 8x8 images, target digit / 9, 8 filters 3x3,
              batch 32, adam, 50 epochs: against MLPRegressor (time and R² on
              a held-out quarter).
W3 large      20,000 random 28x28 images (target: a smooth function of the
              image), 8 filters 3x3, batch 64, 2 epochs, float64 and float32:
              against the floor of unavoidable NumPy work for the same epoch
              (patch copy, conv GEMM, tanh, dense forward and backward, tanh
              derivative, kernel-gradient GEMM, into preallocated buffers; the
              fastest of four variants: patches (K, n*L) or (n*L, K), and
              (K, n*L) in cache-sized chunks, with BLAS on two threads or
              one), against the same network with a 2x2 max pool (the
              pooled W3, fitted in the same repeats), and against the same
              architecture in PyTorch on the CPU when torch is installed
              (never required).
W3 scaling    epoch time at 5k/10k/20k images (28x28) and at 16x16/28x28/56x56
              pixels (5k images): cost per image and per pixel.
threads       W3 and a pooled W3 (max pool 2), one epoch, float32 and float64,
              n_jobs=1 against n_jobs=2 and against PyTorch on 2 threads
              (when installed); predict on 60,000 28x28 images, n_jobs=1
              against n_jobs=2, and the latter's peak memory
              (``--only threads``).
W4 memory     predict on 60,000 28x28 float32 images: peak memory above the
              input (tracemalloc; NumPy reports its buffers to it).
W5 sweep      GridSearchCV over learning_rate x kernel_scale (9 candidates, 3
              folds) on the W2 data, n_jobs=1 against n_jobs=2 (loky, one BLAS
              thread per worker so the two workers do not oversubscribe the
              two cores).

Run from the repository root::

    python benchmarks/run.py            # full run, writes benchmarks/results.json
    python benchmarks/run.py --quick    # tiny sizes, seconds; for CI

On machines where OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set to work around
old OpenBLAS builds, they slow a current NumPy: benchmark with both unset for
that command (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...``); the
JSON records which BLAS kernel ran.
"""

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import scipy  # noqa: E402
import sklearn  # noqa: E402
from scipy import signal  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402 - a sklearn dependency

from sktinycnn import TinyConvRegressor  # noqa: E402

torch = None  # optional, for W3 only: see _import_torch


def _import_torch():
    """PyTorch if installed (never a dependency), else None."""
    global torch
    try:
        import torch as torch_module
    except ImportError:  # depends on the machine
        return None
    torch = torch_module
    return torch

#: Stop only at max_iter, so that every contender does the same work.
NEVER_STOP = {"tol": 0.0, "n_iter_no_change": 10**9}


def _median(values):
    return float(statistics.median(values))


def _timed(func, *args, **kwargs):
    gc.collect()
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


# ----------------------------------------------------------------------- W1


def tutorial_loop(X, Y, w1, w2, num_epoch, learning_rate):
    """The tutorial's training loop, as published (only the printing removed)."""

    def tanh(x):
        return np.tanh(x)

    def d_tanh(x):
        return 1 - np.tanh(x) ** 2

    def log(x):
        return 1 / (1 + np.exp(-1 * x))

    def d_log(x):
        return log(x) * (1 - log(x))

    for _ in range(num_epoch):
        for i in range(len(X)):
            layer_1 = signal.convolve2d(X[i], w1, "valid")
            layer_1_act = tanh(layer_1)
            layer_1_act_vec = np.expand_dims(np.reshape(layer_1_act, -1), axis=0)
            layer_2 = layer_1_act_vec.dot(w2)
            layer_2_act = log(layer_2)
            cost = np.square(layer_2_act - Y[i]).sum() * 0.5  # noqa: F841
            grad_2_part_1 = layer_2_act - Y[i]
            grad_2_part_2 = d_log(layer_2)
            grad_2_part_3 = layer_1_act_vec
            grad_2 = grad_2_part_3.T.dot(grad_2_part_1 * grad_2_part_2)
            grad_1_part_1 = (grad_2_part_1 * grad_2_part_2).dot(w2.T)
            grad_1_part_2 = d_tanh(layer_1)
            grad_1_part_3 = X[i]
            grad_1_part_1_reshape = np.reshape(grad_1_part_1, (2, 2))
            grad_1_temp_1 = grad_1_part_1_reshape * grad_1_part_2
            grad_1 = np.rot90(
                signal.convolve2d(grad_1_part_3, np.rot90(grad_1_temp_1, 2), "valid"),
                2,
            )
            w2 = w2 - grad_2 * learning_rate
            w1 = w1 - grad_1 * learning_rate
    return w1, w2


def bench_w1(quick, repeats):
    images = [
        np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0]]),
        np.array([[1, 1, 1], [0, 0, 0], [0, 0, 0]]),
        np.array([[0, 0, 0], [1, 1, 1], [1, 1, 1]]),
        np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1]]),
    ]
    Y = np.array([[0.53], [0.77], [0.88], [1.1]])
    epochs = 100 if quick else 1000
    rs = np.random.RandomState(598765)
    w1, w2 = rs.randn(2, 2) * 4, rs.randn(4, 1) * 4
    model = TinyConvRegressor(
        padding="valid", image_shape=(3, 3), n_filters=1, kernel_size=2, pooling=None,
        kernel_scale=4.0, learning_rate=0.7,
        solver="sgd", momentum=0.0, batch_size=1, shuffle=False, max_iter=epochs,
        alpha=0.0, fit_intercept=False, scale_target=False, random_state=598765,
        **NEVER_STOP,
    )
    X = np.stack(images).astype(float)
    y = Y.ravel()
    rows = []
    for _ in range(repeats):
        t_tut, (w1_end, w2_end) = _timed(
            lambda: tutorial_loop(images, Y, w1, w2, epochs, 0.7)
        )
        t_fit, _ = _timed(model.fit, X, y)
        rows.append((t_tut, t_fit))
    same = max(
        np.max(np.abs(model.kernels_[0][0, 0] - w1_end) / np.abs(w1_end)),
        np.max(np.abs(model.coef_ - w2_end) / np.abs(w2_end)),
    )
    t_tut = _median(r[0] for r in rows)
    t_fit = _median(r[1] for r in rows)
    return {
        "epochs": epochs,
        "tutorial_s": t_tut,
        "fit_s": t_fit,
        "speedup": _median(r[0] / r[1] for r in rows),
        "tutorial_updates_per_s": 4 * epochs / t_tut,
        "fit_updates_per_s": 4 * epochs / t_fit,
        "max_rel_diff_weights": float(same),
        "target": 4.0,
    }


# ----------------------------------------------------------------------- W2


def digits_data():
    digits = load_digits()
    X = digits.images / 16.0
    y = digits.target / 9.0
    return train_test_split(X, y, test_size=0.25, random_state=0)


def bench_w2(quick, repeats):
    X_train, X_test, y_train, y_test = digits_data()
    epochs = 5 if quick else 50
    cnn = TinyConvRegressor(
        padding="valid", n_filters=8, kernel_size=3, pooling=None, batch_size=32,
        solver="adam", max_iter=epochs, random_state=0, **NEVER_STOP,
    )
    mlp = MLPRegressor(
        batch_size=32, solver="adam", max_iter=epochs, random_state=0, **NEVER_STOP
    )
    flat_train = X_train.reshape(len(X_train), -1)
    flat_test = X_test.reshape(len(X_test), -1)
    rows = []
    for _ in range(repeats):
        t_cnn, _ = _timed(lambda: cnn.fit(X_train, y_train))
        t_mlp, _ = _timed(lambda: mlp.fit(flat_train, y_train))
        rows.append((t_cnn, t_mlp))
    return {
        "epochs": epochs,
        "n_train": len(X_train),
        "cnn_s": _median(r[0] for r in rows),
        "mlp_s": _median(r[1] for r in rows),
        "mlp_over_cnn_time": _median(r[1] / r[0] for r in rows),
        "cnn_r2": float(r2_score(y_test, cnn.predict(X_test))),
        "mlp_r2": float(r2_score(y_test, mlp.predict(flat_test))),
    }


# ----------------------------------------------------------------------- W3


def large_data(n, size, dtype, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, size, size).astype(dtype)
    c = size // 2
    centre = X[:, c - size // 4 : c + size // 4, c - size // 4 : c + size // 4]
    y = np.sin(3 * X.mean(axis=(1, 2))) + centre.mean(axis=(1, 2))
    return X, y


def floor_epoch_kn(images, batch_size, n_filters, kernel, out):
    """Unavoidable work of one epoch, patches laid out (K, batch * pixels)."""
    n, h, w = images.shape
    kh = kw = kernel
    ho, wo = h - kh + 1, w - kw + 1
    L, K, F, B = ho * wo, kh * kw, n_filters, batch_size
    dtype = images.dtype
    kernels, coef = out["kernels"].astype(dtype), out["coef"].astype(dtype)
    coef3 = coef.reshape(F, L, 1)
    P = np.empty((K, B * L), dtype)
    act = np.empty((F, B * L), dtype)
    tg = np.empty((F, B * L), dtype)
    gh = np.empty((F, B, L), dtype)
    z3 = np.empty((F, B, 1), dtype)
    z = np.empty((B, 1), dtype)
    gcoef = np.empty((F, L, 1), dtype)
    gk = np.empty((F, K), dtype)
    for start in range(0, n - B + 1, B):
        x = images[start : start + B]
        P4 = P.reshape(K, B, ho, wo)
        for i in range(kh):
            for j in range(kw):
                np.copyto(P4[i * kw + j], x[:, i : i + ho, j : j + wo])
        np.dot(kernels, P, out=act)
        np.tanh(act, out=act)
        act3 = act.reshape(F, B, L)
        np.matmul(act3, coef3, out=z3)
        np.sum(z3, axis=0, out=z)
        np.matmul(act3.transpose(0, 2, 1), z, out=gcoef)
        np.multiply(z.reshape(1, B, 1), coef3.reshape(F, 1, L), out=gh)
        np.multiply(act, act, out=tg)
        np.subtract(1.0, tg, out=tg)
        np.multiply(tg, gh.reshape(F, B * L), out=tg)
        np.dot(tg, P.T, out=gk)


def floor_epoch_chunked(images, batch_size, n_filters, kernel, out, chunk=16):
    """As floor_epoch_kn, each batch in chunks of ``chunk`` images (cache-sized)."""
    n, h, w = images.shape
    kh = kw = kernel
    ho, wo = h - kh + 1, w - kw + 1
    L, K, F, B = ho * wo, kh * kw, n_filters, batch_size
    dtype = images.dtype
    kernels, coef = out["kernels"].astype(dtype), out["coef"].astype(dtype)
    coef3 = coef.reshape(F, L, 1)
    bufs = []
    for c0 in range(0, B, chunk):
        m = min(chunk, B - c0)
        bufs.append({
            "c0": c0, "m": m,
            "P": np.empty((K, m * L), dtype),
            "act": np.empty((F, m * L), dtype),
            "tg": np.empty((F, m * L), dtype),
            "gh": np.empty((F, m, L), dtype),
            "z3": np.empty((F, m, 1), dtype),
        })
    z = np.empty((B, 1), dtype)
    gcoef, tmp_coef = np.empty((F, L, 1), dtype), np.empty((F, L, 1), dtype)
    gk, tmp_k = np.empty((F, K), dtype), np.empty((F, K), dtype)
    for start in range(0, n - B + 1, B):
        x = images[start : start + B]
        for bf in bufs:
            c0, m = bf["c0"], bf["m"]
            P4 = bf["P"].reshape(K, m, ho, wo)
            for i in range(kh):
                for j in range(kw):
                    np.copyto(P4[i * kw + j], x[c0 : c0 + m, i : i + ho, j : j + wo])
            act = np.dot(kernels, bf["P"], out=bf["act"])
            np.tanh(act, out=act)
            np.matmul(act.reshape(F, m, L), coef3, out=bf["z3"])
            np.sum(bf["z3"], axis=0, out=z[c0 : c0 + m])
        for k, bf in enumerate(bufs):
            c0, m, act, tg = bf["c0"], bf["m"], bf["act"], bf["tg"]
            zc = z[c0 : c0 + m]
            np.matmul(act.reshape(F, m, L).transpose(0, 2, 1), zc,
                      out=tmp_coef if k else gcoef)
            if k:
                np.add(gcoef, tmp_coef, out=gcoef)
            np.multiply(zc.reshape(1, m, 1), coef3.reshape(F, 1, L), out=bf["gh"])
            np.multiply(act, act, out=tg)
            np.subtract(1.0, tg, out=tg)
            np.multiply(tg, bf["gh"].reshape(F, m * L), out=tg)
            np.dot(tg, bf["P"].T, out=tmp_k if k else gk)
            if k:
                np.add(gk, tmp_k, out=gk)


def floor_epoch_nk(images, batch_size, n_filters, kernel, out):
    """Unavoidable work of one epoch, patches laid out (batch * pixels, K)."""
    from numpy.lib.stride_tricks import sliding_window_view

    n, h, w = images.shape
    kh = kw = kernel
    ho, wo = h - kh + 1, w - kw + 1
    L, K, F, B = ho * wo, kh * kw, n_filters, batch_size
    dtype = images.dtype
    kernels_t = np.ascontiguousarray(out["kernels"].astype(dtype).T)  # (K, F)
    coef = out["coef"].astype(dtype).reshape(F, L).T.reshape(L * F, 1)
    P = np.empty((B * L, K), dtype)
    act = np.empty((B * L, F), dtype)
    tg = np.empty((B * L, F), dtype)
    gh = np.empty((B, L * F), dtype)
    z = np.empty((B, 1), dtype)
    gcoef = np.empty((L * F, 1), dtype)
    gk = np.empty((K, F), dtype)
    for start in range(0, n - B + 1, B):
        windows = sliding_window_view(images[start : start + B], (kh, kw), axis=(1, 2))
        np.copyto(P.reshape(B, ho, wo, kh, kw), windows)
        np.dot(P, kernels_t, out=act)
        np.tanh(act, out=act)
        act2 = act.reshape(B, L * F)
        np.dot(act2, coef, out=z)
        np.dot(act2.T, z, out=gcoef)
        np.multiply(z, coef.reshape(1, L * F), out=gh)
        np.multiply(act, act, out=tg)
        np.subtract(1.0, tg, out=tg)
        np.multiply(tg, gh.reshape(B * L, F), out=tg)
        np.dot(P.T, tg, out=gk)


#: The floor is the fastest of these ways of doing the unavoidable work:
#: name -> (function, keyword arguments, BLAS on one thread).
FLOOR_VARIANTS = {
    "floor_kn": (floor_epoch_kn, {}, False),
    "floor_nk": (floor_epoch_nk, {}, False),
    "floor_chunked_16": (floor_epoch_chunked, {"chunk": 16}, False),
    "floor_chunked_8_1thread": (floor_epoch_chunked, {"chunk": 8}, True),
}


def torch_epochs(X, y, dtype, epochs, batch_size, n_filters, kernel, lr, pool=None):
    """The same network and training in PyTorch on the CPU (Adam, half MSE).

    ``pool``: a max-pooling window after the tanh (None: no pooling).
    """
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(0)
    n, h, w = X.shape
    ho, wo = h - kernel + 1, w - kernel + 1
    layers = [torch.nn.Conv2d(1, n_filters, kernel), torch.nn.Tanh()]
    if pool is not None:
        layers.append(torch.nn.MaxPool2d(pool))
        ho, wo = ho // pool, wo // pool
    model = torch.nn.Sequential(
        *layers,
        torch.nn.Flatten(),
        torch.nn.Linear(n_filters * ho * wo, 1),
        torch.nn.Sigmoid(),
    ).to(torch_dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    Xt = torch.from_numpy(np.ascontiguousarray(X[:, None]))
    scaled = 0.1 + 0.8 * (y - y.min()) / (y.max() - y.min())
    yt = torch.from_numpy(scaled.astype(dtype)[:, None])
    for _ in range(epochs):
        order = torch.randperm(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = 0.5 * ((model(Xt[idx]) - yt[idx]) ** 2).mean()
            loss.backward()
            optimizer.step()


#: W3's step size, the same for PyTorch: with 8 * 26 * 26 = 5408 inputs to the
#: dense layer, plain Adam (PyTorch's) at 0.01 drives the sigmoid into
#: saturation on these images (the loss stalls near 0.12); 0.001 learns in both
#: (held-out R² ~0.5 after 2 epochs). It does not change the work per epoch.
W3_LEARNING_RATE = 0.001


def w3_model(epochs):
    # padding and pooling explicit: W3 is the "valid" unpooled network,
    # whatever the defaults.
    return TinyConvRegressor(
        padding="valid", n_filters=8, kernel_size=3, pooling=None, batch_size=64,
        solver="adam", max_iter=epochs, learning_rate=W3_LEARNING_RATE, random_state=0,
        **NEVER_STOP,
    )


def bench_w3(quick, repeats):
    n = 256 if quick else 20000
    epochs = 1 if quick else 2
    rng = np.random.RandomState(1)
    floor_params = {"kernels": rng.randn(8, 9) / 3, "coef": rng.randn(8 * 26 * 26) / 74}
    results = {"n_images": n, "epochs": epochs, "torch": None}
    # --quick only checks that the script runs: no PyTorch (slow to import).
    if not quick:
        _import_torch()
    if torch is not None:
        results["torch"] = {
            "version": torch.__version__,
            "threads": torch.get_num_threads(),
        }
    for dtype in (np.float64, np.float32):
        X, y = large_data(n, 28, dtype)
        model = w3_model(epochs)
        model.fit(X[:128], y[:128])  # warm up imports and caches
        # The pooled W3 (issue 13): the same network with a 2x2 max pool.
        pooled = w3_model(epochs).set_params(pooling="max", pool_size=2)
        pooled.fit(X[:128], y[:128])
        if torch is not None:
            torch_epochs(X[:640], y[:640], dtype, 1, 64, 8, 3, W3_LEARNING_RATE)
        rows = []
        for _ in range(repeats):
            row = {}
            row["fit"], _ = _timed(model.fit, X, y)
            row["fit"] /= epochs
            row["pooled_fit"], _ = _timed(pooled.fit, X, y)
            row["pooled_fit"] /= epochs
            for variant, (func, kwargs, one_thread) in FLOOR_VARIANTS.items():
                with threadpool_limits(1 if one_thread else None, user_api="blas"):
                    row[variant], _ = _timed(
                        func, X, 64, 8, 3, floor_params, **kwargs
                    )
            row["floor"] = min(row[variant] for variant in FLOOR_VARIANTS)
            if torch is not None:
                row["torch"], _ = _timed(
                    torch_epochs, X, y, dtype, epochs, 64, 8, 3, W3_LEARNING_RATE
                )
                row["torch"] /= epochs
            rows.append(row)
        name = np.dtype(dtype).name
        entry = {key: _median(r[key] for r in rows) for key in rows[0]}
        entry["runs"] = rows
        entry["fit_over_floor"] = _median(r["fit"] / r["floor"] for r in rows)
        entry["pooled_over_fit"] = _median(r["pooled_fit"] / r["fit"] for r in rows)
        if torch is not None:
            entry["torch_over_fit"] = _median(r["torch"] / r["fit"] for r in rows)
        entry["final_loss"] = float(model.loss_curve_[-1])
        X_test, y_test = large_data(max(n // 10, 64), 28, dtype, seed=5)
        entry["r2_heldout"] = float(r2_score(y_test, model.predict(X_test)))
        results[name] = entry
    results["float64_over_float32"] = (
        results["float64"]["fit"] / results["float32"]["fit"]
    )
    return results


def bench_threads(quick, repeats):
    """W3 and a pooled W3 with n_jobs=1 against n_jobs=2, and PyTorch on 2 threads.

    One epoch per timing; the contenders alternate within every repeat and the
    ratios are medians of the per-repeat ratios. Then predict on 60,000 28x28
    images with n_jobs=1 against n_jobs=2, and the peak memory of the latter.
    """
    n = 512 if quick else 20000
    results = {"n_images": n, "torch": None}
    if not quick:
        _import_torch()
    torch_threads = None
    if torch is not None:
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(2)
        results["torch"] = {"version": torch.__version__, "threads": 2}
    try:
        for pooled in (False, True):
            for dtype in (np.float32, np.float64):
                X, y = large_data(n, 28, dtype)
                # Explicit: the estimator's default pooling is not W3's.
                extra = (
                    {"pooling": "max", "pool_size": 2} if pooled else {"pooling": None}
                )
                models = {
                    k: w3_model(1).set_params(n_jobs=k, **extra) for k in (1, 2)
                }
                for model in models.values():  # warm up imports and caches
                    model.fit(X[:640], y[:640])
                pool = 2 if pooled else None
                if torch is not None:
                    torch_epochs(X[:640], y[:640], dtype, 1, 64, 8, 3,
                                 W3_LEARNING_RATE, pool)
                rows = []
                for _ in range(repeats):
                    row = {}
                    for k, model in models.items():
                        row[f"n_jobs_{k}"], _ = _timed(model.fit, X, y)
                    if torch is not None:
                        row["torch"], _ = _timed(
                            torch_epochs, X, y, dtype, 1, 64, 8, 3,
                            W3_LEARNING_RATE, pool,
                        )
                    rows.append(row)
                same = bool(np.array_equal(models[1].coef_, models[2].coef_))
                entry = {key: _median(r[key] for r in rows) for key in rows[0]}
                entry["runs"] = rows
                entry["same_weights"] = same
                entry["speedup"] = _median(r["n_jobs_1"] / r["n_jobs_2"] for r in rows)
                if torch is not None:
                    entry["torch_over_fit"] = _median(
                        r["torch"] / r["n_jobs_2"] for r in rows
                    )
                name = ("pooled_" if pooled else "") + np.dtype(dtype).name
                results[name] = entry
    finally:
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
    results["predict"] = _bench_threaded_predict(quick, repeats)
    return results


def _bench_threaded_predict(quick, repeats):
    n = 6000 if quick else 60000
    X_small, y_small = large_data(256, 28, np.float32)
    model = w3_model(1).set_params(pooling=None).fit(X_small, y_small)
    X = np.random.RandomState(2).rand(n, 28, 28).astype(np.float32)
    model.set_params(n_jobs=2).predict(X[:1000])  # warm up
    rows = []
    for _ in range(repeats):
        t1, p1 = _timed(model.set_params(n_jobs=1).predict, X)
        t2, p2 = _timed(model.set_params(n_jobs=2).predict, X)
        rows.append((t1, t2))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    model.set_params(n_jobs=2).predict(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "n_images": n,
        "n_jobs_1_s": _median(r[0] for r in rows),
        "n_jobs_2_s": _median(r[1] for r in rows),
        "speedup": _median(r[0] / r[1] for r in rows),
        "same_predictions": bool(np.array_equal(p1, p2)),
        "peak_extra_mb_n_jobs_2": (peak - before) / 2**20,
    }


def bench_scaling(quick, repeats):
    counts = (64, 128, 256) if quick else (5000, 10000, 20000)
    sizes = (16, 28, 56)
    n_for_sizes = 64 if quick else 5000
    out = {"images": [], "pixels": []}
    model = w3_model(1)
    for n in counts:
        X, y = large_data(n, 28, np.float64)
        t = _median(_timed(model.fit, X, y)[0] for _ in range(repeats))
        out["images"].append({"n": n, "epoch_s": t, "us_per_image": 1e6 * t / n})
    for size in sizes:
        X, y = large_data(n_for_sizes, size, np.float64)
        t = _median(_timed(model.fit, X, y)[0] for _ in range(repeats))
        out["pixels"].append({
            "size": size,
            "n": n_for_sizes,
            "epoch_s": t,
            "ns_per_pixel": 1e9 * t / (n_for_sizes * size * size),
        })
    return out


# ----------------------------------------------------------------------- W4


def bench_w4(quick):
    n = 6000 if quick else 60000
    X_small, y_small = large_data(256, 28, np.float32)
    model = w3_model(1).fit(X_small, y_small)
    X = np.random.RandomState(2).rand(n, 28, 28).astype(np.float32)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    prediction = model.predict(X)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "n_images": n,
        "input_mb": X.nbytes / 2**20,
        "output_mb": prediction.nbytes / 2**20,
        "peak_extra_mb": (peak - before) / 2**20,
        "predict_s": elapsed,
        "target_mb": 100,
    }


# ----------------------------------------------------------------------- W5


def bench_w5(quick, repeats):
    from joblib import parallel_config

    X_train, _, y_train, _ = digits_data()
    if quick:
        X_train, y_train = X_train[:150], y_train[:150]
    grid = {"learning_rate": [0.003, 0.01, 0.03], "kernel_scale": [None, 0.3, 1.0]}
    estimator = TinyConvRegressor(
        padding="valid", n_filters=8, kernel_size=3, pooling=None, batch_size=32,
        max_iter=1 if quick else 50, random_state=0, **NEVER_STOP,
    )

    def search(n_jobs):
        # One BLAS thread inside each loky worker: two workers fill two cores.
        with parallel_config(backend="loky", inner_max_num_threads=1):
            return GridSearchCV(estimator, grid, cv=3, n_jobs=n_jobs).fit(
                X_train, y_train
            )

    # The workers inherit the environment: keep their ConvergenceWarnings quiet.
    os.environ["PYTHONWARNINGS"] = "ignore::UserWarning"
    search(2)  # start the workers once (reported runs reuse them)
    rows = []
    for _ in range(repeats):
        t1, s1 = _timed(lambda: search(1))
        t2, s2 = _timed(lambda: search(2))
        rows.append((t1, t2))
    same = np.allclose(
        s1.cv_results_["mean_test_score"], s2.cv_results_["mean_test_score"]
    )
    return {
        "n_jobs_1_s": _median(r[0] for r in rows),
        "n_jobs_2_s": _median(r[1] for r in rows),
        "speedup": _median(r[0] / r[1] for r in rows),
        "same_scores": bool(same),
        "target": 1.7,
    }


# -------------------------------------------------------------- reporting


def machine():
    info = {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "load_average_start": list(os.getloadavg()),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        info["cpu"] = platform.processor()
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture",
                                   "num_threads")}
            for p in threadpool_info()
        ]
    except ImportError:
        info["blas"] = None
    return info


def _check(ok):
    return "met" if ok else "NOT MET"


def table(results):
    lines = []

    def row(workload, measure, value, target=""):
        lines.append(f"{workload:<10} {measure:<44} {value:>14} {target}")

    row("workload", "measure", "value", "target")
    lines.append("-" * 86)
    if "W1" in results:
        w = results["W1"]
        row("W1", "tutorial loop / fit (time ratio)", f"{w['speedup']:.2f}x",
            f">= 4x: {_check(w['speedup'] >= 4)}")
        row("W1", "fit image-updates per second", f"{w['fit_updates_per_s']:,.0f}")
        row("W1", "tutorial image-updates per second",
            f"{w['tutorial_updates_per_s']:,.0f}")
        row("W1", "fit vs tutorial weights (max rel diff)",
            f"{w['max_rel_diff_weights']:.1e}")
    if "W2" in results:
        w = results["W2"]
        row("W2", "MLPRegressor time / fit time", f"{w['mlp_over_cnn_time']:.2f}x")
        row("W2", "fit time (s)", f"{w['cnn_s']:.3f}")
        row("W2", "R² held out: TinyConvRegressor", f"{w['cnn_r2']:.3f}")
        row("W2", "R² held out: MLPRegressor", f"{w['mlp_r2']:.3f}")
    if "W3" in results:
        w = results["W3"]
        for name in ("float64", "float32"):
            e = w[name]
            row("W3", f"{name} epoch time (s)", f"{e['fit']:.3f}")
            row("W3", f"{name} R² held out after the epochs", f"{e['r2_heldout']:.3f}")
            row("W3", f"{name} floor epoch time (s)", f"{e['floor']:.3f}")
            row("W3", f"{name} epoch / floor", f"{e['fit_over_floor']:.2f}x",
                f"<= 1.5x: {_check(e['fit_over_floor'] <= 1.5)}")
            row("W3", f"{name} pooled epoch (max pool 2) (s)", f"{e['pooled_fit']:.3f}")
            row("W3", f"{name} pooled epoch / unpooled epoch",
                f"{e['pooled_over_fit']:.2f}x",
                f"<= 1.1x: {_check(e['pooled_over_fit'] <= 1.1)}")
            if w["torch"] is not None:
                need = 1.3 if name == "float64" else 1.0
                row("W3", f"{name} PyTorch epoch time (s)", f"{e['torch']:.3f}")
                row("W3", f"{name} PyTorch time / fit time",
                    f"{e['torch_over_fit']:.2f}x",
                    f">= {need}x: {_check(e['torch_over_fit'] >= need)}")
        ratio = w["float64_over_float32"]
        row("W3", "float64 time / float32 time", f"{ratio:.2f}x",
            f">= 1.3x: {_check(ratio >= 1.3)}")
    if "threads" in results:
        w = results["threads"]
        for name in ("float32", "float64", "pooled_float32", "pooled_float64"):
            e = w[name]
            label = name.replace("pooled_", "pooled ")
            row("W3 jobs", f"{label} epoch n_jobs=1 / n_jobs=2",
                f"{e['speedup']:.2f}x", f">= 1.6x: {_check(e['speedup'] >= 1.6)}")
            row("W3 jobs", f"{label} epoch time n_jobs=2 (s)", f"{e['n_jobs_2']:.3f}")
            row("W3 jobs", f"{label} same weights for both", str(e["same_weights"]))
            if w["torch"] is not None:
                need = 3.0 if name.endswith("float32") else 2.2
                row("W3 jobs", f"{label} PyTorch (2 threads) / n_jobs=2",
                    f"{e['torch_over_fit']:.2f}x",
                    f">= {need}x: {_check(e['torch_over_fit'] >= need)}")
        p = w["predict"]
        row("W4 jobs", f"predict {p['n_images']}: n_jobs=1 / n_jobs=2",
            f"{p['speedup']:.2f}x", f">= 1.6x: {_check(p['speedup'] >= 1.6)}")
        row("W4 jobs", "predict n_jobs=2: peak extra MB",
            f"{p['peak_extra_mb_n_jobs_2']:.1f}",
            f"< 100 MB: {_check(p['peak_extra_mb_n_jobs_2'] < 100)}")
    if "scaling" in results:
        for e in results["scaling"]["images"]:
            row("W3 scale", f"{e['n']} images 28x28: us per image",
                f"{e['us_per_image']:.1f}")
        for e in results["scaling"]["pixels"]:
            row("W3 scale", f"{e['size']}x{e['size']} ({e['n']} images): ns/pixel",
                f"{e['ns_per_pixel']:.2f}")
    if "W4" in results:
        w = results["W4"]
        row("W4", f"predict {w['n_images']} images: peak extra MB",
            f"{w['peak_extra_mb']:.1f}",
            f"< 100 MB: {_check(w['peak_extra_mb'] < 100)}")
        row("W4", "input MB", f"{w['input_mb']:.1f}")
    if "W5" in results:
        w = results["W5"]
        row("W5", "GridSearchCV n_jobs=1 time / n_jobs=2 time",
            f"{w['speedup']:.2f}x", f">= 1.7x: {_check(w['speedup'] >= 1.7)}")
    return "\n".join(lines)


WORKLOADS = ("W1", "W2", "W3", "threads", "scaling", "W4", "W5")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and one repeat: checks the script runs")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats per comparison (default 5, quick 1)")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--json", default=None,
                        help="output file (default benchmarks/results.json; "
                             "--quick writes none unless given)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}")

    warnings.simplefilter("ignore", ConvergenceWarning)
    results = {"machine": machine(), "quick": args.quick, "repeats": repeats}
    runners = {
        "W1": lambda: bench_w1(args.quick, repeats),
        "W2": lambda: bench_w2(args.quick, repeats),
        "W3": lambda: bench_w3(args.quick, repeats),
        "threads": lambda: bench_threads(args.quick, repeats),
        "scaling": lambda: bench_scaling(args.quick, min(repeats, 3)),
        "W4": lambda: bench_w4(args.quick),
        "W5": lambda: bench_w5(args.quick, min(repeats, 3)),
    }
    for name in WORKLOADS:
        if name in only:
            start = time.perf_counter()
            results[name] = runners[name]()
            print(f"[{name} done in {time.perf_counter() - start:.1f} s]",
                  file=sys.stderr, flush=True)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    print(table(results))
    path = args.json or (None if args.quick else ROOT / "benchmarks" / "results.json")
    if path is not None:
        Path(path).write_text(json.dumps(results, indent=1) + "\n")
        print(f"results written to {path}")
    return results


if __name__ == "__main__":
    main()
