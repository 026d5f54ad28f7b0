"""The training hot path: epochs over preallocated buffers, in place.

:func:`._network.loss_and_gradients` and :func:`._optimizers.update_params`
are the reference: clear, pure, and allocating fresh arrays at every call.
For a network this small the cost of training is per-call overhead at small
batch sizes and memory traffic at large ones, so the estimator's batch loop
runs here instead, on the same math laid out for speed:

- **Flat parameters.** Kernels (with the kernel biases as an extra column),
  dense biases and dense weights live in one flat vector ``theta``, their
  gradient in one flat ``grad`` and the optimiser's running averages in flat
  vectors of the same layout, so that an optimiser step is a handful of NumPy
  calls whatever the number of parameter arrays. Every array keeps its public
  element order (kernels ``(F, c, kh, kw)``, ``coef`` rows C-ordered over
  ``(F, ho, wo)``), so loading and exporting are plain copies.
- **Flipped patches, transposed.** Patches are laid out ``(K, n_images *
  n_pixels)`` with ``K`` over ``(channel, kh, kw)`` *flipped*: the true
  convolution is then a product with the kernels as stored, ``pre (F, n * L)
  = kernels (F, K) @ patches (K, n * L)``, one GEMM, and the kernel gradient
  another, ``grad_pre (F, n * L) @ patches.T``. With biases a row of ones is
  appended, so both GEMMs also add the bias and sum its gradient. Each row of
  the patch matrix is one contiguous copy of an image window.
- **Patches once per fit** when the whole training set's patch matrix is
  small (:data:`PRECOMPUTE_BYTES`): a batch is then a slice or a gather;
  otherwise each batch copies its windows into a reused buffer.
- **Cache-sized chunks.** A mini-batch runs in chunks of images whose patches
  and activations take about :data:`CHUNK_BYTES`, so that each step of the
  forward and backward passes finds them in the core's L2 cache; the tanh
  derivative and the hidden gradient are computed in place over the
  activations. GEMMs this size run with BLAS on one thread (see
  :func:`_one_blas_thread`).
- **Reused buffers.** Every array of the loop is allocated once and written
  with ``out=``: fresh multi-megabyte temporaries per batch cost page faults.
- **A lean loop for one image per step** (``batch_size=1``, the tutorial's
  updates), where the cost is the number of NumPy calls: about ten per update,
  on views prepared once per fit. (Size-1 operands are never both input and
  output of a ufunc: NumPy is several times slower then.)

:func:`predict_sigmoid` is the forward half of the batched loop, for
``predict``.

Training state is only touched through :meth:`EpochRunner.run_epoch`, which
takes the parameters and optimiser state as the estimator holds them (dicts of
arrays, never modified) and returns fresh ones after a full epoch, so a
diverged or interrupted epoch changes nothing the estimator keeps. The update
rules are those of :mod:`._optimizers`, not always in the same operation order
(the scalar lean loop computes a sample's output delta in Python floats, and
plain SGD folds the step size into it): tests check that the two paths agree
to rounding.
"""

import math
import threading
from contextlib import contextmanager

import numpy as np
from scipy.special import expit

from ._conv import conv_output_shape, same_padding

__all__ = [
    "CHUNK_BYTES",
    "PRECOMPUTE_BYTES",
    "ConvolutionOverflowError",
    "EpochRunner",
    "forward_output",
]

#: Patch matrices of the whole training set up to this size are built once per
#: fit; larger ones are built batch by batch into a reused buffer.
PRECOMPUTE_BYTES = 64 * 2**20

#: A mini-batch is processed in chunks of images whose patches, activations
#: and gradients take about this much memory: they stay in a core's L2 cache
#: between the steps of the forward and of the backward pass.
CHUNK_BYTES = 3 * 2**18


_BLAS_LIMIT = {
    "lock": threading.Lock(),
    "users": 0,
    "limiter": None,
    "controller": None,
}


@contextmanager
def _one_blas_thread():
    """Run BLAS on one thread meanwhile (process-wide; nests across threads).

    A chunk's GEMMs are small: split over two threads they gain little on an
    idle machine, and when the other core is busy the calling thread waits a
    whole scheduler time slice for its helper at every call (seen here:
    7.5 ms instead of 35 us per GEMM). The first of concurrent users sets the
    limit and the last one restores the original (threadpoolctl, which
    scikit-learn requires; without it this does nothing).
    """
    state = _BLAS_LIMIT
    with state["lock"]:
        if state["users"] == 0:
            if state["controller"] is None:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:  # pragma: no cover - sklearn requires it
                    state["controller"] = False
                else:
                    state["controller"] = ThreadpoolController()
            if state["controller"]:
                state["limiter"] = state["controller"].limit(
                    limits=1, user_api="blas"
                )
        state["users"] += 1
    try:
        yield
    finally:
        with state["lock"]:
            state["users"] -= 1
            if state["users"] == 0 and state["limiter"] is not None:
                state["limiter"].restore_original_limits()
                state["limiter"] = None


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


