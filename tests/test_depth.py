"""Deep estimators (``n_filters`` a sequence) through their public API.

What is tested
--------------
- Predictions: ``predict``, ``predict_proba`` and ``decision_function`` of
  fitted 1-, 2- and 3-block networks (every activation; max, average, global
  and no pooling per block; "valid" and "same" padding; channels from 4-D X
  or ``image_shape``; with and without biases; both estimators' default
  networks; float32) equal an independent computation from the public fitted
  attributes: ``scipy_deep_logits`` (tests/oracles.py, built on
  ``scipy.signal.convolve2d``) and the head written out here.
- Maps: ``feature_maps`` and ``pooled_maps`` of every block, by positive and
  negative index, equal ``scipy_deep_maps``; a bad ``block`` is a ValueError
  naming ``block``.
- Parameters: per-block lists of the wrong length and bad entries at depth 1
  of a list, bad ``n_filters``; how tuples and lists resolve into the fitted
  ``kernel_size_`` and ``pool_size_``; the same errors from both estimators.
- Shapes: "valid" kernels and pooling windows clipped to shrinking inputs, a
  block on a 1x1 input ("valid": a 1x1 kernel; "same": only the centre tap
  counts).
- Warm start and ``partial_fit``: a changed per-block value is refused with
  the fitted and new values; the same resolved architecture is accepted; a
  deep classifier's ``partial_fit`` over several calls.
- Persistence and meta-estimators: pickle and skops (trusting only the
  estimator class) round trips, ``clone``, ``get_params``/``set_params`` and a
  grid search over list parameters, ``streaming.fit_chunks``.
- ``n_jobs``: weights bit for bit the same with one and two threads on a
  network large enough for the threads to run with the package's own
  thresholds.
- Overflow: unbounded activations ("relu", "identity") let a later block
  overflow, which predict and the maps refuse; bounded ones saturate.
- Learning: a two-block classifier on scikit-learn's digits.

Oracles compare to a relative 1e-10 in float64 (different code paths round
differently); only the same code path is compared bit for bit.
"""

import copy
import pickle
import re
import threading

import numpy as np
import pytest
import skops.io as sio
from numpy.testing import assert_allclose, assert_array_equal
from oracles import fit_quietly, fitted_arrays, scipy_deep_logits, scipy_deep_maps
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, train_test_split

import sktinycnn._kernels as kernels
import sktinycnn._parallel as parallel
from sktinycnn import TinyConvClassifier, TinyConvRegressor
from sktinycnn._constraints import InvalidParameterError
from sktinycnn.streaming import fit_chunks

ESTIMATORS = [TinyConvRegressor, TinyConvClassifier]
RTOL = 1e-10

# ------------------------------------------------------------------- helpers


def _images(n_samples, shape, seed=0, dtype=np.float64):
    """Standard normal images (n, channels, height, width)."""
    rng = np.random.RandomState(seed)
    return rng.standard_normal((n_samples, *shape)).astype(dtype)


def _regression_targets(images, n_outputs):
    """Smooth functions of the images: one column per output (1-D for one)."""
    means = images.reshape(len(images), -1)
    columns = [np.tanh(means[:, k::3].mean(axis=1) * 3) for k in range(n_outputs)]
    y = np.stack(columns, axis=1)
    return y[:, 0] if n_outputs == 1 else y


def _classification_targets(images, kind):
    """Labels from the images' mean: binary, 3 classes, strings or multilabel."""
    score = images.reshape(len(images), -1).mean(axis=1)
    third = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    if kind == "binary":
        return (score > np.median(score)).astype(int)
    if kind == "multiclass":
        return third
    if kind == "strings":
        return np.array(["cat", "dog", "owl"])[third]
    assert kind == "multilabel"
    half = images.shape[-1] // 2
    left = images[..., :half].reshape(len(images), -1).mean(axis=1)
    return np.stack([third == 2, left > 0, score > np.median(score)], axis=1) * 1


def _as_input(images, form):
    """The images as the estimator is given them: 3-D, 4-D or flat rows."""
    if form == "3d":
        assert images.shape[1] == 1
        return images[:, 0]
    if form == "flat":
        return images.reshape(len(images), -1)
    assert form == "4d"
    return images


def _blocks(model):
    """The oracle's per-block description, from the public fitted attributes."""
    return [
        {"padding": padding, "pooling": pooling, "pool_hw": pool_hw}
        for padding, pooling, pool_hw in zip(
            model.padding_, model.pooling_, model.pool_size_, strict=True
        )
    ]


def _oracle_images(model, X):
    return np.reshape(np.asarray(X, dtype=np.float64), (len(X), *model.image_shape_))


def _biases(model):
    """The kernels' intercepts, None (no bias at all) for a model without."""
    if model.fit_intercept:
        return model.kernel_intercepts_
    # Without biases the fitted intercepts are zeros; the oracle adds none.
    for intercepts in model.kernel_intercepts_:
        assert_array_equal(intercepts, 0)
    assert_array_equal(model.intercept_, 0)
    return None


def oracle_logits(model, X):
    """The dense layer's logits (n, n_outputs), by scipy, from public attributes."""
    with np.errstate(over="ignore"):
        return scipy_deep_logits(
            _oracle_images(model, X), model.kernels_, _biases(model), model.coef_,
            model.intercept_ if model.fit_intercept else None, _blocks(model),
            model.activation_,
        )


def oracle_maps(model, X):
    """Every block's ``(feature_maps, pooled_maps)`` by scipy."""
    return scipy_deep_maps(
        _oracle_images(model, X), model.kernels_, _biases(model), _blocks(model),
        model.activation_,
    )


