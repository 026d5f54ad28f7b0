"""The layered engine at depth: ``Chain`` and ``forward`` against the oracles.

- ``Chain.gradient`` over 2- and 3-block networks equals the deep reference
  (tests/reference_deep.py) for every head, activation, padding and pooling
  (leftover rows and columns, "global" windows, blocks shrunk to one pixel),
  with channels, with and without biases, in one chunk or many; and it
  equals central finite differences of the reference loss directly.
- ``forward``'s logits and every block's maps equal the ``convolve2d``
  oracles (tests/oracles.py), serially and with threads, in float64 and
  float32.
- Training epochs of a deep network (SGD and Adam, the penalty, sample
  weights, several batches) equal the reference's updates.
- The overflow bound: a block after tanh or logistic reads bounded values;
  after relu or identity the bound carries over, and a block that overflows
  there is refused.
"""

import itertools

import numpy as np
import pytest
from oracles import central_differences, scipy_deep_logits, scipy_deep_maps
from reference_deep import deep_forward, deep_loss_and_gradients

import sktinycnn._kernels as kernels
import sktinycnn._parallel as parallel
from sktinycnn import TinyConvRegressor
from sktinycnn._heads import SigmoidLogLoss, SigmoidSquaredError, SoftmaxLogLoss
from sktinycnn._kernels import (
    Chain,
    ConvolutionOverflowError,
    TrainingData,
    abs_sums,
    forward,
    pre_activation_bounds,
)
from sktinycnn._network import NetworkSpec, initialize
from sktinycnn._optimizers import SGD, Adam
from sktinycnn._training import Trainer

#: name -> (head, n_outputs)
HEADS = {
    "squared-1": (SigmoidSquaredError(), 1),
    "squared-2": (SigmoidSquaredError(), 2),
    "binary": (SigmoidLogLoss(), 1),
    "softmax-3": (SoftmaxLogLoss(), 3),
}

#: name -> (image_shape, n_filters, kernel_size, padding, pooling, pool_size)
NETWORKS = {
    # Pooling on both blocks, a leftover column in block 0, a "same" 2x3.
    "max-avg": ((2, 7, 8), (3, 2), [3, (2, 3)], ["valid", "same"], ["max", "avg"],
                [2, (2, 3)]),
    # A global window last; "same" on both.
    "avg-global": ((1, 8, 8), (2, 3), 3, "same", ["avg", "max"], [2, "global"]),
    # No pooling at all, "valid" then "same".
    "unpooled": ((2, 6, 6), (2, 2), [3, 2], ["valid", "same"], None, 2),
    # Block 1 reads a 1x1 input: its "valid" kernel is clipped to 1x1.
    "one-pixel": ((1, 4, 4), (3, 2), 3, "valid", ["max", None], [2, 2]),
    # Three blocks.
    "three": ((2, 9, 9), (2, 3, 2), [3, 2, 2], "same", ["max", None, "avg"],
              [2, 2, (1, 2)]),
}


def _spec(name, n_outputs, fit_intercept, activation):
    image_shape, n_filters, kernel_size, padding, pooling, pool_size = NETWORKS[name]
    depth = len(n_filters)

    def per_block(value):
        return value if isinstance(value, list) else [value] * depth

    return NetworkSpec.build(
        image_shape, n_filters, per_block(kernel_size), per_block(padding),
        per_block(pooling), per_block(pool_size), n_outputs=n_outputs,
        fit_intercept=fit_intercept, activation=activation,
    )


def _blocks(spec):
    """The reference's block dicts of a spec (windows already clipped)."""
    return [{"padding": b.padding, "pooling": b.pooling, "pool_hw": b.pool_hw}
            for b in spec.blocks]


def _params(spec, theta):
    """The reference's params of a flat vector (None biases without intercepts)."""
    params = spec.unpack(theta)
    if not spec.fit_intercept:
        params["kernel_intercepts"] = params["intercept"] = None
    return params


def _flat(spec, params):
    return spec.pack(params["kernels"], params["kernel_intercepts"], params["coef"],
                     params["intercept"], np.float64)


def _problem(spec, head, n_outputs, n=5, seed=0, weighted=True):
    rng = np.random.RandomState(seed)
    images = rng.randn(n, *spec.image_shape)
    theta = initialize(spec, rng, 0.5, np.float64)
    theta += 0.1 * rng.randn(spec.size)  # non-zero biases
    if not spec.fit_intercept:
        theta = _flat(spec, _params(spec, theta))
    if isinstance(head, SoftmaxLogLoss):
        targets = np.eye(n_outputs)[rng.randint(n_outputs, size=n)]
    elif isinstance(head, SigmoidLogLoss):
        targets = (rng.rand(n, n_outputs) > 0.5) * 1.0
    else:
        targets = rng.uniform(0.1, 0.9, (n, n_outputs))
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    return images, theta, targets, weights


