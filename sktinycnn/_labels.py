"""Labels for the classifier: encoding, class weights and the validation split.

:func:`encode_targets` turns ``y`` into the targets of the classifier's head:
the classes checked across fits and ``partial_fit`` calls, the rows weighed by
class; :func:`predicted_codes` reads the codes back from the head's outputs.
The classifier keeps only plain arrays (``classes_``, an integer code per
row, a 0/1 target matrix for its head), so that its fitted state pickles and
loads with skops as plain data; the label rules are scikit-learn's
(``unique_labels``, ``type_of_target``, ``compute_class_weight``).
"""

import hashlib
import math

import numpy as np
import scipy.sparse as sp
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import column_or_1d

__all__ = [
    "PartialFit",
    "as_label_target",
    "check_classes",
    "check_two_classes",
    "check_validation_classes",
    "class_weight_per_row",
    "content_keyed_split",
    "encode_labels",
    "encode_targets",
    "first_classes",
    "predicted_codes",
]


class PartialFit:
    """Marks a ``partial_fit`` call and carries its ``classes`` argument."""

    def __init__(self, classes):
        self.classes = classes


def as_label_target(y):
    """``y`` as 1-D labels or a dense 2-D 0/1 indicator, and whether multilabel.

    A column vector is raveled with scikit-learn's DataConversionWarning, as
    MLPClassifier does. Continuous targets and multiclass-multioutput targets
    raise a ValueError naming what is accepted.
    """
    if sp.issparse(y):
        y = y.toarray()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    kind = type_of_target(y, input_name="y")
    if kind == "multilabel-indicator":
        values = np.unique(y)
        # scikit-learn calls any 2-D y of at most two integral values an
        # indicator (2 * Y, or -1/1); the sigmoid's log-loss needs 0/1
        # targets, and "non-zero marks a label" would mark every label of -1/1.
        if not np.isin(values, [0, 1]).all():
            raise ValueError(
                "A multilabel y must be a 0/1 indicator matrix (1 where a label "
                f"applies); got values {values.tolist()}. Binarise it first, "
                "e.g. (y > 0).astype(int)."
            )
        return y.astype(np.int64), True
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"TinyConvClassifier supports binary, multiclass and multilabel "
            f"(2-D 0/1 indicator) targets; got a {kind} y of shape {y.shape}."
        )
    return y, False


def encode_labels(y, classes):
    """The code of each label of ``y`` in the sorted ``classes``.

    Raises a ValueError naming the labels of ``y`` that ``classes`` lacks.
    """
    unseen = np.setdiff1d(unique_labels(y), classes)
    if len(unseen):
        raise ValueError(
            f"`y` has classes not in `self.classes_`. `self.classes_` has "
            f"{classes}. 'y' has {unique_labels(y)}: {unseen} not among them. "
            "Pass every label to the first call of partial_fit (classes=...)."
        )
    return np.searchsorted(classes, y).astype(np.int64)


def class_weight_per_row(class_weight, classes, codes, sample_weight, multilabel):
    """Per-row weights of ``class_weight`` (None: no class weighting).

    ``"balanced"`` gives class ``c`` the weight ``W / (k * W_c)``, where
    ``W_c`` is the total sample weight of its rows, ``W`` that of all rows and
    ``k`` the number of classes present (rows of positive weight only), so
    that weighting a row by 2 or repeating it gives the same weights. For a
    multilabel ``codes`` (the indicator) each label column is balanced over
    its values 0 and 1 and a row's weight is the product over the columns, as
    ``compute_sample_weight`` does for multi-output targets.
    """
    if class_weight is None:
        return None
    w = np.ones(len(codes)) if sample_weight is None else sample_weight
    positive = w > 0
    if multilabel:
        if isinstance(class_weight, dict):
            raise ValueError(
                "class_weight as a dict is for single-label y (keys are the "
                "labels); with a multilabel indicator y use "
                "class_weight='balanced' or None."
            )
        columns = [
            _balanced(codes[:, k], np.array([0, 1]), w, positive)
            for k in range(codes.shape[1])
        ]
        return np.prod(columns, axis=0)
    if isinstance(class_weight, dict):
        per_class = compute_class_weight(class_weight, classes=classes, y=classes)
        per_class = np.asarray(per_class, dtype=np.float64)
        if not (np.all(np.isfinite(per_class)) and np.all(per_class >= 0)):
            raise ValueError(
                f"class_weight must map labels to finite non-negative weights; "
                f"got {class_weight!r}."
            )
        return per_class[codes]
    return _balanced(codes, np.arange(len(classes)), w, positive)


