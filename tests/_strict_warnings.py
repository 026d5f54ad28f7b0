"""A context manager for tests: record every warning, fail on undocumented ones."""

import warnings

from sklearn.exceptions import ConvergenceWarning, DataConversionWarning


def documented_warning(warning):
    """The documented warnings of fit/predict; anything else is a bug."""
    if issubclass(warning.category, ConvergenceWarning | DataConversionWarning):
        return True
    return warning.category is UserWarning and "batch_size" in str(warning.message)


def only_convergence_warning(warning):
    return issubclass(warning.category, ConvergenceWarning)


class StrictWarnings(warnings.catch_warnings):
    """Record every warning; on exit, fail on any that ``allowed`` rejects."""

    def __init__(self, allowed=documented_warning):
        super().__init__(record=True)
        self._allowed = allowed

    def __enter__(self):
        self.log = super().__enter__()
        warnings.simplefilter("always")
        return self.log

    def __exit__(self, *exc_info):
        super().__exit__(*exc_info)
        bad = [w for w in self.log if not self._allowed(w)]
        assert not bad, [f"{w.category.__name__}: {w.message}" for w in bad]
