"""The fast kernels: forward and backward passes over preallocated buffers.

For a network this small the cost is per-call overhead at small batches and
memory traffic at large ones, so the math is laid out for both:

- **Flipped patches, transposed.** A chunk of ``m`` images becomes a patch
  matrix ``(K1, m * L)``, its rows over ``(channel, kh, kw)`` *flipped*, so
  that the true convolution is one GEMM with the kernels as stored, ``pre (F,
  m * L) = block (F, K1) @ patches``; with biases a row of ones adds them in
  the same GEMM, and the kernel gradient is another, ``grad_pre @ patches.T``.
- **Pooling-ready columns.** With pooling, an image's ``L`` columns are only
  the pixels that windows cover, cell-major (:func:`~._pooling.to_cell_major`):
  every cell of every window is then one contiguous run, so pooling and its
  gradient are a few whole-array calls, and the rows and columns pooling drops
  are never computed. :func:`forward` adds them, after the covered ones, only
  when the feature maps are asked for.
- **Cache-sized chunks, forward and backward fused.** A chunk's patches,
  activations and gradients take about :data:`CHUNK_BYTES`, so that every
  step of its forward and backward pass finds them in the core's L2 cache.
  Each chunk writes its own gradient; the caller sums them in chunk order,
  so that the result does not depend on which thread ran which chunk.
- **Patches once per fit** for unpooled networks whose training set's patch
  matrix is small (:data:`PRECOMPUTE_BYTES`): a chunk is then a slice or a
  gather. Pooled patches are written from the chunk's images every time:
  their shifted window grids, copied once and fanned out, cost less than
  gathering the cell-major runs of a patch matrix that has left the cache.
- **A lean loop for one image per step** (``batch_size=1``, the tutorial's
  updates), where the cost is the number of NumPy calls.

:func:`forward` is the one forward pass of ``predict``, ``feature_maps`` and
validation scoring. A non-finite pre-activation raises
:class:`ConvolutionOverflowError`, decided on the pre-activations themselves
(``tanh(inf)`` is 1, and ``inf - inf`` is NaN only on some BLAS kernels).
NumPy only; no state outside the objects' buffers.
"""

import itertools
import math

import numpy as np

from ._images import same_padding
from ._parallel import ThreadTeam, one_blas_thread, team_size
from ._pooling import cell_major_view, cell_pool_backward, cell_pool_forward

__all__ = [
    "CHUNK_BYTES",
    "PRECOMPUTE_BYTES",
    "ConvolutionOverflowError",
    "TrainingData",
    "Workspace",
    "aligned_empty",
    "chunk_size",
    "forward",
    "one_blas_thread",
    "parallel_work",
]

#: Unpooled patch matrices of the whole training set up to this size are built
#: once per fit; larger ones, and pooled ones, chunk by chunk into reused
#: buffers.
PRECOMPUTE_BYTES = 64 * 2**20

#: A chunk's patches, activations and gradients take about this much memory:
#: they stay in a core's L2 cache between the steps of its passes.
CHUNK_BYTES = 3 * 2**18

#: ``np.take`` mode for indices known valid (a batch of a permutation): with
#: ``out`` and the default "raise" NumPy first gathers into a temporary, in
#: case an index fails; "wrap" writes ``out`` directly, twice as fast.
_VALID_INDICES = "wrap"


class ConvolutionOverflowError(ValueError):
    """The convolution's pre-activations are not finite (they overflowed)."""


def pre_activations_bounded(block_abs_sum, x_max, dtype):
    """Whether no pre-activation can overflow for inputs up to ``x_max``.

    ``|sum_k b_k x_k + c| <= max(max|x|, 1) * sum |block|`` (biases included,
    their input being the patches' row of ones) whatever order a BLAS kernel
    sums in: below it the exact test is skipped. ``block_abs_sum`` is
    ``sum |block|``, computed once for many calls.
    """
    return max(x_max, 1.0) * block_abs_sum < _FLOAT_MAX[np.dtype(dtype).char]


def abs_max(array):
    """``max |array|`` (0 when empty), without ``np.abs``'s temporary copy."""
    return float(max(np.max(array, initial=0.0), -np.min(array, initial=0.0)))


_FLOAT_MAX = {
    "f": float(np.finfo(np.float32).max),
    "d": float(np.finfo(np.float64).max),
}


