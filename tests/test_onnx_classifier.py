"""ONNX export of TinyConvClassifier: onnxruntime against ``predict`` and
``predict_proba``, through ``to_onnx`` and skl2onnx, with every ``zipmap``.

Labels must equal ``predict``'s exactly. They are compared on the rows whose
probabilities are not within ``MARGIN`` of a tie (the two largest of a row
for binary and multiclass models, 0.5 for each label of a multilabel one):
on a tie, rounding alone decides, in NumPy as in the runtime. Ties themselves
are checked where they are exact, on a model whose dense layer is zeroed.
Probabilities agree to ``RTOL`` (1e-5 float32, 1e-10 float64). The tools are
test_onnx.py's.
"""

import itertools

import numpy as np
import onnx
import pytest
import skl2onnx
from numpy.testing import assert_allclose, assert_array_equal
from onnx.reference import ReferenceEvaluator
from oracles import fit_quietly
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from test_onnx import IMAGE_HW, MAX_ITER, N_TRAIN, RTOL, _session

from sktinycnn import TinyConvClassifier, TinyConvRegressor
from sktinycnn.onnx import MIN_TARGET_OPSET, _to_onnx, register_skl2onnx, to_onnx

#: Rows within this of a tie are left out of the label comparison (float32
#: probabilities differ by about 1e-7, float64 ones by about 1e-16).
MARGIN = 1e-4
CHANNELS = 2
N_FEATURES = CHANNELS * IMAGE_HW[0] * IMAGE_HW[1]

TARGETS = ["binary-int", "binary-str", "multiclass-int", "multiclass-str", "multilabel"]


def _targets(X, target):
    """Labels of ``target`` kind, learnable from the first pixels of ``X``."""
    m = X[:, :6].mean(axis=1)
    if target == "multilabel":
        return (X[:, :3] > 0.5).astype(np.int64)
    if target.startswith("binary"):
        labels = [-3, 7] if target.endswith("int") else ["no", "yes"]
        return np.array(labels)[(m > np.median(m)) * 1]
    labels = [-1, 2, 5] if target.endswith("int") else ["cat", "dog", "red fox"]
    return np.array(labels)[np.digitize(m, np.quantile(m, [1 / 3, 2 / 3]))]


def _fit(dtype, target, seed=0, **params):
    """A small fitted classifier, its training X and fresh rows to test on."""
    rng = np.random.RandomState(seed)
    X = rng.rand(N_TRAIN, N_FEATURES).astype(dtype)
    defaults = dict(
        image_shape=(CHANNELS, *IMAGE_HW),
        n_filters=2,
        kernel_size=2,
        pooling=None,
        max_iter=MAX_ITER,
        random_state=0,
    )
    model = TinyConvClassifier(**{**defaults, **params})
    fit_quietly(model, X, _targets(X, target))
    return model, X, rng.rand(200, N_FEATURES).astype(dtype)


def _away_from_ties(proba, multilabel):
    """The rows none of whose decisions is within MARGIN of a tie."""
    if multilabel:
        return np.all(np.abs(proba - 0.5) > MARGIN, axis=1)
    top_two = np.sort(proba, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0] > MARGIN


def _assert_label_and_proba(label, proba, predictor, X, multilabel, rtol):
    """``label`` equals ``predict`` away from ties, ``proba`` ``predict_proba``."""
    expected = predictor.predict_proba(X)
    assert proba.shape == expected.shape
    assert_allclose(proba, expected, rtol=rtol, atol=0)
    assert label.shape == predictor.predict(X).shape
    away = _away_from_ties(expected, multilabel)
    assert away.mean() > 0.5  # the comparison is not vacuous
    assert_array_equal(label[away], predictor.predict(X)[away])


def _label_elem(model):
    strings = model.classes_.dtype.kind in "UO"
    return onnx.TensorProto.STRING if strings else onnx.TensorProto.INT64


POOLINGS = [
    (None, 2),
    ("max", 2),
    ("avg", (2, 3)),
    ("max", "global"),
    ("avg", "global"),
]
GRID = list(itertools.product([np.float32, np.float64], TARGETS, POOLINGS))


