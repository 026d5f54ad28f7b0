"""Image shapes: resolving ``image_shape`` and turning ``X`` into image batches.

Pure NumPy helpers, no scikit-learn and no state. The estimator validates ``X``
with scikit-learn first (so that errors and ``n_features_in_`` are sklearn's),
then calls these to see the rows as ``(n_samples, channels, height, width)``.
"""

import math
import numbers

import numpy as np

__all__ = [
    "as_images",
    "conv_output_shape",
    "default_image_shape",
    "resolve_image_shape",
    "resolve_kernel_size",
    "same_padding",
]


def default_image_shape(n_features):
    """Return the most square one-channel image ``(1, h, w)`` with ``h * w = n``.

    ``h`` is the largest divisor of ``n_features`` not above its square root,
    so ``h <= w``: 64 -> 8x8, 10 -> 2x5, 7 (a prime) -> 1x7.

    Parameters
    ----------
    n_features : int
        Number of pixels, at least 1.

    Returns
    -------
    image_shape : tuple of int
        ``(1, h, w)``.

    Examples
    --------
    >>> default_image_shape(64), default_image_shape(10), default_image_shape(7)
    ((1, 8, 8), (1, 2, 5), (1, 1, 7))
    """
    n_features = int(n_features)
    height = 1
    for candidate in range(math.isqrt(n_features), 0, -1):
        if n_features % candidate == 0:
            height = candidate
            break
    return (1, height, n_features // height)


def resolve_image_shape(image_shape, n_features):
    """Return the ``(channels, height, width)`` of the images in flat rows.

    ``image_shape`` is taken as checked (see :mod:`._constraints`); whether it
    holds ``n_features`` values is the caller's to check, against ``X``.

    Parameters
    ----------
    image_shape : None or tuple of int
        ``None`` infers one channel of the most square shape (see
        :func:`default_image_shape`); a pair ``(height, width)`` means one
        channel; a triple is ``(channels, height, width)``.
    n_features : int
        Number of columns of the flat ``X``.

    Returns
    -------
    image_shape : tuple of int
        ``(channels, height, width)``.

    Examples
    --------
    >>> resolve_image_shape(None, 10), resolve_image_shape((2, 3, 4), 24)
    ((1, 2, 5), (2, 3, 4))
    >>> resolve_image_shape((3, 3), 9)
    (1, 3, 3)
    """
    if image_shape is None:
        return default_image_shape(n_features)
    dims = tuple(int(d) for d in image_shape)
    return (1, *dims) if len(dims) == 2 else dims


def as_images(X, image_shape):
    """View validated rows of ``X`` as a C-contiguous batch of images.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated flat rows.
    image_shape : tuple of int
        ``(channels, height, width)`` as returned by
        :func:`resolve_image_shape`.

    Returns
    -------
    images : ndarray of shape (n_samples, channels, height, width)
        A view when ``X`` is C-contiguous, else a C-ordered copy.
    """
    return np.ascontiguousarray(X).reshape((X.shape[0], *image_shape))


def resolve_kernel_size(kernel_size, image_hw, padding):
    """Return the kernel ``(kh, kw)`` actually used on images of size ``image_hw``.

    With ``padding="valid"`` a kernel taller or wider than the image is clipped
    to the image along that axis, so that every image of at least one pixel
    gives at least one output; with ``"same"`` the kernel is used as given.
    ``kernel_size`` is taken as checked (see :mod:`._constraints`).

    Parameters
    ----------
    kernel_size : int or tuple of int
        Requested kernel size, a positive int or a pair of them.
    image_hw : tuple of int
        ``(height, width)`` of the images.
    padding : {"valid", "same"}
        Convolution mode.

    Returns
    -------
    kernel_size : tuple of int
        The effective ``(kh, kw)``.

    Examples
    --------
    >>> resolve_kernel_size(2, (1, 7), "valid")
    (1, 2)
    >>> resolve_kernel_size((3, 3), (1, 7), "same")
    (3, 3)
    """
    if isinstance(kernel_size, numbers.Integral):
        size = (int(kernel_size), int(kernel_size))
    else:
        kh, kw = kernel_size
        size = (int(kh), int(kw))
    if padding == "valid":
        size = (min(size[0], image_hw[0]), min(size[1], image_hw[1]))
    return size


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
