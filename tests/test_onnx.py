"""ONNX export of one-block regressors: onnxruntime's predictions against
``predict`` and against scipy, and the tools of every ONNX test module.

Agreement is measured relative to the size of what the graph adds up last,
``|offset| + |scale * s|`` with ``y = target_offset_ + target_scale_ * s``
(see ``_assert_matches``): when a scaled target crosses zero, ``y`` is the
difference of two numbers of order one and its plain relative error is that of
the subtraction, not of the export. Without target scaling (offset 0) the
bound is the plain relative error ``|onnx - predict| <= rtol * |predict|``.
"""

import itertools
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import skl2onnx
from onnx.reference import ReferenceEvaluator
from oracles import scipy_deep_logits, tutorial_model
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sktinycnn import TinyConvRegressor
from sktinycnn.onnx import (
    DEFAULT_TARGET_OPSET,
    MIN_TARGET_OPSET,
    _to_onnx,
    register_skl2onnx,
    to_onnx,
)

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
IMAGE_HW = (5, 6)
N_TRAIN = 40
#: Epochs of every fit: fewer than n_iter_no_change + 1, so the stopping rule
#: cannot fire and every fit ends with a ConvergenceWarning, which is expected.
MAX_ITER = 4


def _session(onx):
    options = ort.SessionOptions()
    # One thread: the test machines are shared, and results do not depend on it.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _run(onx, X):
    return _session(onx).run(None, {"X": X})[0]


def _assert_matches(y_onnx, y_ref, model, rtol):
    """``|y_onnx - y_ref| <= rtol * (|offset| + |y_ref - offset|)``, per target."""
    y_ref = y_ref.reshape(y_ref.shape[0], -1)
    assert y_onnx.shape == y_ref.shape
    assert y_onnx.dtype == y_ref.dtype
    offset = model.target_offset_
    bound = rtol * (np.abs(offset) + np.abs(y_ref - offset))
    error = np.abs(y_onnx.astype(np.float64) - y_ref)
    worst = np.max(error / bound)
    assert worst <= 1, f"error {worst:.3g} x the tolerance rtol={rtol}"


def scipy_logits(model, X):
    """The dense layer's logits, with scipy, from the public fitted attributes.

    Every block's ``kernels_``, ``kernel_intercepts_``, ``padding_``,
    ``pooling_`` and ``pool_size_``, and ``activation_``: the oracle shares no
    code with the export.
    """
    blocks = [
        {"padding": padding, "pooling": pooling, "pool_hw": pool_hw}
        for padding, pooling, pool_hw in zip(
            model.padding_, model.pooling_, model.pool_size_, strict=True
        )
    ]
    images = np.reshape(X, (len(X), *model.image_shape_))
    return scipy_deep_logits(
        images, model.kernels_, model.kernel_intercepts_, model.coef_,
        model.intercept_, blocks, model.activation_,
    )


def scipy_predict(model, X):
    """A fitted regressor's predictions, (n, n_outputs), with scipy."""
    return model.target_offset_ + model.target_scale_ * expit(scipy_logits(model, X))


def _fit(model, X, y):
    with pytest.warns(ConvergenceWarning):
        return model.fit(X, y)


def _data(rng, dtype, channels, n_samples, n_outputs, scale_target):
    X = rng.rand(n_samples, channels * IMAGE_HW[0] * IMAGE_HW[1]).astype(dtype)
    if scale_target:
        # Targets that cross zero, in units far from the sigmoid's.
        y = 30 * X[:, :n_outputs] - 12 + X[:, -n_outputs:]
    else:
        # Raw targets must lie in (0, 1), the sigmoid's range.
        y = 0.2 + 0.6 * X[:, :n_outputs]
    return X, (y.ravel() if n_outputs == 1 else y)


GRID = list(
    itertools.product(
        [np.float32, np.float64],  # dtype
        [1, 3],  # n_filters
        [1, 2],  # channels
        [1, 2, 3, (2, 3), (3, 1)],  # kernel_size
        ["valid", "same"],  # padding
        [True, False],  # fit_intercept
        [1, 2],  # n_outputs
        [True, False],  # scale_target
    )
)


