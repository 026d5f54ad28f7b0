"""TinyConvClassifier's losses and probabilities against independent math.

- The classifier's training loss at its initial weights (``initial_model``)
  equals tests/reference.py's ``loss_and_gradients`` with the head, targets
  and weights written here independently (one-hot / 0/1 targets, sample
  weights times class weights from the textbook formula), and the reference
  gradient equals central finite differences of that loss through the whole
  network: softmax, binary sigmoid and multilabel sigmoid, with sample and
  class weights and pooling.
- Probabilities and log-probabilities stay finite and warning-free for huge
  logits, and equal SciPy's ``softmax`` / ``log_softmax`` / ``expit``.
"""

import numpy as np
import pytest
import reference
from numpy.testing import assert_allclose
from oracles import central_differences, fit_quietly
from scipy.special import expit, log_expit, log_softmax, softmax

from sktinycnn import TinyConvClassifier
from sktinycnn._heads import SigmoidLogLoss, SoftmaxLogLoss

RNG = np.random.RandomState(0)
X = RNG.uniform(-1, 1, size=(24, 5, 6))
SAMPLE_WEIGHT = RNG.randint(1, 4, size=24).astype(float)
LABELS = np.array(["a", "b", "c"])[RNG.randint(0, 3, size=24)]
BINARY = (X[:, 2, 3] > 0).astype(int)
MULTILABEL = np.c_[X[:, 0, 0] > 0, X[:, 4, 5] > 0, X[:, 2, 2] > 0.5].astype(int)


def _balanced(codes, weight):
    """``W / (k * W_c)`` per row: the textbook 'balanced' weights."""
    classes = np.unique(codes)
    per_class = {c: weight.sum() / (len(classes) * weight[codes == c].sum())
                 for c in classes}
    return np.array([per_class[c] for c in codes])


def _case(kind):
    """(y for the estimator, head, 0/1 targets, per-row class weights)."""
    if kind == "softmax":
        codes = np.searchsorted(["a", "b", "c"], LABELS)
        return LABELS, SoftmaxLogLoss(), np.eye(3)[codes], _balanced(
            codes, SAMPLE_WEIGHT
        )
    if kind == "binary":
        return BINARY, SigmoidLogLoss(), BINARY[:, None].astype(float), _balanced(
            BINARY, SAMPLE_WEIGHT
        )
    per_label = [_balanced(MULTILABEL[:, k], SAMPLE_WEIGHT) for k in range(3)]
    return MULTILABEL, SigmoidLogLoss(), MULTILABEL.astype(float), np.prod(
        per_label, axis=0
    )


def _params(model):
    return {
        "kernels": model.kernels_[0],
        "kernel_intercepts": model.kernel_intercepts_[0],
        "coef": model.coef_,
        "intercept": model.intercept_,
    }


@pytest.mark.parametrize("pooling", [None, "max"])
@pytest.mark.parametrize("kind", ["softmax", "binary", "multilabel"])
def test_loss_and_gradient_through_the_network(kind, pooling):
    y, head, targets, class_weight = _case(kind)
    estimator = TinyConvClassifier(
        n_filters=2, kernel_size=3, padding="valid", pooling=pooling,
        pool_size=2, alpha=0.01, class_weight="balanced", kernel_scale=0.7,
        random_state=0,
    )
    model = _initial(estimator, y)
    assert model.out_activation_ == head.out_activation
    params = _params(model)
    weight = SAMPLE_WEIGHT * class_weight
    images = X[:, None]
    pool_hw = model.pool_size_[0]

    def loss(flat_params):
        unpacked = _unflatten(flat_params, params)
        return reference.loss_and_gradients(
            unpacked, images, targets, weight, 0.01, "valid", pooling, pool_hw,
            head,
        )[0]

    value, grads = reference.loss_and_gradients(
        params, images, targets, weight, 0.01, "valid", pooling, pool_hw, head
    )
    # The estimator's first-epoch loss is the loss at its initial weights.
    assert_allclose(model.loss_, value, rtol=1e-12)
    flat = np.concatenate([p.ravel() for p in params.values()])
    numeric = central_differences(loss, flat, eps=1e-6)
    analytic = np.concatenate([grads[name].ravel() for name in params])
    assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def _initial(estimator, y):
    """The network at its initial weights (steps too small to move a weight,
    as oracles.initial_model, here with sample weights)."""
    untrained = estimator.set_params(max_iter=1, learning_rate=1e-300)
    return fit_quietly(untrained, X, y, sample_weight=SAMPLE_WEIGHT)


