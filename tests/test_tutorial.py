"""The tutorial's run, number for number (tests/data/reference-run.json).

The reference numbers were printed by the tutorial's own script;
tests/data/reference-run.json is a verbatim copy of them. The model is
``TinyConvRegressor(**TUTORIAL_PARAMS)`` on ``load_tutorial()``'s images, both
checked against the script in test_datasets.py.
"""

import numpy as np
import pytest
from oracles import (
    fit_quietly,
    initial_model,
    scipy_feature_maps,
    tutorial_cost,
    tutorial_model,
)
from scipy.special import expit

from sktinycnn.datasets import TUTORIAL_PARAMS, load_tutorial

X, Y = load_tutorial()
SEED, SCALE = TUTORIAL_PARAMS["random_state"], TUTORIAL_PARAMS["kernel_scale"]


def _network_outputs(w1, w2):
    """The tutorial's own forward pass (2x2 kernel w1, dense w2, no biases)."""
    maps = scipy_feature_maps(X.reshape(4, 1, 3, 3), w1.reshape(1, 1, 2, 2))
    return expit(maps.reshape(4, -1) @ w2)[:, 0]


@pytest.fixture(scope="module")
def fitted():
    # 1000 epochs without a stopping rule end at max_iter: that warning is the
    # expected outcome of the tutorial's protocol.
    return fit_quietly(tutorial_model(), X, Y)


def _untrained_model():
    return initial_model(tutorial_model(), X, Y)


def test_initial_weights_are_the_tutorials_exactly(reference):
    model = _untrained_model()
    np.testing.assert_array_equal(model.kernels_[0][0, 0], reference["w1_initial"])
    rng = np.random.RandomState(SEED)
    rng.randn(2, 2)
    np.testing.assert_array_equal(model.coef_, rng.randn(4, 1) * SCALE)


def test_cost_before_training(reference):
    rng = np.random.RandomState(SEED)
    w1, w2 = rng.randn(2, 2) * SCALE, rng.randn(4, 1) * SCALE
    start = _network_outputs(w1, w2)
    np.testing.assert_allclose(start, reference["start_output"], rtol=1e-9)
    assert tutorial_cost(start, Y) == pytest.approx(
        reference["cost_before_training"], rel=1e-9
    )
    # The estimator's own view: outputs of the initial network, and its epoch
    # loss (the mean of the four per-image costs) times four.
    model = _untrained_model()
    np.testing.assert_allclose(model.predict(X), start, rtol=1e-9)
    assert model.loss_ * len(Y) == pytest.approx(
        reference["cost_before_training"], rel=1e-9
    )


def test_final_weights(fitted, reference):
    assert fitted.n_iter_ == 1000
    assert fitted.t_ == 4000
    np.testing.assert_allclose(
        fitted.kernels_[0][0, 0], reference["w1_final"], rtol=1e-9
    )
    np.testing.assert_allclose(fitted.coef_[:, 0], reference["w2_final"], rtol=1e-9)


def test_final_outputs_and_cost(fitted, reference):
    final = fitted.predict(X)
    np.testing.assert_allclose(final, reference["final_output"], rtol=1e-9)
    assert tutorial_cost(final, Y) == pytest.approx(
        reference["cost_after_training"], rel=1e-9
    )
    # The same outputs through the tutorial's own forward pass.
    np.testing.assert_allclose(
        _network_outputs(fitted.kernels_[0][0, 0], fitted.coef_), final, rtol=1e-12
    )


def test_images_given_as_3d_array_train_identically(fitted):
    model = fit_quietly(tutorial_model(image_shape=None), X.reshape(4, 3, 3), Y)
    np.testing.assert_array_equal(model.kernels_, fitted.kernels_)
    np.testing.assert_array_equal(model.coef_, fitted.coef_)
