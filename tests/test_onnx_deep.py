"""ONNX export of networks of two and three convolution blocks.

Every activation, max / average / no / global pooling, both paddings,
per-block lists, several channels, with and without biases, both heads,
float32 and float64, both graph forms: onnxruntime (or onnx's reference
evaluator for the float64 ``Conv`` form, which onnxruntime runs in float
only) against ``predict`` and ``predict_proba``, and in double against the
scipy oracle of tests/oracles.py. The tools and the agreement measure are
test_onnx.py's and test_onnx_classifier.py's.
"""

import copy
import itertools

import numpy as np
import onnx
import pytest
import skl2onnx
from numpy.testing import assert_array_equal
from onnx.reference import ReferenceEvaluator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from test_onnx import MAX_ITER, RTOL, _assert_matches, _fit, _session, scipy_predict
from test_onnx_classifier import _assert_label_and_proba, _targets

from sktinycnn import TinyConvClassifier, TinyConvRegressor
from sktinycnn.onnx import MIN_TARGET_OPSET, _to_onnx, register_skl2onnx, to_onnx

IMAGE_HW = (8, 9)
N_TRAIN = 30
N_TEST = 200
ACTIVATIONS = ["tanh", "relu", "logistic", "identity"]
ACTIVATION_OPS = {"tanh": "Tanh", "relu": "Relu", "logistic": "Sigmoid"}

#: Networks of 2 and 3 blocks on 8x9 images; the sizes per block in comments.
ARCHITECTURES = {
    # 8x9 -> 8x9 -> 4x4 | 4x4 -> 4x4 -> 2x2
    "2-same-max": dict(channels=1, n_filters=(2, 3), kernel_size=3, padding="same",
                       pooling="max", pool_size=2),
    # 6x8 -> avg (2, 3) drops two columns -> 3x2 | 3x2 (even kernel) -> global
    "2-lists-avg-globalmax": dict(
        channels=2, n_filters=(3, 2), kernel_size=[(3, 2), 2],
        padding=["valid", "same"], pooling=["avg", "max"],
        pool_size=[(2, 3), "global"],
    ),
    # 8x9 | 7x8 -> max 2 drops a row -> 3x4 | 3x4 -> global average
    "3-none-max-globalavg-nobias": dict(
        channels=2, n_filters=(2, 3, 2), kernel_size=[3, 2, 1],
        padding=["same", "valid", "same"], pooling=[None, "max", "avg"],
        pool_size=[2, 2, "global"], fit_intercept=False,
    ),
    # 7x8 | 7x6 | 6x5, no pooling: the dense layer reads 90 values
    "3-unpooled": dict(channels=1, n_filters=(2, 2, 3),
                       kernel_size=[2, (1, 3), 2], padding="valid", pooling=None),
    # 8x9 -> 4x4 | 4x4 -> avg (3, 2) drops a row -> 1x2
    "2-avg-even-kernels": dict(channels=3, n_filters=(4, 2),
                               kernel_size=[2, (2, 4)], padding="same",
                               pooling="avg", pool_size=[2, (3, 2)]),
    # 6x7 -> 3x3 | kernel 5 clipped to 3x3 -> 1x1 | 1x1, window clipped to 1x1
    "3-clipped-nobias": dict(
        channels=1, n_filters=(2, 3, 2), kernel_size=[3, 5, 3],
        padding=["valid", "valid", "same"], pooling=["max", None, "max"],
        pool_size=[2, 2, 8], fit_intercept=False,
    ),
}


def _params(architecture, activation, **params):
    """Estimator parameters of an architecture; its channels apart."""
    params = {**ARCHITECTURES[architecture], "activation": activation,
              "max_iter": MAX_ITER, "random_state": 0, **params}
    channels = params.pop("channels")
    return {"image_shape": (channels, *IMAGE_HW), **params}


def _rows(rng, params, n_samples, dtype):
    return rng.rand(n_samples, int(np.prod(params["image_shape"]))).astype(dtype)


def _regressor(architecture, activation, dtype, seed=0, **params):
    """A fitted deep regressor of two scaled targets, and fresh test rows."""
    rng = np.random.RandomState(seed)
    params = _params(architecture, activation, **params)
    X = _rows(rng, params, N_TRAIN, dtype)
    # Targets that cross zero, in units far from the sigmoid's.
    y = 30 * X[:, :2] - 12 + X[:, -2:]
    model = _fit(TinyConvRegressor(**params), X, y)
    return model, _rows(rng, params, N_TEST, dtype)


def _run_other_form(model, X):
    """The form that is not the dtype's default: float32 "unfold" in
    onnxruntime, float64 "conv" in onnx's reference evaluator (on fewer
    rows, which it runs slowly). Returns its outputs and the rows."""
    if model.coef_.dtype == np.float32:
        return _session(_to_onnx(model, None, None, conv="unfold")).run(
            None, {"X": X}
        ), X
    onx = _to_onnx(model, None, None, conv="conv")
    assert "Conv" in {node.op_type for node in onx.graph.node}
    X = X[:10]
    return ReferenceEvaluator(onx).run(None, {"X": X}), X