@pytest.mark.parametrize(
    "dtype, n_filters, channels, kernel_size, padding, fit_intercept, n_outputs, "
    "scale_target",
    GRID,
    ids=[
        f"{np.dtype(d).name}-F{f}-c{c}-k{k}-{p}-icpt{i}-out{o}-scale{s}"
        for d, f, c, k, p, i, o, s in GRID
    ],
)
def test_onnxruntime_matches_predict(
    dtype, n_filters, channels, kernel_size, padding, fit_intercept, n_outputs,
    scale_target,
):
    rng = np.random.RandomState(0)
    X, y = _data(rng, dtype, channels, N_TRAIN, n_outputs, scale_target)
    model = _fit(
        TinyConvRegressor(
            image_shape=(channels, *IMAGE_HW),
            n_filters=n_filters,
            kernel_size=kernel_size,
            padding=padding,
            pooling=None,  # the whole maps: pooled ones are test_onnx_pooling's
            fit_intercept=fit_intercept,
            scale_target=scale_target,
            max_iter=MAX_ITER,
            random_state=0,
        ),
        X,
        y,
    )
    # Training moved the biases off zero, so their nodes are exercised.
    (kernel_intercepts,) = model.kernel_intercepts_
    assert np.all(kernel_intercepts != 0) == fit_intercept
    assert np.all(model.intercept_ != 0) == fit_intercept

    onx = to_onnx(model)
    onnx.checker.check_model(onx, full_check=True)
    session = _session(onx)
    X_test = rng.rand(1000, X.shape[1]).astype(dtype)
    for batch in (X_test, X_test[:1]):  # batch sizes 1000 and 1
        y_onnx = session.run(None, {"X": batch})[0]
        assert y_onnx.shape == (batch.shape[0], n_outputs)
        _assert_matches(y_onnx, model.predict(batch), model, RTOL[dtype])


@pytest.mark.parametrize("conv", ["conv", "unfold"])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, (2, 3), (3, 2)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_both_convolution_forms_match_scipy(conv, kernel_size, padding):
    # A float64 model, so that scipy's convolve2d is an oracle to 1e-10. The
    # "conv" form (ONNX Conv, float only in onnxruntime) is run by onnx's
    # reference evaluator, the "unfold" form by onnxruntime.
    rng = np.random.RandomState(1)
    X, y = _data(rng, np.float64, 2, N_TRAIN, 2, True)
    model = _fit(
        TinyConvRegressor(
            image_shape=(2, *IMAGE_HW), n_filters=2, kernel_size=kernel_size,
            padding=padding, pooling=None, max_iter=MAX_ITER, random_state=0,
        ),
        X,
        y,
    )
    onx = _to_onnx(model, None, None, conv=conv)
    onnx.checker.check_model(onx, full_check=True)
    op_types = {node.op_type for node in onx.graph.node}
    assert ("Conv" in op_types) == (conv == "conv")
    X_test = rng.rand(7, X.shape[1])
    if conv == "conv":
        y_onnx = ReferenceEvaluator(onx).run(None, {"X": X_test})[0]
    else:
        y_onnx = _run(onx, X_test)
    _assert_matches(y_onnx, scipy_predict(model, X_test), model, 1e-10)


def test_float32_model_unfolded_form():
    # The float64 form also runs in float32 and agrees with predict.
    rng = np.random.RandomState(2)
    X, y = _data(rng, np.float32, 2, N_TRAIN, 1, True)
    model = _fit(
        TinyConvRegressor(
            image_shape=(2, *IMAGE_HW), n_filters=3, kernel_size=(2, 3),
            padding="same", max_iter=MAX_ITER, random_state=0,
        ),
        X,
        y,
    )
    onx = _to_onnx(model, None, None, conv="unfold")
    onnx.checker.check_model(onx, full_check=True)
    assert "Conv" not in {node.op_type for node in onx.graph.node}
    X_test = rng.rand(1000, X.shape[1]).astype(np.float32)
    _assert_matches(_run(onx, X_test), model.predict(X_test), model, RTOL[np.float32])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_graph_layout(dtype):
    # Conv for float32, im2col + MatMul for float64; skipped no-op nodes.
    rng = np.random.RandomState(3)
    X, y = _data(rng, dtype, 1, N_TRAIN, 1, False)
    model = _fit(
        TinyConvRegressor(
            image_shape=IMAGE_HW, fit_intercept=False, scale_target=False,
            max_iter=MAX_ITER, random_state=0,
        ),
        X,
        y,
    )
    onx = to_onnx(model)
    ops = [node.op_type for node in onx.graph.node]
    assert ("Conv" in ops) == (dtype == np.float32)
    # No bias adds and no target scaling: the graph ends with the sigmoid.
    assert "Add" not in ops and "Mul" not in ops
    assert ops[-1] == "Sigmoid"
    assert [o.name for o in onx.graph.output] == ["variable"]
    assert [i.name for i in onx.graph.input] == ["X"]
    elem = onnx.TensorProto.FLOAT if dtype == np.float32 else onnx.TensorProto.DOUBLE
    assert onx.graph.input[0].type.tensor_type.elem_type == elem
    assert onx.graph.output[0].type.tensor_type.elem_type == elem
    dims = onx.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].HasField("dim_value")  # dynamic batch
    assert dims[1].dim_value == X.shape[1]
    assert onx.opset_import[0].version == DEFAULT_TARGET_OPSET


