"""The engine: the chain of layers, chunk by chunk, for fit and predict.

For a network this small the cost is per-call overhead at small batches and
memory traffic at large ones, so the work is laid out for both:

- **One chain.** A :class:`Chain` holds one worker's layers (a
  :class:`~._layers.ConvLayer` per block, then the
  :class:`~._layers.DenseLayer`) over buffers allocated once. ``predict``,
  ``feature_maps``, validation scoring (:func:`forward`) and the training step
  (:meth:`Chain.gradient`) all walk it.
- **Cache-sized chunks, forward and backward fused.** A chunk's patches,
  maps and gradients, summed over the layers, take about :data:`CHUNK_BYTES`,
  so that every step of its passes finds them in the core's L2 cache, but a
  chunk holds at least :data:`MIN_CHUNK_IMAGES` images, whose per-chunk
  NumPy calls would otherwise dominate a deep network's passes. Each
  chunk writes its own gradient; the caller sums them in chunk order, so that
  the result does not depend on which thread ran which chunk.
- **The images' patches once per fit** for networks whose first block is
  unpooled and whose training set's patch matrix is small
  (:data:`PRECOMPUTE_BYTES`): a chunk is then a slice or a gather. Pooled
  patches are written from the chunk's images every time: their shifted
  window grids, copied once and fanned out, cost less than gathering the
  cell-major runs of a patch matrix that has left the cache.

A non-finite pre-activation raises :class:`ConvolutionOverflowError`, decided
on the pre-activations themselves (``tanh(inf)`` is 1, and ``inf - inf`` is
NaN only on some BLAS kernels) wherever :func:`pre_activation_bounds` cannot
rule it out. NumPy only; no state outside the objects' buffers.
"""

import itertools

import numpy as np

from ._layers import ConvLayer, ConvolutionOverflowError, DenseLayer
from ._parallel import ThreadTeam, one_blas_thread, team_size
from ._patches import Patcher, aligned_empty
from ._pooling import cell_major_view

__all__ = [
    "CHUNK_BYTES",
    "PRECOMPUTE_BYTES",
    "Chain",
    "ConvolutionOverflowError",
    "TrainingData",
    "abs_max",
    "abs_sums",
    "aligned_empty",
    "bounded",
    "chunk_size",
    "forward",
    "one_blas_thread",
    "parallel_work",
    "pre_activation_bounds",
]

#: Unpooled patch matrices of the whole training set up to this size are built
#: once per fit; larger ones, and pooled ones, chunk by chunk into reused
#: buffers.
PRECOMPUTE_BYTES = 64 * 2**20

#: A chunk's patches, activations and gradients take about this much memory:
#: they stay in a core's L2 cache between the steps of its passes.
CHUNK_BYTES = 3 * 2**18

#: But never fewer images than this in a chunk (unless the batch has fewer):
#: every chunk costs each layer a dozen NumPy calls, which outweigh what the
#: cache saves once a deep network's chunks shrink to a few images
#: (docs/notes/kernels.md).
MIN_CHUNK_IMAGES = 16

#: ``np.take`` mode for indices known valid (a batch of a permutation): with
#: ``out`` and the default "raise" NumPy first gathers into a temporary, in
#: case an index fails; "wrap" writes ``out`` directly, twice as fast.
_VALID_INDICES = "wrap"

_FLOAT_MAX = {
    "f": float(np.finfo(np.float32).max),
    "d": float(np.finfo(np.float64).max),
}

#: Activations whose outputs lie in [-1, 1] whatever their inputs.
_BOUNDED_ACTIVATIONS = ("tanh", "logistic")


def abs_max(array):
    """``max |array|`` (0 when empty), without ``np.abs``'s temporary copy."""
    return float(max(np.max(array, initial=0.0), -np.min(array, initial=0.0)))