def _unflatten(flat, like):
    out, start = {}, 0
    for name, value in like.items():
        out[name] = flat[start:start + value.size].reshape(value.shape)
        start += value.size
    return out


def test_class_weight_dict_multiplies_the_sample_weight():
    """A dict class weight trains exactly like the same product of weights."""
    weights = {"a": 2.0, "b": 0.5}
    per_row = np.array([weights.get(label, 1.0) for label in LABELS])
    with_dict = fit_quietly(
        TinyConvClassifier(class_weight=weights, max_iter=5, random_state=0),
        X, LABELS, sample_weight=SAMPLE_WEIGHT,
    )
    product = fit_quietly(
        TinyConvClassifier(max_iter=5, random_state=0), X, LABELS,
        sample_weight=SAMPLE_WEIGHT * per_row,
    )
    assert_allclose(with_dict.predict_proba(X), product.predict_proba(X),
                    rtol=1e-12)
    assert with_dict.loss_curve_ == pytest.approx(product.loss_curve_, rel=1e-12)


def _confident(kind, scale):
    """A model whose logits are huge: its dense weights multiplied by scale."""
    y = {"softmax": LABELS, "binary": BINARY, "multilabel": MULTILABEL}[kind]
    model = fit_quietly(TinyConvClassifier(max_iter=20, random_state=0), X, y)
    model.coef_ = model.coef_ * scale
    model.intercept_ = model.intercept_ * scale
    return model


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e8])
@pytest.mark.parametrize("kind", ["softmax", "binary", "multilabel"])
def test_probabilities_are_stable_for_huge_logits(kind, scale):
    model = _confident(kind, scale)
    with np.errstate(all="raise"):  # any overflow or invalid value fails
        z = model.decision_function(X)
        proba = model.predict_proba(X)
        log_proba = model.predict_log_proba(X)
    assert np.all(np.isfinite(proba)) and np.all(np.isfinite(log_proba))
    if kind == "softmax":
        assert_allclose(proba, softmax(z, axis=1), rtol=1e-12, atol=1e-300)
        assert_allclose(log_proba, log_softmax(z, axis=1), rtol=1e-12)
        assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    elif kind == "binary":
        assert_allclose(log_proba, np.c_[log_expit(-z), log_expit(z)], rtol=1e-12)
        assert_allclose(proba[:, 1], expit(z), rtol=1e-12)
        assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    else:
        assert_allclose(log_proba, log_expit(z), rtol=1e-12)
        assert_allclose(proba, expit(z), rtol=1e-12)
    # Confident predictions keep their log-probabilities: no log of 0.
    assert np.all(log_proba <= 0)
    if scale == 1e8:
        assert log_proba.min() < -1e3


def test_float32_log_proba_is_finite_where_proba_rounds_to_zero():
    model = _confident("softmax", 1e4)
    X32 = X.astype(np.float32)
    model32 = fit_quietly(
        TinyConvClassifier(max_iter=20, random_state=0), X32, LABELS
    )
    model32.coef_ = model32.coef_ * np.float32(1e4)
    proba = model32.predict_proba(X32)
    log_proba = model32.predict_log_proba(X32)
    assert proba.dtype == log_proba.dtype == np.float32
    assert np.any(proba == 0)
    assert np.all(np.isfinite(log_proba))
    assert model.predict_log_proba(X).dtype == np.float64
