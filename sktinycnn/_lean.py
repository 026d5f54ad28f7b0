"""The lean training loop: ``batch_size=1`` (the tutorial's per-image updates).

For a single unpooled tanh block over precomputed patches, the tutorial's
network; every other network takes the chain of :mod:`._kernels`, against
which this loop is tested.

With one image per step the cost is the number of NumPy calls, not memory
traffic: this loop makes about ten per update, on views and buffers prepared
once per fit, where the chunked loop of :mod:`._kernels` would make thirty.
NumPy only; no state outside the object's buffers.
"""

import math

import numpy as np

__all__ = ["LeanLoop"]


def _first_block_views(spec, flat):
    matrices, intercept, coef = spec.views(flat)
    return matrices[0], intercept, coef


class LeanLoop:
    """``batch_size=1`` over precomputed patches: the fewest NumPy calls.

    One update per image: forward, the head's gradient, backward and
    ``step()`` (the optimiser's update of ``theta`` from ``grad``), with
    ``add_penalty(weight)`` before it when there is a penalty. With one
    float64 output the sample's output and delta are Python floats (the
    formula of scipy's ``expit``), which saves half a dozen calls per update.
    Views and buffers are made once, for the ``theta`` and ``grad`` given.
    """

    def __init__(self, spec, data, theta, grad, head):
        block = spec.blocks[0]
        F, L = block.n_filters, block.n_pixels
        dtype = theta.dtype
        self.spec, self.data, self.head = spec, data, head
        self.theta = theta
        self.views = _first_block_views(spec, theta)
        self.grad, self.grad_views = grad, _first_block_views(spec, grad)
        # One image's (K1, L) patch matrix contiguous: per-call cost is all
        # that counts in GEMMs this small.
        self.patches = np.ascontiguousarray(data.patches.transpose(1, 0, 2))
        self.patches_t = [p.T for p in self.patches]
        self.act = np.empty((F, L), dtype)
        self.sq = np.empty(F * L, dtype)
        self.grad_pre = np.empty((F, L), dtype)
        self.hidden_grad = np.empty(F * L, dtype)
        self.scalar = spec.n_outputs == 1 and dtype == np.float64
        self.target_list = data.targets[:, 0].tolist()

    def epoch(self, step, order, logits, outputs, add_penalty, fold=None):
        """One epoch in ``order``; writes each image's logits and outputs.

        ``fold=(theta, learning_rate)`` replaces ``step()`` by plain SGD with
        the step size folded into the sample's delta (``theta -= grad``), when
        the scalar path runs: then ``grad`` holds the last step.
        """
        matrix, intercept, coef = self.views
        grad_matrix, grad_intercept, grad_coef = self.grad_views
        act, sq, grad_pre, hidden_grad = (
            self.act, self.sq, self.grad_pre, self.hidden_grad
        )
        act_flat, grad_pre_flat = act.reshape(-1), grad_pre.reshape(-1)
        coef_flat, grad_coef_flat = coef.reshape(-1), grad_coef.reshape(-1)
        head, patches, patches_t, grad = (
            self.head, self.patches, self.patches_t, self.grad
        )
        targets, weights = self.data.targets, self.data.sample_weight
        dot, mul, sub, tanh = np.dot, np.multiply, np.subtract, np.tanh
        scalar, target_list = self.scalar, self.target_list
        delta_of, exp = head.scalar_gradient, math.exp
        logits_flat, outputs_flat = logits.reshape(-1), outputs.reshape(-1)
        sequence = range(patches.shape[0]) if order is None else order.tolist()
        if not scalar:
            fold = None
        theta, rate = fold if fold is not None else (None, 1.0)
        for i in sequence:
            dot(matrix, patches[i], out=act)
            tanh(act, out=act)
            if scalar:
                z = float(dot(act_flat, coef_flat))
                if intercept is not None:
                    z += float(intercept[0])
                try:
                    s = 1.0 / (1.0 + exp(-z))
                except OverflowError:  # exp(-z) overflows to inf: expit gives 0
                    s = 0.0
                logits_flat[i], outputs_flat[i] = z, s
                d = delta_of(s, target_list[i]) * rate
                if grad_intercept is not None:
                    grad_intercept[0] = d
                mul(act_flat, d, out=grad_coef_flat)
                mul(coef_flat, d, out=hidden_grad)
            else:
                z = logits[i : i + 1]
                dot(act_flat, coef, out=z[0])
                if intercept is not None:
                    np.add(z, intercept, out=z)
                a = head.activate(z, out=outputs[i : i + 1])
                # One sample: its weight cancels in w / (w * ...).
                delta = head.gradient(z, a, targets[i : i + 1], None, 1.0)[0]
                if grad_intercept is not None:
                    np.copyto(grad_intercept, delta)
                np.multiply.outer(act_flat, delta, out=grad_coef)
                dot(coef, delta, out=hidden_grad)
            mul(act_flat, act_flat, out=sq)
            sub(1.0, sq, out=sq)
            mul(hidden_grad, sq, out=grad_pre_flat)
            dot(grad_pre, patches_t[i], out=grad_matrix)
            if theta is not None:
                sub(theta, grad, out=theta)
                continue
            if add_penalty is not None:
                add_penalty(1.0 if weights is None else weights[i])
            step()
        return theta is not None
