"""The ONNX graph of a fitted network, emitted through a small builder interface.

The network is emitted once, by :func:`emit_network` (input to the dense
layer's logits), then one head: :func:`emit_regressor_output` (the sigmoid and
the target map) or :func:`emit_classifier_outputs` (labels and probabilities),
and for the classifier, optionally, :func:`emit_zipmap` or
:func:`emit_columns`. Each goes through a builder with three methods
(``name``, ``constant``, ``node``) that the standalone exporter
(:class:`GraphBuilder`) and the skl2onnx converter (:class:`Skl2onnxBuilder`)
each implement over their own containers. Every public choice (dtypes, opsets,
label types, options, the estimator check) is :mod:`sktinycnn.onnx`'s.

Two forms of the same graph exist, chosen by ``form``:

- ``"conv"``: ONNX's own ``Conv`` and pooling operators (``MaxPool``,
  ``AveragePool``, ``GlobalMaxPool``, ``GlobalAveragePool``);
- ``"unfold"``: operators that onnxruntime's CPU provider runs in double, whose
  ``Conv``, ``AveragePool`` and global pooling exist for float only: the
  convolution as an im2col matrix product, average pooling as ``ReduceSum``
  over the windows of a reshaped map, max pooling as ``MaxPool`` (which it
  has in double).
"""

import numpy as np

from ._images import same_padding

__all__ = [
    "ML_DOMAIN",
    "GraphBuilder",
    "Skl2onnxBuilder",
    "elem_type",
    "emit_classifier_outputs",
    "emit_columns",
    "emit_network",
    "emit_regressor_output",
    "emit_zipmap",
    "import_onnx",
]

#: The domain of ONNX's traditional-ML operators (``ZipMap``).
ML_DOMAIN = "ai.onnx.ml"


def import_onnx():
    """The ``onnx`` module, or an ImportError that names the optional extra."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "Exporting to ONNX needs the 'onnx' package: install the optional "
            'extra with `pip install "sktinycnn[onnx]"`.'
        ) from exc
    return onnx


def elem_type(dtype):
    """The ONNX element type of a float32 or float64 dtype."""
    onnx = import_onnx()
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return onnx.TensorProto.FLOAT
    if dtype == np.float64:
        return onnx.TensorProto.DOUBLE
    raise TypeError(
        f"ONNX export supports float32 and float64 inputs; got dtype {dtype}. "
        "Convert X_sample with X_sample.astype(np.float32) or np.float64."
    )


class GraphBuilder:
    """Collects nodes and initializers for a standalone ``onnx`` graph."""

    def __init__(self, reserved=()):
        self.nodes = []
        self.initializers = []
        self._used = set(reserved)

    def name(self, hint):
        candidate, i = hint, 0
        while candidate in self._used:
            i += 1
            candidate = f"{hint}{i}"
        self._used.add(candidate)
        return candidate

    def constant(self, hint, array):
        onnx = import_onnx()
        name = self.name(hint)
        self.initializers.append(onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op_type, inputs, hint, *, output=None, domain="", **attrs):
        onnx = import_onnx()
        output = self.name(hint) if output is None else output
        self.nodes.append(
            onnx.helper.make_node(
                op_type,
                list(inputs),
                [output],
                name=self.name(op_type),
                domain=domain,
                **attrs,
            )
        )
        return output


class Skl2onnxBuilder:
    """The same interface over a skl2onnx ``scope`` and ``container``."""

    def __init__(self, scope, container):
        self.scope = scope
        self.container = container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def constant(self, hint, array):
        onnx = import_onnx()
        name = self.name(hint)
        array = np.asarray(array)
        tensor = onnx.numpy_helper.from_array(array, name)
        # skl2onnx copies a TensorProto's raw_data, which strings do not use:
        # give it their encoded values instead.
        content = (
            tensor
            if tensor.data_type != onnx.TensorProto.STRING
            else [str(value).encode("utf-8") for value in array.ravel()]
        )
        self.container.add_initializer(
            name, tensor.data_type, list(tensor.dims), content
        )
        return name

    def node(self, op_type, inputs, hint, *, output=None, domain="", **attrs):
        output = self.name(hint) if output is None else output
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            op_domain=domain,
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output


def _int64(values):
    return np.asarray(values, dtype=np.int64)


def _pads(arch):
    """``(top, bottom, left, right)`` of the convolution's zero padding."""
    if arch.padding != "same":
        return 0, 0, 0, 0
    (top, bottom), (left, right) = same_padding(arch.kernel_hw)
    return top, bottom, left, right