@pytest.mark.parametrize(
    "dtype, target, pooling",
    GRID,
    ids=[f"{np.dtype(d).name}-{t}-{p[0]}{p[1]}" for d, t, p in GRID],
)
def test_onnxruntime_matches_predict_and_predict_proba(dtype, target, pooling):
    # Both graph forms: the default one in onnxruntime, the other in
    # onnxruntime (float32 "unfold") or onnx's reference evaluator (float64
    # "conv", whose Conv and pooling onnxruntime runs in float only).
    model, _, X = _fit(dtype, target, pooling=pooling[0], pool_size=pooling[1])
    multilabel = target == "multilabel"
    onx = to_onnx(model)
    assert [o.name for o in onx.graph.output] == ["label", "probabilities"]
    label_type, proba_type = (o.type.tensor_type for o in onx.graph.output)
    assert label_type.elem_type == (
        onnx.TensorProto.INT64 if multilabel else _label_elem(model)
    )
    assert len(label_type.shape.dim) == (2 if multilabel else 1)
    assert proba_type.elem_type == (
        onnx.TensorProto.FLOAT if dtype == np.float32 else onnx.TensorProto.DOUBLE
    )
    session = _session(onx)
    for batch in (X, X[:1]):
        label, proba = session.run(None, {"X": batch})
        assert proba.dtype == dtype
        if batch is X:
            _assert_label_and_proba(label, proba, model, X, multilabel, RTOL[dtype])
        else:
            assert_allclose(proba, model.predict_proba(batch), rtol=RTOL[dtype])

    if dtype == np.float32:
        other = _session(_to_onnx(model, None, None, conv="unfold"))
        label, proba = other.run(None, {"X": X})
    else:
        other = _to_onnx(model, None, None, conv="conv")
        assert "Conv" in {node.op_type for node in other.graph.node}
        label, proba = ReferenceEvaluator(other).run(None, {"X": X[:20]})
        X = X[:20]
    _assert_label_and_proba(label, proba, model, X, multilabel, RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_go_to_the_first_class_as_in_predict(dtype):
    # A zero dense layer: every logit is 0, every probability exactly equal
    # (0.5, or 1/3 for three classes). predict's argmax takes the first class
    # and a multilabel model no label (0.5 is not above 0.5); so does the graph.
    for target in ["binary-str", "multiclass-int", "multilabel"]:
        model, _, X = _fit(dtype, target)
        model.coef_[...] = 0
        model.intercept_[...] = 0
        proba = model.predict_proba(X)
        assert np.all(proba == proba[0, 0])
        label, proba_onnx = _session(to_onnx(model)).run(None, {"X": X})
        assert_array_equal(proba_onnx, proba)
        expected = model.predict(X)
        assert np.all(expected == (0 if target == "multilabel" else model.classes_[0]))
        assert_array_equal(label, expected)


# --- labels ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels, dtype",
    [
        ([0.0, 2.0, 5.0], np.float64),  # whole floats
        ([False, True], np.bool_),
        ([3, 70000], np.int32),  # classes_ has the dtype of y
        ([1, 2], np.uint8),
        ([-(2**40), 2**62], np.int64),
    ],
    ids=["float", "bool", "int32", "uint8", "int64"],
)
def test_integer_like_labels_become_int64(labels, dtype):
    rng = np.random.RandomState(1)
    X = rng.rand(N_TRAIN, N_FEATURES)
    labels = np.array(labels, dtype=dtype)
    y = labels[np.arange(N_TRAIN) % len(labels)]
    model = fit_quietly(
        TinyConvClassifier(
            image_shape=(CHANNELS, *IMAGE_HW),
            n_filters=1,
            pooling=None,
            max_iter=MAX_ITER,
            random_state=0,
        ),
        X,
        y,
    )
    label, _ = _session(to_onnx(model)).run(None, {"X": X})
    assert label.dtype == np.int64
    away = _away_from_ties(model.predict_proba(X), False)
    # Equal values (True == 1, 2.0 == 2), whatever the dtype of predict's.
    assert_array_equal(label[away], model.predict(X)[away])


@pytest.mark.parametrize(
    "classes, error, match",
    [
        (np.array([0.5, 1.5]), ValueError, r"whole numbers.*\[0.5, 1.5\]"),
        (np.array([0, 2**64 - 1], dtype=np.uint64), ValueError, "int64 range"),
        (np.array([b"no", b"yes"]), TypeError, "int64 or strings"),
        (np.array([1, "yes"], dtype=object), TypeError, "int64 or strings"),
    ],
    ids=["fraction", "uint64", "bytes", "mixed"],
)
def test_labels_onnx_cannot_hold_are_refused(classes, error, match):
    # fit refuses most of these itself; classes_ is set by hand to reach them.
    model, _, X = _fit(np.float32, "binary-int")
    model.classes_ = classes
    with pytest.raises(error, match=match):
        to_onnx(model)
    register_skl2onnx()
    with pytest.raises(error, match=match):
        skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})


