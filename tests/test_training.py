"""The training engine: solvers, schedules, batches, stopping, early stopping,
incremental learning, divergence, interruption, progress and callbacks."""

import re
import warnings

import numpy as np
import pytest
from oracles import CONVERGENCE, fit_quietly, ignoring, initial_model
from reference import loss_and_gradients
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV

from sktinycnn import TinyConvRegressor


def images_and_targets(n=150, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 36))
    images = X.reshape(n, 6, 6)
    y = np.tanh(images[:, 1:4, 1:4].mean(axis=(1, 2)) * 4 - 2) + 0.05 * rng.randn(n)
    return X, y


def _network_and_targets(model, y):
    """A fitted model's weights as the network's params, and y in sigmoid units."""
    params = {
        "kernels": model.kernels_[0],
        "kernel_intercepts": model.kernel_intercepts_[0],
        "coef": model.coef_,
        "intercept": model.intercept_,
    }
    return params, ((y - model.target_offset_) / model.target_scale_)[:, None]


# ------------------------------------------------------------ loss trajectories


def test_loss_trajectories_of_the_solvers():
    """Same data, seed and epochs: the solvers' loss curves in a known order."""
    X, y = images_and_targets()
    common = dict(n_filters=2, max_iter=40, tol=0.0, n_iter_no_change=np.inf,
                  random_state=0, batch_size=50)
    curves = {}
    for name, params in {
        "sgd": dict(solver="sgd", learning_rate=0.5, momentum=0.0),
        "sgd+momentum": dict(
            solver="sgd", learning_rate=0.5, momentum=0.9, nesterovs_momentum=False
        ),
        "sgd+nesterov": dict(solver="sgd", learning_rate=0.5, momentum=0.9),
        "adam": dict(solver="adam", learning_rate=0.02),
    }.items():
        model = fit_quietly(TinyConvRegressor(**common, **params), X, y)
        curves[name] = np.array(model.loss_curve_)
        assert len(curves[name]) == 40
    # Identical first epoch loss would mean identical first steps: they differ
    # only from the first update on, so all start at the same initial loss level.
    first = [curve[0] for curve in curves.values()]
    assert max(first) / min(first) < 1.5
    # Momentum accelerates plain SGD; Adam beats plain SGD at these settings.
    assert curves["sgd+momentum"][-1] < 0.8 * curves["sgd"][-1]
    assert curves["sgd+nesterov"][-1] < 0.8 * curves["sgd"][-1]
    assert curves["adam"][-1] < 0.8 * curves["sgd"][-1]
    # Nesterov and classical momentum are different rules.
    assert not np.allclose(curves["sgd+momentum"], curves["sgd+nesterov"])
    for curve in curves.values():
        assert curve[-1] < curve[0]


def test_epoch_loss_is_the_mean_of_batch_losses():
    X, y = images_and_targets(n=60)
    estimator = TinyConvRegressor(
        max_iter=1, batch_size=60, shuffle=False, random_state=0, alpha=0.01,
        padding="valid", pooling=None,
    )
    model = fit_quietly(estimator, X, y)
    # One full batch: the epoch loss is the loss at the initial weights.
    init = initial_model(estimator, X, y)
    params, targets = _network_and_targets(init, y)
    loss, _ = loss_and_gradients(
        params, X.reshape(60, 1, 6, 6), targets, None, 0.01, "valid"
    )
    assert model.loss_curve_[0] == pytest.approx(loss, rel=1e-12)


# -------------------------------------------------------------------- schedules


def test_invscaling_step_sizes():
    X, y = images_and_targets(n=50)
    model = fit_quietly(
        TinyConvRegressor(
            solver="sgd",
            learning_rate=0.3,
            power_t=0.5,
            learning_rate_schedule="invscaling",
            max_iter=3,
            tol=0.0,
        ),
        X,
        y,
    )
    assert model.t_ == 150
    rate = model._training_state["optimizer"]["learning_rate"]
    assert rate == pytest.approx(0.3 / 151**0.5)