def _emit_conv(builder, arch, kernels, intercepts, images):
    """ONNX ``Conv``: (n, c, h, w) -> (n, F, ho, wo)."""
    top, bottom, left, right = _pads(arch)
    inputs = [images, builder.constant("kernels", kernels)]
    if intercepts is not None:
        inputs.append(builder.constant("kernel_intercepts", intercepts))
    return builder.node(
        "Conv",
        inputs,
        "conv",
        kernel_shape=list(arch.kernel_hw),
        pads=[top, left, bottom, right],
        strides=[1, 1],
        dilations=[1, 1],
    )


def _emit_unfolded_conv(builder, arch, kernels, intercepts, images):
    """The convolution as im2col + MatMul: (n, c, h, w) -> (n, F, ho * wo).

    Built from Pad, Slice, Unsqueeze, Concat, Reshape, MatMul and Add. The
    patches are laid out as the fast kernels (:mod:`sktinycnn._kernels`) lay
    them, ``(channel, i, j)`` by output pixel, so the product is the same one.
    """
    (kh, kw), (ho, wo) = arch.kernel_hw, arch.map_hw
    top, bottom, left, right = _pads(arch)
    if top or bottom or left or right:
        pads = builder.constant("pads", _int64([0, 0, top, left, 0, 0, bottom, right]))
        images = builder.node("Pad", [images, pads], "padded")
    patches = images
    if kh * kw > 1:
        axes = builder.constant("spatial_axes", _int64([2, 3]))
        axis2 = builder.constant("patch_axis", _int64([2]))
        shifted = []
        for i in range(kh):
            for j in range(kw):
                starts = builder.constant("starts", _int64([i, j]))
                ends = builder.constant("ends", _int64([i + ho, j + wo]))
                window = builder.node("Slice", [images, starts, ends, axes], "window")
                shifted.append(builder.node("Unsqueeze", [window, axis2], "window"))
        # (n, c, kh*kw, ho, wo): patches[n, c, (i, j), y, x] = padded[n, c, y+i, x+j]
        patches = builder.node("Concat", shifted, "patches", axis=2)
    shape = builder.constant("patches_shape", _int64([0, arch.n_kernel, ho * wo]))
    patches = builder.node("Reshape", [patches, shape], "patches_matrix")
    # The flipped kernels as the (F, c*kh*kw) matrix of the fast kernels.
    matrix = builder.constant("kernels", kernels.reshape(arch.n_filters, -1))
    pre = builder.node("MatMul", [matrix, patches], "conv")
    if intercepts is not None:
        bias = builder.constant("kernel_intercepts", intercepts.reshape(-1, 1))
        pre = builder.node("Add", [pre, bias], "conv_biased")
    return pre