def pre_activation_bounds(spec, abs_sums, x_max):
    """Upper bounds of every block's ``|pre-activations|`` for inputs to ``x_max``.

    ``|sum_k w_k x_k + c| <= max(max|x|, 1) * sum |matrix|`` (biases included,
    their input being the patches' row of ones) whatever order a BLAS kernel
    sums in. A block after a tanh or logistic block reads values in [-1, 1];
    after relu or identity, values up to the previous bound (pooling never
    enlarges them). Where a bound reaches the dtype's largest value, the
    pre-activations themselves must be checked.

    ``abs_sums`` holds each block's ``sum |matrix|`` (:func:`abs_sums`).
    Returns a list of floats, one per block (inf where the bound overflows).
    """
    bounds, bound = [], float(x_max)
    for block, abs_sum in zip(spec.blocks, abs_sums, strict=True):
        bound = max(bound, 1.0) * abs_sum  # Python floats: inf, not an error
        bounds.append(bound)
        if block.activation in _BOUNDED_ACTIVATIONS:
            bound = 1.0
    return bounds


def abs_sums(matrices):
    """``sum |matrix|`` of every block's kernel matrix (``spec.views(theta)[0]``).

    A sum that overflows is inf, with NumPy's warning unless the caller
    ignores it (the estimators run every pass under ``np.errstate``).
    """
    return [float(np.abs(matrix).sum()) for matrix in matrices]


def bounded(bound, dtype):
    """Whether a bound of :func:`pre_activation_bounds` rules out overflow."""
    return bound < _FLOAT_MAX[np.dtype(dtype).char]


def chunk_size(spec, dtype, n_images, chunk_bytes=None):
    """Images per chunk: their patches, maps and gradients in ``chunk_bytes``."""
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    itemsize = np.dtype(dtype).itemsize
    per_image = 0
    for b, block in enumerate(spec.blocks):
        # The operands of the block's GEMMs, which every pass of a chunk
        # reads: the patches and the maps, with a second map-sized buffer
        # where the backward pass cannot run in place over the maps. The
        # pooled buffers (a quarter of the maps or less) are left out: they
        # fit beside them in the cache, and counting them would split batches
        # into more chunks, each with its fixed cost (docs/notes/kernels.md).
        maps = block.n_filters * (1 + _needs_grad_maps(spec, b))
        per_image += block.n_columns * (maps + block.n_rows)
    by_cache = chunk_bytes // (per_image * itemsize)
    return int(max(1, min(n_images, max(by_cache, MIN_CHUNK_IMAGES))))


def _fused_grad(spec, b):
    # The dense layer with one output hands its gradient back as factors.
    return b == spec.depth - 1 and spec.n_outputs == 1


def _needs_grad_maps(spec, b):
    # Pooled maps take their gradient in place (max: the mask of maxima is
    # taken first; avg: into the derivative), as do unpooled ones whose
    # gradient comes as factors.
    return spec.blocks[b].pooling is None and not _fused_grad(spec, b)


def parallel_work(spec, n_images):
    """Multiply-adds of the blocks' forward GEMMs over ``n_images`` images.

    The measure of work of :data:`~._parallel.MIN_PARALLEL_WORK`.
    """
    return sum(block.gemm_work(n_images) for block in spec.blocks)


