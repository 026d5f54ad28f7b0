"""Every hyperparameter checked in one place, with one message per parameter.

The table of constraints (``sktinycnn._constraints``) is the only place a
parameter's accepted values are written: ``fit`` checks every parameter
against it, a parameter missing from it is an error, and the helpers that
turn values into sizes do not check again, so both estimators refuse a bad
value with the same words.
"""

import numpy as np
import pytest
from oracles import fit_quietly

from sktinycnn import TinyConvClassifier, TinyConvRegressor
from sktinycnn._constraints import InvalidParameterError

ESTIMATORS = [TinyConvRegressor, TinyConvClassifier]


def _data(n_features=16, n=20):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(n, n_features))
    return X, (X[:, 0] > 0.5).astype(int)


def _names(Estimator):
    return sorted(Estimator().get_params(deep=False))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_constrained_names_are_the_parameters(Estimator):
    params = Estimator().get_params(deep=False)
    constrained = {name for name in params if name in Estimator._parameter_constraints}
    assert constrained == set(params)


@pytest.mark.parametrize(
    "Estimator, name",
    [(Estimator, name) for Estimator in ESTIMATORS for name in _names(Estimator)],
)
def test_fit_checks_every_parameter(Estimator, name):
    """A value no parameter accepts is refused, naming the parameter."""
    X, y = _data()
    with pytest.raises(InvalidParameterError, match=f"^{name} must be "):
        Estimator(**{name: object()}).fit(X, y)


@pytest.mark.parametrize("pooling", ["foo", "MAX", 1, True])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pooling_is_checked_by_both_estimators(Estimator, pooling):
    X, y = _data()
    with pytest.raises(
        InvalidParameterError,
        match=r"^pooling must be None or one of 'max', 'avg', or a list of such "
        r"values with one per block; got ",
    ):
        Estimator(pooling=pooling).fit(X, y)


class _WithAnExtraParameter(TinyConvRegressor):
    def __init__(self, *, extra=1, max_iter=200):
        super().__init__(max_iter=max_iter)
        self.extra = extra


def test_a_parameter_without_constraints_is_an_error():
    X, y = _data()
    with pytest.raises(TypeError, match="'extra' has no constraints"):
        _WithAnExtraParameter().fit(X, y)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"pool_size": 0}, "pool_size must be an int in [1, inf) or a tuple of "
         "two positive ints or 'global', or a list of such values with one per "
         "block; got 0."),
        ({"pool_size": (2,)}, "pool_size must be"),
        ({"pool_size": (0, 2)}, "pool_size must be"),
        ({"pool_size": (2, True)}, "pool_size must be"),
        ({"pool_size": 2.5}, "pool_size must be"),
        ({"pool_size": np.True_}, "pool_size must be"),
        ({"pool_size": "max"}, "pool_size must be"),
        ({"pool_size": None}, "pool_size must be"),
        ({"pool_size": (1, 2, 3)}, "pool_size must be"),
        ({"kernel_size": 0}, "kernel_size must be an int in [1, inf) or a tuple "
         "of two positive ints, or a list of such values with one per block; "
         "got 0."),
        ({"kernel_size": -1}, "kernel_size must be"),
        ({"kernel_size": 2.0}, "kernel_size must be"),
        ({"kernel_size": (2,)}, "kernel_size must be"),
        ({"kernel_size": (2, 0)}, "kernel_size must be"),
        ({"kernel_size": "2"}, "kernel_size must be"),
        ({"kernel_size": None}, "kernel_size must be"),
        ({"kernel_size": True}, "kernel_size must be"),
        ({"image_shape": (3,)}, "image_shape must be None or (height, width) "
         "or (channels, height, width) of positive ints; got (3,)."),
        ({"image_shape": (1, 2, 3, 4)}, "image_shape must be"),
        ({"image_shape": (0, 9)}, "image_shape must be"),
        ({"image_shape": (-3, -3)}, "image_shape must be"),
        ({"image_shape": (3.0, 3)}, "image_shape must be"),
        ({"image_shape": "3x3"}, "image_shape must be"),
        ({"image_shape": 9}, "image_shape must be"),
        ({"image_shape": (True, 9)}, "image_shape must be"),
    ],
)
def test_one_message_per_parameter(params, message):
    """Both estimators refuse a bad value with the same words, the table's."""
    X, y = _data(n_features=9)
    errors = []
    for Estimator in ESTIMATORS:
        with pytest.raises(InvalidParameterError) as info:
            Estimator(pooling="max", **params).fit(X, y)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert errors[0].startswith(message)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_image_shape_not_matching_n_features(Estimator):
    X, y = _data(n_features=9)
    with pytest.raises(ValueError, match=r"holds 8 values .* 9 features"):
        Estimator(image_shape=(2, 4)).fit(X, y)


@pytest.mark.parametrize("random_state", [-1, 2**32, np.int64(-5)])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_random_state_out_of_range_is_named(Estimator, random_state):
    X, y = _data()
    with pytest.raises(
        InvalidParameterError,
        match=r"^random_state must be None or an int in \[0, 4294967295\] or a "
        r"numpy.random.RandomState; got ",
    ):
        Estimator(random_state=random_state).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_largest_seed_is_accepted(Estimator):
    X, y = _data()
    model = fit_quietly(Estimator(random_state=2**32 - 1, max_iter=2), X, y)
    assert model.n_iter_ == 2
