"""Export a fitted TinyConvRegressor or TinyConvClassifier to ONNX.

Two routes lead to the same graph of a :class:`~sktinycnn.TinyConvRegressor`
or a :class:`~sktinycnn.TinyConvClassifier`:

- :func:`to_onnx` exports one fitted estimator with the ``onnx`` package alone;
- :func:`register_skl2onnx` teaches ``skl2onnx`` both estimators, so that
  ``skl2onnx.to_onnx`` converts whole pipelines that end with one.

The graph computes the network in the model's dtype, then the estimator's
head: what :meth:`TinyConvRegressor.predict
<sktinycnn.TinyConvRegressor.predict>` computes, or the labels of
:meth:`TinyConvClassifier.predict <sktinycnn.TinyConvClassifier.predict>`
and the probabilities of :meth:`TinyConvClassifier.predict_proba
<sktinycnn.TinyConvClassifier.predict_proba>`::

    X (n, c*h*w) -> Reshape (n, c, h, w) -> convolution + kernel_intercepts_
      -> Tanh -> [pooling] -> Flatten (n, F*hp*wp) -> MatMul coef_ + intercept_
      -> logits (n, n_outputs), then
    regressor:  Sigmoid -> target_offset_ + target_scale_ * s -> variable
    classifier: Sigmoid, as [1 - p, p] if binary, or Softmax -> probabilities;
                ArgMax -> Gather classes_ -> label (multilabel: p > 0.5)

ONNX ``Conv`` is a cross-correlation while the network's kernels are true
convolution kernels (``scipy.signal.convolve2d``), so the exported kernels are
flipped along both spatial axes. Pooling is ``MaxPool`` / ``AveragePool`` with
``kernel_shape = strides = pool_size_``, no padding and ``ceil_mode=0``, or
``GlobalMaxPool`` / ``GlobalAveragePool`` when the window is the whole map.
onnxruntime's CPU provider has no ``Conv``, ``AveragePool`` or global pooling
for double, so float64 models write the convolution as a matrix product of the
flipped kernels with image patches gathered by ``Slice`` (the "im2col" product
of ``sktinycnn._kernels``), average pooling as a ``ReduceSum`` over the windows
of the reshaped maps, and max pooling as ``MaxPool``, which every runtime runs
in double. The graph itself is built in ``sktinycnn._onnx_graph``.

Requires the optional extra ``onnx`` (``pip install "sktinycnn[onnx]"``).
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._classifier import TinyConvClassifier
from ._onnx_graph import (
    ML_DOMAIN,
    GraphBuilder,
    Skl2onnxBuilder,
    emit_classifier_outputs,
    emit_columns,
    emit_network,
    emit_regressor_output,
    emit_zipmap,
)
from ._onnx_graph import elem_type as _elem_type
from ._onnx_graph import import_onnx as _import_onnx
from ._regressor import TinyConvRegressor

__all__ = [
    "DEFAULT_TARGET_OPSET",
    "MIN_TARGET_OPSET",
    "SKL2ONNX_CLASSIFIER_OPTIONS",
    "register_skl2onnx",
    "skl2onnx_converter",
    "skl2onnx_shape_calculator",
    "to_onnx",
]

#: Opset used when ``target_opset`` is None: new enough for every operator used
#: here in its current form, old enough for onnxruntime releases of 2023 on.
DEFAULT_TARGET_OPSET = 18
#: Oldest opset accepted (``Slice``/``Unsqueeze``/``ReduceSum`` with tensor
#: inputs, ``Pad`` with a ``pads`` input).
MIN_TARGET_OPSET = 13
#: Aliases under which the estimators are registered with skl2onnx (skl2onnx
#: names third-party models "<library><Model>").
SKL2ONNX_ALIAS = "SktinycnnTinyConvRegressor"
SKL2ONNX_CLASSIFIER_ALIAS = "SktinycnnTinyConvClassifier"
#: The classifier's skl2onnx options and their values, as skl2onnx's own
#: classifiers declare them.
SKL2ONNX_CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
}
_ZIPMAP_VALUES = "True, False or 'columns'"


def _check_estimator(estimator):
    if not isinstance(estimator, TinyConvRegressor | TinyConvClassifier):
        raise TypeError(
            "to_onnx exports a fitted TinyConvRegressor or TinyConvClassifier; "
            f"got {type(estimator).__name__}. Convert a Pipeline with skl2onnx "
            "after sktinycnn.onnx.register_skl2onnx()."
        )
    check_is_fitted(estimator)


def _check_zipmap(zipmap, estimator):
    """``zipmap`` as True, False or "columns"; a ValueError naming it otherwise."""
    if isinstance(zipmap, bool | np.bool_):
        zipmap = bool(zipmap)
    elif not (isinstance(zipmap, str) and zipmap == "columns"):
        raise ValueError(f"zipmap must be {_ZIPMAP_VALUES}; got {zipmap!r}.")
    if zipmap is not False and not isinstance(estimator, TinyConvClassifier):
        raise ValueError(
            f"zipmap={zipmap!r} is an option of classifiers; a "
            f"{type(estimator).__name__} has one output, 'variable'."
        )
    return zipmap


def _classifier_kind(model):
    """ "binary", "multiclass" or "multilabel", from the public fitted state."""
    if model.out_activation_ == "softmax":
        return "multiclass"
    return "binary" if model.n_outputs_ == 1 else "multilabel"


def _onnx_classes(classes):
    """``classes_`` as the labels of the graph: an int64 or a str (object) array.

    ONNX labels are int64 or strings, as skl2onnx's: integer and bool labels
    become int64 (``True`` is 1), floats too when they are whole numbers, str
    labels strings. Anything else (floats with a fraction, bytes, mixed
    types) raises, naming the labels.
    """
    classes = np.asarray(classes)
    kind = classes.dtype.kind
    if kind == "U" or (
        kind == "O" and all(isinstance(label, str) for label in classes)
    ):
        return classes.astype(object)
    integral = kind in "biu" or (
        kind == "O"
        and all(isinstance(label, numbers.Integral | np.bool_) for label in classes)
    )
    if kind == "f":
        whole = np.isfinite(classes) & (classes == np.trunc(classes))
        if not np.all(whole):
            raise ValueError(
                "ONNX labels are int64 or strings: float labels are exported as "
                "int64 only when they are whole numbers, and classes_ has "
                f"{classes[~whole].tolist()}. Refit with integer or string labels."
            )
        integral = True
    if not integral:
        raise TypeError(
            "ONNX labels are int64 or strings (as skl2onnx's); classes_ of dtype "
            f"{classes.dtype} ({classes.tolist()!r}) cannot be exported. Refit "
            "with integer or str labels (decode bytes to str)."
        )
    values = [int(label) for label in classes]
    if not all(-(2**63) <= value < 2**63 for value in values):
        raise ValueError(
            f"ONNX int64 labels cannot hold the labels {classes.tolist()}: "
            "refit with labels within the int64 range, or with strings."
        )
    return np.asarray(values, dtype=np.int64)


def _zipmap_dicts(zipmap):
    """Whether the ``zipmap`` option asks for dicts (True, not "columns")."""
    return not isinstance(zipmap, str) and bool(zipmap)


def _column_names(keys):
    """skl2onnx's names of the columns of zipmap="columns": i<int>, s<str>."""
    prefix = "i" if np.asarray(keys).dtype.kind in "iu" else "s"
    return [f"{prefix}{key}" for key in keys]