# --- zipmap ----------------------------------------------------------------------


def _zipmap_keys(model):
    if model.classes_.dtype.kind in "UO":
        return list(model.classes_)
    return [int(c) for c in model.classes_]


def _column_names(model):
    prefix = "s" if model.classes_.dtype.kind in "UO" else "i"
    return [f"{prefix}{c}" for c in model.classes_]


def _check_zipmap_outputs(outputs, names, predictor, X, zipmap, dtype):
    """``outputs`` (of a session with output ``names``) as ``zipmap`` says."""
    model = predictor[-1] if isinstance(predictor, Pipeline) else predictor
    multilabel = model.n_outputs_ > 1 and model.out_activation_ == "logistic"
    expected = predictor.predict_proba(X)
    if zipmap is True:
        assert names == ["output_label", "output_probability"]
        dicts = outputs[1]
        assert isinstance(dicts, list) and len(dicts) == len(X)
        assert all(list(d) == _zipmap_keys(model) for d in dicts)
        proba = np.array([list(d.values()) for d in dicts])
        # ZipMap holds float32, also for a float64 model.
        assert_allclose(proba, expected, rtol=max(RTOL[dtype], 1e-6))
        assert_allclose(proba, expected.astype(np.float32), rtol=RTOL[np.float32])
    else:
        assert names == ["output_label", *_column_names(model)]
        assert all(column.shape == (len(X),) for column in outputs[1:])
        assert all(column.dtype == dtype for column in outputs[1:])
        proba = np.stack(outputs[1:], axis=1)
        assert_allclose(proba, expected, rtol=RTOL[dtype])
    label = outputs[0]
    away = _away_from_ties(expected, multilabel)
    assert_array_equal(label[away], predictor.predict(X)[away])


ZIPMAP_GRID = list(
    itertools.product(
        [np.float32, np.float64],
        ["binary-str", "multiclass-int", "multilabel"],
        [True, "columns"],
    )
)


@pytest.mark.parametrize(
    "dtype, target, zipmap",
    ZIPMAP_GRID,
    ids=[f"{np.dtype(d).name}-{t}-zipmap{z}" for d, t, z in ZIPMAP_GRID],
)
def test_zipmap(dtype, target, zipmap):
    # Multilabel models too, as skl2onnx's MLPClassifier: dicts and columns
    # keyed by the label indices, classes_, and the label the indicator.
    model, _, X = _fit(dtype, target, pooling="max")
    onx = to_onnx(model, zipmap=zipmap)
    domains = {opset.domain for opset in onx.opset_import}
    assert ("ai.onnx.ml" in domains) == (zipmap is True)
    session = _session(onx)
    names = [output.name for output in session.get_outputs()]
    _check_zipmap_outputs(session.run(None, {"X": X}), names, model, X, zipmap, dtype)


@pytest.mark.parametrize("zipmap", ["dicts", "True", 1, 0, None, ["columns"]])
def test_bad_zipmap(zipmap):
    model, _, _ = _fit(np.float32, "binary-int")
    with pytest.raises(ValueError, match=r"zipmap must be True, False or 'columns'"):
        to_onnx(model, zipmap=zipmap)


@pytest.mark.parametrize("zipmap", [True, "columns"])
def test_zipmap_is_refused_for_the_regressor(zipmap):
    rng = np.random.RandomState(2)
    X = rng.rand(N_TRAIN, N_FEATURES)
    model = fit_quietly(
        TinyConvRegressor(
            image_shape=(CHANNELS, *IMAGE_HW),
            n_filters=1,
            max_iter=MAX_ITER,
            random_state=0,
        ),
        X,
        X[:, 0],
    )
    with pytest.raises(ValueError, match=r"zipmap=.* is an option of classifiers"):
        to_onnx(model, zipmap=zipmap)
    to_onnx(model, zipmap=False)  # the default, accepted


# --- inputs and opsets -----------------------------------------------------------


