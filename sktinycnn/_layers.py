"""The layers of the engine: activations, a convolution block, the dense layer.

Each layer works on one chunk of ``m`` inputs at a time, over buffers
allocated once (one set per worker thread), and has its ``forward`` next to
its ``backward``. The fast tricks are choices a layer makes when it is built:

- **Max pooling before the activation.** Every activation here is monotonic,
  so the max of the activated maps is the activation of the max of the
  pre-activations: the activation and its derivative run on the pooled values
  only, and the pre-activations stay in place for the mask of maxima.
- **Derivatives written from the outputs, in place** (tanh: ``1 - a**2``),
  over buffers no longer needed.
- **The gradient as factors.** The dense layer with one output hands the
  hidden units' gradient back as the broadcast product ``coef * delta``
  rather than an array: an unpooled block multiplies the factors straight
  into its activation's derivative, without a buffer of its own.

Layouts: a block's pre-activations are ``(filters, m * L)`` with the columns
cell-major (:mod:`._patches`); its output, ``(filters, m * P)``, is the next
block's input read channel first. NumPy and SciPy only; no scikit-learn.
"""

import numpy as np
from scipy.special import expit

from ._patches import Patcher, aligned_empty
from ._pooling import cell_pool_backward, cell_pool_forward

__all__ = [
    "ACTIVATION_FUNCTIONS",
    "ConvLayer",
    "ConvolutionOverflowError",
    "DenseLayer",
]


class ConvolutionOverflowError(ValueError):
    """The convolution's pre-activations are not finite (they overflowed)."""


def _check_finite(pre, dtype):
    if not np.isfinite(pre).all():
        hint = " or use float64" if np.dtype(dtype) == np.float32 else ""
        raise ConvolutionOverflowError(
            "X and the kernels are so large that the convolution overflowed "
            f"{np.dtype(dtype).name}: scale the inputs (e.g. StandardScaler)"
            f"{hint}."
        )


def _tanh_derivative(a):
    np.multiply(a, a, out=a)
    return np.subtract(1.0, a, out=a)


def _logistic_derivative(a):
    # s (1 - s) = 1/4 - (s - 1/2)**2: in place, without a second buffer.
    np.subtract(a, 0.5, out=a)
    np.multiply(a, a, out=a)
    return np.subtract(0.25, a, out=a)


def _identity(x, out):
    if out is not x:
        np.copyto(out, x)
    return out


def _relu_derivative(a):
    # Outputs are >= 0: their sign is the derivative (0 at the kink).
    return np.sign(a, out=a)


#: ``name -> (forward(x, out), derivative(a) in place or None)``; each
#: derivative is written from the activation's output ``a`` and overwrites it.
ACTIVATION_FUNCTIONS = {
    "tanh": (lambda x, out: np.tanh(x, out=out), _tanh_derivative),
    "logistic": (lambda x, out: expit(x, out=out), _logistic_derivative),
    "relu": (lambda x, out: np.maximum(x, 0.0, out=out), _relu_derivative),
    "identity": (_identity, None),
}


def _multiply_factors(out, factors):
    """``out *= prod(factors)`` (broadcast), one factor at a time."""
    for factor in factors:
        np.multiply(out, factor, out=out)
    return out


def _materialize(factors, out):
    """The product of the factors in ``out`` (or the single factor itself)."""
    if len(factors) == 1:
        return factors[0]
    np.multiply(factors[0], factors[1], out=out)
    return _multiply_factors(out, factors[2:])