def _check_opset(target_opset):
    onnx = _import_onnx()
    if target_opset is None:
        return min(DEFAULT_TARGET_OPSET, onnx.defs.onnx_opset_version())
    latest = onnx.defs.onnx_opset_version()
    if (
        not isinstance(target_opset, numbers.Integral)
        or isinstance(target_opset, bool)
        or not MIN_TARGET_OPSET <= target_opset <= latest
    ):
        raise ValueError(
            f"target_opset must be an int from {MIN_TARGET_OPSET} to {latest} "
            f"(the installed onnx's newest); got {target_opset!r}."
        )
    return int(target_opset)


def _conv_kind(dtype):
    # onnxruntime's CPU Conv, AveragePool and global pooling are float only.
    return "conv" if np.dtype(dtype) == np.float32 else "unfold"


def _input_spec(estimator, X_sample):
    """Input dtype and per-sample shape from ``X_sample`` (or the model)."""
    n_features = estimator.n_features_in_
    if X_sample is None:
        return estimator.kernels_.dtype, (n_features,)
    X_sample = np.asarray(X_sample)
    _elem_type(X_sample.dtype)
    c, h, w = estimator.image_shape_
    accepted = {2: (n_features,), 4: (c, h, w)}
    if c == 1:
        accepted[3] = (h, w)
    if accepted.get(X_sample.ndim) != X_sample.shape[1:]:
        raise ValueError(
            f"X_sample of shape {X_sample.shape} does not match the model's "
            f"input: expected (n_samples, {n_features}) (flat), or images of "
            f"shape (n_samples, {c}, {h}, {w})"
            + (f" or (n_samples, {h}, {w})." if c == 1 else ".")
        )
    return X_sample.dtype, X_sample.shape[1:]