def test_adaptive_schedule_divides_by_five_until_tiny(capsys):
    X, y = images_and_targets(n=50)
    model = TinyConvRegressor(
        solver="sgd",
        learning_rate=0.1,
        learning_rate_schedule="adaptive",
        tol=1.0,
        n_iter_no_change=1,
        n_iter_cooldown=0,
        max_iter=1000,
        verbose=1,
    ).fit(X, y)
    out = capsys.readouterr().out
    # tol=1 means "never improves": the rule fires at epoch 3 (MLPRegressor
    # counts from the second epoch and fires above n_iter_no_change), then every
    # 2 epochs, dividing the rate by 5 while it is above 1e-6: 8 times, from 0.1
    # to 0.1 / 5**8 = 2.56e-7; the ninth time it stops.
    rates = re.findall(r"Setting learning rate to ([0-9.]+)", out)
    assert rates == [f"{0.1 / 5**k:f}" for k in range(1, 9)]
    assert out.count("Learning rate too small. Stopping.") == 1
    rate = model._training_state["optimizer"]["learning_rate"]
    assert rate == pytest.approx(0.1 / 5**8)
    assert model.n_iter_ == 3 + 2 * 8


# ---------------------------------------------------------------------- batches


def test_batch_size_clipped_with_warning():
    X, y = images_and_targets(n=30)
    model = TinyConvRegressor(batch_size=100, max_iter=2)
    with pytest.warns(UserWarning, match="batch_size.*clipped to 30"):
        fit_quietly(model, X, y)
    assert model.n_iter_ == 2


def test_batch_size_one_is_per_image_updates():
    X, y = images_and_targets(n=5)
    estimator = TinyConvRegressor(
        batch_size=1, shuffle=False, max_iter=1, solver="sgd", momentum=0.0,
        learning_rate=0.5, random_state=0, alpha=0.0, padding="valid", pooling=None,
    )
    one = fit_quietly(estimator, X, y)
    init = initial_model(estimator, X, y)
    params, targets = _network_and_targets(init, y)
    for i in range(5):  # the tutorial's loop: one image, one update
        _, grads = loss_and_gradients(
            params,
            X[i : i + 1].reshape(1, 1, 6, 6),
            targets[i : i + 1],
            None,
            0.0,
            "valid",
        )
        params = {k: v - 0.5 * grads[k] for k, v in params.items()}
    np.testing.assert_allclose(one.coef_, params["coef"], rtol=1e-12)
    np.testing.assert_allclose(one.kernels_[0], params["kernels"], rtol=1e-12)


