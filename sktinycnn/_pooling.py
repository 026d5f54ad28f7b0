"""Pooling of the feature maps: window size, forward pass and gradient.

Non-overlapping windows tile each map from the top-left, stride = window; rows
and columns that do not fill a window are dropped (PyTorch's ``ceil_mode=False``).
Max pooling sends a window's gradient to its first maximum in row-major order, as
PyTorch documents. Maps are expected finite (tanh outputs). NumPy only; no state.
"""

import itertools
import numbers

import numpy as np

__all__ = [
    "POOLINGS",
    "pool_backward",
    "pool_forward",
    "pooled_shape",
    "resolve_pool_size",
]

POOLINGS = ("max", "avg")

# Up to this many cells per window, one ufunc call per cell on strided slices
# is several times faster than NumPy's reduction over short window axes; above
# it the per-call overhead dominates and one reduction wins.
_MAX_UNROLLED_CELLS = 64


def _is_positive_int(value):
    # bool is an Integral, but True as a window size is almost surely a mistake.
    return isinstance(value, numbers.Integral) and type(value) is not bool and value > 0


def resolve_pool_size(pool_size, map_hw):
    """Return the effective window ``(ph, pw)`` for maps of shape ``map_hw``.

    Parameters
    ----------
    pool_size : int, tuple of (int, int) or "global"
        Window size: a positive int (square window), a pair ``(ph, pw)`` of
        positive ints, or ``"global"`` for the whole map.
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
    sides = pool_size if isinstance(pool_size, tuple | list) else (pool_size,) * 2
    if len(sides) != 2 or not all(_is_positive_int(side) for side in sides):
        raise ValueError(
            "pool_size must be a positive int, a pair (ph, pw) of positive ints, "
            f"or 'global'; got {pool_size!r}."
        )
    return (min(int(sides[0]), h), min(int(sides[1]), w))


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


def _cells(mode, pool_hw, pooled_hw):
    """Window cells ``(i, j)`` in row-major order to loop over, or None to reduce."""
    if mode not in POOLINGS:
        raise ValueError(f"mode must be one of {POOLINGS}; got {mode!r}.")
    # With one window per map a reduction runs over whole rows at once: fast.
    if pool_hw[0] * pool_hw[1] > _MAX_UNROLLED_CELLS or pooled_hw[0] * pooled_hw[1] < 2:
        return None
    return list(itertools.product(range(pool_hw[0]), range(pool_hw[1])))


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
    ph, pw = pool_hw
    hp, wp = pooled_shape(maps.shape[-2:], pool_hw)
    cells = _cells(mode, pool_hw, (hp, wp))
    windows = _windows(maps, pool_hw)
    if out is None:
        out = np.empty((*maps.shape[:-2], hp, wp), maps.dtype)
    if cells:
        combine = np.maximum if mode == "max" else np.add
        np.copyto(out, windows[..., 0, :, 0])
        for i, j in cells[1:]:
            combine(out, windows[..., i, :, j], out=out)
    else:
        (np.max if mode == "max" else np.sum)(windows, axis=(-3, -1), out=out)
    if mode == "avg":
        out *= 1.0 / (ph * pw)
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
    ph, pw = pool_hw
    hp, wp = grad_pooled.shape[-2:]
    cells = _cells(mode, pool_hw, (hp, wp))
    if out is None:
        out = np.empty(maps.shape, np.result_type(grad_pooled, maps))
    out[..., hp * ph :, :] = 0
    out[..., : hp * ph, wp * pw :] = 0
    grad_windows = _windows(out, pool_hw)
    if mode == "avg":
        scale = 1.0 / (ph * pw)
        if cells:
            for i, j in cells:
                np.multiply(grad_pooled, scale, out=grad_windows[..., i, :, j])
        else:
            np.multiply(grad_pooled[..., :, None, :, None], scale, out=grad_windows)
        return out
    windows = _windows(maps, pool_hw)
    if cells:
        if pooled is None:
            pooled = pool_forward(maps, "max", pool_hw)
        # A cell takes the gradient if it equals the maximum and no earlier
        # cell of its window did: ``free`` marks windows not yet served.
        free = np.ones(grad_pooled.shape, bool)
        hit = np.empty(grad_pooled.shape, bool)
        for cell, (i, j) in enumerate(cells):
            np.equal(windows[..., i, :, j], pooled, out=hit)
            if cell:
                np.logical_and(hit, free, out=hit)
            np.multiply(grad_pooled, hit, out=grad_windows[..., i, :, j])
            np.logical_xor(free, hit, out=free)
        return out
    # Few, large windows: argmax over a window-last copy returns the first
    # maximum in row-major order directly; scatter into a window-last buffer.
    window_last = (*range(windows.ndim - 4), -4, -2, -3, -1)
    flat = windows.transpose(window_last).reshape((*grad_pooled.shape, ph * pw))
    first = flat.argmax(axis=-1)[..., None]
    scattered = np.zeros(flat.shape, out.dtype)
    np.put_along_axis(scattered, first, grad_pooled[..., None], axis=-1)
    scattered = scattered.reshape((*grad_pooled.shape, ph, pw))
    np.copyto(grad_windows, scattered.transpose(window_last))
    return out
