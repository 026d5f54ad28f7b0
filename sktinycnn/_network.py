"""The network's spec, its flat parameter layout and its initialisation.

image -> [convolution (+ bias) -> activation -> [pooling]] x depth -> flatten
-> dense (+ bias) -> output head

:class:`BlockSpec` holds every size of one convolution block and
:class:`NetworkSpec` the chain of blocks and the dense head. All parameters
live in one flat vector ``theta`` (their gradient and the optimiser's running
averages in vectors of the same layout), so that an optimiser step, the L2
penalty and the threads' fixed-order reductions are a handful of NumPy calls
whatever the depth. The layout is a list of named :class:`Segment` s:

- ``kernel_matrix[b]`` ``(n_filters[b], K1[b])`` for each block ``b``: each
  kernel's ``channels * kh * kw`` weights, in the public order of
  ``kernels_[b]``, then (with biases) its bias, so that a row of ones appended
  to the patches adds the bias in the same GEMM;
- ``intercept`` ``(n_outputs,)``, with biases only;
- ``coef`` ``(n_hidden, n_outputs)``: the dense weights over the C-order
  flattened (pooled) maps of the last block, as ``coef_``.

Each segment says whether the L2 penalty applies to it (biases excepted) and
which optimiser group it belongs to (Adam scales the dense group's steps).
NumPy only; no state.
"""

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._images import conv_output_shape, resolve_kernel_size
from ._pooling import pooled_shape, resolve_pool_size

__all__ = [
    "ACTIVATIONS",
    "DENSE_INIT_GAIN",
    "BlockSpec",
    "NetworkSpec",
    "Segment",
    "initialize",
]

#: Gain of the default (``kernel_scale=None``) dense initialisation. Small dense
#: weights start every output near the sigmoid's centre; with a gain of 1 the
#: random initial outputs sit far from the targets and some seeds spend the
#: whole ``max_iter`` on a plateau (see docs/notes/defaults.md).
DENSE_INIT_GAIN = 0.1

#: The blocks' activations: MLPRegressor's words.
ACTIVATIONS = ("tanh", "relu", "logistic", "identity")

#: Gain of the default kernel initialisation by activation: LeCun normal
#: (``1 / sqrt(fan_in)``), times sqrt(2) for relu (He), which zeroes half of
#: its inputs' variance.
_KERNEL_INIT_GAIN = {"tanh": 1.0, "logistic": 1.0, "identity": 1.0,
                     "relu": math.sqrt(2.0)}


@dataclass(frozen=True)
class BlockSpec:
    """Every size of one convolution block: conv -> activation -> [pooling].

    Parameters
    ----------
    in_shape : tuple of int
        ``(channels, height, width)`` of the block's input.
    n_filters : int
        Number of kernels (output maps).
    kernel_hw : tuple of int
        Effective ``(kh, kw)``.
    padding : {"valid", "same"}
        Convolution mode.
    pooling : {None, "max", "avg"}
        Pooling after the activation.
    pool_hw : tuple of int or None
        Effective ``(ph, pw)`` (None without pooling).
    fit_intercept : bool
        Whether the kernels have biases.
    activation : {"tanh", "relu", "logistic", "identity"}
        The activation after the convolution.

    Examples
    --------
    >>> from sktinycnn._network import BlockSpec
    >>> block = BlockSpec((1, 8, 8), 4, (3, 3), "same", "max", (2, 2), True,
    ...                   "tanh")
    >>> block.map_hw, block.hidden_hw, block.out_shape, block.n_rows
    ((8, 8), (4, 4), (4, 4, 4), 10)
    """

    in_shape: tuple
    n_filters: int
    kernel_hw: tuple
    padding: str
    pooling: object
    pool_hw: object
    fit_intercept: bool
    activation: str = "tanh"

    @cached_property
    def map_hw(self):
        """``(ho, wo)`` of the feature maps."""
        return conv_output_shape(self.in_shape[1:], self.kernel_hw, self.padding)

    @cached_property
    def hidden_hw(self):
        """``(hp, wp)`` of the block's output maps (pooled or not)."""
        if self.pooling is None:
            return self.map_hw
        return pooled_shape(self.map_hw, self.pool_hw)

    @cached_property
    def out_shape(self):
        """``(n_filters, hp, wp)``: the next block's ``in_shape``."""
        return (self.n_filters, *self.hidden_hw)

    @cached_property
    def n_kernel(self):
        """``channels * kh * kw``."""
        return self.in_shape[0] * self.kernel_hw[0] * self.kernel_hw[1]

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
    def n_windows(self):
        """``hp * wp``: values of one output map."""
        return self.hidden_hw[0] * self.hidden_hw[1]

    @cached_property
    def n_columns(self):
        """Map pixels the next layer depends on: those pooling windows cover.

        The kernels' patch matrices have this many columns per image, in the
        cell-major order of :func:`~._pooling.to_cell_major` (row-major
        pixels without pooling).
        """
        return self.n_cells * self.n_windows

    @cached_property
    def n_out(self):
        """Values of the block's output per image: ``n_filters * hp * wp``."""
        return self.n_filters * self.n_windows

    @cached_property
    def n_weights(self):
        """Parameters of the block: its kernel matrix."""
        return self.n_filters * self.n_rows

    def gemm_work(self, n_images):
        """Multiply-adds of the block's forward GEMM over ``n_images`` images."""
        return n_images * self.n_columns * self.n_rows * self.n_filters