def oracle_regression(model, X, one_d):
    """``target_offset_ + target_scale_ * sigmoid(logits)``."""
    y = model.target_offset_ + model.target_scale_ * expit(oracle_logits(model, X))
    return y.ravel() if one_d else y


def oracle_proba(model, X, kind):
    """Multilabel: a sigmoid per label; binary: ``[1 - p, p]``; else softmax."""
    logits = oracle_logits(model, X)
    if kind == "multilabel":
        return expit(logits)
    if logits.shape[1] == 1:
        p = expit(logits[:, 0])
        return np.stack([1 - p, p], axis=1)
    return softmax(logits, axis=1)


def _assert_architecture(model, n_filters, channels):
    """One kernel array per block, (n_filters[b], channels_in[b], kh, kw)."""
    depth = len(n_filters)
    for name in ("kernels_", "kernel_intercepts_", "kernel_size_", "padding_",
                 "pooling_", "pool_size_"):
        value = getattr(model, name)
        assert isinstance(value, list) and len(value) == depth, name
    channels_in = (channels, *n_filters[:-1])
    for b in range(depth):
        assert model.kernels_[b].shape == (
            n_filters[b], channels_in[b], *model.kernel_size_[b]
        )
        assert model.kernel_intercepts_[b].shape == (n_filters[b],)
        assert (model.pool_size_[b] is None) == (model.pooling_[b] is None)
    last = oracle_maps(model, np.zeros((1, *model.image_shape_)))[-1][1]
    assert model.coef_.shape == (last.size, model.n_outputs_)


# -------------------------------------------------- 1. predictions vs oracle

#: name -> (parameters, image shape (channels, height, width), input form,
#: number of outputs).
REGRESSORS = {
    # The default network (one block, default pooling), as users get it.
    "default": ({}, (1, 8, 9), "3d", 1),
    "2-tanh-channels-4d": (
        dict(n_filters=(3, 4), kernel_size=[3, (2, 3)], padding="same",
             pooling=["max", "avg"], pool_size=[2, (1, 2)]),
        (2, 9, 10), "4d", 1,
    ),
    "2-relu-valid-unpooled-global-2-outputs": (
        dict(n_filters=(2, 3), kernel_size=3, padding="valid", activation="relu",
             pooling=[None, "max"], pool_size=[2, "global"]),
        (1, 9, 8), "3d", 2,
    ),
    "2-logistic-no-intercept-image-shape": (
        dict(n_filters=(3, 2), kernel_size=[(1, 3), 2], padding=["valid", "same"],
             activation="logistic", pooling="avg", pool_size=2,
             fit_intercept=False, image_shape=(3, 7, 8)),
        (3, 7, 8), "flat", 1,
    ),
    "3-identity-mixed": (
        dict(n_filters=(2, 3, 2), kernel_size=[3, 2, (1, 2)],
             padding=["same", "valid", "same"], activation="identity",
             pooling=["max", None, "avg"], pool_size=[2, 2, "global"]),
        (1, 12, 11), "3d", 1,
    ),
    "3-relu-no-intercept-channels": (
        dict(n_filters=(2, 2, 3), kernel_size=2, padding="same", activation="relu",
             pooling=["avg", "max", None], pool_size=[(2, 1), 2, 2],
             fit_intercept=False),
        (2, 10, 9), "4d", 2,
    ),
    "3-tanh-global-max": (
        dict(n_filters=(4, 3, 2), kernel_size=3, padding=["same", "same", "valid"],
             pool_size=[2, 2, "global"]),
        (1, 12, 12), "3d", 1,
    ),
}

#: name -> (parameters, image shape, input form, kind of labels).
CLASSIFIERS = {
    "default": ({}, (1, 8, 8), "3d", "multiclass"),
    "2-relu-binary-channels": (
        dict(n_filters=(3, 4), padding="same", activation="relu",
             pooling=["max", "avg"], pool_size=[2, "global"]),
        (2, 8, 9), "4d", "binary",
    ),
    "3-tanh-multiclass": (
        dict(n_filters=(2, 3, 4), kernel_size=[3, 2, 2], padding="same",
             pooling=["avg", None, "max"], pool_size=[2, 2, "global"]),
        (1, 10, 10), "3d", "multiclass",
    ),
    "2-logistic-multilabel-no-intercept": (
        dict(n_filters=(3, 2), kernel_size=[(2, 3), 3], padding=["valid", "same"],
             activation="logistic", pooling=[None, "max"], pool_size=[2, (1, 2)],
             fit_intercept=False, image_shape=(2, 6, 7)),
        (2, 6, 7), "flat", "multilabel",
    ),
    "2-identity-strings": (
        dict(n_filters=(2, 3), padding="same", activation="identity",
             pooling="max", pool_size=[2, (2, 1)]),
        (1, 9, 8), "3d", "strings",
    ),
}


def _n_filters(params, default):
    n_filters = params.get("n_filters", default)
    return (n_filters,) if isinstance(n_filters, int) else tuple(n_filters)


