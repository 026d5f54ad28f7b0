"""The training hot path (_fastpath) against the reference math.

The oracle is the pure path of the foundation: ``loss_and_gradients`` (itself
checked against finite differences and scipy in test_network.py) followed by
``update_params``, batch after batch. ``EpochRunner`` must give the same
parameters, optimiser state and epoch loss, up to rounding, in every branch:
lean (batch_size=1) and batched loops, patches precomputed or built per batch,
shuffled or not, with and without biases, padding, channels, outputs, weights,
penalty, and every solver.
"""

import itertools

import numpy as np
import pytest

from sktinycnn._fastpath import EpochRunner, forward_output
from sktinycnn._network import (
    forward,
    hidden_forward,
    initialize_params,
    loss_and_gradients,
)
from sktinycnn._optimizers import init_optimizer_state, update_params

OPTIMIZERS = {
    "sgd": {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": True},
    "momentum": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False},
    "nesterov": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True},
    "adam": {"solver": "adam", "momentum": 0.9, "nesterovs_momentum": True},
    # Adam with the dense weights' steps scaled (adam_dense_step_scale).
    "adam-dense-scaled": {"solver": "adam", "dense_step_scale": 0.25},
}


def _reference_epoch(images, targets, weights, params, state, order, batch_size,
                     alpha, padding, kwargs):
    n = images.shape[0]
    accumulated = 0.0
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        if order is not None:
            idx = order[idx]
        w = None if weights is None else weights[idx]
        loss, grads = loss_and_gradients(
            params, images[idx], targets[idx], w, alpha, padding
        )
        accumulated += loss * (len(idx) if w is None else w.sum())
        params, state = update_params(params, grads, state, **kwargs)
    return params, state, accumulated


def _problem(seed, dtype, channels, n_outputs, padding, bias, weighted):
    rng = np.random.RandomState(seed)
    n = 11
    images = rng.rand(n, channels, 5, 6).astype(dtype)
    targets = rng.uniform(0.1, 0.9, (n, n_outputs)).astype(dtype)
    weights = rng.uniform(0.5, 2, n).astype(dtype) if weighted else None
    params = initialize_params(
        rng, image_shape=(channels, 5, 6), n_filters=3, kernel_hw=(2, 3),
        padding=padding, n_outputs=n_outputs, kernel_scale=None,
        fit_intercept=bias, dtype=dtype,
    )
    if bias:
        params["kernel_intercepts"] = rng.randn(3).astype(dtype) * 0.5
        params["intercept"] = rng.randn(n_outputs).astype(dtype) * 0.1
    else:
        params["kernel_intercepts"] = params["intercept"] = None
    return rng, images, targets, weights, params


CASES = [
    *itertools.product(
        ["sgd", "momentum", "nesterov", "adam", "adam-dense-scaled"],
        [1, 4, 5],  # batch size: lean loop, batched loop (in one chunk, in 2)
        [True, False],  # patches precomputed
        [True, False],  # shuffle
    )
]


