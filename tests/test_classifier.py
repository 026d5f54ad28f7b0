"""TinyConvClassifier: MLPClassifier's behaviours, labels, and the ecosystem.

The behaviours are those of scikit-learn's own test_mlp.py that fit this
API (partial_fit classes, probability shapes and sums, warm start with
changed classes, early stopping, n_iter_no_change, ...), each named after
the test it follows.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from oracles import CONVERGENCE, fit_quietly, ignoring
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_predict,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sktinycnn import TinyConvClassifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16, y[:600]


def _small(n=60, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 4, 4))
    y = (X[:, :2].mean(axis=(1, 2)) > X[:, 2:].mean(axis=(1, 2))).astype(int)
    return X, y


# --------------------------------------------------- MLPClassifier's behaviours


def test_fit_learns_digits(digits):
    """test_fit / test_lbfgs_classification: a usable classifier."""
    X, y = digits
    model = fit_quietly(TinyConvClassifier(random_state=0), X[:450], y[:450])
    assert model.score(X[450:], y[450:]) > 0.9
    assert model.n_outputs_ == 10 and model.out_activation_ == "softmax"
    assert_array_equal(model.classes_, np.arange(10))


def test_predict_proba_binary():
    """test_predict_proba_binary: (n, 2), rows sum to 1, log is log."""
    X, y = _small()
    model = fit_quietly(TinyConvClassifier(max_iter=30, random_state=0), X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert_allclose(proba.sum(axis=1), 1)
    assert_allclose(model.predict_log_proba(X), np.log(proba), rtol=1e-10)
    assert model.n_outputs_ == 1 and model.out_activation_ == "logistic"
    assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])


def test_predict_proba_multiclass(digits):
    """test_predict_proba_multiclass: (n, n_classes), sums to 1."""
    X, y = digits
    model = fit_quietly(TinyConvClassifier(max_iter=10, random_state=0), X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 10)
    assert_allclose(proba.sum(axis=1), 1)
    assert_allclose(model.predict_log_proba(X), np.log(proba), rtol=1e-10)


def test_predict_proba_multilabel():
    """test_predict_proba_multilabel: (n, n_labels), independent sigmoids."""
    X, Y = make_multilabel_classification(
        n_samples=50, n_features=16, n_classes=5, random_state=0
    )
    model = fit_quietly(TinyConvClassifier(max_iter=50, random_state=0), X, Y)
    proba = model.predict_proba(X)
    assert proba.shape == Y.shape == model.predict(X).shape
    assert model.out_activation_ == "logistic" and model.n_outputs_ == 5
    assert_array_equal(model.classes_, np.arange(5))
    assert_array_equal((proba > 0.5).astype(int), model.predict(X))
    assert not np.allclose(proba.sum(axis=1), 1)
    assert_allclose(model.predict_log_proba(X), np.log(proba), rtol=1e-10)
    assert model.score(X, Y) > 0.3  # subset accuracy


def test_multilabel_partial_fit():
    """test_multilabel_classification: partial_fit improves a multilabel fit."""
    X, Y = make_multilabel_classification(
        n_samples=50, n_features=16, n_classes=5, random_state=0
    )
    model = TinyConvClassifier(random_state=0)
    for _ in range(40):
        model.partial_fit(X, Y, classes=[0, 1, 2, 3, 4])
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    with pytest.raises(ValueError, match="label indices"):
        TinyConvClassifier().partial_fit(X, Y, classes=[0, 1])


@pytest.mark.parametrize("encode", [lambda Y: 2 * Y, lambda Y: 2 * Y - 1,
                                    lambda Y: Y + 1, lambda Y: 3 * np.ones_like(Y)])
def test_multilabel_indicator_of_other_values_is_refused(encode):
    """scikit-learn calls 2 * Y (or -1/1) a multilabel indicator; its values
    are not 0/1 targets for the sigmoid's log-loss, so fit, partial_fit and a
    warm start refuse them rather than train towards them."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(20, 16))
    Y = (X[:, :3] > 0.5).astype(int)
    match = r"^A multilabel y must be a 0/1 indicator matrix .* got values \["
    with pytest.raises(ValueError, match=match):
        TinyConvClassifier(random_state=0).fit(X, encode(Y))
    with pytest.raises(ValueError, match=match):
        TinyConvClassifier().partial_fit(X, encode(Y), classes=[0, 1, 2])
    model = fit_quietly(TinyConvClassifier(warm_start=True, max_iter=3), X, Y)
    with pytest.raises(ValueError, match=match):
        model.fit(X, encode(Y))