def _chain_gradient(spec, theta, images, targets, weights, head, chunk):
    """The engine's gradient of the weighted mean loss, ``chunk`` images at once."""
    n = len(images)
    data = TrainingData(spec, images, targets, weights)
    chain = Chain(spec, np.float64, chunk)
    total, grad = np.zeros(spec.size), np.zeros(spec.size)
    logits = np.empty((n, spec.n_outputs))
    outputs = np.empty_like(logits)
    weight_sum = float(n if weights is None else weights.sum())
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        patches = chain.chunk_patches(data, slice(start, stop), stop - start)
        chain.gradient(
            theta, patches, targets[start:stop],
            None if weights is None else weights[start:stop], weight_sum, head,
            grad, logits[start:stop], outputs[start:stop],
        )
        total += grad
    return total, logits


CASES = list(itertools.product(
    NETWORKS, ["tanh", "relu", "logistic", "identity"], HEADS, [True, False]
))


@pytest.mark.parametrize("network, activation, head_name, fit_intercept", CASES)
def test_gradient_is_the_reference(network, activation, head_name, fit_intercept):
    head, n_outputs = HEADS[head_name]
    spec = _spec(network, n_outputs, fit_intercept, activation)
    images, theta, targets, weights = _problem(spec, head, n_outputs)
    params = _params(spec, theta)
    blocks = _blocks(spec)
    _, expected = deep_loss_and_gradients(
        params, images, targets, weights, 0.0, blocks, activation, head
    )
    logits_ref = deep_forward(params, images, blocks, activation)[0]
    for chunk in (5, 2):  # one chunk; several, the last one shorter
        grad, logits = _chain_gradient(
            spec, theta, images, targets, weights, head, chunk
        )
        np.testing.assert_allclose(logits, logits_ref, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(grad, _flat(spec, expected), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize(
    "network, activation, head_name, fit_intercept",
    [
        ("max-avg", "tanh", "softmax-3", True),
        ("avg-global", "relu", "squared-2", False),
        ("unpooled", "logistic", "binary", True),
        ("one-pixel", "identity", "squared-1", True),
        ("three", "tanh", "binary", False),
        ("three", "relu", "softmax-3", True),
    ],
)
def test_gradient_is_the_central_differences(network, activation, head_name,
                                             fit_intercept):
    """Against the loss's finite differences, not through the reference's
    backward pass."""
    head, n_outputs = HEADS[head_name]
    spec = _spec(network, n_outputs, fit_intercept, activation)
    images, theta, targets, weights = _problem(spec, head, n_outputs, n=3)
    blocks = _blocks(spec)

    def loss(flat):
        return deep_loss_and_gradients(
            _params(spec, flat), images, targets, weights, 0.0, blocks,
            activation, head,
        )[0]

    numeric = central_differences(loss, theta)
    if not fit_intercept:  # the biases are not parameters then
        numeric = _flat(spec, _params(spec, numeric))
    grad, _ = _chain_gradient(spec, theta, images, targets, weights, head, 2)
    scale = np.abs(numeric).max()
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7 * scale)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_forward_is_convolve2d(network, dtype, n_threads, monkeypatch):
    monkeypatch.setattr(kernels, "CHUNK_BYTES", 1)  # one image per chunk
    monkeypatch.setattr(kernels, "MIN_CHUNK_IMAGES", 1)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 2)
    spec = _spec(network, 2, True, "tanh")
    images, theta, _, _ = _problem(spec, SigmoidSquaredError(), 2, n=7)
    params = spec.unpack(theta)
    blocks = _blocks(spec)
    expected = scipy_deep_logits(
        images, params["kernels"], params["kernel_intercepts"], params["coef"],
        params["intercept"], blocks, "tanh",
    )
    tolerance = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(
        rtol=2e-4, atol=2e-5
    )
    logits = forward(spec, theta.astype(dtype), images.astype(dtype),
                     n_threads=n_threads)
    assert logits.dtype == dtype
    np.testing.assert_allclose(logits, expected, **tolerance)
    oracle_maps = scipy_deep_maps(
        images, params["kernels"], params["kernel_intercepts"], blocks, "tanh"
    )
    for b, block in enumerate(spec.blocks):
        maps = np.empty((len(images), block.n_filters, *block.map_hw), dtype)
        forward(spec, theta.astype(dtype), images.astype(dtype), maps=maps,
                maps_block=b, n_threads=n_threads)
        np.testing.assert_allclose(maps, oracle_maps[b][0], **tolerance)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("network", ["max-avg", "three"])
