"""Output heads (sktinycnn._heads): losses, gradients, stability and dtypes.

Every gradient is checked against central finite differences of the weighted
mean loss; the log-losses against ``sklearn.metrics.log_loss``; the regressor's
head against the formula, the tutorial's update and the network's own loss.
Saturating logits (up to the float range) must give the exact limits without a
NaN or a warning (``filterwarnings = error``, and ``np.errstate(all="raise")``
here, so that any underflow or overflow the heads do not handle fails).
"""

import dataclasses
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from numpydoc.validate import validate
from oracles import central_differences
from sklearn.metrics import log_loss

from sktinycnn import _heads
from sktinycnn._heads import (
    SigmoidLogLoss,
    SigmoidSquaredError,
    SoftmaxLogLoss,
    binary_log_proba,
)

log_sigmoid = _heads._log_sigmoid

HEADS = [SigmoidSquaredError(), SigmoidLogLoss(), SoftmaxLogLoss()]
IDS = ["squared_error", "sigmoid_log_loss", "softmax_log_loss"]


def _targets(head, rng, n, n_outputs):
    """Targets as the estimators encode them for ``head``."""
    if isinstance(head, SigmoidSquaredError):
        return rng.uniform(0.0625, 0.9375, (n, n_outputs))
    if isinstance(head, SoftmaxLogLoss):
        return np.eye(n_outputs)[rng.randint(n_outputs, size=n)]
    return rng.randint(2, size=(n, n_outputs)).astype(np.float64)


def _mean_loss(head, z, y, w):
    weights = np.ones(len(z)) if w is None else w
    return head.loss_sum(z, head.activate(z), y, w) / weights.sum()


def _numerical_gradient(head, z, y, w):
    return central_differences(lambda logits: _mean_loss(head, logits, y, w), z)


