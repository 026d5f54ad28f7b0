"""Export a fitted :class:`~sktinycnn.TinyConvRegressor` to ONNX.

Two routes lead to the same graph:

- :func:`to_onnx` exports one fitted estimator with the ``onnx`` package alone;
- :func:`register_skl2onnx` teaches ``skl2onnx`` the estimator, so that
  ``skl2onnx.to_onnx`` converts whole pipelines that end with it.

The graph computes what :meth:`TinyConvRegressor.predict
<sktinycnn.TinyConvRegressor.predict>` computes, in the model's dtype::

    X (n, c*h*w) -> Reshape (n, c, h, w) -> convolution + kernel_intercepts_
      -> Tanh -> [pooling] -> Flatten (n, F*hp*wp) -> MatMul coef_ + intercept_
      -> Sigmoid -> target_offset_ + target_scale_ * s -> variable (n, n_outputs)

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
from ._onnx_graph import GraphBuilder, Skl2onnxBuilder, emit_network
from ._onnx_graph import elem_type as _elem_type
from ._onnx_graph import import_onnx as _import_onnx
from ._regressor import TinyConvRegressor

__all__ = [
    "DEFAULT_TARGET_OPSET",
    "MIN_TARGET_OPSET",
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
#: Alias under which the estimator is registered with skl2onnx (skl2onnx names
#: third-party models "<library><Model>").
SKL2ONNX_ALIAS = "SktinycnnTinyConvRegressor"


def _check_estimator(estimator):
    if not isinstance(estimator, TinyConvRegressor):
        raise TypeError(
            "to_onnx exports a fitted TinyConvRegressor; got "
            f"{type(estimator).__name__}. Convert a Pipeline with skl2onnx "
            "after sktinycnn.onnx.register_skl2onnx()."
        )
    check_is_fitted(estimator)


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


def to_onnx(estimator, X_sample=None, *, target_opset=None):
    """Export a fitted :class:`~sktinycnn.TinyConvRegressor` to ONNX.

    The graph reproduces ``estimator.predict``: it reshapes each row into an
    image, convolves it with ``kernels_`` (flipped, since ONNX ``Conv`` is a
    cross-correlation; ``"same"`` padding as ``scipy.signal.convolve2d``),
    adds ``kernel_intercepts_``, applies tanh, pools (``MaxPool`` /
    ``AveragePool`` over ``pool_size_`` windows, or their ``Global`` forms
    when a window is the whole map), flattens, applies the dense layer and
    the sigmoid and maps the result back to target units. It is computed in
    the model's dtype; float64 models use an im2col matrix product instead of
    ``Conv`` and a ``ReduceSum`` instead of average pooling, which
    onnxruntime's CPU provider lacks for double.

    Parameters
    ----------
    estimator : TinyConvRegressor
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

    Returns
    -------
    onx : onnx.ModelProto
        A checked model with one input ``"X"`` and one output ``"variable"``
        of shape ``(n_samples, n_outputs)`` in the model's dtype. As with
        skl2onnx regressors, the output is 2-D even when ``predict`` returns
        1-D (a model fitted on 1-D ``y``): compare with ``ravel()``.

    See Also
    --------
    register_skl2onnx : Let ``skl2onnx.to_onnx`` convert pipelines that end
        with a TinyConvRegressor.

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
    """
    return _to_onnx(estimator, X_sample, target_opset, conv=None)


def _to_onnx(estimator, X_sample, target_opset, *, conv):
    """:func:`to_onnx`, with the convolution's form forced by ``conv``.

    ``conv`` is ``"conv"`` (ONNX's ``Conv`` and pooling operators),
    ``"unfold"`` (the forms onnxruntime runs in double) or None (``"conv"``
    for float32, ``"unfold"`` for float64); the tests run both forms on both
    dtypes.
    """
    onnx = _import_onnx()
    _check_estimator(estimator)
    opset = _check_opset(target_opset)
    input_dtype, sample_shape = _input_spec(estimator, X_sample)
    dtype = estimator.kernels_.dtype
    conv = _conv_kind(dtype) if conv is None else conv

    builder = GraphBuilder(reserved=("X", "variable"))
    emit_network(builder, estimator, "X", input_dtype, "variable", conv)
    graph = onnx.helper.make_graph(
        builder.nodes,
        "TinyConvRegressor",
        [
            onnx.helper.make_tensor_value_info(
                "X", _elem_type(input_dtype), ["N", *sample_shape]
            )
        ],
        [
            onnx.helper.make_tensor_value_info(
                "variable", _elem_type(dtype), ["N", estimator.n_outputs_]
            )
        ],
        builder.initializers,
    )
    opset_imports = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(
        graph,
        opset_imports=opset_imports,
        producer_name="sktinycnn",
        producer_version=__version__,
        doc_string="TinyConvRegressor exported by sktinycnn.onnx.to_onnx",
        # The oldest IR version that carries this opset, for older runtimes.
        ir_version=onnx.helper.find_min_ir_version_for(opset_imports),
    )
    onnx.checker.check_model(model, full_check=True)
    return model


# --- skl2onnx -------------------------------------------------------------------


def skl2onnx_shape_calculator(operator):
    """Shape calculator of skl2onnx for :class:`~sktinycnn.TinyConvRegressor`.

    Declares one output of shape ``[N, n_outputs]`` in the model's dtype
    (a float tensor for float32 models, a double tensor for float64), as
    skl2onnx does for its regressors. Input: one float or double tensor of
    shape ``[N, n_features_in_]``.

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
        The operator skl2onnx made for the estimator.

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
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(
        operator, good_input_types=[FloatTensorType, DoubleTensorType]
    )
    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    tensor_type = (
        DoubleTensorType if model.kernels_.dtype == np.float64 else FloatTensorType
    )
    operator.outputs[0].type = tensor_type([n_rows, model.n_outputs_])


def skl2onnx_converter(scope, operator, container):
    """Converter of skl2onnx for :class:`~sktinycnn.TinyConvRegressor`.

    Emits the graph of :func:`to_onnx` into skl2onnx's container, so a
    pipeline converted by ``skl2onnx.to_onnx`` computes what
    ``Pipeline.predict`` computes.

    Parameters
    ----------
    scope : skl2onnx.common._topology.Scope
        Names in use.
    operator : skl2onnx.common._topology.Operator
        The operator skl2onnx made for the estimator.
    container : skl2onnx.common._container.ModelComponentContainer
        Receives the nodes and initializers.

    See Also
    --------
    register_skl2onnx : Registers this function and
        :func:`skl2onnx_shape_calculator`.

    Examples
    --------
    >>> from skl2onnx import update_registered_converter
    >>> from sktinycnn import TinyConvRegressor
    >>> from sktinycnn.onnx import skl2onnx_converter, skl2onnx_shape_calculator
    >>> update_registered_converter(
    ...     TinyConvRegressor, "SktinycnnTinyConvRegressor",
    ...     skl2onnx_shape_calculator, skl2onnx_converter)
    """
    from skl2onnx.common.data_types import guess_numpy_type

    model = operator.raw_operator
    opset = container.target_opset
    if opset is not None and opset < MIN_TARGET_OPSET:
        raise RuntimeError(
            f"TinyConvRegressor needs target_opset >= {MIN_TARGET_OPSET}; got {opset}."
        )
    input_dtype = guess_numpy_type(operator.inputs[0].type)
    emit_network(
        Skl2onnxBuilder(scope, container),
        model,
        operator.inputs[0].full_name,
        input_dtype,
        operator.outputs[0].full_name,
        _conv_kind(model.kernels_.dtype),
    )


def register_skl2onnx():
    """Register :class:`~sktinycnn.TinyConvRegressor` with skl2onnx.

    After this call, ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn``
    convert a fitted TinyConvRegressor, alone or as the last step of a
    :class:`~sklearn.pipeline.Pipeline`, with :func:`skl2onnx_converter`.
    It is ``skl2onnx.update_registered_converter`` with this package's shape
    calculator and converter under the alias ``"SktinycnnTinyConvRegressor"``;
    calling it again is harmless. As for skl2onnx's regressors, the output
    ``"variable"`` has shape ``(n_samples, n_outputs)``.

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
    >>> from sktinycnn import TinyConvRegressor
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
