"""The reference math of deep networks: the test oracle of the engine's blocks.

A deep network is a chain of convolution blocks (convolution -> activation ->
[pooling]) before the dense layer and its output head. This module computes
its forward pass, loss and gradients slowly and plainly, allocating fresh
arrays at every call, over a ``params`` dict of lists::

    {"kernels": [k_0, k_1, ...],  # k_b: (n_filters[b], channels_in[b], kh, kw)
     "kernel_intercepts": [b_0, b_1, ...] or None,  # b_b: (n_filters[b],)
     "coef": ...,  # (n_hidden, n_outputs)
     "intercept": ... or None}  # (n_outputs,)

and a list of block specs, one dict per block::

    {"padding": "valid" | "same", "pooling": None | "max" | "avg",
     "pool_hw": (ph, pw) or None}

with ``pool_hw`` the effective window (already clipped, "global" resolved).
Block ``b``'s input channels are block ``b - 1``'s filters (block 0's, the
image's). The activation, scikit-learn MLP's word, is the same in every block.

Nothing in the package imports this module, and this module imports nothing
of the package's convolution, pooling or layout code (only its output heads,
as tests/reference.py does): the convolution is an einsum over sliding
windows, written here, and pooling is a Python loop over windows. It is
itself checked against tests/reference.py at depth 1, against the
``scipy.signal.convolve2d`` oracles of tests/oracles.py and against central
finite differences (tests/test_reference_deep.py).
"""

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import expit

from sktinycnn._heads import SigmoidSquaredError

#: The activations of the blocks, scikit-learn MLP's words.
ACTIVATIONS = ("tanh", "relu", "logistic", "identity")


# --- activation ------------------------------------------------------------


def activate(pre, activation):
    """Apply a block's activation.

    Parameters
    ----------
    pre : ndarray
        Pre-activation values (convolution plus bias).
    activation : {"tanh", "relu", "logistic", "identity"}
        Which activation.

    Returns
    -------
    maps : ndarray
        A new array of ``pre``'s shape.
    """
    if activation == "tanh":
        return np.tanh(pre)
    if activation == "relu":
        return np.maximum(pre, 0.0)
    if activation == "logistic":
        return expit(pre)
    if activation == "identity":
        return pre.copy()
    raise ValueError(f"unknown activation {activation!r}")


def activation_derivative(pre, maps, activation):
    """Derivative of the activation at each value.

    Written from the outputs where that is the usual form (tanh: ``1 - a**2``,
    logistic: ``s * (1 - s)``), from the inputs for relu (``1`` where
    ``pre > 0``, else ``0``: the derivative at the kink is taken as 0).

    Parameters
    ----------
    pre : ndarray
        Pre-activation values.
    maps : ndarray
        ``activate(pre, activation)``.
    activation : {"tanh", "relu", "logistic", "identity"}
        Which activation.

    Returns
    -------
    derivative : ndarray
        Of ``pre``'s shape.
    """
    if activation == "tanh":
        return 1.0 - maps * maps
    if activation == "relu":
        return (pre > 0).astype(pre.dtype)
    if activation == "logistic":
        return maps * (1.0 - maps)
    if activation == "identity":
        return np.ones_like(pre)
    raise ValueError(f"unknown activation {activation!r}")


# --- convolution -----------------------------------------------------------


