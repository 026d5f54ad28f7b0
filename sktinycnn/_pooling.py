"""Pooling of the feature maps: window size, forward pass and gradient.

Non-overlapping windows tile each map from the top-left, stride = window; rows
and columns that do not fill a window are dropped (PyTorch's ``ceil_mode=False``).
Max pooling sends a window's gradient to its first maximum in row-major order, as
PyTorch documents. Maps are expected finite (tanh outputs). NumPy only; no state.
"""

import numbers

import numpy as np

__all__ = [
    "POOLINGS",
    "cell_major_view",
    "cell_pool_backward",
    "cell_pool_forward",
    "pool_backward",
    "pool_forward",
    "pooled_shape",
    "resolve_pool_size",
    "to_cell_major",
]

POOLINGS = ("max", "avg")

# With up to this many cells per window, and fewer windows per map than
# _MIN_REDUCED_RUN, one ufunc call per cell beats NumPy's reduction, whose
# inner loops are then too short; otherwise one reduction wins.
_MAX_UNROLLED_CELLS = 64
_MIN_REDUCED_RUN = 64


def resolve_pool_size(pool_size, map_hw):
    """Return the effective window ``(ph, pw)`` for maps of shape ``map_hw``.

    Parameters
    ----------
    pool_size : int, tuple of (int, int) or "global"
        Window size: a positive int (square window), a pair ``(ph, pw)`` of
        positive ints, or ``"global"`` for the whole map; taken as checked
        (see :mod:`._constraints`).
    map_hw : tuple of int
        ``(h, w)`` of the maps to pool.

    Returns
    -------
    pool_hw : tuple of int
        ``(ph, pw)``; a side larger than the map's is clipped to it, so that
        tiny maps still pool to one value.

    Examples
    --------
    >>> from sktinycnn._pooling import resolve_pool_size
    >>> resolve_pool_size(2, (5, 5))
    (2, 2)
    >>> resolve_pool_size((2, 8), (5, 5))
    (2, 5)
    >>> resolve_pool_size("global", (4, 6))
    (4, 6)
    """
    h, w = (int(side) for side in map_hw)
    if isinstance(pool_size, str) and pool_size == "global":
        return (h, w)
    if isinstance(pool_size, numbers.Integral):
        ph = pw = pool_size
    else:
        ph, pw = pool_size
    return (min(int(ph), h), min(int(pw), w))


