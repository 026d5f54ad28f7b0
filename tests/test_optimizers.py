"""Optimiser updates, step by step, against values computed by hand."""

import numpy as np
import pytest

from sktinycnn._optimizers import (
    ADAM_DENSE_REFERENCE_WIDTH,
    MIN_ADAPTIVE_LEARNING_RATE,
    adam_dense_step_scale,
    decay_on_plateau,
    init_optimizer_state,
    scheduled_learning_rate,
    update_params,
)


def _params():
    return {"w": np.array([1.0, -2.0]), "b": None}


GRADS = [np.array([0.5, -1.0]), np.array([0.25, 2.0]), np.array([-1.0, 0.0])]


def _run(state, steps, **kwargs):
    params = _params()
    history = []
    for grad in GRADS[:steps]:
        params, state = update_params(params, {"w": grad, "b": None}, state, **kwargs)
        history.append(params["w"].copy())
    return history, state


def test_plain_sgd_is_w_minus_lr_grad():
    history, _ = _run(init_optimizer_state("sgd", _params(), 0.1), 3, momentum=0.0)
    w = np.array([1.0, -2.0])
    for got, grad in zip(history, GRADS, strict=True):
        w = w - 0.1 * grad
        np.testing.assert_array_equal(got, w)


def test_sgd_momentum_by_hand():
    history, state = _run(
        init_optimizer_state("sgd", _params(), 0.1),
        3,
        momentum=0.9,
        nesterovs_momentum=False,
    )
    # v1 = -0.1 g1 = [-0.05, 0.1]; w1 = [0.95, -1.9]
    np.testing.assert_allclose(history[0], [0.95, -1.9])
    # v2 = 0.9 v1 - 0.1 g2 = [-0.07, -0.11]; w2 = [0.88, -2.01]
    np.testing.assert_allclose(history[1], [0.88, -2.01])
    # v3 = 0.9 v2 - 0.1 g3 = [0.037, -0.099]; w3 = [0.917, -2.109]
    np.testing.assert_allclose(history[2], [0.917, -2.109])
    np.testing.assert_allclose(state["velocities"]["w"], [0.037, -0.099])
    assert state["velocities"]["b"] is None


def test_sgd_nesterov_by_hand():
    history, _ = _run(init_optimizer_state("sgd", _params(), 0.1), 2, momentum=0.9)
    # v1 = [-0.05, 0.1]; step = 0.9 v1 - 0.1 g1 = [-0.095, 0.19]
    np.testing.assert_allclose(history[0], [0.905, -1.81])
    # v2 = 0.9 v1 - 0.1 g2 = [-0.07, -0.11]; step = 0.9 v2 - 0.1 g2 = [-0.088, -0.299]
    np.testing.assert_allclose(history[1], [0.817, -2.109])


def test_adam_by_hand_with_bias_correction():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    history, state = _run(
        init_optimizer_state("adam", _params(), lr),
        2,
        beta_1=b1,
        beta_2=b2,
        epsilon=eps,
    )
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
    assert state["t"] == 2
    np.testing.assert_allclose(state["first_moments"]["w"], m2)
    np.testing.assert_allclose(state["second_moments"]["w"], v2)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_updates_are_pure(solver):
    params = {"w": np.array([1.0, 2.0]), "b": np.array([0.5])}
    params["w"].setflags(write=False)  # read-only weights must be fine
    state = init_optimizer_state(solver, params, 0.1)
    grads = {"w": np.array([1.0, 1.0]), "b": np.array([1.0])}
    new_params, new_state = update_params(params, grads, state)
    np.testing.assert_array_equal(params["w"], [1.0, 2.0])
    assert new_params["w"] is not params["w"]
    assert new_state is not state
    assert not np.array_equal(new_params["w"], params["w"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_updates_keep_dtype(solver, dtype):
    params = {"w": np.ones(3, dtype)}
    state = init_optimizer_state(solver, params, 0.1)
    for _ in range(3):
        params, state = update_params(params, {"w": np.ones(3, dtype)}, state)
    assert params["w"].dtype == dtype


def test_invscaling_schedule():
    assert scheduled_learning_rate("invscaling", 0.5, 0.5, 99, 0.5) == pytest.approx(
        0.05
    )
    assert scheduled_learning_rate("invscaling", 2.0, 1.0, 15, 0.25) == pytest.approx(
        1.0
    )
    assert scheduled_learning_rate("constant", 0.5, 0.3, 99, 0.5) == 0.3
    assert scheduled_learning_rate("adaptive", 0.5, 0.1, 99, 0.5) == 0.1


def test_adaptive_divides_by_five_then_stops():
    assert decay_on_plateau("adaptive", 0.5) == (False, 0.1)
    stop, rate = decay_on_plateau("adaptive", 5e-6)
    assert not stop and rate == pytest.approx(1e-6)
    assert decay_on_plateau("adaptive", MIN_ADAPTIVE_LEARNING_RATE) == (
        True,
        MIN_ADAPTIVE_LEARNING_RATE,
    )
    assert decay_on_plateau("constant", 0.5) == (True, 0.5)
    assert decay_on_plateau("invscaling", 0.5) == (True, 0.5)


def test_adam_step_scales_scale_only_the_named_steps():
    params = {"kernels": np.array([1.0, -1.0]), "coef": np.array([2.0, 0.5])}
    grads = {"kernels": np.array([0.3, -0.2]), "coef": np.array([0.1, 0.4])}
    state = init_optimizer_state("adam", params, 0.01)
    plain, _ = update_params(params, grads, state)
    scaled, scaled_state = update_params(
        params, grads, state, step_scales={"coef": 0.25}
    )
    np.testing.assert_array_equal(scaled["kernels"], plain["kernels"])
    np.testing.assert_allclose(
        scaled["coef"] - params["coef"], 0.25 * (plain["coef"] - params["coef"])
    )
    # The moments are Adam's own: the scale only shortens the step.
    np.testing.assert_allclose(
        scaled_state["first_moments"]["coef"], 0.1 * grads["coef"]
    )
    sgd = init_optimizer_state("sgd", params, 0.01)
    a, _ = update_params(params, grads, sgd)
    b, _ = update_params(params, grads, sgd, step_scales={"coef": 0.25})
    np.testing.assert_array_equal(a["coef"], b["coef"])  # SGD: plain steps


def test_adam_dense_step_scale():
    assert ADAM_DENSE_REFERENCE_WIDTH == 256
    assert adam_dense_step_scale(4) == 1.0
    assert adam_dense_step_scale(256) == 1.0
    assert adam_dense_step_scale(512) == 0.5
    assert adam_dense_step_scale(8 * 26 * 26) == pytest.approx(256 / 5408)
