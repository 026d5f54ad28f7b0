"""The ONNX graph of a fitted network, emitted through a small builder interface.

The network, input to the dense layer's logits, is emitted by
:func:`emit_network`, one convolution block after the other; the heads after
it are :mod:`sktinycnn._onnx_heads`'s. Everything is emitted through a builder
with three methods (``name``, ``constant``, ``node``) that the standalone
exporter (:class:`GraphBuilder`) and the skl2onnx converter
(:class:`Skl2onnxBuilder`) each implement over their own containers. The
network is read from the estimator's public fitted attributes only
(:func:`fitted_blocks`); every public choice (dtypes, opsets, label types,
options, the estimator check) is :mod:`sktinycnn.onnx`'s.

Two forms of the same graph exist, chosen by ``form``:

- ``"conv"``: ONNX's own ``Conv`` and pooling operators (``MaxPool``,
  ``AveragePool``, ``GlobalMaxPool``, ``GlobalAveragePool``);
- ``"unfold"``: operators that onnxruntime's CPU provider runs in double, whose
  ``Conv``, ``AveragePool`` and global pooling exist for float only: the
  convolution as an im2col matrix product, average pooling as ``ReduceSum``
  over the windows of a reshaped map, max pooling as ``MaxPool`` (which it
  has in double).
"""

from dataclasses import dataclass

import numpy as np

from ._images import conv_output_shape, same_padding

__all__ = [
    "ACTIVATION_OPS",
    "MIN_OPSET",
    "ML_DOMAIN",
    "FittedBlock",
    "GraphBuilder",
    "Skl2onnxBuilder",
    "default_form",
    "elem_type",
    "emit_network",
    "fitted_blocks",
    "import_onnx",
    "model_dtype",
]

#: The oldest default-domain opset of the operators' forms used here
#: (``Slice``/``Unsqueeze``/``ReduceSum`` with tensor inputs, ``Pad`` with a
#: ``pads`` input).
MIN_OPSET = 13
#: The ONNX operator of each block activation (None: the identity, no node).
ACTIVATION_OPS = {"tanh": "Tanh", "relu": "Relu", "logistic": "Sigmoid",
                  "identity": None}

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




def model_dtype(estimator):
    """The dtype the fitted model computes in (its weights')."""
    return estimator.coef_.dtype


def default_form(dtype):
    """``"conv"`` for float32, ``"unfold"`` for float64.

    onnxruntime's CPU ``Conv``, ``AveragePool`` and global pooling are float
    only.
    """
    return "conv" if np.dtype(dtype) == np.float32 else "unfold"


def _int64(values):
    return np.asarray(values, dtype=np.int64)