GRID = list(itertools.product([np.float32, np.float64], ACTIVATIONS, ARCHITECTURES))


@pytest.mark.parametrize(
    "dtype, activation, architecture",
    GRID,
    ids=[f"{np.dtype(d).name}-{a}-{arch}" for d, a, arch in GRID],
)
def test_deep_regressor_matches_predict(dtype, activation, architecture):
    model, X = _regressor(architecture, activation, dtype)
    depth = len(model.kernels_)
    assert depth == len(ARCHITECTURES[architecture]["n_filters"])
    fit_intercept = ARCHITECTURES[architecture].get("fit_intercept", True)
    # Biases moved off zero in every block, or are absent: their nodes are
    # exercised, or left out.
    assert [bool(np.any(b != 0)) for b in model.kernel_intercepts_] == (
        [fit_intercept] * depth
    )

    onx = to_onnx(model)
    onnx.checker.check_model(onx, full_check=True)
    ops = [node.op_type for node in onx.graph.node]
    # One convolution per block, in the dtype's form, and one activation node
    # per block (none for the identity); the head adds the last Sigmoid.
    assert ops.count("Conv") == (depth if dtype == np.float32 else 0)
    assert ops.count("MatMul") == (1 if dtype == np.float32 else depth + 1)
    for name, op in ACTIVATION_OPS.items():
        expected = depth if name == activation else 0
        assert ops.count(op) == expected + (op == "Sigmoid")
    n_biased = depth if fit_intercept else 0
    assert sum(len(node.input) == 3 for node in onx.graph.node
               if node.op_type == "Conv") == (n_biased if dtype == np.float32 else 0)

    session = _session(onx)
    for batch in (X, X[:1]):  # batch sizes N_TEST and 1
        y_onnx = session.run(None, {"X": batch})[0]
        assert y_onnx.shape == (len(batch), 2)
        _assert_matches(y_onnx, model.predict(batch), model, RTOL[dtype])
    (y_other,), rows = _run_other_form(model, X)
    _assert_matches(y_other, model.predict(rows), model, RTOL[dtype])


FORMS_GRID = list(itertools.product(ACTIVATIONS, ARCHITECTURES))


@pytest.mark.parametrize(
    "activation, architecture",
    FORMS_GRID,
    ids=[f"{a}-{arch}" for a, arch in FORMS_GRID],
)
def test_deep_forms_match_scipy(activation, architecture):
    # Both graph forms of a float64 model against scipy's convolve2d and
    # pooling by reshapes, block after block: an oracle sharing no code with
    # the export or the estimator, to 1e-10.
    model, X = _regressor(architecture, activation, np.float64, seed=1)
    X = X[:7]
    expected = scipy_predict(model, X)
    unfolded = _to_onnx(model, None, None, conv="unfold")
    _assert_matches(_session(unfolded).run(None, {"X": X})[0], expected, model,
                    1e-10)
    conv = _to_onnx(model, None, None, conv="conv")
    _assert_matches(ReferenceEvaluator(conv).run(None, {"X": X})[0], expected,
                    model, 1e-10)


# --- heads -------------------------------------------------------------------------

HEADS = ["regressor-raw", "binary-int", "multiclass-str", "multilabel"]
HEADS_GRID = [
    (dtype, head, architecture, activation)
    for (dtype, head), (architecture, activation) in itertools.product(
        itertools.product([np.float32, np.float64], HEADS),
        [("2-lists-avg-globalmax", "relu"), ("3-none-max-globalavg-nobias", "tanh"),
         ("3-unpooled", "logistic"), ("2-avg-even-kernels", "identity")],
    )
]


def _deep_model(dtype, head, architecture, activation, seed=2):
    """A fitted deep regressor (one raw target in (0, 1)) or classifier."""
    rng = np.random.RandomState(seed)
    params = _params(architecture, activation)
    X = _rows(rng, params, N_TRAIN, dtype)
    if head == "regressor-raw":
        model = TinyConvRegressor(scale_target=False, **params)
        y = 0.2 + 0.6 * X[:, 0]  # in the sigmoid's range
    else:
        model = TinyConvClassifier(**params)
        y = _targets(X, head)
    return _fit(model, X, y), _rows(rng, params, N_TEST, dtype)