def to_onnx(estimator, X_sample=None, *, target_opset=None, zipmap=False):
    """Export a fitted TinyConvRegressor or TinyConvClassifier to ONNX.

    The graph reproduces the predictions of a
    :class:`~sktinycnn.TinyConvRegressor` or a
    :class:`~sktinycnn.TinyConvClassifier`: it reshapes each row
    into an image, convolves it with ``kernels_`` (flipped, since ONNX
    ``Conv`` is a cross-correlation; ``"same"`` padding as
    ``scipy.signal.convolve2d``), adds ``kernel_intercepts_``, applies tanh,
    pools (``MaxPool`` / ``AveragePool`` over ``pool_size_`` windows, or their
    ``Global`` forms when a window is the whole map), flattens and applies the
    dense layer. A regressor's graph then applies the sigmoid and maps the
    result back to target units (``predict``); a classifier's outputs the
    probabilities of ``predict_proba`` and the labels of ``predict``. It is
    computed in the model's dtype; float64 models use an im2col matrix
    product instead of ``Conv`` and a ``ReduceSum`` instead of average
    pooling, which onnxruntime's CPU provider lacks for double.

    Parameters
    ----------
    estimator : TinyConvRegressor or TinyConvClassifier
        A fitted estimator.
    X_sample : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width), \
default=None
        Example input, only used for its dtype (float32 or float64) and
        shape per sample, which become the graph input's. The batch dimension
        is always dynamic. ``None`` means flat rows ``(n, n_features_in_)`` in
        the model's dtype. An input of another dtype than the model's is cast
        to it first, as ``predict`` does.
    target_opset : int, default=None
        ONNX opset of the default domain, from 13 to the installed onnx's
        newest. ``None`` uses :data:`DEFAULT_TARGET_OPSET` (18).
    zipmap : bool or "columns", default=False
        A classifier's form of the probabilities, skl2onnx's option of that
        name: ``False`` one tensor, ``True`` one ``{label: probability}``
        dict per row (ONNX ``ZipMap``, whose values are float32 even for a
        float64 model), ``"columns"`` one 1-D output per class. skl2onnx's
        default is ``True``; this function's is ``False``, the plain tensor.
        A regressor accepts only ``False``.

    Returns
    -------
    onx : onnx.ModelProto
        A checked model with one input ``"X"``. A regressor's has one output
        ``"variable"`` of shape ``(n_samples, n_outputs)`` in the model's
        dtype: as with skl2onnx regressors it is 2-D even when ``predict``
        returns 1-D (a model fitted on 1-D ``y``), so compare with
        ``ravel()``. A classifier's outputs are named as skl2onnx names
        them. With ``zipmap=False``: ``"label"``, shape ``(n_samples,)``,
        int64 for integer, bool (as 0 and 1) or whole float labels and string
        for str labels, or the int64 0/1 indicator ``(n_samples, n_labels)``
        of a multilabel model; and ``"probabilities"``, ``(n_samples,
        n_classes)`` (or ``n_labels``) in the model's dtype, two columns for
        a binary model. With ``zipmap=True``: ``"output_label"`` and
        ``"output_probability"``, the list of dicts. With ``"columns"``:
        ``"output_label"`` and one output per class, named ``"i<label>"``
        (integer labels; label indices if multilabel) or ``"s<label>"``
        (strings).

    Raises
    ------
    TypeError
        If ``estimator`` is neither estimator, or a classifier's labels are
        neither integers nor strings (bytes, mixed types).
    ValueError
        If an argument is out of its range, or a classifier's float labels
        are not whole numbers.

    See Also
    --------
    register_skl2onnx : Let ``skl2onnx.to_onnx`` convert pipelines that end
        with a TinyConvRegressor or a TinyConvClassifier.

    Notes
    -----
    A classifier's labels are the ``ArgMax`` of the probabilities, the first
    of equal ones, as ``np.argmax`` in ``predict``: a binary model predicts
    ``classes_[1]`` exactly when ``p > 1 - p``, that is ``p > 0.5``. A
    multilabel model predicts the labels of probability above 0.5. The labels
    are those of ``predict`` wherever the runtime's probabilities fall on the
    same side of a tie as NumPy's, that is, everywhere but within a few units
    in the last place of one.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sktinycnn import TinyConvRegressor
    >>> from sktinycnn.onnx import to_onnx
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(50, 16).astype(np.float32)
    >>> model = TinyConvRegressor(n_filters=2, max_iter=20, random_state=0)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # ConvergenceWarning of a short fit
    ...     model = model.fit(X, X.sum(axis=1))
    >>> onx = to_onnx(model, X[:1])
    >>> session = ort.InferenceSession(
    ...     onx.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> y_onnx = session.run(None, {"X": X})[0]
    >>> y_onnx.shape
    (50, 1)
    >>> np.allclose(y_onnx.ravel(), model.predict(X), rtol=1e-5)
    True

    A classifier, with string labels:

    >>> from sktinycnn import TinyConvClassifier
    >>> y = np.array(["dark", "light"])[(X.mean(axis=1) > 0.5) * 1]
    >>> clf = TinyConvClassifier(n_filters=2, max_iter=100, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # ConvergenceWarning
    ...     clf = clf.fit(X, y)
    >>> session = ort.InferenceSession(
    ...     to_onnx(clf, X[:1]).SerializeToString(),
    ...     providers=["CPUExecutionProvider"])
    >>> [output.name for output in session.get_outputs()]
    ['label', 'probabilities']
    >>> label, proba = session.run(None, {"X": X})
    >>> label[:4]
    array(['light', 'light', 'dark', 'dark'], dtype=object)
    >>> bool(np.all(label == clf.predict(X)))
    True
    >>> np.allclose(proba, clf.predict_proba(X), rtol=1e-5)
    True
    """
    return _to_onnx(estimator, X_sample, target_opset, conv=None, zipmap=zipmap)