def _copy_patches(images, taps, out_hw, out):
    """Write the flipped patches of ``images`` into ``out`` of shape (K1, n, ho, wo)."""
    ho, wo = out_hw
    for row, c, i, j in taps:
        np.copyto(out[row], images[:, c, i : i + ho, j : j + wo])


class ConvolutionOverflowError(ValueError):
    """The convolution's pre-activations are not finite (they overflowed)."""


def safe_input_magnitude(block, n_kernel, dtype):
    """The largest ``max|x|`` for which no pre-activation can overflow.

    ``|sum_k b_k x_k + c| <= max|x| * sum_k |b_k| + |c|`` whatever order a BLAS
    kernel sums in, so below this magnitude the finiteness test is skipped.
    ``block`` is ``(F, n_kernel)`` or ``(F, n_kernel + 1)`` with the biases last.
    """
    kernel_sum = float(np.max(np.abs(block[:, :n_kernel]).sum(axis=1), initial=0.0))
    bias = float(np.max(np.abs(block[:, n_kernel:]), initial=0.0))
    return (float(np.finfo(dtype).max) - bias) / max(
        kernel_sum, float(np.finfo(np.float64).tiny)
    )


def check_pre_finite(pre, dtype):
    """Raise :class:`ConvolutionOverflowError` if any of ``pre`` is not finite.

    Decided on the pre-activations themselves, not on what tanh makes of them
    (``tanh(inf)`` is 1, while ``inf - inf`` is NaN only on some BLAS kernels),
    so predict, feature maps and fit agree on every machine.
    """
    if not np.isfinite(pre).all():
        hint = " or use float64" if np.dtype(dtype) == np.float32 else ""
        raise ConvolutionOverflowError(
            "X and the kernels are so large that the convolution overflowed "
            f"{np.dtype(dtype).name}: scale the inputs (e.g. StandardScaler)"
            f"{hint}."
        )