@pytest.mark.parametrize("name", list(REGRESSORS))
def test_regressor_predictions_equal_the_scipy_oracle(name):
    params, shape, form, n_outputs = REGRESSORS[name]
    images = _images(40, shape)
    X, y = _as_input(images, form), _regression_targets(images, n_outputs)
    model = fit_quietly(TinyConvRegressor(max_iter=3, random_state=0, **params), X, y)
    n_filters = _n_filters(params, TinyConvRegressor().n_filters)
    _assert_architecture(model, n_filters, shape[0])

    X_test = _as_input(_images(15, shape, seed=1), form)
    predicted = model.predict(X_test)
    assert predicted.shape == ((15,) if n_outputs == 1 else (15, n_outputs))
    assert_allclose(
        predicted, oracle_regression(model, X_test, n_outputs == 1),
        rtol=RTOL, atol=1e-14,
    )
    # The network has learnt something of its own: not a constant.
    assert np.ptp(predicted, axis=0).min() > 1e-6


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_classifier_probabilities_equal_the_scipy_oracle(name):
    params, shape, form, kind = CLASSIFIERS[name]
    images = _images(48, shape)
    X, y = _as_input(images, form), _classification_targets(images, kind)
    model = fit_quietly(TinyConvClassifier(max_iter=3, random_state=0, **params), X, y)
    n_filters = _n_filters(params, TinyConvClassifier().n_filters)
    _assert_architecture(model, n_filters, shape[0])

    X_test = _as_input(_images(15, shape, seed=1), form)
    proba = model.predict_proba(X_test)
    expected = oracle_proba(model, X_test, kind)
    assert proba.shape == expected.shape
    assert_allclose(proba, expected, rtol=RTOL, atol=1e-14)
    logits = oracle_logits(model, X_test)
    decision = model.decision_function(X_test)
    assert_allclose(decision, logits[:, 0] if kind == "binary" else logits,
                    rtol=RTOL, atol=1e-12)
    if kind == "multilabel":
        assert_array_equal(model.predict(X_test), (expected > 0.5) * 1)
    else:
        assert_array_equal(
            model.predict(X_test), model.classes_[np.argmax(expected, axis=1)]
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float32_predictions_equal_the_oracle(Estimator):
    """A float32 model computes in float32: the oracle (float64 on the same
    float32 weights) agrees to float32 rounding."""
    shape = (2, 9, 8)
    images = _images(40, shape, dtype=np.float32)
    params = dict(n_filters=(3, 4), kernel_size=[3, 2], padding=["same", "valid"],
                  pooling=["max", "avg"], pool_size=[2, "global"],
                  activation="relu", max_iter=3, random_state=0)
    X_test = _images(15, shape, seed=1, dtype=np.float32)
    if Estimator is TinyConvRegressor:
        model = fit_quietly(Estimator(**params), images,
                            _regression_targets(images, 1))
        got, expected = model.predict(X_test), oracle_regression(model, X_test, True)
    else:
        model = fit_quietly(Estimator(**params), images,
                            _classification_targets(images, "multiclass"))
        got, expected = model.predict_proba(X_test), oracle_proba(
            model, X_test, "multiclass"
        )
    assert got.dtype == np.float32
    assert all(k.dtype == np.float32 for k in model.kernels_)
    assert_allclose(got, expected, rtol=2e-5, atol=1e-6)
    # The float32 rounding is there, and the tolerance is not vacuous.
    assert not np.allclose(got, expected, rtol=1e-12, atol=0)


# ------------------------------------------------------------------- 2. maps

MAPS_PARAMS = dict(
    n_filters=(2, 3, 2), kernel_size=[3, (2, 3), 2],
    padding=["same", "valid", "same"], pooling=["max", "avg", None],
    pool_size=[2, (1, 2), 2], activation="relu", max_iter=3, random_state=0,
)


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda e: e.__name__)
def deep_model(request):
    """A fitted 3-block model of 2-channel images (12x13), and its data."""
    images = _images(40, (2, 12, 13))
    if request.param is TinyConvRegressor:
        y = _regression_targets(images, 1)
    else:
        y = _classification_targets(images, "multiclass")
    model = fit_quietly(request.param(**MAPS_PARAMS), images, y)
    return model, _images(10, (2, 12, 13), seed=1)