class Chain:
    """One worker's layers and buffers, for chunks of up to ``m`` images.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    dtype : numpy dtype
        Floating dtype of the buffers.
    m : int
        Largest chunk.
    maps_block : int, default=None
        With a block index, that block computes every map pixel (for
        :func:`forward`'s feature maps) and the chain ends there.
    """

    def __init__(self, spec, dtype, m, *, maps_block=None):
        self.spec, self.dtype = spec, dtype
        last = spec.depth - 1 if maps_block is None else maps_block
        self.layers = [
            ConvLayer(block, dtype, m, first=b == 0, full=b == maps_block,
                      fused_grad=_fused_grad(spec, b))
            for b, block in enumerate(spec.blocks[: last + 1])
        ]
        self.dense = DenseLayer(spec, dtype, m) if maps_block is None else None
        self.images = aligned_empty((m, *spec.image_shape), dtype)
        # Views of the long-lived flat vectors (theta, the gradient slots), by
        # id with the vector kept alive: building them costs more Python time
        # than a small chunk's arithmetic, and threads share the GIL for it.
        self._view_cache = {}

    def views(self, flat):
        """``spec.views(flat)``, cached for the vector."""
        cached = self._view_cache.get(id(flat))
        if cached is None or cached[0] is not flat:
            cached = self._view_cache[id(flat)] = (flat, self.spec.views(flat))
        return cached[1]

    def chunk_patches(self, data, idx, m):
        """The first block's patches of the ``m`` images ``idx`` (slice/indices)."""
        first = self.layers[0]
        n_rows = first.block.n_rows
        out = first.patches(m)
        if data.patches is not None:
            if isinstance(idx, slice):  # a view: no copy
                return data.patches[:, idx].reshape(n_rows, -1)
            np.take(data.patches, idx, axis=1, out=out.reshape(n_rows, m, -1),
                    mode=_VALID_INDICES)
            return out
        if isinstance(idx, slice):
            images = data.images[idx]
        else:
            images = np.take(
                data.images, idx, axis=0, out=self.images[:m], mode=_VALID_INDICES
            )
        return first.patcher.write(images, out)

    def run_blocks(self, matrices, patches, m, *, bounds=None, keep_maps=False):
        """The blocks' forward pass from the first block's patches.

        Returns the last block's output and every block's patches. With
        ``bounds`` (:func:`pre_activation_bounds`) the pre-activations of
        every block whose bound overflows are checked.
        """
        all_patches = [patches]
        hidden = None
        for b, layer in enumerate(self.layers):
            if b:
                previous = self.layers[b - 1]
                patches = layer.patcher.write(
                    previous.output_view(hidden, m), layer.patches(m)
                )
                all_patches.append(patches)
            hidden = layer.forward(
                matrices[b], patches, m,
                keep_maps=keep_maps and b == len(self.layers) - 1,
                check_finite=bounds is not None and not bounded(bounds[b], self.dtype),
            )
        return hidden, all_patches

    def gradient(self, theta, patches, targets, weights, weight_sum, head, grad,
                 logits, outputs):
        """One chunk's forward and backward pass.

        Writes the gradient of ``sum_i w_i * loss_i / weight_sum`` over the
        chunk into ``grad`` (flat, every entry), and the chunk's logits and
        outputs into ``logits`` and ``outputs`` ``(m, n_outputs)``.
        """
        m = targets.shape[0]
        matrices, intercept, coef = self.views(theta)
        grad_matrices, grad_intercept, grad_coef = self.views(grad)
        hidden, all_patches = self.run_blocks(matrices, patches, m)
        dense = self.dense
        dense.forward(hidden, coef, intercept, logits)
        head.activate(logits, out=outputs)
        n_out = self.spec.n_outputs
        delta = head.gradient(
            logits, outputs, targets, weights, weight_sum,
            out=dense.delta[: m * n_out].reshape(m, n_out),
        )
        last = self.layers[-1]
        factors = dense.backward(
            hidden, delta, coef, grad_coef, grad_intercept,
            None if last.grad_hidden is None else last.grad_output(m).reshape(
                last.block.n_filters, m, -1
            ),
        )
        for b in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[b]
            grad_input = self.layers[b - 1].grad_output(m) if b else None
            layer.backward(matrices[b], all_patches[b], hidden, factors, m,
                           grad_matrices[b], grad_input)
            if b:
                previous = self.layers[b - 1]
                hidden = previous.last_hidden
                factors = (grad_input.reshape(previous.block.n_filters, m, -1),)


