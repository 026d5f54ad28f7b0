"""The reference math: the test oracle of the fast kernels.

Clear, pure functions over a ``params`` dict (``"kernels"``,
``"kernel_intercepts"``, ``"coef"``, ``"intercept"``; biases may be None),
allocating fresh arrays at every call: im2col convolution, forward and
backward passes written next to each other, the loss of any output head with
its gradient, and the optimisers' update rules over dicts. Nothing in the
package imports this module: the production path is :mod:`sktinycnn._kernels`,
:mod:`sktinycnn._training` and :mod:`sktinycnn._optimizers`, and the tests
check them against this, which is itself checked against
``scipy.signal.convolve2d``, central finite differences and the tutorial's
printed numbers.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sktinycnn._heads import SigmoidSquaredError
from sktinycnn._images import conv_output_shape, same_padding
from sktinycnn._network import NetworkSpec, initialize
from sktinycnn._pooling import pool_backward, pool_forward

#: Parameters that the L2 penalty ``alpha`` applies to (biases are not penalised).
WEIGHT_NAMES = ("kernels", "coef")


def initialize_params(random_state, *, image_shape, n_filters, kernel_hw, padding,
                      n_outputs, kernel_scale, fit_intercept, dtype,
                      pooling=None, pool_hw=None):
    """The estimator's initial parameters as a dict (biases None without them)."""
    spec = NetworkSpec.build(tuple(image_shape), [n_filters], [tuple(kernel_hw)],
                             [padding], [pooling], [pool_hw], n_outputs=n_outputs,
                             fit_intercept=fit_intercept)
    params = _one_block(spec.unpack(initialize(spec, random_state, kernel_scale,
                                                dtype)))
    if not fit_intercept:
        params["kernel_intercepts"] = params["intercept"] = None
    return params


def _one_block(params):
    """A one-block params dict of the spec's lists: one array per entry."""
    return {**params, "kernels": params["kernels"][0],
            "kernel_intercepts": params["kernel_intercepts"][0]}


def architecture(params, images, padding, pooling=None, pool_hw=None):
    """The one-block :class:`~sktinycnn._network.NetworkSpec` of a params dict."""
    kernels, coef = params["kernels"], params["coef"]
    return NetworkSpec.build(
        tuple(images.shape[1:]), [kernels.shape[0]], [tuple(kernels.shape[2:])],
        [padding], [pooling], [pool_hw], n_outputs=coef.shape[1],
        fit_intercept=params["kernel_intercepts"] is not None,
    )


def pack(params, spec):
    """A flat parameter vector of the estimator's layout from a params dict."""
    intercepts = params["kernel_intercepts"]
    return spec.pack([params["kernels"]], None if intercepts is None else [intercepts],
                     params["coef"], params["intercept"], params["kernels"].dtype)


def image_patches(images, kernel_hw, padding):
    """Gather the patches every output pixel sees (im2col).

    Parameters
    ----------
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    kernel_hw : tuple of int
        ``(kh, kw)``.
    padding : {"valid", "same"}
        Convolution mode.

    Returns
    -------
    patches : ndarray of shape (n_samples, channels * kh * kw, ho * wo)
        A fresh C-ordered array; ``patches[n, (c, i, j), (y, x)]`` is
        ``padded[n, c, y + i, x + j]``.
    """
    if padding == "same":
        images = np.pad(images, ((0, 0), (0, 0), *same_padding(kernel_hw)))
    windows = sliding_window_view(images, kernel_hw, axis=(2, 3))
    n, c, ho, wo, kh, kw = windows.shape
    # (n, c, ho, wo, kh, kw) -> (n, c, kh, kw, ho, wo): the copy is the im2col.
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, ho * wo)


def _flipped_matrix(kernels):
    return kernels[:, :, ::-1, ::-1].reshape(kernels.shape[0], -1)


def conv_forward(patches, kernels):
    """Convolve patches with kernels (true convolution, summed over channels).

    Parameters
    ----------
    patches : ndarray of shape (n_samples, channels * kh * kw, n_pixels)
        As returned by :func:`image_patches`.
    kernels : ndarray of shape (n_filters, channels, kh, kw)
        Convolution kernels.

    Returns
    -------
    pre : ndarray of shape (n_samples, n_filters, n_pixels)
        Convolution outputs (before bias and activation).
    """
    return np.matmul(_flipped_matrix(kernels), patches)