def _check_pre_finite(pre, dtype):
    if not np.isfinite(pre).all():
        hint = " or use float64" if np.dtype(dtype) == np.float32 else ""
        raise ConvolutionOverflowError(
            "X and the kernels are so large that the convolution overflowed "
            f"{np.dtype(dtype).name}: scale the inputs (e.g. StandardScaler)"
            f"{hint}."
        )


def _tap_rows(channels, kernel_hw):
    """``(row, channel, i, j)``: patch row ``row`` holds the window at ``(i, j)``.

    Rows run over ``(channel, a, b)`` of the kernel and hold the image at offset
    ``(kh - 1 - a, kw - 1 - b)``: a true convolution is then a plain dot product
    of a kernel with a patch column.
    """
    kh, kw = kernel_hw
    return [
        (c * kh * kw + (kh - 1 - i) * kw + (kw - 1 - j), c, i, j)
        for c in range(channels)
        for i in range(kh)
        for j in range(kw)
    ]


def aligned_empty(shape, dtype, align=64):
    """An uninitialised C-contiguous array whose data starts on ``align`` bytes.

    Every worker's buffers start on a cache line, so that no SIMD kernel
    takes a different path (and rounds differently) for one thread's buffer
    than for another's.
    """
    dtype = np.dtype(dtype)
    size = math.prod(shape) if isinstance(shape, tuple) else int(shape)
    raw = np.empty(size * dtype.itemsize + align, np.uint8)
    offset = -raw.ctypes.data % align
    return raw[offset : offset + size * dtype.itemsize].view(dtype).reshape(shape)


