"""The tests' oracles and shared tools, each written once.

- The network from its fitted attributes with ``scipy.signal.convolve2d``
  (``scipy_feature_maps``, ``scipy_predict``): an implementation that shares
  no code with the package; for deep networks, every block's maps
  (``scipy_deep_maps``) and the dense layer's logits (``scipy_deep_logits``).
- Central finite differences (``central_differences``), for every gradient.
- The tutorial: its parameters, images and targets come from
  ``sktinycnn.datasets``; the numbers its script printed come from
  tests/data/reference-run.json (``load_reference_run``), a verbatim copy of
  that run, so that the package's own copy of them is checked against it.
- Warnings: the documented ones (``CONVERGENCE``, ``DOCUMENTED``),
  ``fit_quietly``, which lets only those through, and ``StrictWarnings``,
  which records every warning of a block and fails on any other.
- The grid search of the parallel tests and its assertions, shared by the
  loky and dask tests so that both compare the same search.

Imported by name (``from oracles import ...``): pytest puts tests/ on
``sys.path`` for the test modules (rootdir-relative ``prepend`` import mode).
"""

import contextlib
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from scipy.signal import convolve2d
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.model_selection import GridSearchCV, KFold

from sktinycnn import TinyConvRegressor
from sktinycnn.datasets import TUTORIAL_PARAMS

# ------------------------------------------------------------- the network


def scipy_feature_maps(images, kernels, kernel_intercepts=None, mode="valid"):
    """``maps[n, f] = tanh(sum_c convolve2d(x[n, c], kernels[f, c], mode) + b[f])``.

    ``images`` is (n, channels, height, width), ``kernels`` (filters, channels,
    kh, kw); ``mode`` is ``"valid"`` or ``"same"`` (the estimator's
    ``padding``); no ``kernel_intercepts`` is the tutorial's bias-free network.
    """
    n_filters = len(kernels)
    if kernel_intercepts is None:
        kernel_intercepts = np.zeros(n_filters)
    return np.array(
        [
            [
                np.tanh(
                    sum(
                        convolve2d(image[c], kernels[f, c], mode)
                        for c in range(len(image))
                    )
                    + kernel_intercepts[f]
                )
                for f in range(n_filters)
            ]
            for image in images
        ]
    )


_SCIPY_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "logistic": expit,
    "identity": lambda x: x,
}


def _numpy_pool(maps, pooling, pool_hw):
    """Crop the leftover rows/columns, then max or mean over (ph, pw) tiles."""
    n, f, h, w = maps.shape
    ph, pw = pool_hw
    hp, wp = h // ph, w // pw
    tiles = maps[:, :, : hp * ph, : wp * pw].reshape(n, f, hp, ph, wp, pw)
    return tiles.max(axis=(3, 5)) if pooling == "max" else tiles.mean(axis=(3, 5))


def scipy_deep_maps(images, kernels, kernel_intercepts, blocks, activation):
    """Every block's maps of a deep network, with ``convolve2d`` and reshapes.

    Block ``b`` computes ``act(sum_c convolve2d(x[n, c], kernels[b][f, c],
    padding) + kernel_intercepts[b][f])`` on the previous block's pooled maps
    (block 0 on ``images``), then pools them over non-overlapping windows from
    the top-left, leftover rows and columns dropped.

    ``images`` is (n, channels, height, width); ``kernels`` a list of
    (filters, channels_in, kh, kw) arrays; ``kernel_intercepts`` a list of
    (filters,) vectors or None; ``blocks`` one dict per block with
    ``"padding"`` ("valid" | "same"), ``"pooling"`` (None | "max" | "avg") and
    ``"pool_hw"`` (the effective window); ``activation`` one of "tanh",
    "relu", "logistic", "identity". Returns one ``(feature_maps,
    pooled_maps)`` pair per block, (n, filters, ho, wo) and (n, filters, hp,
    wp); without pooling both are the same array.
    """
    act = _SCIPY_ACTIVATIONS[activation]
    x, maps_per_block = np.asarray(images, dtype=np.float64), []
    for b, spec in enumerate(blocks):
        k = kernels[b]
        biases = np.zeros(len(k)) if kernel_intercepts is None else kernel_intercepts[b]
        maps = np.array(
            [
                [
                    act(
                        sum(
                            convolve2d(image[c], k[f, c], spec["padding"])
                            for c in range(len(image))
                        )
                        + biases[f]
                    )
                    for f in range(len(k))
                ]
                for image in x
            ]
        )
        pooled = maps
        if spec["pooling"] is not None:
            pooled = _numpy_pool(maps, spec["pooling"], spec["pool_hw"])
        maps_per_block.append((maps, pooled))
        x = pooled
    return maps_per_block


