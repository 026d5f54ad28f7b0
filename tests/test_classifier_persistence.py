"""TinyConvClassifier persists as plain data: pickle and skops round trips
are exact, and skops needs to trust only this package's class."""

import pickle

import numpy as np
import pytest
import skops.io as sio
from numpy.testing import assert_array_equal
from oracles import fit_quietly

from sktinycnn import TinyConvClassifier

TRUSTED = f"{TinyConvClassifier.__module__}.{TinyConvClassifier.__qualname__}"


def _fitted(kind, dtype):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(40, 5, 5)).astype(dtype)
    if kind == "strings":
        y = np.array(["cat", "dog", "owl"])[rng.randint(0, 3, 40)]
    elif kind == "binary":
        y = rng.randint(0, 2, 40)
    else:
        y = rng.randint(0, 2, (40, 3))
    model = TinyConvClassifier(n_filters=2, max_iter=5, random_state=0,
                               early_stopping=kind == "binary")
    return fit_quietly(model, X, y), X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["strings", "binary", "multilabel"])
def test_skops_trusts_only_the_classifier(kind, dtype, tmp_path):
    model, X = _fitted(kind, dtype)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    assert sio.get_untrusted_types(file=path) == [TRUSTED]
    loaded = sio.load(path, trusted=[TRUSTED])
    assert_array_equal(loaded.classes_, model.classes_)
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(sio.dumps(model))


@pytest.mark.parametrize("kind", ["strings", "binary", "multilabel"])
def test_pickle_is_bit_identical(kind):
    model, X = _fitted(kind, np.float64)
    loaded = pickle.loads(pickle.dumps(model))
    assert pickle.dumps(loaded) == pickle.dumps(model)
    assert_array_equal(loaded.predict_log_proba(X), model.predict_log_proba(X))
