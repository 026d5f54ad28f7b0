"""skl2onnx's side of the export: the shape calculator and the converter.

Public as :func:`sktinycnn.onnx.skl2onnx_shape_calculator` and
:func:`sktinycnn.onnx.skl2onnx_converter`, which
:func:`sktinycnn.onnx.register_skl2onnx` registers. The converter emits the
graph of :func:`sktinycnn.onnx.to_onnx` (``sktinycnn._onnx_graph`` and
``sktinycnn._onnx_heads``) into skl2onnx's container; skl2onnx itself is
imported only when skl2onnx calls these functions.
"""

import numpy as np

from ._classifier import TinyConvClassifier
from ._onnx_graph import (
    MIN_OPSET,
    Skl2onnxBuilder,
    default_form,
    elem_type,
    emit_network,
    model_dtype,
)
from ._onnx_heads import (
    classifier_kind,
    emit_classifier_outputs,
    emit_regressor_output,
    onnx_classes,
    zipmap_dicts,
)

__all__ = ["skl2onnx_converter", "skl2onnx_shape_calculator"]


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
    :func:`~sktinycnn.onnx.to_onnx`; int64 class indices with the option
    ``nocl``) or the int64 indicator ``[N, n_labels]`` of a multilabel model,
    and the probabilities, ``[N, n_classes]`` in the model's dtype, but float
    for the float32 values of the option ``zipmap=True``.

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
        The operator skl2onnx made for the estimator.

    Raises
    ------
    TypeError, ValueError
        If a classifier's labels are neither integers nor strings (see
        :func:`~sktinycnn.onnx.to_onnx`).

    See Also
    --------
    sktinycnn.onnx.register_skl2onnx : Registers this function and
        :func:`~sktinycnn.onnx.skl2onnx_converter`.

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
        DoubleTensorType if model_dtype(model) == np.float64 else FloatTensorType
    )
    if not classifier:
        operator.outputs[0].type = tensor_type([n_rows, model.n_outputs_])
        return
    options = _skl2onnx_options(operator.scope_inst, model)
    kind = classifier_kind(model)
    if kind == "multilabel":
        label_type = Int64TensorType([n_rows, model.n_outputs_])
    elif options["nocl"]:
        label_type = Int64TensorType([n_rows])
    else:
        strings = onnx_classes(model.classes_).dtype == object
        label_type = (StringTensorType if strings else Int64TensorType)([n_rows])
    if zipmap_dicts(options["zipmap"]):
        tensor_type = FloatTensorType  # ZipMap takes float only
    operator.outputs[0].type = label_type
    operator.outputs[1].type = tensor_type([n_rows, len(model.classes_)])


def skl2onnx_converter(scope, operator, container):
    """Converter of skl2onnx for both estimators.

    Emits the graph of :func:`~sktinycnn.onnx.to_onnx` into skl2onnx's
    container, so a pipeline converted by ``skl2onnx.to_onnx`` computes what
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
        If skl2onnx's ``target_opset`` is below
        :data:`~sktinycnn.onnx.MIN_TARGET_OPSET`.

    See Also
    --------
    sktinycnn.onnx.register_skl2onnx : Registers this function and
        :func:`~sktinycnn.onnx.skl2onnx_shape_calculator`.

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
    if opset is not None and opset < MIN_OPSET:
        raise RuntimeError(
            f"{type(model).__name__} needs target_opset >= {MIN_OPSET}; "
            f"got {opset}."
        )
    builder = Skl2onnxBuilder(scope, container)
    dtype = model_dtype(model)
    logits = emit_network(
        builder,
        model,
        operator.inputs[0].full_name,
        guess_numpy_type(operator.inputs[0].type),
        default_form(dtype),
    )
    outputs = [output.full_name for output in operator.outputs]
    if not isinstance(model, TinyConvClassifier):
        emit_regressor_output(builder, model, logits, outputs[0])
        return
    options = _skl2onnx_options(container, model)
    kind = classifier_kind(model)
    classes = None
    if kind != "multilabel" and not options["nocl"]:
        classes = onnx_classes(model.classes_)
    # The labels come from the model's own probabilities, cast afterwards.
    cast = dtype != np.float32 and zipmap_dicts(options["zipmap"])
    proba = builder.name("probabilities") if cast else outputs[1]
    emit_classifier_outputs(builder, logits, kind, dtype, classes, outputs[0], proba)
    if cast:
        builder.node(
            "Cast",
            [proba],
            "float_proba",
            output=outputs[1],
            to=elem_type(np.float32),
        )
