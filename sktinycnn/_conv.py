"""Convolution primitives: padding, image patches (im2col), forward and gradient.

A true 2-D convolution (``scipy.signal.convolve2d`` semantics, kernel flipped)
summed over channels is a cross-correlation with the flipped kernel, i.e. a
matrix product of the flipped kernels with the image patches::

    pre[n, f, l] = sum_k flip(kernels)[f, k] * patches[n, k, l]

with ``k`` running over ``(channel, kh, kw)`` and ``l`` over output pixels in
C order. NumPy only; no state.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "conv_backward_kernels",
    "conv_forward",
    "conv_output_shape",
    "image_patches",
    "same_padding",
]


def same_padding(kernel_hw):
    """Zero padding ``((top, bottom), (left, right))`` that makes "same" valid.

    ``scipy.signal.convolve2d(..., "same")`` keeps the centre of the full
    convolution starting at index ``(k - 1) // 2``; a "valid" convolution of an
    image padded by ``k // 2`` before and ``(k - 1) // 2`` after gives exactly
    that, even kernels included.

    Parameters
    ----------
    kernel_hw : tuple of int
        ``(kh, kw)``.

    Returns
    -------
    pad : tuple of tuple of int
    """
    kh, kw = kernel_hw
    return ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2))


def conv_output_shape(image_hw, kernel_hw, padding):
    """Return ``(ho, wo)`` of the feature maps.

    Parameters
    ----------
    image_hw : tuple of int
        ``(height, width)``.
    kernel_hw : tuple of int
        ``(kh, kw)``.
    padding : {"valid", "same"}
        Convolution mode.

    Returns
    -------
    output_hw : tuple of int
    """
    if padding == "same":
        return (int(image_hw[0]), int(image_hw[1]))
    return (int(image_hw[0]) - kernel_hw[0] + 1, int(image_hw[1]) - kernel_hw[1] + 1)


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
