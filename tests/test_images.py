"""Image-shape resolution, kernel clipping and reshaping of flat X."""

import numpy as np
import pytest

from sktinycnn._images import (
    as_images,
    default_image_shape,
    resolve_image_shape,
    resolve_kernel_size,
)


@pytest.mark.parametrize(
    "n_features, expected",
    [
        (1, (1, 1, 1)),
        (2, (1, 1, 2)),
        (4, (1, 2, 2)),
        (7, (1, 1, 7)),
        (10, (1, 2, 5)),
        (12, (1, 3, 4)),
        (20, (1, 4, 5)),
        (30, (1, 5, 6)),
        (64, (1, 8, 8)),
        (784, (1, 28, 28)),
    ],
)
def test_default_image_shape_is_most_square(n_features, expected):
    assert default_image_shape(n_features) == expected
    _, h, w = expected
    assert h * w == n_features and h <= w


def test_default_image_shape_matches_brute_force():
    for n in range(1, 400):
        best = max(h for h in range(1, n + 1) if n % h == 0 and h * h <= n)
        assert default_image_shape(n) == (1, best, n // best)


@pytest.mark.parametrize(
    "image_shape, n_features, expected",
    [
        (None, 9, (1, 3, 3)),
        ((3, 3), 9, (1, 3, 3)),
        ((2, 4, 3), 24, (2, 4, 3)),
        ([4, 6], 24, (1, 4, 6)),
        ((np.int64(2), np.int32(5)), 10, (1, 2, 5)),
    ],
)
def test_resolve_image_shape(image_shape, n_features, expected):
    assert resolve_image_shape(image_shape, n_features) == expected


def test_as_images_is_c_order_view_or_copy():
    X = np.arange(2 * 12, dtype=float).reshape(2, 12)
    images = as_images(X, (3, 2, 2))
    assert images.shape == (2, 3, 2, 2)
    assert np.shares_memory(images, X)
    np.testing.assert_array_equal(images[1, 2], [[20, 21], [22, 23]])
    fortran = np.asfortranarray(X)
    images_f = as_images(fortran, (3, 2, 2))
    assert images_f.flags.c_contiguous
    np.testing.assert_array_equal(images_f, images)


@pytest.mark.parametrize(
    "kernel_size, image_hw, padding, expected",
    [
        (2, (3, 3), "valid", (2, 2)),
        (2, (1, 7), "valid", (1, 2)),
        ((5, 1), (3, 3), "valid", (3, 1)),
        (3, (1, 1), "valid", (1, 1)),
        (3, (1, 1), "same", (3, 3)),
        ((2, 4), (8, 8), "same", (2, 4)),
    ],
)
def test_resolve_kernel_size(kernel_size, image_hw, padding, expected):
    assert resolve_kernel_size(kernel_size, image_hw, padding) == expected