@pytest.mark.parametrize("head", HEADS, ids=IDS)
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_finite_differences(head, n_outputs, weighted):
    if isinstance(head, SoftmaxLogLoss) and n_outputs == 1:
        n_outputs = 4  # softmax has a column per class
    rng = np.random.RandomState(n_outputs + 10 * weighted)
    z = rng.normal(0, 2, (7, n_outputs))
    y = _targets(head, rng, 7, n_outputs)
    w = rng.uniform(0.1, 3.0, 7) if weighted else None
    weight_sum = 7.0 if w is None else w.sum()
    grad = head.gradient(z, head.activate(z), y, w, weight_sum)
    assert_allclose(grad, _numerical_gradient(head, z, y, w), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize(
    "head, n_outputs",
    [(SigmoidLogLoss(), 1), (SoftmaxLogLoss(), 3)],
    ids=["binary", "multiclass"],
)
def test_gradient_with_class_weights(head, n_outputs):
    # class_weight becomes per-sample weights: the row's class weight times its
    # sample weight.
    rng = np.random.RandomState(1)
    z = rng.normal(0, 2, (9, n_outputs))
    y = _targets(head, rng, 9, n_outputs)
    classes = y[:, 0].astype(int) if n_outputs == 1 else y.argmax(axis=1)
    class_weight = np.array([0.3, 2.5, 1.7])
    w = class_weight[classes] * rng.uniform(0.5, 2.0, 9)
    grad = head.gradient(z, head.activate(z), y, w, w.sum())
    assert_allclose(grad, _numerical_gradient(head, z, y, w), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("head", HEADS, ids=IDS)
def test_integer_weight_is_a_repeated_row(head):
    rng = np.random.RandomState(2)
    z = rng.normal(0, 2, (4, 3))
    y = _targets(head, rng, 4, 3)
    w = np.array([1.0, 2.0, 0.0, 3.0])
    rows = np.repeat(np.arange(4), w.astype(int))
    a, a_rep = head.activate(z), head.activate(z[rows])
    assert_allclose(
        head.loss_sum(z, a, y, w), head.loss_sum(z[rows], a_rep, y[rows], None),
        rtol=1e-13,
    )
    grad = head.gradient(z, a, y, w, w.sum())
    grad_rep = head.gradient(z[rows], a_rep, y[rows], None, len(rows))
    summed = np.zeros_like(grad)
    np.add.at(summed, rows, grad_rep)
    assert_allclose(grad, summed, rtol=1e-13, atol=1e-17)


def test_squared_error_formula_and_tutorial_update():
    rng = np.random.RandomState(3)
    head = SigmoidSquaredError()
    z, y = rng.normal(0, 2, (5, 3)), rng.uniform(0.1, 0.9, (5, 3))
    s = head.activate(z)
    assert_allclose(s, 1 / (1 + np.exp(-z)), rtol=1e-15)
    for i in range(5):
        loss_i = head.loss_sum(z[i : i + 1], s[i : i + 1], y[i : i + 1], None)
        assert_allclose(loss_i, 0.5 * np.sum((s[i] - y[i]) ** 2) / 3, rtol=1e-14)
    w = rng.uniform(0.5, 2.0, 5)
    expected = np.sum(w * 0.5 * np.sum((s - y) ** 2, axis=1) / 3)
    assert_allclose(head.loss_sum(z, s, y, w), expected, rtol=1e-14)

    # One unweighted sample, one output: the tutorial's (s - y) * s * (1 - s).
    z1, y1 = np.array([[0.8]]), np.array([[0.3]])
    s1 = head.activate(z1)
    assert_array_equal(head.gradient(z1, s1, y1, None, 1), (s1 - y1) * s1 * (1 - s1))


@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_log_loss_is_sklearn_log_loss(weighted):
    rng = np.random.RandomState(5)
    z = rng.normal(0, 3, (30, 4))
    labels = rng.randint(4, size=30)
    y = np.eye(4)[labels]
    w = rng.uniform(0.1, 3.0, 30) if weighted else None
    head = SoftmaxLogLoss()
    p = head.activate(z)
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)
    expected = log_loss(labels, p, sample_weight=w, labels=range(4))
    assert_allclose(_mean_loss(head, z, y, w), expected, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_sigmoid_log_loss_is_sklearn_log_loss(weighted):
    rng = np.random.RandomState(6)
    z = rng.normal(0, 3, (30, 3))
    y = rng.randint(2, size=(30, 3)).astype(np.float64)
    w = rng.uniform(0.1, 3.0, 30) if weighted else None
    head = SigmoidLogLoss()
    s = head.activate(z)
    # Binary: one output, the positive class's probability.
    expected = log_loss(y[:, 0], s[:, 0], sample_weight=w)
    assert_allclose(_mean_loss(head, z[:, :1], y[:, :1], w), expected, rtol=1e-12)
    # Multilabel: summed over the outputs, as MLPClassifier's binary_log_loss.
    expected = sum(log_loss(y[:, k], s[:, k], sample_weight=w) for k in range(3))
    assert_allclose(_mean_loss(head, z, y, w), expected, rtol=1e-12)


@pytest.mark.parametrize("y_dtype", [np.int64, np.bool_])
@pytest.mark.parametrize("head", HEADS[1:], ids=IDS[1:])
def test_integer_and_boolean_indicators(head, y_dtype):
    rng = np.random.RandomState(7)
    z = rng.normal(0, 2, (6, 3))
    y = _targets(head, rng, 6, 3)
    a, w = head.activate(z), rng.uniform(0.5, 2.0, 6)
    assert head.loss_sum(z, a, y.astype(y_dtype), w) == head.loss_sum(z, a, y, w)
    assert_array_equal(
        head.gradient(z, a, y.astype(y_dtype), w, 3.0), head.gradient(z, a, y, w, 3.0)
    )


# Saturated logits, targets, and the exact limits: outputs, loss, gradient
# (unweighted, one sample), log-probabilities.
INF = np.inf
EXTREMES = [
    # softmax: right class, the 0-logit class, wrong class
    (SoftmaxLogLoss(), [1000, -1000, 0], [1, 0, 0], [1, 0, 0], 0.0, [0, 0, 0],
     [0, -2000, -1000]),
    (SoftmaxLogLoss(), [1000, -1000, 0], [0, 0, 1], [1, 0, 0], 1000.0, [1, 0, -1],
     [0, -2000, -1000]),
    (SoftmaxLogLoss(), [1000, -1000, 0], [0, 1, 0], [1, 0, 0], 2000.0, [1, -1, 0],
     [0, -2000, -1000]),
    # a gap beyond the float range: P = 0 exactly, log P = -inf
    (SoftmaxLogLoss(), [1e308, -1e308], [1, 0], [1, 0], 0.0, [0, 0], [0, -INF]),
    (SigmoidLogLoss(), [1000, -1000, 0], [1, 0, 1], [1, 0, 0.5], np.log(2),
     [0, 0, -0.5], [0, -1000, -np.log(2)]),
    (SigmoidLogLoss(), [1000, -1000, 0], [0, 1, 0], [1, 0, 0.5], 2000 + np.log(2),
     [1, -1, 0.5], [0, -1000, -np.log(2)]),
    (SigmoidLogLoss(), [1e308, -1e308], [1, 0], [1, 0], 0.0, [0, 0], [0, -1e308]),
    (SigmoidLogLoss(), [1e308, -1e308], [0, 0], [1, 0], 1e308, [1, 0], [0, -1e308]),
    (SigmoidSquaredError(), [1000, -1000, 0], [1, 0, 1], [1, 0, 0.5], 0.125 / 3,
     [0, 0, -0.125 / 3], None),
    (SigmoidSquaredError(), [1e308, -1e308], [0, 1], [1, 0], 0.5, [0, 0], None),
]


@pytest.mark.parametrize(
    "head, z, y, a, loss, grad, log_proba", EXTREMES,
    ids=[f"{type(c[0]).__name__}-{c[1]}-{c[2]}" for c in EXTREMES],
)
def test_saturated_logits_give_the_limits(head, z, y, a, loss, grad, log_proba):
    z, y = np.array([z], dtype=np.float64), np.array([y], dtype=np.float64)
    with np.errstate(all="raise"):
        out = head.activate(z)
        assert_array_equal(out, [a])
        assert_allclose(head.loss_sum(z, out, y, None), loss, rtol=1e-15)
        assert_allclose(head.gradient(z, out, y, None, 1), [grad], rtol=1e-15)
        if log_proba is not None:
            assert_allclose(head.log_proba(z), [log_proba], rtol=1e-15)


@pytest.mark.parametrize("head", HEADS, ids=IDS)
@pytest.mark.parametrize("dtype, big", [(np.float64, 1e308), (np.float32, 3e38)])
def test_float_range_logits_are_finite(head, dtype, big):
    # Every labelling of [big, -big] (and one row of each sign): exact limits of
    # the outputs and gradients, and finite losses where the loss fits the float
    # range (float32 logits are scored in float64, so always for them).
    z = np.array([[big, -big], [-big, big]], dtype=dtype)
    with np.errstate(all="raise"):
        a = head.activate(z)
        assert_array_equal(a, [[1, 0], [0, 1]])
        for y in np.eye(2)[[[0, 0], [0, 1], [1, 0], [1, 1]]]:
            loss = head.loss_sum(z, a, y, np.array([1.0, 2.0]))
            assert loss >= 0
            if dtype is np.float32 or isinstance(head, SigmoidSquaredError):
                assert np.isfinite(loss)
            grad = head.gradient(z, a, y, None, 2.0)
            assert grad.dtype == dtype
            limit = 0 * y if isinstance(head, SigmoidSquaredError) else (a - y) / 2
            assert_array_equal(grad, limit)
        if not isinstance(head, SigmoidSquaredError):
            log_p = head.log_proba(z)
            assert not np.isnan(log_p).any() and log_p.dtype == dtype
    if not isinstance(head, SigmoidSquaredError):
        assert_array_equal(np.exp(log_p), a)  # exp underflows to 0 here


def test_loss_beyond_the_float_range_is_inf_without_warning():
    z = np.array([[1e308, -1e308]])
    with np.errstate(all="raise"):
        for head in HEADS[1:]:
            a, y = head.activate(z), np.array([[0.0, 1.0]])
            assert head.loss_sum(z, a, y, None) == INF


def test_log_sigmoid_and_binary_log_proba():
    z = np.array([[-1e308], [-1000.0], [-40.0], [0.0], [40.0], [1000.0], [1e308]])
    with np.errstate(all="raise"):
        both = binary_log_proba(z)
        log_s = log_sigmoid(z)
    assert both.shape == (7, 2)
    assert_array_equal(both[:, 1:], log_s)
    assert_array_equal(both[:, :1], log_sigmoid(-z))
    assert_array_equal(SigmoidLogLoss().log_proba(z), log_s)  # (n, 1) for binary
    assert np.isfinite(both).all()
    # Tiny tails stay accurate (log1p(-exp(-40)) ~ -exp(-40), not 0).
    assert_allclose(log_s[[2, 4], 0], [-40 - np.exp(-40), -np.exp(-40)], rtol=1e-15)
    moderate = np.linspace(-20, 20, 9)[:, None]
    expected = 1 / (1 + np.exp(np.hstack([moderate, -moderate])))
    assert_allclose(np.exp(binary_log_proba(moderate)), expected, rtol=1e-14)


@pytest.mark.parametrize("head", HEADS, ids=IDS)
def test_float32_stays_float32(head):
    rng = np.random.RandomState(8)
    z = rng.normal(0, 2, (5, 3)).astype(np.float32)
    y, w = _targets(head, rng, 5, 3), rng.uniform(0.5, 2.0, 5)  # float64 both
    a = head.activate(z)
    assert a.dtype == np.float32
    assert isinstance(head.loss_sum(z, a, y, w), float)
    assert head.gradient(z, a, y, w, w.sum()).dtype == np.float32
    assert head.gradient(z, a, y, None, np.float64(5)).dtype == np.float32
    if not isinstance(head, SigmoidSquaredError):
        assert head.log_proba(z).dtype == np.float32
    assert binary_log_proba(z[:, :1]).dtype == log_sigmoid(z).dtype == np.float32
    z64 = z.astype(np.float64)
    assert_allclose(a, head.activate(z64), rtol=1e-6)
    assert_allclose(
        head.loss_sum(z, a, y, w), head.loss_sum(z64, head.activate(z64), y, w),
        rtol=1e-6,
    )


@pytest.mark.parametrize("head", HEADS, ids=IDS)
def test_out_buffers_and_aliasing(head):
    rng = np.random.RandomState(9)
    z = rng.normal(0, 2, (5, 3))
    y, w = _targets(head, rng, 5, 3), rng.uniform(0.5, 2.0, 5)
    a = head.activate(z)
    grad = head.gradient(z, a, y, w, w.sum())
    out = np.empty_like(z)
    assert head.activate(z, out=out) is out
    assert_array_equal(out, a)
    z_copy = z.copy()
    assert head.activate(z_copy, out=z_copy) is z_copy  # in place over z
    assert_array_equal(z_copy, a)
    for alias in ("a", "z", None):
        a_copy, z_copy = a.copy(), z.copy()
        out = {"a": a_copy, "z": z_copy, None: np.empty_like(a)}[alias]
        assert head.gradient(z_copy, a_copy, y, w, w.sum(), out=out) is out
        assert_array_equal(out, grad)


def test_heads_are_immutable_values():
    assert [h.out_activation for h in HEADS] == ["logistic", "logistic", "softmax"]
    assert [h.loss for h in HEADS] == ["squared_error", "log_loss", "log_loss"]
    for head in HEADS:
        with pytest.raises(dataclasses.FrozenInstanceError):
            head.out_activation = "identity"
        assert pickle.loads(pickle.dumps(head)) == type(head)()
        assert hash(head) == hash(type(head)())
    assert len(set(HEADS)) == 3
    assert not hasattr(SigmoidSquaredError(), "log_proba")


DOCUMENTED = [f"sktinycnn._heads.{name}" for name in _heads.__all__] + [
    f"sktinycnn._heads.{head}.{method}"
    for head in ("SigmoidSquaredError", "SigmoidLogLoss", "SoftmaxLogLoss")
    for method in ("activate", "loss_sum", "gradient", "log_proba")
    if hasattr(getattr(_heads, head), method)
]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_docstrings(name):
    # The project's numpydoc rules (tests/test_docstrings.py); the methods' usage
    # is in their class's Examples, so they need none of their own.
    ignored = {"ES01", "SA01", "RT02"} | ({"EX01"} if name.count(".") == 3 else set())
    errors = [
        f"{code}: {message}"
        for code, message in validate(name)["errors"]
        if code not in ignored
    ]
    assert not errors, f"{name}:\n" + "\n".join(errors)
