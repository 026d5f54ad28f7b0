"""Concurrency: one fitted model serves many threads; fits are thread-independent.

``predict`` and ``feature_maps`` keep no scratch buffers on the estimator, so 8
threads predicting at once get exactly what sequential calls get; two fits
with the same seed in parallel threads give identical models (every random
draw comes from the estimator's own ``random_state``, and floating-point error
state is per thread).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from oracles import fitted_arrays
from sklearn.exceptions import ConvergenceWarning

from sktinycnn import TinyConvRegressor

N_THREADS = 8


def _data(n_samples, seed):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, 3, 6, 7))
    y = np.c_[X[:, 0, :3].mean(axis=(1, 2)), np.tanh(X[:, 2].sum(axis=(1, 2)))]
    return X, y


def _run_together(function, arguments):
    """Call ``function`` on every argument in its own thread, all released at once."""
    barrier = threading.Barrier(len(arguments))

    def task(argument):
        barrier.wait()
        return function(argument)

    with ThreadPoolExecutor(max_workers=len(arguments)) as pool:
        return list(pool.map(task, arguments))


@pytest.fixture(scope="module", params=[np.float32, np.float64], ids=["f32", "f64"])
def fitted(request):
    X, y = _data(120, seed=0)
    model = TinyConvRegressor(
        n_filters=3, kernel_size=3, padding="same", max_iter=20, random_state=0
    )
    with pytest.warns(ConvergenceWarning):
        return model.fit(X.astype(request.param), y)


def test_predict_from_8_threads_equals_sequential(fitted):
    dtype = fitted.coef_.dtype
    # Different inputs per thread, of different sizes, so that a shared buffer
    # would mix them up.
    batches = [
        _data(10 + 17 * i, seed=100 + i)[0].astype(dtype) for i in range(N_THREADS)
    ]
    sequential = [fitted.predict(X) for X in batches]
    maps_sequential = [fitted.feature_maps(X) for X in batches]
    for _ in range(3):
        together = _run_together(fitted.predict, batches)
        maps_together = _run_together(fitted.feature_maps, batches)
        for expected, got in zip(sequential, together, strict=True):
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, expected)
        for expected, got in zip(maps_sequential, maps_together, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_predict_in_threads_does_not_change_the_model(fitted):
    before = {
        name: np.copy(value)
        for name, value in vars(fitted).items()
        if isinstance(value, np.ndarray)
    }
    X = _data(50, seed=7)[0].astype(fitted.coef_.dtype)
    _run_together(fitted.predict, [X] * N_THREADS)
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(fitted, name), value, err_msg=name)


# No warning may be raised inside the threads: warnings.catch_warnings (and so
# pytest.warns) is not thread-safe. With tol above any possible improvement
# (the loss is at most 0.125) the stopping rule ends every fit after
# n_iter_no_change + 2 epochs, before max_iter, so no ConvergenceWarning.
STOP_EARLY = {"tol": 1.0, "n_iter_no_change": 5, "n_iter_cooldown": 0, "max_iter": 50}


def _fit(arguments):
    X, y, params = arguments
    model = TinyConvRegressor(**STOP_EARLY, **params)
    model.fit(X, y)
    # The first epoch sets the best loss; n_iter_no_change + 1 more fail to beat it.
    assert model.n_iter_ == STOP_EARLY["n_iter_no_change"] + 2
    return model


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "adam", "shuffle": True, "batch_size": 16},
        {"solver": "sgd", "shuffle": True, "batch_size": 8, "early_stopping": True},
    ],
    ids=["adam", "sgd-early-stopping"],
)
def test_parallel_fits_with_the_same_seed_are_identical(params):
    X, y = _data(80, seed=1)
    params = {"n_filters": 2, "kernel_size": 3, "random_state": 42, **params}
    sequential = _fit((X, y, params))
    first, second = _run_together(_fit, [(X, y, params), (X, y, params)])
    for model in (first, second):
        expected = fitted_arrays(sequential)
        for name, array in fitted_arrays(model).items():
            np.testing.assert_array_equal(array, expected[name], err_msg=name)
        assert model.loss_curve_ == sequential.loss_curve_
        assert model.n_iter_ == sequential.n_iter_
        np.testing.assert_array_equal(model.predict(X), sequential.predict(X))


def test_parallel_fits_with_different_seeds_differ():
    # The counterpart of the test above: the seed, not luck, makes them equal.
    X, y = _data(80, seed=1)
    params = {"n_filters": 2, "kernel_size": 3}
    first, second = _run_together(
        _fit,
        [(X, y, {**params, "random_state": 1}), (X, y, {**params, "random_state": 2})],
    )
    assert not np.array_equal(first.kernels_[0], second.kernels_[0])


def test_diverging_fit_in_a_thread_does_not_disturb_another():
    """Floating-point error state is per thread: the np.errstate with which
    one thread's fit silences overflow does not change another thread's error
    state (overflow still raises there) nor its results."""
    X, y = _data(40, seed=3)

    def work(kind):
        if kind == "diverge":
            model = TinyConvRegressor(solver="sgd", learning_rate=1e300, max_iter=5)
            with pytest.raises(ValueError, match="Training diverged"):
                model.fit(X, y)
            return None
        with np.errstate(over="raise"):
            # This thread asked for overflow to raise: it still does here.
            with pytest.raises(FloatingPointError):
                np.float64(1e308) * np.float64(10.0)
        return _fit((X, y, {"random_state": 0})).predict(X)

    results = _run_together(work, ["diverge", "normal"] * 4)
    expected = _fit((X, y, {"random_state": 0})).predict(X)
    for result in results[1::2]:
        np.testing.assert_array_equal(result, expected)