@pytest.mark.parametrize("optimizer, batch_size, precompute, shuffle", CASES)
@pytest.mark.parametrize(
    "channels, n_outputs, padding, bias, weighted, alpha",
    [
        (1, 1, "valid", False, False, 0.0),  # the tutorial's network
        (2, 1, "same", True, True, 0.1),
        (1, 3, "valid", True, False, 0.05),
        (2, 2, "same", False, True, 0.0),
    ],
)
def test_epochs_match_reference(optimizer, batch_size, precompute, shuffle, channels,
                                n_outputs, padding, bias, weighted, alpha):
    rng, images, targets, weights, params = _problem(
        0, np.float64, channels, n_outputs, padding, bias, weighted
    )
    kwargs = dict(OPTIMIZERS[optimizer])
    solver = kwargs.pop("solver")
    dense_step_scale = kwargs.pop("dense_step_scale", 1.0)
    kwargs.update(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    state = init_optimizer_state(solver, params, 0.05)
    # batch_size=5 runs each batch in chunks of 3 and 2 images.
    n_pixels = 30 if padding == "same" else 4 * 4
    per_image = n_pixels * (3 * (1 + (n_outputs > 1)) + channels * 6 + bias) * 8
    runner = EpochRunner(
        images, targets, weights, params, batch_size=batch_size, alpha=alpha,
        padding=padding, solver=solver, precompute_bytes=2**26 if precompute else 0,
        chunk_bytes=3 * per_image if batch_size == 5 else 2**21,
        dense_step_scale=dense_step_scale, **kwargs,
    )
    kwargs["step_scales"] = {"coef": dense_step_scale}
    assert runner.precomputed is precompute
    if batch_size > 1:
        assert runner.chunk_size == (3 if batch_size == 5 else batch_size)
    frozen = {k: None if v is None else v.copy() for k, v in params.items()}
    ref = (params, state)
    fast = (params, state)
    for _ in range(3):
        order = rng.permutation(len(images)) if shuffle else None
        *ref, ref_loss = _reference_epoch(
            images, targets, weights, *ref, order, batch_size, alpha, padding, kwargs
        )
        *fast, fast_loss = runner.run_epoch(*fast, order)
        np.testing.assert_allclose(fast_loss, ref_loss, rtol=1e-12)
        # The schedule changes the step size between epochs.
        ref[1] = {**ref[1], "learning_rate": ref[1]["learning_rate"] * 0.8}
        fast[1] = {**fast[1], "learning_rate": fast[1]["learning_rate"] * 0.8}
    names = ["velocities"] if solver == "sgd" else ["first_moments", "second_moments"]
    for name, value in ref[0].items():
        if value is None:
            assert fast[0][name] is None
            continue
        assert fast[0][name].shape == value.shape
        np.testing.assert_allclose(fast[0][name], value, rtol=1e-11, atol=1e-14)
        for moments in names:
            np.testing.assert_allclose(
                fast[1][moments][name], ref[1][moments][name], rtol=1e-9, atol=1e-15
            )
    if solver == "adam":
        assert fast[1]["t"] == ref[1]["t"] == 3 * -(-len(images) // batch_size)
    # The inputs were only read.
    for name, value in frozen.items():
        if value is not None:
            np.testing.assert_array_equal(params[name], value)


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_float32_stays_float32(batch_size, optimizer):
    _rng, images, targets, weights, params = _problem(
        1, np.float32, 1, 1, "valid", True, False
    )
    state = init_optimizer_state(optimizer, params, 0.05)
    runner = EpochRunner(
        images, targets, weights, params, batch_size=batch_size, alpha=1e-3,
        padding="valid", solver=optimizer,
    )
    new_params, _new_state, loss = runner.run_epoch(params, state)
    ref_params, _ref_state, ref_loss = _reference_epoch(
        images, targets, weights, params, state, None, batch_size, 1e-3, "valid",
        {"momentum": 0.9, "nesterovs_momentum": True},
    )
    for name, value in new_params.items():
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, ref_params[name], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4)


def test_runs_on_read_only_inputs():
    """Parameters from a read-only memmap (e.g. unpickled) are copied, not written."""
    _rng, images, targets, _weights, params = _problem(2, np.float64, 1, 1, "valid",
                                                     True, False)
    for value in params.values():
        value.flags.writeable = False
    images.flags.writeable = False
    state = init_optimizer_state("adam", params, 0.05)
    for moments in ("first_moments", "second_moments"):
        for value in state[moments].values():
            value.flags.writeable = False
    for batch_size in (1, 3):
        runner = EpochRunner(images, targets, None, params, batch_size=batch_size,
                             alpha=0.0, padding="valid", solver="adam")
        new_params, _, _ = runner.run_epoch(params, state)
        assert not np.array_equal(new_params["coef"], params["coef"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "channels, n_outputs, padding, bias",
    [(1, 1, "valid", False), (2, 1, "same", True), (1, 3, "valid", True),
     (2, 2, "same", False)],
)
def test_forward_output_matches_forward(dtype, channels, n_outputs, padding, bias):
    _, images, _, _, params = _problem(3, dtype, channels, n_outputs, padding, bias,
                                       False)
    images = np.concatenate([images] * 3)  # 33 images: several chunks, one short
    expected = forward(params, images, padding)[0]
    expected_maps = hidden_forward(params, images, padding)[0]
    tol = 64 * np.finfo(dtype).eps
    # One chunk for all, chunks of 4 images, and of 1.
    for chunk_bytes in (2**22, 4 * 30 * 20 * 8, 1):
        maps = np.empty_like(expected_maps)
        output = forward_output(
            params, images, padding, maps=maps, chunk_bytes=chunk_bytes
        )
        assert output.dtype == dtype and maps.dtype == dtype
        np.testing.assert_allclose(output, expected, rtol=0, atol=tol)
        np.testing.assert_allclose(maps, expected_maps, rtol=0, atol=tol)