def scipy_deep_logits(images, kernels, kernel_intercepts, coef, intercept, blocks,
                      activation):
    """The dense layer's logits (n, n_outputs) on :func:`scipy_deep_maps`.

    The last block's pooled maps flattened in C order over (filters, hp, wp),
    times ``coef``, plus ``intercept`` (None: no intercept).
    """
    maps = scipy_deep_maps(images, kernels, kernel_intercepts, blocks, activation)
    pooled = maps[-1][1]
    logits = pooled.reshape(len(pooled), -1) @ coef
    return logits if intercept is None else logits + intercept


def scipy_predict(model, X):
    """A fitted model's predictions, (n, n_outputs), from its attributes.

    The dense layer and sigmoid on :func:`scipy_feature_maps`, then the target
    map ``target_offset_ + target_scale_ * sigmoid``.
    """
    images = np.reshape(X, (len(X), *model.image_shape_))
    maps = scipy_feature_maps(
        images, model.kernels_[0], model.kernel_intercepts_[0], model.padding
    )
    s = expit(maps.reshape(len(images), -1) @ model.coef_ + model.intercept_)
    return model.target_offset_ + model.target_scale_ * s


#: A fitted model's weights; the kernels' two are lists, one array per block.
WEIGHTS = ("kernels_", "kernel_intercepts_", "coef_", "intercept_")


def fitted_arrays(model, names=WEIGHTS):
    """A fitted model's attributes by name, a list's arrays as ``name[b]``."""
    arrays = {}
    for name in names:
        value = getattr(model, name)
        if isinstance(value, list):
            arrays.update({f"{name}[{b}]": v for b, v in enumerate(value)})
        else:
            arrays[name] = value
    return arrays


def central_differences(function, x, eps=1e-6):
    """The gradient of the scalar ``function`` at ``x``, coordinate by coordinate.

    ``(function(x + eps e_i) - function(x - eps e_i)) / (2 eps)``: its error is
    of order ``eps**2`` times the third derivative, plus the rounding of the
    function's values divided by ``eps``.
    """
    x = np.array(x, dtype=np.float64)
    gradient = np.empty_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        gradient[index] = (function(plus) - function(minus)) / (2 * eps)
    return gradient


# --------------------------------------------------------------- the tutorial

REFERENCE_RUN = Path(__file__).parent / "data" / "reference-run.json"


def load_reference_run():
    """The numbers the tutorial's script printed, and its protocol, as a dict.

    Read from tests/data/reference-run.json on every call: a fresh dict.
    """
    return json.loads(REFERENCE_RUN.read_text())


def tutorial_model(**overrides):
    """``TinyConvRegressor(**TUTORIAL_PARAMS)``, with some parameters changed."""
    return TinyConvRegressor(**{**TUTORIAL_PARAMS, **overrides})


def tutorial_cost(outputs, y):
    """The tutorial's cost: half the squared error, summed over the images."""
    return float((0.5 * (np.asarray(outputs) - y) ** 2).sum())


# ------------------------------------------------------------------- warnings

# A warning is named by ``(category, message)`` as in warnings.filterwarnings:
# a subclass of ``category`` whose message starts with ``message`` (a regular
# expression, case-insensitive), so that the filters and StrictWarnings agree.

#: A fit stopped at ``max_iter``: the expected end of the suite's short fits.
CONVERGENCE = ((ConvergenceWarning, ""),)
#: An explicit batch_size above the number of rows, clipped as MLPRegressor's.
CLIPPED_BATCH_SIZE = (UserWarning, "Got `batch_size` larger than sample size")
#: Every warning fit, partial_fit and predict document; any other is a bug.
DOCUMENTED = (*CONVERGENCE, (DataConversionWarning, ""), CLIPPED_BATCH_SIZE)


