"""ONNX export of pooled one-block models: onnxruntime against ``predict``,
both graph forms against scipy and pooling written out by hand (the oracle of
tests/oracles.py), and skl2onnx pipelines.

The tools and the agreement measure are test_onnx.py's (see its docstring).
"""

import itertools

import numpy as np
import onnx
import pytest
import skl2onnx
from onnx.reference import ReferenceEvaluator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from test_onnx import (
    IMAGE_HW,
    MAX_ITER,
    N_TRAIN,
    RTOL,
    _assert_matches,
    _data,
    _fit,
    _run,
    _session,
    scipy_predict,
)

from sktinycnn import TinyConvRegressor
from sktinycnn.onnx import MIN_TARGET_OPSET, _to_onnx, register_skl2onnx, to_onnx


def _pooled_model(dtype, pooling, pool_size, padding, seed=9, **params):
    # 2x2 kernels on 5x6 images: 4x5 maps ("valid") or 5x6 ("same"), which
    # windows of 2 and (2, 3) do not divide.
    rng = np.random.RandomState(seed)
    X, y = _data(rng, dtype, 2, N_TRAIN, 2, True)
    model = TinyConvRegressor(
        image_shape=(2, *IMAGE_HW), n_filters=3, kernel_size=2, padding=padding,
        pooling=pooling, pool_size=pool_size, max_iter=MAX_ITER, random_state=0,
        **params,
    )
    return _fit(model, X, y), rng


POOLED = list(
    itertools.product(
        [np.float32, np.float64],  # dtype
        ["max", "avg"],  # pooling
        [2, (2, 3), "global", (8, 8), (2, 8)],  # pool_size (the last two clip)
        ["valid", "same"],  # padding
    )
)


@pytest.mark.parametrize(
    "dtype, pooling, pool_size, padding",
    POOLED,
    ids=[f"{np.dtype(d).name}-{m}-{s}-{p}" for d, m, s, p in POOLED],
)
def test_pooled_onnxruntime_matches_predict(dtype, pooling, pool_size, padding):
    model, rng = _pooled_model(dtype, pooling, pool_size, padding)
    map_hw = (4, 5) if padding == "valid" else (5, 6)
    whole_map = model.pool_size_ == [map_hw]
    assert whole_map == (pool_size in ("global", (8, 8)))
    onx = to_onnx(model)
    onnx.checker.check_model(onx, full_check=True)
    ops = [node.op_type for node in onx.graph.node]
    if dtype == np.float32:
        op = {"max": "MaxPool", "avg": "AveragePool"}[pooling]
        assert ops.count(f"Global{op}" if whole_map else op) == 1
    else:  # what onnxruntime's CPU provider runs in double
        assert ops.count("MaxPool" if pooling == "max" else "ReduceSum") == 1
        assert not {"AveragePool", "GlobalMaxPool", "GlobalAveragePool"} & set(ops)
    session = _session(onx)
    X_test = rng.rand(1000, model.n_features_in_).astype(dtype)
    for batch in (X_test, X_test[:1]):
        y_onnx = session.run(None, {"X": batch})[0]
        assert y_onnx.shape == (batch.shape[0], 2)
        _assert_matches(y_onnx, model.predict(batch), model, RTOL[dtype])


@pytest.mark.parametrize("conv", ["conv", "unfold"])
@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("pool_size", [2, (2, 3), "global"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_both_pooled_forms_match_scipy(conv, pooling, pool_size, padding):
    # In double against scipy and pooling by hand; the "conv" form (float-only
    # operators in onnxruntime) by onnx's reference evaluator.
    model, rng = _pooled_model(np.float64, pooling, pool_size, padding, seed=10)
    onx = _to_onnx(model, None, None, conv=conv)
    onnx.checker.check_model(onx, full_check=True)
    X_test = rng.rand(7, model.n_features_in_)
    if conv == "conv":
        y_onnx = ReferenceEvaluator(onx).run(None, {"X": X_test})[0]
    else:
        y_onnx = _run(onx, X_test)
    _assert_matches(y_onnx, scipy_predict(model, X_test), model, 1e-10)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_pooled_float32_unfolded_form_and_oldest_opset(pooling):
    # The double-ready form runs in float32 too, and both forms at opset 13.
    model, rng = _pooled_model(np.float32, pooling, (2, 3), "same", seed=11)
    X_test = rng.rand(200, model.n_features_in_).astype(np.float32)
    for conv in ("conv", "unfold"):
        onx = _to_onnx(model, None, MIN_TARGET_OPSET, conv=conv)
        onnx.checker.check_model(onx, full_check=True)
        _assert_matches(_run(onx, X_test), model.predict(X_test), model, 1e-5)


def test_pooled_graph_without_biases_or_scaling():
    # 1x1 pooled maps, no biases and raw targets: Flatten of (n, F, 1, 1).
    rng = np.random.RandomState(12)
    X = rng.rand(N_TRAIN, *IMAGE_HW)
    model = _fit(
        TinyConvRegressor(
            n_filters=2, kernel_size=3, pooling="avg", pool_size="global",
            fit_intercept=False, scale_target=False, max_iter=MAX_ITER,
            random_state=0,
        ),
        X,
        0.2 + 0.6 * X.mean(axis=(1, 2)),
    )
    assert model.coef_.shape == (2, 1)
    onx = to_onnx(model, X[:1])
    ops = [node.op_type for node in onx.graph.node]
    assert "Add" not in ops and ops[-1] == "Sigmoid"
    _assert_matches(_run(onx, X), model.predict(X), model, 1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("pool_size", [(2, 3), "global"])
def test_skl2onnx_pooled_pipeline(dtype, pooling, pool_size):
    register_skl2onnx()
    rng = np.random.RandomState(13)
    X, y = _data(rng, dtype, 2, N_TRAIN, 2, True)
    X = 10 * X + 3
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "cnn",
                TinyConvRegressor(
                    image_shape=(2, *IMAGE_HW), n_filters=3, kernel_size=2,
                    pooling=pooling, pool_size=pool_size, max_iter=MAX_ITER,
                    random_state=0,
                ),
            ),
        ]
    )
    _fit(pipe, X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1])
    onnx.checker.check_model(onx, full_check=True)
    X_test = (10 * rng.rand(500, X.shape[1]) + 3).astype(dtype)
    y_onnx = _run(onx, X_test)
    assert y_onnx.shape == (500, 2)
    _assert_matches(y_onnx, pipe.predict(X_test), pipe[-1], RTOL[dtype])
    # The converter emits the graph of to_onnx: the same numbers.
    np.testing.assert_array_equal(
        _run(skl2onnx.to_onnx(pipe[-1], X[:1]), X_test[:50]),
        _run(to_onnx(pipe[-1], X[:1]), X_test[:50]),
    )
