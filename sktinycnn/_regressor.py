"""TinyConvRegressor: the network with a sigmoid head and half squared error.

The regressor's own part of the estimator: its output head
(:class:`._heads.SigmoidSquaredError`), its target scaling
(:class:`._target_scaling.TargetScaler`), R² for validation scores, and
``predict``. Everything else is :class:`._base.BaseTinyConv`'s.
"""

from typing import ClassVar

import numpy as np
from scipy.special import expit
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score

from ._base import BaseTinyConv, unless_early_stopping, with_callbacks
from ._heads import SigmoidSquaredError
from ._target_scaling import TargetScaler

__all__ = ["TinyConvRegressor"]


class TinyConvRegressor(RegressorMixin, BaseTinyConv):
    """Tiny convolutional network regressor: conv -> tanh -> pool -> dense -> sigmoid.

    The network of the "Only Numpy: Implementing Convolutional Neural Network"
    tutorial as a scikit-learn regressor: each image goes through a 2-D true
    convolution (``scipy.signal.convolve2d`` semantics, summed over channels)
    with ``n_filters`` kernels, a tanh, an optional max or average pooling, a
    flatten, a dense layer with one output per target and a logistic sigmoid.
    A sequence ``n_filters=(16, 32)`` chains convolution blocks (conv ->
    activation -> pooling), each on the previous block's maps.
    It is trained on half squared error by mini-batch SGD or Adam, with the
    training controls of :class:`~sklearn.neural_network.MLPRegressor`.

    Because the output is a sigmoid, each target is by default mapped from its
    training range into ``[0.1, 0.9]`` and mapped back at predict time
    (``scale_target=True``); predictions therefore stay within about 12.5% of
    the training range beyond its ends.

    Parameters
    ----------
    image_shape : None or tuple of int, default=None
        Shape of one image in a flat row of ``X``: ``(height, width)`` (one
        channel) or ``(channels, height, width)``. ``None`` treats a flat row
        of ``n`` features as one channel of the most square ``h x w`` with
        ``h * w = n`` and ``h <= w`` (64 -> 8x8, 10 -> 2x5, 7 -> 1x7). Ignored
        for 3-D ``X`` ``(n, h, w)`` and 4-D ``X`` ``(n, c, h, w)``, which are
        images already (a non-None value must then agree with them).
    n_filters : int or sequence of int, default=16
        Number of convolution kernels (feature maps) of each block. An int is
        one block; a sequence chains one block per entry, ``(16, 32)`` two,
        each block reading the previous block's (pooled) maps as its input
        channels. The tutorial has 1.
    kernel_size : int, tuple of int or list, default=5
        Kernel height and width: an int (square), a tuple ``(kh, kw)`` for
        every block, or a list with one such value per block. With
        ``padding="valid"`` a kernel larger than its block's input along an
        axis is clipped to it along that axis (see ``kernel_size_``). The
        tutorial's is 2.
    padding : {"valid", "same"} or list, default="same"
        ``"valid"``: only full overlaps (the tutorial); ``"same"``: maps as
        large as the block's input, exactly as ``convolve2d(..., "same")``.
        A list gives one value per block.
    pooling : {None, "max", "avg"} or list, default="max"
        Pooling after the activation, over non-overlapping ``pool_size``
        windows from the top-left (stride = the window; rows and columns that
        do not fill a window are dropped, as PyTorch's ``ceil_mode=False``).
        Max pooling sends the gradient to the first maximum of each window
        (row-major), as PyTorch does. ``None`` is the tutorial's network. A
        list gives one value per block.
    pool_size : int, tuple of int, "global" or list, default=4
        Pooling window ``(ph, pw)``; ``"global"`` pools each whole map to one
        value. A window larger than the map along an axis is clipped to the
        map (see ``pool_size_``). A list gives one value per block
        (``[2, "global"]``). Ignored in a block without pooling.
    activation : {"tanh", "relu", "logistic", "identity"}, default="tanh"
        Activation of every block (MLPRegressor's word and values). The
        tutorial's is tanh.
    fit_intercept : bool, default=True
        Whether to learn a bias per feature map and per output. The tutorial
        has none (``False``).
    kernel_scale : float or None, default=None
        Standard deviation of every initial weight, kernels and dense weights
        alike (the tutorial's ``randn(...) * 4`` is ``kernel_scale=4``).
        ``None`` is fan-in based: kernels get ``1 / sqrt(channels * kh * kw)``
        (LeCun normal, suited to tanh; ``sqrt(2)`` times that with relu, He
        normal) and dense weights ``0.1 / sqrt(n_hidden)``, with ``n_hidden =
        n_filters[-1] * hp * wp`` the dense layer's inputs
        (``coef_.shape[0]``), small so that every output starts near the
        sigmoid's centre (larger random outputs made some seeds stall on a
        plateau).
    scale_target : bool, default=True
        Map each target's training range (over rows of positive weight) into
        ``[0.1, 0.9]`` for training and back at predict. A constant target maps
        to 0.5 and is predicted exactly. ``False`` uses targets as given, as the
        tutorial does; they should then lie in (0, 1).
    solver : {"sgd", "adam"}, default="adam"
        The optimiser. With ``"adam"`` the steps of the dense weights are
        scaled by ``min(1, 256 / n_hidden)`` (``n_hidden = coef_.shape[0]``,
        the size of the last block's pooled maps), so
        that the same ``learning_rate`` suits small and large images (see
        Notes); ``"sgd"`` takes plain steps.
    learning_rate : float, default=0.015
        Initial step size (``learning_rate_init`` of MLPRegressor). The
        tutorial uses 0.7 with plain SGD on single images.
    learning_rate_schedule : {"constant", "invscaling", "adaptive"}, \
default="constant"
        Step-size schedule for ``solver="sgd"`` (MLPRegressor's
        ``learning_rate``): ``"invscaling"`` uses ``learning_rate / (t_ + 1) **
        power_t``; ``"adaptive"`` divides the step size by 5 each time the
        stopping rule fires and stops once it is below 1e-6.
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
        by the batch's total sample weight like MLPRegressor's.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(64, n_samples)`` (MLPRegressor's
        is ``min(200, n_samples)``: this network learns in fewer epochs from
        smaller batches, see ``docs/notes/defaults.md``). Larger than the
        number of samples, it is clipped with a warning. ``1`` is the
        tutorial's per-image update.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-6
        Tolerance of the stopping rule: training stops when the training loss
        (or, with ``early_stopping``, the validation score, or at a score
        within ``tol`` of the best the validation loss) has not improved by at
        least ``tol`` for ``n_iter_no_change`` consecutive epochs. The loss is
        in sigmoid units (at most 0.125), hence the small default.
    n_iter_no_change : int, default=5
        Epochs without improvement before the stopping rule fires
        (MLPRegressor's is 10; after the cooldown below, a shorter wait costs
        no score and much less time, see ``docs/notes/defaults.md``).
    n_iter_cooldown : int, default=2
        Epochs trained at a fifth of the step size once the stopping rule has
        fired, before training ends; they count in ``n_iter_`` and
        ``max_iter``. The last updates at the full step size leave the weights
        wherever their noise put them, and the cooldown settles them. ``0``
        stops when the rule fires, as MLPRegressor does (and the tutorial).
        ``partial_fit`` never cools down: each call is one epoch at the
        current step size.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        R² stops improving, and keep the weights of the best epoch. Scores
        within ``tol`` of the best tie, and ties rank by the validation loss
        (the later epoch on equal loss): an epoch that ties the best R² with a
        validation loss lower by more than ``tol`` is an improvement.
        ``partial_fit`` refuses it with a ValueError, as MLPRegressor's does:
        there is no fixed validation set across calls.
    validation_fraction : float, default=0.1
        Fraction of the training data held out with ``early_stopping``.
    shuffle : bool, default=True
        Whether to shuffle the samples at every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights (kernels first, then dense weights, from
        ``standard_normal``), the shuffling and the validation split.
    warm_start : bool, default=False
        Continue from the previous fit's weights, target scaling and optimiser
        state (MLPRegressor restarts its optimiser; this estimator keeps it).
    verbose : int, default=0
        ``> 0`` prints the loss (and validation score) after every epoch.
    n_jobs : int or None, default=None
        Threads for ``fit``, ``partial_fit``, ``predict``, ``feature_maps``
        and validation scoring: the chunks of each mini-batch (or of the
        images) are shared among them. ``None`` means 1 unless in a
        ``joblib.parallel_config`` context that sets ``n_jobs``; ``-1``
        means every core the process may use, ``-2`` all but one, and so on.
        Never more threads than ``joblib.cpu_count`` and the
        ``OMP_NUM_THREADS`` limit with which joblib's loky workers (by
        default ``cpu_count // n_jobs``, or ``inner_max_num_threads``) and
        Dask's workers start, so a fit inside ``GridSearchCV(n_jobs=k)`` does
        not oversubscribe the cores. The results do not depend on it: every
        chunk writes its own gradient and the gradients are summed in chunk
        order, so any ``n_jobs`` gives the same weights bit for bit. Threads
        are used only where a batch has several chunks and enough work to pay
        for them (not with ``batch_size=1`` or small images). While a fit or
        predict runs, BLAS runs on one thread per worker: that limit is
        process-wide (OpenBLAS has one thread count per process), so BLAS
        calls of the process's other threads meanwhile run on one thread too.
        See :ref:`scaling`.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(channels, height, width)`` of the images.
    kernel_size_ : list of tuple of int
        Effective ``(kh, kw)`` of each block after clipping to its input.
    padding_ : list of str
        Padding of each block.
    pooling_ : list of str or None
        Pooling of each block.
    pool_size_ : list of tuple of int or None
        Effective pooling window ``(ph, pw)`` of each block after clipping to
        its maps (None in a block without pooling).
    activation_ : str
        Activation of every block.
    kernels_ : list of ndarray of shape (n_filters[b], channels[b], kh, kw)
        Convolution kernels of each block, one array per block at every depth
        (true convolution: compare ``kernels_[0][0, 0]`` with the tutorial's
        w1). ``channels[b]`` is the image's channels for the first block and
        the previous block's ``n_filters`` after it.
    kernel_intercepts_ : list of ndarray of shape (n_filters[b],)
        Bias of each feature map of each block (zeros when
        ``fit_intercept=False``).
    coef_ : ndarray of shape (n_filters[-1] * hp * wp, n_outputs)
        Dense weights over the last block's C-order flattened (pooled) maps
        (the tutorial's w2); ``(hp, wp)`` is the maps' size ``(ho, wo)``
        without pooling.
    intercept_ : ndarray of shape (n_outputs,)
        Dense biases (zeros when ``fit_intercept=False``).
    target_offset_ : ndarray of shape (n_outputs,)
        ``predict`` returns ``target_offset_ + target_scale_ * sigmoid``.
    target_scale_ : ndarray of shape (n_outputs,)
        See ``target_offset_`` (0 and 1 with ``scale_target=False``; a
        constant target has scale 0).
    n_outputs_ : int
        Number of targets.
    n_features_in_ : int
        Number of features (pixels times channels) seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Epochs run by the last call to ``fit`` or ``partial_fit``.
    t_ : int or float
        Number of training samples seen since the model was initialised,
        counted by their weights when ``sample_weight`` is given (so that
        ``"invscaling"`` treats a weight of 2 like a repeated row).
    loss_ : float
        Training loss of the last epoch (sigmoid units, with penalty).
    loss_curve_ : list of float
        Training loss of every epoch since the model was initialised.
    best_loss_ : float or None
        Lowest training loss (None with ``early_stopping``).
    validation_scores_ : list of float or None
        Validation R² of every epoch (None without ``early_stopping``).
    validation_loss_curve_ : list of float or None
        Validation loss (sigmoid units, no penalty) of every epoch.
    best_validation_score_ : float or None
        Best validation R² (None without ``early_stopping``); the weights
        kept may be those of a later epoch within ``tol`` of it and of lower
        validation loss.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : Fully connected network regressor.

    Notes
    -----
    The loss of a batch is ``sum_i w_i * 0.5 * ||s_i - y_i||**2 / (sum_i w_i *
    n_outputs)`` in sigmoid units plus the L2 penalty, so ``batch_size=1``
    without weights is exactly the tutorial's per-image update.

    Adam moves every weight by about ``learning_rate`` per step whatever its
    gradient, and the dense weights' first steps are coherent, so one step
    moves each output by about ``learning_rate`` times the sum of the
    ``n_hidden`` feature-map values: with 28x28 images (729 or more dense
    inputs) plain Adam at a step size that trains small images saturates the
    sigmoid within an epoch, where training stalls. Scaling the dense steps by
    ``min(1, 256 / n_hidden)`` (the maximal-update rule for Adam) keeps their
    effect independent of the width; narrower layers and all kernels take
    plain Adam steps.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sktinycnn import TinyConvRegressor
    >>> X, digit = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> model = TinyConvRegressor(random_state=0)
    >>> model.fit(X[:1000], digit[:1000] / 9)
    TinyConvRegressor(random_state=0)
    >>> model.kernels_[0].shape, model.pool_size_, model.coef_.shape
    ((16, 1, 5, 5), [(4, 4)], (64, 1))
    >>> model.predict(X[1000:1003]).shape
    (3,)
    >>> round(model.score(X[1000:], digit[1000:] / 9), 2)
    0.8
    """

    _y_validation: ClassVar[dict] = {"multi_output": True, "y_numeric": True}
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
        scale_target=True,
        solver="adam",
        learning_rate=0.015,
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
        tol=1e-6,
        n_iter_no_change=5,
        n_iter_cooldown=2,
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
        self.scale_target = scale_target
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
        """Train the network on images ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Training images, flat (reshaped with ``image_shape``) or as images.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the loss is their weighted mean. Rows of zero
            weight are ignored (they also do not count for target scaling).

        Returns
        -------
        self : TinyConvRegressor
            The fitted estimator.

        Examples
        --------
        >>> from sktinycnn import TinyConvRegressor
        >>> from sktinycnn.datasets import load_tutorial
        >>> X, y = load_tutorial()
        >>> model = TinyConvRegressor(tol=1e-3, random_state=0).fit(X, y)
        >>> model.kernels_[0].shape, model.n_iter_ > 0
        ((16, 1, 5, 5), True)
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @unless_early_stopping
    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch over ``X``, continuing from the current weights.

        The first call fixes the image shape, the architecture and the target
        scaling (from this first batch's range); later calls must bring targets
        that map into the sigmoid's open range (0, 1), i.e. within 12.5% of
        that first range beyond its ends, or a ValueError is raised (never a
        silent loss: a constant first target can predict only that value, so
        any other later target is refused). The same holds for
        ``warm_start=True``.

        With ``early_stopping=True`` it is unavailable: getting it raises
        MLPRegressor's ValueError ("partial_fit does not support
        early_stopping=True"), which is also an AttributeError, so
        ``hasattr(model, "partial_fit")`` is False.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Training images.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : TinyConvRegressor
            The updated estimator.

        Examples
        --------
        >>> from sktinycnn import TinyConvRegressor
        >>> from sktinycnn.datasets import load_tutorial
        >>> X, y = load_tutorial()
        >>> model = TinyConvRegressor(random_state=0)
        >>> for _ in range(3):
        ...     model = model.partial_fit(X, y)
        >>> model.n_iter_, len(model.loss_curve_)
        (1, 3)
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _encode_targets(self, y, sample_weight, dtype, *, first_call, classes):
        """Targets in sigmoid units through the target scaling."""
        n_samples = y.shape[0]
        y_ndim = np.ndim(y)
        y = np.asarray(y, dtype=dtype).reshape(n_samples, -1)
        if not np.isfinite(y).all():
            raise ValueError(
                f"y has values too large for {np.dtype(dtype).name}, the dtype "
                "of X and of the model: pass X as float64 or rescale y."
            )
        # Only rows of positive weight count (the others are dropped).
        weighted = y if sample_weight is None else y[sample_weight > 0]
        if first_call:
            scaler = TargetScaler.fit(weighted, dtype=dtype, enabled=self.scale_target)
        else:
            scaler = TargetScaler(self.target_offset_, self.target_scale_)
            if self.scale_target:
                scaler.check_expressible(weighted)
            y_ndim = self._y_ndim
        attributes = {
            "target_offset_": scaler.offset,
            "target_scale_": scaler.scale,
            "_y_ndim": y_ndim,
        }
        return y, scaler.transform(y), sample_weight, SigmoidSquaredError(), attributes

    def _validation_score(self, y, outputs, sample_weight, target_attributes):
        scaler = TargetScaler(
            target_attributes["target_offset_"], target_attributes["target_scale_"]
        )
        return float(r2_score(y, scaler.inverse(outputs), sample_weight=sample_weight))

    def predict(self, X):
        """Predict targets for images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Images, in the same form as during fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, in the dtype the model was trained in; 1-D when ``y``
            was 1-D at fit.

        Examples
        --------
        >>> from sktinycnn import TinyConvRegressor
        >>> from sktinycnn.datasets import load_tutorial
        >>> X, y = load_tutorial()
        >>> model = TinyConvRegressor(tol=1e-3, random_state=0).fit(X, y)
        >>> model.predict(X).shape
        (4,)
        """
        logits = self._forward(X)
        scaler = TargetScaler(self.target_offset_, self.target_scale_)
        y_pred = scaler.inverse(expit(logits, out=logits))
        return y_pred.ravel() if self._y_ndim == 1 else y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
