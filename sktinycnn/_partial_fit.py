"""Whether ``partial_fit`` is available: not while ``early_stopping=True``.

:class:`unless_early_stopping` wraps each estimator's ``partial_fit``; with
``early_stopping=True`` getting the method raises
:class:`PartialFitEarlyStoppingError`, MLP's ValueError that is also an
AttributeError, so ``hasattr(estimator, "partial_fit")`` is False. NumPy only.
"""

import functools
import types

import numpy as np

__all__ = ["PartialFitEarlyStoppingError", "unless_early_stopping"]


class PartialFitEarlyStoppingError(ValueError, AttributeError):
    """``partial_fit`` while ``early_stopping=True``: there is no fixed
    validation set across calls.

    A ValueError, as MLPRegressor's and MLPClassifier's refusal; also an
    AttributeError, so that ``hasattr(estimator, "partial_fit")`` is False,
    as for a method that scikit-learn's ``available_if`` hides.
    """

    def __init__(self):
        # MLPRegressor's and MLPClassifier's words first.
        super().__init__(
            "partial_fit does not support early_stopping=True: there is no fixed "
            "validation set across calls. Use fit, or set early_stopping=False."
        )


class unless_early_stopping:
    """Make ``partial_fit`` unavailable while ``early_stopping=True``.

    Getting the method from such an estimator raises
    :class:`PartialFitEarlyStoppingError`: calling it fails with MLP's
    ValueError, and scikit-learn's checks and meta-estimators, which look for
    ``partial_fit`` with ``hasattr``, see none. From the class it is the plain
    function (signatures, metadata routing, documentation).
    """

    def __init__(self, method):
        self.method = method
        functools.update_wrapper(self, method)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.method
        if _early_stopping(obj):
            raise PartialFitEarlyStoppingError()
        return types.MethodType(self.method, obj)


def _early_stopping(estimator):
    # An invalid value leaves partial_fit available, for fit's check to name.
    value = getattr(estimator, "early_stopping", False)
    return isinstance(value, bool | np.bool_) and bool(value)
