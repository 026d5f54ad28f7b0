"""The inputs of fit and predict: ``X`` as images, and ``sample_weight``.

:func:`validate_images` checks ``X`` (and ``y``) with scikit-learn's
``validate_data`` on the estimator, accepting flat rows and 3-D or 4-D
images, and returns the images with their ``(channels, height, width)``;
:func:`validate_sample_weight` checks the weights. The estimator's words for
messages.
"""

import math
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array, validate_data

from ._images import as_images, resolve_image_shape

__all__ = ["validate_images", "validate_sample_weight"]


def _flat_rows(estimator, X, *, reset):
    """Flatten 3-D/4-D X for scikit-learn's validation; reject other ranks.

    Returns ``(X, nd_shape, dtype)``: X as 2-D rows (2-D input unchanged),
    the ``(channels, height, width)`` of image input (None for flat rows),
    and the dtype(s) to validate to.
    """
    nd_shape = None
    if not sp.issparse(X) and not hasattr(X, "iloc"):
        ndim = getattr(X, "ndim", None)
        if ndim is None and isinstance(X, list | tuple):
            X = np.asarray(X)
            ndim = X.ndim
        if ndim in (3, 4):
            X = np.asarray(X)
            nd_shape = (1, *X.shape[1:]) if ndim == 3 else tuple(X.shape[1:])
            # Not -1: that cannot reshape zero images, and sklearn should
            # be the one to say "0 sample(s)".
            X = X.reshape(X.shape[0], int(np.prod(X.shape[1:])))
        elif ndim is not None and ndim > 4:
            raise ValueError(
                "X must be 2-D (n_samples, n_features), 3-D (n_samples, "
                "height, width) or 4-D (n_samples, channels, height, width); "
                f"got an array with {ndim} dimensions."
            )
    dtype = (np.float64, np.float32) if reset else estimator.coef_.dtype
    return X, nd_shape, dtype


def validate_images(estimator, X, *, reset, y="no_validation"):
    """Validate ``X`` (and ``y``) with scikit-learn; reshape into images."""
    X, nd_shape, dtype = _flat_rows(estimator, X, reset=reset)
    kwargs = {"accept_sparse": False, "dtype": dtype, "reset": reset}
    if isinstance(y, str) and y == "no_validation":
        X = validate_data(estimator, X, **kwargs)
    else:
        X, y = validate_data(estimator, X, y, **estimator._y_validation, **kwargs)
    if reset:
        image_shape = resolve_image_shape(estimator.image_shape, X.shape[1])
        if nd_shape is None and math.prod(image_shape) != X.shape[1]:
            raise ValueError(
                f"image_shape={estimator.image_shape!r} holds "
                f"{math.prod(image_shape)} values per image but X has "
                f"{X.shape[1]} features; the product of image_shape must "
                "equal n_features."
            )
        if nd_shape is not None:
            if estimator.image_shape is not None and image_shape != nd_shape:
                raise ValueError(
                    f"image_shape={estimator.image_shape!r} does not match the "
                    f"images in X of shape (channels, height, width)="
                    f"{nd_shape}."
                )
            image_shape = nd_shape
    else:
        image_shape = estimator.image_shape_
        if nd_shape is not None and nd_shape != image_shape:
            raise ValueError(
                f"X holds images of shape {nd_shape} but {type(estimator).__name__} "
                f"was fitted on images of shape {image_shape}."
            )
    images = as_images(X, image_shape)
    if isinstance(y, str) and y == "no_validation":
        return images, image_shape
    return images, image_shape, y


def validate_sample_weight(sample_weight, n_samples, dtype):
    """``sample_weight`` as a 1-D array of ``dtype``, or None; refuse bad ones."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=dtype)
    sample_weight = check_array(
        sample_weight, accept_sparse=False, ensure_2d=False, dtype=dtype,
        order="C", input_name="sample_weight",
    )
    if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected "
            f"({n_samples},)."
        )
    if np.any(sample_weight < 0):
        raise ValueError("sample_weight must be non-negative.")
    if not np.isfinite(sample_weight.sum()):
        raise ValueError(
            f"sample_weight sums to infinity in {np.dtype(dtype).name}: use "
            "smaller weights."
        )
    if not sample_weight.sum() > 0:
        raise ValueError(
            "Sample weights sum to zero: at least one sample weight must be "
            "positive."
        )
    return sample_weight