def conv_backward_kernels(patches, grad_pre, kernels):
    """Gradient of the loss with respect to the kernels.

    Parameters
    ----------
    patches : ndarray of shape (n_samples, channels * kh * kw, n_pixels)
        The forward pass's patches.
    grad_pre : ndarray of shape (n_samples, n_filters, n_pixels)
        Gradient of the loss with respect to the convolution outputs.
    kernels : ndarray of shape (n_filters, channels, kh, kw)
        The kernels (only their shape is used).

    Returns
    -------
    grad_kernels : ndarray of shape (n_filters, channels, kh, kw)
    """
    grad_flipped = np.tensordot(grad_pre, patches, axes=([0, 2], [0, 2]))
    # The forward used flipped kernels; flip the gradient back.
    return np.ascontiguousarray(grad_flipped.reshape(kernels.shape)[:, :, ::-1, ::-1])


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


def output_logits(params, hidden):
    """Dense layer: the logits of the output head.

    Parameters
    ----------
    params : dict
        Network parameters.
    hidden : ndarray of shape (n_samples, n_hidden)
        Flattened (pooled) maps, C order over ``(n_filters, hp, wp)``.

    Returns
    -------
    logits : ndarray of shape (n_samples, n_outputs)
    """
    pre = hidden @ params["coef"]
    if params["intercept"] is not None:
        pre += params["intercept"]
    return pre


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


def forward(params, images, padding, pooling=None, pool_hw=None, head=None):
    """Run the network on a batch.

    Parameters
    ----------
    params : dict
        Network parameters.
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    padding : {"valid", "same"}
        Convolution mode.
    pooling : {None, "max", "avg"}, default=None
        Pooling after the tanh.
    pool_hw : tuple of int, default=None
        Effective pooling window.
    head : object, default=None
        Output head (None: the regressor's sigmoid).

    Returns
    -------
    output : ndarray of shape (n_samples, n_outputs)
        The head's outputs.
    cache : tuple
        What :func:`loss_and_gradients` needs for the backward pass.
    """
    head = SigmoidSquaredError() if head is None else head
    activations, hidden_cache = hidden_forward(params, images, padding)
    pooled = activations
    if pooling is not None:
        pooled = pool_forward(activations, pooling, pool_hw)
    hidden = pooled.reshape(images.shape[0], -1)
    logits = output_logits(params, hidden)
    output = head.activate(logits.copy())
    return output, (hidden_cache, hidden, pooled, logits)


def loss_and_gradients(params, images, targets, sample_weight, alpha, padding,
                       pooling=None, pool_hw=None, head=None):
    """Loss of a batch and its gradient with respect to every parameter.

    The loss is ``sum_i w_i * loss_i / sum_i w_i`` (the head's per-sample
    loss; the regressor's is ``0.5 * ||s_i - y_i||**2 / n_outputs``) plus
    ``0.5 * alpha * (||kernels||**2 + ||coef||**2) / sum_i w_i``, so a batch of
    one unweighted image is the tutorial's update and the penalty is
    normalised like MLPRegressor's.

    Parameters
    ----------
    params : dict
        Network parameters.
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    targets : ndarray of shape (n_samples, n_outputs)
        Targets encoded for the head (sigmoid units for the regressor).
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights with a positive sum; None means all ones.
    alpha : float
        L2 penalty on the kernels and dense weights (not on biases).
    padding : {"valid", "same"}
        Convolution mode.
    pooling, pool_hw, head
        As :func:`forward`.

    Returns
    -------
    loss : float
        Penalised loss of the batch.
    grads : dict
        Same keys as ``params``; None where the parameter is None.
    """
    head = SigmoidSquaredError() if head is None else head
    n_samples = targets.shape[0]
    output, (hidden_cache, hidden, pooled, logits) = forward(
        params, images, padding, pooling, pool_hw, head
    )
    weight_sum = n_samples if sample_weight is None else sample_weight.sum()
    data_loss = head.loss_sum(logits, output, targets, sample_weight) / weight_sum
    grad_pre = head.gradient(logits, output, targets, sample_weight, weight_sum)
    grads, grad_hidden = output_backward(params, hidden, grad_pre)
    grad_maps = grad_hidden.reshape(pooled.shape)
    if pooling is not None:
        grad_maps = pool_backward(grad_maps, hidden_cache[1], pooling, pool_hw)
    grads.update(hidden_backward(params, hidden_cache, grad_maps))

    penalty = 0.0
    if alpha:
        for name in WEIGHT_NAMES:
            weights = params[name]
            penalty += np.vdot(weights, weights)
            grads[name] += (alpha / weight_sum) * weights
        penalty *= 0.5 * alpha / weight_sum
    return float(data_loss + penalty), grads


