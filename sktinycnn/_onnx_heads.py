"""The ONNX heads after the network's logits: the regressor's and the classifier's.

:func:`emit_regressor_output` is the sigmoid and the target map;
:func:`emit_classifier_outputs` the probabilities and labels, then
optionally :func:`emit_zipmap` or :func:`emit_columns`;
:class:`ClassifierOutputs` names a classifier's outputs and declares their
types for :func:`sktinycnn.onnx.to_onnx`. They go through the builders of
:mod:`sktinycnn._onnx_graph` and read the estimators' public fitted
attributes only (``target_offset_``, ``target_scale_``, ``classes_``,
``out_activation_``, ``n_outputs_``).
"""

import numbers

import numpy as np

from ._onnx_graph import ML_DOMAIN, elem_type, import_onnx, model_dtype

__all__ = [
    "ClassifierOutputs",
    "classifier_kind",
    "column_names",
    "emit_classifier_outputs",
    "emit_columns",
    "emit_regressor_output",
    "emit_zipmap",
    "onnx_classes",
    "zipmap_dicts",
]


def classifier_kind(model):
    """ "binary", "multiclass" or "multilabel", from the public fitted state."""
    if model.out_activation_ == "softmax":
        return "multiclass"
    return "binary" if model.n_outputs_ == 1 else "multilabel"


def onnx_classes(classes):
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


def zipmap_dicts(zipmap):
    """Whether the ``zipmap`` option asks for dicts (True, not "columns")."""
    return not isinstance(zipmap, str) and bool(zipmap)


def column_names(keys):
    """skl2onnx's names of the columns of zipmap="columns": i<int>, s<str>."""
    prefix = "i" if np.asarray(keys).dtype.kind in "iu" else "s"
    return [f"{prefix}{key}" for key in keys]


class ClassifierOutputs:
    """A classifier's outputs in :func:`sktinycnn.onnx.to_onnx`: their names,
    nodes and types.

    Parameters
    ----------
    model : TinyConvClassifier
        The fitted classifier.
    zipmap : bool or "columns"
        The checked ``zipmap`` argument.
    """

    def __init__(self, model, zipmap):
        self.model, self.zipmap = model, zipmap
        self.kind = classifier_kind(model)
        self.dtype = model_dtype(model)
        if self.kind == "multilabel":
            # The labels are the 0/1 indicator; dicts and columns are keyed by
            # the label indices, classes_ (as skl2onnx does for MLPClassifier).
            self.classes, self.keys = None, np.asarray(model.classes_, np.int64)
        else:
            self.classes = self.keys = onnx_classes(model.classes_)
        if zipmap is False:
            self.label, self.proba, self.columns = "label", "probabilities", []
        else:
            self.label, self.proba = "output_label", "output_probability"
            self.columns = column_names(self.keys) if zipmap == "columns" else []

    @property
    def output_names(self):
        if self.columns:
            return [self.label, *self.columns]
        return [self.label, self.proba]

    def emit(self, builder, logits):
        """Emit the head; return the graph's output value infos."""
        helper = import_onnx().helper
        proba = self.proba if self.zipmap is False else builder.name("probabilities")
        emit_classifier_outputs(
            builder, logits, self.kind, self.dtype, self.classes, self.label, proba
        )
        # int64 or string labels (n,); a multilabel indicator (n, n_labels).
        key_type = helper.np_dtype_to_tensor_dtype(self.keys.dtype)
        label_shape = ["N", self.model.n_outputs_] if self.classes is None else ["N"]
        outputs = [helper.make_tensor_value_info(self.label, key_type, label_shape)]
        float_type = elem_type(self.dtype)
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
            value_type = helper.make_tensor_type_proto(elem_type(np.float32), None)
            dicts = helper.make_sequence_type_proto(
                helper.make_map_type_proto(key_type, value_type)
            )
            outputs.append(helper.make_value_info(self.proba, dicts))
        return outputs


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
