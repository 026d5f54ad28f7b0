"""The deep reference (tests/reference_deep.py) against its own oracles.

- Depth 1: the same logits, outputs, maps, loss and gradients as the depth-1
  reference (tests/reference.py), for every head, padding and pooling.
- Every block's feature maps and pooled maps, and the logits, equal
  ``scipy_deep_maps`` / ``scipy_deep_logits`` (tests/oracles.py), built on
  ``scipy.signal.convolve2d`` and numpy reshapes.
- The gradients of 2- and 3-block networks equal central finite differences
  for every head, activation, padding and pooling (leftover rows and columns
  dropped, "global" windows, maps shrunk to one pixel), with channels, with
  and without biases.
- The pooling loops' first-maximum rule, the input gradient's full
  correlation, and the weighting and L2 conventions.
"""

import itertools

import numpy as np
import pytest
import reference
from numpy.testing import assert_allclose, assert_array_equal
from oracles import (
    central_differences,
    scipy_deep_logits,
    scipy_deep_maps,
    scipy_feature_maps,
)
from reference_deep import (
    ACTIVATIONS,
    convolve,
    convolve_backward,
    deep_forward,
    deep_loss_and_gradients,
    loop_pool_backward,
    loop_pool_forward,
    random_deep_params,
)
from scipy.signal import correlate2d

from sktinycnn._heads import SigmoidLogLoss, SigmoidSquaredError, SoftmaxLogLoss

#: name -> (head, n_outputs)
HEADS = {
    "squared-1": (SigmoidSquaredError(), 1),
    "squared-2": (SigmoidSquaredError(), 2),
    "binary": (SigmoidLogLoss(), 1),
    "softmax-3": (SoftmaxLogLoss(), 3),
}


def _block(padding="valid", pooling=None, pool_hw=None):
    return {"padding": padding, "pooling": pooling, "pool_hw": pool_hw}


def _targets(rng, head, n_outputs, n_samples):
    """Targets encoded for the head: sigmoid units, 0/1 labels or one-hot rows."""
    if isinstance(head, SigmoidSquaredError):
        return rng.uniform(0.1, 0.9, (n_samples, n_outputs))
    if isinstance(head, SoftmaxLogLoss):
        return np.eye(n_outputs)[rng.integers(0, n_outputs, n_samples)]
    return rng.integers(0, 2, (n_samples, n_outputs)).astype(float)


def _leaves(params):
    """``(name, block or None, array)`` of every non-None parameter, in order."""
    for name in ("kernels", "kernel_intercepts", "coef", "intercept"):
        value = params[name]
        if isinstance(value, list):
            yield from ((name, b, array) for b, array in enumerate(value))
        elif value is not None:
            yield name, None, value


def _flatten(params):
    return np.concatenate([array.ravel() for _, _, array in _leaves(params)])


def _unflatten(flat, like):
    params = {name: [] if isinstance(v, list) else None for name, v in like.items()}
    start = 0
    for name, b, array in _leaves(like):
        value = flat[start:start + array.size].reshape(array.shape)
        start += array.size
        if b is None:
            params[name] = value
        else:
            params[name].append(value)
    return params


def _assert_same_params(actual, expected, **tolerance):
    assert actual.keys() == expected.keys()
    for name in expected:
        if expected[name] is None:
            assert actual[name] is None, name
        elif isinstance(expected[name], list):
            assert len(actual[name]) == len(expected[name]), name
            for a, e in zip(actual[name], expected[name], strict=True):
                assert_allclose(a, e, err_msg=name, **tolerance)
        else:
            assert_allclose(actual[name], expected[name], err_msg=name, **tolerance)


# --- depth 1: the depth-1 reference ------------------------------------------

