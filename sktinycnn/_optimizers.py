"""Stochastic optimisers (SGD with momentum / Nesterov, Adam) and step-size schedules.

Same update rules and words as scikit-learn's MLP solvers
(``sklearn/neural_network/_stochastic_optimizers.py``), written as pure
functions: an optimiser's state is a plain dict of NumPy arrays and numbers
(easy to pickle, inspect and keep across ``warm_start`` fits) that every
update takes and returns. NumPy only.

Parameters and gradients are dicts keyed by parameter name; ``None`` entries
(e.g. biases of a network without intercepts) are skipped.
"""

import numpy as np

__all__ = [
    "ADAM_DENSE_REFERENCE_WIDTH",
    "MIN_ADAPTIVE_LEARNING_RATE",
    "adam_dense_step_scale",
    "decay_on_plateau",
    "init_optimizer_state",
    "scheduled_learning_rate",
    "update_params",
]

#: The "adaptive" schedule stops once the step size would go below this.
MIN_ADAPTIVE_LEARNING_RATE = 1e-6


#: Adam's steps on the dense weights are scaled by ``min(1, this / n_hidden)``.
ADAM_DENSE_REFERENCE_WIDTH = 256


def adam_dense_step_scale(n_hidden):
    """Factor on Adam's steps for the dense weights of a layer ``n_hidden`` wide.

    Adam moves every weight by about the step size whatever its gradient, and
    the first steps of the dense weights are coherent (each follows the sign of
    the output error times its own input), so one step moves every output by
    about ``learning_rate * sum_j |h_j|``: proportional to the layer's width.
    A step size that trains a 2x5 image (4 hidden units) then saturates the
    sigmoid of a 28x28 one (729 units, more with several filters) within an
    epoch, where training stalls. Scaling the dense steps by ``min(1, 256 /
    n_hidden)`` keeps their effect on the output about independent of the width
    above 256 units (the rule of maximal-update parametrisation for Adam) and
    leaves narrower layers, and every kernel, at plain Adam.

    Parameters
    ----------
    n_hidden : int
        Number of dense inputs, ``n_filters * ho * wo``.

    Returns
    -------
    scale : float
        In (0, 1].

    Examples
    --------
    >>> adam_dense_step_scale(49), adam_dense_step_scale(1024)
    (1.0, 0.25)
    """
    return min(1.0, ADAM_DENSE_REFERENCE_WIDTH / max(int(n_hidden), 1))


def _zeros_like(params):
    return {k: None if p is None else np.zeros_like(p) for k, p in params.items()}


def init_optimizer_state(solver, params, learning_rate):
    """Return the state of a fresh optimiser.

    Parameters
    ----------
    solver : {"sgd", "adam"}
        Which optimiser.
    params : dict of str to ndarray or None
        The parameters it will update (only shapes and dtypes are used).
    learning_rate : float
        Initial step size.

    Returns
    -------
    state : dict
        ``"solver"``, ``"learning_rate"`` (the current step size),
        ``"initial_learning_rate"`` (the one it started from) and the
        running averages: ``"velocities"`` for SGD, ``"t"``,
        ``"first_moments"`` and ``"second_moments"`` for Adam.
    """
    state = {
        "solver": solver,
        "learning_rate": float(learning_rate),
        "initial_learning_rate": float(learning_rate),
    }
    if solver == "sgd":
        state["velocities"] = _zeros_like(params)
    else:
        state["t"] = 0
        state["first_moments"] = _zeros_like(params)
        state["second_moments"] = _zeros_like(params)
    return state


def _sgd_update(params, grads, state, momentum, nesterov):
    learning_rate = state["learning_rate"]
    new_params, velocities = {}, {}
    for name, param in params.items():
        grad = grads[name]
        if param is None:
            new_params[name] = velocities[name] = None
            continue
        # MLPRegressor's rule; with momentum=0 it is the tutorial's w - lr * grad.
        velocity = momentum * state["velocities"][name] - learning_rate * grad
        step = momentum * velocity - learning_rate * grad if nesterov else velocity
        velocities[name] = velocity
        new_params[name] = param + step
    return new_params, {**state, "velocities": velocities}


