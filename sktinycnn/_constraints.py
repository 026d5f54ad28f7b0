"""Hyperparameter constraints, declared as data and checked in one place.

:data:`PARAMETER_CONSTRAINTS` is the one table: for every constructor parameter
of either estimator, the kinds of value it accepts. :func:`validate_params`
checks an estimator's parameters against it at the start of ``fit`` (never in
``__init__`` or ``set_params``, as scikit-learn requires) and raises one error
that names the parameter, says what is accepted and shows what was given. A
parameter missing from the table is an error too, so a new parameter cannot
go unchecked. The helpers that later turn a value into sizes (the kernel and
pooling windows clipped to the image) trust this check and do not repeat it.

A kind of value is any object with ``accepts(value)`` and ``describe()``: a
parameter that takes a value per convolution block can get a kind that
accepts a list whose entries the single-value kinds accept, without changing
the checker. NumPy only.

Bools are never taken for numbers: ``True`` is not a batch size.
"""

import math
import numbers

import numpy as np

__all__ = [
    "PARAMETER_CONSTRAINTS",
    "PER_BLOCK",
    "Interval",
    "InvalidParameterError",
    "Kind",
    "Options",
    "PerBlock",
    "validate_params",
]

#: The parameters that take one value for every block or a list of values,
#: one per block (``n_filters`` sets the depth).
PER_BLOCK = ("kernel_size", "padding", "pooling", "pool_size")


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter of the wrong type or out of range.

    Both a ValueError and a TypeError, like scikit-learn's own
    ``InvalidParameterError``, so callers may catch either.
    """


def _is_number(value, kind):
    return isinstance(value, kind) and not isinstance(value, bool | np.bool_)


class Interval:
    """Numbers of ``kind`` (``numbers.Integral`` or ``numbers.Real``) in a range.

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``; None
    bounds are open. Real intervals take finite values only.
    """

    def __init__(self, kind, low=None, high=None, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value):
        if not _is_number(value, self.kind):
            return False
        if self.kind is numbers.Real and not math.isfinite(value):
            return False
        low_ok = self.low is None or (
            value >= self.low if self.closed in ("both", "left") else value > self.low
        )
        high_ok = self.high is None or (
            value <= self.high
            if self.closed in ("both", "right")
            else value < self.high
        )
        return low_ok and high_ok

    def describe(self):
        what = "an int" if self.kind is numbers.Integral else "a finite float"
        closed_left = self.closed in ("both", "left") and self.low is not None
        closed_right = self.closed in ("both", "right") and self.high is not None
        left, right = "[" if closed_left else "(", "]" if closed_right else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{what} in {left}{low}, {high}{right}"


class Options:
    """One of a fixed set of values (strings, or special numbers like inf)."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value):
        for option in self.values:
            if isinstance(option, str):
                if isinstance(value, str) and value == option:
                    return True
            elif _is_number(value, numbers.Real) and value == option:
                return True
        return False

    def describe(self):
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(map(repr, self.values))


class Kind:
    """Values that ``test`` accepts, described by ``description``.

    The kinds that are neither a range of numbers nor a set of options: None,
    bools, pairs of sizes, seeds, dicts.
    """

    def __init__(self, test, description):
        self._test, self._description = test, description

    def accepts(self, value):
        return bool(self._test(value))

    def describe(self):
        return self._description


def _int_tuple(lengths, *, tuples_only=False):
    def test(value):
        if tuples_only and not isinstance(value, tuple):
            # A list is read as per-block values (PerBlock), never as a pair.
            return False
        try:
            items = tuple(value)
        except TypeError:
            return False
        return (
            not isinstance(value, str)
            and len(items) in lengths
            and all(_is_number(v, numbers.Integral) and v >= 1 for v in items)
        )

    return test


#: ``None`` is accepted.
NONE = Kind(lambda value: value is None, "None")
#: ``True`` or ``False``.
BOOLEAN = Kind(
    lambda value: isinstance(value, bool | np.bool_), "a bool (True or False)"
)
#: ``numpy.random.RandomState(seed)`` takes seeds in [0, 2**32 - 1] only.
SEED = Interval(numbers.Integral, 0, 2**32 - 1)
RANDOM_STATE_INSTANCE = Kind(
    lambda value: isinstance(value, np.random.RandomState),
    "a numpy.random.RandomState",
)
#: ``verbose`` takes bools too, as scikit-learn's ``verbose`` does.
VERBOSE = Kind(
    lambda value: isinstance(value, bool | np.bool_)
    or (_is_number(value, numbers.Integral) and value >= 0),
    "an int >= 0 or a bool",
)
PAIR = Kind(_int_tuple((2,), tuples_only=True), "a tuple of two positive ints")
SHAPE = Kind(
    _int_tuple((2, 3)), "(height, width) or (channels, height, width) of positive ints"
)
DICT = Kind(lambda value: isinstance(value, dict), "a dict {label: weight}")

POSITIVE_INT = Interval(numbers.Integral, 1, None)


def _filters_per_block(value):
    if POSITIVE_INT.accepts(value):
        return True
    if not isinstance(value, list | tuple | np.ndarray) or np.ndim(value) != 1:
        return False
    return len(value) >= 1 and all(POSITIVE_INT.accepts(v) for v in value)


