"""Fixtures shared by the test modules (the tools themselves: tests/oracles.py)."""

import pytest
from oracles import CONVERGENCE, ignoring, load_reference_run
from sklearn.datasets import load_digits


@pytest.fixture
def converge_quietly():
    """Ignore ConvergenceWarning for a test (``usefixtures``): its fits are short."""
    with ignoring(CONVERGENCE):
        yield


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 1797 digits, pixels in [0, 1], the digit / 9 as target."""
    X, digit = load_digits(return_X_y=True)
    return X / 16, digit / 9


@pytest.fixture(scope="session")
def search_digits(digits):
    """The first 450 digits: the data of the parallel tests' grid search."""
    X, y = digits
    return X[:450], y[:450]


@pytest.fixture
def reference():
    """The tutorial's printed run (tests/data/reference-run.json), a fresh dict."""
    return load_reference_run()
