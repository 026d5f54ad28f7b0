"""The optimisers, step by step, against values computed by hand."""

import pickle

import numpy as np
import pytest

from sktinycnn._optimizers import (
    ADAM_DENSE_REFERENCE_WIDTH,
    MIN_ADAPTIVE_LEARNING_RATE,
    SGD,
    Adam,
    adam_dense_step_scale,
)

GRADS = [np.array([0.5, -1.0]), np.array([0.25, 2.0]), np.array([-1.0, 0.0])]


def _run(optimizer, steps):
    theta = np.array([1.0, -2.0])
    history = []
    for grad in GRADS[:steps]:
        optimizer.step(theta, grad)
        history.append(theta.copy())
    return history


def _sgd(momentum, nesterov=True, lr=0.1):
    return SGD(2, np.float64, lr, momentum=momentum, nesterovs_momentum=nesterov)


def _adam(lr=0.01, **kwargs):
    return Adam(2, np.float64, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs)


def test_plain_sgd_is_w_minus_lr_grad():
    optimizer = _sgd(0.0)
    history = _run(optimizer, 3)
    w = np.array([1.0, -2.0])
    for got, grad in zip(history, GRADS, strict=True):
        w = w - 0.1 * grad
        np.testing.assert_array_equal(got, w)
    # The velocity of plain SGD is minus the last step, as MLPRegressor's.
    np.testing.assert_array_equal(optimizer.velocity, -0.1 * GRADS[2])


def test_sgd_momentum_by_hand():
    optimizer = _sgd(0.9, nesterov=False)
    history = _run(optimizer, 3)
    # v1 = -0.1 g1 = [-0.05, 0.1]; w1 = [0.95, -1.9]
    np.testing.assert_allclose(history[0], [0.95, -1.9])
    # v2 = 0.9 v1 - 0.1 g2 = [-0.07, -0.11]; w2 = [0.88, -2.01]
    np.testing.assert_allclose(history[1], [0.88, -2.01])
    # v3 = 0.9 v2 - 0.1 g3 = [0.037, -0.099]; w3 = [0.917, -2.109]
    np.testing.assert_allclose(history[2], [0.917, -2.109])
    np.testing.assert_allclose(optimizer.velocity, [0.037, -0.099])


def test_sgd_nesterov_by_hand():
    history = _run(_sgd(0.9), 2)
    # v1 = [-0.05, 0.1]; step = 0.9 v1 - 0.1 g1 = [-0.095, 0.19]
    np.testing.assert_allclose(history[0], [0.905, -1.81])
    # v2 = 0.9 v1 - 0.1 g2 = [-0.07, -0.11]; step = 0.9 v2 - 0.1 g2 = [-0.088, -0.299]
    np.testing.assert_allclose(history[1], [0.817, -2.109])


def test_momentum_after_plain_steps_starts_from_their_velocity():
    """A warm fit may turn momentum on: plain steps left a velocity behind."""
    optimizer = _sgd(0.0)
    theta = np.array([1.0, -2.0])
    optimizer.step(theta, GRADS[0])
    optimizer.momentum = 0.9
    optimizer.nesterovs_momentum = False
    optimizer.step(theta, GRADS[1])
    # v2 = 0.9 * (-0.1 g1) - 0.1 g2, as test_sgd_momentum_by_hand
    np.testing.assert_allclose(theta, [0.88, -2.01])


