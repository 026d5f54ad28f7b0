"""Pooling math against a loop oracle, finite differences and PyTorch's semantics."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from oracles import central_differences

from sktinycnn._pooling import (
    POOLINGS,
    _windows,
    cell_pool_backward,
    cell_pool_forward,
    pool_backward,
    pool_forward,
    pooled_shape,
    resolve_pool_size,
    to_cell_major,
)

TOL = {np.float32: 2e-6, np.float64: 1e-12}


# Test oracle: slow, obvious loops over every window, in Python floats.
def _oracle_forward(maps, mode, pool_hw):
    ph, pw = pool_hw
    h, w = maps.shape[-2:]
    hp, wp = h // ph, w // pw
    flat = maps.reshape(-1, h, w)
    out = np.zeros((flat.shape[0], hp, wp))
    for n, a, b in itertools.product(range(flat.shape[0]), range(hp), range(wp)):
        cells = [
            float(flat[n, a * ph + i, b * pw + j]) for i in range(ph) for j in range(pw)
        ]
        out[n, a, b] = max(cells) if mode == "max" else sum(cells) / len(cells)
    return out.reshape((*maps.shape[:-2], hp, wp))


def _oracle_backward(grad_pooled, maps, mode, pool_hw):
    ph, pw = pool_hw
    h, w = maps.shape[-2:]
    hp, wp = h // ph, w // pw
    flat = maps.reshape(-1, h, w)
    grad = grad_pooled.reshape(-1, hp, wp)
    out = np.zeros(flat.shape)
    for n, a, b in itertools.product(range(flat.shape[0]), range(hp), range(wp)):
        g = float(grad[n, a, b])
        cells = [(a * ph + i, b * pw + j) for i in range(ph) for j in range(pw)]
        if mode == "avg":
            for r, c in cells:
                out[n, r, c] = g / len(cells)
        else:
            first = cells[0]  # strict ">" keeps the first maximum on ties
            for r, c in cells[1:]:
                if flat[n, r, c] > flat[n, first[0], first[1]]:
                    first = (r, c)
            out[n, first[0], first[1]] = g
    return out.reshape(maps.shape)


# (leading dims, h, w, pool_size): not divisible, clipped, 1x1, global, and
# windows of more than 64 cells (one reduction instead of per-cell calls).
CASES = [
    ((), 5, 5, 2),
    ((3,), 7, 6, (2, 3)),
    ((2, 3), 4, 4, 2),
    ((2, 3), 1, 1, 2),
    ((2, 3), 1, 1, "global"),
    ((4,), 3, 5, 8),
    ((2, 2), 6, 9, "global"),
    ((2, 3), 12, 13, 3),
    ((2,), 3, 17, (3, 1)),
    ((2,), 9, 10, 1),
    ((2,), 19, 20, 9),
    ((2, 1), 20, 20, (10, 20)),
]


def _maps(rng, lead, h, w, dtype, ties):
    shape = (*lead, h, w)
    if ties:
        # Few distinct values: most windows hold their maximum several times.
        return rng.integers(0, 3, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", POOLINGS)
@pytest.mark.parametrize("lead, h, w, pool_size", CASES)
def test_against_oracle(lead, h, w, pool_size, mode, dtype, ties):
    rng = np.random.default_rng(0)
    maps = _maps(rng, lead, h, w, dtype, ties)
    pool_hw = resolve_pool_size(pool_size, (h, w))
    pooled = pool_forward(maps, mode, pool_hw)
    assert pooled.dtype == dtype
    assert pooled.shape == (*lead, *pooled_shape((h, w), pool_hw))
    tol = TOL[dtype]
    assert_allclose(pooled, _oracle_forward(maps, mode, pool_hw), rtol=tol, atol=tol)

    grad = rng.standard_normal(pooled.shape).astype(dtype)
    grad_maps = pool_backward(grad, maps, mode, pool_hw)
    assert grad_maps.dtype == dtype
    expected = _oracle_backward(grad, maps, mode, pool_hw)
    assert_allclose(grad_maps, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("lead, h, w, pool_size", CASES)
def test_max_ties_gradient_goes_to_first_maximum_only(lead, h, w, pool_size):
    pool_hw = resolve_pool_size(pool_size, (h, w))
    maps = np.ones((*lead, h, w))  # every cell of every window ties
    grad = np.full((*lead, *pooled_shape((h, w), pool_hw)), 3.0)
    grad_maps = pool_backward(grad, maps, "max", pool_hw)
    expected = np.zeros_like(maps)
    hp, wp = grad.shape[-2:]
    expected[..., : hp * pool_hw[0] : pool_hw[0], : wp * pool_hw[1] : pool_hw[1]] = 3
    assert_array_equal(grad_maps, expected)


# Map shapes not divisible by 2, (2, 3) or 9, so rows and columns are dropped.
@pytest.mark.parametrize("shape", [(2, 5, 7), (1, 19, 20)])
@pytest.mark.parametrize("pool_size", [2, (2, 3), 9, "global"])
@pytest.mark.parametrize("mode", POOLINGS)
def test_backward_matches_finite_differences(mode, pool_size, shape):
    rng = np.random.default_rng(1)
    maps = rng.standard_normal(shape)  # no ties: the max is differentiable
    pool_hw = resolve_pool_size(pool_size, shape[-2:])
    weights = rng.standard_normal(pool_forward(maps, mode, pool_hw).shape)

    def objective(m):
        return float(np.sum(pool_forward(m, mode, pool_hw) * weights))

    analytic = pool_backward(weights, maps, mode, pool_hw)
    assert_allclose(
        analytic, central_differences(objective, maps, eps=1e-6), rtol=1e-7, atol=1e-8
    )


def test_hand_computed_like_pytorch_5x5_window_2():
    # torch.nn.functional.max_pool2d(x, 2) (ceil_mode=False) drops row 4 and
    # column 4 of a 5x5 map.
    maps = np.arange(25.0).reshape(1, 1, 5, 5)
    assert_array_equal(pool_forward(maps, "max", (2, 2)), [[[[6, 8], [16, 18]]]])
    assert_array_equal(pool_forward(maps, "avg", (2, 2)), [[[[3, 5], [13, 15]]]])
    grad = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected_max = np.zeros((5, 5))
    expected_max[[1, 1, 3, 3], [1, 3, 1, 3]] = [1, 2, 3, 4]
    assert_array_equal(pool_backward(grad, maps, "max", (2, 2))[0, 0], expected_max)
    expected_avg = np.zeros((5, 5))
    expected_avg[:4, :4] = np.kron([[1.0, 2.0], [3.0, 4.0]], np.ones((2, 2))) / 4
    assert_array_equal(pool_backward(grad, maps, "avg", (2, 2))[0, 0], expected_avg)


def test_hand_computed_rectangular_window_and_ties():
    maps = np.array(
        [
            [0.0, 5.0, 5.0, 1.0, 1.0, 1.0, 7.0],
            [5.0, 2.0, 0.0, 1.0, 1.0, 1.0, 7.0],
            [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0],
        ]
    )
    # Window (2, 3) on a 3x7 map: one row of two windows, row 2 and column 6 dropped.
    assert_array_equal(pool_forward(maps, "max", (2, 3)), [[5.0, 1.0]])
    assert_allclose(pool_forward(maps, "avg", (2, 3)), [[17.0 / 6, 1.0]], rtol=1e-15)
    grad_maps = pool_backward(np.array([[2.0, 3.0]]), maps, "max", (2, 3))
    expected = np.zeros((3, 7))
    expected[0, 1] = 2.0  # first of the three 5s in row-major order
    expected[0, 3] = 3.0  # first of six equal values
    assert_array_equal(grad_maps, expected)


def test_hand_computed_global_and_clipped_windows():
    maps = np.array(
        [[1.0, -2.0, 4.0, 4.0], [0.0, 3.0, -1.0, 3.0], [2.0, 2.0, 2.0, 2.0]]
    )
    for pool_size in ["global", 5, (3, 9)]:
        pool_hw = resolve_pool_size(pool_size, maps.shape)
        assert pool_hw == (3, 4)
        assert_array_equal(pool_forward(maps, "max", pool_hw), [[4.0]])
        assert_allclose(pool_forward(maps, "avg", pool_hw), [[20.0 / 12]], rtol=1e-15)
        grad_maps = pool_backward(np.array([[6.0]]), maps, "max", pool_hw)
        assert_array_equal(
            grad_maps, np.where(np.arange(12) == 2, 6.0, 0.0).reshape(3, 4)
        )
    # A 1x1 map pools to itself with any window.
    one = np.array([[[-0.5]]])
    pool_hw = resolve_pool_size(2, one.shape[-2:])
    for mode in POOLINGS:
        assert_array_equal(pool_forward(one, mode, pool_hw), one)
        assert_array_equal(
            pool_backward(np.array([[[7.0]]]), one, mode, pool_hw), [[[7.0]]]
        )


@pytest.mark.parametrize("mode", POOLINGS)
@pytest.mark.parametrize("pool_size", [2, (2, 3), 9, "global"])
def test_out_buffers_and_pooled_argument(mode, pool_size):
    rng = np.random.default_rng(2)
    maps = rng.standard_normal((3, 2, 19, 20)).astype(np.float32)
    pool_hw = resolve_pool_size(pool_size, maps.shape[-2:])
    pooled = pool_forward(maps, mode, pool_hw)
    out = np.full(pooled.shape, np.nan, np.float32)
    assert pool_forward(maps, mode, pool_hw, out=out) is out
    assert_array_equal(out, pooled)

    grad = rng.standard_normal(pooled.shape).astype(np.float32)
    grad_maps = pool_backward(grad, maps, mode, pool_hw)
    # Garbage in the buffer must not survive, dropped rows/columns included.
    out = np.full(maps.shape, np.nan, np.float32)
    assert pool_backward(grad, maps, mode, pool_hw, out=out) is out
    assert_array_equal(out, grad_maps)
    given = pool_backward(
        grad, maps, mode, pool_hw, pooled=pool_forward(maps, "max", pool_hw)
    )
    assert_array_equal(given, grad_maps)


@pytest.mark.parametrize("mode", POOLINGS)
def test_leading_layout_does_not_matter(mode):
    # The engine pools (n_filters, n_images, h, w), the reference (n_images,
    # n_filters, h, w): the same per-map operations on a transposed view.
    rng = np.random.default_rng(3)
    maps = rng.standard_normal((4, 3, 11, 9))
    swapped = maps.transpose(1, 0, 2, 3)
    pooled = pool_forward(maps, mode, (2, 2))
    assert_array_equal(
        pool_forward(swapped, mode, (2, 2)), pooled.transpose(1, 0, 2, 3)
    )
    grad = rng.standard_normal(pooled.shape)
    assert_array_equal(
        pool_backward(grad.transpose(1, 0, 2, 3), swapped, mode, (2, 2)),
        pool_backward(grad, maps, mode, (2, 2)).transpose(1, 0, 2, 3),
    )
    # Non-contiguous buffers are written in place, not into a silent copy.
    pooled_buffer = np.full((4, 3, 5, 4), np.nan).transpose(1, 0, 2, 3)
    assert pool_forward(swapped, mode, (2, 2), out=pooled_buffer) is pooled_buffer
    assert_array_equal(pooled_buffer, pooled.transpose(1, 0, 2, 3))
    grad_buffer = np.full((4, 3, 11, 9), np.nan).transpose(1, 0, 2, 3)
    swapped_grad = grad.transpose(1, 0, 2, 3)
    pool_backward(swapped_grad, swapped, mode, (2, 2), out=grad_buffer)
    assert_array_equal(
        grad_buffer, pool_backward(grad, maps, mode, (2, 2)).transpose(1, 0, 2, 3)
    )


def test_windows_are_a_view():
    maps = np.zeros((2, 3, 7, 5))
    assert np.shares_memory(_windows(maps, (2, 2)), maps)
    assert np.shares_memory(_windows(maps.transpose(1, 0, 2, 3), (3, 2)), maps)


@pytest.mark.parametrize(
    "pool_size, map_hw, expected",
    [
        (2, (5, 5), (2, 2)),
        (np.int64(3), (7, 8), (3, 3)),
        ((2, 3), (5, 7), (2, 3)),
        ([1, 4], (5, 7), (1, 4)),
        ((np.int32(2), 1), (5, 7), (2, 1)),
        ("global", (4, 6), (4, 6)),
        ("global", (1, 1), (1, 1)),
        (8, (3, 5), (3, 5)),
        ((2, 9), (5, 7), (2, 7)),
        (2, (1, 1), (1, 1)),
    ],
)
def test_resolve_pool_size(pool_size, map_hw, expected):
    resolved = resolve_pool_size(pool_size, map_hw)
    assert resolved == expected
    assert all(type(side) is int for side in resolved)


def test_unknown_mode():
    maps = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="mode must be one of"):
        pool_forward(maps, "min", (2, 2))
    with pytest.raises(ValueError, match="mode must be one of"):
        pool_backward(np.zeros((2, 2, 2)), maps, "sum", (2, 2))


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("mode", POOLINGS)
# Few windows (one call per cell) and many (one reduction), few cells and many
# (over 255: the ties' cell ranks no longer fit in a byte).
@pytest.mark.parametrize("h, w, pool_hw", [(4, 6, (2, 3)), (16, 18, (2, 2)),
                                            (9, 9, (9, 9)), (10, 12, (1, 1)),
                                            (17, 16, (17, 16))])
def test_cell_major_kernels_against_oracle(h, w, pool_hw, mode, ties):
    rng = np.random.default_rng(2)
    maps = _maps(rng, (3, 2), h, w, np.float64, ties)
    cells = to_cell_major(maps, pool_hw)
    ph, pw = pool_hw
    hp, wp = pooled_shape((h, w), pool_hw)
    assert cells.shape == (3, 2, ph * pw, hp * wp)
    # The last cell, (ph - 1, pw - 1), of every window.
    assert_array_equal(cells[..., -1, :].reshape(3, 2, hp, wp),
                       maps[..., ph - 1 : hp * ph : ph, pw - 1 : wp * pw : pw])
    pooled = cell_pool_forward(cells, mode)
    expected = _oracle_forward(maps, mode, pool_hw).reshape(3, 2, hp * wp)
    assert_allclose(pooled, expected, rtol=1e-12, atol=1e-12)
    grad = rng.standard_normal(pooled.shape)
    grad_cells = cell_pool_backward(grad, cells, mode)
    grad_maps = _oracle_backward(grad.reshape(3, 2, hp, wp), maps, mode, pool_hw)
    assert_allclose(grad_cells, to_cell_major(grad_maps, pool_hw), rtol=1e-12,
                    atol=1e-12)
    # In place over the maps, as the training kernel calls it.
    assert cell_pool_backward(grad, cells, mode, out=cells) is cells
    assert_allclose(cells, grad_cells, rtol=0, atol=0)