@dataclass(frozen=True)
class Segment:
    """One named piece of the flat parameter vector.

    ``penalised`` says which part the L2 penalty applies to: ``"all"``,
    ``"none"`` or ``"kernels"`` (a kernel matrix without its bias column);
    ``group`` is the optimiser group (``"conv"`` or ``"dense"``).
    """

    name: str
    start: int
    shape: tuple
    penalised: str
    group: str

    @property
    def stop(self):
        return self.start + math.prod(self.shape)

    @property
    def slice(self):
        return slice(self.start, self.stop)

    def view(self, flat):
        """This segment of a flat vector, as a view of its shape."""
        return flat[self.start : self.stop].reshape(self.shape)


@dataclass(frozen=True)
class NetworkSpec:
    """A chain of convolution blocks and the dense head.

    Parameters
    ----------
    blocks : tuple of BlockSpec
        The convolution blocks, each reading the previous one's output.
    n_outputs : int
        Number of dense outputs.
    fit_intercept : bool
        Whether the biases exist (every block's and the dense layer's).

    Examples
    --------
    >>> from sktinycnn._network import NetworkSpec
    >>> spec = NetworkSpec.build((1, 8, 8), (4, 6), [(3, 3), (3, 3)],
    ...                          ["same", "valid"], ["max", None], [(2, 2), None],
    ...                          n_outputs=1, fit_intercept=True)
    >>> [block.out_shape for block in spec.blocks], spec.n_hidden, spec.size
    ([(4, 4, 4), (6, 2, 2)], 24, 287)
    >>> [segment.name for segment in spec.segments]
    ['kernel_matrix[0]', 'kernel_matrix[1]', 'intercept', 'coef']
    """

    blocks: tuple
    n_outputs: int
    fit_intercept: bool

    @classmethod
    def build(cls, image_shape, n_filters, kernel_size, padding, pooling,
              pool_size, *, n_outputs, fit_intercept, activation="tanh"):
        """The spec of a chain from per-block lists of requested values.

        Each block's ``in_shape`` is the previous block's ``out_shape``; the
        first block's is ``image_shape``. Kernels and pooling windows are
        clipped to their block's input and maps as the estimators document
        (:func:`~._images.resolve_kernel_size`,
        :func:`~._pooling.resolve_pool_size`); ``pool_size`` entries of
        unpooled blocks are ignored.
        """
        blocks, in_shape = [], tuple(int(d) for d in image_shape)
        for values in zip(n_filters, kernel_size, padding, pooling, pool_size,
                          strict=True):
            filters, kernel, pad, pool, window = values
            kernel_hw = resolve_kernel_size(kernel, in_shape[1:], pad)
            pool_hw = None
            if pool is not None:
                map_hw = conv_output_shape(in_shape[1:], kernel_hw, pad)
                pool_hw = resolve_pool_size(window, map_hw)
            block = BlockSpec(in_shape, int(filters), kernel_hw, pad, pool, pool_hw,
                              bool(fit_intercept), activation)
            blocks.append(block)
            in_shape = block.out_shape
        return cls(tuple(blocks), int(n_outputs), bool(fit_intercept))

    def describe(self):
        """The spec as builtins only (for the fitted state and its pickles).

        ``NetworkSpec.build(*spec.describe()[:6], n_outputs=..., ...)`` gives
        the spec back: see :meth:`from_description`.
        """
        blocks = self.blocks
        return (
            self.image_shape,
            tuple(block.n_filters for block in blocks),
            tuple(block.kernel_hw for block in blocks),
            tuple(block.padding for block in blocks),
            tuple(block.pooling for block in blocks),
            tuple(block.pool_hw for block in blocks),
            self.n_outputs,
            self.fit_intercept,
            self.activation,
        )

    @classmethod
    def from_description(cls, description):
        """The spec of :meth:`describe`'s tuple."""
        *per_block, n_outputs, fit_intercept, activation = description
        return cls.build(*per_block, n_outputs=n_outputs,
                         fit_intercept=fit_intercept, activation=activation)

    @property
    def depth(self):
        return len(self.blocks)

    @property
    def image_shape(self):
        return self.blocks[0].in_shape

    @property
    def activation(self):
        return self.blocks[0].activation

    @cached_property
    def n_hidden(self):
        """Inputs of the dense layer: the last block's output values."""
        return self.blocks[-1].n_out

    @cached_property
    def segments(self):
        """The flat layout: every parameter array's :class:`Segment`."""
        segments, start = [], 0
        for b, block in enumerate(self.blocks):
            shape = (block.n_filters, block.n_rows)
            penalised = "kernels" if block.fit_intercept else "all"
            segments.append(Segment(f"kernel_matrix[{b}]", start, shape, penalised,
                                    "conv"))
            start += block.n_weights
        if self.fit_intercept:
            segments.append(Segment("intercept", start, (self.n_outputs,), "none",
                                    "dense"))
            start += self.n_outputs
        segments.append(Segment("coef", start, (self.n_hidden, self.n_outputs),
                                "all", "dense"))
        return tuple(segments)

    @cached_property
    def size(self):
        """Number of parameters."""
        return self.segments[-1].stop

    @cached_property
    def coef_slice(self):
        """Where ``coef`` lies in the flat layout."""
        return self.segments[-1].slice

    def views(self, flat):
        """``(kernel_matrices, intercept or None, coef)``: views of a flat vector.

        ``kernel_matrices`` is a tuple with one ``(n_filters, K1)`` view per
        block.
        """
        depth = self.depth
        matrices = tuple(s.view(flat) for s in self.segments[:depth])
        intercept = self.segments[depth].view(flat) if self.fit_intercept else None
        return matrices, intercept, self.segments[-1].view(flat)

    def pack(self, kernels, kernel_intercepts, coef, intercept, dtype):
        """A flat vector from the public arrays (None biases: zeros).

        ``kernels`` and ``kernel_intercepts`` are lists with one array per
        block (``kernel_intercepts`` may be None).
        """
        flat = np.zeros(self.size, dtype)
        matrices, flat_intercept, flat_coef = self.views(flat)
        for b, (block, matrix) in enumerate(zip(self.blocks, matrices, strict=True)):
            matrix[:, : block.n_kernel] = np.reshape(kernels[b], (block.n_filters, -1))
            if self.fit_intercept and kernel_intercepts is not None:
                matrix[:, -1] = kernel_intercepts[b]
        flat_coef[...] = coef
        if self.fit_intercept and intercept is not None:
            flat_intercept[...] = intercept
        return flat

    def unpack(self, flat):
        """The public arrays of a flat vector (fresh; zeros for absent biases).

        Returns a dict with ``kernels`` and ``kernel_intercepts`` (lists, one
        array per block), ``coef`` and ``intercept``.
        """
        matrices, intercept, coef = self.views(flat)
        dtype = flat.dtype
        kernels, kernel_intercepts = [], []
        for block, matrix in zip(self.blocks, matrices, strict=True):
            kernels.append(np.ascontiguousarray(matrix[:, : block.n_kernel]).reshape(
                block.n_filters, block.in_shape[0], *block.kernel_hw
            ))
            kernel_intercepts.append(
                matrix[:, -1].copy() if self.fit_intercept
                else np.zeros(block.n_filters, dtype)
            )
        return {
            "kernels": kernels,
            "kernel_intercepts": kernel_intercepts,
            "coef": coef.copy(),
            "intercept": (
                intercept.copy() if self.fit_intercept
                else np.zeros(self.n_outputs, dtype)
            ),
        }

    def penalty_mask(self, dtype):
        """1 on the weights that the L2 penalty applies to, 0 on the biases."""
        mask = np.zeros(self.size, dtype)
        for segment in self.segments:
            view = segment.view(mask)
            if segment.penalised == "all":
                view[...] = 1
            elif segment.penalised == "kernels":
                view[:, :-1] = 1
        return mask


