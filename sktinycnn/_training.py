"""The training loop: epochs, mini-batches, stopping rule, early stopping.

:class:`TrainingState` is everything that carries over from one fit to the
next (``warm_start``, ``partial_fit``): the optimiser, the shuffling
generator, the samples seen and the loss and validation curves.
:class:`Trainer` runs epochs over fixed data, from a flat parameter vector
and a state, both its own copies: the estimator adopts them only once training
has finished, so a failed fit leaves the model as it was; the rules that end
it are :mod:`._stopping`'s. NumPy, and scikit-learn's ConvergenceWarning; the
estimator's words for messages.
"""

import copy
import itertools
import math
import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._kernels import (
    Chain,
    ConvolutionOverflowError,
    abs_sums,
    aligned_empty,
    bounded,
    chunk_size,
    forward,
    one_blas_thread,
    parallel_work,
    pre_activation_bounds,
)
from ._lean import LeanLoop
from ._optimizers import optimizer_from_dict
from ._parallel import ThreadTeam, n_threads, team_size
from ._stopping import COOLDOWN_FACTOR, record_validation, stopping_rule

#: Gradient slots of one parallel round (one per chunk) take at most this
#: much memory; a batch of more chunks is done in several rounds.
SLOT_BYTES = 16 * 2**20

__all__ = ["COOLDOWN_FACTOR", "Trainer", "TrainingState", "caller_stacklevel"]


def caller_stacklevel():
    """``stacklevel`` that points a warning at the first frame outside sktinycnn.

    The warnings of fit are raised a varying depth below the user's call
    (partial_fit, warm starts, scikit-learn's callback wrapper), so a fixed
    stacklevel would point into this package or into scikit-learn.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    wrapper = os.path.join("sklearn", "callback", "")
    # Level 1 is the function that calls warnings.warn (our caller's frame).
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith(package)
        or wrapper in frame.f_code.co_filename
    ):
        frame, level = frame.f_back, level + 1
    return level


@dataclass
class TrainingState:
    """What carries over between fits; fitted attributes are read from it."""

    optimizer: object
    rng: np.random.RandomState
    t: float = 0
    loss_curve: list = field(default_factory=list)
    best_loss: float = np.inf
    no_improvement_count: int = 0
    validation_scores: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    best_validation_score: float = -np.inf
    #: The validation loss of the epoch whose weights early stopping keeps.
    best_validation_loss: float = np.inf

    def to_dict(self):
        """The state as plain containers, arrays and numbers (for pickles)."""
        state = {name: copy.deepcopy(value) for name, value in vars(self).items()}
        state["optimizer"] = self.optimizer.to_dict()
        return state

    @classmethod
    def from_dict(cls, state):
        """A fresh, independent state from :meth:`to_dict`'s."""
        state = copy.deepcopy(state)
        state["optimizer"] = optimizer_from_dict(state["optimizer"])
        return cls(**state)

    def fitted_attributes(self, n_iter, early_stopping):
        """The public training attributes (MLPRegressor's names)."""
        return {
            "n_iter_": int(n_iter),
            "t_": self.t,
            "loss_curve_": list(self.loss_curve),
            "loss_": self.loss_curve[-1] if self.loss_curve else None,
            "best_loss_": None if early_stopping else float(self.best_loss),
            "validation_scores_": (
                list(self.validation_scores) if early_stopping else None
            ),
            "validation_loss_curve_": (
                list(self.validation_loss_curve) if early_stopping else None
            ),
            "best_validation_score_": (
                float(self.best_validation_score) if early_stopping else None
            ),
        }


