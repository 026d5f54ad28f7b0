"""The reference math (tests/reference.py) against its own oracles: scipy's
convolve2d, central finite differences and the tutorial's initial draws."""

import itertools

import numpy as np
import pytest
from reference import (
    conv_backward_kernels,
    conv_forward,
    forward,
    hidden_forward,
    image_patches,
    initialize_params,
    loss_and_gradients,
)
from scipy.signal import convolve2d
from scipy.special import expit

from sktinycnn._images import conv_output_shape
from sktinycnn._network import DENSE_INIT_GAIN


def _scipy_maps(images, kernels, padding):
    """Reference: sum over channels of scipy's true 2-D convolution, image by image."""
    n, c = images.shape[:2]
    return np.array(
        [
            [
                sum(
                    convolve2d(images[i, ch], kernels[f, ch], padding)
                    for ch in range(c)
                )
                for f in range(kernels.shape[0])
            ]
            for i in range(n)
        ]
    )


def _params(rng, image_shape, n_filters, kernel_hw, padding, n_outputs, fit_intercept):
    params = initialize_params(
        rng,
        image_shape=image_shape,
        n_filters=n_filters,
        kernel_hw=kernel_hw,
        padding=padding,
        n_outputs=n_outputs,
        kernel_scale=0.7,
        fit_intercept=fit_intercept,
        dtype=np.float64,
    )
    if fit_intercept:  # non-zero biases so that their gradients are exercised
        params["kernel_intercepts"] = rng.normal(0, 0.3, n_filters)
        params["intercept"] = rng.normal(0, 0.3, n_outputs)
    else:
        params["kernel_intercepts"] = params["intercept"] = None
    return params


