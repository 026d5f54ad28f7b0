"""Input forms: every way of passing the same numbers gives the same model.

Lists, pandas DataFrames (feature names kept and checked at predict),
read-only, Fortran-ordered, memory-mapped and non-contiguous arrays, int and
bool data: fitting on them, and predicting from them, gives exactly (bit for
bit) what the equivalent float64 C-ordered array gives. Inputs are never
written to.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from sktinycnn import TinyConvRegressor

N_SAMPLES, CHANNELS, HEIGHT, WIDTH = 30, 2, 4, 5
N_FEATURES = CHANNELS * HEIGHT * WIDTH

# Short fits (max_iter=5) keep the suite fast; not converging is expected.
pytestmark = pytest.mark.usefixtures("converge_quietly")


def _model(**params):
    return TinyConvRegressor(
        image_shape=(CHANNELS, HEIGHT, WIDTH),
        n_filters=2,
        kernel_size=3,
        max_iter=5,
        random_state=0,
        **params,
    )


def _images(kind="float", seed=0):
    rng = np.random.RandomState(seed)
    shape = (N_SAMPLES, CHANNELS, HEIGHT, WIDTH)
    if kind == "int":
        return rng.randint(-4, 17, size=shape)
    if kind == "bool":
        return rng.rand(*shape) < 0.4
    return rng.standard_normal(shape)


def _target(images):
    images = images.astype(np.float64)
    return images[:, 0].mean(axis=(1, 2)) - images[:, 1, 1:3].sum(axis=(1, 2)) / 4


def _reference(images, y, **params):
    """Fit and predict on the float64, C-ordered, writable flat array."""
    X = np.ascontiguousarray(images.reshape(N_SAMPLES, -1), dtype=np.float64)
    model = _model(**params).fit(X, y)
    return model, model.predict(X)


# ------------------------------------------------------------------- forms


def _readonly(X, tmp_path):
    X = X.copy()
    X.setflags(write=False)
    return X


def _fortran(X, tmp_path):
    return np.asfortranarray(X)


def _memmap(X, tmp_path):
    path = tmp_path / "X.dat"
    writer = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    writer[:] = X
    writer.flush()
    del writer
    return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)


def _column_slice(X, tmp_path):
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), X.dtype)
    wide[:, 1::2] = X
    view = wide[:, 1::2]
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


def _row_slice(X, tmp_path):
    tall = np.zeros((2 * X.shape[0], X.shape[1]), X.dtype)
    tall[::2] = X
    return tall[::2]


def _reversed(X, tmp_path):
    return X[::-1][::-1]  # negative strides inside


def _list(X, tmp_path):
    return X.tolist()


def _tuple(X, tmp_path):
    return tuple(map(tuple, X.tolist()))


def _dataframe(X, tmp_path):
    return pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(X.shape[1])])


FORMS = [
    _readonly, _fortran, _memmap, _column_slice, _row_slice, _reversed, _list,
    _tuple, _dataframe,
]


def _name(form):
    return form.__name__.lstrip("_")


@pytest.mark.parametrize("form", FORMS, ids=_name)
@pytest.mark.parametrize("kind", ["float", "int", "bool"])
def test_flat_forms_fit_and_predict_like_the_c_float64_array(form, kind, tmp_path):
    images = _images(kind)
    y = _target(images)
    reference, expected = _reference(images, y)

    X = form(images.reshape(N_SAMPLES, -1), tmp_path)
    X_before = np.array(X, copy=True)
    model = _model().fit(X, y)
    got = model.predict(X)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(model.kernels_, reference.kernels_)
    # The fitted reference predicts the same from this form.
    np.testing.assert_array_equal(reference.predict(np.asarray(X)), expected)
    np.testing.assert_array_equal(np.asarray(X), X_before)


def _images_fortran(images, tmp_path):
    return np.asfortranarray(images)


def _images_slice(images, tmp_path):
    big = np.zeros((*images.shape[:2], 2 * images.shape[2], images.shape[3]))
    big[:, :, ::2] = images
    return big[:, :, ::2]


def _images_memmap(images, tmp_path):
    return _memmap(images, tmp_path)


def _images_list(images, tmp_path):
    return images.tolist()


def _images_readonly(images, tmp_path):
    return _readonly(images, tmp_path)


IMAGE_FORMS = [
    _images_fortran, _images_slice, _images_memmap, _images_list, _images_readonly,
]


@pytest.mark.parametrize("form", IMAGE_FORMS, ids=_name)
@pytest.mark.parametrize("kind", ["float", "int", "bool"])
def test_4d_image_forms_fit_and_predict_like_the_flat_array(form, kind, tmp_path):
    images = _images(kind)
    y = _target(images)
    _, expected = _reference(images, y)
    X = form(images, tmp_path)
    model = _model().set_params(image_shape=None).fit(X, y)
    assert model.image_shape_ == (CHANNELS, HEIGHT, WIDTH)
    np.testing.assert_array_equal(model.predict(X), expected)


@pytest.mark.parametrize("form", [_fortran, _memmap, _column_slice, _readonly],
                         ids=_name)
def test_float32_forms_fit_like_the_c_float32_array(form, tmp_path):
    images = _images().astype(np.float32)
    y = _target(images)
    X = images.reshape(N_SAMPLES, -1)
    expected = _model().fit(X, y).predict(X)
    assert expected.dtype == np.float32
    X_form = form(X, tmp_path)
    got = _model().fit(X_form, y).predict(X_form)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_3d_images_fit_like_flat_rows_of_one_channel():
    images = _images()[:, :1]
    y = _target(np.concatenate([images, images], axis=1))
    expected = (
        _model()
        .set_params(image_shape=(HEIGHT, WIDTH))
        .fit(images.reshape(N_SAMPLES, -1), y)
        .predict(images.reshape(N_SAMPLES, -1))
    )
    X = np.asfortranarray(images[:, 0])
    model = _model().set_params(image_shape=None).fit(X, y)
    assert model.image_shape_ == (1, HEIGHT, WIDTH)
    np.testing.assert_array_equal(model.predict(X), expected)


# ------------------------------------------------------------------ pandas


def test_dataframe_feature_names_are_kept_and_checked():
    images = _images()
    y = _target(images)
    _, expected = _reference(images, y)
    X = _dataframe(images.reshape(N_SAMPLES, -1), None)
    model = _model().fit(X, y)
    np.testing.assert_array_equal(model.feature_names_in_, X.columns.to_numpy())
    np.testing.assert_array_equal(model.predict(X), expected)

    # Columns in another order, or renamed: refused, as by every sklearn estimator.
    with pytest.raises(ValueError, match="feature names"):
        model.predict(X[X.columns[::-1]])
    with pytest.raises(ValueError, match="feature names"):
        model.predict(X.rename(columns={"pixel_0": "other"}))
    # A bare array is accepted with scikit-learn's usual warning.
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        got = model.predict(X.to_numpy())
    np.testing.assert_array_equal(got, expected)


def test_dataframe_at_predict_after_fit_on_array_warns():
    images = _images()
    y = _target(images)
    model, expected = _reference(images, y)
    assert not hasattr(model, "feature_names_in_")
    with pytest.warns(UserWarning, match="has feature names, but"):
        got = model.predict(_dataframe(images.reshape(N_SAMPLES, -1), None))
    np.testing.assert_array_equal(got, expected)


def test_dataframe_without_string_names_records_none():
    images = _images()
    y = _target(images)
    _, expected = _reference(images, y)
    X = pd.DataFrame(images.reshape(N_SAMPLES, -1))  # integer column labels
    model = _model().fit(X, y)
    assert not hasattr(model, "feature_names_in_")
    np.testing.assert_array_equal(model.predict(X), expected)


@pytest.mark.parametrize("dtype", ["Float64", "Int64", "float32", "int8"])
def test_dataframe_dtypes_convert_like_numpy(dtype):
    images = _images("int")
    y = _target(images)
    flat = images.reshape(N_SAMPLES, -1)
    X = _dataframe(flat, None).astype(dtype)
    numpy_X = flat.astype("float32" if dtype == "float32" else "float64")
    expected = _model().fit(numpy_X, y).predict(numpy_X)
    np.testing.assert_array_equal(_model().fit(X, y).predict(X), expected)


def test_pandas_targets_and_weights_equal_arrays():
    images = _images()
    flat = images.reshape(N_SAMPLES, -1)
    y = np.c_[_target(images), images[:, 1].max(axis=(1, 2))]
    weights = np.arange(N_SAMPLES) % 3 + 0.5
    expected = _model().fit(flat, y, sample_weight=weights).predict(flat)
    got = (
        _model()
        .fit(
            flat,
            pd.DataFrame(y, columns=["a", "b"]),
            sample_weight=pd.Series(weights),
        )
        .predict(flat)
    )
    np.testing.assert_array_equal(got, expected)
    expected_1d = _model().fit(flat, y[:, 0]).predict(flat)
    got_1d = _model().fit(flat, pd.Series(y[:, 0], name="y")).predict(flat)
    assert got_1d.ndim == 1
    np.testing.assert_array_equal(got_1d, expected_1d)


# ----------------------------------------------------------- y and weights


def test_list_targets_and_weights_equal_arrays():
    images = _images()
    flat = images.reshape(N_SAMPLES, -1)
    y = _target(images)
    weights = (np.arange(N_SAMPLES) % 4).astype(float)
    expected = _model().fit(flat, y, sample_weight=weights).predict(flat)
    got = _model().fit(flat, y.tolist(), sample_weight=weights.tolist()).predict(flat)
    np.testing.assert_array_equal(got, expected)


def test_int_and_bool_targets_equal_float_targets():
    images = _images()
    flat = images.reshape(N_SAMPLES, -1)
    y_int = np.arange(N_SAMPLES) % 5
    np.testing.assert_array_equal(
        _model().fit(flat, y_int).predict(flat),
        _model().fit(flat, y_int.astype(float)).predict(flat),
    )
    y_bool = y_int > 2
    np.testing.assert_array_equal(
        _model().fit(flat, y_bool).predict(flat),
        _model().fit(flat, y_bool.astype(float)).predict(flat),
    )


def test_read_only_targets_and_weights_are_not_written(tmp_path):
    images = _images()
    flat = images.reshape(N_SAMPLES, -1)
    y = _memmap(_target(images), tmp_path)
    weights = np.arange(N_SAMPLES, dtype=float) % 3
    weights.setflags(write=False)
    model = _model().fit(_readonly(flat, tmp_path), y, sample_weight=weights)
    expected = _model().fit(flat, np.array(y), sample_weight=weights.copy())
    np.testing.assert_array_equal(model.predict(flat), expected.predict(flat))
    model.partial_fit(_readonly(flat, tmp_path), y, sample_weight=weights)


def test_scalar_sample_weight_equals_constant_array():
    images = _images()
    flat = images.reshape(N_SAMPLES, -1)
    y = _target(images)
    np.testing.assert_array_equal(
        _model().fit(flat, y, sample_weight=2.0).predict(flat),
        _model().fit(flat, y, sample_weight=np.full(N_SAMPLES, 2.0)).predict(flat),
    )


def test_convergence_warning_filter_is_needed():
    # Guards the module-level filter above: these fits do stop at max_iter.
    images = _images()
    with pytest.warns(ConvergenceWarning):
        _model().fit(images.reshape(N_SAMPLES, -1), _target(images))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predictions_do_not_depend_on_predict_chunking(dtype, monkeypatch):
    """predict and feature_maps work in chunks to bound memory: any chunking,
    down to one image per chunk, gives the same numbers as one batch."""
    import sktinycnn._kernels as fastpath

    images = _images().astype(dtype)
    X = images.reshape(N_SAMPLES, -1)
    model = _model().fit(X, _target(images))
    expected, expected_maps = model.predict(X), model.feature_maps(X)
    # Matrix products of other sizes may round differently: a few ulps, in
    # sigmoid units, then times the target map.
    ulps = 16 * np.finfo(dtype).eps
    atol = ulps * float(np.max(np.abs(model.target_offset_) + model.target_scale_))
    for chunk_bytes in (1, 3 * 2**10):  # one image per chunk, and a few
        monkeypatch.setattr(fastpath, "CHUNK_BYTES", chunk_bytes)
        monkeypatch.setattr(fastpath, "MIN_CHUNK_IMAGES", 1)
        np.testing.assert_allclose(model.predict(X), expected, rtol=0, atol=atol)
        np.testing.assert_allclose(
            model.feature_maps(X), expected_maps, rtol=0, atol=ulps
        )
