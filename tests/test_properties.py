"""Property-based tests: whatever the data, a finite answer or a clear error.

Hypothesis draws image shapes (1x1 to 32x32, 1-3 channels, flat / 3-D / 4-D
``X``), kernel sizes, paddings, filters, outputs, batch sizes, dtypes, sample
weights (zeros included), constant targets and duplicated rows. Every ``fit``,
``predict``, ``partial_fit`` and ``feature_maps`` must then either succeed
with finite results of the right shape and dtype, or raise a ``ValueError`` /
``TypeError`` whose message names the problem; the only warnings allowed are
``ConvergenceWarning``, ``DataConversionWarning`` and the ``UserWarning`` for
a clipped ``batch_size``.

Profiles (defined here, applied to these tests only):

- ``ci`` (default): 1000 cases per test, derandomized (a fixed sequence of
  cases, the same on every run), no example database, no deadline; well under
  a minute on one core.
- ``long``: random seeds and ten times more cases per test, for a run by
  hand::

      SKTINYCNN_HYPOTHESIS_PROFILE=long SCIPY_ARRAY_API=1 python -m pytest \\
          tests/test_properties.py --hypothesis-show-statistics

  ``--hypothesis-seed=N`` makes a long run repeatable.
"""

import os
import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from oracles import StrictWarnings, fitted_arrays

from sktinycnn import TinyConvRegressor

# Plain settings objects rather than registered profiles: the registry is
# global, and these apply to this module's tests only.
_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
PROFILES = {
    "ci": settings(max_examples=1000, derandomize=True, database=None, **_COMMON),
    "long": settings(max_examples=10000, **_COMMON),
}
_NAME = os.environ.get("SKTINYCNN_HYPOTHESIS_PROFILE", "ci")
if _NAME not in PROFILES:
    raise ValueError(
        f"SKTINYCNN_HYPOTHESIS_PROFILE={_NAME!r}: choose one of {sorted(PROFILES)}."
    )
PROFILE = PROFILES[_NAME]


# ----------------------------------------------------------------- strategies