class ConvLayer:
    """One convolution block over a worker's buffers for chunks of ``m``.

    Parameters
    ----------
    block : BlockSpec
        The block.
    dtype : numpy dtype
        Floating dtype of the buffers.
    m : int
        Largest chunk.
    first : bool
        Whether the block reads the images (else a previous block's maps,
        channel first).
    full : bool, default=False
        Whether every map pixel is computed (for the feature maps), not only
        those pooling windows cover.
    fused_grad : bool, default=False
        Whether the gradient arrives as factors that an unpooled block
        multiplies into its derivative (no gradient buffer is allocated).
    """

    def __init__(self, block, dtype, m, *, first, full=False, fused_grad=False):
        self.block, self.dtype = block, dtype
        self.patcher = Patcher(block, dtype, full=full, channel_first=not first)
        self.forward_act, self.derivative = ACTIVATION_FUNCTIONS[block.activation]
        self.max_first = block.pooling == "max"
        F, P = block.n_filters, block.n_windows
        L = self.patcher.n_columns
        # Flat, so that a shorter chunk's views are contiguous too.
        self.pre = aligned_empty(F * m * L, dtype)
        self.hidden = None if block.pooling is None else aligned_empty(F * m * P,
                                                                       dtype)
        self.pooled_pre = aligned_empty(F * m * P, dtype) if self.max_first else None
        # The gradient w.r.t. the block's output: written by the next layer.
        self.grad_hidden = (
            None if fused_grad and block.pooling is None
            else aligned_empty(F * m * P, dtype)
        )
        self._patches = {}
        self._grad_buffers_by_m = {}

    def _grad_buffers(self, m):
        """The pre-activations' gradient in the layout of the input-gradient
        scatter (rows widened with zeros, so zeroed once), and the patches'
        gradient: ``(F, m * hc * wg)`` and ``(K, m * hc * wg)``."""
        cached = self._grad_buffers_by_m.get(m)
        if cached is None:
            block = self.block
            n = m * self.patcher.covered_hw[0] * self.patcher.grad_row_width
            natural = aligned_empty((block.n_filters, n), self.dtype)
            natural[...] = 0
            cached = self._grad_buffers_by_m[m] = (
                natural, aligned_empty((block.n_kernel, n), self.dtype)
            )
        return cached

    def patches(self, m):
        """The block's own ``(K1, m * L)`` patch buffer for chunks of ``m``."""
        out = self._patches.get(m)
        if out is None:
            out = self._patches[m] = self.patcher.new_buffer(m)
        return out

    def output_view(self, hidden, m):
        """The block's output ``(F, m * P)`` as the next block's input."""
        block = self.block
        return hidden.reshape(block.n_filters, m, *block.hidden_hw)

    def grad_output(self, m):
        """The buffer the next layer writes the output's gradient into."""
        block = self.block
        return self.grad_hidden[: block.n_filters * m * block.n_windows].reshape(
            block.n_filters, m, *block.hidden_hw
        )

    def forward(self, matrix, patches, m, *, keep_maps=False, check_finite=False):
        """Convolve, activate and pool a chunk; return its output ``(F, m*P)``.

        ``keep_maps`` leaves the activated maps (every column of the patch
        matrix) in :attr:`pre` for the feature maps. ``check_finite`` raises
        :class:`ConvolutionOverflowError` on a non-finite pre-activation,
        checked before the activation (``tanh(inf)`` is 1).
        """
        block = self.block
        F, P = block.n_filters, block.n_windows
        L = patches.shape[1] // m
        pre = self.pre[: F * m * L].reshape(F, m * L)
        np.dot(matrix, patches, out=pre)
        if check_finite:
            _check_finite(pre, self.dtype)
        self.last_pre = pre
        if block.pooling is None:
            hidden = self.forward_act(pre, pre)
        else:
            cells = pre[:, : m * block.n_columns].reshape(F, block.n_cells, m * P)
            hidden = self.hidden[: F * m * P].reshape(F, m * P)
            if self.max_first:
                pooled_pre = self.pooled_pre[: F * m * P].reshape(F, m * P)
                cell_pool_forward(cells, "max", out=pooled_pre)
                self.forward_act(pooled_pre, hidden)
                if keep_maps:
                    self.forward_act(pre, pre)
            else:
                self.forward_act(pre, pre)
                cell_pool_forward(cells, "avg", out=hidden)
        self.last_hidden = hidden
        return hidden

    def backward(self, matrix, patches, hidden, grad_factors, m, grad_matrix,
                 grad_input=None):
        """The chunk's gradients, after :meth:`forward` on the same chunk.

        Parameters
        ----------
        matrix : ndarray of shape (F, K1)
            The kernel matrix.
        patches : ndarray of shape (K1, m * L)
            The patches of the forward pass; overwritten with the gradient
            w.r.t. them when ``grad_input`` is given.
        hidden : ndarray of shape (F, m * P)
            The forward pass's output; overwritten.
        grad_factors : tuple of ndarray
            Factors whose broadcast product is the gradient w.r.t. the output
            ``(F, m, P)``.
        m : int
            Inputs in the chunk.
        grad_matrix : ndarray of shape (F, K1)
            Where the kernel matrix's gradient is written.
        grad_input : ndarray of shape (channels, m, h, w), default=None
            Where the gradient w.r.t. the inputs is written (None: not
            needed, as for the images).
        """
        block = self.block
        F, P = block.n_filters, block.n_windows
        pre = self.last_pre
        derivative = self.derivative
        if block.pooling is None:
            # The derivative in place over the activated maps, times the
            # gradient's factors.
            grad = pre.reshape(F, m, P)
            if derivative is None:
                np.copyto(grad, _materialize(grad_factors, grad))
            else:
                _multiply_factors(derivative(pre).reshape(F, m, P), grad_factors)
        else:
            grad_pooled = _materialize(
                grad_factors, self.grad_hidden[: F * m * P].reshape(F, m, P)
            ).reshape(F, m * P)
            cells = pre[:, : m * block.n_columns].reshape(F, block.n_cells, m * P)
            if self.max_first:
                # The derivative at the pooled values, then to the first
                # maximum of each window, in place over the pre-activations
                # (the mask of maxima is taken from them first).
                if derivative is not None:
                    np.multiply(grad_pooled, derivative(hidden), out=grad_pooled)
                cell_pool_backward(grad_pooled, cells, "max", out=cells,
                                   pooled=self.pooled_pre[: F * m * P].reshape(
                                       F, m * P))
            else:
                # Average pooling's gradient, grad / n_cells on every cell,
                # into the derivative over the maps.
                np.multiply(grad_pooled, 1.0 / block.n_cells, out=grad_pooled)
                spread = grad_pooled.reshape(F, 1, m * P)
                if derivative is None:
                    np.copyto(cells, spread)
                else:
                    derivative(pre)
                    np.multiply(cells, spread, out=cells)
        # Kernels and (through the ones) their biases.
        np.dot(pre, patches.T, out=grad_matrix)
        if grad_input is not None:
            # The patches' gradient in natural column order, so that the
            # scatter back onto the inputs adds whole covered rows at a time
            # (cell-major runs are one window row, a few pixels apart).
            K = block.n_kernel
            natural, grad_patches = self._grad_buffers(m)
            grad_pre = self.patcher.natural_order(pre, natural)
            np.dot(matrix[:, :K].T, grad_pre, out=grad_patches)
            self.patcher.scatter_add(grad_patches, grad_input)