def _emit_pooling(builder, arch, maps, form, dtype):
    """Pool (n, F, ho, wo) maps into (n, F, hp, wp).

    Windows tile the maps from the top-left with stride = window and no
    padding, and ``ceil_mode=0`` drops the rows and columns that fill no
    window, as :func:`sktinycnn._pooling.pool_forward` does.
    """
    (ph, pw), (hp, wp) = arch.pool_hw, arch.hidden_hw
    if form == "conv" and tuple(arch.pool_hw) == tuple(arch.map_hw):
        op = "GlobalMaxPool" if arch.pooling == "max" else "GlobalAveragePool"
        return builder.node(op, [maps], "pooled")
    if form == "conv" or arch.pooling == "max":  # MaxPool runs in double too
        op = "MaxPool" if arch.pooling == "max" else "AveragePool"
        return builder.node(
            op,
            [maps],
            "pooled",
            kernel_shape=[ph, pw],
            strides=[ph, pw],
            pads=[0, 0, 0, 0],
            ceil_mode=0,
        )
    # Average: crop to whole windows, split each axis into (windows, cells)
    # and sum over the cells; then scale as pool_forward does.
    if (hp * ph, wp * pw) != tuple(arch.map_hw):
        maps = builder.node(
            "Slice",
            [
                maps,
                builder.constant("crop_starts", _int64([0, 0])),
                builder.constant("crop_ends", _int64([hp * ph, wp * pw])),
                builder.constant("spatial_axes", _int64([2, 3])),
            ],
            "cropped",
        )
    shape = _int64([0, arch.n_filters, hp, ph, wp, pw])
    windows = builder.node(
        "Reshape", [maps, builder.constant("windows_shape", shape)], "windows"
    )
    axes = builder.constant("cell_axes", _int64([3, 5]))
    summed = builder.node("ReduceSum", [windows, axes], "window_sums", keepdims=0)
    weight = builder.constant("cell_weight", np.asarray(1.0 / (ph * pw), dtype))
    return builder.node("Mul", [summed, weight], "pooled")


def emit_network(builder, estimator, input_name, input_dtype, form):
    """Emit the fitted network from ``input_name`` to the dense layer's logits.

    ``form`` is ``"conv"`` or ``"unfold"`` (see the module's docstring).
    Returns the name of the logits, ``(n, n_outputs)`` in the model's dtype.
    """
    arch = estimator._arch
    dtype = estimator.kernels_.dtype
    x = input_name
    if np.dtype(input_dtype) != dtype:
        # predict converts X to the model's dtype first; so does the graph.
        x = builder.node("Cast", [x], "cast_input", to=elem_type(dtype))
    # 0 copies the batch dimension, so any batch size (and 2-D, 3-D or 4-D
    # input of the right size per sample) is accepted.
    images = builder.node(
        "Reshape",
        [x, builder.constant("image_shape", _int64([0, *arch.image_shape]))],
        "images",
    )
    # ONNX Conv is a cross-correlation: flip to keep convolve2d's semantics.
    kernels = np.ascontiguousarray(estimator.kernels_[:, :, ::-1, ::-1])
    intercepts = estimator.kernel_intercepts_
    intercepts = intercepts if np.any(intercepts != 0) else None
    emit_conv = _emit_conv if form == "conv" else _emit_unfolded_conv
    pre = emit_conv(builder, arch, kernels, intercepts, images)
    maps = builder.node("Tanh", [pre], "maps")
    if arch.pooling is not None:
        if form != "conv":  # the matrix product's (n, F, ho*wo) back to maps
            shape = _int64([0, arch.n_filters, *arch.map_hw])
            maps = builder.node(
                "Reshape", [maps, builder.constant("maps_shape", shape)], "maps"
            )
        maps = _emit_pooling(builder, arch, maps, form, dtype)
    # C order over (F, hp, wp): the layout coef_ was trained on.
    hidden = builder.node("Flatten", [maps], "hidden", axis=1)
    dense = builder.node(
        "MatMul", [hidden, builder.constant("coef", estimator.coef_)], "dense"
    )
    if np.any(estimator.intercept_ != 0):
        dense = builder.node(
            "Add", [dense, builder.constant("intercept", estimator.intercept_)], "dense"
        )
    return dense


