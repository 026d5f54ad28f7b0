"""The network's math: initialisation, forward, backward and loss.

image -> 2-D convolution (+ bias) -> tanh -> flatten -> dense (+ bias) -> sigmoid

Everything here is a pure function over a ``params`` dict and NumPy arrays; no
scikit-learn import and no state. Forward functions return what their backward
twin needs (a cache) instead of storing it, and each backward sits right after
its forward.

``params`` holds

- ``"kernels"``: ndarray of shape (n_filters, channels, kh, kw)
- ``"kernel_intercepts"``: ndarray of shape (n_filters,) or None
- ``"coef"``: ndarray of shape (n_filters * ho * wo, n_outputs)
- ``"intercept"``: ndarray of shape (n_outputs,) or None

The convolution is a true convolution, as ``scipy.signal.convolve2d`` (the
kernel is flipped), summed over channels. Internally it is a matrix product
of the flipped kernels with image patches ("im2col"); see :mod:`._conv`.
"""

import numpy as np
from scipy.special import expit

from ._conv import (
    conv_backward_kernels,
    conv_forward,
    conv_output_shape,
    image_patches,
)

__all__ = [
    "WEIGHT_NAMES",
    "forward",
    "initialize_params",
    "loss_and_gradients",
]

#: Gain of the default (``kernel_scale=None``) dense initialisation. Small dense
#: weights start every output near the sigmoid's centre; with a gain of 1 the
#: random initial outputs sit far from the targets and some seeds spend the
#: whole ``max_iter`` on a plateau (4 of 200 seeds failed check_regressors_train
#: at gain 1, none at 0.1; see docs/notes/defaults.md).
DENSE_INIT_GAIN = 0.1
#: Parameters that the L2 penalty ``alpha`` applies to (biases are not penalised).
WEIGHT_NAMES = ("kernels", "coef")


def initialize_params(
    random_state,
    *,
    image_shape,
    n_filters,
    kernel_hw,
    padding,
    n_outputs,
    kernel_scale,
    fit_intercept,
    dtype,
):
    """Draw the initial parameters.

    Kernels are drawn first, then the dense weights, both with
    ``random_state.standard_normal``, so that with ``kernel_scale=4`` and
    ``RandomState(598765)`` the tutorial's ``w1`` and ``w2`` come out. Biases
    start at zero and draw nothing.

    Parameters
    ----------
    random_state : numpy.random.RandomState
        Source of every draw.
    image_shape : tuple of int
        ``(channels, height, width)``.
    n_filters : int
        Number of convolution kernels.
    kernel_hw : tuple of int
        Effective ``(kh, kw)``.
    padding : {"valid", "same"}
        Convolution mode.
    n_outputs : int
        Number of targets.
    kernel_scale : float or None
        Standard deviation of every initial weight. ``None`` is fan-in based:
        kernels get ``1 / sqrt(channels * kh * kw)`` (LeCun normal, suited to
        tanh) and dense weights ``DENSE_INIT_GAIN / sqrt(n_filters * ho *
        wo)``.
    fit_intercept : bool
        Whether the bias vectors exist (``None`` otherwise).
    dtype : numpy dtype
        Floating dtype of every parameter.

    Returns
    -------
    params : dict of str to ndarray or None
    """
    channels, height, width = image_shape
    kh, kw = kernel_hw
    ho, wo = conv_output_shape((height, width), kernel_hw, padding)
    n_hidden = n_filters * ho * wo
    kernels = random_state.standard_normal((n_filters, channels, kh, kw))
    coef = random_state.standard_normal((n_hidden, n_outputs))
    if kernel_scale is None:
        kernels *= 1.0 / np.sqrt(channels * kh * kw)
        coef *= DENSE_INIT_GAIN / np.sqrt(n_hidden)
    else:
        kernels *= kernel_scale
        coef *= kernel_scale
    return {
        "kernels": kernels.astype(dtype, copy=False),
        "kernel_intercepts": np.zeros(n_filters, dtype) if fit_intercept else None,
        "coef": coef.astype(dtype, copy=False),
        "intercept": np.zeros(n_outputs, dtype) if fit_intercept else None,
    }


# --- convolution + tanh --------------------------------------------------------


def hidden_forward(params, images, padding):
    """Convolve, add the kernel biases and apply tanh.

    Parameters
    ----------
    params : dict
        Network parameters.
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    padding : {"valid", "same"}
        Convolution mode.

    Returns
    -------
    activations : ndarray of shape (n_samples, n_filters, ho, wo)
        Post-tanh feature maps.
    cache : tuple
        ``(patches, activations)`` for :func:`hidden_backward`.
    """
    kernels = params["kernels"]
    patches = image_patches(images, kernels.shape[2:], padding)
    pre = conv_forward(patches, kernels)
    if params["kernel_intercepts"] is not None:
        pre += params["kernel_intercepts"][None, :, None]
    activations = np.tanh(pre, out=pre)
    ho, wo = conv_output_shape(images.shape[2:], kernels.shape[2:], padding)
    activations = activations.reshape(images.shape[0], kernels.shape[0], ho, wo)
    return activations, (patches, activations)


