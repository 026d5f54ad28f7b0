"""Threads inside one fit and predict (``n_jobs``): the same bits for any n_jobs.

Each chunk of a batch writes its own gradient slot and the slots are summed
in chunk order, so a fit with ``n_jobs=2, 3, -1`` must give the weights, the
loss curve and the predictions of ``n_jobs=1`` exactly (the same operations
on the same shapes). The small test data are made to take the threaded path
by two settings: a smaller chunk (``CHUNK_BYTES``), so that every batch has
several chunks, and no work threshold (``MIN_PARALLEL_WORK``), which keeps
small batches serial in normal use. ``allowed_threads`` is raised to 4 so
that n_jobs=3 and -1 run 3 and 4 threads on a 2-core machine too. A spy
records which threads ran chunks, so no comparison passes by running
serially twice.
"""

import threading
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from oracles import fit_quietly, fitted_arrays

import sktinycnn._kernels as kernels
import sktinycnn._parallel as parallel
import sktinycnn._patches as patches
from sktinycnn import TinyConvRegressor
from sktinycnn._constraints import InvalidParameterError


class _Spy:
    """The threads that ran chunks, and the sizes of the teams started."""

    def __init__(self):
        self.threads, self.teams = set(), []

    def clear(self):
        self.threads.clear()
        self.teams.clear()


@pytest.fixture
def threaded_path(monkeypatch):
    """Small data on the threaded path; returns a :class:`_Spy`."""
    monkeypatch.setattr(kernels, "CHUNK_BYTES", 2**12)
    monkeypatch.setattr(kernels, "MIN_CHUNK_IMAGES", 1)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 4)
    spy = _Spy()
    gradient = kernels.Chain.gradient
    init = parallel.ThreadTeam.__init__
    main = threading.get_ident()

    def record(self, *args, **kwargs):
        spy.threads.add(threading.get_ident())
        if threading.get_ident() == main:
            # The caller dawdles, so that the helpers surely take chunks too,
            # even on a busy machine.
            time.sleep(2e-4)
        return gradient(self, *args, **kwargs)

    def team(self, n):
        spy.teams.append(n)
        init(self, n)

    monkeypatch.setattr(kernels.Chain, "gradient", record)
    monkeypatch.setattr(parallel.ThreadTeam, "__init__", team)
    return spy


def _data(n=120, shape=(2, 9, 8), n_outputs=1, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, *shape)).astype(dtype)
    y = np.c_[[np.tanh(X[:, k % shape[0], k:k + 3].mean(axis=(1, 2)))
               for k in range(n_outputs)]].T
    return X, (y[:, 0] if n_outputs == 1 else y)


CONFIGURATIONS = {
    "batched": dict(batch_size=40),
    "pooled": dict(batch_size=40, pooling="max", pool_size=2, padding="same"),
    "avg-pooled-sgd": dict(batch_size=50, pooling="avg", solver="sgd"),
    "multi-output": dict(batch_size=40, n_outputs=3),
    "weighted-early-stopping": dict(batch_size=30, early_stopping=True,
                                    weights=True),
    "no-shuffle-no-intercept": dict(batch_size=40, shuffle=False,
                                    fit_intercept=False),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(CONFIGURATIONS))
def test_any_n_jobs_gives_the_same_bits(threaded_path, name, dtype):
    config = dict(CONFIGURATIONS[name])
    n_outputs = config.pop("n_outputs", 1)
    weights = config.pop("weights", False)
    X, y = _data(n_outputs=n_outputs, dtype=dtype)
    sample_weight = None
    if weights:
        sample_weight = np.random.RandomState(1).uniform(0.5, 2, len(X))
    params = dict(n_filters=3, kernel_size=3, max_iter=4, random_state=0,
                  tol=0.0, **config)
    models = {}
    for n_jobs in (1, 2, 3, -1):
        threaded_path.clear()
        model = TinyConvRegressor(**params, n_jobs=n_jobs)
        models[n_jobs] = fit_quietly(model, X, y, sample_weight=sample_weight)
        # n_jobs=1 is the serial loop; the others really share the chunks.
        expected = {1: 1, 2: 2, 3: 3, -1: 4}[n_jobs]
        assert max(threaded_path.teams, default=1) == expected
        assert 1 < len(threaded_path.threads) <= expected or expected == 1
        assert len(threaded_path.threads) == 1 or expected > 1
    serial = models[1]
    for n_jobs, model in models.items():
        expected = fitted_arrays(serial)
        for name, array in fitted_arrays(model).items():
            assert_array_equal(
                array, expected[name], err_msg=f"{name}, n_jobs={n_jobs}"
            )
        assert model.loss_curve_ == serial.loss_curve_
        assert model.validation_scores_ == serial.validation_scores_
        assert_array_equal(model.predict(X), serial.predict(X))
        assert_array_equal(model.feature_maps(X), serial.feature_maps(X))