def emit_regressor_output(builder, estimator, logits, output_name):
    """The regressor's head: the sigmoid, then ``target_offset_ + target_scale_ * s``.

    The target map is left out when it is the identity (``scale_target=False``).
    """
    offset, scale = estimator.target_offset_, estimator.target_scale_
    if np.all(scale == 1) and np.all(offset == 0):  # scale_target=False
        builder.node("Sigmoid", [logits], "sigmoid", output=output_name)
        return
    sigmoid = builder.node("Sigmoid", [logits], "sigmoid")
    scaled = builder.node(
        "Mul", [sigmoid, builder.constant("target_scale", scale)], "scaled"
    )
    builder.node(
        "Add",
        [scaled, builder.constant("target_offset", offset)],
        "prediction",
        output=output_name,
    )


def emit_classifier_outputs(
    builder, logits, kind, dtype, classes, label_name, proba_name
):
    """The classifier's head: probabilities and labels, as ``predict`` has them.

    ``kind`` is ``"binary"`` (one logit: probabilities ``[1 - p, p]`` with
    ``p = Sigmoid``), ``"multiclass"`` (``Softmax`` over the classes) or
    ``"multilabel"`` (one ``Sigmoid`` per label; labels ``p > 0.5`` as int64).
    Binary and multiclass labels are the ``ArgMax`` of the probabilities (the
    first of equal ones, as ``np.argmax``), gathered from ``classes`` (an
    int64 or string array); ``classes=None`` outputs the class index itself.
    """
    if kind == "multilabel":
        proba = builder.node("Sigmoid", [logits], "probabilities", output=proba_name)
        half = builder.constant("threshold", np.asarray(0.5, dtype))
        above = builder.node("Greater", [proba, half], "above_threshold")
        int64 = import_onnx().TensorProto.INT64
        builder.node("Cast", [above], "label", output=label_name, to=int64)
        return
    if kind == "binary":
        positive = builder.node("Sigmoid", [logits], "positive_proba")
        one = builder.constant("one", np.asarray(1.0, dtype))
        negative = builder.node("Sub", [one, positive], "negative_proba")
        proba = builder.node(
            "Concat",
            [negative, positive],
            "probabilities",
            output=proba_name,
            axis=1,
        )
    else:
        proba = builder.node(
            "Softmax", [logits], "probabilities", output=proba_name, axis=1
        )
    if classes is None:
        builder.node(
            "ArgMax",
            [proba],
            "label",
            output=label_name,
            axis=1,
            keepdims=0,
            select_last_index=0,
        )
        return
    index = builder.node(
        "ArgMax", [proba], "class_index", axis=1, keepdims=0, select_last_index=0
    )
    builder.node(
        "Gather",
        [builder.constant("classes", classes), index],
        "label",
        output=label_name,
        axis=0,
    )


def emit_zipmap(builder, proba, dtype, keys, output_name):
    """``ZipMap``: one ``{key: probability}`` dict per row, with float values.

    ``keys`` is an int64 or string array. ONNX's ``ZipMap`` takes float only,
    so a float64 model's probabilities are cast to float32 first.
    """
    if np.dtype(dtype) != np.float32:
        proba = builder.node("Cast", [proba], "float_proba", to=elem_type(np.float32))
    keys = np.asarray(keys)
    if keys.dtype.kind in "iu":
        labels = {"classlabels_int64s": [int(k) for k in keys]}
    else:
        labels = {"classlabels_strings": [str(k) for k in keys]}
    builder.node(
        "ZipMap", [proba], "zipmap", output=output_name, domain=ML_DOMAIN, **labels
    )


def emit_columns(builder, proba, output_names):
    """Column ``j`` of ``proba`` as the 1-D output ``output_names[j]``."""
    for j, name in enumerate(output_names):
        # A 0-d index drops the axis: (n, k) -> (n,).
        column = builder.constant("column", np.asarray(j, dtype=np.int64))
        builder.node("Gather", [proba, column], "column", output=name, axis=1)