def hidden_backward(params, cache, grad_activations):
    """Gradients of the conv + tanh layer's parameters.

    Parameters
    ----------
    params : dict
        Network parameters.
    cache : tuple
        As returned by :func:`hidden_forward`.
    grad_activations : ndarray of shape (n_samples, n_filters, ho, wo)
        Gradient of the loss with respect to the post-tanh maps.

    Returns
    -------
    grads : dict
        ``"kernels"`` and ``"kernel_intercepts"`` (None without biases).
    """
    patches, activations = cache
    # tanh' written from the output: 1 - tanh(z)**2.
    grad_pre = grad_activations * (1.0 - activations * activations)
    grad_pre = grad_pre.reshape(grad_pre.shape[0], grad_pre.shape[1], -1)
    grads = {"kernels": conv_backward_kernels(patches, grad_pre, params["kernels"])}
    grads["kernel_intercepts"] = (
        grad_pre.sum(axis=(0, 2)) if params["kernel_intercepts"] is not None else None
    )
    return grads


# --- dense + sigmoid -----------------------------------------------------------


def output_forward(params, hidden):
    """Dense layer and logistic sigmoid.

    Parameters
    ----------
    params : dict
        Network parameters.
    hidden : ndarray of shape (n_samples, n_hidden)
        Flattened feature maps (C order over ``(n_filters, ho, wo)``).

    Returns
    -------
    output : ndarray of shape (n_samples, n_outputs)
        Sigmoid outputs, in (0, 1).
    """
    pre = hidden @ params["coef"]
    if params["intercept"] is not None:
        pre += params["intercept"]
    # expit is the overflow-free logistic sigmoid.
    return expit(pre, out=pre)


def output_backward(params, hidden, grad_pre):
    """Gradients of the dense layer, and of the loss w.r.t. its input.

    Parameters
    ----------
    params : dict
        Network parameters.
    hidden : ndarray of shape (n_samples, n_hidden)
        Input of the dense layer.
    grad_pre : ndarray of shape (n_samples, n_outputs)
        Gradient of the loss w.r.t. the pre-sigmoid outputs.

    Returns
    -------
    grads : dict
        ``"coef"`` and ``"intercept"`` (None without biases).
    grad_hidden : ndarray of shape (n_samples, n_hidden)
    """
    grads = {
        "coef": hidden.T @ grad_pre,
        "intercept": grad_pre.sum(axis=0) if params["intercept"] is not None else None,
    }
    return grads, grad_pre @ params["coef"].T


# --- whole network -------------------------------------------------------------


def forward(params, images, padding):
    """Run the network on a batch.

    Parameters
    ----------
    params : dict
        Network parameters.
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    padding : {"valid", "same"}
        Convolution mode.

    Returns
    -------
    output : ndarray of shape (n_samples, n_outputs)
        Sigmoid outputs.
    cache : tuple
        What :func:`loss_and_gradients` needs for the backward pass.
    """
    activations, hidden_cache = hidden_forward(params, images, padding)
    hidden = activations.reshape(images.shape[0], -1)
    return output_forward(params, hidden), (hidden_cache, hidden)


def loss_and_gradients(params, images, targets, sample_weight, alpha, padding):
    """Loss of a batch and its gradient with respect to every parameter.

    The loss is
    ``sum_i w_i * 0.5 * ||s_i - y_i||**2 / (sum_i w_i * n_outputs)``
    plus ``0.5 * alpha * (||kernels||**2 + ||coef||**2) / sum_i w_i``, so a
    batch of one unweighted image is the tutorial's update and the penalty is
    normalised like MLPRegressor's.

    Parameters
    ----------
    params : dict
        Network parameters.
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    targets : ndarray of shape (n_samples, n_outputs)
        Targets in sigmoid units.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights with a positive sum; None means all ones.
    alpha : float
        L2 penalty on the kernels and dense weights (not on biases).
    padding : {"valid", "same"}
        Convolution mode.

    Returns
    -------
    loss : float
        Penalised loss of the batch.
    grads : dict
        Same keys as ``params``; None where the parameter is None.
    """
    n_samples, n_outputs = targets.shape
    output, (hidden_cache, hidden) = forward(params, images, padding)
    residual = output - targets
    weight_sum = n_samples if sample_weight is None else sample_weight.sum()
    per_sample = 0.5 * np.einsum("ij,ij->i", residual, residual)
    data_loss = (
        per_sample.sum() if sample_weight is None else per_sample @ sample_weight
    ) / (weight_sum * n_outputs)

    # d loss / d pre-sigmoid, with sigmoid' = s * (1 - s) written from the output.
    grad_pre = residual * (output * (1.0 - output)) / (weight_sum * n_outputs)
    if sample_weight is not None:
        grad_pre *= sample_weight[:, None]
    grads, grad_hidden = output_backward(params, hidden, grad_pre)
    grad_maps = grad_hidden.reshape(hidden_cache[1].shape)
    grads.update(hidden_backward(params, hidden_cache, grad_maps))

    penalty = 0.0
    if alpha:
        for name in WEIGHT_NAMES:
            weights = params[name]
            penalty += np.vdot(weights, weights)
            grads[name] += (alpha / weight_sum) * weights
        penalty *= 0.5 * alpha / weight_sum
    return float(data_loss + penalty), grads