def forward(spec, theta, images, *, maps=None, maps_block=0, chunk_bytes=None,
            n_threads=1):
    """Logits of the network on ``images``, or one block's maps, chunk by chunk.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    theta : ndarray of shape (spec.size,)
        Flat parameters.
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch, in ``theta``'s dtype.
    maps : ndarray of shape (n_samples, n_filters, ho, wo), default=None
        If given, block ``maps_block``'s activated feature maps (before
        pooling) are written here, and no logits are computed.
    maps_block : int, default=0
        The block whose maps are written.
    chunk_bytes : int, default=None
        Memory of one chunk (None: :data:`CHUNK_BYTES`).
    n_threads : int, default=1
        Threads sharing the chunks (each with its own buffers; fewer when
        the work is too small to pay for them). The chunks and their
        arithmetic do not depend on it, so neither do the results.

    Returns
    -------
    logits : ndarray of shape (n_samples, n_outputs), or maps
    """
    dtype = theta.dtype
    n = images.shape[0]
    m = chunk_size(spec, dtype, n, chunk_bytes)
    with_maps = maps is not None
    logits = None if with_maps else np.empty((n, spec.n_outputs), dtype)
    n_chunks = -(-n // m) if n else 0
    n_threads = team_size(n_threads, n_chunks, parallel_work(spec, n))
    starts = itertools.count(0, m)
    matrices = spec.views(theta)[0]
    sums = abs_sums(matrices)

    def work(worker):
        # Each thread its own chain (its patch and padding buffers).
        chain = Chain(spec, dtype, m, maps_block=maps_block if with_maps else None)
        _, intercept, coef = chain.views(theta)
        for start in starts:
            if start >= n or (team is not None and team.cancelled):
                return
            x = images[start : start + m]
            b = x.shape[0]
            first = chain.layers[0]
            patches = first.patcher.write(x, first.patches(b))
            bounds = pre_activation_bounds(spec, sums, abs_max(x))
            hidden, _ = chain.run_blocks(matrices, patches, b, bounds=bounds,
                                         keep_maps=with_maps)
            if with_maps:
                _write_maps(chain.layers[-1], maps[start : start + b])
            else:
                chain.dense.forward(hidden, coef, intercept,
                                    logits[start : start + b])

    with one_blas_thread():
        if n_threads > 1:
            with ThreadTeam(n_threads) as team:
                team.run(work)
        else:
            team = None
            work(0)
    return maps if with_maps else logits


def _write_maps(layer, maps):
    """Write a chunk's ``(F, m * L)`` full activated maps as ``(m, F, ho, wo)``."""
    patcher = layer.patcher
    covered, right, below = patcher.split(layer.last_pre, maps.shape[0])
    # (F, m, ph, pw, hp, wp) -> (F, ph, pw, m, hp, wp), as the columns are.
    natural = cell_major_view(maps.transpose(1, 0, 2, 3), patcher.cell_hw)
    np.copyto(natural.transpose(0, 2, 3, 1, 4, 5), covered)
    if right is not None:
        hc, wc = patcher.covered_hw
        np.copyto(maps[:, :, :hc, wc:].transpose(1, 0, 2, 3), right)
        np.copyto(maps[:, :, hc:, :].transpose(1, 0, 2, 3), below)


class TrainingData:
    """Training images, their patches when small enough, and their targets.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    images : ndarray of shape (n_samples, channels, height, width)
        Training images.
    targets : ndarray of shape (n_samples, n_outputs)
        Targets encoded for the head.
    sample_weight : ndarray of shape (n_samples,) or None
        Positive weights.
    precompute_bytes : int, default=PRECOMPUTE_BYTES
        Largest patch matrix built once for the whole fit.
    """

    def __init__(self, spec, images, targets, sample_weight, precompute_bytes=None):
        precompute_bytes = (
            PRECOMPUTE_BYTES if precompute_bytes is None else precompute_bytes
        )
        self.spec, self.images, self.sample_weight = spec, images, sample_weight
        self.dtype = dtype = images.dtype
        self.targets = np.ascontiguousarray(targets, dtype=dtype)
        n = images.shape[0]
        self.patches = None
        block = spec.blocks[0]
        size = block.n_rows * n * block.n_columns * dtype.itemsize
        if block.n_cells == 1 and size <= precompute_bytes:
            # (row, image, pixel): a chunk of images is a slice or a gather
            # of whole maps along axis 1. Pooled patches are not kept: a
            # gather of their cell-major runs (a window row each) from a
            # matrix out of cache costs more than writing them anew from the
            # chunk's images.
            patcher = Patcher(block, dtype)
            patches = np.empty((block.n_rows, n, block.n_columns), dtype)
            if block.fit_intercept:
                patches[-1] = 1
            step = max(1, 2**22 // max(1, images[0].size))  # bounds the padding
            hp, wp = block.hidden_hw
            for start in range(0, n, step):
                x = images[start : start + step]
                view = patches[: block.n_kernel, start : start + step]
                patcher.write_view(
                    x, view.reshape(block.n_kernel, 1, 1, len(x), hp, wp)
                )
            self.patches = patches
        self._x_max = None

    def x_max(self):
        """Largest absolute pixel value (for the overflow bound)."""
        if self._x_max is None:
            # Without np.abs's temporary copy of the images, which cost a
            # serial 10% of a 28x28 epoch.
            self._x_max = abs_max(self.images)
        return self._x_max
