"""Training on data larger than memory: partial_fit over chunks of a memmap.

The oracle is ``fit`` on the whole array: with ``shuffle=False``, a
``batch_size`` dividing the chunk size and a stopping rule that cannot fire,
streaming the chunks for ``n_epochs`` must give the very same weights as
``fit`` with ``max_iter=n_epochs`` (same mini-batches, same order).
"""

import tracemalloc

import dask
import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose
from oracles import fitted_arrays
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sktinycnn import TinyConvRegressor
from sktinycnn.streaming import fit_chunks

FITTED = (
    "kernels_",
    "kernel_intercepts_",
    "coef_",
    "intercept_",
    "target_offset_",
    "target_scale_",
    "t_",
    "image_shape_",
    "n_outputs_",
)


@pytest.fixture(scope="module")
def digits():
    X, digit = load_digits(return_X_y=True)
    # 1000 rows: the first 200 hold every digit, so the first chunk fixes the
    # same target scaling as fit on everything.
    X, y = X[:1000] / 16, digit[:1000] / 9
    assert y[:200].min() == y.min() and y[:200].max() == y.max()
    return X, y


def _memmap(tmp_path, array, dtype=np.float64, name="X.dat"):
    """Write ``array`` to a file and open it read-only as a memmap."""
    path = tmp_path / name
    out = np.memmap(path, dtype=dtype, mode="w+", shape=array.shape)
    out[:] = array
    out.flush()
    del out
    return np.memmap(path, dtype=dtype, mode="r", shape=array.shape)


def _fit_reference(estimator, X, y, n_epochs):
    """``fit`` for exactly ``n_epochs`` epochs (the stopping rule cannot fire)."""
    reference = clone(estimator).set_params(max_iter=n_epochs)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        return reference.fit(X, y)


def _assert_same_model(a, b):
    """Equal to rounding: chunked and whole-array GEMMs may round apart."""
    expected = fitted_arrays(b, FITTED)
    for name, array in fitted_arrays(a, FITTED).items():
        assert_allclose(array, expected[name], rtol=1e-12, atol=1e-15, err_msg=name)


STREAMABLE = {
    "adam": dict(solver="adam"),
    # 6x6 maps: max over 2x4 windows drops two columns; average over all.
    "adam-max-pool": dict(solver="adam", pooling="max", pool_size=(2, 4)),
    "sgd-avg-global": dict(
        solver="sgd", learning_rate=0.1, pooling="avg", pool_size="global"
    ),
    "sgd-nesterov": dict(solver="sgd", learning_rate=0.1),
    "sgd-no-intercept": dict(
        solver="sgd", learning_rate=0.1, momentum=0.5, nesterovs_momentum=False,
        fit_intercept=False, alpha=0.0,
    ),
}


@pytest.mark.parametrize("config", STREAMABLE, ids=list(STREAMABLE))
@pytest.mark.parametrize(
    "chunk_size, batch_size",
    # 1000 = 4 * 250; 1000 = 3 * 300 + 100 (a short last chunk); 1000 = 15 * 64
    # + 40 (a short last batch, as in fit).
    [(250, 50), (300, 100), (128, 64)],
)
def test_partial_fit_over_memmap_chunks_equals_fit(
    digits, tmp_path, config, chunk_size, batch_size
):
    X, y = digits
    X_disk = _memmap(tmp_path, X)
    n_epochs = 3
    estimator = TinyConvRegressor(
        n_filters=3, kernel_size=3, shuffle=False, batch_size=batch_size,
        n_iter_no_change=n_epochs, random_state=0, **STREAMABLE[config],
    )
    streamed = clone(estimator)
    for _ in range(n_epochs):
        for start in range(0, X_disk.shape[0], chunk_size):
            streamed.partial_fit(
                X_disk[start : start + chunk_size], y[start : start + chunk_size]
            )
    reference = _fit_reference(estimator, X, y, n_epochs)

    _assert_same_model(streamed, reference)
    assert_allclose(streamed.predict(X_disk), reference.predict(X), rtol=1e-12)
    # The loss curves differ by design: one value per chunk against one per epoch.
    assert len(streamed.loss_curve_) == n_epochs * -(-X.shape[0] // chunk_size)
    assert len(reference.loss_curve_) == n_epochs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "pool", [{}, dict(pooling="max", pool_size=4), dict(pooling="avg", pool_size=2)],
    ids=["unpooled", "max-4", "avg-2"],
)
def test_fit_chunks_equals_fit(digits, tmp_path, dtype, pool):
    X, y = digits
    X_disk = _memmap(tmp_path, X, dtype=dtype)
    y_disk = _memmap(tmp_path, y, dtype=dtype, name="y.dat")
    estimator = TinyConvRegressor(
        n_filters=2, kernel_size=3, shuffle=False, batch_size=40, random_state=1,
        **pool,
    )
    streamed = fit_chunks(clone(estimator), X_disk, y_disk, chunk_size=200, n_epochs=4)
    reference = _fit_reference(estimator, X.astype(dtype), y.astype(dtype), 4)

    assert streamed.coef_.dtype == dtype
    assert streamed.pool_size_ == reference.pool_size_
    _assert_same_model(streamed, reference)


