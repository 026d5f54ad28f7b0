"""Patch matrices of a convolution block (im2col) and their adjoint (col2im).

A chunk of ``m`` inputs becomes a patch matrix ``(K1, m * L)``, its rows over
``(channel, kh, kw)`` *flipped*, so that the true convolution is one GEMM with
the kernels as stored. With pooling, an input's ``L`` columns are only the
pixels that windows cover, cell-major (:func:`~._pooling.to_cell_major`):
every cell of every window of the chunk is one contiguous run, so pooling and
its gradient are a few whole-array calls, and the rows and columns pooling
drops are never computed.

Inputs come in two layouts: the images, ``(m, channels, h, w)``, and the
maps of a previous block, ``(channels, m, h, w)`` (channel first, as its GEMM
writes them), read in place. :meth:`Patcher.scatter_add` is the adjoint of
the patch writing: it sums a gradient with respect to the patches back onto
the input, the convolution's input gradient. NumPy only; no state outside
the objects' buffers.
"""

import math

import numpy as np

from ._images import same_padding

__all__ = ["Patcher", "aligned_empty", "strided"]


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


def strided(array, shape, strides, offset=0):
    """View of the C-contiguous ``array`` with ``shape`` and byte ``strides``.

    As ``as_strided``, without its Python overhead, which is not small beside
    a chunk's patch writing; the caller keeps every index inside ``array``.
    """
    return np.ndarray(shape, array.dtype, array, offset, strides)