# --- optimisers over dicts --------------------------------------------------


def _zeros_like(params):
    return {k: None if p is None else np.zeros_like(p) for k, p in params.items()}


def init_optimizer_state(solver, params, learning_rate):
    """Return the state of a fresh optimiser.

    Parameters
    ----------
    solver : {"sgd", "adam"}
        Which optimiser.
    params : dict of str to ndarray or None
        The parameters it will update (only shapes and dtypes are used).
    learning_rate : float
        Initial step size.

    Returns
    -------
    state : dict
        ``"solver"``, ``"learning_rate"`` (the current step size),
        ``"initial_learning_rate"`` (the one it started from) and the
        running averages: ``"velocities"`` for SGD, ``"t"``,
        ``"first_moments"`` and ``"second_moments"`` for Adam.
    """
    state = {
        "solver": solver,
        "learning_rate": float(learning_rate),
        "initial_learning_rate": float(learning_rate),
    }
    if solver == "sgd":
        state["velocities"] = _zeros_like(params)
    else:
        state["t"] = 0
        state["first_moments"] = _zeros_like(params)
        state["second_moments"] = _zeros_like(params)
    return state


def _sgd_update(params, grads, state, momentum, nesterov):
    learning_rate = state["learning_rate"]
    new_params, velocities = {}, {}
    for name, param in params.items():
        grad = grads[name]
        if param is None:
            new_params[name] = velocities[name] = None
            continue
        # MLPRegressor's rule; with momentum=0 it is the tutorial's w - lr * grad.
        velocity = momentum * state["velocities"][name] - learning_rate * grad
        step = momentum * velocity - learning_rate * grad if nesterov else velocity
        velocities[name] = velocity
        new_params[name] = param + step
    return new_params, {**state, "velocities": velocities}


def _adam_update(params, grads, state, beta_1, beta_2, epsilon, step_scales):
    t = state["t"] + 1
    # A Python float, not np.float64, so that float32 parameters stay float32.
    step_size = float(
        state["learning_rate"] * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
    )
    new_params, first, second = {}, {}, {}
    for name, param in params.items():
        grad = grads[name]
        if param is None:
            new_params[name] = first[name] = second[name] = None
            continue
        m = beta_1 * state["first_moments"][name] + (1.0 - beta_1) * grad
        v = beta_2 * state["second_moments"][name] + (1.0 - beta_2) * (grad * grad)
        first[name], second[name] = m, v
        step = step_size * m / (np.sqrt(v) + epsilon)
        scale = step_scales.get(name, 1.0)
        if scale != 1.0:
            step = step * scale
        new_params[name] = param - step
    return new_params, {
        **state,
        "t": t,
        "first_moments": first,
        "second_moments": second,
    }


def update_params(
    params,
    grads,
    state,
    *,
    momentum=0.9,
    nesterovs_momentum=True,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    step_scales=None,
):
    """Take one optimiser step.

    Neither ``params`` nor ``state`` is modified: new arrays are returned, so
    a failed or interrupted step never leaves half-updated weights behind.

    Parameters
    ----------
    params : dict of str to ndarray or None
        Current parameters.
    grads : dict of str to ndarray or None
        Gradients of the batch loss, same keys.
    state : dict
        As returned by :func:`init_optimizer_state` or by a previous update.
    momentum : float, default=0.9
        SGD momentum (0 is plain gradient descent).
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum (SGD, momentum > 0).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical-stability term.
    step_scales : dict of str to float, default=None
        Adam only: a factor on the step of the named parameters (see
        :func:`adam_dense_step_scale`); others take plain Adam steps.

    Returns
    -------
    params : dict
        Updated parameters.
    state : dict
        Updated optimiser state.
    """
    if state["solver"] == "sgd":
        return _sgd_update(params, grads, state, momentum, nesterovs_momentum)
    return _adam_update(
        params, grads, state, beta_1, beta_2, epsilon, step_scales or {}
    )
