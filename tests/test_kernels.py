"""The production kernels and training loop against the reference math.

The oracle is tests/reference.py: ``loss_and_gradients`` (itself checked
against finite differences and scipy in test_network.py) followed by
``update_params``, batch after batch. The trainer's epochs must give the same
parameters, optimiser state and epoch loss, up to rounding, in every branch:
lean (batch_size=1) and batched loops, one chunk or many, patches precomputed
or built per chunk, shuffled or not, with and without biases, padding,
channels, outputs, weights, penalty, pooling, every solver and every head.
"""

import itertools

import numpy as np
import pytest
import reference
from scipy.special import expit

import sktinycnn._kernels as kernels
from sktinycnn import TinyConvRegressor
from sktinycnn._heads import SigmoidLogLoss, SigmoidSquaredError, SoftmaxLogLoss
from sktinycnn._kernels import TrainingData
from sktinycnn._optimizers import SGD, Adam
from sktinycnn._pooling import resolve_pool_size
from sktinycnn._training import Trainer

OPTIMIZERS = {
    "sgd": {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": True},
    "momentum": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False},
    "nesterov": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True},
    "adam": {"solver": "adam", "momentum": 0.9, "nesterovs_momentum": True},
    # Adam with the dense weights' steps scaled (adam_dense_step_scale).
    "adam-dense-scaled": {"solver": "adam", "dense_step_scale": 0.25},
}


def _reference_epoch(images, targets, weights, params, state, order, batch_size,
                     alpha, padding, kwargs, extra=None, head=None):
    extra = dict(extra or {}, head=head)
    n = images.shape[0]
    accumulated = 0.0
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        if order is not None:
            idx = order[idx]
        w = None if weights is None else weights[idx]
        loss, grads = reference.loss_and_gradients(
            params, images[idx], targets[idx], w, alpha, padding, **extra
        )
        accumulated += loss * (len(idx) if w is None else w.sum())
        params, state = reference.update_params(params, grads, state, **kwargs)
    return params, state, accumulated


def _problem(seed, dtype, channels, n_outputs, padding, bias, weighted):
    rng = np.random.RandomState(seed)
    n = 11
    images = rng.rand(n, channels, 5, 6).astype(dtype)
    targets = rng.uniform(0.1, 0.9, (n, n_outputs)).astype(dtype)
    weights = rng.uniform(0.5, 2, n).astype(dtype) if weighted else None
    params = reference.initialize_params(
        rng, image_shape=(channels, 5, 6), n_filters=3, kernel_hw=(2, 3),
        padding=padding, n_outputs=n_outputs, kernel_scale=None,
        fit_intercept=bias, dtype=dtype,
    )
    if bias:
        params["kernel_intercepts"] = rng.randn(3).astype(dtype) * 0.5
        params["intercept"] = rng.randn(n_outputs).astype(dtype) * 0.1
    else:
        params["kernel_intercepts"] = params["intercept"] = None
    return rng, images, targets, weights, params


CASES = [
    *itertools.product(
        ["sgd", "momentum", "nesterov", "adam", "adam-dense-scaled"],
        [1, 4, 5],  # batch size: lean loop, batched loop
        [True, False],  # patches precomputed
        [True, False],  # shuffle
    )
]

HEADS = {
    "regressor": SigmoidSquaredError(),
    "binary": SigmoidLogLoss(),
    "softmax": SoftmaxLogLoss(),
}