@st.composite
def problems(draw):
    """A small training problem and estimator settings, as a dict."""
    channels = draw(st.integers(1, 3))
    height = draw(st.integers(1, 32))
    width = draw(st.integers(1, 32))
    n_samples = draw(st.integers(1, 10))
    forms = ["flat", "4d"] + (["3d"] if channels == 1 else [])
    form = draw(st.sampled_from(forms))
    if form == "flat":
        shapes = [(channels, height, width)]
        if channels == 1:
            shapes += [(height, width), None]
    else:
        shapes = [None, (channels, height, width)]
    image_shape = draw(st.sampled_from(shapes))

    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.RandomState(seed)
    dtype = draw(st.sampled_from(["float64", "float32", "int64", "bool"]))
    content = draw(
        st.sampled_from(["normal", "zeros", "constant", "large", "tiny", "pixels"])
    )
    shape = (n_samples, channels, height, width)
    if dtype == "bool":
        images = rng.rand(*shape) < 0.5
    elif dtype == "int64":
        images = rng.randint(-3 if content == "normal" else 0, 256, size=shape)
    else:
        images = {
            "normal": lambda: rng.standard_normal(shape),
            "zeros": lambda: np.zeros(shape),
            "constant": lambda: np.full(shape, rng.uniform(-5, 5)),
            "large": lambda: rng.standard_normal(shape) * 1e6,
            "tiny": lambda: rng.standard_normal(shape) * 1e-6,
            "pixels": lambda: rng.randint(0, 17, size=shape).astype(float),
        }[content]().astype(dtype)
    if draw(st.booleans()):  # duplicated rows
        images[n_samples // 2 :] = images[: n_samples - n_samples // 2]

    n_outputs = draw(st.sampled_from([None, 1, 2, 3]))  # None: 1-D y
    y_kind = draw(st.sampled_from(["uniform", "constant", "int", "wide", "narrow"]))
    y_shape = (n_samples,) if n_outputs is None else (n_samples, n_outputs)
    y = {
        "uniform": lambda: rng.uniform(0.05, 0.95, y_shape),
        "constant": lambda: np.full(y_shape, rng.uniform(-10, 10)),
        "int": lambda: rng.randint(0, 10, y_shape),
        "wide": lambda: rng.standard_normal(y_shape) * 1e8,
        "narrow": lambda: 1 + rng.uniform(0, 1e-8, y_shape),
    }[y_kind]()

    weights = draw(st.sampled_from([None, "ones", "ints", "floats"]))
    sample_weight = {
        None: lambda: None,
        "ones": lambda: np.ones(n_samples),
        "ints": lambda: rng.randint(0, 4, n_samples),  # zeros included
        "floats": lambda: rng.uniform(0.1, 3, n_samples),
    }[weights]()

    if form == "flat":
        X = images.reshape(n_samples, -1)
    elif form == "3d":
        X = images[:, 0]
    else:
        X = images
    X.setflags(write=False)  # any in-place write into X raises
    kernel_size = draw(
        st.one_of(
            st.integers(1, 6), st.tuples(st.integers(1, 6), st.integers(1, 6))
        )
    )
    batch_size = draw(st.one_of(st.just("auto"), st.integers(1, n_samples + 2)))
    params = {
        "image_shape": image_shape,
        "kernel_size": kernel_size,
        "padding": draw(st.sampled_from(["valid", "same"])),
        "pooling": draw(st.sampled_from([None, "max", "avg"])),
        "pool_size": draw(st.sampled_from([2, 4, (2, 3), "global"])),
        "n_filters": draw(st.integers(1, 3)),
        "fit_intercept": draw(st.booleans()),
        "scale_target": draw(st.booleans()),
        "solver": draw(st.sampled_from(["sgd", "adam"])),
        "learning_rate": draw(st.sampled_from([1e-3, 0.01, 0.7])),
        "batch_size": batch_size,
        "shuffle": draw(st.booleans()),
        "max_iter": draw(st.integers(1, 3)),
        "random_state": draw(st.integers(0, 1000)),
        "alpha": draw(st.sampled_from([0.0, 1e-4, 1.0])),
        "kernel_scale": draw(st.sampled_from([None, 0.1, 4.0])),
        "early_stopping": draw(st.booleans()),
        "validation_fraction": draw(st.sampled_from([0.1, 0.5])),
    }
    return {
        "X": X,
        "y": y,
        "sample_weight": sample_weight,
        "params": params,
        "image_chw": (channels, height, width),
    }


def _expected_kernel_hw(params, image_hw):
    k = params["kernel_size"]
    kh, kw = (k, k) if isinstance(k, int) else k
    if params["padding"] == "valid":
        kh, kw = min(kh, image_hw[0]), min(kw, image_hw[1])
    return kh, kw


# ---------------------------------------------------------------------- tests


@settings(PROFILE)
@given(problem=problems())
def test_fit_predict_partial_fit_give_finite_answers_or_clear_errors(problem):
    X, y, sample_weight = problem["X"], problem["y"], problem["sample_weight"]
    params = problem["params"]
    X_before = X.copy()
    model = TinyConvRegressor(**params)
    event(f"X {X.ndim}-D {X.dtype}, padding={params['padding']}")

    if sample_weight is not None and not np.any(sample_weight > 0):
        with StrictWarnings(), pytest.raises(ValueError, match="weight"):
            model.fit(X, y, sample_weight=sample_weight)
        return
    if params["early_stopping"]:
        # The documented rule: at least 2 validation rows and 1 to train on,
        # among the rows of positive weight.
        n_kept = X.shape[0] if sample_weight is None else np.sum(sample_weight > 0)
        n_val = int(np.ceil(params["validation_fraction"] * n_kept))
        event(f"early_stopping, {n_val} validation rows of {n_kept}")
        if n_val < 2 or n_kept - n_val < 1:
            with StrictWarnings(), pytest.raises(ValueError, match="validation"):
                model.fit(X, y, sample_weight=sample_weight)
            return

    with StrictWarnings():
        model.fit(X, y, sample_weight=sample_weight)
        y_pred = model.predict(X)
        maps = model.feature_maps(X)
    np.testing.assert_array_equal(X, X_before)

    # dtype: that of X when float32, float64 for every other input.
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    n_samples = X.shape[0]
    n_outputs = 1 if y.ndim == 1 else y.shape[1]
    assert y_pred.dtype == dtype
    assert y_pred.shape == y.shape
    assert np.isfinite(y_pred).all()

    # Fitted shapes follow the documented architecture.
    c, h, w = model.image_shape_
    if params["image_shape"] is not None or X.ndim > 2:
        assert (c, h, w) == problem["image_chw"]
    assert c * h * w == model.n_features_in_
    kh, kw = _expected_kernel_hw(params, (h, w))
    n_filters = params["n_filters"]
    assert model.kernel_size_ == [(kh, kw)]
    assert [k.shape for k in model.kernels_] == [(n_filters, c, kh, kw)]
    ho, wo = (h, w) if params["padding"] == "same" else (h - kh + 1, w - kw + 1)
    # The documented pooling: the window clipped to the maps, leftovers dropped.
    hp, wp = ho, wo
    if params["pooling"] is not None:
        size = params["pool_size"]
        ph, pw = (
            (ho, wo) if size == "global" else (size, size) if isinstance(size, int)
            else size
        )
        ph, pw = min(ph, ho), min(pw, wo)
        assert model.pool_size_ == [(ph, pw)]
        hp, wp = ho // ph, wo // pw
    assert model.coef_.shape == (n_filters * hp * wp, n_outputs)
    assert maps.shape == (n_samples, n_filters, ho, wo)
    assert maps.dtype == dtype
    assert np.all(np.abs(maps) <= 1)
    for name, array in fitted_arrays(model).items():
        assert array.dtype == dtype, name
        assert np.isfinite(array).all(), name

    # Predictions lie in the image of the sigmoid under the target map.
    low = model.target_offset_
    high = model.target_offset_ + model.target_scale_
    y_pred_2d = y_pred.reshape(n_samples, n_outputs)
    assert np.all(y_pred_2d >= np.minimum(low, high))
    assert np.all(y_pred_2d <= np.maximum(low, high))
    if params["scale_target"]:
        # A constant target (over rows of positive weight) is predicted exactly.
        y_2d = y.reshape(n_samples, n_outputs)
        kept = y_2d if sample_weight is None else y_2d[sample_weight > 0]
        kept = kept.astype(dtype)  # the model's view of y
        constant = np.ptp(kept, axis=0) == 0
        np.testing.assert_array_equal(
            y_pred_2d[:, constant],
            np.broadcast_to(kept[0, constant], (n_samples, constant.sum())),
        )

    # No batch statistics at predict time: one row alone predicts like in the
    # batch, up to rounding in sigmoid units (times target_scale_ in y units).
    eps = 1e-5 if dtype == np.float32 else 1e-9
    atol = eps * np.maximum(np.abs(model.target_scale_), np.abs(model.target_offset_))
    alone = model.predict(X[-1:]).reshape(1, -1)
    assert np.all(np.abs(alone - y_pred_2d[-1:]) <= atol + eps), (alone, y_pred_2d)

    if params["early_stopping"]:
        assert len(model.validation_scores_) == model.n_iter_
        with StrictWarnings(), pytest.raises(ValueError, match="early_stopping"):
            model.partial_fit(X, y, sample_weight=sample_weight)
        return

    # partial_fit continues on the same data (its targets are within range).
    t_before = model.t_
    with StrictWarnings():
        model.partial_fit(X, y, sample_weight=sample_weight)
        y_pred2 = model.predict(X)
    assert model.n_iter_ == 1
    assert model.t_ > t_before
    assert y_pred2.dtype == dtype and y_pred2.shape == y.shape
    assert np.isfinite(y_pred2).all()
    np.testing.assert_array_equal(X, X_before)


def _hostile_cases():
    """(name, action, exception type, message pattern) for a fitted problem."""

    def with_value(value):
        def action(model, X, y):
            X = np.array(X, dtype=float)
            X.flat[len(X.flat) // 2] = value
            model.fit(X, y)

        return action

    def y_value(value):
        def action(model, X, y):
            y = np.array(y, dtype=float)
            y.flat[0] = value
            model.fit(X, y)

        return action

    return [
        ("NaN in X", with_value(np.nan), ValueError, "NaN"),
        ("inf in X", with_value(np.inf), ValueError, "infinity"),
        ("NaN in y", y_value(np.nan), ValueError, "NaN"),
        ("inf in y", y_value(-np.inf), ValueError, "infinity"),
        (
            "complex X",
            lambda m, X, y: m.fit(np.asarray(X) + 1j, y),
            ValueError,
            "[Cc]omplex",
        ),
        (
            "sparse X",
            lambda m, X, y: m.fit(sp.csr_matrix(np.asarray(X).reshape(len(X), -1)), y),
            TypeError,
            "[Ss]parse",
        ),
        (
            "zero samples",
            lambda m, X, y: m.fit(np.asarray(X)[:0], np.asarray(y)[:0]),
            ValueError,
            "0 sample",
        ),
        (
            "images of zero height",
            lambda m, X, y: m.fit(np.zeros((len(X), 0, 3)), y),
            ValueError,
            "0 feature",
        ),
        (
            "images of zero width, 4-D",
            lambda m, X, y: m.fit(np.zeros((len(X), 1, 3, 0)), y),
            ValueError,
            "0 feature",
        ),
        (
            "5-D X",
            lambda m, X, y: m.fit(np.zeros((len(X), 1, 1, 2, 2)), y),
            ValueError,
            "dimensions",
        ),
        (
            "y of another length",
            lambda m, X, y: m.fit(X, np.concatenate([y, y[:1]])),
            ValueError,
            "inconsistent numbers of samples",
        ),
        (
            "negative weight",
            lambda m, X, y: m.fit(X, y, sample_weight=-np.ones(len(X))),
            ValueError,
            "non-negative",
        ),
        (
            "non-numeric X",
            lambda m, X, y: m.fit(np.full(np.shape(X), "pixel"), y),
            ValueError,
            "could not convert",
        ),
        (
            "image_shape of another size",
            lambda m, X, y: m.set_params(
                image_shape=(np.asarray(X)[0].size + 1, 1)
            ).fit(np.asarray(X).reshape(len(X), -1), y),
            ValueError,
            "image_shape",
        ),
        (
            "kernel_size 0",
            lambda m, X, y: m.set_params(kernel_size=0).fit(X, y),
            ValueError,
            "kernel_size",
        ),
        (
            "n_filters True",
            lambda m, X, y: m.set_params(n_filters=True).fit(X, y),
            TypeError,
            "n_filters",
        ),
        (
            "predict before fit",
            lambda m, X, y: m.predict(X),
            ValueError,
            "not fitted",
        ),
        (
            "predict with more features",
            lambda m, X, y: m.fit(X, y).predict(
                np.c_[np.asarray(X).reshape(len(X), -1), np.zeros(len(X))]
            ),
            ValueError,
            "features",
        ),
        (
            "partial_fit with more outputs",
            lambda m, X, y: m.partial_fit(X, y).partial_fit(X, np.c_[y, y, y]),
            ValueError,
            "n_outputs",
        ),
        (
            "partial_fit targets out of range",
            lambda m, X, y: m.partial_fit(X, y).partial_fit(X, y + 10 * np.ptp(y)),
            ValueError,
            "outside the range",
        ),
        (
            "y too large for float32",
            lambda m, X, y: m.fit(np.asarray(X, dtype=np.float32), y * 1e300),
            ValueError,
            "too large",
        ),
        (
            "y range too wide",
            lambda m, X, y: m.fit(X, np.r_[-1.5e308, 1.5e308, y[2:]]),
            ValueError,
            "too wide",
        ),
    ]


HOSTILE = _hostile_cases()


@settings(PROFILE)
@given(
    case=st.sampled_from(HOSTILE),
    channels=st.integers(1, 2),
    height=st.integers(1, 8),
    width=st.integers(1, 8),
    n_samples=st.integers(3, 8),
    as_4d=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_hostile_inputs_raise_clear_errors(
    case, channels, height, width, n_samples, as_4d, seed
):
    name, action, error, pattern = case
    event(name)
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, channels, height, width))
    if not as_4d:
        X = X.reshape(n_samples, -1)
    # Distinct targets, so that "out of range" is well defined.
    y = np.arange(n_samples) + rng.uniform(0, 0.5, n_samples)
    model = TinyConvRegressor(
        image_shape=None if as_4d else (channels, height, width),
        max_iter=2,
        random_state=0,
    )
    with StrictWarnings(), pytest.raises(error, match=pattern):
        action(model, X, y)


@settings(PROFILE)
@given(
    solver=st.sampled_from(["sgd", "adam"]),
    log_rate=st.floats(0, 300),
    log_scale=st.floats(-3, 300),
    log_x=st.floats(-300, 300),
    float32=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_extreme_settings_train_or_report_divergence(
    solver, log_rate, log_scale, log_x, float32, seed
):
    """Huge steps, weights and inputs: finite predictions, or divergence reported."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((12, 9)) * 10.0**log_x
    y = rng.uniform(0, 1, 12)
    if float32:
        with np.errstate(over="ignore"):
            X = X.astype(np.float32)
        if not np.isfinite(X).all() or not X.any():
            return  # out of float32's range: covered by the hostile cases
    model = TinyConvRegressor(
        solver=solver,
        learning_rate=10.0**log_rate,
        kernel_scale=10.0**log_scale,
        max_iter=3,
        random_state=0,
    )
    with StrictWarnings():
        try:
            model.fit(X, y)
        except ValueError as error:
            event("diverged")
            assert re.search("Training diverged|the convolution overflows", str(error))
            assert not hasattr(model, "kernels_")
            assert not hasattr(model, "n_features_in_")
            return
        try:
            y_pred = model.predict(X)
        except ValueError as error:
            # The last step may leave finite weights so large that the
            # convolution gives inf - inf: an error, never a NaN.
            event("trained, predict overflowed")
            assert re.search("overflowed", str(error))
            return
    event("trained")
    assert np.isfinite(y_pred).all()
    assert y_pred.dtype == X.dtype
