"""TinyConvRegressor as a scikit-learn regressor: shapes, dtypes, targets,
meta-estimators, routing and clear errors."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from oracles import fitted_arrays, scipy_feature_maps, scipy_predict
from sklearn import config_context
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sktinycnn import TinyConvRegressor

# Short fits keep the suite fast; their ConvergenceWarning is expected and the
# warning itself is tested in test_training.py.
pytestmark = pytest.mark.usefixtures("converge_quietly")


@pytest.fixture(scope="module")
def digits_split(digits):
    return train_test_split(*digits, random_state=0)


def smooth_images(n=120, shape=(1, 6, 6), seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, int(np.prod(shape))))
    y = X.reshape(n, *shape)[:, :, 1:4, 1:4].mean(axis=(1, 2, 3)) * 3 - 1
    return X, y


# ----------------------------------------------------------------- learning


def test_learns_digits_with_convolutional_features(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    model = TinyConvRegressor(
        n_filters=8, kernel_size=3, padding="valid", pooling=None, batch_size=200,
        random_state=0,
    )
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.75
    assert [k.shape for k in model.kernels_] == [(8, 1, 3, 3)]
    assert model.coef_.shape == (8 * 6 * 6, 1)


def test_predictions_follow_the_documented_network():
    X, y = smooth_images(shape=(2, 5, 4))
    model = TinyConvRegressor(
        image_shape=(2, 5, 4),
        n_filters=3,
        kernel_size=(2, 3),
        padding="valid",
        pooling=None,
        max_iter=20,
        random_state=0,
    ).fit(X, y)
    maps = scipy_feature_maps(
        X.reshape(-1, 2, 5, 4), model.kernels_[0], model.kernel_intercepts_[0],
        "valid",
    )
    np.testing.assert_allclose(model.feature_maps(X), maps, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        model.predict(X), scipy_predict(model, X).ravel(), rtol=1e-12
    )


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_same_padding_keeps_image_size(padding):
    X, y = smooth_images()
    model = TinyConvRegressor(padding=padding, kernel_size=3, n_filters=2, max_iter=5)
    maps = model.fit(X, y).feature_maps(X)
    assert maps.shape == ((120, 2, 6, 6) if padding == "same" else (120, 2, 4, 4))


# --------------------------------------------------------------- image forms


def test_flat_3d_and_4d_inputs_agree():
    X, y = smooth_images(shape=(1, 6, 6))
    params = dict(n_filters=2, max_iter=10, random_state=0, shuffle=False)
    flat = TinyConvRegressor(**params).fit(X, y)
    three = TinyConvRegressor(**params).fit(X.reshape(-1, 6, 6), y)
    four = TinyConvRegressor(**params).fit(X.reshape(-1, 1, 6, 6), y)
    for model in (three, four):
        assert model.image_shape_ == (1, 6, 6)
        assert model.n_features_in_ == 36
        np.testing.assert_array_equal(model.coef_, flat.coef_)
    np.testing.assert_array_equal(three.predict(X.reshape(-1, 6, 6)), flat.predict(X))
    # A model fitted on images also takes the flat rows, and vice versa.
    np.testing.assert_array_equal(four.predict(X), flat.predict(X.reshape(-1, 6, 6)))


def test_image_shape_inference_and_multichannel():
    X = np.random.RandomState(0).rand(30, 12)
    y = X.sum(axis=1)
    assert TinyConvRegressor(max_iter=2).fit(X, y).image_shape_ == (1, 3, 4)
    model = TinyConvRegressor(
        image_shape=(3, 2, 2), n_filters=2, padding="valid", max_iter=2
    ).fit(X, y)
    assert model.image_shape_ == (3, 2, 2)
    assert [k.shape for k in model.kernels_] == [(2, 3, 2, 2)]


def test_kernel_is_clipped_to_small_images():
    X = np.random.RandomState(0).rand(20, 7)
    model = TinyConvRegressor(kernel_size=3, padding="valid", max_iter=2)
    model.fit(X, X.sum(axis=1))
    assert model.image_shape_ == (1, 1, 7)
    assert model.kernel_size_ == [(1, 3)]
    same = TinyConvRegressor(kernel_size=3, padding="same", max_iter=2)
    assert same.fit(X, X.sum(axis=1)).kernel_size_ == [(3, 3)]


# --------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_end_to_end(dtype):
    X, y = smooth_images()
    model = TinyConvRegressor(max_iter=5, solver="adam").fit(X.astype(dtype), y)
    for name, array in fitted_arrays(model).items():
        assert array.dtype == dtype, name
    assert model.predict(X.astype(dtype)).dtype == dtype
    assert model.feature_maps(X.astype(dtype)).dtype == dtype
    sgd = TinyConvRegressor(max_iter=5, solver="sgd").fit(X.astype(dtype), y)
    assert sgd.coef_.dtype == dtype


def test_float32_and_float64_models_agree():
    X, y = smooth_images()
    params = dict(max_iter=20, random_state=0, n_filters=2)
    m64 = TinyConvRegressor(**params).fit(X, y)
    m32 = TinyConvRegressor(**params).fit(X.astype(np.float32), y)
    np.testing.assert_allclose(
        m32.predict(X.astype(np.float32)), m64.predict(X), atol=1e-3
    )


# -------------------------------------------------------------------- targets


def test_multi_output_targets_each_scaled():
    X, y = smooth_images()
    Y = np.column_stack([y, 100 * y + 7, -y])
    model = TinyConvRegressor(n_filters=3, random_state=0).fit(X, Y)
    assert model.n_outputs_ == 3
    assert model.coef_.shape[1] == 3
    prediction = model.predict(X)
    assert prediction.shape == (120, 3)
    np.testing.assert_allclose(model.target_scale_, np.ptp(Y, axis=0) / 0.8, rtol=1e-12)
    np.testing.assert_allclose(
        model.target_offset_, Y.min(axis=0) - 0.1 * model.target_scale_, rtol=1e-12
    )
    assert r2_score(Y, prediction, multioutput="raw_values").min() > 0.8


def test_column_y_gives_column_predictions():
    X, y = smooth_images()
    model = TinyConvRegressor(max_iter=5, random_state=0)
    flat = model.fit(X, y).predict(X)
    column = clone(model).fit(X, y[:, None]).predict(X)
    assert flat.shape == (120,) and column.shape == (120, 1)
    np.testing.assert_array_equal(column[:, 0], flat)


def test_constant_target_is_predicted_exactly():
    X, _ = smooth_images()
    model = TinyConvRegressor(max_iter=5).fit(X, np.full(120, 3.25))
    np.testing.assert_array_equal(model.target_scale_, [0.0])
    np.testing.assert_array_equal(model.predict(X), 3.25)


def test_target_range_is_weighted():
    X, y = smooth_images()
    weights = np.ones(120)
    weights[np.argmax(y)] = 0  # the largest target has no weight: not in range
    model = TinyConvRegressor(max_iter=2).fit(X, y, sample_weight=weights)
    expected_max = np.sort(y)[-2]
    assert model.target_offset_[0] + 0.9 * model.target_scale_[0] == pytest.approx(
        expected_max
    )


def test_raw_targets_are_used_as_given():
    X, y = smooth_images()
    y01 = (y - y.min()) / np.ptp(y)
    model = TinyConvRegressor(scale_target=False, max_iter=3).fit(X, y01)
    np.testing.assert_array_equal(model.target_offset_, [0.0])
    np.testing.assert_array_equal(model.target_scale_, [1.0])
    prediction = model.predict(X)
    assert np.all((prediction > 0) & (prediction < 1))


# ---------------------------------------------------------- meta-estimators


def test_pipeline_with_scaler(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    pipe = make_pipeline(
        StandardScaler(),
        TinyConvRegressor(n_filters=4, kernel_size=3, pooling=None, random_state=0),
    )
    pipe.fit(X_train * 16, y_train)
    assert pipe.score(X_test * 16, y_test) > 0.6
    assert pipe[-1].n_features_in_ == 64


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_learning_rate_and_kernel_scale(digits_split, n_jobs):
    X_train, _, y_train, _ = digits_split
    grid = {"learning_rate": [0.003, 0.03], "kernel_scale": [None, 0.5]}
    search = GridSearchCV(
        TinyConvRegressor(n_filters=2, max_iter=15, random_state=0),
        grid,
        cv=KFold(3),
        n_jobs=n_jobs,
    )
    search.fit(X_train[:300], y_train[:300])
    assert len(search.cv_results_["params"]) == 4
    assert set(search.best_params_) == {"learning_rate", "kernel_scale"}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    # Each candidate is the estimator cloned with those parameters.
    best = clone(search.estimator).set_params(**search.best_params_)
    best.fit(X_train[:300], y_train[:300])
    np.testing.assert_allclose(
        best.predict(X_train[:5]), search.predict(X_train[:5]), rtol=1e-10
    )


def test_grid_search_results_do_not_depend_on_n_jobs(digits_split):
    X_train, _, y_train, _ = digits_split
    results = []
    for n_jobs in (1, 2):
        search = GridSearchCV(
            TinyConvRegressor(max_iter=10, random_state=0),
            {"learning_rate": [0.01, 0.05], "kernel_scale": [None, 1.0]},
            cv=3,
            n_jobs=n_jobs,
        ).fit(X_train[:200], y_train[:200])
        results.append(search.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(results[0], results[1])


def test_clone_and_pickle_round_trip():
    X, y = smooth_images()
    model = TinyConvRegressor(n_filters=2, random_state=0, max_iter=10).fit(X, y)
    clone_ = clone(model)
    assert not hasattr(clone_, "kernels_")
    assert clone_.get_params() == model.get_params()
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(clone_.fit(X, y).predict(X), model.predict(X))


# ------------------------------------------------------------ sample weights


def test_sample_weight_equals_repetition():
    X, y = smooth_images(n=40)
    weights = np.random.RandomState(0).randint(0, 4, 40).astype(float)
    repeat = np.repeat(np.arange(40), weights.astype(int))
    params = dict(n_filters=2, max_iter=30, random_state=0)
    weighted = TinyConvRegressor(**params).fit(X, y, sample_weight=weights)
    repeated = TinyConvRegressor(**params).fit(X[repeat], y[repeat])
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9)
    assert weighted.score(X, y, sample_weight=weights) == pytest.approx(
        repeated.score(X[repeat], y[repeat]), rel=1e-9
    )


@pytest.mark.parametrize("routing", [False, True])
def test_sample_weight_through_pipeline_and_grid_search(routing):
    X, y = smooth_images(n=90)
    weights = np.random.RandomState(1).uniform(0, 3, 90)
    params = dict(n_filters=2, max_iter=10, random_state=0)
    X_scaled = StandardScaler().fit_transform(X)
    direct = TinyConvRegressor(**params).fit(X_scaled, y, sample_weight=weights)
    with config_context(enable_metadata_routing=routing):
        cnn = TinyConvRegressor(**params)
        scaler = StandardScaler()
        if routing:
            cnn.set_fit_request(sample_weight=True).set_score_request(
                sample_weight=True
            )
            scaler.set_fit_request(sample_weight=False)
            pipe = Pipeline([("scale", scaler), ("cnn", cnn)])
            pipe.fit(X, y, sample_weight=weights)
        else:
            pipe = Pipeline([("scale", scaler), ("cnn", cnn)])
            pipe.fit(X, y, cnn__sample_weight=weights)
        np.testing.assert_allclose(
            pipe.predict(X), direct.predict(X_scaled), rtol=1e-12
        )

        grid = {"learning_rate": [0.01, 0.03]}
        search = GridSearchCV(clone(cnn), grid, cv=KFold(3))
        search.fit(X, y, sample_weight=weights)

    # The weights reached the first candidate's fit on the first split ...
    train, test = next(KFold(3).split(X))
    first = TinyConvRegressor(**params, learning_rate=0.01)
    first.fit(X[train], y[train], sample_weight=weights[train])
    weighted = first.score(X[test], y[test], sample_weight=weights[test])
    score = search.cv_results_["split0_test_score"][0]
    if routing:
        # ... and, requested, its score.
        assert score == pytest.approx(weighted, rel=1e-10)
    else:
        # Without routing, whether scoring is weighted is scikit-learn's
        # choice (1.9 weights it); the fit is weighted either way.
        unweighted = first.score(X[test], y[test])
        assert score in (
            pytest.approx(weighted, rel=1e-10),
            pytest.approx(unweighted, rel=1e-10),
        )
    plain = TinyConvRegressor(**params, learning_rate=0.01).fit(X[train], y[train])
    assert score != pytest.approx(plain.score(X[test], y[test]), rel=1e-6)


def test_routing_requires_an_explicit_request():
    X, y = smooth_images(n=30)
    with config_context(enable_metadata_routing=True):
        pipe = Pipeline([("cnn", TinyConvRegressor(max_iter=2))])
        with pytest.raises(ValueError, match="sample_weight"):
            pipe.fit(X, y, sample_weight=np.ones(30))


# ------------------------------------------------------------- clear errors


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_filters": 0}, ValueError, "n_filters"),
        ({"n_filters": 1.5}, TypeError, "n_filters"),
        ({"n_filters": True}, TypeError, "n_filters"),
        ({"kernel_size": 0}, ValueError, "kernel_size must be"),
        ({"kernel_size": (2, 2, 2)}, ValueError, "kernel_size must be"),
        ({"padding": "full"}, ValueError, "padding must be one of 'valid', 'same'"),
        ({"solver": "lbfgs"}, ValueError, "solver must be one of 'sgd', 'adam'"),
        ({"learning_rate_schedule": "cosine"}, ValueError, "learning_rate_schedule"),
        ({"learning_rate": 0}, ValueError, "learning_rate"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate"),
        ({"kernel_scale": -1.0}, ValueError, "kernel_scale"),
        ({"kernel_scale": 0.0}, ValueError, "kernel_scale"),
        ({"alpha": -1e-3}, ValueError, "alpha"),
        ({"momentum": 1.5}, ValueError, "momentum"),
        ({"beta_1": 1.0}, ValueError, "beta_1"),
        ({"beta_2": -0.1}, ValueError, "beta_2"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": "big"}, ValueError, "batch_size must be 'auto'"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change"),
        ({"n_iter_cooldown": -1}, ValueError, "n_iter_cooldown"),
        ({"n_iter_cooldown": 1.5}, TypeError, "n_iter_cooldown"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be a bool"),
        ({"fit_intercept": 1}, TypeError, "fit_intercept must be a bool"),
        ({"image_shape": (5, 5)}, ValueError, "image_shape"),
        ({"image_shape": "6x6"}, ValueError, "image_shape must be"),
        ({"verbose": -1}, ValueError, "verbose"),
    ],
)
def test_bad_parameters_are_named(params, error, match):
    X, y = smooth_images(n=20)
    with pytest.raises(error, match=match):
        TinyConvRegressor(**params).fit(X, y)


def test_bad_inputs_raise_clear_errors():
    X, y = smooth_images(n=20)
    model = TinyConvRegressor(max_iter=3)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X_nan, y)
    X_inf = X.copy()
    X_inf[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        model.fit(X_inf, y)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, np.where(np.arange(20) == 3, np.nan, y))
    with pytest.raises(TypeError, match=r"[Ss]parse"):
        model.fit(sp.csr_matrix(X), y)
    with pytest.raises(ValueError, match=r"[Cc]omplex"):
        model.fit(X + 1j, y)
    with pytest.raises(ValueError, match="0 feature"):
        model.fit(np.empty((20, 0)), y)
    with pytest.raises(ValueError, match="5 dimensions"):
        model.fit(np.zeros((20, 1, 2, 3, 6)), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="image_shape"):
        TinyConvRegressor(image_shape=(2, 3, 3)).fit(X.reshape(20, 6, 6), y)

    model.fit(X, y)
    with pytest.raises(
        ValueError,
        match="X has 35 features, but TinyConvRegressor is expecting 36 features",
    ):
        model.predict(X[:, :35])
    with pytest.raises(ValueError, match=r"images of shape \(1, 4, 9\)"):
        model.predict(X.reshape(20, 4, 9))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(X_nan)


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.zeros(20), "zero"),
        (-np.ones(20), "non-negative"),
        (np.ones(19), r"sample_weight.shape == \(19,\)"),
        (np.ones((20, 2)), "sample_weight"),
    ],
)
def test_bad_sample_weight(weights, match):
    X, y = smooth_images(n=20)
    with pytest.raises(ValueError, match=match):
        TinyConvRegressor(max_iter=2).fit(X, y, sample_weight=weights)


def test_scalar_sample_weight_is_uniform():
    # Weights count like repeated rows, so alpha's penalty (divided by the
    # total weight, as MLPRegressor's by n_samples) shrinks with a scalar
    # weight: without it a scalar weight changes nothing.
    X, y = smooth_images(n=30)
    params = dict(max_iter=5, random_state=0, alpha=0.0)
    np.testing.assert_allclose(
        TinyConvRegressor(**params).fit(X, y, sample_weight=2.0).predict(X),
        TinyConvRegressor(**params).fit(X, y).predict(X),
        rtol=1e-12,
    )


def test_unfitted_model_says_so():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TinyConvRegressor().predict(np.zeros((2, 4)))
    with pytest.raises(NotFittedError):
        TinyConvRegressor().feature_maps(np.zeros((2, 4)))