def _to_onnx(estimator, X_sample, target_opset, *, conv, zipmap=False):
    """:func:`to_onnx`, with the convolution's form forced by ``conv``.

    ``conv`` is ``"conv"`` (ONNX's ``Conv`` and pooling operators),
    ``"unfold"`` (the forms onnxruntime runs in double) or None (``"conv"``
    for float32, ``"unfold"`` for float64); the tests run both forms on both
    dtypes.
    """
    onnx = _import_onnx()
    _check_estimator(estimator)
    zipmap = _check_zipmap(zipmap, estimator)
    opset = _check_opset(target_opset)
    input_dtype, sample_shape = _input_spec(estimator, X_sample)
    dtype = estimator.kernels_.dtype
    conv = _conv_kind(dtype) if conv is None else conv
    name = type(estimator).__name__

    if isinstance(estimator, TinyConvClassifier):
        head = _ClassifierHead(estimator, zipmap)
        builder = GraphBuilder(reserved=("X", *head.output_names))
        logits = emit_network(builder, estimator, "X", input_dtype, conv)
        outputs = head.emit(builder, logits)
    else:
        builder = GraphBuilder(reserved=("X", "variable"))
        logits = emit_network(builder, estimator, "X", input_dtype, conv)
        emit_regressor_output(builder, estimator, logits, "variable")
        outputs = [
            onnx.helper.make_tensor_value_info(
                "variable", _elem_type(dtype), ["N", estimator.n_outputs_]
            )
        ]
    graph = onnx.helper.make_graph(
        builder.nodes,
        name,
        [
            onnx.helper.make_tensor_value_info(
                "X", _elem_type(input_dtype), ["N", *sample_shape]
            )
        ],
        outputs,
        builder.initializers,
    )
    opset_imports = [onnx.helper.make_opsetid("", opset)]
    if any(node.domain == ML_DOMAIN for node in builder.nodes):
        opset_imports.append(onnx.helper.make_opsetid(ML_DOMAIN, 1))
    model = onnx.helper.make_model(
        graph,
        opset_imports=opset_imports,
        producer_name="sktinycnn",
        producer_version=__version__,
        doc_string=f"{name} exported by sktinycnn.onnx.to_onnx",
        # The oldest IR version that carries this opset, for older runtimes.
        ir_version=onnx.helper.find_min_ir_version_for(opset_imports),
    )
    onnx.checker.check_model(model, full_check=True)
    return model