@pytest.mark.parametrize("dtype", [bool, np.float64, np.int8])
def test_multilabel_indicator_of_any_0_1_dtype_trains(dtype):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(20, 16))
    Y = (X[:, :3] > 0.5).astype(dtype)
    model = fit_quietly(TinyConvClassifier(random_state=0, max_iter=20), X, Y)
    assert min(model.loss_curve_) >= 0
    assert_array_equal(model.classes_, [0, 1, 2])


def test_partial_fit_classes_error():
    """test_partial_fit_classes_error: classes required, then fixed."""
    X, y = _small()
    model = TinyConvClassifier()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        model.partial_fit(X, y)
    assert not hasattr(model, "classes_")
    model.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="is not the same as on last call"):
        model.partial_fit(X, y, classes=[0, 1, 2])


def test_partial_fit_unseen_classes():
    """test_partial_fit_unseen_classes: a label outside classes is refused."""
    X, y = _small()
    model = TinyConvClassifier(random_state=0)
    model.partial_fit(X, np.array(["a", "b"])[y], classes=["a", "b", "c"])
    before = model.coef_.copy()
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        model.partial_fit(X, np.array(["a", "d"])[y])
    assert_array_equal(model.coef_, before)  # all or nothing
    # A batch with a subset of the classes is fine.
    model.partial_fit(X[y == 0], np.full((y == 0).sum(), "c"))
    assert model.n_outputs_ == 3


def test_partial_fit_classification_matches_fit():
    """test_partial_fit_classification: partial_fit epochs are fit's epochs."""
    X, y = _small()
    fitted = fit_quietly(
        TinyConvClassifier(max_iter=5, shuffle=False, tol=0, random_state=0), X, y
    )
    model = TinyConvClassifier(shuffle=False, random_state=0)
    for _ in range(5):
        model.partial_fit(X, y, classes=[0, 1])
    assert_allclose(model.predict_proba(X), fitted.predict_proba(X), rtol=1e-12)


def test_partial_fit_balances_each_batch():
    X, y = _small()
    batch = slice(0, 25)
    counts = np.bincount(y[batch])
    weights = {c: 25 / (2 * counts[c]) for c in (0, 1)}
    balanced = TinyConvClassifier(class_weight="balanced", random_state=0)
    as_dict = TinyConvClassifier(class_weight=weights, random_state=0)
    balanced.partial_fit(X[batch], y[batch], classes=[0, 1])
    as_dict.partial_fit(X[batch], y[batch], classes=[0, 1])
    assert_allclose(balanced.coef_, as_dict.coef_, rtol=1e-12)