def test_partial_fit_and_warm_start_with_threads(threaded_path):
    X, y = _data()
    params = dict(n_filters=2, kernel_size=3, batch_size=40, random_state=0)
    one = TinyConvRegressor(**params, n_jobs=1)
    two = TinyConvRegressor(**params, n_jobs=2)
    for _ in range(3):
        one.partial_fit(X, y)
        two.partial_fit(X, y)
    assert len(threaded_path.threads) == 2
    assert_array_equal(one.coef_, two.coef_)
    assert one.loss_curve_ == two.loss_curve_


def test_predict_with_threads_equals_serial(threaded_path, monkeypatch):
    X, y = _data(n=60)
    model = fit_quietly(
        TinyConvRegressor(n_filters=3, kernel_size=3, max_iter=2, random_state=0),
        X, y,
    )
    threads = set()
    write = patches.Patcher.write
    main = threading.get_ident()

    def spy(self, images, out):
        threads.add(threading.get_ident())
        if threading.get_ident() == main:
            time.sleep(2e-4)  # so that the helpers surely take chunks too
        return write(self, images, out)

    monkeypatch.setattr(patches.Patcher, "write", spy)
    X_new = _data(n=333, seed=5)[0]
    serial = model.predict(X_new), model.feature_maps(X_new)
    assert threads == {threading.get_ident()}
    for n_jobs in (2, -1):
        threads.clear()
        model.set_params(n_jobs=n_jobs)
        assert_array_equal(model.predict(X_new), serial[0])
        assert_array_equal(model.feature_maps(X_new), serial[1])
        assert len(threads) > 1


def test_overflow_in_a_worker_is_raised_in_the_caller(threaded_path):
    X, y = _data(n=60)
    model = fit_quietly(
        TinyConvRegressor(n_filters=2, kernel_size=3, max_iter=1, random_state=0,
                          n_jobs=2),
        X.astype(np.float32), y,
    )
    X_big = X.astype(np.float32)
    X_big[-1] = 3e38  # only the last chunk overflows, in whichever thread
    with pytest.raises(ValueError, match="overflowed float32"):
        model.predict(X_big)
    assert not _worker_threads()


def test_helpers_run_under_the_callers_error_state(threaded_path):
    # np.errstate is per thread: a fit silences overflow in its helpers too,
    # and a caller that asks for errors gets them from the helpers.
    states = []
    with parallel.ThreadTeam(2) as team:
        with np.errstate(over="raise", invalid="ignore"):
            team.run(lambda worker: states.append(np.geterr()))
    assert len(states) == 2
    assert all(s["over"] == "raise" and s["invalid"] == "ignore" for s in states)


def _worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith("sktinycnn-")]


def test_ctrl_c_in_an_epoch_keeps_the_last_finished_epoch(threaded_path, monkeypatch):
    # Ctrl-C reaches the main thread while it runs a chunk of epoch 3: the
    # helper finishes its chunk, is joined, and the model is epoch 2's.
    X, y = _data()
    params = dict(n_filters=2, kernel_size=3, batch_size=40, max_iter=50, tol=0.0,
                  random_state=0)
    import sktinycnn._training as training

    epochs = {"n": 0}
    epoch = training.Trainer._epoch

    def count(self, *args):
        epochs["n"] += 1
        return epoch(self, *args)

    gradient = kernels.Chain.gradient
    main = threading.get_ident()

    def interrupt(self, *args, **kwargs):
        if threading.get_ident() == main and epochs["n"] == 3:
            raise KeyboardInterrupt
        return gradient(self, *args, **kwargs)

    monkeypatch.setattr(training.Trainer, "_epoch", count)
    monkeypatch.setattr(kernels.Chain, "gradient", interrupt)
    model = TinyConvRegressor(**params, n_jobs=2)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        model.fit(X, y)
    monkeypatch.setattr(kernels.Chain, "gradient", gradient)
    assert epochs["n"] == 3 and model.n_iter_ == 2
    assert not _worker_threads()
    two = fit_quietly(TinyConvRegressor(**{**params, "max_iter": 2}, n_jobs=2), X, y)
    assert_array_equal(model.coef_, two.coef_)
    assert_array_equal(model.kernels_, two.kernels_)
    assert model.loss_curve_ == two.loss_curve_