def test_shuffle_uses_random_state():
    X, y = images_and_targets(n=60)
    params = dict(batch_size=10, max_iter=3, tol=0.0)
    a = fit_quietly(TinyConvRegressor(random_state=1, **params), X, y)
    b = fit_quietly(TinyConvRegressor(random_state=1, **params), X, y)
    c = fit_quietly(TinyConvRegressor(random_state=1, shuffle=False, **params), X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.allclose(a.coef_, c.coef_)


# --------------------------------------------------------------------- stopping


def test_convergence_warning_wording_and_n_iter():
    X, y = images_and_targets(n=40)
    model = TinyConvRegressor(max_iter=5, tol=0.0)
    with pytest.warns(
        ConvergenceWarning,
        match=re.escape(
            "Stochastic Optimizer: Maximum iterations (5) reached and the "
            "optimization hasn't converged yet."
        ),
    ):
        model.fit(X, y)
    assert model.n_iter_ == 5 and len(model.loss_curve_) == 5
    assert model.loss_ == model.loss_curve_[-1]
    assert model.best_loss_ == min(model.loss_curve_)
    assert model.validation_scores_ is None and model.best_validation_score_ is None


def test_tol_and_n_iter_no_change_stop_training(capsys):
    X, y = images_and_targets(n=40)
    # tol above any possible improvement: the first epoch improves on "no loss
    # yet", the next n_iter_no_change + 1 do not, and then training stops.
    model = TinyConvRegressor(tol=1.0, n_iter_no_change=3, n_iter_cooldown=0,
                              max_iter=100, verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    assert model.n_iter_ == 5
    assert (
        "Training loss did not improve more than tol=1.000000 for 3 "
        "consecutive epochs. Stopping." in capsys.readouterr().out
    )


# ------------------------------------------------------------------- cooldown

#: tol above any possible improvement: the rule fires at epoch 4 (the first
#: epoch improves on "no loss yet", the next three do not).
FIRES_AT_4 = dict(tol=1.0, n_iter_no_change=2, batch_size=20, n_filters=2,
                  learning_rate=0.03, random_state=0)


def test_cooldown_is_epochs_at_a_fifth_of_the_step_size(capsys):
    X, y = images_and_targets(n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        cooled = TinyConvRegressor(
            n_iter_cooldown=3, max_iter=50, verbose=1, **FIRES_AT_4
        ).fit(X, y)
    assert cooled.n_iter_ == 7 and len(cooled.loss_curve_) == 7
    out = capsys.readouterr().out
    assert (
        "Training loss did not improve more than tol=1.000000 for 2 consecutive "
        "epochs. Cooling down for 3 epochs at learning rate 0.006000." in out
    )
    assert "Stopping." not in out
    # The same as stopping at the rule, then three more epochs at 0.03 / 5 with
    # the optimiser's state kept (a warm start).
    stepwise = TinyConvRegressor(n_iter_cooldown=0, max_iter=50, warm_start=True,
                                 **FIRES_AT_4).fit(X, y)
    assert stepwise.n_iter_ == 4
    stepwise.set_params(learning_rate=0.03 * 0.2, max_iter=3,
                        n_iter_no_change=np.inf)
    fit_quietly(stepwise, X, y)
    np.testing.assert_allclose(cooled.coef_, stepwise.coef_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cooled.kernels_[0], stepwise.kernels_[0], rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(cooled.loss_curve_, stepwise.loss_curve_, rtol=1e-12)
    # The step size is back to learning_rate for a warm start.
    assert cooled._training_state["optimizer"]["learning_rate"] == 0.03
    stopped = TinyConvRegressor(n_iter_cooldown=0, max_iter=50, **FIRES_AT_4)
    assert not np.allclose(stopped.fit(X, y).coef_, cooled.coef_)


def test_cooldown_ends_at_max_iter_without_a_convergence_warning():
    X, y = images_and_targets(n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the rule fired
        model = TinyConvRegressor(n_iter_cooldown=5, max_iter=6, **FIRES_AT_4)
        model.fit(X, y)
    assert model.n_iter_ == 6
    assert model._training_state["optimizer"]["learning_rate"] == 0.03
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        TinyConvRegressor(n_iter_cooldown=5, max_iter=3, **FIRES_AT_4).fit(X, y)


def test_partial_fit_never_cools_down():
    X, y = images_and_targets(n=60)
    models = [TinyConvRegressor(n_iter_cooldown=k, **FIRES_AT_4) for k in (0, 2)]
    for _ in range(8):  # the rule fires on the fourth call and after
        for model in models:
            model.partial_fit(X, y)
    assert models[1]._training_state["optimizer"]["learning_rate"] == 0.03
    np.testing.assert_array_equal(models[0].coef_, models[1].coef_)


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = images_and_targets(n=40)
    model = fit_quietly(TinyConvRegressor(max_iter=4, tol=0.0, verbose=1), X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for i, (line, loss) in enumerate(zip(lines, model.loss_curve_, strict=True)):
        assert line == f"Iteration {i + 1}, loss = {loss:.8f}"


# --------------------------------------------------------------- early stopping


def test_early_stopping_restores_the_best_validation_weights(capsys):
    X, y = images_and_targets(n=200)
    params = dict(
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        learning_rate=0.2,
        random_state=3,
        n_filters=2,
        tol=0.0,
        batch_size=20,
    )
    model = TinyConvRegressor(max_iter=300, verbose=1, **params).fit(X, y)
    out = capsys.readouterr().out
    assert "Validation score:" in out
    assert (
        "Validation score (or, at a tied score, validation loss) did not improve "
        "more than tol" in out
    )
    scores = model.validation_scores_
    assert len(scores) == model.n_iter_ == len(model.validation_loss_curve_)
    best_epoch = int(np.argmax(scores))
    assert model.best_validation_score_ == max(scores)
    # Training went on past the best epoch, and the model is the best epoch's:
    # equal to a run stopped right after that epoch (same seed, same split).
    assert best_epoch < model.n_iter_ - 1
    truncated = fit_quietly(TinyConvRegressor(max_iter=best_epoch + 1, **params), X, y)
    np.testing.assert_allclose(model.coef_, truncated.coef_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        model.kernels_[0], truncated.kernels_[0], rtol=1e-12, atol=1e-15
    )
    assert model.best_loss_ is None


def _record(scores_and_losses, tol):
    """Run the early-stopping bookkeeping over given (score, loss) epochs."""
    from types import SimpleNamespace

    from sktinycnn._training import Trainer, TrainingState

    epochs = iter(scores_and_losses)
    trainer = SimpleNamespace(
        params={"tol": tol}, validation=lambda theta: next(epochs)
    )
    state = TrainingState(optimizer=None, rng=None)
    kept, counts = [], []
    for _ in scores_and_losses:
        kept.append(Trainer._record_validation(trainer, None, state))
        counts.append(state.no_improvement_count)
    return kept, counts, state


def test_a_tied_score_improves_when_the_validation_loss_falls():
    """A saturated score (1.0 from the first epoch) does not stop training
    while the validation loss falls by more than tol; the kept epoch is the
    tied one of lowest loss, the later on equal loss."""
    epochs = [(1.0, 0.57), (1.0, 0.50), (1.0, 0.499995), (1.0, 0.52), (1.0, 0.45),
              (1.0, 0.45), (0.9, 0.30)]
    kept, counts, state = _record(epochs, tol=1e-4)
    assert counts == [0, 0, 1, 2, 0, 1, 2]
    assert kept == [True, True, True, False, True, True, False]
    assert state.best_validation_score == 1.0
    assert state.best_validation_loss == 0.45


def test_a_better_score_wins_over_a_lower_loss():
    epochs = [(0.5, 0.3), (0.75, 0.9), (0.75 + 5e-5, 0.95), (0.7, 0.1)]
    kept, counts, state = _record(epochs, tol=1e-4)
    assert kept == [True, True, False, False]
    assert counts == [0, 0, 1, 2]
    # The best score is the highest seen, as MLP's best_validation_score_.
    assert state.best_validation_score == 0.75 + 5e-5
    assert state.best_validation_loss == 0.9


def test_validation_score_is_weighted_r2_of_the_held_out_rows():
    X, y = images_and_targets(n=100)
    weights = np.random.RandomState(0).uniform(0.5, 2, 100)
    params = dict(
        early_stopping=True, validation_fraction=0.3, random_state=0, max_iter=1
    )
    model = fit_quietly(TinyConvRegressor(**params), X, y, sample_weight=weights)
    # The split is the first draw of the estimator's generator after the weights.
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state

    rng = check_random_state(0)
    rng.standard_normal(model.kernels_[0].size)
    rng.standard_normal(model.coef_.size)
    _, val = train_test_split(np.arange(100), test_size=30, random_state=rng)
    y_pred = model.predict(X[val])
    expected = r2_score(y[val], y_pred, sample_weight=weights[val])
    assert model.validation_scores_[0] == pytest.approx(expected, rel=1e-10)
    # The validation loss: the weighted half squared error in sigmoid units.
    s = (y_pred - model.target_offset_) / model.target_scale_
    t = (y[val] - model.target_offset_) / model.target_scale_
    expected_loss = np.average(0.5 * (s - t) ** 2, weights=weights[val])
    assert model.validation_loss_curve_ == [pytest.approx(expected_loss, rel=1e-10)]


def test_early_stopping_needs_enough_validation_rows():
    X, y = images_and_targets(n=10)
    # Worded as MLPRegressor's, with the numbers after it.
    with pytest.raises(ValueError, match=r"^The validation set is too small\. .*1 "):
        TinyConvRegressor(early_stopping=True, validation_fraction=0.1).fit(X, y)


# ---------------------------------------------------------- incremental learning


# 5x5 maps of the default 2x2 kernels on 6x6 images.
POOLED = {
    "unpooled": {},
    "max-4": dict(pooling="max", pool_size=4),  # a row and a column dropped
    "avg-global": dict(pooling="avg", pool_size="global"),
}


@pytest.mark.parametrize("pool", POOLED.values(), ids=list(POOLED))
def test_warm_start_continues_exactly(pool):
    X, y = images_and_targets(n=80)
    params = dict(batch_size=20, tol=0.0, random_state=0, n_filters=2, **pool)
    whole = fit_quietly(TinyConvRegressor(max_iter=20, **params), X, y)
    warm = TinyConvRegressor(max_iter=10, warm_start=True, **params)
    fit_quietly(warm, X, y)
    assert warm._training_state["optimizer"]["t"] == 40  # Adam's step count is kept ...
    fit_quietly(warm, X, y)
    # ... so two warm 10-epoch fits are one 20-epoch fit, to rounding.
    np.testing.assert_allclose(warm.coef_, whole.coef_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        warm.kernels_[0], whole.kernels_[0], rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(warm.loss_curve_, whole.loss_curve_, rtol=1e-12)
    assert warm.n_iter_ == 10 and warm.t_ == whole.t_ == 1600
    cold = fit_quietly(TinyConvRegressor(max_iter=10, **params), X, y)
    fit_quietly(cold, X, y)
    assert not np.allclose(cold.coef_, whole.coef_)


@pytest.mark.parametrize("pool", POOLED.values(), ids=list(POOLED))
def test_partial_fit_is_one_epoch_per_call(pool):
    X, y = images_and_targets(n=80)
    params = dict(batch_size=20, tol=0.0, random_state=0, **pool)
    fitted = fit_quietly(TinyConvRegressor(max_iter=5, **params), X, y)
    model = TinyConvRegressor(**params)
    for _ in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # partial_fit never warns of max_iter
            model.partial_fit(X, y)
        assert model.n_iter_ == 1
    np.testing.assert_allclose(model.coef_, fitted.coef_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(model.loss_curve_, fitted.loss_curve_, rtol=1e-12)


def test_partial_fit_keeps_the_first_target_scaling():
    X, y = images_and_targets(n=80)
    model = TinyConvRegressor(random_state=0).partial_fit(X[:40], y[:40])
    offset, scale = model.target_offset_.copy(), model.target_scale_.copy()
    inside = np.clip(y[40:], y[:40].min(), y[:40].max())
    model.partial_fit(X[40:], inside)
    np.testing.assert_array_equal(model.target_offset_, offset)
    np.testing.assert_array_equal(model.target_scale_, scale)
    before = model.predict(X)
    with pytest.raises(ValueError, match="outside the range the model can predict"):
        model.partial_fit(X[:2], np.array([y.max() + 100 * np.ptp(y), y.min()]))
    np.testing.assert_array_equal(model.predict(X), before)


def test_partial_fit_refuses_early_stopping():
    X, y = images_and_targets(n=40)
    with pytest.raises(ValueError, match="early_stopping"):
        TinyConvRegressor(early_stopping=True).partial_fit(X, y)


@pytest.mark.parametrize(
    "params, change",
    [
        ({}, dict(n_filters=3)),
        (dict(pooling=None), dict(pooling="max")),
        (dict(kernel_size=3, pooling="max", pool_size=2), dict(pool_size=3)),
        (dict(pooling="max"), dict(pooling="avg")),
    ],
)
def test_warm_start_refuses_another_architecture(params, change):
    X, y = images_and_targets(n=40)
    model = fit_quietly(
        TinyConvRegressor(warm_start=True, max_iter=2, **params), X, y
    )
    model.set_params(**change)
    with pytest.raises(ValueError, match="architecture"):
        model.fit(X, y)


# ------------------------------------------------------ divergence, interruption


def test_divergence_raises_and_leaves_the_model_as_it_was():
    X, y = images_and_targets(n=40)
    model = fit_quietly(TinyConvRegressor(max_iter=3, random_state=0), X * 1e3, y)
    before = model.predict(X)
    model.set_params(warm_start=True, solver="sgd", learning_rate=1e200)
    with pytest.raises(ValueError, match=r"diverged.*Lower learning_rate"):
        model.fit(X * 1e3, y)
    np.testing.assert_array_equal(model.predict(X), before)
    with pytest.raises(ValueError, match="diverged"):
        TinyConvRegressor(solver="sgd", learning_rate=1e200).fit(X * 1e3, y)


class _Callback:
    """The hooks of scikit-learn's FitCallback protocol, doing nothing."""

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        return False


class _InterruptAfter(_Callback):
    """A callback that presses Ctrl-C at the end of epoch ``n``."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def on_fit_task_end(self, estimator, context):
        if context.parent is not None:
            self.seen += 1
            if self.seen == self.n:
                raise KeyboardInterrupt


def test_keyboard_interrupt_keeps_the_last_finished_epoch():
    X, y = images_and_targets(n=40)
    params = dict(max_iter=50, tol=0.0, random_state=0)
    model = TinyConvRegressor(**params).set_callbacks(_InterruptAfter(3))
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        model.fit(X, y)
    assert model.n_iter_ == 3
    three = fit_quietly(TinyConvRegressor(**{**params, "max_iter": 3}), X, y)
    np.testing.assert_allclose(model.coef_, three.coef_, rtol=1e-12, atol=1e-15)


# -------------------------------------------------------------------- callbacks


class _StopWhenGoodEnough(_Callback):
    """A callback that stops training once the training R² reaches a target."""

    def __init__(self, target):
        self.target, self.scores = target, []

    def on_fit_task_end(
        self, estimator, context, *, X=None, y=None, fitted_estimator=None
    ):
        if context.parent is None:
            return False
        self.scores.append(fitted_estimator.score(X, y))
        return self.scores[-1] >= self.target


def test_a_callback_can_stop_training():
    X, y = images_and_targets(n=100)
    stopper = _StopWhenGoodEnough(0.5)
    # Only the callback stops (n_iter_no_change=inf); max_iter would warn.
    model = TinyConvRegressor(max_iter=500, tol=0.0, n_iter_no_change=np.inf,
                              random_state=0, n_filters=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop, not max_iter
        model.set_callbacks(stopper).fit(X, y)
    assert model.n_iter_ == len(stopper.scores) < 500
    assert stopper.scores[-1] >= 0.5 > max(stopper.scores[:-1])
    assert model.score(X, y) == pytest.approx(stopper.scores[-1], rel=1e-12)


def test_scoring_monitor_scores_every_epoch():
    from sklearn.callback import ScoringMonitor

    X, y = images_and_targets(n=60)
    monitor = ScoringMonitor(scoring="r2")
    model = TinyConvRegressor(max_iter=6, tol=0.0, random_state=0)
    fit_quietly(model.set_callbacks(monitor), X, y)
    data = monitor.get_logs().data
    epochs = [row for row in data if row["task_name"] == "epoch"]
    assert len(epochs) == 6
    assert epochs[-1]["r2"] == pytest.approx(model.score(X, y), rel=1e-12)
    assert epochs[0]["r2"] != epochs[-1]["r2"]


def test_progress_bar_through_fit_and_grid_search(capsys):
    from sklearn.callback import ProgressBar

    X, y = images_and_targets(n=60)
    model = TinyConvRegressor(max_iter=5, tol=0.0).set_callbacks(ProgressBar())
    fit_quietly(model, X, y)
    out = capsys.readouterr().out
    assert "TinyConvRegressor - fit" in out and "100%" in out
    search = GridSearchCV(
        TinyConvRegressor(max_iter=5, tol=0.0), {"learning_rate": [0.01, 0.05]}, cv=2
    ).set_callbacks(ProgressBar(max_propagation_depth=None))
    fit_quietly(search, X, y)
    out = capsys.readouterr().out
    # One bar per candidate and split (2 x 2), and one for the refit.
    assert out.count("TinyConvRegressor - fit") == 5
    assert "candidate-split-evaluation" in out


def test_a_new_learning_rate_applies_to_a_warm_start():
    X, y = images_and_targets(n=60)
    model = fit_quietly(
        TinyConvRegressor(warm_start=True, max_iter=3, tol=0.0, random_state=0), X, y
    )
    t = model._training_state["optimizer"]["t"]
    model.set_params(learning_rate=0.005)
    fit_quietly(model, X, y)
    assert model._training_state["optimizer"]["learning_rate"] == 0.005
    assert model._training_state["optimizer"]["t"] == 2 * t  # the moments were kept
    unchanged = fit_quietly(
        TinyConvRegressor(warm_start=True, max_iter=3, tol=0.0, random_state=0), X, y
    )
    fit_quietly(unchanged, X, y)
    assert not np.allclose(unchanged.coef_, model.coef_)


def test_default_adam_trains_large_images_without_saturating():
    """28x28 images give 729+ dense inputs: plain Adam steps at the default
    learning rate drove every output into the sigmoid's flat ends within an
    epoch (loss ~0.13, R² ~ -17); the width-scaled dense steps train."""
    rng = np.random.RandomState(0)
    X = rng.rand(1500, 28, 28)
    y = np.sin(3 * X.mean(axis=(1, 2))) + X[:, 7:21, 7:21].mean(axis=(1, 2))
    model = fit_quietly(TinyConvRegressor(max_iter=20, random_state=0), X, y)
    assert model.loss_ < 0.01
    assert model.score(X, y) > 0.4


def test_warnings_point_at_the_callers_line():
    X, y = images_and_targets(n=30)
    with pytest.warns(ConvergenceWarning) as record:
        TinyConvRegressor(max_iter=2).fit(X, y)
    assert record[0].filename == __file__
    # fit called from this file, not through fit_quietly's module.
    with pytest.warns(UserWarning, match="clipped") as record, ignoring(CONVERGENCE):
        TinyConvRegressor(max_iter=2, batch_size=100).fit(X, y)
    assert record[0].filename == __file__