def _balanced(codes, all_codes, w, positive):
    present = np.unique(codes[positive])
    weights = compute_class_weight(
        "balanced", classes=present, y=codes[positive], sample_weight=w[positive]
    )
    per_code = np.ones(len(all_codes))
    per_code[present] = weights
    return per_code[codes]


def content_keyed_split(images, groups, sample_weight, fraction, rng):
    """Validation rows chosen by a seeded hash of each row's pixels, stratified.

    Within each group (a class, or all rows when ``groups`` is None) rows are
    ranked by the hash, and each distinct image gets its position in its
    group: the middle of its share of the group's weight, as a fraction of
    that weight. Images are then held out in order of position (ties broken
    by the hash) while the weight held out before them is below ``fraction``
    of the total weight, so that the validation set is ``fraction`` of the
    data, rounded up by at most one image (with unit weights,
    ``ceil(fraction * n_samples)`` rows, as ``train_test_split``), and each
    group gives about ``fraction`` of its weight. Every group keeps its last
    distinct image for training.

    Identical rows share a hash, so they are never split between training and
    validation, and a row of weight 2 falls on the same side as two copies of
    it would: early stopping weighs rows exactly as repeating them does. The
    hash key is drawn from ``rng``; the order is otherwise unrelated to the
    pixels.

    Returns ``(train_indices, validation_indices)``, each sorted.
    """
    n_samples = images.shape[0]
    salt = rng.randint(np.iinfo(np.int32).max).to_bytes(8, "little")
    rows = np.ascontiguousarray(images).reshape(n_samples, -1)
    keys = np.array(
        [
            int.from_bytes(
                hashlib.blake2b(row.tobytes(), digest_size=8, salt=salt).digest(),
                "little",
            )
            for row in rows
        ],
        dtype=np.uint64,
    )
    w = np.ones(n_samples) if sample_weight is None else np.asarray(
        sample_weight, dtype=np.float64
    )
    groups = np.zeros(n_samples, np.int64) if groups is None else groups
    position = np.zeros(n_samples)
    candidate = np.zeros(n_samples, dtype=bool)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        order = members[np.argsort(keys[members], kind="stable")]
        sorted_keys = keys[order]
        cumulative = np.concatenate([[0.0], np.cumsum(w[order])])
        # The weight of the copies of an image spans [before, after): copies
        # (equal hashes) all get the same position, so the same side.
        before = cumulative[np.searchsorted(sorted_keys, sorted_keys, side="left")]
        after = cumulative[np.searchsorted(sorted_keys, sorted_keys, side="right")]
        position[order] = 0.5 * (before + after) / cumulative[-1]
        candidate[order] = sorted_keys != sorted_keys[-1]
    rows_in = np.flatnonzero(candidate)
    rows_in = rows_in[np.lexsort((groups[rows_in], keys[rows_in], position[rows_in]))]
    cumulative = np.concatenate([[0.0], np.cumsum(w[rows_in])])
    # Each run of copies takes the weight before its first row.
    new_run = np.ones(len(rows_in), dtype=bool)
    new_run[1:] = (
        (position[rows_in][1:] != position[rows_in][:-1])
        | (keys[rows_in][1:] != keys[rows_in][:-1])
        | (groups[rows_in][1:] != groups[rows_in][:-1])
    )
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(len(rows_in)), 0))
    take = cumulative[run_start] < fraction * w.sum()
    validation = np.zeros(n_samples, dtype=bool)
    validation[rows_in[take]] = True
    return np.flatnonzero(~validation), np.flatnonzero(validation)


def check_validation_classes(codes, sample_weight, fraction):
    """Refuse a validation set smaller than the number of classes.

    MLPClassifier's rule (through ``train_test_split``), with its words
    first: ``ceil(fraction * n_samples)`` must be at least the number of
    classes. Rows count by their sample weight relative to the lightest row
    of positive weight, so that a row of weight 2 counts as two copies of it
    and scaling every weight changes nothing; class weights, which reweigh
    the loss rather than repeat rows, do not count.
    """
    if sample_weight is not None:
        positive = sample_weight > 0
        codes, sample_weight = codes[positive], sample_weight[positive]
    n_classes = len(np.unique(codes))
    n_samples = len(codes) if sample_weight is None else float(
        np.sum(sample_weight / sample_weight.min())
    )
    n_validation = math.ceil(fraction * n_samples)
    if n_validation < n_classes:
        counted = "" if sample_weight is None else (
            " (rows counted by their weight relative to the lightest)"
        )
        raise ValueError(
            f"The test_size = {n_validation} should be greater or equal to the "
            f"number of classes = {n_classes}: early_stopping with "
            f"validation_fraction={fraction} holds out {n_validation} of "
            f"{n_samples:g} sample(s){counted}, fewer than the classes. "
            "Increase 'validation_fraction' or the size of your dataset."
        )