def chunk_size(arch, dtype, n_images, chunk_bytes=None):
    """Images per chunk: their patches, maps and gradients in ``chunk_bytes``."""
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    itemsize = np.dtype(dtype).itemsize
    # The operands of the two GEMMs, which every pass of a chunk reads: the
    # patches and the maps, with a second map-sized buffer where the backward
    # pass cannot run in place over the maps. The pooled buffers (a quarter of
    # the maps or less) are left out: they fit beside them in the cache, and
    # counting them would split batches into more chunks, each with its fixed
    # cost (docs/notes/kernels.md).
    maps = arch.n_filters * (1 + _needs_grad_maps(arch))
    per_image = arch.n_columns * (maps + arch.n_rows) * itemsize
    return int(max(1, min(n_images, chunk_bytes // per_image)))


def _needs_grad_maps(arch):
    # Pooled maps take their gradient in place (max: the mask of maxima is
    # taken first; avg: into tanh'), as do unpooled ones with one output.
    return arch.pooling is None and arch.n_outputs > 1


class _Patcher:
    """Writes the flipped patches of images into a ``(K1, m * L)`` buffer.

    A chunk's columns are cell-major across its images: ``(cell, image,
    window)`` over the ``arch.n_columns`` covered pixels of each image, so
    that one cell of every window of the chunk is one contiguous run. With
    ``full``, each image's other pixels follow, ``(image, pixel)`` with the
    pixels row-major (the covered rows' right strip, then the rows below).
    """

    def __init__(self, arch, dtype, *, full=False):
        self.arch, self.dtype = arch, dtype
        self.taps = _tap_rows(arch.image_shape[0], arch.kernel_hw)
        self.pad = same_padding(arch.kernel_hw) if arch.padding == "same" else None
        self._padded, self._grid_buffers = None, {}
        self.n_columns = arch.n_pixels if full else arch.n_columns
        ph, pw = arch.pool_hw if arch.pooling is not None else (1, 1)
        hp, wp = arch.hidden_hw
        self.cell_hw, self.covered_hw = (ph, pw), (hp * ph, wp * pw)
        kh, kw = arch.kernel_hw
        self.n_shifts = (kh + ph - 1, kw + pw - 1)

    def new_buffer(self, m):
        buffer = aligned_empty((self.arch.n_rows, m * self.n_columns), self.dtype)
        if self.arch.fit_intercept:
            buffer[-1] = 1
        return buffer

    def write(self, images, out):
        """Write the patches of ``images`` into ``out`` ``(K1, m * L)``."""
        self.write_view(images, *self.split(out[: self.arch.n_kernel], len(images)))
        return out

    def split(self, columns, m):
        """Views of a chunk's ``(..., m * L)`` columns.

        Returns the covered columns ``(..., ph, pw, m, hp, wp)`` and, with
        ``full``, the others as ``(..., m, hc, wo - wc)`` and ``(..., m, ho -
        hc, wo)`` (else None, None).
        """
        arch = self.arch
        (ph, pw), (hp, wp) = self.cell_hw, arch.hidden_hw
        (hc, wc), (ho, wo) = self.covered_hw, arch.map_hw
        lead = columns.shape[:-1]
        n_covered = m * arch.n_columns
        # Splitting the last axis of a slice is always a view.
        covered = columns[..., :n_covered].reshape(*lead, ph, pw, m, hp, wp)
        if self.n_columns == arch.n_columns:
            return covered, None, None
        n_rest = arch.n_pixels - arch.n_columns
        rest = columns[..., n_covered:].reshape(*lead, m, n_rest)
        n_right = hc * (wo - wc)
        right = rest[..., :n_right].reshape(*lead, m, hc, wo - wc)
        below = rest[..., n_right:].reshape(*lead, m, ho - hc, wo)
        return covered, right, below

    def write_view(self, images, covered, right=None, below=None):
        """Write the patches into the views of :meth:`split` (``K`` rows)."""
        m = images.shape[0]
        if self.pad is not None:
            (top, bottom), (left, right_pad) = self.pad
            _, c, h, w = images.shape
            if self._padded is None or self._padded.shape[0] < m:
                self._padded = aligned_empty(
                    (m, c, h + top + bottom, w + left + right_pad), self.dtype
                )
                self._padded[...] = 0
            padded = self._padded[:m]
            np.copyto(padded[:, :, top : top + h, left : left + w], images)
            images = padded
        (ho, wo), (hc, wc) = self.arch.map_hw, self.covered_hw
        (ph, pw), (hp, wp) = self.cell_hw, self.arch.hidden_hw
        (kh, kw), channels = self.arch.kernel_hw, images.shape[1]
        # Row (c, kh - 1 - i, kw - 1 - j) holds tap (c, i, j), cell (ci, cj)
        # of window (a, b) the pixel (i + ci + ph * a, j + cj + pw * b).
        taps = covered.reshape(channels, kh, kw, ph, pw, m, hp, wp)[:, ::-1, ::-1]
        # Taps and cells share their pixels through the sums i + ci and j +
        # cj: the (kh + ph - 1) x (kw + pw - 1) shifted window grids are
        # gathered from the images once, in copies whose runs are a window
        # row, then fanned out to every (tap, cell) in runs of whole chunks.
        # Without pooling the grids are the taps themselves.
        if not images.flags.c_contiguous:  # for the buffer of _strided
            images = np.ascontiguousarray(images)
        s = images.strides
        source = _strided(
            images, (channels, *self.n_shifts, m, hp, wp),
            (s[1], s[2], s[3], s[0], ph * s[2], pw * s[3]),
        )
        if ph * pw == 1:
            np.copyto(taps[:, :, :, 0, 0], source)
        else:
            grids, fan_out = self._grids(source.shape, taps.shape)
            np.copyto(grids, source)
            np.copyto(taps, fan_out)
        if right is not None:
            for row, c, i, j in self.taps:
                np.copyto(right[row], images[:, c, i : i + hc, j + wc : j + wo])
                np.copyto(below[row], images[:, c, i + hc : i + ho, j : j + wo])

    def _grids(self, grid_shape, taps_shape):
        """The shifted grids' buffer of a chunk, and its view by (tap, cell)."""
        cached = self._grid_buffers.get(grid_shape)
        if cached is None:
            grids = aligned_empty(grid_shape, self.dtype)
            q = grids.strides
            fan_out = _strided(grids, taps_shape, (*q[:3], q[1], q[2], *q[3:]))
            cached = self._grid_buffers[grid_shape] = grids, fan_out
        return cached


def _strided(array, shape, strides):
    """View of the C-contiguous ``array`` with ``shape`` and byte ``strides``.

    As ``as_strided``, without its Python overhead, which is not small beside
    a chunk's patch writing; the caller keeps every index inside ``array``.
    """
    return np.ndarray(shape, array.dtype, array, 0, strides)


def parallel_work(arch, n_images):
    """Multiply-adds of the convolution's GEMM over ``n_images`` images.

    The measure of work of :data:`~._parallel.MIN_PARALLEL_WORK`.
    """
    return n_images * arch.n_columns * arch.n_rows * arch.n_filters


def forward(arch, theta, images, *, maps=None, chunk_bytes=None, n_threads=1):
    """Logits of the network on ``images``, chunk by chunk.

    Parameters
    ----------
    arch : Architecture
        The network.
    theta : ndarray of shape (arch.size,)
        Flat parameters.
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch, in ``theta``'s dtype.
    maps : ndarray of shape (n_samples, n_filters, ho, wo), default=None
        If given, the post-tanh feature maps (before pooling) are written here.
    chunk_bytes : int, default=None
        Memory of one chunk (None: :data:`CHUNK_BYTES`).
    n_threads : int, default=1
        Threads sharing the chunks (each with its own buffers; fewer when
        the work is too small to pay for them). The chunks and their
        arithmetic do not depend on it, so neither do the results.

    Returns
    -------
    logits : ndarray of shape (n_samples, n_outputs)
    """
    dtype = theta.dtype
    block, intercept, coef = arch.views(theta)
    n = images.shape[0]
    F, n_out = arch.n_filters, arch.n_outputs
    L = arch.n_pixels if maps is not None else arch.n_columns
    P = arch.hidden_hw[0] * arch.hidden_hw[1]
    coef3 = coef.reshape(F, P, n_out)
    total = float(np.abs(block).sum())
    m = chunk_size(arch, dtype, n, chunk_bytes)
    logits = np.empty((n, n_out), dtype)
    n_chunks = -(-n // m) if n else 0
    n_threads = team_size(n_threads, n_chunks, parallel_work(arch, n))
    starts = itertools.count(0, m)

    def work(worker):
        # Each thread its own patcher (its padding buffer) and buffers.
        patcher, buffers = _Patcher(arch, dtype, full=maps is not None), {}
        for start in starts:
            if start >= n or (team is not None and team.cancelled):
                return
            x = images[start : start + m]
            b = x.shape[0]
            if b not in buffers:  # the full chunk size, and the last one's
                buffers[b] = (patcher.new_buffer(b), aligned_empty((F, b * L), dtype))
            patches, act = buffers[b]
            np.dot(block, patcher.write(x, patches), out=act)
            if not pre_activations_bounded(total, abs_max(x), dtype):
                _check_pre_finite(act, dtype)
            if arch.pooling is None:
                hidden = np.tanh(act, out=act)
            else:
                # (filter, cell, image and window): see _Patcher.
                cells = act[:, : b * arch.n_columns].reshape(F, arch.n_cells, b * P)
                if arch.pooling == "max":
                    # As in training: tanh is monotonic, so it runs on the
                    # pooled pre-activations only.
                    hidden = np.tanh(cell_pool_forward(cells, "max"))
                    if maps is not None:
                        np.tanh(act, out=act)
                else:
                    np.tanh(act, out=act)
                    hidden = cell_pool_forward(cells, "avg")
            if maps is not None:
                _write_maps(patcher, act, maps[start : start + b])
            np.sum(
                np.matmul(hidden[:, : b * P].reshape(F, b, P), coef3), axis=0,
                out=logits[start : start + b],
            )

    with one_blas_thread():
        if n_threads > 1:
            with ThreadTeam(n_threads) as team:
                team.run(work)
        else:
            team = None
            work(0)
    if intercept is not None:
        np.add(logits, intercept, out=logits)
    return logits


def _write_maps(patcher, act, maps):
    """Write a chunk's ``(F, m * L)`` full activations as ``(m, F, ho, wo)``."""
    covered, right, below = patcher.split(act, maps.shape[0])
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
    arch : Architecture
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

    def __init__(self, arch, images, targets, sample_weight, precompute_bytes=None):
        precompute_bytes = (
            PRECOMPUTE_BYTES if precompute_bytes is None else precompute_bytes
        )
        self.arch, self.images, self.sample_weight = arch, images, sample_weight
        self.dtype = dtype = images.dtype
        self.targets = np.ascontiguousarray(targets, dtype=dtype)
        n = images.shape[0]
        self.patches = None
        size = arch.n_rows * n * arch.n_columns * dtype.itemsize
        if arch.n_cells == 1 and size <= precompute_bytes:
            # (row, image, pixel): a chunk of images is a slice or a gather
            # of whole maps along axis 1. Pooled patches are not kept: a
            # gather of their cell-major runs (a window row each) from a
            # matrix out of cache costs more than writing them anew from the
            # chunk's images (_Patcher.write_view), 20-30% of a pooled epoch.
            patcher = _Patcher(arch, dtype)
            patches = np.empty((arch.n_rows, n, arch.n_columns), dtype)
            if arch.fit_intercept:
                patches[-1] = 1
            step = max(1, 2**22 // max(1, images[0].size))  # bounds the padding
            hp, wp = arch.hidden_hw
            for start in range(0, n, step):
                x = images[start : start + step]
                view = patches[: arch.n_kernel, start : start + step]
                patcher.write_view(
                    x, view.reshape(arch.n_kernel, 1, 1, len(x), hp, wp)
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


class Workspace:
    """Buffers of one worker for chunks of up to ``m`` images.

    :meth:`gradient` runs one chunk's forward and backward pass and writes its
    gradient, unnormalised by nothing but ``weight_sum``, into a flat vector.
    """

    def __init__(self, arch, dtype, m):
        F, L, n_out = arch.n_filters, arch.n_columns, arch.n_outputs
        self.arch, self.dtype = arch, dtype
        self.patcher = _Patcher(arch, dtype)
        # Patch buffers by chunk length (the full one and the last one's):
        # their row of ones is written once.
        self._patches = {}
        self.images = aligned_empty((m, *arch.image_shape), dtype)
        # Flat, so that a shorter chunk's views are contiguous too.
        self.act = aligned_empty(F * m * L, dtype)
        self.grad_act = aligned_empty(F * m * L * _needs_grad_maps(arch), dtype)
        hidden = F * m * arch.hidden_hw[0] * arch.hidden_hw[1]
        self.hidden = aligned_empty(hidden, dtype)
        self.grad_hidden = aligned_empty(hidden, dtype)
        self.pooled_pre = aligned_empty(hidden, dtype)
        self.square = aligned_empty(hidden, dtype)
        self.dense = aligned_empty(F * m * n_out, dtype)
        self.delta = aligned_empty(m * n_out, dtype)
        self._sizes = (F, L, n_out, arch.hidden_hw[0] * arch.hidden_hw[1])
        # Views of the long-lived flat vectors (theta, the gradient slots), by
        # id with the vector kept alive: building them costs more Python time
        # than a small chunk's arithmetic, and threads share the GIL for it.
        self._view_cache = {}

    def _views(self, flat):
        cached = self._view_cache.get(id(flat))
        if cached is None or cached[0] is not flat:
            cached = self._view_cache[id(flat)] = (flat, self.arch.views(flat))
        return cached[1]

    def chunk_patches(self, data, idx, m):
        """The patch matrix of the ``m`` images ``idx`` (a slice or indices)."""
        arch = self.arch
        out = self._patches.get(m)
        if out is None:
            out = self._patches[m] = self.patcher.new_buffer(m)
        if data.patches is not None:
            if isinstance(idx, slice):  # a view: no copy
                return data.patches[:, idx].reshape(arch.n_rows, -1)
            np.take(data.patches, idx, axis=1, out=out.reshape(arch.n_rows, m, -1),
                    mode=_VALID_INDICES)
            return out
        if isinstance(idx, slice):
            images = data.images[idx]
        else:
            images = np.take(
                data.images, idx, axis=0, out=self.images[:m], mode=_VALID_INDICES
            )
        return self.patcher.write(images, out)

    def gradient(self, theta, patches, targets, weights, weight_sum, head, grad,
                 logits, outputs):
        """One chunk's forward and backward pass.

        Writes the gradient of ``sum_i w_i * loss_i / weight_sum`` over the
        chunk into ``grad`` (flat, every entry), and the chunk's logits and
        outputs into ``logits`` and ``outputs`` ``(m, n_outputs)``.
        """
        arch = self.arch
        F, L, n_out, P = self._sizes
        m = targets.shape[0]
        block, intercept, coef = self._views(theta)
        grad_block, grad_intercept, grad_coef = self._views(grad)
        coef3 = coef.reshape(F, P, n_out)
        act = self.act[: F * m * L].reshape(F, m * L)
        np.dot(block, patches, out=act)
        # Columns (see _Patcher): (filter, cell, image and window).
        cells = act.reshape(F, arch.n_cells, m * P)
        max_first = arch.pooling == "max"
        if max_first:
            # tanh is monotonic: the max of the maps is tanh of the max of
            # the pre-activations, so tanh (and its derivative below) run on
            # the pooled values only; act keeps the pre-activations.
            pooled_pre = self.pooled_pre[: F * m * P].reshape(F, m * P)
            cell_pool_forward(cells, "max", out=pooled_pre)
            hidden = np.tanh(
                pooled_pre, out=self.hidden[: F * m * P].reshape(F, m * P)
            ).reshape(F, m, P)
        else:
            np.tanh(act, out=act)
            if arch.pooling is None:
                hidden = act.reshape(F, m, P)
            else:
                hidden = self.hidden[: F * m * P].reshape(F, m, P)
                cell_pool_forward(cells, "avg", out=hidden.reshape(F, m * P))
        dense = np.matmul(hidden, coef3, out=self.dense[: F * m * n_out].reshape(
            F, m, n_out
        ))
        # ufunc.reduce directly: np.sum's Python wrapper costs GIL time.
        np.add.reduce(dense, axis=0, out=logits)
        if intercept is not None:
            np.add(logits, intercept, out=logits)
        head.activate(logits, out=outputs)
        delta = head.gradient(
            logits, outputs, targets, weights, weight_sum,
            out=self.delta[: m * n_out].reshape(m, n_out),
        )
        if grad_intercept is not None:
            np.add.reduce(delta, axis=0, out=grad_intercept)
        # dense backward: coef's gradient, and the hidden units' (F, m, P)
        np.matmul(
            hidden.transpose(0, 2, 1), delta, out=grad_coef.reshape(F, P, n_out)
        )
        if arch.pooling is None and n_out == 1:
            # One output, no pooling: the maps' gradient is coef * delta,
            # multiplied in place into tanh' (written from the output,
            # 1 - a**2) over the maps, which are no longer needed.
            np.multiply(act, act, out=act)
            np.subtract(1.0, act, out=act)
            act3 = act.reshape(F, m, L)
            np.multiply(act3, coef3.reshape(F, 1, P), out=act3)
            np.multiply(act3, delta.reshape(1, m, 1), out=act3)
        else:
            if arch.pooling is None:
                grad_hidden = self.grad_act[: F * m * L].reshape(F, m, P)
            else:
                grad_hidden = self.grad_hidden[: F * m * P].reshape(F, m, P)
            if n_out == 1:
                np.multiply(
                    coef3.reshape(F, 1, P), delta.reshape(1, m, 1), out=grad_hidden
                )
            else:
                np.matmul(delta, coef3.transpose(0, 2, 1), out=grad_hidden)
            if max_first:
                # tanh' = 1 - a**2 on the pooled maps, then to the first
                # maximum of each window, in place over the pre-activations
                # (the mask of maxima is taken from them first).
                square = self.square[: F * m * P].reshape(F, m, P)
                np.multiply(hidden, hidden, out=square)
                np.subtract(1.0, square, out=square)
                np.multiply(grad_hidden, square, out=grad_hidden)
                cell_pool_backward(
                    grad_hidden.reshape(F, m * P), cells, "max", out=cells,
                    pooled=pooled_pre,
                )
            else:
                # tanh backward, written from the output: 1 - a**2, in place
                # over the maps (no longer needed).
                np.multiply(act, act, out=act)
                np.subtract(1.0, act, out=act)
                if arch.pooling is None:
                    np.multiply(act, grad_hidden.reshape(F, m * L), out=act)
                else:
                    # Average pooling's gradient, grad / n_cells on every
                    # cell, straight into tanh'.
                    np.multiply(grad_hidden, 1.0 / arch.n_cells, out=grad_hidden)
                    np.multiply(
                        cells, grad_hidden.reshape(F, 1, m * P), out=cells
                    )
        # conv backward: kernels and (through the ones) their biases
        np.dot(act, patches.T, out=grad_block)