class Trainer:
    """Epochs of mini-batch training of one network on fixed data.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    head : object
        The output head (activation, loss and its gradient).
    data : TrainingData
        Images, patches, targets (encoded for the head) and weights.
    estimator : estimator
        Read for its training hyperparameters (``batch_size`` already
        resolved below), never written.
    batch_size : int
        Samples per update.
    validation : callable or None
        ``validation(theta) -> (score, loss)`` on held-out data, for early
        stopping.
    hooks : object
        ``begin_epoch()`` and ``end_epoch(theta) -> bool`` (stop) of the
        callbacks.
    """

    def __init__(self, spec, head, data, estimator, *, batch_size, validation,
                 hooks):
        self.spec, self.head, self.data = spec, head, data
        self.params = estimator.get_params(deep=False)
        self.batch_size = batch_size
        self.validation, self.hooks = validation, hooks
        dtype = data.dtype
        n = data.images.shape[0]
        # The lean loop is the tutorial's network: one unpooled tanh block.
        self.lean = (
            batch_size == 1 and data.patches is not None and spec.depth == 1
            and spec.blocks[0].pooling is None and spec.activation == "tanh"
        )
        self.logits = np.empty((n, spec.n_outputs), dtype)
        self.outputs = np.empty((n, spec.n_outputs), dtype)
        # Gradient buffers on cache lines, as the threaded path's slots.
        self.grad = aligned_empty(spec.size, dtype)
        self.chunk_grad = aligned_empty(spec.size, dtype)
        self.grad[...] = self.chunk_grad[...] = 0
        self.penalty_mask = spec.penalty_mask(dtype)
        self.scratch = np.zeros(spec.size, dtype)
        self._matrices = None  # (theta, its kernel matrices' views)
        self.chunk = chunk_size(spec, dtype, batch_size)
        self.workspace = None if self.lean else Chain(spec, dtype, self.chunk)
        self.n_threads = n_threads(self.params.get("n_jobs"))
        # Threads share a batch's chunks, each chunk writing its own gradient
        # slot, when a batch has several chunks and enough work to pay for
        # the hand-off (MIN_PARALLEL_WORK); the lean loop stays serial.
        n_chunks = -(-batch_size // self.chunk)
        self.threads = 1 if self.lean else team_size(
            self.n_threads, n_chunks, parallel_work(spec, batch_size)
        )
        self.team = None
        if self.threads > 1:
            slot_bytes = spec.size * dtype.itemsize
            self.round = max(self.threads, min(n_chunks, SLOT_BYTES // slot_bytes))
            self.slots = [aligned_empty(spec.size, dtype)
                          for _ in range(self.round)]
            self.workspaces = [self.workspace] + [
                Chain(spec, dtype, self.chunk) for _ in range(self.threads - 1)
            ]
        self._lean_loop = None
        self.total_weight = (
            n if data.sample_weight is None else float(data.sample_weight.sum())
        )

    # --------------------------------------------------------------- batches

    def _add_penalty(self, theta, weight_sum):
        """Add the L2 penalty's gradient; accumulate its loss times the weight."""
        alpha = self.params["alpha"]
        masked = np.multiply(theta, self.penalty_mask, out=self.scratch)
        self.penalty_sum += 0.5 * alpha * float(np.dot(masked, masked))
        np.multiply(masked, alpha / weight_sum, out=masked)
        np.add(self.grad, masked, out=self.grad)

    def _parallel_batch(self, theta, order, start, stop, weight_sum):
        """The batch's chunks shared by the team; their gradients summed in order.

        The same chunks, the same arithmetic on each, and the same additions
        in the same order as the serial loop, so the same bits: chunk 0
        writes ``grad`` and every other chunk its own slot, added to ``grad``
        in chunk order once the round is done.
        """
        data, head, team = self.data, self.head, self.team
        weights = data.sample_weight
        bounds = [(c0, min(c0 + self.chunk, stop))
                  for c0 in range(start, stop, self.chunk)]
        for r0 in range(0, len(bounds), self.round):
            chunks = bounds[r0 : r0 + self.round]
            outs = [self.slots[j] for j in range(len(chunks))]
            if r0 == 0:
                outs[0] = self.grad
            counter = itertools.count()

            def job(worker, chunks=chunks, outs=outs, counter=counter):
                ws = self.workspaces[worker]
                for j in counter:
                    if j >= len(chunks) or team.cancelled:
                        return
                    c0, c1 = chunks[j]
                    idx = slice(c0, c1) if order is None else order[c0:c1]
                    ws.gradient(
                        theta, ws.chunk_patches(data, idx, c1 - c0),
                        data.targets[idx],
                        None if weights is None else weights[idx], weight_sum,
                        head, outs[j], self.logits[c0:c1], self.outputs[c0:c1],
                    )

            team.run(job)
            for j in range(1 if r0 == 0 else 0, len(chunks)):
                np.add(self.grad, outs[j], out=self.grad)

    def _batched_epoch(self, theta, optimizer, order):
        data, head, ws = self.data, self.head, self.workspace
        n = data.images.shape[0]
        weights = data.sample_weight
        alpha = self.params["alpha"]
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            weight_sum = (
                stop - start if weights is None else float(
                    weights[start:stop].sum() if order is None
                    else weights[order[start:stop]].sum()
                )
            )
            if self.team is not None and stop - start > self.chunk:
                self._parallel_batch(theta, order, start, stop, weight_sum)
                if alpha:
                    self._add_penalty(theta, weight_sum)
                optimizer.step(theta, self.grad)
                continue
            # Chunks in a fixed order, each writing its own gradient, summed
            # in that order.
            for k, c0 in enumerate(range(start, stop, self.chunk)):
                c1 = min(c0 + self.chunk, stop)
                idx = slice(c0, c1) if order is None else order[c0:c1]
                patches = ws.chunk_patches(data, idx, c1 - c0)
                ws.gradient(
                    theta, patches, data.targets[idx],
                    None if weights is None else weights[idx], weight_sum, head,
                    self.grad if k == 0 else self.chunk_grad,
                    self.logits[c0:c1], self.outputs[c0:c1],
                )
                if k:
                    np.add(self.grad, self.chunk_grad, out=self.grad)
            if alpha:
                self._add_penalty(theta, weight_sum)
            optimizer.step(theta, self.grad)

    def _epoch(self, theta, optimizer, order):
        """One epoch in place; returns its loss (per unit of weight)."""
        self.penalty_sum = 0.0
        data = self.data
        if self.lean:
            loop = self._lean_loop
            if loop is None or loop.theta is not theta:
                loop = self._lean_loop = LeanLoop(
                    self.spec, data, theta, self.grad, self.head
                )
            grad = self.grad
            alpha = self.params["alpha"]
            plain = getattr(optimizer, "momentum", None) == 0 and not alpha
            folded = loop.epoch(
                lambda: optimizer.step(theta, grad), order, self.logits,
                self.outputs,
                (lambda w: self._add_penalty(theta, w)) if alpha else None,
                fold=(theta, optimizer.learning_rate) if plain else None,
            )
            if folded:
                optimizer.took_plain_step(grad)
            targets, weights = data.targets, data.sample_weight
        else:
            self._batched_epoch(theta, optimizer, order)
            # The batched loop writes outputs in visiting order.
            targets, weights = data.targets, data.sample_weight
            if order is not None:
                targets = targets[order]
                weights = None if weights is None else weights[order]
        loss = self.head.loss_sum(self.logits, self.outputs, targets, weights)
        return (loss + self.penalty_sum) / self.total_weight

    # ---------------------------------------------------------------- checks

    def _pre_activations_finite(self, theta):
        """Whether the convolution of every training image is finite."""
        # The views of theta are built once: this runs every epoch, and the
        # lean loop's epochs are a few microseconds long.
        if self._matrices is None or self._matrices[0] is not theta:
            self._matrices = (theta, self.spec.views(theta)[0])
        bounds = pre_activation_bounds(
            self.spec, abs_sums(self._matrices[1]), self.data.x_max()
        )
        if all(bounded(bound, theta.dtype) for bound in bounds):
            return True
        try:
            forward(self.spec, theta, self.data.images, n_threads=self.n_threads)
        except ConvolutionOverflowError:
            return False
        return True

    # ---------------------------------------------------------------- epochs

    def run(self, theta, state, *, incremental):
        """Train ``theta`` (in place) from ``state`` (updated in place).

        Returns
        -------
        theta : ndarray
            The trained parameters (the best epoch's with early stopping).
        n_iter : int
            Epochs run.
        """
        # The team's helpers live for this call and are joined whatever ends it.
        self.team = ThreadTeam(self.threads) if self.threads > 1 else None
        try:
            return self._run(theta, state, incremental=incremental)
        finally:
            if self.team is not None:
                self.team.close()
                self.team = None

    def _run(self, theta, state, *, incremental):
        p = self.params
        optimizer = state.optimizer
        if not self._pre_activations_finite(theta):
            hint = " or fit in float64" if theta.dtype == np.float32 else ""
            raise ConvolutionOverflowError(
                "X is so large that the convolution overflows "
                f"{theta.dtype.name}: the model could not predict these images "
                "and their gradient is not a number: scale the inputs (e.g. "
                f"StandardScaler){hint}."
            )
        n = self.data.images.shape[0]
        n_epochs = 1 if incremental else p["max_iter"]
        best_theta, n_iter, in_epoch = None, 0, False
        # Epochs left at COOLDOWN_FACTOR times the step size once the stopping
        # rule has fired (None until then, and always in partial_fit), and the
        # step size to restore after them.
        cooldown_left, rate = None, None
        saved_theta = theta.copy()
        saved_optimizer = optimizer.copy()
        zeros = np.zeros_like(theta)
        # BLAS on one thread for the whole fit: its GEMMs are chunk-sized.
        blas = one_blas_thread()
        blas.__enter__()
        try:
            for _ in range(n_epochs):
                self.hooks.begin_epoch()
                np.copyto(saved_theta, theta)
                saved_optimizer.load(optimizer)
                order = state.rng.permutation(n) if p["shuffle"] else None
                in_epoch = True
                loss = self._epoch(theta, optimizer, order)
                # theta . 0 is NaN unless every value is finite: one BLAS call.
                if not (
                    math.isfinite(loss)
                    and math.isfinite(float(np.dot(theta, zeros)))
                    and self._pre_activations_finite(theta)
                ):
                    raise ValueError(
                        f"Training diverged at epoch {n_iter + 1}: the loss, the "
                        "weights or the convolution are no longer finite. Lower "
                        "learning_rate (or kernel_scale), or scale the inputs "
                        "(e.g. StandardScaler). The model was left as it was "
                        "before this call."
                    )
                n_iter, in_epoch = n_iter + 1, False
                # t_ counts samples seen, weighted: a weighted fit schedules
                # like a fit on rows repeated by their weights.
                state.t += self.total_weight
                state.loss_curve.append(float(loss))
                early = self.validation is not None
                if early and self._record_validation(theta, state):
                    best_theta = theta.copy()
                if p["verbose"]:
                    print(f"Iteration {n_iter}, loss = {loss:.8f}")
                    if early:
                        print(f"Validation score: {state.validation_scores[-1]:f}")
                    sys.stdout.flush()
                if cooldown_left is not None:
                    cooldown_left -= 1
                    stop = cooldown_left == 0
                else:
                    if p["solver"] == "sgd":
                        optimizer.end_epoch(
                            p["learning_rate_schedule"], state.t, p["power_t"]
                        )
                    cooldown = 0 if incremental else p["n_iter_cooldown"]
                    stop = stopping_rule(state, optimizer, p, early, cooldown)
                    if stop and cooldown:
                        # The last steps at the full step size leave the
                        # weights wherever its noise put them; a few epochs at
                        # a fraction of it settle them (docs/notes/defaults.md).
                        cooldown_left, stop = cooldown, False
                        rate = optimizer.learning_rate
                        optimizer.learning_rate = rate * COOLDOWN_FACTOR
                # A callback may ask to stop (e.g. a monitored score is good
                # enough): that ends training like the stopping rule does.
                stop |= self.hooks.end_epoch(theta)
                if stop or incremental:
                    break
            else:
                # The stopping rule fired if the cooldown began: converged.
                if not incremental and cooldown_left is None:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({p['max_iter']})"
                        " reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=caller_stacklevel(),
                    )
        except KeyboardInterrupt:
            if n_iter == 0:
                raise
            if in_epoch:  # keep the last finished epoch
                np.copyto(theta, saved_theta)
                optimizer.load(saved_optimizer)
            warnings.warn(
                "Training interrupted by user.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        finally:
            blas.__exit__(None, None, None)
            if cooldown_left is not None:
                optimizer.learning_rate = rate
        if best_theta is not None:
            # Early stopping keeps the weights of the best validation epoch.
            theta = best_theta
        return theta, n_iter

    def _record_validation(self, theta, state):
        """Score ``theta`` on the validation data and record it in ``state``.

        Returns whether to keep its weights (:func:`._stopping.record_validation`).
        """
        score, loss = self.validation(theta)
        return record_validation(state, score, loss, self.params["tol"])
