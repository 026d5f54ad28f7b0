"""Behaviours a user moving from the MLP estimators expects, found by running
scikit-learn's own test_mlp.py against TinyConvRegressor and
TinyConvClassifier."""

import numpy as np
import pytest
from oracles import fit_quietly
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from sktinycnn import TinyConvClassifier, TinyConvRegressor


def _data(n=30, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 9))
    return X, X.sum(axis=1)


def test_n_iter_no_change_inf_runs_to_max_iter():
    X, y = _data()
    model = TinyConvRegressor(n_iter_no_change=np.inf, tol=1e9, max_iter=7)
    # tol=1e9: no epoch improves enough, and still nothing stops early.
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        model.fit(X, y)
    assert model.n_iter_ == 7
    model.set_params(warm_start=True, max_iter=3)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        model.fit(X, y)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 10


def test_n_iter_no_change_inf_with_early_stopping_runs_to_max_iter():
    X, y = _data()
    model = TinyConvRegressor(
        n_iter_no_change=np.inf, early_stopping=True, max_iter=5, random_state=0
    )
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.n_iter_ == 5 == len(model.validation_scores_)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_a_constant_first_target_refuses_other_targets(how):
    """Fitted on a constant target, the model can predict that value only:
    a different later target would be mapped to 0.5 and dropped silently."""
    model = TinyConvRegressor(warm_start=how == "warm_start", max_iter=2)
    fit = model.partial_fit if how == "partial_fit" else model.fit
    with pytest.warns(ConvergenceWarning) if how == "warm_start" else _nothing():
        fit([[2.0]], [4.0])
    with pytest.raises(ValueError, match="outside the range the model can predict"):
        fit([[2.0]], [1.0])
    with pytest.warns(ConvergenceWarning) if how == "warm_start" else _nothing():
        fit([[2.0]], [4.0])  # the same value is fine
    assert model.predict([[2.0]]) == pytest.approx(4.0)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    "name",
    ["n_filters", "kernel_size", "batch_size", "max_iter", "n_iter_no_change",
     "learning_rate", "alpha", "tol", "momentum", "kernel_scale", "power_t",
     "validation_fraction", "beta_1", "epsilon"],
)
def test_bools_are_not_numbers(name):
    X, y = _data()
    with pytest.raises((TypeError, ValueError), match=f"^{name} must be .*got True"):
        TinyConvRegressor(**{name: True}).fit(X, y)


@pytest.mark.parametrize("Estimator", [TinyConvClassifier, TinyConvRegressor])
def test_mlp_partial_fit_after_fit(Estimator):
    """scikit-learn's test_mlp_partial_fit_after_fit (gh-25693): after a fit
    with early_stopping=True, partial_fit raises MLP's ValueError."""
    X_iris, y_iris = load_iris(return_X_y=True)
    mlp = fit_quietly(Estimator(early_stopping=True, random_state=0), X_iris, y_iris)

    msg = "partial_fit does not support early_stopping=True"
    with pytest.raises(ValueError, match=msg):
        mlp.partial_fit(X_iris, y_iris)


@pytest.mark.parametrize("Estimator", [TinyConvClassifier, TinyConvRegressor])
def test_partial_fit_is_unavailable_with_early_stopping(Estimator):
    """As a method that scikit-learn's available_if hides: hasattr is False, so
    scikit-learn's checks and meta-estimators do not call it; getting it
    raises MLP's ValueError, as does a bound method taken before
    set_params(early_stopping=True)."""
    X_iris, y_iris = load_iris(return_X_y=True)
    model = Estimator(early_stopping=True)
    assert not hasattr(model, "partial_fit")
    with pytest.raises(ValueError, match=r"^partial_fit does not support"):
        model.partial_fit  # noqa: B018
    assert hasattr(model.set_params(early_stopping=False), "partial_fit")
    bound = model.partial_fit
    model.set_params(early_stopping=True)
    with pytest.raises(ValueError, match=r"^partial_fit does not support"):
        if Estimator is TinyConvClassifier:
            bound(X_iris, y_iris, classes=[0, 1, 2])
        else:
            bound(X_iris, y_iris)
    assert not hasattr(model, "n_iter_")
