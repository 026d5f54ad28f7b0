"""sktinycnn.datasets holds the tutorial's data and numbers, copied faithfully.

Oracles: the reference run printed by the tutorial's script (its verbatim copy
in tests/data/reference-run.json, whose "protocol" describes the run) and the
images as the tutorial's script writes them.
"""

import numpy as np
import pytest
from oracles import tutorial_cost
from sklearn.exceptions import ConvergenceWarning

from sktinycnn import TinyConvRegressor
from sktinycnn.datasets import TUTORIAL_PARAMS, load_tutorial, tutorial_reference

KEYS = ["w1_initial", "w1_final", "w2_final", "cost_before_training",
        "cost_after_training", "start_output", "final_output"]


def test_reference_numbers_equal_the_published_run(reference):
    ours = tutorial_reference()
    assert sorted(ours) == sorted(KEYS)
    for key in KEYS:
        # Copied, not recomputed: equal to the last bit.
        np.testing.assert_array_equal(ours[key], reference[key], err_msg=key)


def test_reference_is_a_fresh_copy(reference):
    ours = tutorial_reference()
    ours["final_output"][:] = 0
    assert tutorial_reference()["final_output"][1] == reference["final_output"][1]


def test_load_tutorial_matches_the_script(reference):
    # x1..x4 exactly as the tutorial's script writes them.
    x1 = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0]])
    x2 = np.array([[1, 1, 1], [0, 0, 0], [0, 0, 0]])
    x3 = np.array([[0, 0, 0], [1, 1, 1], [1, 1, 1]])
    x4 = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1]])
    X, y = load_tutorial()
    assert X.dtype == np.float64 and X.shape == (4, 9)
    np.testing.assert_array_equal(X, np.stack([x1, x2, x3, x4]).reshape(4, 9))
    np.testing.assert_array_equal(y, reference["protocol"]["targets"])
    # Fresh arrays on every call.
    X[:] = 7
    assert load_tutorial()[0].max() == 1


def test_tutorial_params_set_every_parameter():
    """The run must not depend on the estimator's defaults, which may change."""
    assert set(TUTORIAL_PARAMS) == set(TinyConvRegressor().get_params())
    with pytest.raises(TypeError):
        TUTORIAL_PARAMS["max_iter"] = 1  # read-only


def test_tutorial_params_replay_the_run(reference):
    X, y = load_tutorial()
    with pytest.warns(ConvergenceWarning):  # all 1000 epochs, as the tutorial
        model = TinyConvRegressor(**TUTORIAL_PARAMS).fit(X, y)
    assert model.n_iter_ == 1000
    np.testing.assert_allclose(model.predict(X), reference["final_output"],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.kernels_[0][0, 0], reference["w1_final"],
                               rtol=0, atol=1e-12)


def test_demo_start_model_is_the_tutorials_start(reference):
    # The demo rebuilds the untrained network from the documented draw order
    # (kernels first, then dense weights); the tutorial printed its w1 and its
    # outputs and cost before training.
    from sktinycnn.__main__ import run_tutorial

    _, initial, rows, _ = run_tutorial()
    np.testing.assert_allclose(initial.kernels_[0][0, 0], reference["w1_initial"],
                               rtol=0, atol=1e-15)
    X, y = load_tutorial()
    start = initial.predict(X)
    np.testing.assert_allclose(start, reference["start_output"], rtol=1e-12)
    cost = tutorial_cost(start, y)
    assert cost == pytest.approx(reference["cost_before_training"], rel=1e-12)
    assert dict((name, ours) for name, _, ours in rows)["cost before training"] \
        == pytest.approx(cost, rel=1e-15)
