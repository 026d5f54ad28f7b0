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

    X (n, c*h*w) -> Reshape (n, c, h, w), then for each block b:
      convolution with kernels_[b] + kernel_intercepts_[b] -> activation_
      -> [pooling over pool_size_[b]]                     (n, F_b, hp_b, wp_b)
    -> Flatten (n, F*hp*wp) of the last block -> MatMul coef_ + intercept_
      -> logits (n, n_outputs), then
    regressor:  Sigmoid -> target_offset_ + target_scale_ * s -> variable
    classifier: Sigmoid, as [1 - p, p] if binary, or Softmax -> probabilities;
                ArgMax -> Gather classes_ -> label (multilabel: p > 0.5)

Every block is exported, whatever the depth, from the public fitted
attributes only. The activation is ``Tanh``, ``Relu`` or ``Sigmoid``
(``"logistic"``), and no node for ``"identity"``; a max-pooled block applies
it after pooling, which is the same since every activation is
non-decreasing, and cheaper. ONNX ``Conv`` is a cross-correlation while the
network's kernels are true convolution kernels (``scipy.signal.convolve2d``),
so the exported kernels are flipped along both spatial axes. Pooling is
``MaxPool`` / ``AveragePool`` with ``kernel_shape = strides = pool_size_[b]``,
no padding and ``ceil_mode=0``, or ``GlobalMaxPool`` / ``GlobalAveragePool``
when the window is the whole map. onnxruntime's CPU provider has no ``Conv``,
``AveragePool`` or global pooling for double, so float64 models write each
convolution as a matrix product of the flipped kernels with patches gathered
by ``Slice`` (im2col), average pooling as a ``ReduceSum`` over the windows of
the reshaped maps, and max pooling as ``MaxPool``, which every runtime runs
in double. The network's graph is built in ``sktinycnn._onnx_graph``, the
heads in ``sktinycnn._onnx_heads`` and skl2onnx's converter in
``sktinycnn._onnx_skl2onnx``.

Requires the optional extra ``onnx`` (``pip install "sktinycnn[onnx]"``).
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._classifier import TinyConvClassifier
from ._onnx_graph import (
    MIN_OPSET,
    ML_DOMAIN,
    GraphBuilder,
    default_form,
    elem_type,
    emit_network,
    import_onnx,
    model_dtype,
)
from ._onnx_heads import ClassifierOutputs, emit_regressor_output
from ._onnx_skl2onnx import skl2onnx_converter, skl2onnx_shape_calculator
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
MIN_TARGET_OPSET = MIN_OPSET
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


def _check_opset(target_opset):
    onnx = import_onnx()
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


def _input_spec(estimator, X_sample):
    """Input dtype and per-sample shape from ``X_sample`` (or the model)."""
    n_features = estimator.n_features_in_
    if X_sample is None:
        return model_dtype(estimator), (n_features,)
    X_sample = np.asarray(X_sample)
    elem_type(X_sample.dtype)
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
    :class:`~sktinycnn.TinyConvClassifier`, every convolution block of it: it
    reshapes each row into an image, then for each block convolves with
    ``kernels_[b]`` (flipped, since ONNX ``Conv`` is a cross-correlation;
    ``"same"`` padding as ``scipy.signal.convolve2d``), adds
    ``kernel_intercepts_[b]``, applies ``activation_`` (``Tanh``, ``Relu``,
    ``Sigmoid`` or nothing) and pools (``MaxPool`` / ``AveragePool`` over
    ``pool_size_[b]`` windows, or their ``Global`` forms when a window is the
    whole map); it flattens the last block's maps and applies the dense
    layer. A regressor's graph then applies the sigmoid and maps the result
    back to target units (``predict``); a classifier's outputs the
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
    >>> import warnings
    >>> from sklearn.exceptions import ConvergenceWarning
    >>> model = TinyConvRegressor(n_filters=(2, 3), kernel_size=3, pool_size=2,
    ...                           activation="relu", max_iter=20, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", ConvergenceWarning)  # a short fit
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
    ...     warnings.simplefilter("ignore", ConvergenceWarning)
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
    onnx = import_onnx()
    _check_estimator(estimator)
    zipmap = _check_zipmap(zipmap, estimator)
    opset = _check_opset(target_opset)
    input_dtype, sample_shape = _input_spec(estimator, X_sample)
    dtype = model_dtype(estimator)
    conv = default_form(dtype) if conv is None else conv
    name = type(estimator).__name__

    if isinstance(estimator, TinyConvClassifier):
        head = ClassifierOutputs(estimator, zipmap)
        builder = GraphBuilder(reserved=("X", *head.output_names))
        logits = emit_network(builder, estimator, "X", input_dtype, conv)
        outputs = head.emit(builder, logits)
    else:
        builder = GraphBuilder(reserved=("X", "variable"))
        logits = emit_network(builder, estimator, "X", input_dtype, conv)
        emit_regressor_output(builder, estimator, logits, "variable")
        outputs = [
            onnx.helper.make_tensor_value_info(
                "variable", elem_type(dtype), ["N", estimator.n_outputs_]
            )
        ]
    graph = onnx.helper.make_graph(
        builder.nodes,
        name,
        [
            onnx.helper.make_tensor_value_info(
                "X", elem_type(input_dtype), ["N", *sample_shape]
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
    >>> from sklearn.exceptions import ConvergenceWarning
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
    ...     warnings.simplefilter("ignore", ConvergenceWarning)  # a short fit
    ...     pipe = pipe.fit(X, X[:, 4])
    >>> onx = skl2onnx_to_onnx(pipe, X[:1])
    >>> session = ort.InferenceSession(
    ...     onx.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> y_onnx = session.run(None, {"X": X})[0]
    >>> # The largest difference, on targets in [0, 1]: float32 rounding.
    >>> bool(np.abs(y_onnx.ravel() - pipe.predict(X)).max() < 1e-5)
    True

    A classifier of two convolution blocks, its probabilities as one tensor:

    >>> pipe = make_pipeline(
    ...     StandardScaler(),
    ...     TinyConvClassifier(n_filters=(4, 4), kernel_size=2, pooling=None,
    ...                        max_iter=20, random_state=0))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", ConvergenceWarning)
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