class Patcher:
    """Writes the flipped patches of a block's inputs into ``(K1, m * L)``.

    A chunk's columns are cell-major across its inputs: ``(cell, input,
    window)`` over the ``block.n_columns`` covered pixels of each input, so
    that one cell of every window of the chunk is one contiguous run. With
    ``full``, each input's other pixels follow, ``(input, pixel)`` with the
    pixels row-major (the covered rows' right strip, then the rows below).

    Parameters
    ----------
    block : BlockSpec
        The block whose patches are written.
    dtype : numpy dtype
        Floating dtype of the buffers.
    full : bool, default=False
        Whether every map pixel gets a column (for the feature maps).
    channel_first : bool, default=False
        Whether inputs come as ``(channels, m, h, w)`` (a previous block's
        maps) rather than ``(m, channels, h, w)`` (images).
    """

    def __init__(self, block, dtype, *, full=False, channel_first=False):
        self.block, self.dtype = block, dtype
        self.channel_first = channel_first
        self.pad = same_padding(block.kernel_hw) if block.padding == "same" else None
        self._padded, self._grid_buffers = {}, {}
        self.n_columns = block.n_pixels if full else block.n_columns
        ph, pw = block.pool_hw if block.pooling is not None else (1, 1)
        hp, wp = block.hidden_hw
        self.cell_hw, self.covered_hw = (ph, pw), (hp * ph, wp * pw)
        kh, kw = block.kernel_hw
        self.n_shifts = (kh + ph - 1, kw + pw - 1)

    def new_buffer(self, m):
        """A ``(K1, m * L)`` patch buffer, its row of ones (biases) written."""
        buffer = aligned_empty((self.block.n_rows, m * self.n_columns), self.dtype)
        if self.block.fit_intercept:
            buffer[-1] = 1
        return buffer

    def write(self, x, out):
        """Write the patches of the inputs ``x`` into ``out`` ``(K1, m * L)``."""
        m = x.shape[1] if self.channel_first else x.shape[0]
        self.write_view(x, *self.split(out[: self.block.n_kernel], m))
        return out

    def split(self, columns, m):
        """Views of a chunk's ``(..., m * L)`` columns.

        Returns the covered columns ``(..., ph, pw, m, hp, wp)`` and, with
        ``full``, the others as ``(..., m, hc, wo - wc)`` and ``(..., m, ho -
        hc, wo)`` (else None, None).
        """
        block = self.block
        (ph, pw), (hp, wp) = self.cell_hw, block.hidden_hw
        (hc, wc), (ho, wo) = self.covered_hw, block.map_hw
        lead = columns.shape[:-1]
        n_covered = m * block.n_columns
        # Splitting the last axis of a slice is always a view.
        covered = columns[..., :n_covered].reshape(*lead, ph, pw, m, hp, wp)
        if self.n_columns == block.n_columns:
            return covered, None, None
        n_rest = block.n_pixels - block.n_columns
        rest = columns[..., n_covered:].reshape(*lead, m, n_rest)
        n_right = hc * (wo - wc)
        right = rest[..., :n_right].reshape(*lead, m, hc, wo - wc)
        below = rest[..., n_right:].reshape(*lead, m, ho - hc, wo)
        return covered, right, below

    def _padded_input(self, x):
        """``x`` with its "same" zero border, in a buffer reused by shape."""
        (top, bottom), (left, right) = self.pad
        lead, (h, w) = x.shape[:2], x.shape[2:]
        padded = self._padded.get(lead)
        if padded is None:
            padded = self._padded[lead] = aligned_empty(
                (*lead, h + top + bottom, w + left + right), self.dtype
            )
            padded[...] = 0
        np.copyto(padded[:, :, top : top + h, left : left + w], x)
        return padded

    def _axes(self, x):
        """``(m, channels, (s_m, s_c, s_h, s_w))`` of an input in its layout."""
        s = x.strides
        if self.channel_first:
            return x.shape[1], x.shape[0], (s[1], s[0], s[2], s[3])
        return x.shape[0], x.shape[1], s

    def write_view(self, x, covered, right=None, below=None):
        """Write the patches into the views of :meth:`split` (``K`` rows)."""
        if self.pad is not None:
            x = self._padded_input(x)
        elif not x.flags.c_contiguous:  # for the buffer of strided()
            x = np.ascontiguousarray(x)
        m, channels, (s_m, s_c, s_h, s_w) = self._axes(x)
        (ho, wo), (hc, wc) = self.block.map_hw, self.covered_hw
        (ph, pw), (hp, wp) = self.cell_hw, self.block.hidden_hw
        kh, kw = self.block.kernel_hw
        # Row (c, kh - 1 - i, kw - 1 - j) holds tap (c, i, j), cell (ci, cj)
        # of window (a, b) the pixel (i + ci + ph * a, j + cj + pw * b).
        taps = covered.reshape(channels, kh, kw, ph, pw, m, hp, wp)[:, ::-1, ::-1]
        # Taps and cells share their pixels through the sums i + ci and j +
        # cj: the (kh + ph - 1) x (kw + pw - 1) shifted window grids are
        # gathered from the inputs once, in copies whose runs are a window
        # row, then fanned out to every (tap, cell) in runs of whole chunks.
        # Without pooling the grids are the taps themselves.
        source = strided(
            x, (channels, *self.n_shifts, m, hp, wp),
            (s_c, s_h, s_w, s_m, ph * s_h, pw * s_w),
        )
        if ph * pw == 1:
            np.copyto(taps[:, :, :, 0, 0], source)
        else:
            grids, fan_out = self._grids(source.shape, taps.shape)
            np.copyto(grids, source)
            np.copyto(taps, fan_out)
        if right is not None:
            for c in range(channels):
                image = x[c] if self.channel_first else x[:, c]
                for i in range(kh):
                    for j in range(kw):
                        row = c * kh * kw + (kh - 1 - i) * kw + (kw - 1 - j)
                        np.copyto(right[row], image[:, i : i + hc, j + wc : j + wo])
                        np.copyto(below[row], image[:, i + hc : i + ho, j : j + wo])

    def _grids(self, grid_shape, taps_shape):
        """The shifted grids' buffer of a chunk, and its view by (tap, cell)."""
        cached = self._grid_buffers.get(grid_shape)
        if cached is None:
            grids = aligned_empty(grid_shape, self.dtype)
            q = grids.strides
            fan_out = strided(grids, taps_shape, (*q[:3], q[1], q[2], *q[3:]))
            cached = self._grid_buffers[grid_shape] = grids, fan_out
        return cached

    @property
    def grad_row_width(self):
        """Columns of a row of the inputs' gradient buffer: the (padded) input's."""
        w = self.block.in_shape[2]
        return w if self.pad is None else w + sum(self.pad[1])

    def natural_order(self, columns, out):
        """Write covered columns ``(R, m * L)`` as rows of the input's width.

        ``out`` ``(R, m * hc * wg)``, with ``wg`` the (padded) input's width
        (:attr:`grad_row_width`), receives the columns in natural order,
        ``(input, row, column)`` over the covered pixels, each covered row
        followed by ``wg - wc`` zeros: the layout :meth:`scatter_add` reads.
        Only the covered values are written: ``out`` must come zeroed, and
        dedicated to this.
        """
        (ph, pw), (hp, wp) = self.cell_hw, self.block.hidden_hw
        (hc, wc), wg = self.covered_hw, self.grad_row_width
        rows = columns.shape[0]
        m = columns.shape[1] // (ph * pw * hp * wp)
        wide = out.reshape(rows, m, hc, wg)[..., :wc]
        cells = columns.reshape(rows, ph, pw, m, hp, wp).transpose(0, 3, 4, 1, 5, 2)
        np.copyto(wide.reshape(rows, m, hp, ph, wp, pw), cells)
        return out

    def scatter_add(self, grad_patches, out):
        """Sum a gradient w.r.t. the covered patches back onto the inputs.

        The adjoint of :meth:`write` (col2im): every patch entry adds its
        gradient to the input pixel it was copied from.

        Parameters
        ----------
        grad_patches : ndarray of shape (K, m * hc * wg)
            Gradient with respect to the first ``K = n_kernel`` patch rows in
            the layout of :meth:`natural_order`: each covered row widened to
            the (padded) input's width ``wg`` with zeros.
        out : ndarray of shape (channels, m, h, w)
            The inputs' gradient, channel first, overwritten.

        Returns
        -------
        out : ndarray of shape (channels, m, h, w)
        """
        channels, m = out.shape[:2]
        hc, wg = self.covered_hw[0], self.grad_row_width
        kh, kw = self.block.kernel_hw
        padded, flat = self._padded_grad(out.shape)
        flat[...] = 0
        taps = grad_patches.reshape(channels, kh, kw, m, hc * wg)
        s_c, s_m = padded.strides[:2]
        item = padded.itemsize
        # One call per kernel offset. Rows as wide as the input's make each
        # input's covered rows one run of hc * wg values (the widening zeros
        # add nothing where a run wraps onto the next row), in place of a run
        # per row: the pixels of one tap are distinct, while different taps
        # overlap and must add in turn.
        for i in range(kh):
            for j in range(kw):
                target = strided(flat, (channels, m, hc * wg), (s_c, s_m, item),
                                 (i * wg + j) * item)
                np.add(target, taps[:, kh - 1 - i, kw - 1 - j], out=target)
        h, w = out.shape[2:]
        (top, _), (left, _) = self.pad if self.pad is not None else ((0, 0), (0, 0))
        np.copyto(out, padded[:, :, top : top + h, left : left + w])
        return out

    def _padded_grad(self, shape):
        """The (padded) inputs' gradient buffer, and the flat buffer under it.

        A tap's run may wrap past an input's last row by up to ``kw - 1``
        zeros: onto the next input's top rows, or past the last one into the
        buffer's tail.
        """
        channels, m, h, _ = shape
        key = ("grad", *shape)
        cached = self._padded.get(key)
        if cached is None:
            hg = h if self.pad is None else h + sum(self.pad[0])
            size = channels * m * hg * self.grad_row_width
            flat = aligned_empty(size + self.block.kernel_hw[1], self.dtype)
            padded = flat[:size].reshape(channels, m, hg, self.grad_row_width)
            cached = self._padded[key] = padded, flat
        return cached
