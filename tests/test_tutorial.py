"""The tutorial's run, number for number (tests/data/reference-run.json).

The reference numbers were printed by the tutorial's own script;
tests/data/reference-run.json is a verbatim copy of them.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import convolve2d
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from sktinycnn import TinyConvRegressor

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "reference-run.json").read_text()
)

# The tutorial's images x1..x4 (3x3), flattened row by row, and its targets.
TUTORIAL_X = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1, 1, 1, 1],
    ],
    dtype=float,
)
TUTORIAL_Y = np.array(REFERENCE["protocol"]["targets"])


def tutorial_model(**overrides):
    params = dict(
        image_shape=(3, 3),
        kernel_size=2,
        kernel_scale=4.0,
        learning_rate=0.7,
        solver="sgd",
        momentum=0.0,
        batch_size=1,
        shuffle=False,
        max_iter=1000,
        alpha=0.0,
        fit_intercept=False,
        scale_target=False,
        random_state=598765,
        # The tutorial runs exactly 1000 epochs: never stop early.
        tol=0.0,
        n_iter_no_change=1000,
    )
    params.update(overrides)
    return TinyConvRegressor(**params)


def _cost(outputs):
    return float((0.5 * (outputs - TUTORIAL_Y) ** 2).sum())


def _network_outputs(w1, w2):
    """The tutorial's own forward pass, for the cost before training."""
    return np.array(
        [
            expit(np.tanh(convolve2d(x.reshape(3, 3), w1, "valid")).reshape(-1) @ w2)[0]
            for x in TUTORIAL_X
        ]
    )


@pytest.fixture(scope="module")
def fitted():
    model = tutorial_model()
    # 1000 epochs without a stopping rule end at max_iter: that warning is the
    # expected outcome of the tutorial's protocol.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(TUTORIAL_X, TUTORIAL_Y)


def _untrained_model():
    """The tutorial's model after one epoch of steps too small to move a weight.

    ``w - 1e-300 * grad == w`` in float64, so its weights are the initial draws.
    """
    model = tutorial_model(max_iter=1, learning_rate=1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(TUTORIAL_X, TUTORIAL_Y)


def test_initial_weights_are_the_tutorials_exactly():
    model = _untrained_model()
    np.testing.assert_array_equal(model.kernels_[0, 0], REFERENCE["w1_initial"])
    rng = np.random.RandomState(598765)
    rng.randn(2, 2)
    np.testing.assert_array_equal(model.coef_, rng.randn(4, 1) * 4)


def test_cost_before_training():
    rng = np.random.RandomState(598765)
    w1, w2 = rng.randn(2, 2) * 4, rng.randn(4, 1) * 4
    start = _network_outputs(w1, w2)
    np.testing.assert_allclose(start, REFERENCE["start_output"], rtol=1e-9)
    assert _cost(start) == pytest.approx(REFERENCE["cost_before_training"], rel=1e-9)
    # The estimator's own view: outputs of the initial network, and its epoch
    # loss (the mean of the four per-image costs) times four.
    model = _untrained_model()
    np.testing.assert_allclose(model.predict(TUTORIAL_X), start, rtol=1e-9)
    assert model.loss_ * len(TUTORIAL_Y) == pytest.approx(
        REFERENCE["cost_before_training"], rel=1e-9
    )


def test_final_weights(fitted):
    assert fitted.n_iter_ == 1000
    assert fitted.t_ == 4000
    np.testing.assert_allclose(fitted.kernels_[0, 0], REFERENCE["w1_final"], rtol=1e-9)
    np.testing.assert_allclose(fitted.coef_[:, 0], REFERENCE["w2_final"], rtol=1e-9)


def test_final_outputs_and_cost(fitted):
    final = fitted.predict(TUTORIAL_X)
    np.testing.assert_allclose(final, REFERENCE["final_output"], rtol=1e-9)
    assert _cost(final) == pytest.approx(REFERENCE["cost_after_training"], rel=1e-9)
    # The same outputs through the tutorial's own forward pass.
    np.testing.assert_allclose(
        _network_outputs(fitted.kernels_[0, 0], fitted.coef_), final, rtol=1e-12
    )


def test_images_given_as_3d_array_train_identically(fitted):
    model = tutorial_model(image_shape=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(TUTORIAL_X.reshape(4, 3, 3), TUTORIAL_Y)
    np.testing.assert_array_equal(model.kernels_, fitted.kernels_)
    np.testing.assert_array_equal(model.coef_, fitted.coef_)