class _ClassifierHead:
    """A classifier's outputs in :func:`to_onnx`: their names, nodes and types."""

    def __init__(self, model, zipmap):
        self.model, self.zipmap = model, zipmap
        self.kind = _classifier_kind(model)
        self.dtype = model.kernels_.dtype
        if self.kind == "multilabel":
            # The labels are the 0/1 indicator; dicts and columns are keyed by
            # the label indices, classes_ (as skl2onnx does for MLPClassifier).
            self.classes, self.keys = None, np.asarray(model.classes_, np.int64)
        else:
            self.classes = self.keys = _onnx_classes(model.classes_)
        if zipmap is False:
            self.label, self.proba, self.columns = "label", "probabilities", []
        else:
            self.label, self.proba = "output_label", "output_probability"
            self.columns = _column_names(self.keys) if zipmap == "columns" else []

    @property
    def output_names(self):
        if self.columns:
            return [self.label, *self.columns]
        return [self.label, self.proba]

    def emit(self, builder, logits):
        """Emit the head; return the graph's output value infos."""
        helper = _import_onnx().helper
        proba = self.proba if self.zipmap is False else builder.name("probabilities")
        emit_classifier_outputs(
            builder, logits, self.kind, self.dtype, self.classes, self.label, proba
        )
        # int64 or string labels (n,); a multilabel indicator (n, n_labels).
        key_type = helper.np_dtype_to_tensor_dtype(self.keys.dtype)
        label_shape = ["N", self.model.n_outputs_] if self.classes is None else ["N"]
        outputs = [helper.make_tensor_value_info(self.label, key_type, label_shape)]
        float_type = _elem_type(self.dtype)
        if self.zipmap is False:
            n_columns = len(self.model.classes_)
            outputs.append(
                helper.make_tensor_value_info(self.proba, float_type, ["N", n_columns])
            )
        elif self.columns:
            emit_columns(builder, proba, self.columns)
            outputs += [
                helper.make_tensor_value_info(column, float_type, ["N"])
                for column in self.columns
            ]
        else:
            emit_zipmap(builder, proba, self.dtype, self.keys, self.proba)
            value_type = helper.make_tensor_type_proto(_elem_type(np.float32), None)
            dicts = helper.make_sequence_type_proto(
                helper.make_map_type_proto(key_type, value_type)
            )
            outputs.append(helper.make_value_info(self.proba, dicts))
        return outputs


# --- skl2onnx -------------------------------------------------------------------


def _skl2onnx_options(operator_or_scope, model):
    """The classifier's skl2onnx options, with skl2onnx's defaults."""
    return operator_or_scope.get_options(model, {"zipmap": True, "nocl": False})


