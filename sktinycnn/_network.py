"""The network's shape, its flat parameter layout and its initialisation.

image -> 2-D convolution (+ bias) -> tanh -> [pooling] -> flatten -> dense
(+ bias) -> output head

:class:`Architecture` holds every size of one network. All parameters live in
one flat vector ``theta`` (their gradient and the optimiser's running averages
in vectors of the same layout), so that an optimiser step is a handful of NumPy
calls whatever the number of parameter arrays:

- ``block`` ``(n_filters, K1)``: each kernel's ``channels * kh * kw`` weights,
  in the public order of ``kernels_``, then (with biases) its bias, so that a
  row of ones appended to the image patches adds the bias in the same GEMM;
- ``intercept`` ``(n_outputs,)``, with biases only;
- ``coef`` ``(n_filters * hp * wp, n_outputs)``: the dense weights over the
  C-order flattened (pooled) maps, as ``coef_``.

NumPy only; no state.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._images import conv_output_shape
from ._pooling import pooled_shape

__all__ = ["DENSE_INIT_GAIN", "Architecture", "initialize"]

#: Gain of the default (``kernel_scale=None``) dense initialisation. Small dense
#: weights start every output near the sigmoid's centre; with a gain of 1 the
#: random initial outputs sit far from the targets and some seeds spend the
#: whole ``max_iter`` on a plateau (see docs/notes/defaults.md).
DENSE_INIT_GAIN = 0.1


@dataclass(frozen=True)
class Architecture:
    """Every size of one network.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)``.
    n_filters : int
        Number of kernels.
    kernel_hw : tuple of int
        Effective ``(kh, kw)``.
    padding : {"valid", "same"}
        Convolution mode.
    pooling : {None, "max", "avg"}
        Pooling after the tanh.
    pool_hw : tuple of int or None
        Effective ``(ph, pw)`` (None without pooling).
    n_outputs : int
        Number of dense outputs.
    fit_intercept : bool
        Whether the biases exist.

    Examples
    --------
    >>> from sktinycnn._network import Architecture
    >>> arch = Architecture((1, 8, 8), 4, (3, 3), "same", "max", (2, 2), 1, True)
    >>> arch.map_hw, arch.hidden_hw, arch.n_hidden, arch.size
    ((8, 8), (4, 4), 64, 105)
    """

    image_shape: tuple
    n_filters: int
    kernel_hw: tuple
    padding: str
    pooling: object
    pool_hw: object
    n_outputs: int
    fit_intercept: bool

    @cached_property
    def map_hw(self):
        """``(ho, wo)`` of the feature maps."""
        return conv_output_shape(self.image_shape[1:], self.kernel_hw, self.padding)

    @cached_property
    def hidden_hw(self):
        """``(hp, wp)`` of the maps the dense layer sees (pooled or not)."""
        if self.pooling is None:
            return self.map_hw
        return pooled_shape(self.map_hw, self.pool_hw)

    @cached_property
    def n_kernel(self):
        """``channels * kh * kw``."""
        return self.image_shape[0] * self.kernel_hw[0] * self.kernel_hw[1]

    @cached_property
    def n_rows(self):
        """Rows of a patch matrix: the kernel's values and a row of ones."""
        return self.n_kernel + self.fit_intercept

    @cached_property
    def n_pixels(self):
        """Pixels of one feature map."""
        return self.map_hw[0] * self.map_hw[1]

    @cached_property
    def n_cells(self):
        """Cells of one pooling window (1 without pooling)."""
        return 1 if self.pooling is None else self.pool_hw[0] * self.pool_hw[1]

    @cached_property
    def n_columns(self):
        """Map pixels the dense layer depends on: those pooling windows cover.

        The kernels' patch matrices have this many columns per image, in the
        cell-major order of :func:`~._pooling.to_cell_major` (row-major
        pixels without pooling).
        """
        return self.n_cells * self.hidden_hw[0] * self.hidden_hw[1]

    @cached_property
    def n_hidden(self):
        """Inputs of the dense layer."""
        return self.n_filters * self.hidden_hw[0] * self.hidden_hw[1]

    @cached_property
    def size(self):
        """Number of parameters."""
        return (
            self.n_filters * self.n_rows
            + self.fit_intercept * self.n_outputs
            + self.n_hidden * self.n_outputs
        )

    @cached_property
    def coef_slice(self):
        """Where ``coef`` lies in the flat layout."""
        return slice(self.size - self.n_hidden * self.n_outputs, self.size)

    def views(self, flat):
        """``(block, intercept or None, coef)``: views of a flat vector."""
        n_block = self.n_filters * self.n_rows
        block = flat[:n_block].reshape(self.n_filters, self.n_rows)
        intercept = None
        if self.fit_intercept:
            intercept = flat[n_block : n_block + self.n_outputs]
        coef = flat[self.coef_slice].reshape(self.n_hidden, self.n_outputs)
        return block, intercept, coef

    def pack(self, kernels, kernel_intercepts, coef, intercept, dtype):
        """A flat vector from the public arrays (None biases: zeros)."""
        flat = np.zeros(self.size, dtype)
        block, flat_intercept, flat_coef = self.views(flat)
        block[:, : self.n_kernel] = kernels.reshape(self.n_filters, -1)
        flat_coef[...] = coef
        if self.fit_intercept and kernel_intercepts is not None:
            block[:, -1] = kernel_intercepts
            flat_intercept[...] = intercept
        return flat

    def unpack(self, flat):
        """The public arrays of a flat vector (fresh; zeros for absent biases)."""
        block, intercept, coef = self.views(flat)
        kernels = np.ascontiguousarray(block[:, : self.n_kernel]).reshape(
            self.n_filters, self.image_shape[0], *self.kernel_hw
        )
        dtype = flat.dtype
        return {
            "kernels": kernels,
            "kernel_intercepts": (
                block[:, -1].copy()
                if self.fit_intercept
                else np.zeros(self.n_filters, dtype)
            ),
            "coef": coef.copy(),
            "intercept": (
                intercept.copy()
                if self.fit_intercept
                else np.zeros(self.n_outputs, dtype)
            ),
        }

    def penalty_mask(self, dtype):
        """1 on the weights that the L2 penalty applies to, 0 on the biases."""
        mask = np.zeros(self.size, dtype)
        block, _, coef = self.views(mask)
        block[:, : self.n_kernel] = 1
        coef[...] = 1
        return mask