def _adam_update(params, grads, state, beta_1, beta_2, epsilon, step_scales):
    t = state["t"] + 1
    # A Python float, not np.float64, so that float32 parameters stay float32.
    step_size = float(
        state["learning_rate"] * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
    )
    new_params, first, second = {}, {}, {}
    for name, param in params.items():
        grad = grads[name]
        if param is None:
            new_params[name] = first[name] = second[name] = None
            continue
        m = beta_1 * state["first_moments"][name] + (1.0 - beta_1) * grad
        v = beta_2 * state["second_moments"][name] + (1.0 - beta_2) * (grad * grad)
        first[name], second[name] = m, v
        step = step_size * m / (np.sqrt(v) + epsilon)
        scale = step_scales.get(name, 1.0)
        if scale != 1.0:
            step = step * scale
        new_params[name] = param - step
    return new_params, {
        **state,
        "t": t,
        "first_moments": first,
        "second_moments": second,
    }


def update_params(
    params,
    grads,
    state,
    *,
    momentum=0.9,
    nesterovs_momentum=True,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    step_scales=None,
):
    """Take one optimiser step.

    Neither ``params`` nor ``state`` is modified: new arrays are returned, so
    a failed or interrupted step never leaves half-updated weights behind.

    Parameters
    ----------
    params : dict of str to ndarray or None
        Current parameters.
    grads : dict of str to ndarray or None
        Gradients of the batch loss, same keys.
    state : dict
        As returned by :func:`init_optimizer_state` or by a previous update.
    momentum : float, default=0.9
        SGD momentum (0 is plain gradient descent).
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum (SGD, momentum > 0).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical-stability term.
    step_scales : dict of str to float, default=None
        Adam only: a factor on the step of the named parameters (see
        :func:`adam_dense_step_scale`); others take plain Adam steps.

    Returns
    -------
    params : dict
        Updated parameters.
    state : dict
        Updated optimiser state.
    """
    if state["solver"] == "sgd":
        return _sgd_update(params, grads, state, momentum, nesterovs_momentum)
    return _adam_update(
        params, grads, state, beta_1, beta_2, epsilon, step_scales or {}
    )


def scheduled_learning_rate(
    schedule, learning_rate_init, current, samples_seen, power_t
):
    """Step size at the end of an epoch, under a schedule.

    Parameters
    ----------
    schedule : {"constant", "invscaling", "adaptive"}
        ``"invscaling"`` gives ``learning_rate_init / (samples_seen + 1) **
        power_t``; the others keep the current step size (``"adaptive"``
        changes it only through :func:`decay_on_plateau`).
    learning_rate_init : float
        The step size the fit started with.
    current : float
        The current step size.
    samples_seen : int
        Samples seen so far (the estimator's ``t_``).
    power_t : float
        Exponent of ``"invscaling"``.

    Returns
    -------
    learning_rate : float
    """
    if schedule == "invscaling":
        try:
            return float(learning_rate_init / (samples_seen + 1) ** power_t)
        except OverflowError:  # the divisor exceeds the largest float: step 0
            return 0.0
    return current


def decay_on_plateau(schedule, current):
    """What to do when the stopping rule fires.

    With ``"adaptive"`` the step size is divided by 5 and training goes on,
    unless it is already at or below :data:`MIN_ADAPTIVE_LEARNING_RATE`;
    with any other schedule training stops.

    Parameters
    ----------
    schedule : {"constant", "invscaling", "adaptive"}
        The schedule.
    current : float
        The current step size.

    Returns
    -------
    stop : bool
        Whether to stop training.
    learning_rate : float
        The step size to continue with.
    """
    if schedule != "adaptive" or current <= MIN_ADAPTIVE_LEARNING_RATE:
        return True, current
    return False, current / 5.0