def skl2onnx_shape_calculator(operator):
    """Shape calculator of skl2onnx for both estimators.

    Input: one float or double tensor of shape ``[N, n_features_in_]``. For a
    :class:`~sktinycnn.TinyConvRegressor`, one output of shape
    ``[N, n_outputs]`` in the model's dtype (a float tensor for float32
    models, a double tensor for float64), as skl2onnx does for its
    regressors. For a :class:`~sktinycnn.TinyConvClassifier`, as for
    skl2onnx's classifiers, the label, ``[N]`` (int64 or string, see
    :func:`to_onnx`; int64 class indices with the option ``nocl``) or the
    int64 indicator ``[N, n_labels]`` of a multilabel model, and the
    probabilities, ``[N, n_classes]`` in the model's dtype, but float for the
    float32 values of the option ``zipmap=True``.

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
        The operator skl2onnx made for the estimator.

    Raises
    ------
    TypeError, ValueError
        If a classifier's labels are neither integers nor strings (see
        :func:`to_onnx`).

    See Also
    --------
    register_skl2onnx : Registers this function and :func:`skl2onnx_converter`.

    Examples
    --------
    >>> from skl2onnx import update_registered_converter
    >>> from sktinycnn import TinyConvRegressor
    >>> from sktinycnn.onnx import skl2onnx_converter, skl2onnx_shape_calculator
    >>> update_registered_converter(
    ...     TinyConvRegressor, "SktinycnnTinyConvRegressor",
    ...     skl2onnx_shape_calculator, skl2onnx_converter)
    """
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )

    model = operator.raw_operator
    classifier = isinstance(model, TinyConvClassifier)
    check_input_and_output_numbers(
        operator, input_count_range=1, output_count_range=2 if classifier else 1
    )
    check_input_and_output_types(
        operator, good_input_types=[FloatTensorType, DoubleTensorType]
    )
    n_rows = operator.inputs[0].get_first_dimension()
    tensor_type = (
        DoubleTensorType if model.kernels_.dtype == np.float64 else FloatTensorType
    )
    if not classifier:
        operator.outputs[0].type = tensor_type([n_rows, model.n_outputs_])
        return
    options = _skl2onnx_options(operator.scope_inst, model)
    kind = _classifier_kind(model)
    if kind == "multilabel":
        label_type = Int64TensorType([n_rows, model.n_outputs_])
    elif options["nocl"]:
        label_type = Int64TensorType([n_rows])
    else:
        strings = _onnx_classes(model.classes_).dtype == object
        label_type = (StringTensorType if strings else Int64TensorType)([n_rows])
    if _zipmap_dicts(options["zipmap"]):
        tensor_type = FloatTensorType  # ZipMap takes float only
    operator.outputs[0].type = label_type
    operator.outputs[1].type = tensor_type([n_rows, len(model.classes_)])


def skl2onnx_converter(scope, operator, container):
    """Converter of skl2onnx for both estimators.

    Emits the graph of :func:`to_onnx` into skl2onnx's container, so a
    pipeline converted by ``skl2onnx.to_onnx`` computes what
    ``Pipeline.predict`` computes, and for a
    :class:`~sktinycnn.TinyConvClassifier` what ``Pipeline.predict_proba``
    computes. The classifier's options ``zipmap`` and ``nocl`` are
    skl2onnx's: its parser turns the probabilities into dicts or columns,
    and this converter outputs class indices instead of labels with
    ``nocl=True``.

    Parameters
    ----------
    scope : skl2onnx.common._topology.Scope
        Names in use.
    operator : skl2onnx.common._topology.Operator
        The operator skl2onnx made for the estimator.
    container : skl2onnx.common._container.ModelComponentContainer
        Receives the nodes and initializers.

    Raises
    ------
    RuntimeError
        If skl2onnx's ``target_opset`` is below :data:`MIN_TARGET_OPSET`.

    See Also
    --------
    register_skl2onnx : Registers this function and
        :func:`skl2onnx_shape_calculator`.

    Examples
    --------
    >>> from skl2onnx import update_registered_converter
    >>> from sktinycnn import TinyConvClassifier
    >>> from sktinycnn.onnx import (
    ...     SKL2ONNX_CLASSIFIER_OPTIONS, skl2onnx_converter,
    ...     skl2onnx_shape_calculator)
    >>> update_registered_converter(
    ...     TinyConvClassifier, "SktinycnnTinyConvClassifier",
    ...     skl2onnx_shape_calculator, skl2onnx_converter,
    ...     options=SKL2ONNX_CLASSIFIER_OPTIONS)
    """
    from skl2onnx.common.data_types import guess_numpy_type

    model = operator.raw_operator
    opset = container.target_opset
    if opset is not None and opset < MIN_TARGET_OPSET:
        raise RuntimeError(
            f"{type(model).__name__} needs target_opset >= {MIN_TARGET_OPSET}; "
            f"got {opset}."
        )
    builder = Skl2onnxBuilder(scope, container)
    dtype = model.kernels_.dtype
    logits = emit_network(
        builder,
        model,
        operator.inputs[0].full_name,
        guess_numpy_type(operator.inputs[0].type),
        _conv_kind(dtype),
    )
    outputs = [output.full_name for output in operator.outputs]
    if not isinstance(model, TinyConvClassifier):
        emit_regressor_output(builder, model, logits, outputs[0])
        return
    options = _skl2onnx_options(container, model)
    kind = _classifier_kind(model)
    classes = None
    if kind != "multilabel" and not options["nocl"]:
        classes = _onnx_classes(model.classes_)
    # The labels come from the model's own probabilities, cast afterwards.
    cast = dtype != np.float32 and _zipmap_dicts(options["zipmap"])
    proba = builder.name("probabilities") if cast else outputs[1]
    emit_classifier_outputs(builder, logits, kind, dtype, classes, outputs[0], proba)
    if cast:
        builder.node(
            "Cast",
            [proba],
            "float_proba",
            output=outputs[1],
            to=_elem_type(np.float32),
        )


