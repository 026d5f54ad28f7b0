"""Persistence: pickle, joblib and skops round trips are exact and safe.

A loaded model predicts bit for bit like the original, for float32 and float64
models, with and without pooling, unfitted, fitted and in the middle of
``partial_fit`` (training then goes on exactly as it would have). The fitted
state is plain NumPy arrays and built-in types, so ``skops.io`` loads it
trusting only ``TinyConvRegressor``;
a model pickled by another ``sktinycnn`` version warns when loaded.
"""

import pickle

import joblib
import numpy as np
import pytest
import skops.io as sio
from oracles import fit_quietly
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import sktinycnn
import sktinycnn._base
from sktinycnn import TinyConvRegressor

TRUSTED = f"{TinyConvRegressor.__module__}.{TinyConvRegressor.__qualname__}"
DTYPES = [np.float32, np.float64]
STAGES = ["unfitted", "fitted", "partial_fit", "early_stopping"]
#: Pooling of the models: none, max over 2x2 windows (rows or columns of the
#: maps dropped), average over 1x2 windows (a tuple hyperparameter), global.
POOLINGS = {
    "unpooled": {},
    "max-2": dict(pooling="max", pool_size=2),
    "avg-1x2": dict(pooling="avg", pool_size=(1, 2)),
    "avg-global": dict(pooling="avg", pool_size="global"),
}


def _data(dtype, n_samples=40, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, 2, 4, 5)).astype(dtype)
    y = np.c_[X[:, 0].mean(axis=(1, 2)), X[:, 1, :2].sum(axis=(1, 2))]
    return X, y


def _model(stage, dtype, pooling="unpooled"):
    X, y = _data(dtype)
    pool = POOLINGS[pooling]
    if stage == "unfitted":
        return TinyConvRegressor(n_filters=2, kernel_size=3, random_state=0, **pool)
    if stage == "partial_fit":
        model = TinyConvRegressor(
            n_filters=2, kernel_size=(2, 3), solver="sgd", batch_size=8,
            random_state=0, **pool,
        )
        for _ in range(3):
            model.partial_fit(X, y)
        return model
    model = TinyConvRegressor(
        n_filters=2,
        kernel_size=3,
        padding="same",
        max_iter=5,
        early_stopping=stage == "early_stopping",
        random_state=0,
        **pool,
    )
    with pytest.warns(ConvergenceWarning):
        return model.fit(X, y)


def _assert_same(a, b, path):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), path
        assert a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (item_a, item_b) in enumerate(zip(a, b, strict=True)):
            _assert_same(item_a, item_b, f"{path}[{i}]")
    elif isinstance(a, np.random.RandomState):
        _assert_same(a.get_state(), b.get_state(), f"{path}.get_state()")
    else:
        assert type(a) is type(b), path
        # Bit for bit: NaN equals NaN, 0.0 differs from -0.0.
        assert pickle.dumps(a) == pickle.dumps(b), path


def _assert_same_model(a, b):
    """Same parameters and the same fitted state, array for array, bit for bit."""
    assert a.get_params() == b.get_params()
    _assert_same(a.__getstate__(), b.__getstate__(), "state")


def _pickle(model, tmp_path):
    return pickle.loads(pickle.dumps(model))