def test_every_blocks_maps_equal_the_oracle(deep_model):
    model, X = deep_model
    expected = oracle_maps(model, X)
    assert [maps[1].shape[1:] for maps in expected] == [(2, 6, 6), (3, 5, 2),
                                                        (2, 5, 2)]
    for b, (feature, pooled) in enumerate(expected):
        got_feature = model.feature_maps(X, block=b)
        got_pooled = model.pooled_maps(X, block=b)
        assert got_feature.shape == feature.shape
        assert got_pooled.shape == pooled.shape
        assert_allclose(got_feature, feature, rtol=RTOL, atol=1e-13, err_msg=b)
        assert_allclose(got_pooled, pooled, rtol=RTOL, atol=1e-13, err_msg=b)
        # Negative indices count from the last block: the same code path.
        assert_array_equal(model.feature_maps(X, block=b - 3), got_feature)
        assert_array_equal(model.pooled_maps(X, block=b - 3), got_pooled)
        assert_array_equal(model.feature_maps(X, block=np.int64(b)), got_feature)
    # The default is the first block.
    assert_array_equal(model.feature_maps(X), model.feature_maps(X, block=0))
    assert_array_equal(model.pooled_maps(X), model.pooled_maps(X, block=0))
    # The dense layer reads the last block's pooled maps in C order.
    hidden = model.pooled_maps(X, block=-1).reshape(len(X), -1)
    assert_allclose(hidden @ model.coef_ + model.intercept_, oracle_logits(model, X),
                    rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("block", [3, -4, 10, 1.0, 0.0, True, False, "0", None,
                                   np.float64(1), [0]])
@pytest.mark.parametrize("method", ["feature_maps", "pooled_maps"])
def test_a_bad_block_is_refused_naming_block(deep_model, method, block):
    model, X = deep_model
    with pytest.raises(ValueError, match=r"\bblock\b"):
        getattr(model, method)(X, block=block)


# ------------------------------------------------------ 3. parameter checks


def _small_data(Estimator, n_samples=20, shape=(8, 8)):
    images = _images(n_samples, (1, *shape))
    if Estimator is TinyConvRegressor:
        return images[:, 0], _regression_targets(images, 1)
    return images[:, 0], _classification_targets(images, "binary")


def _fit_error(Estimator, error, **params):
    """The message of the error that ``fit`` raises."""
    X, y = _small_data(Estimator)
    model = Estimator(max_iter=2, random_state=0, **params)
    with pytest.raises(error) as info:
        fit_quietly(model, X, y)
    assert not hasattr(model, "kernels_")
    return str(info.value)


LENGTH_MISMATCHES = {
    "kernel_size": [3, 3, 3],
    "padding": ["same"],
    "pooling": ["max", "max", None],
    "pool_size": [2],
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("name", list(LENGTH_MISMATCHES))
def test_a_list_of_another_length_than_the_depth_names_the_parameter(
    Estimator, name
):
    value = LENGTH_MISMATCHES[name]
    params = {"n_filters": (4, 6), "padding": "same", name: value}
    message = _fit_error(Estimator, ValueError, **params)
    assert re.match(rf"{name} is a list of {len(value)} value", message), message
    assert "n_filters=(4, 6) has 2 block" in message


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_list_at_depth_1_is_per_block_never_a_pair(Estimator):
    """``kernel_size=[3, 3]`` is two blocks' values, not a 3x3 kernel."""
    message = _fit_error(Estimator, ValueError, n_filters=4, kernel_size=[3, 3])
    assert message.startswith("kernel_size is a list of 2 values")
    assert "n_filters=4 has 1 block" in message
    # A list of one value is the one block's.
    X, y = _small_data(Estimator)
    listed = fit_quietly(Estimator(n_filters=4, kernel_size=[(1, 3)], max_iter=2,
                                   random_state=0), X, y)
    plain = fit_quietly(Estimator(n_filters=4, kernel_size=(1, 3), max_iter=2,
                                  random_state=0), X, y)
    assert listed.kernel_size_ == plain.kernel_size_ == [(1, 3)]
    assert_array_equal(listed.kernels_[0], plain.kernels_[0])


BAD_ENTRIES = {
    "kernel_size": [3, 0],
    # A list is never a pair, at any level.
    "padding": ["same", "full"],
    "pooling": ["max", "min"],
    "pool_size": [2, (2, 0)],
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "name, value",
    [*BAD_ENTRIES.items(), ("kernel_size", [3, [1, 3]]), ("pool_size", [2, 2.0]),
     ("pooling", ["max", "Max"]), ("kernel_size", [3, True])],
)
def test_a_bad_entry_at_depth_1_names_its_index(Estimator, name, value):
    message = _fit_error(Estimator, InvalidParameterError, n_filters=(4, 6),
                         **{name: value})
    assert message.startswith(f"{name}[1] must be "), message
    assert message.endswith(f"; got {value[1]!r} in {name}={value!r}."), message


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "n_filters",
    [[], (), (0, 4), (4, 2.5), "16", (4, True), [[4, 6]], np.array([4, 0]),
     np.array([[4, 6]]), (4, None), 0, 4.0],
    ids=repr,
)
def test_bad_n_filters_are_refused_naming_n_filters(Estimator, n_filters):
    message = _fit_error(Estimator, InvalidParameterError, n_filters=n_filters)
    assert message.startswith("n_filters must be "), message


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_n_filters_may_be_an_array_or_numpy_ints(Estimator):
    X, y = _small_data(Estimator)
    for n_filters in (np.array([3, 4]), (np.int64(3), 4), [3, np.int32(4)]):
        model = fit_quietly(Estimator(n_filters=n_filters, max_iter=2,
                                      random_state=0), X, y)
        assert [k.shape[:2] for k in model.kernels_] == [(3, 1), (4, 3)]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_tuples_are_for_every_block_lists_per_block(Estimator):
    X, y = _small_data(Estimator)  # 8x8

    def fitted(**params):
        return fit_quietly(Estimator(n_filters=(3, 4), padding="same", max_iter=2,
                                     random_state=0, **params), X, y)

    assert fitted(kernel_size=(1, 3)).kernel_size_ == [(1, 3), (1, 3)]
    assert fitted(kernel_size=[3, (1, 3)]).kernel_size_ == [(3, 3), (1, 3)]
    assert fitted(kernel_size=[(1, 3), 2]).kernel_size_ == [(1, 3), (2, 2)]
    # 8x8 "same" maps, 2x2 windows: 4x4 maps, then one global window.
    model = fitted(pooling="max", pool_size=[2, "global"])
    assert model.pool_size_ == [(2, 2), (4, 4)]
    assert model.pooled_maps(X, block=-1).shape == (len(X), 4, 1, 1)
    assert model.coef_.shape[0] == 4
    model = fitted(pooling="avg", pool_size=(1, 2))
    assert model.pool_size_ == [(1, 2), (1, 2)]
    assert model.pooled_maps(X, block=-1).shape == (len(X), 4, 8, 2)
    # An unpooled block's pool_size entry is ignored.
    model = fitted(pooling=[None, "max"], pool_size=[3, 2])
    assert model.pool_size_ == [None, (2, 2)]
    assert model.pooling_ == [None, "max"]
    assert model.padding_ == ["same", "same"]


def test_both_estimators_give_the_same_parameter_errors():
    cases = [
        (ValueError, dict(n_filters=(4, 6), pool_size=[2, 2, 2])),
        (ValueError, dict(kernel_size=[3, 3])),
        (InvalidParameterError, dict(n_filters=(4, 6), padding=["same", "full"])),
        (InvalidParameterError, dict(n_filters=(4, 2.5))),
        (InvalidParameterError, dict(n_filters=(4, 6), activation="softplus")),
    ]
    for error, params in cases:
        messages = {_fit_error(Estimator, error, **params) for Estimator in ESTIMATORS}
        assert len(messages) == 1, messages


# ------------------------------------------------------------------ 4. shapes


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_valid_kernels_and_windows_clip_to_their_shrinking_inputs(Estimator):
    """8x8 -> "valid" 3x3: 6x6 -> 2x2 max: 3x3 -> "valid" 3x3: 1x1 -> a 5x5
    window clipped to 1x1 -> a 3x3 kernel clipped to 1x1 on a 1x1 input."""
    images = _images(30, (1, 8, 8))
    X = images[:, 0]
    y = (_regression_targets(images, 1) if Estimator is TinyConvRegressor
         else _classification_targets(images, "multiclass"))
    model = fit_quietly(Estimator(
        n_filters=(3, 4, 2), kernel_size=3, padding="valid",
        pooling=["max", "avg", None], pool_size=[2, 5, 2], max_iter=3,
        random_state=0,
    ), X, y)
    assert model.kernel_size_ == [(3, 3), (3, 3), (1, 1)]
    assert model.pool_size_ == [(2, 2), (1, 1), None]
    assert [k.shape for k in model.kernels_] == [(3, 1, 3, 3), (4, 3, 3, 3),
                                                 (2, 4, 1, 1)]
    X_test = _images(8, (1, 8, 8), seed=1)[:, 0]
    assert model.feature_maps(X_test, block=1).shape == (8, 4, 1, 1)
    assert model.feature_maps(X_test, block=2).shape == (8, 2, 1, 1)
    expected = oracle_maps(model, X_test)
    for b in range(3):
        assert_allclose(model.pooled_maps(X_test, block=b), expected[b][1],
                        rtol=RTOL, atol=1e-13)
    if Estimator is TinyConvRegressor:
        assert_allclose(model.predict(X_test), oracle_regression(model, X_test, True),
                        rtol=RTOL)
    else:
        assert_allclose(model.predict_proba(X_test),
                        oracle_proba(model, X_test, "multiclass"), rtol=RTOL)


def test_non_square_windows_clip_per_axis():
    """6x10 -> "valid" 3x3: 4x8 -> (2, 3) max, two columns dropped: 2x2 ->
    "valid" (2, 4) clipped to (2, 2): 1x1 -> a 4x4 window clipped to 1x1."""
    images = _images(30, (1, 6, 10))
    model = fit_quietly(TinyConvRegressor(
        n_filters=(2, 3), kernel_size=[3, (2, 4)], padding="valid", pooling="max",
        pool_size=[(2, 3), 4], max_iter=3, random_state=0,
    ), images[:, 0], _regression_targets(images, 1))
    assert model.kernel_size_ == [(3, 3), (2, 2)]
    assert model.pool_size_ == [(2, 3), (1, 1)]
    X_test = _images(8, (1, 6, 10), seed=1)[:, 0]
    assert model.pooled_maps(X_test, block=0).shape == (8, 2, 2, 2)
    assert_allclose(model.predict(X_test), oracle_regression(model, X_test, True),
                    rtol=RTOL)


def test_same_kernel_on_a_1x1_input_uses_only_its_centre():
    """A global pool leaves 1x1 maps; the next block's "same" 3x3 kernel keeps
    its size, and only its centre tap meets a pixel (the rest is padding)."""
    images = _images(30, (2, 6, 6))
    model = fit_quietly(TinyConvRegressor(
        n_filters=(3, 4), kernel_size=3, padding="same", pooling=["max", None],
        pool_size=["global", 2], max_iter=3, random_state=0,
    ), images, _regression_targets(images, 1))
    assert model.kernel_size_ == [(3, 3), (3, 3)]
    assert model.pool_size_ == [(6, 6), None]
    X_test = _images(10, (2, 6, 6), seed=1)
    assert model.feature_maps(X_test, block=1).shape == (10, 4, 1, 1)
    before = model.predict(X_test)
    assert_allclose(before, oracle_regression(model, X_test, True), rtol=RTOL)

    rng = np.random.RandomState(2)
    kernel = model.kernels_[1]
    off_centre = rng.standard_normal(kernel.shape) * 10
    off_centre[:, :, 1, 1] = kernel[:, :, 1, 1]
    changed = copy.deepcopy(model)
    changed.kernels_ = [model.kernels_[0], off_centre]
    assert_allclose(changed.predict(X_test), before, rtol=1e-13)
    assert_allclose(changed.feature_maps(X_test, block=1),
                    model.feature_maps(X_test, block=1), rtol=1e-13)
    # The centre tap itself does count.
    centre = off_centre.copy()
    centre[:, :, 1, 1] += 1.0
    changed.kernels_ = [model.kernels_[0], centre]
    assert np.abs(changed.predict(X_test) - before).max() > 1e-3


# ---------------------------------------------------- 5. warm start, partial_fit

ARCHITECTURE = dict(n_filters=(3, 4), kernel_size=[3, 2], padding="same",
                    pooling=["max", "avg"], pool_size=2, activation="tanh")

#: A change -> ((name, fitted, new), ...): what the error must say. 10x10
#: images: 10x10 maps, 5x5 pooled; then 5x5 maps, 2x2 pooled.
CHANGES = {
    "n_filters": (dict(n_filters=(3, 5)), (("n_filters", (3, 4), (3, 5)),)),
    "kernel_size[1]": (
        dict(kernel_size=[3, 3]),
        (("kernel_size", ((3, 3), (2, 2)), ((3, 3), (3, 3))),),
    ),
    "pooling[1]": (
        dict(pooling=["max", "max"]), (("pooling", ("max", "avg"), ("max", "max")),)
    ),
    "pooling[1]-none": (
        dict(pooling=["max", None]),
        (("pooling", ("max", "avg"), ("max", None)),
         ("pool_size", ((2, 2), (2, 2)), ((2, 2), None))),
    ),
    "pool_size[1]": (
        dict(pool_size=[2, (1, 2)]),
        (("pool_size", ((2, 2), (2, 2)), ((2, 2), (1, 2))),),
    ),
    "padding[0]": (
        dict(padding=["valid", "same"]),
        (("padding", ("same", "same"), ("valid", "same")),),
    ),
    "activation": (
        dict(activation="relu"), (("activation", "tanh", "relu"),)
    ),
}


def _warm_data():
    images = _images(30, (1, 10, 10))
    return images[:, 0], _regression_targets(images, 1)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_per_block_value_is_refused_naming_it(how, change):
    X, y = _warm_data()
    model = TinyConvRegressor(warm_start=how == "warm_start", max_iter=2,
                              random_state=0, **ARCHITECTURE)
    if how == "warm_start":
        fit_quietly(model, X, y)
    else:
        model.partial_fit(X, y)
    params, expected = CHANGES[change]
    model.set_params(**params)
    state = pickle.dumps(model.__dict__)
    with pytest.raises(ValueError, match="warm_start / partial_fit") as info:
        if how == "warm_start":
            fit_quietly(model, X, y)
        else:
            model.partial_fit(X, y)
    message = str(info.value)
    for name, fitted, new in expected:
        assert f"{name}: fitted {fitted!r}, now {new!r}" in message, message
    # Only what changed is named.
    assert re.findall(r"(\w+): fitted", message) == [name for name, *_ in expected]
    # All or nothing: the refused call left the model as it was.
    assert pickle.dumps(model.__dict__) == state


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_the_same_architecture_spelt_otherwise_continues(how):
    X, y = _warm_data()
    model = TinyConvRegressor(warm_start=how == "warm_start", max_iter=2,
                              random_state=0, **ARCHITECTURE)
    train = (lambda: fit_quietly(model, X, y)) if how == "warm_start" else (
        lambda: model.partial_fit(X, y)
    )
    train()
    first = fitted_arrays(model)
    # The same resolved values, written per block and as pairs.
    model.set_params(n_filters=[3, 4], kernel_size=[(3, 3), 2],
                     padding=["same", "same"], pool_size=[(2, 2), 2])
    train()
    assert model.t_ == 2 * len(X) * (2 if how == "warm_start" else 1)
    for name, array in fitted_arrays(model).items():
        assert not np.array_equal(array, first[name]), name


def test_partial_fit_of_a_deep_classifier_goes_on_across_calls():
    images = _images(90, (1, 8, 8))
    X, y = images[:, 0], _classification_targets(images, "multiclass")
    model = TinyConvClassifier(n_filters=(3, 4), padding="same",
                               pooling=["max", "avg"], pool_size=[2, "global"],
                               activation="relu", random_state=0)
    # The second chunk has no row of class 2: classes come from the first call.
    chunks = [np.arange(30), np.flatnonzero(y != 2)[:20], np.arange(30, 90)]
    previous = None
    for i, rows in enumerate(chunks):
        model.partial_fit(X[rows], y[rows], classes=[0, 1, 2] if i == 0 else None)
        assert_array_equal(model.classes_, [0, 1, 2])
        assert len(model.loss_curve_) == i + 1
        arrays = fitted_arrays(model)
        if previous is not None:
            for name, array in arrays.items():
                assert not np.array_equal(array, previous[name]), name
        previous = arrays
        assert_allclose(model.predict_proba(X), oracle_proba(model, X, "multiclass"),
                        rtol=RTOL, atol=1e-14)
    assert model.t_ == 30 + 20 + 60
    # Deterministic: the same calls on a new model give the same bits.
    again = TinyConvClassifier(**model.get_params())
    for i, rows in enumerate(chunks):
        again.partial_fit(X[rows], y[rows], classes=[0, 1, 2] if i == 0 else None)
    for name, array in fitted_arrays(again).items():
        assert_array_equal(array, previous[name], err_msg=name)


# ------------------------------------------- 6. persistence, clone, streaming


def _deep_fitted(Estimator):
    images = _images(40, (2, 9, 10))
    if Estimator is TinyConvRegressor:
        y = _regression_targets(images, 2)
    else:
        y = _classification_targets(images, "strings")
    model = Estimator(n_filters=(3, 2, 4), kernel_size=[3, (1, 3), 2],
                      padding=["same", "valid", "same"],
                      pooling=["max", None, "avg"], pool_size=[2, 2, "global"],
                      activation="relu", solver="sgd", batch_size=16,
                      random_state=0)
    model.partial_fit(images, y, **({} if Estimator is TinyConvRegressor
                                    else {"classes": ["cat", "dog", "owl"]}))
    return model, images, y


def _outputs(model, X):
    """Everything the model computes on X, by name."""
    outputs = {"predict": model.predict(X)}
    if isinstance(model, TinyConvClassifier):
        outputs["predict_proba"] = model.predict_proba(X)
        outputs["decision_function"] = model.decision_function(X)
    for b in range(len(model.kernels_)):
        outputs[f"feature_maps[{b}]"] = model.feature_maps(X, block=b)
        outputs[f"pooled_maps[{b}]"] = model.pooled_maps(X, block=b)
    return outputs


def _skops_round_trip(model):
    Estimator = type(model)
    trusted = f"{Estimator.__module__}.{Estimator.__qualname__}"
    dumped = sio.dumps(model)
    assert sio.get_untrusted_types(data=dumped) == [trusted]
    return sio.loads(dumped, trusted=[trusted])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("round_trip", ["pickle", "skops"])
def test_round_trips_keep_a_deep_model_exactly(Estimator, round_trip):
    model, X, y = _deep_fitted(Estimator)
    if round_trip == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        loaded = _skops_round_trip(model)
    assert type(loaded) is Estimator
    assert loaded.get_params() == model.get_params()
    for name in ("kernel_size_", "padding_", "pooling_", "pool_size_",
                 "activation_", "image_shape_"):
        assert getattr(loaded, name) == getattr(model, name), name
    # 9x10 -> 4x5 pooled -> "valid" (1, 3): 4x3 -> one global window.
    assert loaded.pool_size_ == [(2, 2), None, (4, 3)]
    expected = fitted_arrays(model)
    for name, array in fitted_arrays(loaded).items():
        assert array.dtype == expected[name].dtype
        assert_array_equal(array, expected[name], err_msg=name)
    X_test = _images(10, (2, 9, 10), seed=1)
    expected = _outputs(model, X_test)
    for name, array in _outputs(loaded, X_test).items():
        assert_array_equal(array, expected[name], err_msg=name)
    # Training goes on exactly as in the original.
    model.partial_fit(X, y)
    loaded.partial_fit(X, y)
    expected = fitted_arrays(model)
    for name, array in fitted_arrays(loaded).items():
        assert_array_equal(array, expected[name], err_msg=name)


def test_clone_and_params_keep_per_block_lists():
    model = TinyConvRegressor(n_filters=(3, 4), kernel_size=[3, (1, 3)],
                              pooling=[None, "avg"], pool_size=[2, "global"],
                              max_iter=2, random_state=0)
    params = model.get_params()
    assert params["kernel_size"] == [3, (1, 3)]
    assert params["pool_size"] == [2, "global"]
    cloned = clone(model)
    assert cloned.get_params() == params
    assert type(cloned.kernel_size) is list and type(cloned.n_filters) is tuple
    # A clone's lists are its own: changing one leaves the other.
    cloned.kernel_size[0] = 5
    assert model.kernel_size == [3, (1, 3)]

    X, y = _warm_data()
    fit_quietly(model, X, y)
    refit = fit_quietly(clone(model), X, y)
    assert not hasattr(clone(model), "kernels_")
    for name, array in fitted_arrays(refit).items():
        assert_array_equal(array, fitted_arrays(model)[name], err_msg=name)

    model.set_params(kernel_size=[2, 2], pooling=["max", "max"], pool_size=[2, 2])
    assert model.get_params()["kernel_size"] == [2, 2]
    fit_quietly(model, X, y)
    assert model.kernel_size_ == [(2, 2), (2, 2)]
    assert model.pool_size_ == [(2, 2), (2, 2)]


def test_grid_search_over_per_block_lists():
    X, y = _warm_data()
    search = GridSearchCV(
        TinyConvRegressor(n_filters=(2, 3), padding="same", max_iter=2,
                          random_state=0),
        {"kernel_size": [[3, 2], [(1, 3), 3]], "pool_size": [[2, "global"]]},
        cv=KFold(2), error_score="raise",
    )
    fit_quietly(search, X, y)
    assert search.best_params_["kernel_size"] in ([3, 2], [(1, 3), 3])
    best = search.best_estimator_
    assert best.kernel_size_ in ([(3, 3), (2, 2)], [(1, 3), (3, 3)])
    assert best.pool_size_ == [(2, 2), (5, 5)]


def test_fit_chunks_of_a_deep_model_equals_fit():
    """The streaming equivalence (tests/test_streaming.py) at depth 3."""
    X, digit = load_digits(return_X_y=True)
    X, y = X[:400] / 16, digit[:400] / 9
    estimator = TinyConvRegressor(
        n_filters=(2, 3, 2), kernel_size=[3, 2, 2],
        padding=["same", "same", "valid"], pooling=["max", "avg", None],
        pool_size=[2, (1, 2), 2], activation="relu", shuffle=False, batch_size=40,
        random_state=0,
    )
    streamed = fit_chunks(clone(estimator), X, y, chunk_size=200, n_epochs=2)
    reference = clone(estimator).set_params(max_iter=2)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        reference.fit(X, y)
    expected = fitted_arrays(reference)
    for name, array in fitted_arrays(streamed).items():
        assert_allclose(array, expected[name], rtol=1e-12, atol=1e-15, err_msg=name)
    assert_allclose(streamed.predict(X), reference.predict(X), rtol=1e-12)
    # Not vacuous: training moved the weights from their initial draws.
    assert reference.n_iter_ == 2 and reference.t_ == 2 * len(X)


# ------------------------------------------------------------------ 7. n_jobs


class _Teams:
    """The sizes of the thread teams started and the threads that ran chunks."""

    def __init__(self, monkeypatch):
        self.sizes, self.threads = [], set()
        init, gradient = parallel.ThreadTeam.__init__, kernels.Chain.gradient

        def team(team_self, n):
            self.sizes.append(n)
            init(team_self, n)

        def record(chain_self, *args, **kwargs):
            self.threads.add(threading.get_ident())
            return gradient(chain_self, *args, **kwargs)

        monkeypatch.setattr(parallel.ThreadTeam, "__init__", team)
        monkeypatch.setattr(kernels.Chain, "gradient", record)

    def clear(self):
        self.sizes.clear()
        self.threads.clear()


def test_two_threads_give_the_same_bits_as_one(monkeypatch):
    """28x28 images, 8 then 16 filters, batches of 64: with the package's own
    chunk sizes and work threshold, every batch is shared by two threads.
    Each chunk writes its own gradient slot, summed in chunk order: the same
    operations on the same shapes as one thread."""
    # Two threads allowed even on a one-core machine; nothing else changed.
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 2)
    teams = _Teams(monkeypatch)
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(256, 28, 28))
    y = rng.randint(0, 3, 256)
    models = {}
    for n_jobs in (1, 2):
        teams.clear()
        model = TinyConvClassifier(n_filters=(8, 16), padding="same", batch_size=64,
                                   max_iter=2, random_state=0, n_jobs=n_jobs)
        models[n_jobs] = fit_quietly(model, X, y)
        if n_jobs == 1:
            assert teams.sizes == [] and len(teams.threads) == 1
        else:
            assert 2 in teams.sizes and len(teams.threads) == 2
    serial, threaded = models[1], models[2]
    expected = fitted_arrays(serial)
    for name, array in fitted_arrays(threaded).items():
        assert_array_equal(array, expected[name], err_msg=name)
    assert threaded.loss_curve_ == serial.loss_curve_
    X_test = rng.uniform(size=(300, 28, 28))
    proba = serial.predict_proba(X_test)
    assert_array_equal(threaded.predict_proba(X_test), proba)
    assert_array_equal(serial.set_params(n_jobs=2).predict_proba(X_test), proba)
    assert_array_equal(threaded.set_params(n_jobs=1).predict(X_test),
                       serial.predict(X_test))


