"""Numerical extremes: a correct finite answer or a clear error, nothing between.

Inputs of magnitude 1e-300 to 1e300, targets spanning 1e-8 or 1e8, huge
``kernel_scale`` and ``learning_rate``, saturated activations, extreme sample
weights: no ``RuntimeWarning`` (overflow, invalid value) leaks, predictions
are finite and right where an oracle exists, and divergence raises the
estimator's ``ValueError`` leaving the model exactly as it was.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
from oracles import CONVERGENCE, StrictWarnings, fitted_arrays, scipy_feature_maps
from scipy.special import expit
from sklearn.exceptions import NotFittedError

from sktinycnn import TinyConvRegressor


def _Strict():
    """Fail on any warning but ConvergenceWarning (these fits are short)."""
    return StrictWarnings(CONVERGENCE)


def _data(n_samples=24, shape=(5, 6), seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, *shape)).astype(dtype)
    y = rng.uniform(0, 1, n_samples)
    return X, y


def _fitted_state(model):
    """Everything fit wrote (fitted and private attributes), as pickles."""
    params = model.get_params()
    return {k: pickle.dumps(v) for k, v in vars(model).items() if k not in params}


# --------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    "dtype, magnitude",
    [
        (np.float64, 1e6), (np.float64, 1e-6), (np.float64, 1e300),
        (np.float64, 1e-300), (np.float32, 1e6), (np.float32, 1e-6),
        (np.float32, 1e30), (np.float32, 1e-30),
    ],
)
def test_inputs_of_extreme_magnitude_train_without_warnings(dtype, magnitude):
    X, y = _data()
    X = (X * magnitude).astype(dtype)
    model = TinyConvRegressor(n_filters=2, kernel_size=3, max_iter=10, random_state=0)
    with _Strict():
        y_pred = model.fit(X, y).predict(X)
        maps = model.feature_maps(X)
    assert y_pred.dtype == dtype
    assert np.isfinite(y_pred).all() and np.isfinite(maps).all()
    assert np.all(np.abs(maps) <= 1)


@pytest.mark.parametrize("magnitude", [1e6, 1e100, 1e300])
def test_saturated_feature_maps_match_scipy(magnitude):
    """Huge pixels saturate tanh; the maps still equal tanh(convolve2d(...))."""
    X, y = _data(shape=(4, 5))
    X *= magnitude
    model = TinyConvRegressor(kernel_size=2, n_filters=2, padding="valid", max_iter=3,
                              random_state=0)
    with _Strict():
        maps = model.fit(X, y).feature_maps(X)
    with np.errstate(over="ignore"):  # the oracle's sums may overflow to inf
        expected = scipy_feature_maps(
            X[:, None], model.kernels_[0], model.kernel_intercepts_[0], "valid"
        )
    np.testing.assert_allclose(maps, expected, rtol=1e-12, atol=1e-12)
    assert np.mean(np.abs(maps) == 1) > 0.9  # saturated indeed


def test_predict_on_huge_inputs_saturates_to_finite_predictions():
    X, y = _data()
    with _Strict():
        model = TinyConvRegressor(pooling=None, max_iter=3, random_state=0).fit(X, y)
        y_pred = model.predict(X * 1e300)
    assert np.isfinite(y_pred).all()
    # Saturated maps are +-1 exactly, so the oracle is a dense layer on signs.
    hidden = np.sign(model.feature_maps(X * 1e300)).reshape(len(X), -1)
    expected = model.target_offset_ + model.target_scale_ * expit(
        hidden @ model.coef_ + model.intercept_
    )
    np.testing.assert_allclose(y_pred, expected.ravel(), rtol=1e-12)


def test_float64_inputs_too_large_for_a_float32_model_are_refused():
    X, y = _data(dtype=np.float32)
    with _Strict():
        model = TinyConvRegressor(max_iter=3, random_state=0).fit(X, y)
        with pytest.raises(ValueError, match=r"infinity or a value too large.*float32"):
            model.predict(X.astype(np.float64) * 1e300)


@pytest.mark.parametrize("x", [[1e308, -1e308], [1e308, 1e308], [-1e308, -1e308]])
def test_convolution_overflow_is_one_error_for_predict_and_feature_maps(x):
    """With kernels of 2 every product overflows (2e308 > max), so the
    pre-activation is +-inf or NaN in any summation order: both forward
    passes refuse it, whatever the BLAS kernel does with inf - inf."""
    X = np.array([[1.0, -1.0], [0.5, 0.25]])
    with _Strict():
        model = TinyConvRegressor(
            image_shape=(1, 2), kernel_size=(1, 2), max_iter=3, random_state=0
        ).fit(X, [0.0, 1.0])
        model.kernels_ = [np.full_like(model.kernels_[0], 2.0)]
        with pytest.raises(ValueError, match="overflowed float64"):
            model.predict([x])
        with pytest.raises(ValueError, match="overflowed float64"):
            model.feature_maps([x])
        # Finite pre-activations however large: tanh saturates, no error.
        assert np.isfinite(model.predict([[4e307, -4e307]])).all()
        np.testing.assert_array_equal(np.abs(model.feature_maps([[4e307, 0]])), 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inputs_that_overflow_the_convolution_are_refused_by_fit(dtype):
    """The model could not predict its own training images, and the gradient
    through an infinite pre-activation is not a number."""
    rng = np.random.RandomState(0)
    X = (np.finfo(dtype).max * rng.uniform(size=(20, 16))).astype(dtype)
    y = rng.uniform(size=20)
    model = TinyConvRegressor(max_iter=3, random_state=0)
    with _Strict(), pytest.raises(ValueError, match=r"convolution.*scale the inputs"):
        model.fit(X, y)
    assert not hasattr(model, "kernels_")


def test_huge_inputs_whose_convolution_is_finite_train():
    """What limits.rst says: MLPRegressor's finfo.max test input, which
    MLPRegressor refuses, trains here a saturated but finite model under the
    default padding="same" (each output sums at most two pixels)."""
    from sklearn.neural_network import MLPRegressor

    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLPRegressor's overflow warnings
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            MLPRegressor().fit(X, y)
    with _Strict():
        model = TinyConvRegressor(random_state=0).fit(X, y)
        assert np.isfinite(model.predict(X)).all()
        np.testing.assert_array_equal(np.abs(model.feature_maps(X)), 1)


# -------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    "dtype, span, offset",
    [
        (np.float64, 1e8, 0.0), (np.float64, 1e8, -3e9), (np.float64, 1e-8, 0.0),
        (np.float64, 1e-8, 1.0), (np.float32, 1e8, 0.0), (np.float32, 1e-8, 0.0),
    ],
)
def test_targets_spanning_extreme_ranges_are_affine_equivariant(dtype, span, offset):
    """With scale_target, y -> offset + span * y maps predictions the same way."""
    X, y = _data(dtype=dtype)
    params = {"n_filters": 2, "max_iter": 20, "random_state": 0}
    with _Strict():
        unit = TinyConvRegressor(**params).fit(X, y).predict(X)
        scaled = TinyConvRegressor(**params).fit(X, offset + span * y).predict(X)
    assert scaled.dtype == dtype and np.isfinite(scaled).all()
    # Rounding of offset + span * y, relative to the span, bounds the difference
    # (float64 eps * |offset| / span is 1e-8 for 1 + 1e-8 * y).
    eps = np.finfo(dtype).eps
    tol = 50 * eps * max(1.0, abs(offset) / span) + (1e-4 if dtype == np.float32 else 0)
    np.testing.assert_allclose((scaled - offset) / span, unit, rtol=0, atol=tol)


@pytest.mark.parametrize("value", [1e300, -1e-300, 3e38])
def test_constant_extreme_target_is_predicted_exactly(value):
    X = _data()[0]
    with _Strict():
        model = TinyConvRegressor(max_iter=3).fit(X, np.full(len(X), value))
        y_pred = model.predict(X)
    np.testing.assert_array_equal(y_pred, value)


def test_unscaled_huge_targets_give_predictions_in_the_sigmoid_range():
    X, y = _data()
    with _Strict():
        model = TinyConvRegressor(scale_target=False, max_iter=5, random_state=0)
        y_pred = model.fit(X, 1e8 * y).predict(X)
    assert np.all((y_pred >= 0) & (y_pred <= 1))


def test_targets_too_large_for_float32_are_refused():
    X, y = _data(dtype=np.float32)
    message = "y has values too large for float32"
    with _Strict(), pytest.raises(ValueError, match=message):
        TinyConvRegressor(max_iter=3).fit(X, y * 1e300)


@pytest.mark.parametrize("dtype, bound", [(np.float64, 1.5e308), (np.float32, 3e38)])
def test_target_range_too_wide_is_refused(dtype, bound):
    X, y = _data(dtype=dtype)
    y = np.r_[-bound, bound, y[2:]]
    model = TinyConvRegressor(max_iter=3)
    with _Strict(), pytest.raises(ValueError, match=r"range of y.*too wide"):
        model.fit(X, y)
    assert not hasattr(model, "target_scale_")


def test_partial_fit_targets_outside_the_first_range_are_refused():
    X, y = _data()
    with _Strict():
        model = TinyConvRegressor(random_state=0).partial_fit(X, y)
    before = _fitted_state(model)
    with _Strict(), pytest.raises(ValueError, match="outside the range"):
        model.partial_fit(X, y + 2)
    assert _fitted_state(model) == before
    # Within 12.5% of the first range beyond its ends is still accepted.
    low, high = y.min(), y.max()
    inside = np.clip(y, low, high) + 0.1 * (high - low)
    with _Strict():
        model.partial_fit(X, inside)


# ------------------------------------------------------------ hyperparameters


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize(
    "kernel_scale, learning_rate",
    [
        (1e3, 0.01), (1e10, 0.01), (1e100, 0.01), (1e300, 0.01),
        (None, 1e3), (None, 1e10), (None, 1e100), (None, 1e300),
        (1e300, 1e300),
    ],
)
def test_huge_weights_and_steps_train_or_report_divergence(
    solver, kernel_scale, learning_rate
):
    X, y = _data()
    model = TinyConvRegressor(
        solver=solver, kernel_scale=kernel_scale, learning_rate=learning_rate,
        max_iter=5, random_state=0,
    )
    with _Strict():
        try:
            model.fit(X, y)
        except ValueError as error:
            assert "Training diverged" in str(error)
            with pytest.raises(NotFittedError):
                model.predict(X)
            assert vars(model).keys() == vars(TinyConvRegressor()).keys()
            return
        y_pred = model.predict(X)
    assert np.isfinite(y_pred).all()
    for name, array in fitted_arrays(model).items():
        assert np.isfinite(array).all(), name


def test_sure_divergence_is_reported():
    X, y = _data()
    model = TinyConvRegressor(solver="sgd", learning_rate=1e300, random_state=0)
    with _Strict(), pytest.raises(ValueError, match="Training diverged at epoch"):
        model.fit(X, y)


def _diverge(model):
    # A new solver, so that warm_start / partial_fit also start a new optimiser
    # (a continued one keeps its own step size).
    model.set_params(solver="adam", learning_rate=1e300)


@pytest.mark.parametrize("how", ["refit", "refit wider", "warm_start", "partial_fit"])
def test_divergence_leaves_the_model_as_it_was(how):
    X, y = _data()
    with _Strict():
        model = TinyConvRegressor(
            solver="sgd", batch_size=8, max_iter=4, random_state=0,
            warm_start=how == "warm_start",
        )
        if how == "partial_fit":
            model.partial_fit(X, y).partial_fit(X, y)
        else:
            model.fit(X, y)
    twin = copy.deepcopy(model)
    before = _fitted_state(model)
    y_pred = model.predict(X)
    params = model.get_params()

    _diverge(model)
    with _Strict(), pytest.raises(ValueError, match="Training diverged"):
        if how == "partial_fit":
            model.partial_fit(X, y)
        elif how == "refit wider":
            model.fit(np.concatenate([X, X], axis=2) * 3, y * 100)
        else:
            model.fit(X * 3, y)
    assert _fitted_state(model) == before
    np.testing.assert_array_equal(model.predict(X), y_pred)

    # Training goes on exactly as if the failed call had never happened
    # (same weights, optimiser state and random generator).
    model.set_params(**params)
    with _Strict():
        if how == "partial_fit":
            model.partial_fit(X, y)
            twin.partial_fit(X, y)
        else:
            model.fit(X, y)
            twin.fit(X, y)
    assert _fitted_state(model) == _fitted_state(twin)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rescaled_sample_weights_train_the_same(solver, dtype):
    """Without penalty the loss is sum(w * l) / sum(w): weights of 1e-300 or
    1e300 (total still finite) train like unit weights, without overflow."""
    X, y = _data(dtype=dtype)
    factors = [1e-300, 1e-8, 1e8, 1e300 / len(X)]
    if dtype == np.float32:
        factors = [1e-30, 1e-8, 1e8, 1e36 / len(X)]
    params = {"solver": solver, "alpha": 0.0, "max_iter": 5, "random_state": 0}
    with _Strict():
        expected = TinyConvRegressor(**params).fit(X, y).predict(X)
        for factor in factors:
            weights = np.full(len(X), factor)
            model = TinyConvRegressor(**params).fit(X, y, sample_weight=weights)
            got = model.predict(X)
            rtol = 1e-5 if dtype == np.float32 else 1e-10
            np.testing.assert_allclose(got, expected, rtol=rtol, err_msg=str(factor))


def test_sample_weights_summing_to_infinity_are_refused():
    X, y = _data()
    with _Strict(), pytest.raises(ValueError, match="sample_weight sums to infinity"):
        TinyConvRegressor().fit(X, y, sample_weight=np.full(len(X), 1e307))


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "sgd", "learning_rate_schedule": "invscaling", "power_t": 1e300},
        {"solver": "adam", "epsilon": 1e-300},
        {"solver": "adam", "beta_2": 1 - 1e-16},
        {"solver": "sgd", "momentum": 1.0},
        {"alpha": 1e300},
        {"kernel_scale": 1e-300},
        {"learning_rate": 1e-300},
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
def test_extreme_hyperparameters_train_or_report_divergence(params):
    X, y = _data()
    model = TinyConvRegressor(max_iter=5, random_state=0, **params)
    with _Strict():
        try:
            y_pred = model.fit(X, y).predict(X)
        except ValueError as error:
            assert "Training diverged" in str(error)
            return
    assert np.isfinite(y_pred).all()


@pytest.mark.parametrize(
    "name, value",
    [
        ("kernel_scale", np.nan), ("kernel_scale", np.inf), ("learning_rate", np.inf),
        ("power_t", np.nan), ("beta_1", np.nan), ("beta_2", np.nan),
        ("alpha", np.inf), ("epsilon", np.nan), ("validation_fraction", np.nan),
    ],
)
def test_non_finite_hyperparameters_are_refused_by_name(name, value):
    X, y = _data()
    model = TinyConvRegressor(max_iter=2, early_stopping=True, **{name: value})
    with _Strict(), pytest.raises(ValueError, match=f"{name} must be finite"):
        model.fit(X, y)