DEPTH_1_CASES = [
    # (channels, h, w, filters, kernel, block)
    (1, 5, 6, 2, (2, 2), _block("valid")),
    (2, 6, 7, 3, (3, 2), _block("same", "max", (2, 2))),
    (2, 5, 7, 2, (2, 3), _block("valid", "avg", (2, 3))),
    (1, 6, 6, 3, (2, 2), _block("same", "avg", "global")),
    (3, 4, 5, 2, (3, 3), _block("valid", "max", "global")),
    (1, 7, 5, 1, (4, 2), _block("same", "max", (3, 1))),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("head_name", HEADS)
@pytest.mark.parametrize("case", range(len(DEPTH_1_CASES)))
def test_depth_1_is_the_depth_1_reference(case, head_name, fit_intercept, weighted):
    c, h, w, f, kernel_hw, block = DEPTH_1_CASES[case]
    head, n_outputs = HEADS[head_name]
    rng = np.random.default_rng(case)
    params, blocks = random_deep_params(
        rng, (c, h, w), [f], [kernel_hw], [block], n_outputs,
        fit_intercept=fit_intercept,
    )
    images = rng.standard_normal((4, c, h, w))
    targets = _targets(rng, head, n_outputs, 4)
    weights, alpha = (rng.uniform(0.2, 3.0, 4), 0.3) if weighted else (None, 0.0)
    biases = params["kernel_intercepts"]
    flat = {
        "kernels": params["kernels"][0],
        "kernel_intercepts": None if biases is None else biases[0],
        "coef": params["coef"],
        "intercept": params["intercept"],
    }
    spec = blocks[0]
    tolerance = {"rtol": 1e-12, "atol": 1e-14}

    logits, outputs, cache = deep_forward(params, images, blocks, "tanh", head)
    output_1, (hidden_cache, hidden_1, pooled_1, logits_1) = reference.forward(
        flat, images, spec["padding"], spec["pooling"], spec["pool_hw"], head
    )
    assert_allclose(logits, logits_1, **tolerance)
    assert_allclose(outputs, output_1, **tolerance)
    assert_allclose(cache["blocks"][0]["feature_maps"], hidden_cache[1], **tolerance)
    assert_allclose(cache["blocks"][0]["pooled_maps"], pooled_1, **tolerance)
    assert_allclose(cache["hidden"], hidden_1, **tolerance)

    loss, grads = deep_loss_and_gradients(
        params, images, targets, weights, alpha, blocks, "tanh", head
    )
    loss_1, grads_1 = reference.loss_and_gradients(
        flat, images, targets, weights, alpha, spec["padding"], spec["pooling"],
        spec["pool_hw"], head,
    )
    assert loss == pytest.approx(loss_1, rel=1e-12)
    assert_allclose(grads["kernels"][0], grads_1["kernels"], **tolerance)
    if fit_intercept:
        assert_allclose(
            grads["kernel_intercepts"][0], grads_1["kernel_intercepts"], **tolerance
        )
    else:
        assert grads["kernel_intercepts"] is None and grads["intercept"] is None
    for name in ("coef", "intercept"):
        if grads_1[name] is not None:
            assert_allclose(grads[name], grads_1[name], **tolerance)


# --- every block's maps: scipy -------------------------------------------------

MAPS_CASES = {
    # name: (image_shape, n_filters, kernel sizes, blocks)
    "one-block": ((2, 6, 7), [3], [(3, 2)], [_block("valid", "max", (2, 2))]),
    "two-valid": (
        (1, 8, 9), [2, 3], [(3, 3), (2, 2)],
        [_block("valid", "max", (2, 2)), _block("valid", "avg", (2, 2))],
    ),
    "two-same-even": (
        (2, 6, 7), [3, 2], [(2, 4), (4, 1)],
        [_block("same", "avg", (2, 3)), _block("same")],
    ),
    "three-mixed": (
        (2, 9, 8), [2, 3, 2], [(2, 2), (3, 2), (1, 2)],
        [
            _block("same", "max", (3, 2)),
            _block("valid"),
            _block("same", "avg", "global"),
        ],
    ),
    "three-to-one-pixel": (
        (1, 4, 4), [2, 3, 2], [(3, 3), (2, 2), (3, 3)],
        [
            _block("same", "max", (2, 2)),
            _block("same", "avg", (2, 2)),
            _block("same", "max", "global"),
        ],
    ),
}


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("case", MAPS_CASES)
def test_every_block_matches_scipy(case, activation, fit_intercept):
    image_shape, n_filters, kernel_hws, specs = MAPS_CASES[case]
    rng = np.random.default_rng(len(case))
    params, blocks = random_deep_params(
        rng, image_shape, n_filters, kernel_hws, specs, 2, fit_intercept=fit_intercept
    )
    images = rng.standard_normal((3, *image_shape))
    logits, outputs, cache = deep_forward(params, images, blocks, activation)
    assert outputs is None
    expected = scipy_deep_maps(
        images, params["kernels"], params["kernel_intercepts"], blocks, activation
    )
    assert len(expected) == len(cache["blocks"])
    for block, (maps, pooled) in zip(cache["blocks"], expected, strict=True):
        assert block["feature_maps"].shape == maps.shape
        assert block["pooled_maps"].shape == pooled.shape
        assert_allclose(block["feature_maps"], maps, rtol=1e-12, atol=1e-13)
        assert_allclose(block["pooled_maps"], pooled, rtol=1e-12, atol=1e-13)
    expected_logits = scipy_deep_logits(
        images, params["kernels"], params["kernel_intercepts"], params["coef"],
        params["intercept"], blocks, activation,
    )
    assert_allclose(logits, expected_logits, rtol=1e-12, atol=1e-13)


def test_one_pixel_network_shapes():
    image_shape, n_filters, kernel_hws, specs = MAPS_CASES["three-to-one-pixel"]
    params, blocks = random_deep_params(
        np.random.default_rng(0), image_shape, n_filters, kernel_hws, specs, 1
    )
    _, _, cache = deep_forward(params, np.ones((2, *image_shape)), blocks)
    shapes = [b["pooled_maps"].shape for b in cache["blocks"]]
    assert shapes == [(2, 2, 2, 2), (2, 3, 1, 1), (2, 2, 1, 1)]
    assert params["coef"].shape == (2, 1)


def test_scipy_deep_maps_at_depth_1_is_scipy_feature_maps():
    """The two scipy oracles agree where both apply: tanh, no pooling."""
    rng = np.random.default_rng(5)
    images = rng.standard_normal((3, 2, 5, 6))
    kernels = rng.standard_normal((3, 2, 2, 3))
    biases = rng.standard_normal(3)
    for padding in ("valid", "same"):
        ((maps, pooled),) = scipy_deep_maps(
            images, [kernels], [biases], [_block(padding)], "tanh"
        )
        assert pooled is maps
        assert_array_equal(maps, scipy_feature_maps(images, kernels, biases, padding))


# --- the pieces of the backward pass -----------------------------------------


def test_max_pooling_loops_take_the_first_maximum():
    maps = np.array(
        [[[[1.0, 3.0, 3.0, 0.0, 7.0],
           [3.0, 2.0, 3.0, 3.0, 7.0],
           [5.0, 5.0, 4.0, 9.0, 7.0]]]]
    )
    grad = np.array([[[[10.0, 20.0]]]])
    assert_array_equal(loop_pool_forward(maps, "max", (2, 2)), [[[[3.0, 3.0]]]])
    expected = np.zeros_like(maps)
    # Ties: the first maximum in row-major order; the last row and column,
    # left over by the 2x2 windows, get nothing.
    expected[0, 0, 0, 1] = 10.0
    expected[0, 0, 0, 2] = 20.0
    assert_array_equal(loop_pool_backward(grad, maps, "max", (2, 2)), expected)
    avg = loop_pool_backward(grad, maps, "avg", (2, 2))
    assert_array_equal(avg[0, 0, :2, :4], np.repeat([[2.5, 2.5, 5.0, 5.0]], 2, axis=0))
    assert not avg[0, 0, 2].any() and not avg[0, 0, :, 4].any()


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_input_gradient_is_the_full_correlation(padding):
    """``d/dx`` of ``sum_f convolve2d(x, k_f) * g_f`` is ``sum_f correlate2d(g_f,
    k_f, "full")``, cropped to the image for "same" (its padding's share)."""
    rng = np.random.default_rng(2)
    inputs = rng.standard_normal((2, 3, 6, 5))
    kernels = rng.standard_normal((4, 3, 3, 2))
    pre, windows = convolve(inputs, kernels, padding)
    grad_pre = rng.standard_normal(pre.shape)
    _, grad_inputs = convolve_backward(grad_pre, windows, kernels, padding, (6, 5))
    top, left = (1, 1) if padding == "same" else (0, 0)
    expected = np.zeros_like(inputs)
    for n, c in itertools.product(range(2), range(3)):
        full = sum(correlate2d(grad_pre[n, f], kernels[f, c], "full") for f in range(4))
        expected[n, c] = full[top:top + 6, left:left + 5]
    assert_allclose(grad_inputs, expected, rtol=1e-12, atol=1e-13)


# --- gradients: central finite differences -----------------------------------

#: Two blocks on a 6x7 image, 2x2 kernels: block 0's maps are 5x6 ("valid")
#: or 6x7 ("same"), so 2x2 windows drop a row or a column, and so on.
POOLINGS = {
    "none": [_block(), _block()],
    "max-leftover": [_block(None, "max", (2, 2)), _block(None, "max", (1, 2))],
    "avg-leftover": [_block(None, "avg", (2, 2)), _block(None, "avg", (1, 2))],
    "avg-wide": [_block(None, "avg", (2, 3)), _block()],
    "global": [_block(None, "max", (2, 2)), _block(None, "avg", "global")],
    "max-global": [_block(None, "avg", (2, 2)), _block(None, "max", "global")],
}


def _assert_gradients_match(params, images, targets, weights, alpha, blocks,
                            activation, head):
    def loss_at(flat):
        return deep_loss_and_gradients(
            _unflatten(flat, params), images, targets, weights, alpha, blocks,
            activation, head,
        )[0]

    _, grads = deep_loss_and_gradients(
        params, images, targets, weights, alpha, blocks, activation, head
    )
    for name in ("kernel_intercepts", "intercept"):
        assert (grads[name] is None) == (params[name] is None)
    shapes = [array.shape for _, _, array in _leaves(params)]
    assert [array.shape for _, _, array in _leaves(grads)] == shapes
    numeric = central_differences(loss_at, _flatten(params), eps=1e-6)
    # Central differences are accurate to ~1e-10 here (rounding of the loss
    # over eps); the absolute floor covers only entries that small.
    assert_allclose(_flatten(grads), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_two_block_gradients(activation, pooling, padding):
    # Heads, biases and weights cycle over the cases so that each meets every
    # activation and pooling without a full product.
    index = ACTIVATIONS.index(activation) + len(ACTIVATIONS) * list(POOLINGS).index(
        pooling
    )
    head, n_outputs = list(HEADS.values())[index % len(HEADS)]
    fit_intercept = index % 2 == (padding == "same")
    specs = [{**spec, "padding": padding} for spec in POOLINGS[pooling]]
    rng = np.random.default_rng(index)
    params, blocks = random_deep_params(
        rng, (2, 6, 7), [3, 2], [(2, 2), (2, 2)], specs, n_outputs,
        fit_intercept=fit_intercept,
    )
    images = rng.standard_normal((3, 2, 6, 7))
    targets = _targets(rng, head, n_outputs, 3)
    weights = rng.uniform(0.2, 3.0, 3) if index % 3 else None
    _assert_gradients_match(params, images, targets, weights, 0.1, blocks,
                            activation, head)


THREE_BLOCKS = {
    # name: (image_shape, kernel sizes, blocks); 2, 3 and 2 filters.
    "mixed": (
        (2, 6, 7), [(3, 3), (2, 2), (2, 1)],
        [
            _block("same", "max", (2, 2)),
            _block("valid", "avg", (1, 2)),
            _block("same", "max", "global"),
        ],
    ),
    "one-pixel-same": (
        (2, 4, 4), [(3, 3), (2, 2), (3, 3)],
        [
            _block("same", "max", (2, 2)),
            _block("same", "avg", (2, 2)),
            _block("same", "max", (1, 1)),
        ],
    ),
    "one-pixel-valid": (
        (1, 4, 4), [(1, 1), (2, 2), (1, 1)],
        [
            _block("valid", "avg", (2, 2)),
            _block("valid"),
            _block("valid"),
        ],
    ),
}


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("network", THREE_BLOCKS)
@pytest.mark.parametrize("head_name", HEADS)
def test_three_block_gradients(head_name, network, fit_intercept):
    head, n_outputs = HEADS[head_name]
    image_shape, kernel_hws, specs = THREE_BLOCKS[network]
    index = list(HEADS).index(head_name) + 4 * list(THREE_BLOCKS).index(network)
    activation = ACTIVATIONS[index % len(ACTIVATIONS)]
    rng = np.random.default_rng(100 + index)
    params, blocks = random_deep_params(
        rng, image_shape, [2, 3, 2], kernel_hws, specs, n_outputs,
        fit_intercept=fit_intercept,
    )
    images = rng.standard_normal((3, *image_shape))
    targets = _targets(rng, head, n_outputs, 3)
    weights = rng.uniform(0.2, 3.0, 3)
    _assert_gradients_match(params, images, targets, weights, 0.1, blocks,
                            activation, head)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_one_pixel_gradients_every_activation(activation):
    image_shape, kernel_hws, specs = THREE_BLOCKS["one-pixel-same"]
    rng = np.random.default_rng(7)
    params, blocks = random_deep_params(rng, image_shape, [2, 3, 2], kernel_hws,
                                        specs, 2)
    images = rng.standard_normal((2, *image_shape))
    targets = _targets(rng, SigmoidSquaredError(), 2, 2)
    _assert_gradients_match(params, images, targets, None, 0.0, blocks,
                            activation, SigmoidSquaredError())


# --- conventions -------------------------------------------------------------


def _two_block_network(rng, n_outputs, n_samples=4):
    params, blocks = random_deep_params(
        rng, (2, 6, 7), [3, 2], [(3, 2), (2, 2)],
        [_block("same", "max", (2, 2)), _block("valid", "avg", (2, 2))], n_outputs,
    )
    return params, blocks, rng.standard_normal((n_samples, 2, 6, 7))


@pytest.mark.parametrize("head_name", HEADS)
def test_weight_of_two_is_a_repeated_row(head_name):
    head, n_outputs = HEADS[head_name]
    rng = np.random.default_rng(11)
    params, blocks, images = _two_block_network(rng, n_outputs)
    targets = _targets(rng, head, n_outputs, 4)
    weights = np.array([1.0, 2.0, 1.0, 2.0])
    repeat = np.array([0, 1, 1, 2, 3, 3])
    loss_w, grads_w = deep_loss_and_gradients(
        params, images, targets, weights, 0.2, blocks, "relu", head
    )
    loss_r, grads_r = deep_loss_and_gradients(
        params, images[repeat], targets[repeat], None, 0.2, blocks, "relu", head
    )
    assert loss_w == pytest.approx(loss_r, rel=1e-12)
    _assert_same_params(grads_w, grads_r, rtol=1e-11, atol=1e-15)


def test_l2_penalises_every_kernel_and_coef_not_biases():
    rng = np.random.default_rng(12)
    params, blocks, images = _two_block_network(rng, 2)
    targets = _targets(rng, SigmoidSquaredError(), 2, 4)
    weights = np.array([0.5, 1.0, 2.0, 1.5])
    alpha = 0.3
    loss_0, grads_0 = deep_loss_and_gradients(params, images, targets, weights, 0.0,
                                              blocks, "logistic")
    loss_a, grads_a = deep_loss_and_gradients(params, images, targets, weights, alpha,
                                              blocks, "logistic")
    squares = sum((k**2).sum() for k in params["kernels"]) + (params["coef"] ** 2).sum()
    assert loss_a - loss_0 == pytest.approx(0.5 * alpha * squares / 5.0, rel=1e-10)
    step = alpha / 5.0
    for b, kernels in enumerate(params["kernels"]):
        assert_allclose(grads_a["kernels"][b] - grads_0["kernels"][b], step * kernels,
                        rtol=1e-10, atol=1e-15)
        assert_array_equal(grads_a["kernel_intercepts"][b],
                           grads_0["kernel_intercepts"][b])
    assert_allclose(grads_a["coef"] - grads_0["coef"], step * params["coef"],
                    rtol=1e-10, atol=1e-15)
    assert_array_equal(grads_a["intercept"], grads_0["intercept"])


def test_regressor_loss_is_a_weighted_mean_over_outputs():
    rng = np.random.default_rng(13)
    params, blocks, images = _two_block_network(rng, 2)
    targets = _targets(rng, SigmoidSquaredError(), 2, 4)
    weights = np.array([0.5, 1.0, 2.0, 1.5])
    _, outputs, _ = deep_forward(params, images, blocks, "tanh", SigmoidSquaredError())
    expected = (weights * 0.5 * ((outputs - targets) ** 2).sum(axis=1)).sum() / (
        weights.sum() * 2
    )
    loss, _ = deep_loss_and_gradients(params, images, targets, weights, 0.0, blocks)
    assert loss == pytest.approx(expected, rel=1e-13)


def test_kernel_larger_than_its_valid_input_is_an_error():
    # convolve2d would swap image and kernel; the reference refuses instead.
    params, blocks = random_deep_params(
        np.random.default_rng(0), (1, 4, 4), [1, 1], [(2, 2), (3, 3)],
        [_block("valid", "max", (2, 2)), _block("same")], 1,
    )
    blocks[1]["padding"] = "valid"
    with pytest.raises(ValueError, match="larger than its input"):
        deep_forward(params, np.ones((1, 1, 4, 4)), blocks)