def test_warm_start_with_changed_classes_raises():
    """test_warm_start: the same classes or a ValueError."""
    X, y = _small()
    model = fit_quietly(TinyConvClassifier(warm_start=True, max_iter=3), X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y`"):
        model.fit(X, np.where(y == 1, 2, y))
    with pytest.raises(ValueError, match="warm_start can only be used where `y`"):
        model.fit(X, np.zeros_like(y))
    fit_quietly(model, X, y)
    assert len(model.loss_curve_) == 6
    # Without warm start the classes are redefined.
    fit_quietly(model.set_params(warm_start=False), X, y + 5)
    assert_array_equal(model.classes_, [5, 6])


def test_early_stopping_stratified():
    """test_early_stopping_stratified: every class is in the validation set,
    the score is accuracy, and the best epoch's weights are kept."""
    X, y = _small(120)
    y = np.where(np.arange(120) < 12, 2, y)  # a rare third class
    model = fit_quietly(
        TinyConvClassifier(early_stopping=True, validation_fraction=0.2,
                           max_iter=40, random_state=0),
        X, y,
    )
    assert model.best_loss_ is None
    assert len(model.validation_scores_) == model.n_iter_
    assert len(model.validation_loss_curve_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    for score in model.validation_scores_:
        # Accuracy on a validation set of 2 + 11 + 11ish rows: a fraction.
        assert 0 <= score <= 1


def test_early_stopping_holds_out_every_class():
    from sktinycnn._labels import content_keyed_split

    rng = np.random.RandomState(0)
    images = rng.uniform(size=(100, 1, 3, 3))
    groups = np.r_[np.zeros(80, int), np.ones(20, int)]
    train, val = content_keyed_split(images, groups, None, 0.1, rng)
    assert sorted(np.r_[train, val]) == list(range(100))
    assert (groups[val] == 0).sum() == 8 and (groups[val] == 1).sum() == 2
    # Identical rows fall on one side; a weight of 2 is two copies.
    doubled = np.concatenate([images, images[:10]])
    _, val2 = content_keyed_split(
        doubled, np.r_[groups, groups[:10]], None, 0.1,
        np.random.RandomState(1),
    )
    for i in range(10):
        assert (i in val2) == (100 + i in val2)


@pytest.mark.parametrize(
    "n, n_classes, fraction",
    [(150, 10, 0.1), (30, 10, 0.34), (100, 3, 0.2), (61, 7, 0.25), (40, 2, 0.05)],
)
def test_early_stopping_holds_out_validation_fraction(n, n_classes, fraction):
    """ceil(fraction * n) rows, as MLPClassifier's train_test_split: not one
    row or more per class whatever the fraction; each class gives about its
    share."""
    from sktinycnn._labels import content_keyed_split

    rng = np.random.RandomState(0)
    images = rng.uniform(size=(n, 1, 3, 3))
    groups = np.arange(n) % n_classes
    _, val = content_keyed_split(images, groups, None, fraction, rng)
    assert len(val) == int(np.ceil(fraction * n))
    for group in range(n_classes):
        share = fraction * (groups == group).sum()
        assert abs((groups[val] == group).sum() - share) <= 1


def test_early_stopping_split_weighs_rows_as_copies():
    """A row of weight k is held out exactly when its k copies are."""
    from sktinycnn._labels import content_keyed_split

    rng = np.random.RandomState(0)
    images = rng.uniform(size=(40, 1, 3, 3))
    groups = np.arange(40) % 3
    weights = rng.randint(1, 4, size=40)
    for seed in range(5):
        _, val = content_keyed_split(
            images, groups, weights.astype(float), 0.2, np.random.RandomState(seed)
        )
        copies = np.repeat(np.arange(40), weights)
        _, val_copies = content_keyed_split(
            images[copies], groups[copies], None, 0.2, np.random.RandomState(seed)
        )
        assert_array_equal(np.unique(copies[val_copies]), val)


@pytest.mark.parametrize(
    "n, n_classes, fraction, held",
    [(20, 10, 0.1, 2), (4, 2, 0.1, 1), (30, 3, 0.05, 2)],
)
def test_early_stopping_refuses_fewer_validation_rows_than_classes(
    n, n_classes, fraction, held
):
    """MLPClassifier's refusal, with its words first; the model is unchanged."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(n, 3, 3))
    y = np.arange(n) % n_classes
    model = TinyConvClassifier(early_stopping=True, validation_fraction=fraction)
    with pytest.raises(
        ValueError,
        match=rf"^The test_size = {held} should be greater or equal to the "
        rf"number of classes = {n_classes}: .* Increase 'validation_fraction'",
    ):
        model.fit(X, y)
    assert not hasattr(model, "classes_")
    model = fit_quietly(
        TinyConvClassifier(early_stopping=True, validation_fraction=0.5,
                           max_iter=2), X, y,
    )
    assert len(model.validation_scores_) == 2


def test_early_stopping_refusal_counts_rows_as_copies_whatever_the_scale():
    """A row of weight 2 counts as two copies (as check_sample_weight_
    equivalence needs), scaling the weights changes nothing, and class
    weights do not count."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(9, 3, 3))
    y = np.arange(9) % 3
    weights = np.array([4, 3, 4, 3, 4, 3, 2, 2, 2])  # 27 rows as copies
    match = r"^The test_size = 2 should be greater or equal to the number of "
    with pytest.raises(ValueError, match=match):
        TinyConvClassifier(early_stopping=True, validation_fraction=0.2).fit(X, y)
    for scale in (1, 1e-3, 1e3):
        fit_quietly(
            TinyConvClassifier(early_stopping=True, validation_fraction=0.2,
                               max_iter=2),
            X, y, sample_weight=scale * weights,
        )
    with pytest.raises(ValueError, match=match):
        TinyConvClassifier(
            early_stopping=True, validation_fraction=0.2,
            class_weight={0: 1000, 1: 1e-4, 2: 1e-4},
        ).fit(X, y, sample_weight=np.full(9, 1e-3))


def test_early_stopping_goes_on_while_a_saturated_accuracy_hides_progress():
    """check_class_weight_classifiers' binary problem, with early stopping at
    the default step size: with weights 1000 and 1e-4 the weighted validation
    accuracy is 1 from the first epoch, but the validation log-loss still
    falls, so training goes on until the model predicts the heavy class."""
    from sklearn.datasets import make_blobs
    from sklearn.model_selection import train_test_split

    X, y = make_blobs(centers=2, random_state=0, cluster_std=20)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.5,
                                                   random_state=0)
    model = TinyConvClassifier(
        early_stopping=True, validation_fraction=0.2, n_iter_no_change=20,
        max_iter=1000, class_weight={0: 1000, 1: 1e-4}, random_state=0,
    ).fit(X_train, y_train)
    assert min(model.validation_scores_) > 1 - 1e-6
    assert model.n_iter_ > 60
    losses = model.validation_loss_curve_
    assert min(losses) < 0.5 * losses[0]
    assert np.mean(model.predict(X_test) == 0) > 0.87


def test_n_iter_no_change():
    """test_n_iter_no_change / test_n_iter_no_change_inf."""
    X, y = _small()
    model = fit_quietly(
        TinyConvClassifier(tol=1e9, n_iter_no_change=3, max_iter=50), X, y
    )
    # The first epoch sets the best loss; then 3 + 1 epochs without progress.
    assert model.n_iter_ == 5
    model = TinyConvClassifier(tol=1e9, n_iter_no_change=np.inf, max_iter=6)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.n_iter_ == 6


def test_partial_fit_refuses_early_stopping():
    """MLPClassifier's partial_fit raises with early_stopping=True, on the
    first call as after a fit, and the model is left as it was."""
    X, y = _small()
    model = TinyConvClassifier(early_stopping=True, random_state=0)
    with pytest.raises(ValueError, match=r"^partial_fit does not support "
                       r"early_stopping=True"):
        model.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(model, "classes_")
    fit_quietly(model.set_params(max_iter=5), X, y)
    before = model.predict_proba(X)
    with pytest.raises(ValueError, match=r"^partial_fit does not support "
                       r"early_stopping=True"):
        model.partial_fit(X, y)
    assert_array_equal(model.predict_proba(X), before)


def test_verbose_prints_loss_and_validation(capsys):
    """test_verbose_sgd."""
    X, y = _small()
    fit_quietly(TinyConvClassifier(verbose=1, early_stopping=True, max_iter=2),
                X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Validation score: " in out


def test_one_class_is_refused_with_a_clear_error():
    X, y = _small()
    # "one class" is among the words scikit-learn's check_fit2d_1sample accepts.
    with pytest.raises(ValueError, match=r"at least 2 classes.* one class: 0"):
        TinyConvClassifier().fit(X, np.zeros_like(y))
    with pytest.raises(ValueError, match="at least 2 classes"):
        TinyConvClassifier().fit(X, y, sample_weight=y.astype(float))


@pytest.mark.parametrize("classes", [[0], [0, 0], np.array([3])])
def test_partial_fit_refuses_one_declared_class(classes):
    """One declared class is refused with fit's error, never an IndexError at
    predict; the model is left unfitted."""
    X, _ = _small()
    model = TinyConvClassifier(random_state=0)
    with pytest.raises(ValueError, match=r"^TinyConvClassifier needs at least 2 "
                       r"classes, but classes=") as partial:
        model.partial_fit(X, np.full(len(X), classes[0]), classes=classes)
    assert not hasattr(model, "classes_")
    with pytest.raises(ValueError) as full:
        TinyConvClassifier().fit(X, np.full(len(X), classes[0]))
    assert str(partial.value).split(", but")[0] == str(full.value).split(", but")[0]


def test_regression_target_is_refused():
    X, _ = _small()
    with pytest.raises(ValueError, match="Unknown label type"):
        TinyConvClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_multiclass_multioutput_is_refused():
    X, _ = _small()
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        TinyConvClassifier().fit(X, np.c_[np.arange(60) % 3, np.arange(60) % 4])


def test_class_weight_is_validated():
    X, y = _small()
    with pytest.raises(ValueError, match="class_weight must be None or 'balanced'"):
        TinyConvClassifier(class_weight="even").fit(X, y)
    with pytest.raises(ValueError, match="finite non-negative"):
        TinyConvClassifier(class_weight={0: -1.0}).fit(X, y)
    with pytest.raises(ValueError, match="sum to 0"):
        TinyConvClassifier(class_weight={0: 0.0, 1: 0.0}).fit(X, y)
    with pytest.raises(ValueError, match="n_jobs must be None or an int"):
        TinyConvClassifier(n_jobs=1.5).fit(X, y)


def test_balanced_class_weight_helps_the_rare_class():
    X, y = _small(200)
    rare = np.flatnonzero(y == 1)[:10]
    keep = np.r_[np.flatnonzero(y == 0), rare]
    kwargs = {"max_iter": 60, "random_state": 0}
    plain = fit_quietly(TinyConvClassifier(**kwargs), X[keep], y[keep])
    balanced = fit_quietly(
        TinyConvClassifier(class_weight="balanced", **kwargs), X[keep], y[keep]
    )
    test = np.setdiff1d(np.arange(200), keep)
    recall = [
        (m.predict(X[test])[y[test] == 1] == 1).mean() for m in (plain, balanced)
    ]
    assert recall[1] > recall[0]


# ------------------------------------------------------------ labels and input


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_string_and_pandas_labels_and_float32(dtype):
    X, y = _small()
    names = np.array(["cat", "dog"])[y]
    model = fit_quietly(TinyConvClassifier(max_iter=20, random_state=0),
                        X.astype(dtype), names)
    frame = pd.DataFrame(X.reshape(60, 16).astype(dtype))
    series = pd.Series(names, dtype="category")
    from_pandas = fit_quietly(
        TinyConvClassifier(max_iter=20, random_state=0, image_shape=(4, 4)),
        frame, series,
    )
    assert_array_equal(model.classes_, ["cat", "dog"])
    assert_array_equal(from_pandas.predict(frame), model.predict(X.astype(dtype)))
    assert model.predict_proba(X.astype(dtype)).dtype == dtype
    assert model.coef_.dtype == dtype


def test_pooling_and_feature_maps():
    X, y = _small()
    model = fit_quietly(
        TinyConvClassifier(pooling="max", kernel_size=2, padding="valid",
                           pool_size=2, max_iter=5), X, y
    )
    assert model.pool_size_ == [(2, 2)]
    assert model.feature_maps(X).shape == (60, 16, 3, 3)


# --------------------------------------------------------------- ecosystem


def test_pipeline_and_grid_search_neg_log_loss(digits):
    X, y = digits
    pipe = make_pipeline(FunctionTransformer(), TinyConvClassifier(random_state=0))
    search = GridSearchCV(
        pipe, {"tinyconvclassifier__n_filters": [2, 4]}, scoring="neg_log_loss",
        cv=StratifiedKFold(3), error_score="raise",
    )
    with ignoring(CONVERGENCE):
        search.fit(X[:300], y[:300])
    assert search.best_score_ < 0
    assert search.predict_proba(X[300:310]).shape == (10, 10)


def test_calibrated_classifier_cv(digits):
    X, y = digits
    binary = (y == 3).astype(int)
    calibrated = CalibratedClassifierCV(
        TinyConvClassifier(max_iter=30, random_state=0), cv=3
    )
    with ignoring(CONVERGENCE):
        calibrated.fit(X[:300], binary[:300])
    proba = calibrated.predict_proba(X[300:])
    assert proba.shape == (300, 2)
    assert_allclose(proba.sum(axis=1), 1)


def test_cross_val_predict_proba(digits):
    X, y = digits
    with ignoring(CONVERGENCE):
        proba = cross_val_predict(
            TinyConvClassifier(max_iter=30, random_state=0), X[:300], y[:300],
            cv=3, method="predict_proba",
        )
    assert proba.shape == (300, 10)
    assert (proba.argmax(axis=1) == y[:300]).mean() > 0.8


def test_confusion_matrix_display(digits):
    import matplotlib.pyplot as plt

    X, y = digits
    model = fit_quietly(TinyConvClassifier(max_iter=30, random_state=0),
                        X[:400], y[:400])
    display = ConfusionMatrixDisplay.from_estimator(model, X[400:], y[400:])
    assert display.confusion_matrix.shape == (10, 10)
    assert display.confusion_matrix.trace() > 150
    plt.close("all")