def register_skl2onnx():
    """Register both estimators with skl2onnx.

    After this call, ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn``
    convert a fitted :class:`~sktinycnn.TinyConvRegressor` or
    :class:`~sktinycnn.TinyConvClassifier`, alone or as the last step of a
    :class:`~sklearn.pipeline.Pipeline`, with :func:`skl2onnx_converter`.
    It is ``skl2onnx.update_registered_converter`` with this package's shape
    calculator and converter, under the aliases
    ``"SktinycnnTinyConvRegressor"`` and ``"SktinycnnTinyConvClassifier"``;
    calling it again is harmless. As for skl2onnx's regressors, the
    regressor's output ``"variable"`` has shape ``(n_samples, n_outputs)``.
    The classifier is registered with skl2onnx's classifier options,
    :data:`SKL2ONNX_CLASSIFIER_OPTIONS`, so skl2onnx's own parser gives it a
    label and probabilities, as dicts by default (``zipmap=True``: outputs
    ``"output_label"`` and ``"output_probability"``), one tensor with
    ``options={"zipmap": False}`` (``"label"`` and ``"probabilities"``) or
    columns with ``"columns"``; ``nocl=True`` labels the classes by their
    indices.

    Raises
    ------
    ImportError
        If skl2onnx is not installed.

    See Also
    --------
    to_onnx : Export one estimator with the ``onnx`` package alone.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skl2onnx import to_onnx as skl2onnx_to_onnx
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sktinycnn import TinyConvClassifier, TinyConvRegressor
    >>> from sktinycnn.onnx import register_skl2onnx
    >>> register_skl2onnx()
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(50, 9).astype(np.float32)
    >>> pipe = make_pipeline(
    ...     StandardScaler(), TinyConvRegressor(max_iter=20, random_state=0))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # ConvergenceWarning of a short fit
    ...     pipe = pipe.fit(X, X[:, 4])
    >>> onx = skl2onnx_to_onnx(pipe, X[:1])
    >>> session = ort.InferenceSession(
    ...     onx.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> y_onnx = session.run(None, {"X": X})[0]
    >>> # The largest difference, on targets in [0, 1]: float32 rounding.
    >>> bool(np.abs(y_onnx.ravel() - pipe.predict(X)).max() < 1e-5)
    True

    A classifier, its probabilities as one tensor:

    >>> pipe = make_pipeline(
    ...     StandardScaler(), TinyConvClassifier(max_iter=20, random_state=0))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     pipe = pipe.fit(X, (X[:, 4] > 0.5) * 1)
    >>> onx = skl2onnx_to_onnx(pipe, X[:1], options={"zipmap": False})
    >>> session = ort.InferenceSession(
    ...     onx.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> label, proba = session.run(None, {"X": X})
    >>> bool(np.all(label == pipe.predict(X)))
    True
    >>> np.allclose(proba, pipe.predict_proba(X), rtol=1e-5)
    True
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        raise ImportError(
            "register_skl2onnx needs skl2onnx: install the optional extra with "
            '`pip install "sktinycnn[onnx]"`.'
        ) from exc
    update_registered_converter(
        TinyConvRegressor,
        SKL2ONNX_ALIAS,
        skl2onnx_shape_calculator,
        skl2onnx_converter,
    )
    # With options naming "zipmap", skl2onnx gives the model its classifier
    # parser: label and probabilities, then ZipMap as the options say.
    update_registered_converter(
        TinyConvClassifier,
        SKL2ONNX_CLASSIFIER_ALIAS,
        skl2onnx_shape_calculator,
        skl2onnx_converter,
        options={
            name: list(values) for name, values in SKL2ONNX_CLASSIFIER_OPTIONS.items()
        },
    )