def test_adam_by_hand_with_bias_correction():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    optimizer = _adam(lr)
    history = _run(optimizer, 2)
    g1, g2 = GRADS[0], GRADS[1]
    m1, v1 = 0.1 * g1, 0.001 * g1**2
    step1 = lr * np.sqrt(1 - b2) / (1 - b1)
    w1 = np.array([1.0, -2.0]) - step1 * m1 / (np.sqrt(v1) + eps)
    # The first bias-corrected step moves each weight by about lr.
    np.testing.assert_allclose(np.abs(w1 - [1.0, -2.0]), [lr, lr], rtol=1e-5)
    np.testing.assert_allclose(history[0], w1, rtol=1e-14)
    m2, v2 = b1 * m1 + 0.1 * g2, b2 * v1 + 0.001 * g2**2
    step2 = lr * np.sqrt(1 - b2**2) / (1 - b1**2)
    np.testing.assert_allclose(
        history[1], w1 - step2 * m2 / (np.sqrt(v2) + eps), rtol=1e-14
    )
    assert optimizer.t == 2
    np.testing.assert_allclose(optimizer.first, m2)
    np.testing.assert_allclose(optimizer.second, v2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_updates_keep_dtype(solver, dtype):
    if solver == "sgd":
        optimizer = SGD(3, dtype, 0.1, momentum=0.9, nesterovs_momentum=True)
    else:
        optimizer = Adam(3, dtype, 0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    theta = np.ones(3, dtype)
    for _ in range(3):
        optimizer.step(theta, np.ones(3, dtype))
    assert theta.dtype == dtype and not np.array_equal(theta, np.ones(3))


def test_invscaling_schedule():
    optimizer = _sgd(0.9, lr=0.5)
    optimizer.end_epoch("invscaling", 99, 0.5)
    assert optimizer.learning_rate == pytest.approx(0.05)
    optimizer.end_epoch("invscaling", 15, 0.25)  # from the initial rate again
    assert optimizer.learning_rate == pytest.approx(0.25)
    for schedule in ("constant", "adaptive"):
        optimizer.end_epoch(schedule, 99, 0.5)
        assert optimizer.learning_rate == pytest.approx(0.25)
    optimizer.end_epoch("invscaling", 1e308, 2.0)  # the divisor overflows
    assert optimizer.learning_rate == 0.0


def test_adaptive_divides_by_five_then_stops():
    optimizer = _sgd(0.9, lr=0.5)
    assert optimizer.on_plateau("adaptive") is False
    assert optimizer.learning_rate == pytest.approx(0.1)
    optimizer.learning_rate = 5e-6
    assert optimizer.on_plateau("adaptive") is False
    assert optimizer.learning_rate == pytest.approx(1e-6)
    optimizer.learning_rate = MIN_ADAPTIVE_LEARNING_RATE
    assert optimizer.on_plateau("adaptive") is True
    assert optimizer.learning_rate == MIN_ADAPTIVE_LEARNING_RATE
    for schedule in ("constant", "invscaling"):
        assert _sgd(0.9).on_plateau(schedule) is True
    assert _adam().on_plateau("adaptive") is True  # Adam has no schedule


def test_a_new_learning_rate_keeps_the_moments():
    optimizer = _adam()
    _run(optimizer, 2)
    first = optimizer.first.copy()
    optimizer.set_learning_rate(0.5)
    assert optimizer.learning_rate == optimizer.initial_learning_rate == 0.5
    np.testing.assert_array_equal(optimizer.first, first)
    assert optimizer.t == 2


def test_adam_scales_only_the_given_part_of_the_step():
    plain, scaled = _adam(), _adam(scaled=(1, 2, 0.25))
    theta_plain, theta_scaled = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    grad = np.array([0.3, -0.2])
    plain.step(theta_plain, grad)
    scaled.step(theta_scaled, grad)
    assert theta_scaled[0] == theta_plain[0]
    np.testing.assert_allclose(theta_scaled[1] - 2.0, 0.25 * (theta_plain[1] - 2.0))
    # The moments are Adam's own: the scale only shortens the step.
    np.testing.assert_array_equal(scaled.first, plain.first)


def test_copy_load_and_pickle_keep_the_state():
    optimizer = _adam()
    _run(optimizer, 2)
    saved = optimizer.copy()
    _run(optimizer, 1)
    assert optimizer.t == 3 and saved.t == 2
    first = optimizer.first
    optimizer.load(saved)  # into its own buffers
    assert optimizer.t == 2 and optimizer.first is first
    np.testing.assert_array_equal(optimizer.first, saved.first)
    loaded = pickle.loads(pickle.dumps(optimizer))
    a, b = np.zeros(2), np.zeros(2)
    optimizer.step(a, GRADS[0])
    loaded.step(b, GRADS[0])
    np.testing.assert_array_equal(a, b)


def test_adam_dense_step_scale():
    assert ADAM_DENSE_REFERENCE_WIDTH == 256
    assert adam_dense_step_scale(4) == 1.0
    assert adam_dense_step_scale(256) == 1.0
    assert adam_dense_step_scale(512) == 0.5
    assert adam_dense_step_scale(8 * 26 * 26) == pytest.approx(256 / 5408)
