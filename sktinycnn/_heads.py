"""Output heads: the output activation, its loss and the loss's gradient.

A head maps the dense layer's logits ``z`` (n_samples, n_outputs) to outputs
``a``, scores them against targets ``y`` encoded for it (sigmoid units for the
regressor, a 0/1 indicator matrix for the classifiers) and gives the gradient
of the batch loss ``sum_i w_i * loss_i / sum_i w_i`` w.r.t. ``z``; ``w`` is a
vector of sample weights or None (all ones). Heads are stateless, immutable
and called alike by the engine; arrays they return keep ``z``'s dtype.
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import expit

__all__ = ["SigmoidLogLoss", "SigmoidSquaredError", "SoftmaxLogLoss"]
__all__ += ["binary_log_proba"]

# A logit gap beyond the float range overflows to -inf and its exp underflows to
# 0: both are the exact limits (a probability of 0, or a loss beyond the float
# range, inf), not errors worth a RuntimeWarning.
_LIMITS = {"over": "ignore", "under": "ignore"}


def _log_sigmoid(z):
    with np.errstate(**_LIMITS):
        # log(sigmoid(z)) = -log(exp(0) + exp(-z)); logaddexp never overflows.
        log_s = np.logaddexp(0, -z)
    return np.negative(log_s, out=log_s)


def binary_log_proba(z):
    """Compute the log-probabilities of both classes from one logit per sample.

    Parameters
    ----------
    z : ndarray of shape (n_samples, 1)
        Logits of the positive class, as :class:`SigmoidLogLoss` uses them.

    Returns
    -------
    log_proba : ndarray of shape (n_samples, 2)
        ``log(1 - sigmoid(z))`` and ``log(sigmoid(z))``, same dtype as ``z``.

    Examples
    --------
    >>> binary_log_proba(np.array([[0.0], [800.0]]))
    array([[-6.93147181e-01, -6.93147181e-01],
           [-8.00000000e+02, -0.00000000e+00]])
    """
    # log(1 - s) = _log_sigmoid(-z) and log(s) = _log_sigmoid(z).
    both = np.concatenate([z, np.negative(z)], axis=1)
    with np.errstate(**_LIMITS):
        np.logaddexp(0, both, out=both)
    return np.negative(both, out=both)


@dataclass(frozen=True)
class _Head:
    """What every head shares; subclasses define the hooks."""

    out_activation: ClassVar[str] = "logistic"
    loss: ClassVar[str]
    # The regressor's loss is a mean over outputs, the log-losses a sum.
    _mean_over_outputs: ClassVar[bool] = False

    def activate(self, z, out=None):
        """Compute the head's outputs (sigmoid or softmax) from the logits.

        Parameters
        ----------
        z : ndarray of shape (n_samples, n_outputs)
            Logits of the dense layer.
        out : ndarray of shape (n_samples, n_outputs), default=None
            Where to write the outputs; may be ``z`` itself (in place).

        Returns
        -------
        a : ndarray of shape (n_samples, n_outputs)
            In [0, 1]; ``out`` if given. No warning for huge logits.
        """
        return self._activate(z, out)

    def loss_sum(self, z, a, y, w):
        """Compute ``sum_i w_i * loss_i``, not divided by the weights' sum.

        The engine divides the sum over an epoch by the epoch's total weight.

        Parameters
        ----------
        z : ndarray of shape (n_samples, n_outputs)
            Logits; the log-losses are computed from them in float64.
        a : ndarray of shape (n_samples, n_outputs)
            Outputs, ``activate(z)``; the squared error is computed from them.
        y : ndarray of shape (n_samples, n_outputs)
            Targets encoded for the head.
        w : ndarray of shape (n_samples,) or None
            Sample weights; None means all ones.

        Returns
        -------
        loss_sum : float
            Finite unless it exceeds the float64 range (then inf, silently).
        """
        with np.errstate(**_LIMITS):
            losses = self._losses(z, a, y)
            return float(losses.sum() if w is None else np.dot(w, losses).sum())

    def gradient(self, z, a, y, w, weight_sum, out=None):
        """Compute ``d loss_i / d z_i * w_i / weight_sum``, from the outputs ``a``.

        Parameters
        ----------
        z : ndarray of shape (n_samples, n_outputs)
            Logits (not read: the heads' gradients are written from ``a``).
        a : ndarray of shape (n_samples, n_outputs)
            Outputs, ``activate(z)``.
        y : ndarray of shape (n_samples, n_outputs)
            Targets encoded for the head.
        w : ndarray of shape (n_samples,) or None
            Sample weights; None means all ones.
        weight_sum : float
            Total weight the batch loss is divided by.
        out : ndarray of shape (n_samples, n_outputs), default=None
            Where to write the gradient; may be ``a`` or ``z`` (then
            overwritten, so compute the loss first), not ``y``.

        Returns
        -------
        grad : ndarray of shape (n_samples, n_outputs)
            ``out`` if given, else a new array of ``a``'s dtype.
        """
        if out is None:
            out = np.empty_like(a)
        out = self._residual_gradient(a, y, out)
        scale = weight_sum * a.shape[1] if self._mean_over_outputs else weight_sum
        # Divide, then weight, as the test oracle (tests/reference.py,
        # loss_and_gradients) and the fast path do, so that the regressor's
        # gradients are theirs to the last bit.
        np.divide(out, scale, out=out)
        if w is not None:
            np.multiply(out, w[:, None], out=out)
        return out

    @staticmethod
    def _activate(z, out):
        # expit is the overflow-free logistic sigmoid.
        return expit(z, out=out)

    @staticmethod
    def _residual_gradient(a, y, out):
        # The canonical link of both log-losses: d loss_i / d z_i = a_i - y_i.
        return np.subtract(a, y, out=out)

    @staticmethod
    def scalar_gradient(s, y):
        """``d loss / d z`` of one sample with one output, in Python floats."""
        return s - y


@dataclass(frozen=True)
class _LogLossHead(_Head):
    """A classifier head: a log-loss, and log-probabilities from the logits."""

    loss: ClassVar[str] = "log_loss"

    def log_proba(self, z):
        """Compute log-probabilities from the logits (not ``log(activate(z))``).

        Parameters
        ----------
        z : ndarray of shape (n_samples, n_outputs)
            Logits of the dense layer.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_outputs)
            Of each output, ``log P(y_k = 1)`` (binary: one column, see
            :func:`binary_log_proba`), or the log-softmax (``-inf`` only where
            a logit gap exceeds the float range).
        """
        return self._log_proba(z)


@dataclass(frozen=True)
class SigmoidSquaredError(_Head):
    """Logistic sigmoid and half squared error: the regressor's head.

    ``loss_i = 0.5 * ||sigmoid(z_i) - y_i||**2 / n_outputs`` with targets in
    sigmoid units, and ``d loss_i / d z_i = (s - y) * s * (1 - s) / n_outputs``
    (the sigmoid's derivative written from its output ``s``). One unweighted
    sample with one output is the tutorial's update.

    Examples
    --------
    >>> head = SigmoidSquaredError()
    >>> z, y = np.array([[0.0]]), np.array([[1.0]])
    >>> s = head.activate(z)
    >>> s, head.loss_sum(z, s, y, None), head.gradient(z, s, y, None, 1)
    (array([[0.5]]), 0.125, array([[-0.125]]))
    """

    loss: ClassVar[str] = "squared_error"
    _mean_over_outputs: ClassVar[bool] = True

    @staticmethod
    def _losses(z, a, y):
        residual = np.subtract(a, y)
        return np.einsum("ij,ij->i", residual, residual) * (0.5 / a.shape[1])

    @staticmethod
    def scalar_gradient(s, y):
        """``d loss / d z`` of one sample with one output, in Python floats."""
        return (s - y) * (s * (1.0 - s))

    @staticmethod
    def _residual_gradient(a, y, out):
        # slope = s * (1 - s) first: out may be a.
        slope = np.subtract(1.0, a)
        np.multiply(a, slope, out=slope)
        np.subtract(a, y, out=out)
        return np.multiply(out, slope, out=out)


@dataclass(frozen=True)
class SigmoidLogLoss(_LogLossHead):
    """Independent logistic sigmoids and log-loss: binary and multilabel head.

    ``loss_i = -sum_k [y_ik log s_ik + (1 - y_ik) log(1 - s_ik)]``, summed (not
    averaged) over the outputs as scikit-learn's ``binary_log_loss`` of
    MLPClassifier does, so one output is the usual binary log-loss.
    ``d loss_i / d z_i = s_i - y_i``. Binary: one output, the positive class.

    Examples
    --------
    >>> head = SigmoidLogLoss()
    >>> z, y = np.array([[0.0, 2.0]]), np.array([[1.0, 1.0]])
    >>> s = head.activate(z)
    >>> round(head.loss_sum(z, s, y, None), 4), head.gradient(z, s, y, None, 1)
    (0.8201, array([[-0.5       , -0.11920292]]))
    >>> head.log_proba(np.array([[-1000.0]]))  # log P(y=1); the sigmoid is 0
    array([[-1000.]])
    """

    @staticmethod
    def _losses(z, a, y):
        z = np.asarray(z, dtype=np.float64)
        # y sp(-z) + (1 - y) sp(z) with sp(x) = log(1 + exp(x)), as
        # max(z, 0) - y z + log(1 + exp(-|z|)): the first part is exactly 0 or
        # |z| for 0/1 targets, so a confident right answer keeps its tiny loss.
        return (np.maximum(z, 0.0) - y * z) + np.logaddexp(0.0, -np.abs(z))

    _log_proba = staticmethod(_log_sigmoid)


@dataclass(frozen=True)
class SoftmaxLogLoss(_LogLossHead):
    """Softmax and log-loss (cross-entropy): the multiclass head.

    ``loss_i = -sum_k y_ik log softmax(z_i)_k`` with one-hot targets over the
    classes, and ``d loss_i / d z_i = p_i - y_i``.

    Examples
    --------
    >>> head = SoftmaxLogLoss()
    >>> z, y = np.array([[1000.0, -1000.0, 0.0]]), np.array([[0.0, 0.0, 1.0]])
    >>> p = head.activate(z)
    >>> p, head.loss_sum(z, p, y, None), head.gradient(z, p, y, None, 1)
    (array([[1., 0., 0.]]), 1000.0, array([[ 1.,  0., -1.]]))
    >>> head.log_proba(z)
    array([[    0., -2000., -1000.]])
    """

    out_activation: ClassVar[str] = "softmax"

    @staticmethod
    def _activate(z, out):
        with np.errstate(**_LIMITS):
            out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
            np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    @staticmethod
    def _losses(z, a, y):
        z = np.asarray(z, dtype=np.float64)
        top = z.max(axis=1)
        y_sum = y.sum(axis=1)
        log_norm = np.log(np.exp(z - top[:, None]).sum(axis=1))
        # -log p_k = (top - z_k) + log_norm; the bracket first keeps a confident
        # right answer's tiny loss.
        return (y_sum * top - np.einsum("ij,ij->i", y, z)) + y_sum * log_norm

    @staticmethod
    def _log_proba(z):
        with np.errstate(**_LIMITS):
            shifted = z - z.max(axis=1, keepdims=True)
            shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return shifted