@pytest.mark.parametrize("target_opset", [MIN_TARGET_OPSET, None])
def test_image_input_cast_input_and_opsets(target_opset):
    # Image-shaped float64 rows into a float32 model: cast, as predict does.
    model, _, X = _fit(np.float32, "multiclass-str", pooling="avg")
    images = X.astype(np.float64).reshape(-1, CHANNELS, *IMAGE_HW) + 1e-9
    onx = to_onnx(model, images[:1], target_opset=target_opset)
    assert onx.graph.node[0].op_type == "Cast"
    label, proba = _session(onx).run(None, {"X": images})
    assert proba.dtype == np.float32
    _assert_label_and_proba(label, proba, model, images, False, RTOL[np.float32])


# --- skl2onnx --------------------------------------------------------------------


def _pipeline(dtype, target, **params):
    rng = np.random.RandomState(3)
    X = (10 * rng.rand(N_TRAIN, N_FEATURES) + 3).astype(dtype)
    model, _, _ = _fit(dtype, target, pooling="max", **params)
    pipe = Pipeline([("scale", StandardScaler()), ("cnn", clone(model))])
    # Standardised X: the scaler matters, and the labels follow the pixels.
    fit_quietly(pipe, X, _targets((X - 3) / 10, target))
    return pipe, (10 * rng.rand(200, N_FEATURES) + 3).astype(dtype)


SKL2ONNX_GRID = list(
    itertools.product([np.float32, np.float64], TARGETS, [False, True, "columns"])
)


@pytest.mark.parametrize(
    "dtype, target, zipmap",
    SKL2ONNX_GRID,
    ids=[f"{np.dtype(d).name}-{t}-zipmap{z}" for d, t, z in SKL2ONNX_GRID],
)
def test_skl2onnx_pipeline(dtype, target, zipmap):
    register_skl2onnx()
    pipe, X = _pipeline(dtype, target)
    options = None if zipmap is True else {"zipmap": zipmap}  # True: the default
    onx = skl2onnx.to_onnx(pipe, X[:1], options=options)
    onnx.checker.check_model(onx, full_check=True)
    session = _session(onx)
    names = [output.name for output in session.get_outputs()]
    outputs = session.run(None, {"X": X})
    if zipmap is False:
        assert names == ["label", "probabilities"]
        multilabel = target == "multilabel"
        label, proba = outputs
        assert proba.dtype == dtype
        _assert_label_and_proba(label, proba, pipe, X, multilabel, RTOL[dtype])
    else:
        _check_zipmap_outputs(outputs, names, pipe, X, zipmap, dtype)


@pytest.mark.parametrize("target", ["binary-str", "multiclass-int"])
def test_skl2onnx_nocl_labels_are_class_indices(target):
    register_skl2onnx()
    pipe, X = _pipeline(np.float32, target)
    for zipmap in (False, True):
        options = {"nocl": True, "zipmap": zipmap}
        outputs = _session(skl2onnx.to_onnx(pipe, X[:1], options=options)).run(
            None, {"X": X}
        )
        classes = pipe[-1].classes_
        indices = np.searchsorted(classes, pipe.predict(X))
        away = _away_from_ties(pipe.predict_proba(X), False)
        assert outputs[0].dtype == np.int64
        assert_array_equal(outputs[0][away], indices[away])
        if zipmap:
            assert list(outputs[1][0]) == list(range(len(classes)))


@pytest.mark.parametrize("zipmap", [False, True, "columns"])
def test_skl2onnx_bare_classifier_same_as_to_onnx(zipmap):
    register_skl2onnx()
    model, _, X = _fit(np.float32, "multiclass-str", pooling="max")
    ours = _session(to_onnx(model, zipmap=zipmap))
    theirs = _session(skl2onnx.to_onnx(model, X[:1], options={"zipmap": zipmap}))
    assert [o.name for o in ours.get_outputs()] == [
        o.name for o in theirs.get_outputs()
    ]
    # The same nodes before ZipMap, so the same numbers.
    for a, b in zip(ours.run(None, {"X": X}), theirs.run(None, {"X": X}), strict=True):
        if isinstance(a, list):
            assert a == b
        else:
            assert_array_equal(a, b)


@pytest.mark.parametrize(
    "options", [{"zipmap": "dicts"}, {"zipmap": 2}, {"nocl": "yes"}]
)
def test_skl2onnx_bad_options(options):
    register_skl2onnx()
    model, _, X = _fit(np.float32, "binary-int")
    name = next(iter(options))
    with pytest.raises(ValueError, match=f"option '{name}'"):
        skl2onnx.to_onnx(model, X[:1], options=options)