def _trainer(images, targets, weights, params, *, batch_size, alpha, padding,
             optimizer, precompute, pooling=None, pool_hw=None, head="regressor"):
    """The production loop on fixed data, and its flat state."""
    arch = reference.architecture(params, images, padding, pooling, pool_hw)
    kwargs = dict(OPTIMIZERS[optimizer])
    solver = kwargs.pop("solver")
    scale = kwargs.pop("dense_step_scale", 1.0)
    estimator = TinyConvRegressor(solver=solver, alpha=alpha, **kwargs)
    data = TrainingData(
        arch, images, targets, weights, precompute_bytes=2**26 if precompute else 0
    )
    trainer = Trainer(arch, HEADS[head], data, estimator, batch_size=batch_size,
                      validation=None, hooks=None)
    if solver == "sgd":
        opt = SGD(arch.size, images.dtype, 0.05, momentum=kwargs["momentum"],
                  nesterovs_momentum=kwargs["nesterovs_momentum"])
    else:
        coef = arch.coef_slice
        opt = Adam(arch.size, images.dtype, 0.05, beta_1=0.9, beta_2=0.999,
                   epsilon=1e-8, scaled=(coef.start, coef.stop, scale))
    ref_kwargs = dict(kwargs, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                      step_scales={"coef": scale})
    return arch, trainer, opt, reference.pack(params, arch), (solver, ref_kwargs)


@pytest.mark.parametrize("chunk_bytes", [None, 1])  # one chunk, one image each
@pytest.mark.parametrize("optimizer, batch_size, precompute, shuffle", CASES)
@pytest.mark.parametrize(
    "channels, n_outputs, padding, bias, weighted, alpha",
    [
        (1, 1, "valid", False, False, 0.0),  # the tutorial's network
        (2, 1, "same", True, True, 0.1),
        (1, 3, "valid", True, False, 0.05),
        (2, 2, "same", False, True, 0.0),
    ],
)
def test_epochs_match_reference(optimizer, batch_size, precompute, shuffle, channels,
                                n_outputs, padding, bias, weighted, alpha,
                                chunk_bytes, monkeypatch):
    if chunk_bytes is not None:
        if batch_size == 1:
            return  # the lean loop has no chunks
        monkeypatch.setattr(kernels, "CHUNK_BYTES", chunk_bytes)
        monkeypatch.setattr(kernels, "MIN_CHUNK_IMAGES", 1)
    rng, images, targets, weights, params = _problem(
        0, np.float64, channels, n_outputs, padding, bias, weighted
    )
    _check_epochs(rng, images, targets, weights, params, shuffle, batch_size=batch_size,
                  alpha=alpha, padding=padding, optimizer=optimizer,
                  precompute=precompute)