@pytest.mark.parametrize(
    "dtype, head, architecture, activation",
    HEADS_GRID,
    ids=[f"{np.dtype(d).name}-{h}-{arch}-{a}" for d, h, arch, a in HEADS_GRID],
)
def test_deep_heads_match_predict(dtype, head, architecture, activation):
    model, X = _deep_model(dtype, head, architecture, activation)
    onx = to_onnx(model)
    onnx.checker.check_model(onx, full_check=True)
    outputs = _session(onx).run(None, {"X": X})
    other, rows = _run_other_form(model, X)
    if head == "regressor-raw":
        # No target map: the graph ends with the head's Sigmoid.
        assert onx.graph.node[-1].op_type == "Sigmoid"
        _assert_matches(outputs[0], model.predict(X), model, RTOL[dtype])
        _assert_matches(other[0], model.predict(rows), model, RTOL[dtype])
        return
    multilabel = head == "multilabel"
    _assert_label_and_proba(*outputs, model, X, multilabel, RTOL[dtype])
    _assert_label_and_proba(*other, model, rows, multilabel, RTOL[dtype])


@pytest.mark.parametrize("zipmap", [True, "columns"])
def test_deep_classifier_zipmap(zipmap):
    model, X = _deep_model(np.float32, "multiclass-str", "2-same-max", "relu")
    session = _session(to_onnx(model, zipmap=zipmap))
    label, *probabilities = session.run(None, {"X": X})
    if zipmap is True:
        (dicts,) = probabilities
        assert all(list(d) == list(model.classes_) for d in dicts)
        proba = np.array([list(d.values()) for d in dicts])
    else:
        proba = np.stack(probabilities, axis=1)
    _assert_label_and_proba(label, proba, model, X, False, RTOL[np.float32])


# --- skl2onnx, inputs, opsets --------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("head", ["regressor", "multiclass-int"])
def test_deep_skl2onnx_pipeline(dtype, head):
    register_skl2onnx()
    rng = np.random.RandomState(3)
    params = _params("3-none-max-globalavg-nobias", "tanh")
    X = 10 * _rows(rng, params, N_TRAIN, dtype) + 3  # the scaler matters
    if head == "regressor":
        estimator, y, options = TinyConvRegressor(**params), X[:, :2], None
    else:
        estimator, y = TinyConvClassifier(**params), _targets((X - 3) / 10, head)
        options = {"zipmap": False}
    pipe = _fit(Pipeline([("scale", StandardScaler()), ("cnn", estimator)]), X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1], options=options)
    onnx.checker.check_model(onx, full_check=True)
    X_test = (10 * _rows(rng, params, N_TEST, dtype) + 3).astype(dtype)
    outputs = _session(onx).run(None, {"X": X_test})
    if head == "regressor":
        _assert_matches(outputs[0], pipe.predict(X_test), pipe[-1], RTOL[dtype])
    else:
        _assert_label_and_proba(*outputs, pipe, X_test, False, RTOL[dtype])


def test_deep_image_input_cast_and_oldest_opset():
    # Image-shaped float64 rows into a float32 three-block model, at opset 13.
    model, X = _regressor("3-clipped-nobias", "tanh", np.float32, seed=4)
    images = X.astype(np.float64).reshape(-1, *model.image_shape_) + 1e-9
    for conv in ("conv", "unfold"):
        onx = _to_onnx(model, images[:1], MIN_TARGET_OPSET, conv=conv)
        onnx.checker.check_model(onx, full_check=True)
        assert onx.graph.node[0].op_type == "Cast"
        y_onnx = _session(onx).run(None, {"X": images})[0]
        assert y_onnx.dtype == np.float32
        _assert_matches(y_onnx, model.predict(images), model, RTOL[np.float32])


# --- what the export reads ---------------------------------------------------------


@pytest.mark.parametrize("estimator", [TinyConvRegressor, TinyConvClassifier])
def test_export_reads_public_attributes_only(estimator):
    # A copy without any private attribute exports the same graph.
    head = "regressor-raw" if estimator is TinyConvRegressor else "multiclass-str"
    model, X = _deep_model(np.float32, head, "2-lists-avg-globalmax", "tanh")
    public = copy.copy(model)
    for name in [name for name in vars(public) if name.startswith("_")]:
        delattr(public, name)
    ours, theirs = _session(to_onnx(model)), _session(to_onnx(public))
    # The same graph in the same runtime: the same numbers.
    for a, b in zip(ours.run(None, {"X": X}), theirs.run(None, {"X": X}),
                    strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m.kernels_.pop(), "one entry per block"),
        (lambda m: m.kernels_.__setitem__(1, m.kernels_[1][:, :1]),
         r"kernels_\[1\] has shape"),
        (lambda m: setattr(m, "coef_", m.coef_[:-1]), "coef_ has 11 rows"),
    ],
    ids=["depth", "channels", "coef"],
)
def test_inconsistent_attributes_are_refused(change, match):
    # Attributes set by hand that disagree on a size: a ValueError naming
    # them, not a graph that fails in the runtime.
    model, _ = _regressor("2-same-max", "tanh", np.float32)
    model.kernels_ = list(model.kernels_)
    change(model)
    with pytest.raises(ValueError, match=match):
        to_onnx(model)