def test_deep_epochs_are_the_reference_updates(solver, network):
    """Three epochs of batches of 4 (the last shorter), with the L2 penalty
    and sample weights: the trainer's parameters equal the reference's
    plain gradient steps."""
    head, n_outputs = HEADS["softmax-3"]
    spec = _spec(network, n_outputs, True, "tanh")
    images, theta, targets, weights = _problem(spec, head, n_outputs, n=10)
    alpha, learning_rate, blocks = 0.05, 0.05, _blocks(spec)
    estimator = TinyConvRegressor(solver=solver, alpha=alpha, momentum=0.0)
    trainer = Trainer(spec, head, TrainingData(spec, images, targets, weights),
                      estimator, batch_size=4, validation=None, hooks=None)
    if solver == "sgd":
        optimizer = SGD(spec.size, np.float64, learning_rate, momentum=0.0,
                        nesterovs_momentum=False)
    else:
        optimizer = Adam(spec.size, np.float64, learning_rate, beta_1=0.9,
                         beta_2=0.999, epsilon=1e-8)
    params, first, second, t = _params(spec, theta), None, None, 0
    mask = spec.penalty_mask(np.float64)
    for _ in range(3):
        for start in range(0, 10, 4):
            idx = slice(start, start + 4)
            _, grads = deep_loss_and_gradients(
                params, images[idx], targets[idx], weights[idx], alpha, blocks,
                "tanh", head,
            )
            flat, grad = _flat(spec, params), _flat(spec, grads)
            if solver == "sgd":
                flat = flat - learning_rate * grad
            else:
                t += 1
                first = 0.1 * grad + (0.9 * first if t > 1 else 0.0)
                second = 0.001 * grad**2 + (0.999 * second if t > 1 else 0.0)
                step = learning_rate * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
                flat = flat - step * first / (np.sqrt(second) + 1e-8)
            params = _params(spec, flat)
        trainer._epoch(theta, optimizer, None)
    assert mask.sum() < spec.size  # the biases are not penalised
    np.testing.assert_allclose(theta, _flat(spec, params), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- overflow


@pytest.mark.parametrize(
    "activation, bounded", [("tanh", True), ("logistic", True), ("relu", False),
                            ("identity", False)]
)
def test_later_blocks_are_bounded_only_after_a_bounded_activation(activation,
                                                                  bounded):
    spec = _spec("max-avg", 1, True, activation)
    theta = initialize(spec, np.random.RandomState(0), 1.0, np.float64)
    sums = abs_sums(spec.views(theta)[0])
    first, second = pre_activation_bounds(spec, sums, 1e3)
    assert first == pytest.approx(1e3 * sums[0])
    expected = sums[1] if bounded else first * sums[1]
    assert second == pytest.approx(expected)


def test_an_overflowing_later_block_is_refused():
    """Block 0 stays finite; relu lets its outputs of 1e300 through, and
    block 1's kernels of 1e10 overflow them."""
    spec = NetworkSpec.build((1, 1, 2), (1, 1), [(1, 1), (1, 1)], ["valid"] * 2,
                             [None, None], [None, None], n_outputs=1,
                             fit_intercept=False, activation="relu")
    params = spec.unpack(np.zeros(spec.size))
    params["kernels"] = [np.ones((1, 1, 1, 1)), np.full((1, 1, 1, 1), 1e10)]
    theta = _flat(spec, params)
    images = np.array([[[[1e300, 1.0]]]])
    # The estimators call forward so, leaving the check to the engine.
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(
        ConvolutionOverflowError, match="overflowed float64"
    ):
        forward(spec, theta, images)
    tanh = NetworkSpec.build((1, 1, 2), (1, 1), [(1, 1), (1, 1)], ["valid"] * 2,
                             [None, None], [None, None], n_outputs=1,
                             fit_intercept=False, activation="tanh")
    assert np.isfinite(forward(tanh, theta, images)).all()


@pytest.mark.parametrize(
    "network, block_index", [("max-avg", 1), ("avg-global", 1), ("unpooled", 1),
                             ("three", 1), ("three", 2), ("one-pixel", 1)]
)
def test_scatter_add_is_the_adjoint_of_the_patches(network, block_index):
    """``<write(x), g> = <x, scatter_add(g)>`` for every patch gradient ``g``:
    col2im is the transpose of im2col, padding and pooling's covered pixels
    included."""
    spec = _spec(network, 1, True, "tanh")
    block = spec.blocks[block_index]
    layer = Chain(spec, np.float64, 3).layers[block_index]
    patcher = layer.patcher
    rng = np.random.RandomState(1)
    m = 3
    inputs = rng.randn(block.in_shape[0], m, *block.in_shape[1:])  # channel first
    patches = patcher.write(inputs, patcher.new_buffer(m))[: block.n_kernel]
    grad = rng.randn(*patches.shape)
    hc, width = patcher.covered_hw[0], patcher.grad_row_width
    wide = patcher.natural_order(grad, np.zeros((len(grad), m * hc * width)))
    back = patcher.scatter_add(wide.copy(), np.empty_like(inputs))
    np.testing.assert_allclose(np.vdot(patches, grad), np.vdot(inputs, back),
                               rtol=1e-12)