# ---------------------------------------------------------------- 8. overflow


def _one_pixel_chain(activation, pooling):
    """Two blocks of one 1x1 kernel each on 2x2 images, fitted, then set by
    hand: block 0 passes its input on (weight 1), block 1 multiplies by 1e200."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(10, 2, 2))
    model = fit_quietly(TinyConvRegressor(
        n_filters=(1, 1), kernel_size=1, padding="valid", pooling=[pooling, None],
        pool_size=2, activation=activation, max_iter=2, random_state=0,
    ), X, X.sum(axis=(1, 2)))
    model.kernels_ = [np.ones((1, 1, 1, 1)), np.full((1, 1, 1, 1), 1e200)]
    model.kernel_intercepts_ = [np.zeros(1), np.zeros(1)]
    return model


@pytest.mark.parametrize("pooling", [None, "max", "avg"])
@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_unbounded_activations_let_a_later_block_overflow(activation, pooling):
    model = _one_pixel_chain(activation, pooling)
    huge = np.full((3, 2, 2), 1e200)
    # Block 0 is finite: 1e200 passes through.
    assert_array_equal(model.feature_maps(huge, block=0), 1e200)
    # Block 1 is 1e200 * 1e200: refused, not a silent inf.
    for call in (model.predict, lambda X: model.feature_maps(X, block=1),
                 lambda X: model.pooled_maps(X, block=-1)):
        with pytest.raises(ValueError, match="overflowed"):
            call(huge)
    # Large but finite in block 1 (1e100 * 1e200): predicted, and right.
    large = np.full((3, 2, 2), 1e100)
    maps = model.feature_maps(large, block=1)
    assert_allclose(maps, 1e300, rtol=1e-12)
    assert_allclose(model.predict(large), oracle_regression(model, large, True),
                    rtol=RTOL)


@pytest.mark.parametrize("pooling", [None, "max", "avg"])
@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_bounded_activations_keep_later_blocks_finite(activation, pooling):
    """tanh and logistic put block 0's output in [-1, 1]: block 1 reads
    1e200 * 1, finite, and saturates."""
    model = _one_pixel_chain(activation, pooling)
    huge = np.full((3, 2, 2), 1e200)
    assert_array_equal(model.feature_maps(huge, block=0), 1.0)
    assert_array_equal(model.feature_maps(huge, block=1), 1.0)
    predicted = model.predict(huge)
    assert np.isfinite(predicted).all()
    assert_allclose(predicted, oracle_regression(model, huge, True), rtol=RTOL)


# ---------------------------------------------------------------- 9. learning


def test_two_blocks_learn_the_digits():
    """Measured: 0.971 accuracy on this split (0.971 to 0.976 on three), in
    about 1 s."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=0
    )
    model = TinyConvClassifier(n_filters=(8, 16), kernel_size=3, padding="same",
                               pool_size=2, random_state=0)
    fit_quietly(model, X_train, y_train)
    assert model.kernel_size_ == [(3, 3), (3, 3)]
    assert model.pool_size_ == [(2, 2), (2, 2)]
    assert model.score(X_test, y_test) >= 0.94
