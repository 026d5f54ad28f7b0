"""``pooled_maps``: the feature maps pooled by hand, and what ``coef_`` multiplies."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from oracles import fit_quietly
from scipy.special import expit
from sklearn.exceptions import NotFittedError

from sktinycnn import TinyConvRegressor


def _pool_by_hand(maps, pooling, pool_hw):
    """Loops over every window of every map, in Python floats."""
    (ph, pw), (n, f, h, w) = pool_hw, maps.shape
    out = np.empty((n, f, h // ph, w // pw))
    for index in np.ndindex(out.shape):
        i, j, a, b = index
        cells = [float(v) for v in maps[i, j, a * ph : (a + 1) * ph,
                                        b * pw : (b + 1) * pw].ravel()]
        out[index] = max(cells) if pooling == "max" else sum(cells) / len(cells)
    return out


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize(
    "pool_size, pool_hw",
    # On 5x6 maps: leftover row, leftover row and no leftover column, the
    # whole map, a window clipped to the map's width.
    [(2, (2, 2)), ((2, 3), (2, 3)), ("global", (5, 6)), ((3, 9), (3, 6))],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooled_maps_pool_the_feature_maps(pooling, pool_size, pool_hw, dtype):
    rng = np.random.RandomState(0)
    X = rng.rand(30, 2, 6, 7).astype(dtype)
    y = np.c_[X[:, 0].mean(axis=(1, 2)), X[:, 1, :3].sum(axis=(1, 2))]
    model = fit_quietly(
        TinyConvRegressor(n_filters=3, kernel_size=2, padding="valid",
                          pooling=pooling, pool_size=pool_size, max_iter=5,
                          random_state=0),
        X, y,
    )
    assert model.pool_size_ == [pool_hw]
    maps = model.feature_maps(X)
    pooled = model.pooled_maps(X)
    hp, wp = 5 // pool_hw[0], 6 // pool_hw[1]
    assert pooled.shape == (30, 3, hp, wp) and pooled.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert_allclose(pooled, _pool_by_hand(maps, pooling, pool_hw), rtol=tol,
                    atol=tol)
    # coef_ rows follow the pooled maps in C order over (n_filters, hp, wp).
    assert model.coef_.shape == (3 * hp * wp, 2)
    s = expit(pooled.reshape(30, -1) @ model.coef_ + model.intercept_)
    assert_allclose(model.target_offset_ + model.target_scale_ * s,
                    model.predict(X), rtol=10 * tol, atol=10 * tol)


def test_pooled_maps_without_pooling_are_the_feature_maps():
    rng = np.random.RandomState(1)
    X = rng.rand(20, 5, 5)
    model = fit_quietly(
        TinyConvRegressor(
            n_filters=2, kernel_size=3, pooling=None, max_iter=3, random_state=0
        ),
        X, X.sum(axis=(1, 2)),
    )
    assert model.pool_size_ == [None]
    assert_array_equal(model.pooled_maps(X), model.feature_maps(X))


def test_pooled_maps_needs_a_fitted_model():
    with pytest.raises(NotFittedError):
        TinyConvRegressor(pooling="max").pooled_maps(np.zeros((2, 9)))