def initialize(spec, random_state, kernel_scale, dtype):
    """Draw the initial parameters as a flat vector.

    Each block's kernels are drawn in block order, then the dense weights,
    all with ``random_state.standard_normal``, so that with ``kernel_scale=4``
    and ``RandomState(598765)`` the tutorial's ``w1`` and ``w2`` come out.
    Biases start at zero and draw nothing. ``kernel_scale=None`` is fan-in
    based: kernels get ``gain / sqrt(channels * kh * kw)`` (LeCun normal,
    suited to tanh; He's ``sqrt(2)`` gain for relu) and dense weights
    ``DENSE_INIT_GAIN / sqrt(n_hidden)``.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    random_state : numpy.random.RandomState
        Source of every draw.
    kernel_scale : float or None
        Standard deviation of every initial weight.
    dtype : numpy dtype
        Floating dtype of the parameters.

    Returns
    -------
    theta : ndarray of shape (spec.size,)
    """
    kernels = []
    for block in spec.blocks:
        kernel = random_state.standard_normal(
            (block.n_filters, block.in_shape[0], *block.kernel_hw)
        )
        if kernel_scale is None:
            kernel *= _KERNEL_INIT_GAIN[block.activation] / np.sqrt(block.n_kernel)
        else:
            kernel *= kernel_scale
        kernels.append(kernel)
    coef = random_state.standard_normal((spec.n_hidden, spec.n_outputs))
    coef *= (
        DENSE_INIT_GAIN / np.sqrt(spec.n_hidden) if kernel_scale is None
        else kernel_scale
    )
    return spec.pack(kernels, None, coef, None, dtype)
