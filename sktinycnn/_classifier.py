"""TinyConvClassifier: the network with a sigmoid or softmax log-loss head.

The classifier's own part of the estimator: label encoding and class weights
(:mod:`._labels`), its heads (:class:`._heads.SigmoidLogLoss` for binary and
multilabel targets, :class:`._heads.SoftmaxLogLoss` for multiclass ones),
accuracy for validation scores on a stratified split, and ``partial_fit``
with declared classes. The predict methods are
:class:`._class_outputs.ClassOutputsMixin`'s, everything else
:class:`._base.BaseTinyConv`'s.
"""

from typing import ClassVar

from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score

from ._base import BaseTinyConv, unless_early_stopping, with_callbacks
from ._class_outputs import ClassOutputsMixin
from ._heads import SigmoidLogLoss, SoftmaxLogLoss
from ._labels import (
    PartialFit,
    content_keyed_split,
    encode_targets,
    predicted_codes,
)

__all__ = ["TinyConvClassifier"]


class TinyConvClassifier(ClassOutputsMixin, ClassifierMixin, BaseTinyConv):
    """Tiny convolutional network classifier: conv -> tanh -> pool -> dense -> log-loss.

    The network of :class:`TinyConvRegressor` with a classifier's head, the
    training controls of :class:`~sklearn.neural_network.MLPClassifier`, and
    its targets: binary labels (one logistic output, the probability of
    ``classes_[1]``), multiclass labels (one softmax output per class) and
    multilabel 2-D 0/1 indicators (one independent logistic output per
    label), all trained on log-loss. Labels may be any sortable values
    (ints, strings, bools). See :ref:`classification`.

    Parameters
    ----------
    image_shape : None or tuple of int, default=None
        Shape of one image in a flat row of ``X``: ``(height, width)`` or
        ``(channels, height, width)``; ``None`` is the most square ``h x w``
        with ``h * w = n_features`` and ``h <= w``. Ignored for 3-D and 4-D
        ``X``, which are images already.
    n_filters : int or sequence of int, default=16
        Number of convolution kernels (feature maps) of each block. An int is
        one block; a sequence chains one block per entry, ``(16, 32)`` two,
        each block reading the previous block's (pooled) maps.
    kernel_size : int, tuple of int or list, default=5
        Kernel height and width (a tuple ``(kh, kw)`` for every block, or a
        list with one value per block), clipped to the block's input with
        ``"valid"``.
    padding : {"valid", "same"} or list, default="same"
        ``"valid"``: only full overlaps; ``"same"``: maps as large as the
        block's input, exactly as ``convolve2d(..., "same")``. A list gives
        one value per block.
    pooling : {None, "max", "avg"} or list, default="max"
        Pooling after the activation over non-overlapping ``pool_size``
        windows (see :class:`TinyConvRegressor`); pooling makes the network
        tolerant of where a pattern is in the image. ``None`` is the
        tutorial's network. A list gives one value per block.
    pool_size : int, tuple of int, "global" or list, default=4
        Pooling window, clipped to the maps; ``"global"`` pools each whole
        map to one value. A list gives one value per block. Ignored in a
        block without pooling.
    activation : {"tanh", "relu", "logistic", "identity"}, default="tanh"
        Activation of every block (MLPClassifier's word and values).
    fit_intercept : bool, default=True
        Whether to learn a bias per feature map and per output.
    kernel_scale : float or None, default=None
        Standard deviation of every initial weight; ``None`` is fan-in based
        (LeCun normal kernels, small dense weights).
    class_weight : None, "balanced" or dict, default=None
        Weights of the classes, multiplied into ``sample_weight`` as in
        scikit-learn's linear models. A dict maps labels to weights (labels
        left out weigh 1); ``"balanced"`` weighs class ``c`` by ``W / (k *
        W_c)`` from the sample weights of the rows given to ``fit`` (``W_c``
        of class ``c``, ``W`` of all, ``k`` classes present). With a
        multilabel ``y`` only ``"balanced"`` is accepted (each label balanced
        over 0 and 1, multiplied over the labels). ``partial_fit`` balances
        each batch on its own frequencies: for weights over a whole stream,
        pass a dict from ``compute_class_weight``.
    solver : {"sgd", "adam"}, default="adam"
        The optimiser (Adam's dense steps scaled as the regressor's).
    learning_rate : float, default=0.03
        Initial step size (``learning_rate_init`` of MLPClassifier).
    learning_rate_schedule : {"constant", "invscaling", "adaptive"}, \
default="constant"
        Step-size schedule for ``solver="sgd"`` (MLPClassifier's
        ``learning_rate``).
    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule.
    momentum : float, default=0.9
        Momentum of ``solver="sgd"``, in [0, 1].
    nesterovs_momentum : bool, default=True
        Whether ``solver="sgd"`` uses Nesterov's momentum.
    beta_1 : float, default=0.9
        Adam's decay rate of the first moment estimates, in [0, 1).
    beta_2 : float, default=0.999
        Adam's decay rate of the second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's numerical-stability term.
    alpha : float, default=1e-4
        L2 penalty on the kernels and dense weights (not on biases), divided
        by the batch's total sample weight like MLPClassifier's.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(64, n_samples)``, as the
        regressor's (MLPClassifier's is ``min(200, n_samples)``: this network
        learns in fewer epochs from smaller batches, see
        ``docs/notes/classifier-defaults.md``). Larger than the number of
        samples, it is clipped with a warning.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Tolerance of the stopping rule: training stops when the training
        log-loss (or, with ``early_stopping``, the validation accuracy, or at
        an accuracy within ``tol`` of the best the validation log-loss) has
        not improved by at least ``tol`` for ``n_iter_no_change`` epochs.
    n_iter_no_change : int, default=10
        Epochs without improvement before the stopping rule fires.
    n_iter_cooldown : int, default=0
        Epochs trained at a fifth of the step size once the stopping rule has
        fired, before training ends; they count in ``n_iter_`` and
        ``max_iter``. ``0`` stops when the rule fires, as MLPClassifier does.
        ``partial_fit`` never cools down: each call is one epoch at the
        current step size.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stratified by
        class, stop when its accuracy stops improving, and keep the weights
        of the best epoch. Accuracies within ``tol`` of the best tie, and ties
        rank by the validation log-loss (the later epoch on equal loss): an
        accuracy that cannot rise, such as 1 from the first epoch, does not
        stop training while the log-loss still falls by more than ``tol``
        (see :ref:`classification`). The held-out rows are chosen by
        a seeded hash of their pixels, so identical rows fall on the same side
        and a row of weight 2 is held out exactly when two copies of it would
        be. A validation set smaller than the number of classes is refused,
        as MLPClassifier refuses it (see :ref:`classification`).
        ``partial_fit`` refuses ``early_stopping=True`` with a ValueError, as
        MLPClassifier's does: there is no fixed validation set across calls.
    validation_fraction : float, default=0.1
        Fraction of the training weight held out with ``early_stopping``
        (rounded up to whole images), each class giving about that fraction
        of its own.
    shuffle : bool, default=True
        Whether to shuffle the samples at every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimiser state; ``y``
        must then have the classes of that fit.
    verbose : int, default=0
        ``> 0`` prints the loss (and validation score) after every epoch.
    n_jobs : int or None, default=None
        Threads used inside one fit and predict, scikit-learn's meaning:
        ``None`` is 1 unless in a ``joblib.parallel_config`` context that
        sets ``n_jobs``, ``-1`` is every core the process may use (capped
        inside joblib's and Dask's workers by what they are given); any
        ``n_jobs`` gives the same model bit for bit. While a fit or predict
        runs, BLAS runs on one thread, process-wide. See :ref:`scaling`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted (for multilabel ``y``: the label indices
        ``0 .. n_labels - 1``).
    out_activation_ : str
        ``"logistic"`` (binary, multilabel) or ``"softmax"`` (multiclass).
    n_outputs_ : int
        Output units: 1 (binary), ``n_classes`` or ``n_labels``.
    image_shape_ : tuple of int
        ``(channels, height, width)`` of the images.
    kernel_size_ : list of tuple of int
        Effective ``(kh, kw)`` of each block after clipping to its input.
    padding_ : list of str
        Padding of each block.
    pooling_ : list of str or None
        Pooling of each block.
    pool_size_ : list of tuple of int or None
        Effective pooling window of each block (None without pooling).
    activation_ : str
        Activation of every block.
    kernels_ : list of ndarray of shape (n_filters[b], channels[b], kh, kw)
        Convolution kernels of each block (true convolution), one array per
        block at every depth.
    kernel_intercepts_ : list of ndarray of shape (n_filters[b],)
        Bias of each feature map of each block (zeros when
        ``fit_intercept=False``).
    coef_ : ndarray of shape (n_filters[-1] * hp * wp, n_outputs)
        Dense weights over the last block's C-order flattened (pooled) maps.
    intercept_ : ndarray of shape (n_outputs,)
        Dense biases (zeros when ``fit_intercept=False``).
    n_features_in_ : int
        Number of features (pixels times channels) seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Epochs run by the last call to ``fit`` or ``partial_fit``.
    t_ : int or float
        Training samples seen (counted by their weights).
    loss_ : float
        Training log-loss of the last epoch (per unit of weight, with
        penalty).
    loss_curve_ : list of float
        Training loss of every epoch since the model was initialised.
    best_loss_ : float or None
        Lowest training loss (None with ``early_stopping``).
    validation_scores_ : list of float or None
        Validation accuracy of every epoch (None without ``early_stopping``).
    validation_loss_curve_ : list of float or None
        Validation log-loss (no penalty) of every epoch.
    best_validation_score_ : float or None
        Best validation accuracy (None without ``early_stopping``); the
        weights kept may be those of a later epoch within ``tol`` of it and of
        lower validation log-loss.

    See Also
    --------
    TinyConvRegressor : The same network as a regressor.
    sklearn.neural_network.MLPClassifier : Fully connected network classifier.

    Notes
    -----
    The loss of a batch is ``sum_i w_i * loss_i / sum_i w_i`` plus the L2
    penalty, with ``w_i`` the sample weight times the class weight and
    ``loss_i`` the log-loss of row ``i`` (summed over the labels of a
    multilabel row, as MLPClassifier's). Probabilities and log-probabilities
    are computed from the logits, so ``predict_log_proba`` is finite wherever
    a logit gap is.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sktinycnn import TinyConvClassifier
    >>> X, digit = load_digits(return_X_y=True)
    >>> model = TinyConvClassifier(random_state=0).fit(X[:1200] / 16, digit[:1200])
    >>> model.classes_, model.out_activation_
    (array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 'softmax')
    >>> model.predict_proba(X[1200:1203] / 16).shape
    (3, 10)
    >>> round(model.score(X[1200:] / 16, digit[1200:]), 2)
    0.95
    """

    _y_validation: ClassVar[dict] = {"multi_output": True}
    _auto_batch_size = 64

    def __init__(
        self,
        *,
        image_shape=None,
        n_filters=16,
        kernel_size=5,
        padding="same",
        pooling="max",
        pool_size=4,
        activation="tanh",
        fit_intercept=True,
        kernel_scale=None,
        class_weight=None,
        solver="adam",
        learning_rate=0.03,
        learning_rate_schedule="constant",
        power_t=0.5,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        alpha=1e-4,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        n_iter_cooldown=0,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        warm_start=False,
        verbose=0,
        n_jobs=None,
    ):
        self.image_shape = image_shape
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.padding = padding
        self.pooling = pooling
        self.pool_size = pool_size
        self.activation = activation
        self.fit_intercept = fit_intercept
        self.kernel_scale = kernel_scale
        self.class_weight = class_weight
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.power_t = power_t
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.n_iter_cooldown = n_iter_cooldown
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.n_jobs = n_jobs

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Train the network on images ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Training images, flat (reshaped with ``image_shape``) or as images.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multilabel targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, multiplied by the class weights. Rows of
            zero weight are ignored.

        Returns
        -------
        self : TinyConvClassifier
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvClassifier
        >>> X = np.random.RandomState(0).rand(30, 4, 4)
        >>> y = (X.mean(axis=(1, 2)) > 0.5) * 1
        >>> model = TinyConvClassifier(max_iter=300, random_state=0).fit(X, y)
        >>> model.classes_
        array([0, 1])
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @unless_early_stopping
    @with_callbacks
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch over ``X``, continuing from the current weights.

        With ``early_stopping=True`` it is unavailable: getting it raises
        MLPClassifier's ValueError ("partial_fit does not support
        early_stopping=True"), which is also an AttributeError, so
        ``hasattr(model, "partial_fit")`` is False.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Training images.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (each among ``classes``), or a 0/1 indicator matrix.
        classes : array-like of shape (n_classes,), default=None
            Every label of all calls (e.g. ``np.unique(y_all)``): required on
            the first call, optional later (then it must be the same). ``y``
            need not contain them all, but there must be at least two: one
            class is refused, as ``fit`` refuses a ``y`` of one class. For a
            multilabel ``y``, the label indices ``0 .. n_labels - 1``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : TinyConvClassifier
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvClassifier
        >>> X = np.random.RandomState(0).rand(30, 4, 4)
        >>> y = np.array(["dark", "light"])[(X.mean(axis=(1, 2)) > 0.5) * 1]
        >>> model = TinyConvClassifier(random_state=0)
        >>> model = model.partial_fit(X[:10], y[:10], classes=["dark", "light"])
        >>> model = model.partial_fit(X[10:], y[10:])
        >>> model.classes_, len(model.loss_curve_)
        (array(['dark', 'light'], dtype='<U5'), 2)
        """
        return self._fit(
            X, y, sample_weight, incremental=True, classes=PartialFit(classes)
        )

    # -------------------------------------------------------------- targets

    def _encode_targets(self, y, sample_weight, dtype, *, first_call, classes):
        """Codes, the head's 0/1 targets, weights times class weights."""
        partial = classes if isinstance(classes, PartialFit) else None
        codes, targets, sample_weight, classes_, multilabel = encode_targets(
            y, sample_weight, dtype,
            fitted=None if first_call else (self.classes_, self._multilabel),
            partial=partial, class_weight=self.class_weight,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
        )
        head = SigmoidLogLoss() if multilabel or len(classes_) == 2 else (
            SoftmaxLogLoss()
        )
        attributes = {
            "classes_": classes_,
            "out_activation_": head.out_activation,
            "_multilabel": multilabel,
        }
        return codes, targets, sample_weight, head, attributes

    def _stratify(self, y):
        return None if y.ndim == 2 else y

    def _validation_indices(self, images, y, sample_weight, rng):
        # By a seeded hash of each row's pixels: copies of an image fall on
        # the same side, so a weight of 2 holds out what two copies would.
        return content_keyed_split(
            images, self._stratify(y), sample_weight, self.validation_fraction,
            rng,
        )

    def _validation_score(self, y, outputs, sample_weight, target_attributes):
        return float(
            accuracy_score(
                y, predicted_codes(outputs, target_attributes["_multilabel"]),
                sample_weight=sample_weight,
            )
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.classifier_tags.multi_label = True
        return tags