def test_fit_chunks_with_sample_weight_equals_fit(digits):
    X, y = digits
    sample_weight = np.random.RandomState(0).uniform(0.5, 2.0, size=len(y))
    estimator = TinyConvRegressor(
        n_filters=2, shuffle=False, batch_size=25, random_state=0
    )
    streamed = fit_chunks(
        clone(estimator), X, y, chunk_size=100, n_epochs=2,
        sample_weight=sample_weight,
    )
    reference = clone(estimator).set_params(max_iter=2)
    with pytest.warns(ConvergenceWarning):
        reference.fit(X, y, sample_weight=sample_weight)
    _assert_same_model(streamed, reference)


def test_fit_chunks_from_dask_array_equals_fit(digits):
    X, y = digits
    X_dask = da.from_array(X, chunks=(250, X.shape[1]))
    y_dask = da.from_array(y, chunks=250)
    estimator = TinyConvRegressor(
        n_filters=2, shuffle=False, batch_size=50, random_state=0
    )
    # One thread: no need for a pool to compute one block at a time.
    with dask.config.set(scheduler="synchronous"):
        streamed = fit_chunks(
            clone(estimator), X_dask, y_dask, chunk_size=250, n_epochs=2
        )
    _assert_same_model(streamed, _fit_reference(estimator, X, y, 2))


def test_fit_chunks_continues_training(digits):
    # Two calls of one epoch each are one call of two epochs, as partial_fit.
    X, y = digits
    estimator = TinyConvRegressor(n_filters=2, batch_size=50, random_state=0)
    twice = clone(estimator)
    fit_chunks(twice, X, y, chunk_size=250)
    fit_chunks(twice, X, y, chunk_size=250)
    once = fit_chunks(clone(estimator), X, y, chunk_size=250, n_epochs=2)
    _assert_same_model(twice, once)


@pytest.mark.parametrize(
    "change",
    [
        # Each breaks one condition of the documented equivalence.
        dict(shuffle=True),  # shuffles within a chunk, fit over all samples
        dict(batch_size=60),  # 60 does not divide 250: batches straddle chunks
        dict(solver="sgd", learning_rate_schedule="invscaling"),  # per-call steps
    ],
    ids=["shuffle", "batch-not-dividing", "invscaling"],
)
def test_streaming_differs_from_fit_outside_the_documented_conditions(
    digits, change
):
    X, y = digits
    estimator = TinyConvRegressor(
        n_filters=2, shuffle=False, batch_size=50, random_state=0
    ).set_params(**change)
    streamed = fit_chunks(clone(estimator), X, y, chunk_size=250, n_epochs=2)
    reference = _fit_reference(estimator, X, y, 2)
    assert not np.array_equal(streamed.coef_, reference.coef_)


class _DiskDataset:
    """Rows of a file on disk read on slicing only, as an HDF5 or zarr dataset."""

    def __init__(self, memmap):
        self.path, self.shape, self.dtype = memmap.filename, memmap.shape, memmap.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        rows = np.memmap(self.path, dtype=self.dtype, mode="r", shape=self.shape)
        return np.array(rows[key])