@dataclass(frozen=True)
class FittedBlock:
    """One fitted convolution block: conv -> activation -> [pooling].

    ``kernels`` are the fitted ones flipped along both spatial axes (ONNX
    ``Conv`` is a cross-correlation, the network's a true convolution);
    ``intercepts`` is None when they are all zero, so that no bias node is
    emitted.
    """

    index: int
    in_shape: tuple
    kernels: np.ndarray
    intercepts: object
    padding: str
    pooling: object
    pool_hw: object

    @property
    def n_filters(self):
        return self.kernels.shape[0]

    @property
    def kernel_hw(self):
        return tuple(self.kernels.shape[2:])

    @property
    def n_kernel(self):
        """``channels * kh * kw``: one column of the im2col product."""
        return self.in_shape[0] * self.kernel_hw[0] * self.kernel_hw[1]

    @property
    def map_hw(self):
        """``(ho, wo)`` of the feature maps."""
        return conv_output_shape(self.in_shape[1:], self.kernel_hw, self.padding)

    @property
    def hidden_hw(self):
        """``(hp, wp)`` of the block's output: whole windows only, or the maps."""
        (ho, wo) = self.map_hw
        if self.pooling is None:
            return (ho, wo)
        return (ho // self.pool_hw[0], wo // self.pool_hw[1])

    @property
    def pads(self):
        """``(top, bottom, left, right)`` of the convolution's zero padding."""
        if self.padding != "same":
            return 0, 0, 0, 0
        (top, bottom), (left, right) = same_padding(self.kernel_hw)
        return top, bottom, left, right

    def hint(self, name):
        """A node or initializer name hint that says which block it is."""
        return f"block{self.index}_{name}"


def fitted_blocks(estimator):
    """The fitted network's blocks, read from its public fitted attributes.

    ``kernels_``, ``kernel_intercepts_``, ``kernel_size_``, ``padding_``,
    ``pooling_`` and ``pool_size_`` (one entry per block) and
    ``image_shape_``: each block reads the previous one's output,
    ``(n_filters, hp, wp)``, and the dense layer, ``coef_``, the last one's.

    Returns
    -------
    blocks : list of FittedBlock

    Raises
    ------
    ValueError
        If these attributes disagree on a size (attributes set by hand).
    """
    dtype = model_dtype(estimator)
    per_block = (estimator.kernels_, estimator.kernel_intercepts_,
                 estimator.kernel_size_, estimator.padding_, estimator.pooling_,
                 estimator.pool_size_)
    if len({len(values) for values in per_block}) != 1:
        raise ValueError(
            "The fitted attributes kernels_, kernel_intercepts_, kernel_size_, "
            "padding_, pooling_ and pool_size_ must have one entry per block; "
            f"they have {[len(values) for values in per_block]}."
        )
    blocks, in_shape = [], tuple(int(d) for d in estimator.image_shape_)
    for b, (kernels, intercepts, kernel_hw, padding, pooling, pool_hw) in (
        enumerate(zip(*per_block, strict=True))
    ):
        kernels = np.asarray(kernels, dtype)
        expected = (kernels.shape[0], in_shape[0], *kernel_hw)
        if kernels.ndim != 4 or kernels.shape != expected:
            raise ValueError(
                f"kernels_[{b}] has shape {kernels.shape}; block {b} reads "
                f"{in_shape[0]} channel(s) with kernels of kernel_size_[{b}]="
                f"{tuple(kernel_hw)}."
            )
        intercepts = np.asarray(intercepts, dtype)
        block = FittedBlock(
            index=b,
            in_shape=in_shape,
            # ONNX Conv is a cross-correlation: flip to keep the network's
            # true convolution.
            kernels=np.ascontiguousarray(kernels[:, :, ::-1, ::-1]),
            intercepts=intercepts if np.any(intercepts != 0) else None,
            padding=padding,
            pooling=pooling,
            pool_hw=None if pooling is None else tuple(pool_hw),
        )
        blocks.append(block)
        in_shape = (block.n_filters, *block.hidden_hw)
    n_hidden = int(np.prod(in_shape))
    if estimator.coef_.shape[0] != n_hidden:
        raise ValueError(
            f"coef_ has {estimator.coef_.shape[0]} rows; the last block outputs "
            f"{n_hidden} values {in_shape}."
        )
    return blocks


def _emit_conv(builder, block, images):
    """ONNX ``Conv``: (n, c, h, w) -> (n, F, ho, wo), biases included."""
    top, bottom, left, right = block.pads
    inputs = [images, builder.constant(block.hint("kernels"), block.kernels)]
    if block.intercepts is not None:
        inputs.append(builder.constant(block.hint("intercepts"), block.intercepts))
    return builder.node(
        "Conv",
        inputs,
        block.hint("conv"),
        kernel_shape=list(block.kernel_hw),
        pads=[top, left, bottom, right],
        strides=[1, 1],
        dilations=[1, 1],
    )


def _emit_unfolded_conv(builder, block, images):
    """The convolution as im2col + MatMul: (n, c, h, w) -> (n, F, ho * wo).

    Built from Pad, Slice, Unsqueeze, Concat, Reshape, MatMul and Add. The
    patches are laid out as ``(channel, i, j)`` by output pixel, the order of
    the kernels' own ``(channels, kh, kw)`` values.
    """
    (kh, kw), (ho, wo) = block.kernel_hw, block.map_hw
    top, bottom, left, right = block.pads
    if top or bottom or left or right:
        pads = builder.constant(block.hint("pads"),
                                _int64([0, 0, top, left, 0, 0, bottom, right]))
        images = builder.node("Pad", [images, pads], block.hint("padded"))
    patches = images
    if kh * kw > 1:
        axes = builder.constant(block.hint("spatial_axes"), _int64([2, 3]))
        axis2 = builder.constant(block.hint("patch_axis"), _int64([2]))
        shifted = []
        for i in range(kh):
            for j in range(kw):
                starts = builder.constant(block.hint("starts"), _int64([i, j]))
                ends = builder.constant(block.hint("ends"), _int64([i + ho, j + wo]))
                window = builder.node("Slice", [images, starts, ends, axes],
                                      block.hint("window"))
                shifted.append(
                    builder.node("Unsqueeze", [window, axis2], block.hint("window"))
                )
        # (n, c, kh*kw, ho, wo): patches[n, c, (i, j), y, x] = padded[n, c, y+i, x+j]
        patches = builder.node("Concat", shifted, block.hint("patches"), axis=2)
    shape = builder.constant(block.hint("patches_shape"),
                             _int64([0, block.n_kernel, ho * wo]))
    patches = builder.node("Reshape", [patches, shape], block.hint("patch_matrix"))
    # The flipped kernels as an (F, c*kh*kw) matrix, rows in the patches' order.
    matrix = builder.constant(block.hint("kernels"),
                              block.kernels.reshape(block.n_filters, -1))
    pre = builder.node("MatMul", [matrix, patches], block.hint("conv"))
    if block.intercepts is not None:
        bias = builder.constant(block.hint("intercepts"),
                                block.intercepts.reshape(-1, 1))
        pre = builder.node("Add", [pre, bias], block.hint("conv_biased"))
    return pre


def _emit_pooling(builder, block, maps, form, dtype):
    """Pool (n, F, ho, wo) maps into (n, F, hp, wp).

    Windows tile the maps from the top-left with stride = window and no
    padding, and ``ceil_mode=0`` drops the rows and columns that fill no
    window, as the estimators do.
    """
    (ph, pw), (hp, wp) = block.pool_hw, block.hidden_hw
    if form == "conv" and block.pool_hw == block.map_hw:
        op = "GlobalMaxPool" if block.pooling == "max" else "GlobalAveragePool"
        return builder.node(op, [maps], block.hint("pooled"))
    if form == "conv" or block.pooling == "max":  # MaxPool runs in double too
        op = "MaxPool" if block.pooling == "max" else "AveragePool"
        return builder.node(
            op,
            [maps],
            block.hint("pooled"),
            kernel_shape=[ph, pw],
            strides=[ph, pw],
            pads=[0, 0, 0, 0],
            ceil_mode=0,
        )
    # Average: crop to whole windows, split each axis into (windows, cells)
    # and sum over the cells, then scale by the cells' number.
    if (hp * ph, wp * pw) != block.map_hw:
        maps = builder.node(
            "Slice",
            [
                maps,
                builder.constant(block.hint("crop_starts"), _int64([0, 0])),
                builder.constant(block.hint("crop_ends"), _int64([hp * ph, wp * pw])),
                builder.constant(block.hint("spatial_axes"), _int64([2, 3])),
            ],
            block.hint("cropped"),
        )
    shape = _int64([0, block.n_filters, hp, ph, wp, pw])
    windows = builder.node(
        "Reshape", [maps, builder.constant(block.hint("windows_shape"), shape)],
        block.hint("windows"),
    )
    axes = builder.constant(block.hint("cell_axes"), _int64([3, 5]))
    summed = builder.node("ReduceSum", [windows, axes], block.hint("window_sums"),
                          keepdims=0)
    weight = builder.constant(block.hint("cell_weight"),
                              np.asarray(1.0 / (ph * pw), dtype))
    return builder.node("Mul", [summed, weight], block.hint("pooled"))


def _emit_activation(builder, block, values, activation):
    op = ACTIVATION_OPS[activation]
    if op is None:  # the identity
        return values
    return builder.node(op, [values], block.hint("activated"))


def _emit_block(builder, block, images, activation, form, dtype, *, last):
    """One block: (n, c, h, w) -> (n, F, hp, wp), or (n, F, ho * wo) maps of
    the unfolded form's last unpooled block (Flatten reads either)."""
    if form == "conv":
        pre = _emit_conv(builder, block, images)
    else:
        pre = _emit_unfolded_conv(builder, block, images)
        if block.pooling is not None or not last:
            # The matrix product's (n, F, ho*wo) back to maps.
            shape = _int64([0, block.n_filters, *block.map_hw])
            pre = builder.node(
                "Reshape", [pre, builder.constant(block.hint("maps_shape"), shape)],
                block.hint("maps"),
            )
    if block.pooling == "max":
        # Every activation is non-decreasing, so the max of the activated maps
        # is the activation of the max: activate the pooled values only, as
        # the estimators do.
        pooled = _emit_pooling(builder, block, pre, form, dtype)
        return _emit_activation(builder, block, pooled, activation)
    maps = _emit_activation(builder, block, pre, activation)
    if block.pooling is None:
        return maps
    return _emit_pooling(builder, block, maps, form, dtype)


def emit_network(builder, estimator, input_name, input_dtype, form):
    """Emit the fitted network from ``input_name`` to the dense layer's logits.

    ``form`` is ``"conv"`` or ``"unfold"`` (see the module's docstring).
    Returns the name of the logits, ``(n, n_outputs)`` in the model's dtype.
    """
    dtype = model_dtype(estimator)
    blocks = fitted_blocks(estimator)
    x = input_name
    if np.dtype(input_dtype) != dtype:
        # predict converts X to the model's dtype first; so does the graph.
        x = builder.node("Cast", [x], "cast_input", to=elem_type(dtype))
    # 0 copies the batch dimension, so any batch size (and 2-D, 3-D or 4-D
    # input of the right size per sample) is accepted.
    image_shape = builder.constant("image_shape", _int64([0, *blocks[0].in_shape]))
    maps = builder.node("Reshape", [x, image_shape], "images")
    for block in blocks:
        maps = _emit_block(builder, block, maps, estimator.activation_, form, dtype,
                           last=block is blocks[-1])
    # C order over (F, hp, wp) of the last block: the layout coef_ was trained on.
    hidden = builder.node("Flatten", [maps], "hidden", axis=1)
    dense = builder.node(
        "MatMul", [hidden, builder.constant("coef", estimator.coef_)], "dense"
    )
    if np.any(estimator.intercept_ != 0):
        dense = builder.node(
            "Add", [dense, builder.constant("intercept", estimator.intercept_)], "dense"
        )
    return dense