def forward_output(params, images, padding, *, maps=None, chunk_bytes=None):
    """Sigmoid outputs of the network (and its feature maps), fast.

    The forward half of the batched training loop, used by ``predict``,
    ``feature_maps`` and validation scoring: flipped patches of cache-sized
    chunks of images, one GEMM with the kernels (and their biases through a row
    of ones), tanh, dense, sigmoid; BLAS on one thread. A non-finite
    pre-activation raises :class:`ConvolutionOverflowError`.

    Parameters
    ----------
    params : dict
        Network parameters (biases may be None).
    images : ndarray of shape (n_samples, channels, height, width)
        Input batch.
    padding : {"valid", "same"}
        Convolution mode.
    maps : ndarray of shape (n_samples, n_filters, ho, wo), default=None
        If given, the post-tanh feature maps are written here.
    chunk_bytes : int, default=None
        Memory of one chunk's patches and activations (None:
        :data:`CHUNK_BYTES`).

    Returns
    -------
    output : ndarray of shape (n_samples, n_outputs)
        Sigmoid outputs.
    """
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    kernels, coef = params["kernels"], params["coef"]
    dtype = np.result_type(images.dtype, kernels.dtype)
    n, channels, height, width = images.shape
    F, _, kh, kw = kernels.shape
    n_out = coef.shape[1]
    ho, wo = conv_output_shape((height, width), (kh, kw), padding)
    L, K = ho * wo, channels * kh * kw
    block = np.zeros((F, K + 1), dtype)
    block[:, :K] = kernels.reshape(F, K)
    if params["kernel_intercepts"] is not None:
        block[:, K] = params["kernel_intercepts"]
    safe_x = safe_input_magnitude(block, K, dtype)
    coef3 = coef.reshape(F, L, n_out).astype(dtype, copy=False)
    taps = _tap_rows(channels, (kh, kw))
    per_image = L * (F + K + 1) * np.dtype(dtype).itemsize
    m = max(1, min(n, chunk_bytes // per_image))
    output = np.empty((n, n_out), dtype)
    if padding == "same":
        (top, bottom), (left, right) = same_padding((kh, kw))
        padded = np.zeros(
            (m, channels, height + top + bottom, width + left + right), dtype
        )
    buffers = {}
    with _one_blas_thread():
        for start in range(0, n, m):
            stop = min(start + m, n)
            b = stop - start
            if b not in buffers:  # the full chunk size, and the last one's
                patches = np.empty((K + 1, b * L), dtype)
                patches[-1] = 1
                buffers[b] = (
                    patches, np.empty((F, b * L), dtype), np.empty((F, b, n_out), dtype)
                )
            patches, act, dense = buffers[b]
            x = images[start:stop]
            if padding == "same":
                np.copyto(padded[:b, :, top : top + height, left : left + width], x)
                x = padded[:b]
            _copy_patches(x, taps, (ho, wo), patches[:K].reshape(K, b, ho, wo))
            np.dot(block, patches, out=act)
            if not float(np.max(np.abs(images[start:stop]))) <= safe_x:
                check_pre_finite(act, dtype)
            np.tanh(act, out=act)
            if maps is not None:
                np.copyto(
                    maps[start:stop].reshape(b, F, L),
                    act.reshape(F, b, L).transpose(1, 0, 2),
                )
            np.matmul(act.reshape(F, b, L), coef3, out=dense)
            np.sum(dense, axis=0, out=output[start:stop])
    if params["intercept"] is not None:
        np.add(output, params["intercept"], out=output)
    return expit(output, out=output)


class EpochRunner:
    """Run training epochs of the network on fixed data, in place.

    Parameters
    ----------
    images : ndarray of shape (n_samples, channels, height, width)
        Training images (float32 or float64; the model's dtype).
    targets : ndarray of shape (n_samples, n_outputs)
        Targets in sigmoid units.
    sample_weight : ndarray of shape (n_samples,) or None
        Positive weights, or None for all ones.
    params : dict
        Parameters in the layout of :mod:`._network` (only shapes and which
        biases exist are used here).
    batch_size : int
        Samples per update.
    alpha : float
        L2 penalty (kernels and dense weights).
    padding : {"valid", "same"}
        Convolution mode.
    solver : {"sgd", "adam"}
        The optimiser; its hyper-parameters follow.
    momentum, nesterovs_momentum, beta_1, beta_2, epsilon
        As :func:`._optimizers.update_params`.
    dense_step_scale : float, default=1.0
        Adam only: factor on the steps of the dense weights
        (:func:`._optimizers.adam_dense_step_scale`).
    precompute_bytes : int, default=PRECOMPUTE_BYTES
        Largest patch matrix built once for the whole fit.
    chunk_bytes : int, default=CHUNK_BYTES
        Working set of one chunk of a mini-batch (see :meth:`_batched_epoch`).
    """

    def __init__(
        self,
        images,
        targets,
        sample_weight,
        params,
        *,
        batch_size,
        alpha,
        padding,
        solver,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        dense_step_scale=1.0,
        precompute_bytes=PRECOMPUTE_BYTES,
        chunk_bytes=CHUNK_BYTES,
    ):
        dtype = images.dtype
        self.dtype = dtype
        self.images = images
        self.targets = np.ascontiguousarray(targets, dtype=dtype)
        self.sample_weight = sample_weight
        n, channels, height, width = images.shape
        n_filters, _, kh, kw = params["kernels"].shape
        self.n_outputs = n_outputs = params["coef"].shape[1]
        self.has_bias = params["kernel_intercepts"] is not None
        self.padding = padding
        self.kernel_hw = (kh, kw)
        self.out_hw = ho, wo = conv_output_shape((height, width), (kh, kw), padding)
        self.n_pixels = n_pixels = ho * wo
        self.n_filters = n_filters
        self.n_kernel = n_kernel = channels * kh * kw
        self.n_rows = n_rows = n_kernel + self.has_bias
        self.batch_size = batch_size = int(min(batch_size, n))
        self.alpha = float(alpha)
        self.solver = solver
        self.momentum = float(momentum)
        self.nesterov = bool(nesterovs_momentum)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = float(epsilon)
        # Adam's factor on the dense weights' steps (_optimizers.adam_dense_step_scale).
        self.dense_step_scale = float(dense_step_scale)
        self.taps = _tap_rows(channels, (kh, kw))

        # --- flat layout: [kernels | kernel biases] (F, K1), intercept, coef.
        # grad has n_hidden spare values after coef's gradient: with one output,
        # the lean loop writes coef's gradient and the conv layer's gradient
        # there with one call (see _lean_epoch_scalar).
        self.size = size = n_filters * n_rows + self.has_bias * n_outputs + (
            n_filters * n_pixels * n_outputs
        )
        self.theta = np.zeros(size, dtype)
        self.grad_buffer = np.zeros(size + n_filters * n_pixels, dtype)
        self.grad = self.grad_buffer[:size]
        self.step = np.zeros(size, dtype)
        self.scratch = np.zeros(size, dtype)
        self._zeros = np.zeros(size, dtype)
        self.block, self.intercept, self.coef = self._views(self.theta)
        self.step_coef = self._views(self.step)[2]
        self.grad_block, self.grad_intercept, self.grad_coef = self._views(self.grad)
        # The penalty applies to kernels and dense weights, not to biases.
        self.penalty_mask = np.zeros(size, dtype)
        mask_block, _, mask_coef = self._views(self.penalty_mask)
        mask_block[:, :n_kernel] = 1
        mask_coef[...] = 1
        if solver == "sgd":
            self.moments = (np.zeros(size, dtype),)
        else:
            self.moments = (np.zeros(size, dtype), np.zeros(size, dtype))
        self._exported = None

        # --- data: patches of the whole set if small, else per batch
        itemsize = np.dtype(dtype).itemsize
        self.precomputed = n_rows * n * n_pixels * itemsize <= precompute_bytes
        self.lean = batch_size == 1 and self.precomputed
        if self.precomputed:
            self.all_patches = self._build_patches(images)
            if self.lean:
                # One image's (K1, L) patch matrix contiguous: the lean loop's
                # GEMMs are tiny and per-call cost is all that counts.
                self.all_patches = np.ascontiguousarray(
                    self.all_patches.transpose(1, 0, 2)
                )
        self.residuals = np.zeros((n, n_outputs), dtype)
        # Images per chunk of the batched loop: patches, activations and their
        # gradients of a chunk fit in about chunk_bytes (a core's L2 cache).
        # (At least 2 images: per-chunk overhead outweighs the cache for one.)
        per_image = n_pixels * (n_filters * (1 + (n_outputs > 1)) + n_rows) * itemsize
        self.chunk_size = min(batch_size, max(2, chunk_bytes // per_image))
        self.plain_sgd = solver == "sgd" and self.momentum == 0
        # Plain SGD without penalty in the scalar lean loop folds the step size
        # into the gradient (see _lean_epoch_scalar).
        self.folded = (
            self.lean
            and n_outputs == 1
            and dtype == np.float64
            and self.plain_sgd
            and not self.alpha
        )
        self._buffers = {}

    # ------------------------------------------------------------ patches

    def _padded(self, images):
        if self.padding != "same":
            return images
        (top, bottom), (left, right) = same_padding(self.kernel_hw)
        return np.pad(images, ((0, 0), (0, 0), (top, bottom), (left, right)))

    def _build_patches(self, images):
        """The patches of all images, shape (K1, n, L) (last row ones with biases)."""
        n = images.shape[0]
        patches = np.empty((self.n_rows, n, self.n_pixels), self.dtype)
        if self.has_bias:
            patches[-1] = 1
        view = patches.reshape(self.n_rows, n, *self.out_hw)
        # Chunks bound the padded copy's memory.
        step = max(1, 2**22 // max(1, images[0].size))
        for start in range(0, n, step):
            chunk = self._padded(images[start : start + step])
            _copy_patches(chunk, self.taps, self.out_hw, view[:, start : start + step])
        return patches

    def _batch_buffers(self, b):
        """Work arrays for a batch of ``b`` samples, per chunk (cached by size)."""
        buffers = self._buffers.get(b)
        if buffers is not None:
            return buffers
        dtype, F, L, n_out = self.dtype, self.n_filters, self.n_pixels, self.n_outputs
        chunks = []
        for start in range(0, b, self.chunk_size):
            stop = min(start + self.chunk_size, b)
            m = stop - start
            # Gathered (shuffled) or freshly built patches land here.
            patches = np.empty((self.n_rows, m * L), dtype)
            if self.has_bias:
                patches[-1] = 1
            chunk = {
                "start": start,
                "stop": stop,
                "patches": patches,
                "act": np.empty((F, m * L), dtype),
                "dense": np.empty((F, m, n_out), dtype),
            }
            if n_out > 1:
                chunk["hidden_grad"] = np.empty((F, m, L), dtype)
            if not self.precomputed:
                c, h, w = self.images.shape[1:]
                chunk["images"] = np.empty((m, c, h, w), dtype)
                if self.padding == "same":
                    (top, bottom), (left, right) = same_padding(self.kernel_hw)
                    chunk["padded"] = np.zeros(
                        (m, c, h + top + bottom, w + left + right), dtype
                    )
            chunks.append(chunk)
        buffers = {
            "chunks": chunks,
            "z": np.empty((b, n_out), dtype),
            "s": np.empty((b, n_out), dtype),
            "t": np.empty((b, n_out), dtype),
            "delta": np.empty((b, n_out), dtype),
            "residual": np.empty((b, n_out), dtype),
            "grad_coef": np.empty((F, L, n_out), dtype),
            "grad_block": np.empty((F, self.n_rows), dtype),
        }
        self._buffers[b] = buffers
        return buffers

    def _chunk_patches(self, idx, chunk):
        """A chunk's patch matrix (K1, m * L): a view, a gather, or a fresh build."""
        m = chunk["stop"] - chunk["start"]
        L = self.n_pixels
        if self.precomputed:
            if isinstance(idx, slice):
                return self.all_patches[:, idx].reshape(self.n_rows, m * L)
            out = chunk["patches"]
            np.take(self.all_patches, idx, axis=1, out=out.reshape(self.n_rows, m, L))
            return out
        images = self.images[idx] if isinstance(idx, slice) else np.take(
            self.images, idx, axis=0, out=chunk["images"]
        )
        if self.padding == "same":
            (top, _), (left, _) = same_padding(self.kernel_hw)
            h, w = images.shape[2:]
            padded = chunk["padded"]
            np.copyto(padded[:, :, top : top + h, left : left + w], images)
            images = padded
        out = chunk["patches"]
        out_view = out.reshape(self.n_rows, m, *self.out_hw)
        _copy_patches(images, self.taps, self.out_hw, out_view)
        return out

    # ------------------------------------------------------ load / export

    def _views(self, flat):
        """Views ``(block (F, K1), intercept or None, coef (H, n_out))`` of ``flat``."""
        n_block = self.n_filters * self.n_rows
        n_intercept = self.n_outputs if self.has_bias else 0
        block = flat[:n_block].reshape(self.n_filters, self.n_rows)
        intercept = flat[n_block : n_block + n_intercept] if self.has_bias else None
        coef = flat[n_block + n_intercept : self.size].reshape(-1, self.n_outputs)
        return block, intercept, coef

    def _pack(self, arrays, out):
        """Write a params-shaped dict into a flat vector of the theta layout."""
        block, intercept, coef = self._views(out)
        block[:, : self.n_kernel] = arrays["kernels"].reshape(self.n_filters, -1)
        coef[...] = arrays["coef"]
        if self.has_bias:
            block[:, -1] = arrays["kernel_intercepts"]
            intercept[...] = arrays["intercept"]

    def _unpack(self, flat, kernel_shape, copy=True):
        """Arrays in the params layout over a copy of ``flat`` (or ``flat``)."""
        block, intercept, coef = self._views(flat.copy() if copy else flat)
        kernels = block[:, : self.n_kernel].reshape(kernel_shape)
        if self.has_bias:
            kernels = np.ascontiguousarray(kernels)
        return {
            "kernels": kernels,
            "kernel_intercepts": block[:, -1].copy() if self.has_bias else None,
            "coef": coef,
            "intercept": intercept,
        }

    def _moment_names(self):
        return ("velocities",) if self.solver == "sgd" else (
            "first_moments",
            "second_moments",
        )

    def _load(self, params, optimizer):
        if self._exported is not None:
            old_params, old_moments, old_t = self._exported
            if (
                params is old_params
                and optimizer.get("t") == old_t
                and all(
                    optimizer[name] is old
                    for name, old in zip(self._moment_names(), old_moments, strict=True)
                )
            ):
                return  # Our own output of the last epoch: buffers hold it.
        self._pack(params, self.theta)
        for name, flat in zip(self._moment_names(), self.moments, strict=True):
            self._pack(optimizer[name], flat)

    def _export(self, optimizer, kernel_shape):
        params = self._unpack(self.theta, kernel_shape)
        new_optimizer = dict(optimizer)
        if self.plain_sgd:
            # The shortcuts skipped velocity = 0 * v - lr * g: it is minus the
            # last step's lr * g (kept in grad when folded, else in step).
            velocity = np.negative(self.grad if self.folded else self.step)
            self.moments[0][...] = velocity
            new_optimizer["velocities"] = self._unpack(velocity, kernel_shape, False)
        else:
            for name, flat in zip(self._moment_names(), self.moments, strict=True):
                new_optimizer[name] = self._unpack(flat, kernel_shape)
        if self.solver == "adam":
            new_optimizer["t"] = self.t
        moments = tuple(new_optimizer[name] for name in self._moment_names())
        self._exported = (params, moments, new_optimizer.get("t"))
        return params, new_optimizer

    # ------------------------------------------------------------- epochs

    def run_epoch(self, params, optimizer, order=None):
        """Run one epoch of mini-batch updates.

        Parameters
        ----------
        params : dict
            Parameters at the start of the epoch (not modified).
        optimizer : dict
            Optimiser state as from :func:`._optimizers.init_optimizer_state`
            (not modified).
        order : ndarray of int or None
            Sample order (None: as given).

        Returns
        -------
        params : dict
            Fresh parameters after the epoch.
        optimizer : dict
            Fresh optimiser state after the epoch.
        loss_sum : float
            Sum over the epoch's batches of batch loss times batch weight (the
            weighted data loss of every sample as it was seen, plus each
            batch's penalty times its weight).
        """
        self._load(params, optimizer)
        self.learning_rate = float(optimizer["learning_rate"])
        self.t = optimizer.get("t", 0)
        self.penalty_sum = 0.0
        if self.lean:
            self._lean_epoch(order)  # tiny GEMMs: BLAS runs them on one thread
        else:
            with _one_blas_thread():
                self._batched_epoch(order)
        r = self.residuals
        if self.sample_weight is None:
            flat = r.reshape(-1)
            data = 0.5 * float(np.dot(flat, flat))
        else:
            data = 0.5 * float(np.einsum("ij,ij->i", r, r) @ self.sample_weight)
        loss_sum = data / self.n_outputs + self.penalty_sum
        new_params, new_optimizer = self._export(optimizer, params["kernels"].shape)
        return new_params, new_optimizer, loss_sum

    def params_finite(self):
        """Whether every parameter after the last epoch is finite.

        ``theta . 0`` is 0 when every value is finite and NaN otherwise
        (``inf * 0`` and ``nan * 0`` are NaN): one BLAS call.
        """
        # No errstate here (it costs as much as the test): the estimator's fit
        # already ignores invalid-value warnings.
        return math.isfinite(float(np.dot(self.theta, self._zeros)))

    def pre_activations_finite(self):
        """Whether the convolution of every training image is finite under theta.

        Certain, and cheap, while the inputs are below
        :func:`safe_input_magnitude`; otherwise decided by a forward pass.
        """
        if self._x_max is None:
            self._x_max = float(np.max(np.abs(self.images), initial=0.0))
        if self._x_max <= safe_input_magnitude(self.block, self.n_kernel, self.dtype):
            return True
        block, intercept, coef = self._views(self.theta)
        params = {
            "kernels": block[:, : self.n_kernel].reshape(
                self.n_filters, self.images.shape[1], *self.kernel_hw
            ),
            "kernel_intercepts": block[:, -1] if self.has_bias else None,
            "coef": coef,
            "intercept": intercept,
        }
        try:
            forward_output(params, self.images, self.padding)
        except ConvolutionOverflowError:
            return False
        return True

    _x_max = None

    def _add_penalty(self, weight_sum):
        """Add the L2 penalty's gradient; accumulate its loss times the batch weight."""
        masked = np.multiply(self.theta, self.penalty_mask, out=self.scratch)
        self.penalty_sum += 0.5 * self.alpha * float(np.dot(masked, masked))
        np.multiply(masked, self.alpha / weight_sum, out=masked)
        np.add(self.grad, masked, out=self.grad)

    def _optimizer_step(self):
        """One update of ``theta`` from ``grad``, in place (rules of _optimizers)."""
        theta, grad, step, scratch = self.theta, self.grad, self.step, self.scratch
        lr = self.learning_rate
        if self.solver == "sgd":
            (velocity,) = self.moments
            momentum = self.momentum
            np.multiply(grad, lr, out=step)  # lr * grad
            if momentum == 0:
                # velocity = 0 * v - lr * g and the Nesterov step alike: -lr * g.
                np.subtract(theta, step, out=theta)
                return
            np.multiply(velocity, momentum, out=scratch)
            np.subtract(scratch, step, out=velocity)
            if self.nesterov:
                np.multiply(velocity, momentum, out=scratch)
                np.subtract(scratch, step, out=scratch)
                np.add(theta, scratch, out=theta)
            else:
                np.add(theta, velocity, out=theta)
            return
        first, second = self.moments
        beta_1, beta_2 = self.beta_1, self.beta_2
        self.t = t = self.t + 1
        step_size = float(lr * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t))
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
        if self.dense_step_scale != 1.0:
            np.multiply(self.step_coef, self.dense_step_scale, out=self.step_coef)
        np.subtract(theta, step, out=theta)

    def _batched_epoch(self, order):
        """Mini-batches, each in chunks of images small enough to stay in cache.

        The forward pass runs chunk by chunk (patches, conv GEMM, tanh, dense),
        then the output layer for the whole batch, then the backward pass chunk
        by chunk, summing the chunks' gradients: each chunk's arrays are reused
        while still in the CPU's cache instead of streaming batch-sized arrays
        through memory for every step (and GEMMs this size run on one core,
        immune to a busy second core).
        """
        n = self.images.shape[0]
        B = self.batch_size
        F, L, n_out = self.n_filters, self.n_pixels, self.n_outputs
        block, coef = self.block, self.coef
        coef3 = coef.reshape(F, L, n_out)
        coef_t = coef3.transpose(0, 2, 1)
        grad_coef3 = self.grad_coef.reshape(F, L, n_out)
        grad_block = self.grad_block
        weights = self.sample_weight
        for start in range(0, n, B):
            stop = min(start + B, n)
            b = stop - start
            idx = slice(start, stop) if order is None else order[start:stop]
            buf = self._batch_buffers(b)
            chunks = buf["chunks"]
            z = buf["z"]

            # forward, chunk by chunk: conv (+ bias through the row of ones)
            # -> tanh -> dense, layout (F, m, L)
            patches = []
            for chunk in chunks:
                c0, c1 = chunk["start"], chunk["stop"]
                if isinstance(idx, slice):
                    cidx = slice(start + c0, start + c1)
                else:
                    cidx = idx[c0:c1]
                p = self._chunk_patches(cidx, chunk)
                patches.append(p)
                act = np.dot(block, p, out=chunk["act"])
                np.tanh(act, out=act)
                dense = np.matmul(act.reshape(F, c1 - c0, L), coef3, out=chunk["dense"])
                np.sum(dense, axis=0, out=z[c0:c1])

            # output layer for the whole batch: (+ bias) -> sigmoid -> delta
            if self.has_bias:
                z = np.add(z, self.intercept, out=z)
            s = expit(z, out=buf["s"])
            targets = self.targets[idx]
            residual = np.subtract(s, targets, out=buf["residual"])
            self.residuals[idx] = residual
            # d loss / d z = r * s * (1 - s) / (W * n_out), times each weight
            if weights is None:
                weight_sum = b
            else:
                w = weights[idx]
                weight_sum = w.sum()
            t = np.subtract(1.0, s, out=buf["t"])
            np.multiply(s, t, out=t)
            delta = np.multiply(residual, t, out=buf["delta"])
            np.divide(delta, weight_sum * n_out, out=delta)
            if weights is not None:
                np.multiply(delta, w[:, None], out=delta)
            if self.has_bias:
                np.sum(delta, axis=0, out=self.grad_intercept)

            # backward, chunk by chunk, summing the chunks' gradients
            for k, (chunk, p) in enumerate(zip(chunks, patches, strict=True)):
                c0, c1 = chunk["start"], chunk["stop"]
                m = c1 - c0
                act = chunk["act"]
                d = delta[c0:c1]
                # dense backward
                out = grad_coef3 if k == 0 else buf["grad_coef"]
                np.matmul(act.reshape(F, m, L).transpose(0, 2, 1), d, out=out)
                if k:
                    np.add(grad_coef3, out, out=grad_coef3)
                # tanh backward, written from the output: 1 - a**2, times the
                # hidden units' gradient d @ coef.T; in place over the
                # activations (no longer needed), so a chunk's working set is
                # its patches and activations only.
                grad_pre = np.multiply(act, act, out=act)
                np.subtract(1.0, grad_pre, out=grad_pre)
                grad_pre3 = grad_pre.reshape(F, m, L)
                if n_out == 1:
                    np.multiply(grad_pre3, coef_t, out=grad_pre3)
                    np.multiply(grad_pre3, d.reshape(1, m, 1), out=grad_pre3)
                else:
                    hidden_grad = np.matmul(d, coef_t, out=chunk["hidden_grad"])
                    np.multiply(grad_pre3, hidden_grad, out=grad_pre3)
                # conv backward: kernels and (through the ones) their biases
                out = grad_block if k == 0 else buf["grad_block"]
                np.dot(grad_pre, p.T, out=out)
                if k:
                    np.add(grad_block, out, out=grad_block)

            if self.alpha:
                self._add_penalty(weight_sum)
            self._optimizer_step()

    def _lean_setup(self):
        """Views and buffers of the lean loop, made once per fit."""
        dtype, F, L, n_out = self.dtype, self.n_filters, self.n_pixels, self.n_outputs
        H = F * L
        patches = self.all_patches  # (n, K1, L), contiguous per image
        lean = {
            "rows": [
                (patches[i], patches[i].T, self.targets[i], self.residuals[i])
                for i in range(patches.shape[0])
            ],
            "pre": np.empty((F, L), dtype),
            # act and u = coef * (1 - act**2) side by side: with one output,
            # one multiply by the output delta gives both coef's gradient and
            # the conv layer's (grad_buffer holds them side by side too).
            "stacked": np.empty((2, H), dtype),
            "sq": np.empty(H, dtype),
            "tanh_grad": np.empty(H, dtype),
            "grad_pre": np.empty((F, L), dtype),
            "hidden_grad": np.empty(H, dtype),
            "z": np.empty(n_out, dtype),
            "zb": np.empty(n_out, dtype),
            "s": np.empty(n_out, dtype),
            "t": np.empty(n_out, dtype),
            "st": np.empty(n_out, dtype),
            "delta": np.empty(n_out, dtype),
            "delta_o": np.empty(n_out, dtype),
            "one": np.ones((), dtype),
            "n_out": np.asarray(n_out, dtype),
        }
        if n_out == 1:
            lean["stacked_grad"] = stacked_grad = self.grad_buffer[
                self.size - H :
            ].reshape(2, H)
            act_flat, u = lean["stacked"]
            # Everything _lean_epoch_scalar reads, unpacked once per epoch.
            # Plain SGD without penalty folds the step size into the delta
            # (``fold``), so that the update is theta -= grad.
            lean["scalar"] = (
                self.block, self.grad_block, self.coef.reshape(-1), self.intercept,
                self.grad_intercept, self.has_bias, self.alpha, self.sample_weight,
                lean["pre"], act_flat.reshape(F, L), act_flat, lean["stacked"],
                stacked_grad, stacked_grad[1].reshape(F, L), lean["sq"],
                lean["tanh_grad"], u, lean["delta"], lean["one"], lean["rows"],
                self.targets[:, 0].tolist(), self.residuals.reshape(-1),
                self.folded, self.theta, self.grad,
            )
        self._lean = lean
        return lean

    def _lean_epoch(self, order):
        """``batch_size=1`` over precomputed patches: the fewest NumPy calls."""
        lean = self._lean if self._lean is not None else self._lean_setup()
        if self.n_outputs == 1 and self.dtype == np.float64:
            return self._lean_epoch_scalar(order, lean)
        F, L, n_out = self.n_filters, self.n_pixels, self.n_outputs
        H = F * L
        block, coef, grad_block = self.block, self.coef, self.grad_block
        coef_flat = coef.reshape(-1)
        grad_coef = self.grad_coef
        intercept, grad_intercept = self.intercept, self.grad_intercept
        has_bias, alpha = self.has_bias, self.alpha
        weights = self.sample_weight
        pre, grad_pre = lean["pre"], lean["grad_pre"]
        act_flat = lean["stacked"][0]
        act = act_flat.reshape(F, L)
        sq, tanh_grad = lean["sq"], lean["tanh_grad"]
        hidden_grad = lean["hidden_grad"]
        hidden_grad2 = hidden_grad.reshape(F, L)
        tanh_grad2 = tanh_grad.reshape(F, L)
        z, zb, s, t, st = lean["z"], lean["zb"], lean["s"], lean["t"], lean["st"]
        delta, delta_o = lean["delta"], lean["delta_o"]
        one, n_out_array = lean["one"], lean["n_out"]
        dot, mul, sub, tanh = np.dot, np.multiply, np.subtract, np.tanh
        rows = lean["rows"]
        sequence = rows if order is None else [rows[i] for i in order]
        plain_sgd = self.plain_sgd
        theta, grad, step = self.theta, self.grad, self.step
        lr = np.asarray(self.learning_rate, self.dtype)
        weight_of = (
            None if weights is None else (weights if order is None else weights[order])
        )
        for position, (p, p_t, y, r) in enumerate(sequence):
            dot(block, p, out=pre)
            tanh(pre, out=act)
            dot(act_flat, coef, out=z)
            if has_bias:
                np.add(z, intercept, out=zb)
                expit(zb, out=s)
            else:
                expit(z, out=s)
            sub(s, y, out=r)
            sub(one, s, out=t)
            mul(s, t, out=st)
            mul(r, st, out=delta)
            if n_out != 1:
                # One sample: its weight cancels in w / (w * n_out).
                np.divide(delta, n_out_array, out=delta_o)
                np.multiply.outer(act_flat, delta_o, out=grad_coef)
                dot(coef, delta_o, out=hidden_grad)
                d = delta_o
            else:
                mul(act_flat, delta, out=grad_coef.reshape(H))
                mul(coef_flat, delta, out=hidden_grad)
                d = delta
            if has_bias:
                np.copyto(grad_intercept, d)
            mul(act_flat, act_flat, out=sq)
            sub(one, sq, out=tanh_grad)
            mul(hidden_grad2, tanh_grad2, out=grad_pre)
            dot(grad_pre, p_t, out=grad_block)
            if alpha:
                self._add_penalty(1.0 if weight_of is None else weight_of[position])
            if plain_sgd:
                mul(grad, lr, out=step)
                sub(theta, step, out=theta)
            else:
                self._optimizer_step()

    def _lean_epoch_scalar(self, order, lean):
        """The lean loop for one float64 output: its scalars in Python floats.

        With a single output the delta of a sample is one number: computing it
        with Python floats (the same formula as scipy's ``expit``,
        ``1 / (1 + exp(-z))``) saves half a dozen NumPy calls per update.
        """
        (
            block, grad_block, coef_flat, intercept, grad_intercept, has_bias,
            alpha, weights, pre, act, act_flat, stacked, stacked_grad, grad_pre,
            sq, tanh_grad, u, delta, one, rows, targets, residuals, fold, theta,
            grad,
        ) = lean["scalar"]
        dot, mul, sub, tanh, exp = np.dot, np.multiply, np.subtract, np.tanh, math.exp
        sequence = range(len(rows)) if order is None else order.tolist()
        lr = self.learning_rate
        for i in sequence:
            p, p_t, _, _ = rows[i]
            dot(block, p, out=pre)
            tanh(pre, out=act)
            z = float(dot(act_flat, coef_flat))
            if has_bias:
                z += float(intercept[0])
            try:
                s = 1.0 / (1.0 + exp(-z))
            except OverflowError:  # exp(-z) overflows to inf: expit gives 0
                s = 0.0
            r = s - targets[i]
            residuals[i] = r
            # d loss / d z: residual * sigmoid', as _network (one sample, one
            # output: the weight cancels).
            d = r * (s * (1.0 - s))
            if fold:
                d *= lr
            delta[0] = d
            mul(act_flat, act_flat, out=sq)
            sub(one, sq, out=tanh_grad)
            mul(coef_flat, tanh_grad, out=u)
            # [coef grad; conv grad] = [act; coef * (1 - act**2)] * d
            mul(stacked, delta, out=stacked_grad)
            if has_bias:
                grad_intercept[0] = d
            dot(grad_pre, p_t, out=grad_block)
            if fold:
                sub(theta, grad, out=theta)
                continue
            if alpha:
                self._add_penalty(1.0 if weights is None else weights[i])
            self._optimizer_step()

    _lean = None