def _is_allowed(warning, allowed):
    return any(
        issubclass(warning.category, category)
        and re.match(message, str(warning.message), re.IGNORECASE)
        for category, message in allowed
    )


@contextlib.contextmanager
def ignoring(allowed=CONVERGENCE):
    """Ignore the ``allowed`` warnings; any other meets the filters around.

    Those are pyproject's ``filterwarnings = error``, or an enclosing
    ``pytest.warns``. scikit-learn hands the filters on to its joblib workers
    (loky processes, dask workers), so that the rule holds there too.
    """
    with warnings.catch_warnings():
        for category, message in allowed:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


def fit_quietly(estimator, *args, allowed=CONVERGENCE, **fit_params):
    """``estimator.fit(*args, **fit_params)``, letting only ``allowed`` warnings by.

    By default a ConvergenceWarning: short fits keep the suite fast, and the
    warning itself is tested in test_training.py.
    """
    with ignoring(allowed):
        return estimator.fit(*args, **fit_params)


def initial_model(estimator, X, y):
    """``estimator``'s network at its initial weights, as a fitted model.

    A clone fitted for one epoch of steps too small to move a weight
    (``w - 1e-300 * step == w`` in float64): its weights are the initial draws,
    and its ``loss_`` the loss at them.
    """
    untrained = clone(estimator).set_params(max_iter=1, learning_rate=1e-300)
    return fit_quietly(untrained, X, y)


class StrictWarnings(warnings.catch_warnings):
    """Record every warning of a block; on exit, fail on any not ``allowed``.

    Recording, unlike an error filter, lets the block run to its end as it
    would for a user (a warning does not become an exception that the code
    under test could catch), and names every offending warning at once.
    """

    def __init__(self, allowed=DOCUMENTED):
        super().__init__(record=True)
        self._allowed = allowed

    def __enter__(self):
        self.log = super().__enter__()
        warnings.simplefilter("always")
        return self.log

    def __exit__(self, *exc_info):
        super().__exit__(*exc_info)
        bad = [w for w in self.log if not _is_allowed(w, self._allowed)]
        assert not bad, [f"{w.category.__name__}: {w.message}" for w in bad]


# ------------------------------------------------ the parallel tests' search


def grid_search(n_jobs, **kwargs):
    """The grid search that the loky and dask tests run, 4 candidates x 3 folds.

    Every candidate's estimator carries its own ``random_state``: the serial
    run is the oracle of every backend.
    """
    return GridSearchCV(
        TinyConvRegressor(n_filters=4, kernel_size=3, max_iter=8, random_state=0),
        {"learning_rate": [0.01, 0.05], "kernel_scale": [None, 0.5]},
        cv=KFold(3, shuffle=True, random_state=0),
        n_jobs=n_jobs,
        error_score="raise",  # a failed fit must fail the test, not score NaN
        **kwargs,
    )


def process_id(estimator, X, y):
    """Scorer: the process it runs in."""
    return float(os.getpid())


def fit_pids(search):
    """The processes that ran a search's fits, scored with ``pid=process_id``."""
    return {
        int(pid)
        for split in range(search.n_splits_)
        for pid in search.cv_results_[f"split{split}_test_pid"]
    }


def assert_same_values(left, right, key):
    """Floats to a relative 1e-12, anything else (parameter columns) exactly.

    Fits in other processes may see their arrays aligned differently in
    memory, and SIMD kernels may then round differently.
    """
    left, right = np.asarray(left), np.asarray(right)
    if left.dtype.kind == "f":
        assert_allclose(left, right, rtol=1e-12, err_msg=key)
    else:
        assert_array_equal(left, right, err_msg=key)


def assert_same_cv_results(a, b, skip=()):
    """Every entry of two ``cv_results_`` the same, but the timings and ``skip``."""
    assert a.keys() == b.keys()
    for key in a:
        if key.endswith("_time") or any(part in key for part in skip):
            continue
        if key == "params":
            assert a[key] == b[key]
        else:
            assert_same_values(a[key], b[key], key)