def _joblib(model, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    return joblib.load(path)


def _joblib_mmap(model, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    # Memory-mapped, read-only fitted arrays: predict must not write into them.
    return joblib.load(path, mmap_mode="r")


def _skops(model, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    assert sio.get_untrusted_types(file=path) == [TRUSTED]
    return sio.load(path, trusted=[TRUSTED])


ROUND_TRIPS = [_pickle, _joblib, _joblib_mmap, _skops]


@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_round_trip_is_exact(round_trip, stage, dtype, pooling, tmp_path):
    model = _model(stage, dtype, pooling)
    loaded = round_trip(model, tmp_path)
    assert type(loaded) is TinyConvRegressor
    _assert_same_model(model, loaded)
    X = _data(dtype, n_samples=15, seed=1)[0]
    if stage == "unfitted":
        with pytest.raises(NotFittedError):
            loaded.predict(X)
        return
    expected = model.predict(X)
    got = loaded.predict(X)
    assert got.dtype == expected.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(loaded.feature_maps(X), model.feature_maps(X))
    np.testing.assert_array_equal(loaded.pooled_maps(X), model.pooled_maps(X))
    assert loaded.pool_size_ == model.pool_size_


@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_training_continues_identically_after_round_trip(
    round_trip, dtype, pooling, tmp_path
):
    """The optimiser state and random generator survive: partial_fit goes on
    exactly as in the original, and as in a model never saved."""
    X, y = _data(dtype)
    model = _model("partial_fit", dtype, pooling)
    loaded = round_trip(model, tmp_path)
    never_saved = _model("partial_fit", dtype, pooling)
    for _ in range(2):
        model.partial_fit(X, y)
        loaded.partial_fit(X, y)
    never_saved.partial_fit(X, y).partial_fit(X, y)
    _assert_same_model(loaded, model)
    _assert_same_model(loaded, never_saved)
    np.testing.assert_array_equal(loaded.predict(X), never_saved.predict(X))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_unfitted_round_trip_fits_like_the_original(dtype, pooling, tmp_path):
    X, y = _data(dtype)
    model = _model("unfitted", dtype, pooling)
    loaded = _skops(model, tmp_path)
    fit_quietly(model, X, y)
    fit_quietly(loaded, X, y)
    assert loaded.n_iter_ == model.n_iter_
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def _plain(value, path="state"):
    """Assert that a state holds only plain data (what skops trusts)."""
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, np.ndarray):
        assert value.dtype.kind in "biuf", (path, value.dtype)
        return
    if isinstance(value, np.generic):
        assert value.dtype.kind in "biuf", (path, value.dtype)
        return
    if isinstance(value, np.random.RandomState):
        return  # NumPy's own generator, which skops trusts
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _plain(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), (path, key)
            _plain(item, f"{path}[{key!r}]")
        return
    raise AssertionError(f"{path} is a {type(value).__name__}")


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_state_is_plain_arrays_and_builtins(stage, pooling):
    model = _model(stage, np.float64, pooling)
    _plain(model.__getstate__())
    # skops reports the estimator class and nothing else as untrusted.
    assert sio.get_untrusted_types(data=sio.dumps(model)) == [TRUSTED]


@pytest.mark.parametrize("pooling", POOLINGS)
def test_skops_refuses_to_load_without_trusting_the_estimator(pooling):
    dumped = sio.dumps(_model("fitted", np.float64, pooling))
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(dumped)


def test_state_records_the_package_version():
    state = _model("fitted", np.float64).__getstate__()
    assert state["_sktinycnn_version"] == sktinycnn.__version__


@pytest.mark.parametrize("stage", ["unfitted", "fitted"])
def test_loading_a_model_of_another_version_warns(stage, monkeypatch):
    model = _model(stage, np.float64)
    # Pickle as if by another release, then load with the installed one.
    monkeypatch.setattr(sktinycnn._base, "__version__", "0.0.1.dev0")
    dumped = pickle.dumps(model)
    monkeypatch.undo()
    pattern = r"pickled with sktinycnn 0\.0\.1\.dev0 and is being loaded with"
    with pytest.warns(UserWarning, match=pattern) as record:
        loaded = pickle.loads(dumped)
    assert sktinycnn.__version__ in str(record[0].message)
    _assert_same_model(model, loaded)


def test_loading_a_model_of_the_same_version_is_silent():
    # The test suite turns warnings into errors: loading must not warn.
    loaded = pickle.loads(pickle.dumps(_model("fitted", np.float32)))
    assert loaded.predict(_data(np.float32)[0]).dtype == np.float32


def test_pickling_does_not_change_the_model():
    model = _model("partial_fit", np.float64)
    before = pickle.dumps(model)
    pickle.dumps(model)
    joblib.hash(model)
    assert pickle.dumps(model) == before
