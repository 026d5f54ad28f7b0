"""When training stops: the stopping rule and early stopping's record.

Both update the counters of a :class:`._training.TrainingState` at the end of
an epoch. :func:`stopping_rule` counts the epochs without improvement (of the
training loss, or with early stopping of the validation score), lets the
optimiser react to a plateau and says when training ends, printing why with
``verbose``; :func:`record_validation` records an epoch's validation score and
loss and says whether its weights are the best so far. Plain Python.
"""

#: The step size of the cooldown epochs (``n_iter_cooldown``), as a fraction of
#: the step size when the stopping rule fired: MLPRegressor's "adaptive"
#: divisor.
COOLDOWN_FACTOR = 0.2

__all__ = ["COOLDOWN_FACTOR", "record_validation", "stopping_rule"]


def record_validation(state, score, loss, tol):
    """Record the epoch's validation score and loss; whether to keep its weights.

    Epochs rank by validation score; scores within ``tol`` of the best so
    far tie (the stopping rule's meaning of ``tol``), and ties rank by the
    validation loss, the later epoch first on equal loss (it has trained
    longer). An epoch improves when its score beats the best by more than
    ``tol``, or ties it with a loss lower by more than ``tol`` than the
    kept epoch's: a score that cannot rise while the model still learns (an
    accuracy of 1 on a small validation set, or one that extreme class
    weights hold within 1e-7 of the best) then does not stop training.
    """
    state.validation_loss_curve.append(float(loss))
    state.validation_scores.append(float(score))
    best = state.best_validation_score
    if score > best + tol:
        improved = keep = True
    elif score >= best - tol:
        improved = loss < state.best_validation_loss - tol
        keep = loss <= state.best_validation_loss
    else:
        improved = keep = False
    state.no_improvement_count = 0 if improved else (
        state.no_improvement_count + 1
    )
    if keep:
        state.best_validation_loss = float(loss)
    if score > best:
        state.best_validation_score = float(score)
    return keep


def stopping_rule(state, optimizer, params, early_stopping, cooldown=0):
    """Whether the stopping rule fires (``cooldown``: the epochs that follow).

    ``params`` are the estimator's (``get_params``): ``tol``,
    ``n_iter_no_change``, ``learning_rate_schedule``, ``solver`` and
    ``verbose``.
    """
    tol = params["tol"]
    if not early_stopping:
        loss = state.loss_curve[-1]
        if loss > state.best_loss - tol:
            state.no_improvement_count += 1
        else:
            state.no_improvement_count = 0
        state.best_loss = min(state.best_loss, loss)
    if state.no_improvement_count <= params["n_iter_no_change"]:
        return False
    what = (
        "Validation score (or, at a tied score, validation loss)"
        if early_stopping else "Training loss"
    )
    message = (
        f"{what} did not improve more than tol={tol:f} for "
        f"{params['n_iter_no_change']} consecutive epochs."
    )
    stop = optimizer.on_plateau(params["learning_rate_schedule"])
    if params["verbose"]:
        ending = " Stopping." if not cooldown else (
            f" Cooling down for {cooldown} epochs at learning rate "
            f"{optimizer.learning_rate * COOLDOWN_FACTOR:f}."
        )
        if stop and params["learning_rate_schedule"] == "adaptive" and (
            params["solver"] == "sgd"
        ):
            print(message + " Learning rate too small." + ending)
        elif stop:
            print(message + ending)
        else:
            rate = optimizer.learning_rate
            print(message + f" Setting learning rate to {rate:f}")
    if not stop:
        state.no_improvement_count = 0
    return stop