#: ``n_filters``: one block, or one entry per block.
N_FILTERS = Kind(
    _filters_per_block,
    "a positive int or a non-empty sequence of positive ints (one per block)",
)


class PerBlock:
    """One value for every block, or a list with one value per block.

    A list is always read as per-block values; a tuple keeps its own meaning
    (``kernel_size=(1, 3)`` is a 1x3 kernel in every block). Whether a list's
    length matches the depth is checked where the depth is known
    (:meth:`sktinycnn._base.BaseTinyConv._blocks`).
    """

    def __init__(self, *kinds):
        self.kinds = kinds

    def accepts_one(self, value):
        return any(kind.accepts(value) for kind in self.kinds)

    def accepts(self, value):
        if isinstance(value, list):
            return len(value) >= 1 and all(map(self.accepts_one, value))
        return self.accepts_one(value)

    def describe_one(self):
        return " or ".join(kind.describe() for kind in self.kinds)

    def describe(self):
        return f"{self.describe_one()}, or a list of such values with one per block"

    def first_bad_entry(self, value):
        """``(index, entry)`` of a list's first refused entry, else None."""
        if isinstance(value, list):
            for index, entry in enumerate(value):
                if not self.accepts_one(entry):
                    return index, entry
        return None


#: Every constructor parameter of the estimators and the values it accepts.
#: Parameters of one estimator only are marked so; the rest are shared.
PARAMETER_CONSTRAINTS = {
    # The network.
    "image_shape": [NONE, SHAPE],
    "n_filters": [N_FILTERS],
    "kernel_size": [PerBlock(POSITIVE_INT, PAIR)],
    "padding": [PerBlock(Options("valid", "same"))],
    "pooling": [PerBlock(NONE, Options("max", "avg"))],
    "pool_size": [PerBlock(POSITIVE_INT, PAIR, Options("global"))],
    "activation": [Options("tanh", "relu", "logistic", "identity")],
    "fit_intercept": [BOOLEAN],
    "kernel_scale": [NONE, Interval(numbers.Real, 0, None, closed="neither")],
    # The targets: the regressor's scaling, the classifier's class weights.
    "scale_target": [BOOLEAN],
    "class_weight": [NONE, Options("balanced"), DICT],
    # Training.
    "solver": [Options("sgd", "adam")],
    "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
    "learning_rate_schedule": [Options("constant", "invscaling", "adaptive")],
    "power_t": [Interval(numbers.Real, 0, None)],
    "momentum": [Interval(numbers.Real, 0, 1)],
    "nesterovs_momentum": [BOOLEAN],
    "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
    "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
    "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
    "alpha": [Interval(numbers.Real, 0, None)],
    "batch_size": [Options("auto"), POSITIVE_INT],
    "max_iter": [POSITIVE_INT],
    "tol": [Interval(numbers.Real, 0, None)],
    "n_iter_no_change": [POSITIVE_INT, Options(math.inf)],
    "n_iter_cooldown": [Interval(numbers.Integral, 0, None)],
    "early_stopping": [BOOLEAN],
    "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
    "shuffle": [BOOLEAN],
    "random_state": [NONE, SEED, RANDOM_STATE_INSTANCE],
    "warm_start": [BOOLEAN],
    "verbose": [VERBOSE],
    # scikit-learn's n_jobs: 0 means nothing (joblib refuses it too).
    "n_jobs": [NONE, Interval(numbers.Integral, None, -1),
               Interval(numbers.Integral, 1, None)],
}


def validate_params(params, constraints=PARAMETER_CONSTRAINTS):
    """Check every parameter against its constraints.

    Parameters
    ----------
    params : dict
        Parameter values by name (``estimator.get_params(deep=False)``).
    constraints : dict, default=PARAMETER_CONSTRAINTS
        Accepted kinds of value by name; each a list of objects with
        ``accepts(value)`` and ``describe()``.

    Raises
    ------
    InvalidParameterError
        Naming the first parameter that none of its constraints accepts.
    TypeError
        Naming a parameter that has no constraints: it could not be checked.

    Examples
    --------
    >>> validate_params({"max_iter": 10})
    >>> validate_params({"max_iter": True})
    Traceback (most recent call last):
    ...
    sktinycnn._constraints.InvalidParameterError: max_iter must be an int in [1, \
inf); got True.
    """
    for name, value in params.items():
        accepted = constraints.get(name)
        if accepted is None:
            raise TypeError(
                f"The parameter {name!r} has no constraints, so its value cannot "
                "be checked: declare the values it accepts in the table of "
                "constraints (sktinycnn._constraints.PARAMETER_CONSTRAINTS, or "
                "the estimator's _parameter_constraints)."
            )
        if any(kind.accepts(value) for kind in accepted):
            continue
        for kind in accepted:
            bad = kind.first_bad_entry(value) if isinstance(kind, PerBlock) else None
            if bad is not None:
                index, entry = bad
                raise InvalidParameterError(
                    f"{name}[{index}] must be {kind.describe_one()}; got "
                    f"{entry!r} in {name}={value!r}."
                )
        if _is_number(value, numbers.Real) and not math.isfinite(value):
            raise InvalidParameterError(f"{name} must be finite; got {value!r}.")
        described = " or ".join(kind.describe() for kind in accepted)
        raise InvalidParameterError(f"{name} must be {described}; got {value!r}.")