@pytest.fixture(scope="module")
def small_model():
    rng = np.random.RandomState(4)
    X, y = _data(rng, np.float32, 2, N_TRAIN, 2, True)
    with pytest.warns(ConvergenceWarning):
        model = TinyConvRegressor(
            image_shape=(2, *IMAGE_HW), n_filters=2, kernel_size=3,
            padding="same", max_iter=MAX_ITER, random_state=0,
        ).fit(X, y)
    return model, rng.rand(50, X.shape[1]).astype(np.float32)


@pytest.mark.parametrize("ndim", [2, 4])
def test_image_shaped_input(small_model, ndim):
    # X_sample of images declares an image-shaped input; the result is the same.
    model, X = small_model
    c, h, w = model.image_shape_
    X_in = X if ndim == 2 else X.reshape(-1, c, h, w)
    onx = to_onnx(model, X_in[:1])
    onnx.checker.check_model(onx, full_check=True)
    dims = [d.dim_value for d in onx.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == list(X_in.shape[1:])
    _assert_matches(_run(onx, X_in), model.predict(X_in), model, 1e-5)


def test_three_dimensional_input():
    rng = np.random.RandomState(5)
    X = rng.rand(N_TRAIN, *IMAGE_HW)
    model = _fit(
        TinyConvRegressor(kernel_size=(3, 2), max_iter=MAX_ITER, random_state=0),
        X,
        X.sum(axis=(1, 2)),
    )
    onx = to_onnx(model, X[:1])
    onnx.checker.check_model(onx, full_check=True)
    _assert_matches(_run(onx, X), model.predict(X), model, 1e-10)


def test_float64_input_to_float32_model_is_cast(small_model):
    # predict casts float64 X to the model's float32; the graph does the same.
    model, X = small_model
    X64 = X.astype(np.float64) + 1e-9  # not representable in float32
    onx = to_onnx(model, X64[:1])
    onnx.checker.check_model(onx, full_check=True)
    assert onx.graph.node[0].op_type == "Cast"
    y_onnx = _run(onx, X64)
    assert y_onnx.dtype == np.float32
    _assert_matches(y_onnx, model.predict(X64), model, 1e-5)


def test_clipped_kernel_and_one_pixel_maps():
    # A 1x7 image: the 2x2 kernel is clipped to 1x2; a 1x7 kernel gives 1x1 maps.
    rng = np.random.RandomState(6)
    X = rng.rand(N_TRAIN, 7)
    for kernel_size, expected in [(2, (1, 2)), ((1, 7), (1, 7))]:
        model = _fit(
            TinyConvRegressor(
                kernel_size=kernel_size, n_filters=2, padding="valid",
                max_iter=MAX_ITER, random_state=0,
            ),
            X,
            X.sum(axis=1),
        )
        assert model.kernel_size_ == [expected]
        onx = to_onnx(model)
        onnx.checker.check_model(onx, full_check=True)
        _assert_matches(_run(onx, X), model.predict(X), model, 1e-10)


def test_tutorial_configuration():
    # The tutorial's network (no biases, raw targets, 2x2 kernel on 3x3 images).
    rng = np.random.RandomState(7)
    X = rng.rand(N_TRAIN, 9)
    y = 0.1 + 0.8 * X.mean(axis=1)
    model = _fit(tutorial_model(max_iter=MAX_ITER), X, y)
    onx = to_onnx(model)
    onnx.checker.check_model(onx, full_check=True)
    np.testing.assert_allclose(_run(onx, X).ravel(), model.predict(X), rtol=1e-10)


@pytest.mark.parametrize("target_opset", [MIN_TARGET_OPSET, None, "latest"])
def test_target_opset(small_model, target_opset):
    model, X = small_model
    if target_opset == "latest":
        # The newest opset that both onnx and this onnxruntime know.
        target_opset = min(
            onnx.defs.onnx_opset_version(), _onnxruntime_max_opset()
        )
    onx = to_onnx(model, target_opset=target_opset)
    onnx.checker.check_model(onx, full_check=True)
    expected = DEFAULT_TARGET_OPSET if target_opset is None else target_opset
    assert onx.opset_import[0].version == expected
    _assert_matches(_run(onx, X), model.predict(X), model, 1e-5)


def _onnxruntime_max_opset():
    # Probe with a one-node model: the newest default-domain opset onnxruntime
    # loads (it rejects opsets it does not know).
    for opset in range(onnx.defs.onnx_opset_version(), MIN_TARGET_OPSET - 1, -1):
        graph = onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["X"], ["Y"])],
            "probe",
            [onnx.helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [1])],
        )
        opsets = [onnx.helper.make_opsetid("", opset)]
        probe = onnx.helper.make_model(
            graph, opset_imports=opsets,
            ir_version=onnx.helper.find_min_ir_version_for(opsets),
        )
        try:
            _session(probe)
        except Exception:  # any load failure means "unsupported"
            continue
        return opset
    raise AssertionError("onnxruntime loads no opset >= MIN_TARGET_OPSET")