def test_fits_in_user_threads_with_n_jobs_agree(threaded_path):
    X, y = _data()
    params = dict(n_filters=2, kernel_size=3, batch_size=40, random_state=3,
                  tol=1.0, n_iter_no_change=2, max_iter=20)
    sequential = TinyConvRegressor(**params, n_jobs=1).fit(X, y)
    barrier = threading.Barrier(3)
    results = [None] * 3

    def work(i):
        barrier.wait()
        results[i] = TinyConvRegressor(**params, n_jobs=2).fit(X, y)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for model in results:
        assert_array_equal(model.coef_, sequential.coef_)
        assert model.loss_curve_ == sequential.loss_curve_
    assert not _worker_threads()


# ------------------------------------------------------------ how many threads


def test_n_threads_follows_scikit_learn_conventions(monkeypatch):
    import joblib

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(joblib, "cpu_count", lambda: 8)
    assert parallel.allowed_threads() == 8
    assert parallel.n_threads(None) == 1
    assert parallel.n_threads(1) == 1
    assert parallel.n_threads(3) == 3
    assert parallel.n_threads(-1) == 8
    assert parallel.n_threads(-2) == 7
    assert parallel.n_threads(-100) == 1
    assert parallel.n_threads(50) == 8  # never more than the allowance
    with joblib.parallel_config(n_jobs=3):
        assert parallel.n_threads(None) == 3
        assert parallel.n_threads(1) == 1
    with joblib.parallel_config(n_jobs=-1):
        assert parallel.n_threads(None) == 8
    # What joblib's loky workers and Dask's workers are started with.
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert parallel.n_threads(-1) == 2
    assert parallel.n_threads(4) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert parallel.n_threads(-1) == 8


def test_threads_only_where_the_work_pays():
    # Below the crossover the serial path runs, whatever n_jobs says.
    assert parallel.team_size(4, 10, parallel.MIN_PARALLEL_WORK - 1) == 1
    assert parallel.team_size(4, 10, parallel.MIN_PARALLEL_WORK) == 4
    assert parallel.team_size(4, 3, parallel.MIN_PARALLEL_WORK) == 3
    assert parallel.team_size(4, 1, 10 * parallel.MIN_PARALLEL_WORK) == 1


def test_batch_size_1_stays_serial(monkeypatch):
    seen = []
    init = parallel.ThreadTeam.__init__

    def spy(self, n):
        seen.append(n)
        init(self, n)

    monkeypatch.setattr(parallel.ThreadTeam, "__init__", spy)
    X, y = _data(n=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TinyConvRegressor(batch_size=1, max_iter=2, n_jobs=2).fit(X, y)
    assert seen == []


@pytest.mark.parametrize("n_jobs", [0, 1.5, True, "2"])
def test_bad_n_jobs_is_refused(n_jobs):
    X, y = _data(n=20)
    with pytest.raises(InvalidParameterError, match="n_jobs must be None or an int"):
        TinyConvRegressor(n_jobs=n_jobs).fit(X, y)


def test_a_team_hands_a_helper_error_to_the_caller():
    def job(worker):
        if worker == 1:
            raise RuntimeError("in the helper")

    with parallel.ThreadTeam(2) as team:
        with pytest.raises(RuntimeError, match="in the helper"):
            team.run(job)
        done = []
        team.run(done.append)  # the team still works afterwards
        assert sorted(done) == [0, 1]
    assert not _worker_threads()


@pytest.mark.parametrize("n_classes", [2, 4], ids=["binary", "multiclass"])
def test_the_classifier_gets_the_same_bits_for_any_n_jobs(threaded_path, n_classes):
    from sktinycnn import TinyConvClassifier

    X, y = _data()
    labels = np.digitize(y, np.quantile(y, np.linspace(0, 1, n_classes + 1)[1:-1]))
    params = dict(n_filters=3, kernel_size=3, batch_size=40, max_iter=3, tol=0.0,
                  random_state=0, pooling="max", pool_size=2)
    serial = fit_quietly(TinyConvClassifier(**params, n_jobs=1), X, labels)
    threaded_path.clear()
    model = fit_quietly(TinyConvClassifier(**params, n_jobs=-1), X, labels)
    assert max(threaded_path.teams) == 4 and len(threaded_path.threads) > 1
    assert_array_equal(model.coef_, serial.coef_)
    assert_array_equal(model.kernels_, serial.kernels_)
    assert model.loss_curve_ == serial.loss_curve_
    assert_array_equal(model.predict_proba(X), serial.predict_proba(X))