def pooled_shape(map_hw, pool_hw):
    """Return ``(hp, wp)``, the number of whole windows along each axis.

    Parameters
    ----------
    map_hw : tuple of int
        ``(h, w)`` of the maps.
    pool_hw : tuple of int
        ``(ph, pw)`` of the window.

    Returns
    -------
    pooled_hw : tuple of int
        ``(h // ph, w // pw)``.

    Examples
    --------
    >>> from sktinycnn._pooling import pooled_shape
    >>> pooled_shape((5, 7), (2, 3))
    (2, 2)
    """
    return (int(map_hw[0]) // int(pool_hw[0]), int(map_hw[1]) // int(pool_hw[1]))


def _windows(maps, pool_hw):
    """View ``(..., hp, ph, wp, pw)`` of the part of the maps windows cover."""
    ph, pw = pool_hw
    hp, wp = pooled_shape(maps.shape[-2:], pool_hw)
    # Splitting axes of a cropped view never needs a copy.
    cropped = maps[..., : hp * ph, : wp * pw]
    return cropped.reshape((*maps.shape[:-2], hp, ph, wp, pw))


def _check_mode(mode):
    if mode not in POOLINGS:
        raise ValueError(f"mode must be one of {POOLINGS}; got {mode!r}.")


def cell_major_view(maps, pool_hw):
    """View ``(..., ph, pw, hp, wp)`` of the covered maps: cell first, window last.

    Examples
    --------
    >>> import numpy as np
    >>> from sktinycnn._pooling import cell_major_view
    >>> view = cell_major_view(np.arange(20.0).reshape(4, 5), (2, 2))
    >>> view.shape, view[0, 1].tolist()
    ((2, 2, 2, 2), [[1.0, 3.0], [11.0, 13.0]])
    """
    windows = _windows(maps, pool_hw)
    lead = windows.ndim - 4
    return windows.transpose((*range(lead), lead + 1, lead + 3, lead, lead + 2))


def to_cell_major(maps, pool_hw):
    """Copy the covered part of natural maps into the cell-major layout.

    Parameters
    ----------
    maps : ndarray of shape (..., h, w)
        Maps, each in row-major pixel order.
    pool_hw : tuple of int
        ``(ph, pw)``.

    Returns
    -------
    cells : ndarray of shape (..., ph * pw, hp * wp)
        ``cells[..., i * pw + j, a * wp + b]`` is ``maps[..., a * ph + i, b
        * pw + j]``: cell ``(i, j)`` of window ``(a, b)``. Rows and columns
        that fill no window are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from sktinycnn._pooling import to_cell_major
    >>> to_cell_major(np.arange(16.0).reshape(4, 4), (2, 2))
    array([[ 0.,  2.,  8., 10.],
           [ 1.,  3.,  9., 11.],
           [ 4.,  6., 12., 14.],
           [ 5.,  7., 13., 15.]])
    """
    ph, pw = pool_hw
    hp, wp = pooled_shape(maps.shape[-2:], pool_hw)
    cells = np.empty((*maps.shape[:-2], ph, pw, hp, wp), maps.dtype)
    np.copyto(cells, cell_major_view(maps, pool_hw))
    return cells.reshape((*maps.shape[:-2], ph * pw, hp * wp))


def cell_pool_forward(cells, mode, out=None):
    """Pool maps laid out cell-major: reduce over the cells of each window.

    The training and prediction kernels keep their maps in this layout
    (their patch matrices' columns are ordered so), where every cell of every
    window is one contiguous run: pooling is then a few whole-array calls
    instead of strided passes.

    Parameters
    ----------
    cells : ndarray of shape (..., n_cells, n_windows)
        Maps in the layout of :func:`to_cell_major`.
    mode : {"max", "avg"}
        Pooling operation.
    out : ndarray of shape (..., n_windows), default=None
        Buffer to write the result into; a new array if None.

    Returns
    -------
    pooled : ndarray of shape (..., n_windows)
        Max or mean over the cells of each window.

    Examples
    --------
    >>> import numpy as np
    >>> from sktinycnn._pooling import cell_pool_forward
    >>> cells = np.array([[1.0, 5.0], [3.0, 2.0]])  # 2 cells, 2 windows
    >>> cell_pool_forward(cells, "max")
    array([3., 5.])
    >>> cell_pool_forward(cells, "avg")
    array([2. , 3.5])
    """
    _check_mode(mode)
    n_cells, n_windows = cells.shape[-2:]
    if out is None:
        out = np.empty((*cells.shape[:-2], n_windows), cells.dtype)
    if n_cells <= _MAX_UNROLLED_CELLS and 1 < n_windows < _MIN_REDUCED_RUN:
        # Short runs: one call per cell beats a reduction's inner loops.
        combine = np.maximum if mode == "max" else np.add
        np.copyto(out, cells[..., 0, :])
        for cell in range(1, n_cells):
            combine(out, cells[..., cell, :], out=out)
    else:
        (np.maximum if mode == "max" else np.add).reduce(cells, axis=-2, out=out)
    if mode == "avg":
        out *= 1.0 / n_cells
    return out


def cell_pool_backward(grad_pooled, cells, mode, out=None, *, pooled=None):
    """Gradient with respect to cell-major maps, given it after pooling.

    Parameters
    ----------
    grad_pooled : ndarray of shape (..., n_windows)
        Gradient with respect to the pooled values.
    cells : ndarray of shape (..., n_cells, n_windows)
        The maps that were pooled, in the layout of :func:`to_cell_major`.
    mode : {"max", "avg"}
        Pooling operation.
    out : ndarray of shape (..., n_cells, n_windows), default=None
        Buffer to write the gradient into; a new array if None.
    pooled : ndarray of shape (..., n_windows), default=None
        ``cell_pool_forward(cells, "max")`` if already known; ignored for
        ``"avg"``.

    Returns
    -------
    grad_cells : ndarray of shape (..., n_cells, n_windows)
        For ``"avg"`` every cell gets ``grad / n_cells``; for ``"max"`` the
        first maximum of each window, in cell order (row-major within the
        window), gets the whole gradient and the other cells zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sktinycnn._pooling import cell_pool_backward
    >>> cells = np.array([[1.0, 5.0], [3.0, 5.0]])  # window 1 ties
    >>> cell_pool_backward(np.array([10.0, 20.0]), cells, "max")
    array([[ 0., 20.],
           [10.,  0.]])
    """
    _check_mode(mode)
    n_cells = cells.shape[-2]
    if out is None:
        out = np.empty(cells.shape, np.result_type(grad_pooled, cells))
    spread = grad_pooled[..., np.newaxis, :]
    if mode == "avg":
        return np.multiply(spread, 1.0 / n_cells, out=out)
    if pooled is None:
        pooled = cell_pool_forward(cells, "max")
    hit = np.equal(cells, pooled[..., np.newaxis, :])
    if np.count_nonzero(hit) != pooled.size:
        # Ties (common: zero background gives equal pre-activations). Keep
        # the first hit of each window: ranked n_cells, n_cells - 1, ... 1
        # in cell order (0 where no hit), the first hit is the window's
        # largest rank. Three whole-array calls instead of a pass per cell.
        rank_dtype = np.min_scalar_type(n_cells)
        rank = np.arange(n_cells, 0, -1, dtype=rank_dtype).reshape(n_cells, 1)
        ranked = np.multiply(hit, rank, dtype=rank_dtype)
        first = np.maximum.reduce(ranked, axis=-2, keepdims=True)
        np.equal(ranked, first, out=hit)
    # A bool operand makes the multiply cast inside its loop, in small
    # buffered blocks: a whole-array cast first, then a float multiply, is
    # faster (out may be cells: hit no longer needs them).
    np.copyto(out, hit)
    return np.multiply(out, spread, out=out)


def pool_forward(maps, mode, pool_hw, out=None):
    """Pool each map over non-overlapping windows.

    Parameters
    ----------
    maps : ndarray of shape (..., h, w)
        Feature maps; any leading dimensions.
    mode : {"max", "avg"}
        Pooling operation.
    pool_hw : tuple of int
        ``(ph, pw)``, at most the map's size (see :func:`resolve_pool_size`).
    out : ndarray of shape (..., hp, wp), default=None
        Buffer to write the result into; a new array if None.

    Returns
    -------
    pooled : ndarray of shape (..., hp, wp)
        Max or mean of each window, with the dtype of ``maps``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktinycnn._pooling import pool_forward
    >>> maps = np.arange(25.0).reshape(5, 5)
    >>> pool_forward(maps, "max", (2, 2))
    array([[ 6.,  8.],
           [16., 18.]])
    >>> pool_forward(maps, "avg", (2, 2))
    array([[ 3.,  5.],
           [13., 15.]])
    """
    _check_mode(mode)
    hp, wp = pooled_shape(maps.shape[-2:], pool_hw)
    if out is None:
        out = np.empty((*maps.shape[:-2], hp, wp), maps.dtype)
    flat_out = out.reshape((*maps.shape[:-2], hp * wp))
    cell_pool_forward(to_cell_major(maps, pool_hw), mode, out=flat_out)
    if not np.shares_memory(flat_out, out):  # out was not contiguous
        np.copyto(out, flat_out.reshape(out.shape))
    return out


def pool_backward(grad_pooled, maps, mode, pool_hw, out=None, *, pooled=None):
    """Gradient of a loss with respect to the maps, given its gradient after pooling.

    Parameters
    ----------
    grad_pooled : ndarray of shape (..., hp, wp)
        Gradient with respect to the pooled maps.
    maps : ndarray of shape (..., h, w)
        The maps that were pooled.
    mode : {"max", "avg"}
        Pooling operation.
    pool_hw : tuple of int
        ``(ph, pw)`` used in the forward pass.
    out : ndarray of shape (..., h, w), default=None
        Buffer to write the gradient into; a new array if None.
    pooled : ndarray of shape (..., hp, wp), default=None
        ``pool_forward(maps, "max", pool_hw)`` if already known, to save
        recomputing it; ignored for ``"avg"``.

    Returns
    -------
    grad_maps : ndarray of shape (..., h, w)
        For ``"avg"`` each window cell gets ``grad / (ph * pw)``; for ``"max"``
        the first maximum of each window, in row-major order, gets the whole
        gradient. Dropped rows and columns get zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sktinycnn._pooling import pool_backward
    >>> maps = np.array([[1.0, 3.0, 0.0], [3.0, 2.0, 0.0], [9.0, 9.0, 9.0]])
    >>> pool_backward(np.array([[10.0]]), maps, "max", (2, 2))
    array([[ 0., 10.,  0.],
           [ 0.,  0.,  0.],
           [ 0.,  0.,  0.]])
    """
    _check_mode(mode)
    ph, pw = pool_hw
    hp, wp = grad_pooled.shape[-2:]
    lead = maps.shape[:-2]
    if out is None:
        out = np.empty(maps.shape, np.result_type(grad_pooled, maps))
    if pooled is not None:
        pooled = pooled.reshape((*lead, hp * wp))
    grad_cells = cell_pool_backward(
        grad_pooled.reshape((*lead, hp * wp)), to_cell_major(maps, pool_hw), mode,
        pooled=pooled,
    )
    out[..., hp * ph :, :] = 0
    out[..., : hp * ph, wp * pw :] = 0
    np.copyto(
        cell_major_view(out, pool_hw),
        grad_cells.reshape((*lead, ph, pw, hp, wp)),
    )
    return out
