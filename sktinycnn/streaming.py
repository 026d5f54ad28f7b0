"""Training on data larger than memory, one chunk at a time.

:func:`fit_chunks` runs ``partial_fit`` over consecutive slices of arrays that
need not fit in memory -- NumPy memmaps, HDF5 or zarr datasets, dask arrays --
for a given number of epochs, holding one chunk in memory at a time.
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_scalar

from ._target_scaling import target_range

__all__ = ["fit_chunks"]


def _n_samples(array, name):
    shape = getattr(array, "shape", None)
    if shape is None or len(shape) == 0:
        raise TypeError(
            f"{name} must be an array-like with a shape and slicing, such as a "
            f"NumPy array or memmap, an HDF5/zarr dataset or a dask array; got "
            f"{type(array).__name__}."
        )
    return int(shape[0])


def _chunk(array, start, stop):
    # np.asarray reads the slice: a memmap or HDF5/zarr dataset reads only these
    # rows, a dask array computes only the blocks they lie in.
    return None if array is None else np.asarray(array[start:stop])


def _chunk_bounds(n_samples, chunk_size):
    starts = range(0, n_samples, chunk_size)
    return [(start, min(start + chunk_size, n_samples)) for start in starts]


def _target_range(y, sample_weight, bounds):
    """Per-target (min, max) of the first chunk and of all of ``y``, chunk by chunk.

    Rows of zero weight are left out, as the estimator's target scaling does.
    """
    first = low = high = None
    for start, stop in bounds:
        chunk_range = target_range(
            _chunk(y, start, stop).reshape(stop - start, -1),
            _chunk(sample_weight, start, stop),
        )
        if chunk_range is None:
            continue  # partial_fit rejects a first chunk of zero weights itself
        chunk_low, chunk_high = chunk_range
        if first is None:
            first = (chunk_low, chunk_high) if start == 0 else (None, None)
            low, high = chunk_low, chunk_high
        else:
            low, high = np.minimum(low, chunk_low), np.maximum(high, chunk_high)
    return first, (low, high)


def fit_chunks(estimator, X, y, *, chunk_size, n_epochs=1, sample_weight=None):
    """Train ``estimator`` by ``partial_fit`` on consecutive chunks of ``X``, ``y``.

    Each epoch calls ``estimator.partial_fit`` on ``X[0:chunk_size]``,
    ``X[chunk_size:2 * chunk_size]``, ... in order, reading one chunk at a time,
    so that memory holds one chunk (plus the model), however large ``X`` is.

    With a :class:`~sktinycnn.TinyConvRegressor` that has ``shuffle=False``, an
    integer ``batch_size`` that divides ``chunk_size``, the ``"constant"``
    step-size schedule (or ``solver="adam"``) and ``early_stopping=False``,
    this trains the model that ``fit(X, y)`` trains with ``max_iter=n_epochs``
    and a stopping rule that does not fire (``n_iter_no_change >= n_epochs``),
    to rounding: the same mini-batches, in the same order, with the same
    optimiser state (a BLAS kernel may round a chunk's products differently
    from the whole array's, in the last bits).

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        Trained in place. An estimator fitted already continues from its
        current weights, as ``partial_fit`` does; pass a
        :func:`~sklearn.base.clone` to start from scratch.
    X : array-like of shape (n_samples, ...)
        Training inputs supporting ``X.shape`` and row slicing ``X[a:b]``:
        a NumPy array or :class:`numpy.memmap`, an HDF5 or zarr dataset, a
        :class:`dask.array.Array` (each chunk is computed on its own; choose
        ``chunk_size`` as a multiple of the dask chunk size so that each dask
        block is computed once per epoch).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets, sliced the same way.
    chunk_size : int
        Number of rows passed to each ``partial_fit`` call (the last chunk of
        an epoch may be smaller).
    n_epochs : int, default=1
        Number of passes over all the chunks.
    sample_weight : array-like of shape (n_samples,), default=None
        Per-sample weights, sliced the same way.

    Returns
    -------
    estimator : estimator
        The trained estimator.

    Raises
    ------
    ValueError
        If ``estimator`` is not fitted yet, has ``scale_target=True`` and the
        first chunk does not hold the smallest and the largest value of each
        target. ``partial_fit`` fixes the target scaling from its first call,
        so later chunks would be mapped differently from ``fit`` (or, beyond
        the range the model can predict, rejected in the middle of training).
        Checking it costs one pass over ``y`` before training.

    See Also
    --------
    sktinycnn.TinyConvRegressor.partial_fit : One epoch over one chunk.

    Notes
    -----
    The loss curve differs from ``fit``'s even when the weights are equal:
    each ``partial_fit`` call appends the loss of its chunk to
    ``loss_curve_``, and ``n_iter_`` is 1 after each call.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sktinycnn import TinyConvRegressor
    >>> from sktinycnn.streaming import fit_chunks
    >>> X, digit = load_digits(return_X_y=True)
    >>> X, y = X[:600] / 16, digit[:600] / 9
    >>> params = dict(n_filters=2, batch_size=50, shuffle=False, random_state=0)
    >>> streamed = fit_chunks(TinyConvRegressor(**params), X, y,
    ...                       chunk_size=200, n_epochs=3)
    >>> import warnings
    >>> from sklearn.exceptions import ConvergenceWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", ConvergenceWarning)
    ...     fitted = TinyConvRegressor(max_iter=3, **params).fit(X, y)
    >>> np.array_equal(streamed.coef_, fitted.coef_)
    True
    """
    check_scalar(chunk_size, "chunk_size", numbers.Integral, min_val=1)
    check_scalar(n_epochs, "n_epochs", numbers.Integral, min_val=1)
    if not hasattr(estimator, "partial_fit"):
        raise TypeError(
            f"{type(estimator).__name__} has no partial_fit method: fit_chunks "
            "needs an estimator that learns incrementally."
        )
    n_samples = _n_samples(X, "X")
    for name, array in (("y", y), ("sample_weight", sample_weight)):
        if array is not None and _n_samples(array, name) != n_samples:
            raise ValueError(
                f"X and {name} have different numbers of samples: {n_samples} "
                f"and {_n_samples(array, name)}."
            )
    if n_samples == 0:
        raise ValueError("X holds no samples.")
    bounds = _chunk_bounds(n_samples, int(chunk_size))

    fitted = hasattr(estimator, "n_features_in_")
    if not fitted and getattr(estimator, "scale_target", False) is True:
        (first_low, first_high), (low, high) = _target_range(y, sample_weight, bounds)
        if first_low is not None and not (
            np.array_equal(first_low, low) and np.array_equal(first_high, high)
        ):
            raise ValueError(
                "The first chunk must hold the smallest and the largest value of "
                "each target: partial_fit fixes the target scaling from its first "
                f"call. The first chunk's range is [{first_low.tolist()}, "
                f"{first_high.tolist()}], all of y's is [{low.tolist()}, "
                f"{high.tolist()}]. Put samples with the extreme targets in the "
                "first chunk, or scale the targets into (0, 1) yourself and set "
                "scale_target=False."
            )

    for _ in range(int(n_epochs)):
        for start, stop in bounds:
            estimator.partial_fit(
                _chunk(X, start, stop),
                _chunk(y, start, stop),
                sample_weight=_chunk(sample_weight, start, stop),
            )
    return estimator