def same_pads(kernel_hw):
    """Zero padding ``((top, bottom), (left, right))`` that makes "same" valid.

    ``convolve2d(x, k, "same")`` is the full convolution's centre starting at
    index ``(k - 1) // 2``. A valid convolution of ``x`` padded by ``p`` before
    starts the full one at ``k - 1 - p``, so ``p = k // 2`` before and the rest
    of the full convolution's ``k - 1`` extra rows, ``(k - 1) // 2``, after.

    Parameters
    ----------
    kernel_hw : tuple of int
        ``(kh, kw)``.

    Returns
    -------
    pads : tuple of tuple of int
    """
    return tuple((k // 2, (k - 1) // 2) for k in kernel_hw)


def convolve(inputs, kernels, padding):
    """True convolution summed over channels, as ``convolve2d`` in ``padding`` mode.

    Parameters
    ----------
    inputs : ndarray of shape (n_samples, channels, h, w)
        Block input.
    kernels : ndarray of shape (n_filters, channels, kh, kw)
        Convolution kernels.
    padding : {"valid", "same"}
        Convolution mode.

    Returns
    -------
    pre : ndarray of shape (n_samples, n_filters, ho, wo)
        ``pre[n, f] = sum_c convolve2d(inputs[n, c], kernels[f, c], padding)``.
    windows : ndarray of shape (n_samples, channels, ho, wo, kh, kw)
        Every output pixel's input window (a view of the padded input), for
        :func:`convolve_backward`.
    """
    kh, kw = kernels.shape[2:]
    if padding == "same":
        inputs = np.pad(inputs, ((0, 0), (0, 0), *same_pads((kh, kw))))
    elif padding != "valid":
        raise ValueError(f"unknown padding {padding!r}")
    if kh > inputs.shape[2] or kw > inputs.shape[3]:
        # convolve2d would swap its arguments here; the engine clips the kernel.
        raise ValueError(f"kernel {(kh, kw)} larger than its input {inputs.shape[2:]}")
    windows = sliding_window_view(inputs, (kh, kw), axis=(2, 3))
    # A convolution is a correlation with the kernel turned by 180 degrees.
    flipped = kernels[:, :, ::-1, ::-1]
    return np.einsum("ncyxij,fcij->nfyx", windows, flipped), windows


def convolve_backward(grad_pre, windows, kernels, padding, input_hw):
    """Gradients of :func:`convolve` w.r.t. its kernels and its input.

    Parameters
    ----------
    grad_pre : ndarray of shape (n_samples, n_filters, ho, wo)
        Gradient of the loss w.r.t. the convolution's output.
    windows : ndarray of shape (n_samples, channels, ho, wo, kh, kw)
        As returned by :func:`convolve`.
    kernels : ndarray of shape (n_filters, channels, kh, kw)
        The kernels of the forward pass.
    padding : {"valid", "same"}
        Convolution mode of the forward pass.
    input_hw : tuple of int
        ``(h, w)`` of the (unpadded) input.

    Returns
    -------
    grad_kernels : ndarray of shape (n_filters, channels, kh, kw)
    grad_inputs : ndarray of shape (n_samples, channels, h, w)
    """
    grad_flipped = np.einsum("nfyx,ncyxij->fcij", grad_pre, windows)
    grad_kernels = np.ascontiguousarray(grad_flipped[:, :, ::-1, ::-1])

    # col2im: each window's pixel (i, j) collects what it contributed to.
    n, c = windows.shape[:2]
    ho, wo, kh, kw = windows.shape[2:]
    flipped = kernels[:, :, ::-1, ::-1]
    grad_padded = np.zeros((n, c, ho + kh - 1, wo + kw - 1), grad_pre.dtype)
    for i, j in itertools.product(range(kh), range(kw)):
        grad_padded[:, :, i:i + ho, j:j + wo] += np.einsum(
            "nfyx,fc->ncyx", grad_pre, flipped[:, :, i, j]
        )
    (top, _), (left, _) = same_pads((kh, kw)) if padding == "same" else ((0, 0),) * 2
    h, w = input_hw
    return grad_kernels, grad_padded[:, :, top:top + h, left:left + w]


# --- pooling ---------------------------------------------------------------


def _pooled_hw(maps, pool_hw):
    (h, w), (ph, pw) = maps.shape[2:], pool_hw
    if not (1 <= ph <= h and 1 <= pw <= w):
        raise ValueError(f"pool window {pool_hw} does not fit maps of {(h, w)}")
    # Windows from the top-left, stride = window; leftover rows/cols dropped.
    return h // ph, w // pw


def _windows(maps, pool_hw):
    """``((n, f, y, x), window)`` of every pooling window; ``window`` indexes maps."""
    (ph, pw), (hp, wp) = pool_hw, _pooled_hw(maps, pool_hw)
    n, f = maps.shape[:2]
    for a, b, y, x in itertools.product(range(n), range(f), range(hp), range(wp)):
        rows, cols = slice(y * ph, (y + 1) * ph), slice(x * pw, (x + 1) * pw)
        yield (a, b, y, x), (a, b, rows, cols)


def loop_pool_forward(maps, pooling, pool_hw):
    """Pool every map window by window.

    Parameters
    ----------
    maps : ndarray of shape (n_samples, n_filters, h, w)
        Post-activation maps.
    pooling : {"max", "avg"}
        Pooling operation.
    pool_hw : tuple of int
        Effective window ``(ph, pw)``, at most ``(h, w)``.

    Returns
    -------
    pooled : ndarray of shape (n_samples, n_filters, h // ph, w // pw)
    """
    pooled = np.empty((*maps.shape[:2], *_pooled_hw(maps, pool_hw)), maps.dtype)
    reduce = {"max": np.max, "avg": np.mean}[pooling]
    for index, window in _windows(maps, pool_hw):
        pooled[index] = reduce(maps[window])
    return pooled


def loop_pool_backward(grad_pooled, maps, pooling, pool_hw):
    """Gradient w.r.t. the maps from the gradient w.r.t. the pooled maps.

    Parameters
    ----------
    grad_pooled : ndarray of shape (n_samples, n_filters, hp, wp)
        Gradient of the loss w.r.t. the pooled maps.
    maps : ndarray of shape (n_samples, n_filters, h, w)
        The maps that were pooled.
    pooling : {"max", "avg"}
        Pooling operation.
    pool_hw : tuple of int
        Effective window ``(ph, pw)``.

    Returns
    -------
    grad_maps : ndarray of shape (n_samples, n_filters, h, w)
        Max: the whole gradient to the window's first maximum in row-major
        order; avg: ``grad / (ph * pw)`` to every cell. Dropped rows and
        columns get zero.
    """
    grad_maps = np.zeros_like(maps)
    ph, pw = pool_hw
    for (a, b, y, x), window in _windows(maps, pool_hw):
        g = grad_pooled[a, b, y, x]
        if pooling == "avg":
            grad_maps[window] += g / (ph * pw)
        else:
            # argmax of the C-ordered window: the first maximum, row-major.
            i, j = divmod(int(np.argmax(maps[window])), pw)
            grad_maps[a, b, y * ph + i, x * pw + j] += g
    return grad_maps


# --- whole network ---------------------------------------------------------


def deep_forward(params, images, blocks, activation="tanh", head=None):
    """Run a deep network on a batch.

    Parameters
    ----------
    params : dict
        Deep parameters (see the module docstring); ``kernel_intercepts`` is
        a list with one vector per block, or None for no block biases.
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    blocks : list of dict
        One spec per block: ``"padding"``, ``"pooling"``, ``"pool_hw"``.
    activation : {"tanh", "relu", "logistic", "identity"}, default="tanh"
        The blocks' activation.
    head : object, default=None
        Output head (``sktinycnn._heads``); None: no outputs computed.

    Returns
    -------
    logits : ndarray of shape (n_samples, n_outputs)
        The dense layer's outputs.
    outputs : ndarray of shape (n_samples, n_outputs) or None
        ``head.activate(logits)``; None without a head.
    cache : dict
        ``"blocks"``: one dict per block with ``"inputs"`` (n, c_in, h, w),
        ``"windows"`` (see :func:`convolve`), ``"pre"`` (conv + bias),
        ``"feature_maps"`` (post-activation, n, f, ho, wo) and
        ``"pooled_maps"`` (n, f, hp, wp; the feature maps without pooling);
        ``"hidden"``: the flattened last pooled maps (n, n_hidden).
    """
    kernels, biases = params["kernels"], params["kernel_intercepts"]
    if len(kernels) != len(blocks):
        raise ValueError(f"{len(kernels)} kernel arrays for {len(blocks)} blocks")
    if biases is not None and len(biases) != len(blocks):
        raise ValueError(f"{len(biases)} bias vectors for {len(blocks)} blocks")
    inputs, block_caches = images, []
    for b, (spec, k) in enumerate(zip(blocks, kernels, strict=True)):
        pre, windows = convolve(inputs, k, spec["padding"])
        if biases is not None:
            pre = pre + biases[b][None, :, None, None]
        maps = activate(pre, activation)
        pooled = maps
        if spec["pooling"] is not None:
            pooled = loop_pool_forward(maps, spec["pooling"], spec["pool_hw"])
        block_caches.append({"inputs": inputs, "windows": windows, "pre": pre,
                             "feature_maps": maps, "pooled_maps": pooled})
        inputs = pooled
    # C order over (filters, hp, wp), the tutorial's reshape(-1) per image.
    hidden = inputs.reshape(len(images), -1)
    logits = hidden @ params["coef"]
    if params["intercept"] is not None:
        logits = logits + params["intercept"]
    outputs = None if head is None else head.activate(logits.copy())
    return logits, outputs, {"blocks": block_caches, "hidden": hidden}


def deep_loss_and_gradients(params, images, targets, sample_weight, alpha, blocks,
                            activation="tanh", head=None):
    """Loss of a batch and its gradient with respect to every parameter.

    The conventions of tests/reference.py's ``loss_and_gradients``, so that
    the two agree at depth 1: ``sum_i w_i * loss_i / sum_i w_i`` with the
    head's per-sample loss (the regressor's a mean over outputs), plus
    ``0.5 * alpha * (sum_b ||kernels[b]||**2 + ||coef||**2) / sum_i w_i``;
    biases are not penalised.

    Parameters
    ----------
    params : dict
        Deep parameters (see :func:`deep_forward`).
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    targets : ndarray of shape (n_samples, n_outputs)
        Targets encoded for the head (sigmoid units for the regressor, 0/1
        indicators for the classifiers).
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights with a positive sum; None means all ones.
    alpha : float
        L2 penalty on the kernels and the dense weights.
    blocks : list of dict
        Block specs (see :func:`deep_forward`).
    activation : {"tanh", "relu", "logistic", "identity"}, default="tanh"
        The blocks' activation.
    head : object, default=None
        Output head; None: the regressor's ``SigmoidSquaredError``.

    Returns
    -------
    loss : float
        Penalised loss of the batch.
    grads : dict
        Same keys and structure as ``params`` (lists per block; None where
        the parameter is None).
    """
    head = SigmoidSquaredError() if head is None else head
    logits, outputs, cache = deep_forward(params, images, blocks, activation, head)
    weight_sum = len(targets) if sample_weight is None else sample_weight.sum()
    data_loss = head.loss_sum(logits, outputs, targets, sample_weight) / weight_sum
    grad_logits = head.gradient(logits, outputs, targets, sample_weight, weight_sum)

    hidden = cache["hidden"]
    grads = {
        "coef": hidden.T @ grad_logits,
        "intercept": None if params["intercept"] is None else grad_logits.sum(axis=0),
    }
    grad_inputs = (grad_logits @ params["coef"].T).reshape(
        cache["blocks"][-1]["pooled_maps"].shape
    )
    grad_kernels, grad_biases = [None] * len(blocks), [None] * len(blocks)
    for b in reversed(range(len(blocks))):
        spec, block = blocks[b], cache["blocks"][b]
        grad_maps = grad_inputs
        if spec["pooling"] is not None:
            grad_maps = loop_pool_backward(
                grad_inputs, block["feature_maps"], spec["pooling"], spec["pool_hw"]
            )
        grad_pre = grad_maps * activation_derivative(
            block["pre"], block["feature_maps"], activation
        )
        grad_biases[b] = grad_pre.sum(axis=(0, 2, 3))
        grad_kernels[b], grad_inputs = convolve_backward(
            grad_pre, block["windows"], params["kernels"][b], spec["padding"],
            block["inputs"].shape[2:],
        )
    grads["kernels"] = grad_kernels
    if params["kernel_intercepts"] is None:
        grad_biases = None
    grads["kernel_intercepts"] = grad_biases

    penalty = 0.0
    if alpha:
        step = alpha / weight_sum
        weights = [*params["kernels"], params["coef"]]
        penalty = sum(np.vdot(w, w) for w in weights) * (0.5 * step)
        grads["kernels"] = [g + step * k for g, k in zip(
            grads["kernels"], params["kernels"], strict=True)]
        grads["coef"] = grads["coef"] + step * params["coef"]
    return float(data_loss + penalty), grads


# --- building networks for tests -------------------------------------------


def random_deep_params(rng, image_shape, n_filters, kernel_hws, blocks, n_outputs,
                       *, fit_intercept=True, scale=0.5):
    """Random float64 parameters of a deep network, and its resolved blocks.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws, all ``scale * standard_normal``.
    image_shape : tuple of int
        ``(channels, height, width)``.
    n_filters : sequence of int
        Filters per block.
    kernel_hws : sequence of tuple of int
        ``(kh, kw)`` per block.
    blocks : list of dict
        Block specs; ``"pool_hw"`` may be ``"global"`` here (the whole map).
    n_outputs : int
        Outputs of the dense layer.
    fit_intercept : bool, default=True
        Draw biases (non-zero, so that their gradients are exercised).
    scale : float, default=0.5
        Standard deviation of every draw.

    Returns
    -------
    params : dict
        Deep parameters (see :func:`deep_forward`).
    blocks : list of dict
        The specs with ``"global"`` replaced by the map's ``(h, w)``.
    """
    channels, h, w = image_shape
    kernels, biases, resolved = [], [], []
    for f, (kh, kw), spec in zip(n_filters, kernel_hws, blocks, strict=True):
        kernels.append(scale * rng.standard_normal((f, channels, kh, kw)))
        biases.append(scale * rng.standard_normal(f))
        if spec["padding"] == "valid":
            h, w = h - kh + 1, w - kw + 1
        pool_hw = spec["pool_hw"]
        if spec["pooling"] is not None:
            pool_hw = (h, w) if pool_hw == "global" else tuple(pool_hw)
            h, w = h // pool_hw[0], w // pool_hw[1]
        resolved.append({**spec, "pool_hw": pool_hw})
        channels = f
    params = {
        "kernels": kernels,
        "kernel_intercepts": biases if fit_intercept else None,
        "coef": scale * rng.standard_normal((channels * h * w, n_outputs)),
        "intercept": scale * rng.standard_normal(n_outputs) if fit_intercept else None,
    }
    return params, resolved