def _check_epochs(rng, images, targets, weights, params, shuffle, **kwargs):
    arch, trainer, opt, theta, (solver, ref_kwargs) = _trainer(
        images, targets, weights, params, **kwargs
    )
    state = reference.init_optimizer_state(solver, params, 0.05)
    extra = {k: kwargs[k] for k in ("pooling", "pool_hw") if k in kwargs}
    head = HEADS[kwargs.get("head", "regressor")]
    ref = params
    for _ in range(3):
        order = rng.permutation(len(images)) if shuffle else None
        ref, state, ref_loss = _reference_epoch(
            images, targets, weights, ref, state, order, kwargs["batch_size"],
            kwargs["alpha"], kwargs["padding"], ref_kwargs, extra, head,
        )
        loss = trainer._epoch(theta, opt, order)
        np.testing.assert_allclose(loss, ref_loss / len(images) if weights is None
                                   else ref_loss / weights.sum(), rtol=1e-12)
        # The schedule changes the step size between epochs.
        state = {**state, "learning_rate": state["learning_rate"] * 0.8}
        opt.learning_rate *= 0.8
    np.testing.assert_allclose(theta, reference.pack(ref, arch), rtol=1e-11,
                               atol=1e-14)
    if solver == "sgd":
        velocities = {k: v for k, v in state["velocities"].items()}
        np.testing.assert_allclose(
            opt.velocity, reference.pack(velocities, arch), rtol=1e-9, atol=1e-15
        )
    else:
        moments = ((opt.first, "first_moments"), (opt.second, "second_moments"))
        for mine, name in moments:
            np.testing.assert_allclose(
                mine, reference.pack(state[name], arch), rtol=1e-9, atol=1e-15
            )
        assert opt.t == state["t"] == 3 * -(-len(images) // kwargs["batch_size"])


def _pooled_params(rng, params, images, padding, pooling, pool_size):
    """Fresh pooled parameters shaped as ``params`` (the window clipped to its maps)."""
    map_hw = reference.architecture(params, images, padding).blocks[0].map_hw
    pool_hw = resolve_pool_size(pool_size, map_hw)
    pooled = reference.initialize_params(
        rng, image_shape=images.shape[1:], n_filters=3, kernel_hw=(2, 3),
        padding=padding, n_outputs=params["coef"].shape[-1], kernel_scale=None,
        fit_intercept=True, dtype=np.float64, pooling=pooling, pool_hw=pool_hw,
    )
    return pooled, pool_hw


@pytest.mark.parametrize("head", ["regressor", "binary", "softmax"])
@pytest.mark.parametrize(
    "pooling, pool_size, padding",
    [("max", 2, "valid"), ("avg", (2, 3), "same"), ("max", "global", "same"),
     ("avg", "global", "valid"), (None, None, "same")],
)
@pytest.mark.parametrize("batch_size", [1, 4])
def test_pooled_epochs_and_heads_match_reference(head, pooling, pool_size, padding,
                                                 batch_size):
    rng, images, targets, weights, params = _problem(
        4, np.float64, 2, 3, padding, True, True
    )
    if head == "binary":
        targets = (targets > 0.5).astype(float)
    elif head == "softmax":
        targets = np.eye(3)[np.argmax(targets, axis=1)]
    pool_hw = None
    if pooling is not None:
        params, pool_hw = _pooled_params(rng, params, images, padding, pooling,
                                         pool_size)
    _check_epochs(rng, images, targets, weights, params, True, batch_size=batch_size,
                  alpha=0.01, padding=padding, optimizer="adam", precompute=True,
                  pooling=pooling, pool_hw=pool_hw, head=head)


@pytest.mark.parametrize("pool_size, padding", [(2, "valid"), ((2, 3), "same"),
                                                ("global", "same")])
def test_max_pooling_ties_match_reference(pool_size, padding):
    # Zero backgrounds (as on the digit canvases) make whole windows of equal
    # pre-activations: the gradient must go to the first cell of each.
    rng, images, targets, weights, params = _problem(
        5, np.float64, 1, 2, padding, True, False
    )
    images[:, :, :, :3] = 0
    images[::2, :, 2:, :] = 0
    params, pool_hw = _pooled_params(rng, params, images, padding, "max", pool_size)
    block = reference.architecture(params, images, padding, "max", pool_hw).blocks[0]
    (hp, wp), (ph, pw) = block.hidden_hw, pool_hw
    maps = reference.hidden_forward(params, images, padding)[0]
    windows = maps[..., : hp * ph, : wp * pw].reshape(*maps.shape[:2], hp, ph, wp, pw)
    top = windows.max(axis=(3, 5), keepdims=True)
    tied = (windows == top).sum(axis=(3, 5)) > 1
    assert tied.mean() > 0.1  # many windows tie indeed
    _check_epochs(rng, images, targets, weights, params, True, batch_size=4,
                  alpha=0.0, padding=padding, optimizer="sgd", precompute=True,
                  pooling="max", pool_hw=pool_hw)


@pytest.mark.parametrize(
    "pooling, pool_hw, kept",
    [(None, None, True), ("max", (1, 1), True), ("max", (2, 2), False),
     ("avg", (2, 3), False)],
)
def test_patches_precomputed_for_unpooled_networks_only(pooling, pool_hw, kept):
    # Pooled chunks write their patches from the images every time (cheaper than
    # gathering cell-major runs); one cell per window is the unpooled layout.
    _, images, targets, weights, params = _problem(4, np.float64, 2, 1, "valid",
                                                   True, False)
    if pooling is not None:
        params = reference.initialize_params(
            np.random.RandomState(0), image_shape=images.shape[1:], n_filters=3,
            kernel_hw=(2, 2), padding="valid", n_outputs=1, kernel_scale=1.0,
            fit_intercept=True, dtype=np.float64, pooling=pooling, pool_hw=pool_hw,
        )
    spec = reference.architecture(params, images, "valid", pooling, pool_hw)
    data = TrainingData(spec, images, targets, weights, precompute_bytes=2**26)
    assert (data.patches is not None) is kept
    if kept:
        block = spec.blocks[0]
        assert data.patches.shape == (block.n_rows, len(images), block.n_columns)
        # Each image's columns are its patch matrix, as a chunk writes them.
        chain = kernels.Chain(spec, np.float64, 2)
        patcher = chain.layers[0].patcher
        written = patcher.write(images[1:3], patcher.new_buffer(2))
        np.testing.assert_array_equal(
            data.patches[:, 1:3].reshape(block.n_rows, -1), written
        )
        np.testing.assert_array_equal(chain.chunk_patches(data, np.array([2, 1]), 2),
                                      np.concatenate([written[:, block.n_columns:],
                                                      written[:, :block.n_columns]],
                                                     axis=1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "channels, n_outputs, padding, bias, pooling, pool_hw",
    [(1, 1, "valid", False, None, None), (2, 1, "same", True, "max", (2, 2)),
     (1, 3, "valid", True, "avg", (2, 3)), (2, 2, "same", False, None, None)],
)
def test_forward_matches_reference(dtype, channels, n_outputs, padding, bias,
                                   pooling, pool_hw):
    _, images, _, _, params = _problem(3, dtype, channels, n_outputs, padding, bias,
                                       False)
    images = np.concatenate([images] * 3)  # 33 images: several chunks, one short
    if pooling is not None:
        params = reference.initialize_params(
            np.random.RandomState(0), image_shape=images.shape[1:], n_filters=3,
            kernel_hw=(2, 3), padding=padding, n_outputs=n_outputs,
            kernel_scale=1.0, fit_intercept=bias, dtype=dtype, pooling=pooling,
            pool_hw=pool_hw,
        )
    arch = reference.architecture(params, images, padding, pooling, pool_hw)
    expected = reference.forward(params, images, padding, pooling, pool_hw)[0]
    expected_maps = reference.hidden_forward(params, images, padding)[0]
    tol = 64 * np.finfo(dtype).eps
    # One chunk for all, chunks of 4 images, and of 1.
    for chunk_bytes in (2**22, 4 * 30 * 20 * 8, 1):
        theta = reference.pack(params, arch)
        logits = kernels.forward(arch, theta, images, chunk_bytes=chunk_bytes)
        maps = kernels.forward(arch, theta, images, chunk_bytes=chunk_bytes,
                               maps=np.empty_like(expected_maps))
        assert logits.dtype == dtype and maps.dtype == dtype
        np.testing.assert_allclose(expit(logits), expected, rtol=0, atol=tol)
        np.testing.assert_allclose(maps, expected_maps, rtol=0, atol=tol)


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_float32_stays_float32(batch_size, optimizer):
    _rng, images, targets, weights, params = _problem(
        1, np.float32, 1, 1, "valid", True, False
    )
    arch, trainer, opt, theta, (solver, ref_kwargs) = _trainer(
        images, targets, weights, params, batch_size=batch_size, alpha=1e-3,
        padding="valid", optimizer=optimizer, precompute=True,
    )
    loss = trainer._epoch(theta, opt, None)
    state = reference.init_optimizer_state(solver, params, 0.05)
    ref, _, ref_loss = _reference_epoch(
        images, targets, weights, params, state, None, batch_size, 1e-3, "valid",
        ref_kwargs,
    )
    assert theta.dtype == np.float32
    np.testing.assert_allclose(theta, reference.pack(ref, arch), rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(loss, ref_loss / len(images), rtol=1e-4)