class DenseLayer:
    """The dense layer over the last block's output, for chunks of ``m``.

    With one output the hidden units' gradient is returned as factors
    (:class:`ConvLayer`'s ``fused_grad``); else it is written into the last
    block's gradient buffer.
    """

    def __init__(self, spec, dtype, m):
        block = spec.blocks[-1]
        F, P, n_out = block.n_filters, block.n_windows, spec.n_outputs
        self.sizes = (F, P, n_out)
        self.dense = aligned_empty(F * m * n_out, dtype)
        self.delta = aligned_empty(m * n_out, dtype)

    def forward(self, hidden, coef, intercept, logits):
        """Write the logits ``(m, n_outputs)`` of the output ``(F, m * P)``."""
        F, P, n_out = self.sizes
        m = logits.shape[0]
        dense = np.matmul(
            hidden.reshape(F, m, P), coef.reshape(F, P, n_out),
            out=self.dense[: F * m * n_out].reshape(F, m, n_out),
        )
        # ufunc.reduce directly: np.sum's Python wrapper costs GIL time.
        np.add.reduce(dense, axis=0, out=logits)
        if intercept is not None:
            np.add(logits, intercept, out=logits)
        return logits

    def backward(self, hidden, delta, coef, grad_coef, grad_intercept,
                 grad_hidden=None):
        """Write the dense gradients; return the hidden units' as factors."""
        F, P, n_out = self.sizes
        m = delta.shape[0]
        if grad_intercept is not None:
            np.add.reduce(delta, axis=0, out=grad_intercept)
        coef3 = coef.reshape(F, P, n_out)
        np.matmul(hidden.reshape(F, m, P).transpose(0, 2, 1), delta,
                  out=grad_coef.reshape(F, P, n_out))
        if n_out == 1:
            return (coef3.reshape(F, 1, P), delta.reshape(1, m, 1))
        np.matmul(delta, coef3.transpose(0, 2, 1), out=grad_hidden)
        return (grad_hidden,)