def initialize(arch, random_state, kernel_scale, dtype):
    """Draw the initial parameters as a flat vector.

    Kernels are drawn first, then the dense weights, both with
    ``random_state.standard_normal``, so that with ``kernel_scale=4`` and
    ``RandomState(598765)`` the tutorial's ``w1`` and ``w2`` come out. Biases
    start at zero and draw nothing. ``kernel_scale=None`` is fan-in based:
    kernels get ``1 / sqrt(channels * kh * kw)`` (LeCun normal, suited to
    tanh) and dense weights ``DENSE_INIT_GAIN / sqrt(n_hidden)``.

    Parameters
    ----------
    arch : Architecture
        The network.
    random_state : numpy.random.RandomState
        Source of every draw.
    kernel_scale : float or None
        Standard deviation of every initial weight.
    dtype : numpy dtype
        Floating dtype of the parameters.

    Returns
    -------
    theta : ndarray of shape (arch.size,)
    """
    c, (kh, kw) = arch.image_shape[0], arch.kernel_hw
    kernels = random_state.standard_normal((arch.n_filters, c, kh, kw))
    coef = random_state.standard_normal((arch.n_hidden, arch.n_outputs))
    if kernel_scale is None:
        kernels *= 1.0 / np.sqrt(arch.n_kernel)
        coef *= DENSE_INIT_GAIN / np.sqrt(arch.n_hidden)
    else:
        kernels *= kernel_scale
        coef *= kernel_scale
    return arch.pack(kernels, None, coef, None, dtype)
