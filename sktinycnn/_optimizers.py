"""Stochastic optimisers over flat parameter vectors: SGD and Adam.

Same update rules, schedules and words as scikit-learn's MLP solvers
(``sklearn/neural_network/_stochastic_optimizers.py``): each optimiser owns its
running averages (flat vectors in the layout of the parameters), its step size
and its schedule; :meth:`step` updates the parameters in place from a
gradient, :meth:`end_epoch` applies the step-size schedule and
:meth:`on_plateau` says what to do when the stopping rule fires. The
optimiser is a plain object of NumPy arrays and numbers: it pickles, copies and
carries over ``warm_start`` fits. NumPy only.
"""

import copy

import numpy as np

__all__ = [
    "ADAM_DENSE_REFERENCE_WIDTH",
    "MIN_ADAPTIVE_LEARNING_RATE",
    "SGD",
    "Adam",
    "adam_dense_step_scale",
    "optimizer_from_dict",
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
    Scaling the dense steps by ``min(1, 256 / n_hidden)`` keeps their effect on
    the output about independent of the width above 256 units (the rule of
    maximal-update parametrisation for Adam) and leaves narrower layers, and
    every kernel, at plain Adam.

    Parameters
    ----------
    n_hidden : int
        Number of dense inputs, ``n_filters * hp * wp``.

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


class _Optimizer:
    """Step size, schedule and the buffers every update reuses."""

    def __init__(self, size, dtype, learning_rate):
        self.learning_rate = self.initial_learning_rate = float(learning_rate)
        self._step = np.zeros(size, dtype)
        self._scratch = np.zeros(size, dtype)

    def set_learning_rate(self, learning_rate):
        """Restart the schedule from a new initial step size (moments kept)."""
        self.learning_rate = self.initial_learning_rate = float(learning_rate)

    def end_epoch(self, schedule, samples_seen, power_t):
        """Apply the step-size schedule after an epoch (SGD's only)."""

    def on_plateau(self, schedule):
        """Whether to stop when the stopping rule fires (else it decayed)."""
        return True

    def copy(self):
        """An independent copy (arrays included)."""
        return copy.deepcopy(self)

    def to_dict(self):
        """The state as plain arrays and numbers (for the estimator's pickles)."""
        return {"solver": self.solver, **copy.deepcopy(self.__dict__)}


    def load(self, other):
        """Take ``other``'s state (a copy of this one's kind), into own buffers."""
        for name, value in other.__dict__.items():
            if isinstance(value, np.ndarray):
                np.copyto(self.__dict__[name], value)
            else:
                self.__dict__[name] = value


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum (optionally Nesterov's).

    ``velocity = momentum * velocity - learning_rate * grad``; the step is the
    velocity, or ``momentum * velocity - learning_rate * grad`` with Nesterov.
    With ``momentum=0`` it is the tutorial's ``w -= learning_rate * grad``.

    Parameters
    ----------
    size : int
        Number of parameters.
    dtype : numpy dtype
        Their dtype.
    learning_rate : float
        Initial step size.
    momentum : float
        In [0, 1].
    nesterovs_momentum : bool
        Whether to use Nesterov's momentum.

    Examples
    --------
    >>> import numpy as np
    >>> from sktinycnn._optimizers import SGD
    >>> theta = np.array([1.0, 2.0])
    >>> SGD(2, np.float64, 0.5, momentum=0.0, nesterovs_momentum=False).step(
    ...     theta, np.array([1.0, -1.0]))
    >>> theta
    array([0.5, 2.5])
    """

    solver = "sgd"

    def __init__(self, size, dtype, learning_rate, *, momentum, nesterovs_momentum):
        super().__init__(size, dtype, learning_rate)
        self.momentum, self.nesterovs_momentum = momentum, nesterovs_momentum
        self._velocity = np.zeros(size, dtype)
        self._velocity_is_minus_step = False

    @property
    def velocity(self):
        """The velocities (after plain steps: minus the last step)."""
        if self._velocity_is_minus_step:
            np.negative(self._step, out=self._velocity)
            self._velocity_is_minus_step = False
        return self._velocity

    def took_plain_step(self, step):
        """Record that the caller took ``theta -= step`` itself (momentum 0)."""
        np.copyto(self._step, step)
        self._velocity_is_minus_step = True

    def step(self, theta, grad):
        """Update ``theta`` in place from ``grad``."""
        step, scratch = self._step, self._scratch
        momentum = self.momentum
        if momentum != 0:
            velocity = self.velocity  # before step, which it may come from, changes
        np.multiply(grad, self.learning_rate, out=step)  # lr * grad
        if momentum == 0:
            # velocity = 0 * v - lr * g and the Nesterov step alike: -lr * g,
            # written only when needed (a call fewer per update).
            np.subtract(theta, step, out=theta)
            self._velocity_is_minus_step = True
            return
        np.multiply(velocity, momentum, out=scratch)
        np.subtract(scratch, step, out=velocity)
        if self.nesterovs_momentum:
            np.multiply(velocity, momentum, out=scratch)
            np.subtract(scratch, step, out=scratch)
            np.add(theta, scratch, out=theta)
        else:
            np.add(theta, velocity, out=theta)

    def end_epoch(self, schedule, samples_seen, power_t):
        """``"invscaling"``: ``initial / (samples_seen + 1) ** power_t``."""
        if schedule == "invscaling":
            try:
                self.learning_rate = float(
                    self.initial_learning_rate / (samples_seen + 1) ** power_t
                )
            except OverflowError:  # the divisor exceeds the largest float
                self.learning_rate = 0.0

    def on_plateau(self, schedule):
        """``"adaptive"`` divides the step size by 5 and goes on, down to
        :data:`MIN_ADAPTIVE_LEARNING_RATE`; other schedules stop."""
        if schedule != "adaptive" or self.learning_rate <= MIN_ADAPTIVE_LEARNING_RATE:
            return True
        self.learning_rate /= 5.0
        return False


class Adam(_Optimizer):
    """Adam (Kingma & Ba) with bias correction, as MLPRegressor's.

    Parameters
    ----------
    size : int
        Number of parameters.
    dtype : numpy dtype
        Their dtype.
    learning_rate : float
        Step size.
    beta_1, beta_2 : float
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float
        Numerical-stability term.
    scaled : tuple of (int, int, float), default=None
        ``(start, stop, factor)``: steps of ``theta[start:stop]`` are
        multiplied by ``factor`` (the dense weights:
        :func:`adam_dense_step_scale`).

    Examples
    --------
    >>> import numpy as np
    >>> from sktinycnn._optimizers import Adam
    >>> theta = np.zeros(2)
    >>> Adam(2, np.float64, 0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8).step(
    ...     theta, np.array([3.0, -0.5]))
    >>> np.round(theta, 6)  # a first step is about the step size, sign of -g
    array([-0.1,  0.1])
    """

    solver = "adam"

    def __init__(self, size, dtype, learning_rate, *, beta_1, beta_2, epsilon,
                 scaled=None):
        super().__init__(size, dtype, learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.scaled = scaled
        self.t = 0
        self.first = np.zeros(size, dtype)
        self.second = np.zeros(size, dtype)

    def step(self, theta, grad):
        """Update ``theta`` in place from ``grad``."""
        step, scratch = self._step, self._scratch
        first, second = self.first, self.second
        beta_1, beta_2 = self.beta_1, self.beta_2
        self.t = t = self.t + 1
        # A Python float, so that float32 parameters stay float32.
        step_size = float(
            self.learning_rate * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
        )
        # m = beta_1 * m + (1 - beta_1) * g
        np.multiply(first, beta_1, out=first)
        np.multiply(grad, 1.0 - beta_1, out=step)
        np.add(first, step, out=first)
        # v = beta_2 * v + (1 - beta_2) * (g * g)
        np.multiply(grad, grad, out=step)
        np.multiply(step, 1.0 - beta_2, out=step)
        np.multiply(second, beta_2, out=second)
        np.add(second, step, out=second)
        # theta -= step_size * m / (sqrt(v) + epsilon)
        np.sqrt(second, out=scratch)
        np.add(scratch, self.epsilon, out=scratch)
        np.multiply(first, step_size, out=step)
        np.divide(step, scratch, out=step)
        if self.scaled is not None and self.scaled[2] != 1.0:
            part = step[self.scaled[0] : self.scaled[1]]
            np.multiply(part, self.scaled[2], out=part)
        np.subtract(theta, step, out=theta)


_SOLVERS = {"sgd": SGD, "adam": Adam}


def optimizer_from_dict(state):
    """The optimiser of :meth:`_Optimizer.to_dict`'s state, in fresh arrays.

    Arrays are copied into plain writable ndarrays: a model loaded with
    ``joblib.load(..., mmap_mode="r")`` holds read-only memmaps.
    """
    state = dict(state)
    kind = _SOLVERS[state.pop("solver")]
    optimizer = kind.__new__(kind)
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            value = np.array(value, copy=True, subok=False)
        optimizer.__dict__[name] = value
    return optimizer