CONV_CASES = [
    # (n, channels, height, width, n_filters, kh, kw)
    (1, 1, 3, 3, 1, 2, 2),
    (3, 1, 5, 7, 2, 3, 3),
    (2, 3, 6, 4, 4, 2, 3),
    (4, 2, 8, 8, 3, 1, 1),
    (2, 1, 4, 9, 2, 4, 2),
    (1, 2, 5, 5, 1, 5, 5),
]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_matches_scipy(case, padding):
    n, c, h, w, f, kh, kw = case
    rng = np.random.RandomState(sum(case))
    images = rng.standard_normal((n, c, h, w))
    kernels = rng.standard_normal((f, c, kh, kw))
    patches = image_patches(images, (kh, kw), padding)
    ho, wo = conv_output_shape((h, w), (kh, kw), padding)
    maps = conv_forward(patches, kernels).reshape(n, f, ho, wo)
    expected = _scipy_maps(images, kernels, padding)
    assert maps.shape == expected.shape
    np.testing.assert_allclose(maps, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_random_convolution_shapes_match_scipy(padding):
    rng = np.random.RandomState(7)
    for _ in range(25):
        h, w = rng.randint(1, 10, size=2)
        kh = rng.randint(1, h + 1) if padding == "valid" else rng.randint(1, 6)
        kw = rng.randint(1, w + 1) if padding == "valid" else rng.randint(1, 6)
        n, c, f = rng.randint(1, 4, size=3)
        images = rng.standard_normal((n, c, h, w))
        kernels = rng.standard_normal((f, c, kh, kw))
        params = {
            "kernels": kernels,
            "kernel_intercepts": None,
            "coef": None,
            "intercept": None,
        }
        maps, _ = hidden_forward(params, images, padding)
        np.testing.assert_allclose(
            maps, np.tanh(_scipy_maps(images, kernels, padding)), rtol=1e-12, atol=1e-12
        )


def test_forward_is_the_tutorials_network():
    """One image through scipy, tanh, C-order flatten, dot and sigmoid by hand."""
    rng = np.random.RandomState(0)
    image = rng.standard_normal((1, 1, 3, 3))
    params = _params(rng, (1, 3, 3), 1, (2, 2), "valid", 1, fit_intercept=False)
    layer_1 = convolve2d(image[0, 0], params["kernels"][0, 0], "valid")
    expected = expit(np.tanh(layer_1).reshape(-1) @ params["coef"])
    output, _ = forward(params, image, "valid")
    np.testing.assert_allclose(output[0], expected, rtol=1e-14)


def test_kernel_gradient_primitive_matches_scipy_correlation():
    # dL/dK[f, c] = rot180(correlate(x[c], g[f])) summed over samples: the
    # tutorial's rot90(convolve2d(x, rot90(g, 2)), 2).
    rng = np.random.RandomState(3)
    images = rng.standard_normal((3, 2, 6, 5))
    kernels = rng.standard_normal((2, 2, 3, 2))
    grad_pre = rng.standard_normal((3, 2, 4 * 4))
    patches = image_patches(images, (3, 2), "valid")
    grad = conv_backward_kernels(patches, grad_pre, kernels)
    g = grad_pre.reshape(3, 2, 4, 4)
    expected = np.zeros_like(kernels)
    for i, f, c in itertools.product(range(3), range(2), range(2)):
        expected[f, c] += np.rot90(
            convolve2d(images[i, c], np.rot90(g[i, f], 2), "valid"), 2
        )
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def _numerical_gradient(params, name, loss_at, eps=1e-5):
    grad = np.zeros_like(params[name])
    for index in np.ndindex(grad.shape):
        original = params[name][index]
        params[name][index] = original + eps
        plus = loss_at(params)
        params[name][index] = original - eps
        minus = loss_at(params)
        params[name][index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


GRADIENT_CASES = [
    # channels, height, width, filters, kernel, padding, outputs, samples, weighted
    (1, 3, 3, 1, (2, 2), "valid", 1, 1, False),
    (1, 5, 4, 2, (3, 2), "valid", 1, 4, True),
    (2, 4, 4, 3, (2, 2), "same", 2, 3, False),
    (3, 3, 5, 2, (3, 3), "same", 3, 5, True),
    (2, 6, 6, 1, (1, 1), "valid", 2, 2, True),
    (1, 4, 6, 2, (2, 4), "same", 1, 6, False),
    (2, 5, 5, 2, (4, 3), "valid", 2, 3, True),
]


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_gradients_match_central_finite_differences(case, alpha, fit_intercept):
    c, h, w, f, kernel_hw, padding, n_out, n, weighted = case
    rng = np.random.RandomState(h * 100 + w * 10 + f)
    images = rng.standard_normal((n, c, h, w))
    targets = rng.uniform(0.1, 0.9, (n, n_out))
    weights = rng.uniform(0.2, 3.0, n) if weighted else None
    params = _params(rng, (c, h, w), f, kernel_hw, padding, n_out, fit_intercept)

    def loss_at(p):
        return loss_and_gradients(p, images, targets, weights, alpha, padding)[0]

    _, grads = loss_and_gradients(params, images, targets, weights, alpha, padding)
    for name in params:
        if params[name] is None:
            assert grads[name] is None
            continue
        numerical = _numerical_gradient(params, name, loss_at)
        assert grads[name].shape == params[name].shape
        # Central differences are accurate to ~1e-10 here; the absolute floor
        # only covers entries whose gradient is itself at that level.
        np.testing.assert_allclose(grads[name], numerical, rtol=1e-6, atol=1e-11)


def test_loss_is_weighted_mean_of_half_squared_error():
    rng = np.random.RandomState(1)
    images = rng.standard_normal((4, 1, 3, 3))
    targets = rng.uniform(0, 1, (4, 2))
    weights = np.array([1.0, 2.0, 0.5, 3.0])
    params = _params(rng, (1, 3, 3), 2, (2, 2), "valid", 2, fit_intercept=True)
    output, _ = forward(params, images, "valid")
    expected = (weights * 0.5 * ((output - targets) ** 2).sum(axis=1)).sum() / (
        weights.sum() * 2
    )
    loss, _ = loss_and_gradients(params, images, targets, weights, 0.0, "valid")
    assert loss == pytest.approx(expected, rel=1e-13)
    penalty = (
        0.5
        * 0.1
        * ((params["kernels"] ** 2).sum() + (params["coef"] ** 2).sum())
        / weights.sum()
    )
    loss_l2, _ = loss_and_gradients(params, images, targets, weights, 0.1, "valid")
    assert loss_l2 == pytest.approx(expected + penalty, rel=1e-13)


def test_integer_weights_equal_repeated_rows():
    rng = np.random.RandomState(2)
    images = rng.standard_normal((3, 1, 4, 4))
    targets = rng.uniform(0, 1, (3, 1))
    weights = np.array([1.0, 3.0, 2.0])
    params = _params(rng, (1, 4, 4), 2, (2, 2), "same", 1, fit_intercept=True)
    repeat = np.repeat(np.arange(3), weights.astype(int))
    loss_w, grads_w = loss_and_gradients(params, images, targets, weights, 0.2, "same")
    loss_r, grads_r = loss_and_gradients(
        params, images[repeat], targets[repeat], None, 0.2, "same"
    )
    assert loss_w == pytest.approx(loss_r, rel=1e-12)
    for name in params:
        np.testing.assert_allclose(grads_w[name], grads_r[name], rtol=1e-10)


def test_initialisation_draws_kernels_then_dense_weights():
    rng = np.random.RandomState(598765)
    params = initialize_params(
        np.random.RandomState(598765),
        image_shape=(1, 3, 3),
        n_filters=1,
        kernel_hw=(2, 2),
        padding="valid",
        n_outputs=1,
        kernel_scale=4.0,
        fit_intercept=False,
        dtype=np.float64,
    )
    w1 = rng.randn(2, 2) * 4
    w2 = rng.randn(4, 1) * 4
    np.testing.assert_array_equal(params["kernels"][0, 0], w1)
    np.testing.assert_array_equal(params["coef"], w2)


def test_default_initialisation_is_fan_in_scaled():
    params = initialize_params(
        np.random.RandomState(0),
        image_shape=(2, 30, 30),
        n_filters=50,
        kernel_hw=(3, 3),
        padding="same",
        n_outputs=3,
        kernel_scale=None,
        fit_intercept=True,
        dtype=np.float32,
    )
    assert params["kernels"].dtype == np.float32
    assert params["kernels"].std() == pytest.approx(1 / np.sqrt(18), rel=0.05)
    assert params["coef"].std() == pytest.approx(
        DENSE_INIT_GAIN / np.sqrt(50 * 900), rel=0.05
    )
    np.testing.assert_array_equal(params["intercept"], 0)
    np.testing.assert_array_equal(params["kernel_intercepts"], 0)