def first_classes(y, multilabel, partial):
    """The classes of a first fit: of ``y``, or ``partial_fit``'s ``classes``."""
    if partial is not None and partial.classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if multilabel:
        classes_ = np.arange(y.shape[1])
        if partial is not None and not np.array_equal(
            unique_labels(partial.classes), classes_
        ):
            raise ValueError(
                "For a multilabel indicator y, classes must be the label "
                f"indices {classes_.tolist()}; got {partial.classes!r}."
            )
        return classes_
    if partial is not None:
        classes_ = unique_labels(partial.classes)
        if len(classes_) < 2:
            # As fit refuses y of one class: a model of one class has nothing
            # to learn, and the heads need two.
            raise _one_class_error(f"classes={partial.classes!r}", classes_[0])
        return classes_
    return unique_labels(y)

def check_classes(classes_, fitted_multilabel, y, multilabel, partial):
    """Check that a continued fit brings the fitted classes; return them."""
    if partial is not None and partial.classes is not None and not (
        np.array_equal(unique_labels(partial.classes), classes_)
    ):
        raise ValueError(
            f"`classes={partial.classes!r}` is not the same as on last call "
            f"to partial_fit, was: {classes_!r}"
        )
    if multilabel != fitted_multilabel:
        was = "a multilabel indicator" if fitted_multilabel else "labels"
        raise ValueError(
            f"This model was fitted on {was} y; got "
            f"{'an indicator' if multilabel else 'labels'} now. Set "
            "warm_start=False to refit."
        )
    if multilabel:
        if y.shape[1] != len(classes_):
            raise ValueError(
                f"y has {y.shape[1]} labels but the model was fitted on "
                f"{len(classes_)}."
            )
        return classes_
    if partial is None and set(unique_labels(y)) != set(classes_):
        raise ValueError(
            "warm_start can only be used where `y` has the same classes as "
            f"in the previous call to fit. Previously got {classes_}, `y` "
            f"has {unique_labels(y)}"
        )
    return classes_

def check_two_classes(codes, classes_, sample_weight):
    """Refuse data of one class (among rows of positive weight)."""
    present = codes if sample_weight is None else codes[sample_weight > 0]
    if len(np.unique(present)) < 2:
        raise _one_class_error(
            "the data (rows of positive weight)", classes_[present[0]]
        )


def _one_class_error(what, label):
    if isinstance(label, np.generic):
        label = label.item()
    return ValueError(
        f"TinyConvClassifier needs at least 2 classes, but {what} holds only "
        f"one class: {label!r}."
    )


def encode_targets(y, sample_weight, dtype, *, fitted, partial, class_weight,
                   early_stopping, validation_fraction):
    """Codes, the head's 0/1 targets, weights times class weights.

    ``fitted`` is None on a first fit, else the fitted ``(classes_,
    multilabel)``; ``partial`` is a ``partial_fit`` call's :class:`PartialFit`
    (None in ``fit``). Binary targets are one column (``classes_[1]``),
    multiclass ones one-hot, multilabel ones the indicator.

    Returns ``(codes, targets, sample_weight, classes_, multilabel)``.
    """
    y, multilabel = as_label_target(y)
    if fitted is None:
        classes_ = first_classes(y, multilabel, partial)
    else:
        classes_ = check_classes(*fitted, y, multilabel, partial)
    if multilabel:
        codes = y
        targets = y.astype(dtype)
    else:
        codes = encode_labels(y, classes_)
        if len(classes_) == 2:
            targets = (codes == 1).astype(dtype)[:, None]
        else:
            targets = np.zeros((len(codes), len(classes_)), dtype)
            targets[np.arange(len(codes)), codes] = 1
    if not multilabel and partial is None:
        check_two_classes(codes, classes_, sample_weight)
        if early_stopping:
            # Before the class weights join the sample weights.
            check_validation_classes(codes, sample_weight, validation_fraction)
    row_weight = class_weight_per_row(
        class_weight, classes_, codes, sample_weight, multilabel
    )
    if row_weight is not None:
        base = 1 if sample_weight is None else sample_weight
        sample_weight = np.asarray(base * row_weight, dtype=dtype)
        total = sample_weight.sum()
        if not (np.isfinite(total) and total > 0):
            raise ValueError(
                "The sample weights times the class weights sum to "
                f"{total}: at least one row needs a positive, finite weight."
            )
    return codes, targets, sample_weight, classes_, multilabel


def predicted_codes(outputs, multilabel):
    """Predicted codes from the head's outputs (0.5 thresholds, argmax)."""
    if multilabel:
        return (outputs > 0.5).astype(np.int64)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1)