@pytest.mark.parametrize("source", ["memmap", "dataset", "dask"])
def test_streaming_memory_is_bounded_by_the_chunk(tmp_path, source):
    # 12 MB of images on disk, streamed in chunks of 250 rows (125 kB).
    rng = np.random.RandomState(0)
    n_samples, n_features, chunk_size = 24_000, 64, 250
    X = _memmap(tmp_path, rng.uniform(size=(n_samples, n_features)))
    if source != "memmap":
        X = _DiskDataset(X)
    if source == "dask":
        # Not da.from_array(memmap): dask copies a NumPy array into its graph.
        X = da.from_array(X, chunks=(chunk_size, n_features))
    y = rng.uniform(size=n_samples)
    data_bytes = n_samples * n_features * 8
    estimator = TinyConvRegressor(
        n_filters=2, batch_size=50, scale_target=False, random_state=0
    )
    with dask.config.set(scheduler="synchronous"):
        # Warm up outside the measurement: the first dask compute and the first
        # fit import modules, whose objects tracemalloc would count.
        fit_chunks(clone(estimator), X[:chunk_size], y[:chunk_size], chunk_size=50)

        tracemalloc.start()
        try:
            # The measurement sees NumPy buffers: materialising X is counted.
            whole = np.array(X[:])
            _, whole_peak = tracemalloc.get_traced_memory()
            del whole
            tracemalloc.reset_peak()
            model = fit_chunks(clone(estimator), X, y, chunk_size=chunk_size)
            _, streaming_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert model.t_ == n_samples
    assert whole_peak >= data_bytes
    # Some chunks' worth (dask adds its task graph), far below the data's size.
    assert streaming_peak < 20 * chunk_size * n_features * 8 < data_bytes / 4


def test_fit_chunks_rejects_a_first_chunk_without_the_target_range(digits):
    X, y = digits
    order = np.argsort(y, kind="stable")  # sorted targets: chunk 0 holds only 0s
    with pytest.raises(ValueError, match="first chunk must hold the smallest"):
        fit_chunks(TinyConvRegressor(), X[order], y[order], chunk_size=250)


def test_fit_chunks_target_range_counts_only_positive_weights(digits):
    # As the estimator's target scaling: zero-weight rows fix no range, so a
    # first chunk whose 9s all have weight 0 does not cover the targets.
    X, y = digits
    sample_weight = np.ones_like(y)
    sample_weight[:250][y[:250] == 1.0] = 0.0
    with pytest.raises(ValueError, match="first chunk must hold the smallest"):
        fit_chunks(
            TinyConvRegressor(), X, y, chunk_size=250, sample_weight=sample_weight
        )


def test_fit_chunks_without_target_scaling_accepts_any_order(digits):
    # With scale_target=False no range is fixed: sorted data stream like fit.
    X, y = digits
    order = np.argsort(y, kind="stable")
    X, y = X[order], 0.1 + 0.8 * y[order]
    estimator = TinyConvRegressor(
        n_filters=2, scale_target=False, shuffle=False, batch_size=50,
        random_state=0,
    )
    streamed = fit_chunks(clone(estimator), X, y, chunk_size=250, n_epochs=2)
    _assert_same_model(streamed, _fit_reference(estimator, X, y, 2))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(chunk_size=0), ValueError, "chunk_size"),
        (dict(chunk_size=10, n_epochs=0), ValueError, "n_epochs"),
        (dict(chunk_size=1.5), TypeError, "chunk_size"),
    ],
)
def test_fit_chunks_validates_its_arguments(digits, kwargs, error, match):
    X, y = digits
    with pytest.raises(error, match=match):
        fit_chunks(TinyConvRegressor(), X, y, **kwargs)


def test_fit_chunks_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="different numbers of samples"):
        fit_chunks(TinyConvRegressor(), X, y[:-1], chunk_size=100)
    with pytest.raises(TypeError, match="no partial_fit"):
        fit_chunks(object(), X, y, chunk_size=100)
    with pytest.raises(TypeError, match="with a shape and slicing"):
        fit_chunks(TinyConvRegressor(), X.tolist(), y, chunk_size=100)