def test_saved_model_round_trip(small_model, tmp_path):
    model, X = small_model
    path = tmp_path / "model.onnx"
    onnx.save(to_onnx(model), path)
    loaded = onnx.load(path)
    onnx.checker.check_model(loaded, full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _assert_matches(session.run(None, {"X": X})[0], model.predict(X), model, 1e-5)


@pytest.mark.parametrize(
    "X_sample, error, match",
    [
        (np.zeros((1, 7), np.float32), ValueError, "does not match"),
        (np.zeros((1, 2, 6, 5), np.float32), ValueError, "does not match"),
        # 3-D images are one-channel images; this model has two channels.
        (np.zeros((1, 5, 6), np.float32), ValueError, "does not match"),
        (np.zeros((1, 60), np.int64), TypeError, "float32 and float64"),
    ],
)
def test_bad_X_sample(small_model, X_sample, error, match):
    with pytest.raises(error, match=match):
        to_onnx(small_model[0], X_sample)


@pytest.mark.parametrize("target_opset", [MIN_TARGET_OPSET - 1, 1000, 18.0, True])
def test_bad_target_opset(small_model, target_opset):
    with pytest.raises(ValueError, match="target_opset"):
        to_onnx(small_model[0], target_opset=target_opset)


def test_unfitted_or_foreign_estimator(small_model):
    with pytest.raises(NotFittedError):
        to_onnx(TinyConvRegressor())
    with pytest.raises(TypeError, match="TinyConvRegressor"):
        to_onnx(Ridge().fit(small_model[1], small_model[1][:, 0]))
    with pytest.raises(TypeError, match="TinyConvRegressor"):
        to_onnx(Pipeline([("cnn", clone(small_model[0]))]))


# --- skl2onnx -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_skl2onnx_pipeline(dtype, n_outputs, padding):
    register_skl2onnx()
    rng = np.random.RandomState(8)
    X, y = _data(rng, dtype, 2, N_TRAIN, n_outputs, True)
    X = 10 * X + 3  # far from standardised, so the scaler matters
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "cnn",
                TinyConvRegressor(
                    image_shape=(2, *IMAGE_HW), n_filters=3, kernel_size=(3, 2),
                    padding=padding, max_iter=MAX_ITER, random_state=0,
                ),
            ),
        ]
    )
    _fit(pipe, X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1])
    onnx.checker.check_model(onx, full_check=True)
    session = _session(onx)
    X_test = (10 * rng.rand(1000, X.shape[1]) + 3).astype(dtype)
    for batch in (X_test, X_test[:1]):
        y_onnx = session.run(None, {"X": batch})[0]
        assert y_onnx.shape == (batch.shape[0], n_outputs)
        _assert_matches(y_onnx, pipe.predict(batch), pipe[-1], RTOL[dtype])


def test_skl2onnx_bare_estimator_same_as_to_onnx(small_model):
    register_skl2onnx()
    register_skl2onnx()  # idempotent
    model, X = small_model
    onx = skl2onnx.to_onnx(model, X[:1])
    onnx.checker.check_model(onx, full_check=True)
    y_skl2onnx = _run(onx, X)
    y_ours = _run(to_onnx(model), X)
    # The same graph, so the same numbers.
    np.testing.assert_array_equal(y_skl2onnx, y_ours)


def test_skl2onnx_refuses_old_opset(small_model):
    register_skl2onnx()
    model, X = small_model
    with warnings.catch_warnings():
        # skl2onnx may warn that the opset is older than it prefers.
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(RuntimeError, match="target_opset >= 13"):
            skl2onnx.to_onnx(model, X[:1], target_opset=MIN_TARGET_OPSET - 1)


@pytest.mark.parametrize("missing", ["onnx", "skl2onnx"])
def test_missing_optional_dependency(small_model, monkeypatch, missing):
    # A None entry in sys.modules makes "import name" raise ImportError.
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(ImportError, match=r"sktinycnn\[onnx\]"):
        if missing == "onnx":
            to_onnx(small_model[0])
        else:
            register_skl2onnx()
