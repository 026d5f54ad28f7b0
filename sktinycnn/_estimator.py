"""TinyConvRegressor: validation, initialisation and the training loop.

Training runs through :mod:`._fastpath` (the in-place epoch loop and the fast
forward pass used by predict, feature maps and validation scoring);
:mod:`._network` initialises the weights and, with :mod:`._optimizers`, holds
the reference math that the fast path is tested against. This module joins
them into a scikit-learn regressor.
"""

import copy
import numbers
import os
import sys
import warnings
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    validate_data,
)

from . import __version__
from ._constraints import BOOLEAN, COMMON_CONSTRAINTS, validate_params
from ._conv import conv_output_shape
from ._fastpath import ConvolutionOverflowError, EpochRunner, forward_output
from ._images import as_images, resolve_image_shape, resolve_kernel_size
from ._network import initialize_params
from ._optimizers import (
    adam_dense_step_scale,
    decay_on_plateau,
    init_optimizer_state,
    scheduled_learning_rate,
)
from ._target_scaling import TargetScaler

try:  # scikit-learn >= 1.9 has a callback API; older versions simply lack it.
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # pragma: no cover - exercised on scikit-learn < 1.9

    class CallbackSupportMixin:  # an empty stand-in
        pass

    def with_callbacks(method):  # an identity stand-in
        return method


__all__ = ["TinyConvRegressor"]

class TinyConvRegressor(CallbackSupportMixin, RegressorMixin, BaseEstimator):
    """Tiny convolutional network regressor: conv -> tanh -> dense -> sigmoid.

    The network of the "Only Numpy: Implementing Convolutional Neural Network"
    tutorial as a scikit-learn regressor: each image goes through a 2-D true
    convolution (``scipy.signal.convolve2d`` semantics, summed over channels)
    with ``n_filters`` kernels, a tanh, a flatten, a dense layer with one
    output per target and a logistic sigmoid. It is trained on half squared
    error by mini-batch SGD or Adam, with the training controls of
    :class:`~sklearn.neural_network.MLPRegressor`.

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
    n_filters : int, default=1
        Number of convolution kernels (feature maps).
    kernel_size : int or tuple of int, default=2
        Kernel height and width. With ``padding="valid"`` a kernel larger than
        the image along an axis is clipped to the image along that axis (see
        ``kernel_size_``).
    padding : {"valid", "same"}, default="valid"
        ``"valid"``: only full overlaps (the tutorial); ``"same"``: maps as
        large as the image, exactly as ``convolve2d(..., "same")``.
    fit_intercept : bool, default=True
        Whether to learn a bias per feature map and per output. The tutorial
        has none (``False``).
    kernel_scale : float or None, default=None
        Standard deviation of every initial weight, kernels and dense weights
        alike (the tutorial's ``randn(...) * 4`` is ``kernel_scale=4``).
        ``None`` is fan-in based: kernels get ``1 / sqrt(channels * kh * kw)``
        (LeCun normal, suited to tanh) and dense weights ``0.1 / sqrt(n_filters
        * ho * wo)``, small so that every output starts near the sigmoid's
        centre (larger random outputs made some seeds stall on a plateau).
    scale_target : bool, default=True
        Map each target's training range (over rows of positive weight) into
        ``[0.1, 0.9]`` for training and back at predict. A constant target maps
        to 0.5 and is predicted exactly. ``False`` uses targets as given, as the
        tutorial does; they should then lie in (0, 1).
    solver : {"sgd", "adam"}, default="adam"
        The optimiser. With ``"adam"`` the steps of the dense weights are
        scaled by ``min(1, 256 / n_hidden)`` (``n_hidden = n_filters * ho *
        wo``), so that the same ``learning_rate`` suits small and large
        images (see Notes); ``"sgd"`` takes plain steps.
    learning_rate : float, default=0.02
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
        Mini-batch size; ``"auto"`` is ``min(200, n_samples)``. Larger than
        the number of samples, it is clipped with a warning. ``1`` is the
        tutorial's per-image update.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-6
        Tolerance of the stopping rule: training stops when the training loss
        (or, with ``early_stopping``, the validation score) has not improved by
        at least ``tol`` for ``n_iter_no_change`` consecutive epochs. The loss
        is in sigmoid units (at most 0.125), hence the small default.
    n_iter_no_change : int, default=10
        Epochs without improvement before the stopping rule fires.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        R² stops improving, and keep the weights of the best epoch.
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

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(channels, height, width)`` of the images.
    kernel_size_ : tuple of int
        Effective ``(kh, kw)`` after clipping to the image.
    kernels_ : ndarray of shape (n_filters, channels, kh, kw)
        Convolution kernels (true convolution: compare with the tutorial's w1).
    kernel_intercepts_ : ndarray of shape (n_filters,)
        Bias of each feature map (zeros when ``fit_intercept=False``).
    coef_ : ndarray of shape (n_filters * ho * wo, n_outputs)
        Dense weights over the C-order flattened maps (the tutorial's w2).
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
        Best validation R² (None without ``early_stopping``).

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
    >>> model = TinyConvRegressor(n_filters=4, kernel_size=3, random_state=0)
    >>> model.fit(X[:1000], digit[:1000] / 9)
    TinyConvRegressor(kernel_size=3, n_filters=4, random_state=0)
    >>> model.kernels_.shape, model.coef_.shape
    ((4, 1, 3, 3), (144, 1))
    >>> model.predict(X[1000:1003]).shape
    (3,)
    >>> round(model.score(X[1000:], digit[1000:] / 9), 2)
    0.74
    """

    def __init__(
        self,
        *,
        image_shape=None,
        n_filters=1,
        kernel_size=2,
        padding="valid",
        fit_intercept=True,
        kernel_scale=None,
        scale_target=True,
        solver="adam",
        learning_rate=0.02,
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
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        warm_start=False,
        verbose=0,
    ):
        self.image_shape = image_shape
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.padding = padding
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
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    # ------------------------------------------------------------------ checks

    _parameter_constraints: ClassVar[dict] = {
        **COMMON_CONSTRAINTS,
        "scale_target": [BOOLEAN],
    }

    def _validate_hyperparameters(self):
        """Check every constructor parameter (done in fit, never in __init__)."""
        validate_params(self.get_params(deep=False), self._parameter_constraints)

    def _validate_X(self, X, *, reset):
        """Flatten 3-D/4-D X for scikit-learn's validation; reject other ranks.

        Returns ``(X, nd_shape, dtype)``: X as 2-D rows (2-D input unchanged),
        the ``(channels, height, width)`` of image input (None for flat rows),
        and the dtype(s) to validate to. :meth:`_images` then validates with
        scikit-learn (so errors, ``n_features_in_`` and ``feature_names_in_``
        are sklearn's) and reshapes into images.
        """
        nd_shape = None
        if not sp.issparse(X) and not hasattr(X, "iloc"):
            ndim = getattr(X, "ndim", None)
            if ndim is None and isinstance(X, list | tuple):
                X = np.asarray(X)
                ndim = X.ndim
            if ndim in (3, 4):
                X = np.asarray(X)
                nd_shape = (1, *X.shape[1:]) if ndim == 3 else tuple(X.shape[1:])
                # Not -1: that cannot reshape zero images, and sklearn should
                # be the one to say "0 sample(s)".
                X = X.reshape(X.shape[0], int(np.prod(X.shape[1:])))
            elif ndim is not None and ndim > 4:
                raise ValueError(
                    "X must be 2-D (n_samples, n_features), 3-D (n_samples, "
                    "height, width) or 4-D (n_samples, channels, height, width); "
                    f"got an array with {ndim} dimensions."
                )
        dtype = (np.float64, np.float32) if reset else self.kernels_.dtype
        return X, nd_shape, dtype

    def _images(self, X, *, reset, y="no_validation"):
        X, nd_shape, dtype = self._validate_X(X, reset=reset)
        kwargs = {"accept_sparse": False, "dtype": dtype, "reset": reset}
        if isinstance(y, str) and y == "no_validation":
            X = validate_data(self, X, **kwargs)
        else:
            X, y = validate_data(
                self, X, y, multi_output=True, y_numeric=True, **kwargs
            )
        if reset:
            if nd_shape is not None:
                if self.image_shape is not None and resolve_image_shape(
                    self.image_shape, X.shape[1]
                ) != nd_shape:
                    raise ValueError(
                        f"image_shape={self.image_shape!r} does not match the "
                        f"images in X of shape (channels, height, width)="
                        f"{nd_shape}."
                    )
                image_shape = nd_shape
            else:
                image_shape = resolve_image_shape(self.image_shape, X.shape[1])
        else:
            image_shape = self.image_shape_
            if nd_shape is not None and nd_shape != image_shape:
                raise ValueError(
                    f"X holds images of shape {nd_shape} but {type(self).__name__} "
                    f"was fitted on images of shape {image_shape}."
                )
        images = as_images(X, image_shape)
        if isinstance(y, str) and y == "no_validation":
            return images, image_shape
        return images, image_shape, y

    def _validate_sample_weight(self, sample_weight, n_samples, dtype):
        if sample_weight is None:
            return None
        if isinstance(sample_weight, numbers.Number):
            sample_weight = np.full(n_samples, sample_weight, dtype=dtype)
        sample_weight = check_array(
            sample_weight,
            accept_sparse=False,
            ensure_2d=False,
            dtype=dtype,
            order="C",
            input_name="sample_weight",
        )
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight.shape == {sample_weight.shape}, expected "
                f"({n_samples},)."
            )
        if np.any(sample_weight < 0):
            raise ValueError("sample_weight must be non-negative.")
        if not np.isfinite(sample_weight.sum()):
            raise ValueError(
                f"sample_weight sums to infinity in {np.dtype(dtype).name}: use "
                "smaller weights."
            )
        if not sample_weight.sum() > 0:
            raise ValueError(
                "Sample weights sum to zero: at least one sample weight must be "
                "positive."
            )
        return sample_weight

    # ----------------------------------------------------------- fitted state

    def _params(self, *, training=False):
        """The fitted weights as the network's params dict.

        For training, the biases are None without ``fit_intercept`` so that
        they are neither used nor updated.
        """
        use_bias = self.fit_intercept or not training
        return {
            "kernels": self.kernels_,
            "kernel_intercepts": self.kernel_intercepts_ if use_bias else None,
            "coef": self.coef_,
            "intercept": self.intercept_ if use_bias else None,
        }

    # ------------------------------------------------------------------- fit

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
        >>> model.kernels_.shape, model.n_iter_ > 0
        ((1, 1, 2, 2), True)
        """
        return self._fit(X, y, sample_weight, incremental=False)

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
        if self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: there is no "
                "fixed validation set across calls. Use fit, or set "
                "early_stopping=False."
            )
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, *, incremental):
        # Callback context first, so that a failed fit that restores __dict__
        # below still lets with_callbacks tear the callbacks down.
        hooks = _EpochHooks(self, X, y, sample_weight, incremental=incremental)
        # All or nothing: any error (bad input, divergence) leaves the model as
        # it was. Fitted arrays are replaced, never written in place, so a
        # shallow copy of __dict__ is a snapshot. Hostile inputs can overflow:
        # the results are checked (finite y, weights, target map, loss and
        # weights) instead of letting RuntimeWarnings out.
        saved = dict(self.__dict__)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self._fit_all_or_nothing(
                    X, y, sample_weight, incremental=incremental, hooks=hooks
                )
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        hooks.end_fit()
        return self

    def _fit_all_or_nothing(self, X, y, sample_weight, *, incremental, hooks):
        self._validate_hyperparameters()
        first_call = not (
            (incremental or self.warm_start) and hasattr(self, "kernels_")
        )
        images, image_shape, y = self._images(X, reset=first_call, y=y)
        dtype = images.dtype
        y_ndim = np.ndim(y)
        y = np.asarray(y, dtype=dtype).reshape(images.shape[0], -1)
        if not np.isfinite(y).all():
            raise ValueError(
                f"y has values too large for {dtype.name}, the dtype of X and of "
                "the model: pass X as float64 or rescale y."
            )
        n_samples = images.shape[0]
        sample_weight = self._validate_sample_weight(sample_weight, n_samples, dtype)
        if sample_weight is not None:
            # Zero-weight rows contribute nothing: drop them before batching so
            # that weighting and repeating rows train identically.
            keep = sample_weight > 0
            if not keep.all():
                images, y, sample_weight = images[keep], y[keep], sample_weight[keep]
        kernel_hw = resolve_kernel_size(self.kernel_size, image_shape[1:], self.padding)

        if first_call:
            rng = check_random_state(self.random_state)
            scaler = TargetScaler.fit(y, dtype=dtype, enabled=self.scale_target)
            params = initialize_params(
                rng,
                image_shape=image_shape,
                n_filters=self.n_filters,
                kernel_hw=kernel_hw,
                padding=self.padding,
                n_outputs=y.shape[1],
                kernel_scale=self.kernel_scale,
                fit_intercept=self.fit_intercept,
                dtype=dtype,
            )
            state = {
                "rng": rng,
                "optimizer": init_optimizer_state(
                    self.solver, params, self.learning_rate
                ),
                "t": 0,
                "loss_curve": [],
                "best_loss": np.inf,
                "no_improvement_count": 0,
                "validation_scores": [],
                "validation_loss_curve": [],
                "best_validation_score": -np.inf,
            }
            image_shape_, y_ndim_ = image_shape, y_ndim
        else:
            self._check_same_architecture(image_shape, kernel_hw, y.shape[1])
            params = self._params(training=True)
            state = self._training_state_copy()
            image_shape_, y_ndim_ = self.image_shape_, self._y_ndim
            optimizer = state["optimizer"]
            if optimizer["solver"] != self.solver:
                state["optimizer"] = init_optimizer_state(
                    self.solver, params, self.learning_rate
                )
            elif optimizer["initial_learning_rate"] != self.learning_rate:
                # set_params(learning_rate=...) between continued fits takes
                # effect (the moments/velocities are kept): otherwise the kept
                # step size would silently ignore it.
                state["optimizer"] = {
                    **optimizer,
                    "learning_rate": float(self.learning_rate),
                    "initial_learning_rate": float(self.learning_rate),
                }

        if not first_call:
            scaler = TargetScaler(self.target_offset_, self.target_scale_)
            if self.scale_target:
                scaler.check_expressible(y)
        targets = scaler.transform(y)
        hooks.fitted_attributes = lambda params: {
            **_fitted_attributes(params, image_shape_, y_ndim_),
            "target_offset_": scaler.offset,
            "target_scale_": scaler.scale,
        }
        params, state, n_iter = self._train(
            images, y, targets, sample_weight, params, state, incremental, hooks,
            scaler,
        )
        # Commit: nothing on self changes unless training finished (or was
        # interrupted between epochs), so a diverged fit leaves no half model.
        self.target_offset_, self.target_scale_ = scaler.offset, scaler.scale
        for name, value in _fitted_attributes(params, image_shape_, y_ndim_).items():
            setattr(self, name, value)
        self._set_training_state(state, n_iter)

    def _check_same_architecture(self, image_shape, kernel_hw, n_outputs):
        expected = (
            self.image_shape_,
            self.kernels_.shape[0],
            tuple(self.kernels_.shape[2:]),
            self.n_outputs_,
        )
        got = (tuple(image_shape), self.n_filters, tuple(kernel_hw), n_outputs)
        ho_wo = conv_output_shape(image_shape[1:], kernel_hw, self.padding)
        n_hidden = self.n_filters * ho_wo[0] * ho_wo[1]
        if expected != got or n_hidden != self.coef_.shape[0]:
            raise ValueError(
                "warm_start / partial_fit needs the architecture of the fitted "
                f"model (image_shape, n_filters, kernel_size, padding, n_outputs) "
                f"= {expected[:3]}, padding giving {self.coef_.shape[0]} hidden "
                f"units, {expected[3]} outputs; got {got[:3]}, {n_hidden} hidden "
                f"units, {got[3]} outputs. Set warm_start=False to refit."
            )

    def _training_state_copy(self):
        return {
            # A copy: training draws from it, and a failed call must leave
            # the model's generator where it was.
            "rng": copy.deepcopy(self._random_state),
            "optimizer": copy.deepcopy(self._optimizer_state),
            "t": self.t_,
            "loss_curve": list(self.loss_curve_),
            "best_loss": np.inf if self.best_loss_ is None else self.best_loss_,
            "no_improvement_count": self._no_improvement_count,
            "validation_scores": list(self.validation_scores_ or []),
            "validation_loss_curve": list(self.validation_loss_curve_ or []),
            "best_validation_score": (
                -np.inf
                if self.best_validation_score_ is None
                else self.best_validation_score_
            ),
        }

    def _set_training_state(self, state, n_iter):
        self._random_state = state["rng"]
        self._optimizer_state = state["optimizer"]
        self._no_improvement_count = state["no_improvement_count"]
        self.n_iter_ = int(n_iter)
        self.t_ = state["t"]
        self.loss_curve_ = state["loss_curve"]
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        if self.early_stopping:
            self.best_loss_ = None
            self.validation_scores_ = state["validation_scores"]
            self.validation_loss_curve_ = state["validation_loss_curve"]
            self.best_validation_score_ = float(state["best_validation_score"])
        else:
            self.best_loss_ = float(state["best_loss"])
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` larger than sample size. It is going to be "
                f"clipped to {n_samples}.",
                UserWarning,
                stacklevel=_caller_stacklevel(),
            )
        return min(self.batch_size, n_samples)

    def _split_validation(self, images, y, targets, sample_weight, rng):
        n_samples = images.shape[0]
        n_val = int(np.ceil(self.validation_fraction * n_samples))
        if n_val < 2 or n_samples - n_val < 1:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset: early_stopping with "
                f"validation_fraction={self.validation_fraction}"
                f" leaves {n_val} validation sample(s) of {n_samples}: at least 2 "
                "are needed (and 1 to train on). Use more data, a larger "
                "validation_fraction or early_stopping=False."
            )
        train_idx, val_idx = train_test_split(
            np.arange(n_samples), test_size=n_val, random_state=rng
        )
        weights = (None, None) if sample_weight is None else (
            sample_weight[train_idx], sample_weight[val_idx]
        )
        train = (images[train_idx], y[train_idx], targets[train_idx], weights[0])
        val = (images[val_idx], y[val_idx], targets[val_idx], weights[1])
        return train, val

    def _train(
        self, images, y, targets, sample_weight, params, state, incremental, hooks,
        scaler,
    ):
        """The epoch loop. Works on local copies; returns the final state."""
        rng = state["rng"]
        validation = None
        if self.early_stopping and not incremental:
            (images, y, targets, sample_weight), validation = self._split_validation(
                images, y, targets, sample_weight, rng
            )
        n_samples = images.shape[0]
        batch_size = self._batch_size(n_samples)
        total_weight = n_samples if sample_weight is None else sample_weight.sum()
        optimizer = state["optimizer"]
        opt_kwargs = {
            "momentum": self.momentum,
            "nesterovs_momentum": self.nesterovs_momentum,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }
        best_params = None
        n_epochs = 1 if incremental else self.max_iter
        n_iter = 0
        # The batch loop runs in _fastpath: the math of loss_and_gradients and
        # update_params, in place on private buffers (params and optimizer are
        # only read; each epoch returns fresh ones).
        runner = EpochRunner(
            images, targets, sample_weight, params, batch_size=batch_size,
            alpha=self.alpha, padding=self.padding, solver=optimizer["solver"],
            dense_step_scale=adam_dense_step_scale(params["coef"].shape[0]),
            **opt_kwargs,
        )
        if not runner.pre_activations_finite():
            hint = " or fit in float64" if images.dtype == np.float32 else ""
            raise ConvolutionOverflowError(
                "X is so large that the convolution overflows "
                f"{images.dtype.name}, and training could only saturate the "
                f"network: scale the inputs (e.g. StandardScaler){hint}."
            )
        try:
            for _ in range(n_epochs):
                hooks.begin_epoch()
                order = rng.permutation(n_samples) if self.shuffle else None
                epoch_params, epoch_optimizer, accumulated = runner.run_epoch(
                    params, optimizer, order
                )
                epoch_loss = float(accumulated / total_weight)
                if not (
                    np.isfinite(epoch_loss)
                    and runner.params_finite()
                    and runner.pre_activations_finite()
                ):
                    raise ValueError(
                        f"Training diverged at epoch {n_iter + 1}: the loss, the "
                        "weights or the convolution are no longer finite. Lower "
                        "learning_rate "
                        "(or kernel_scale), or scale the inputs (e.g. "
                        "StandardScaler). The model was left as it was before "
                        "this call."
                    )
                # The epoch is complete: adopt it.
                params, optimizer = epoch_params, epoch_optimizer
                n_iter += 1
                # t_ counts samples seen, weighted: a weighted fit schedules
                # like a fit on rows repeated by their weights.
                state["t"] += total_weight
                state["loss_curve"].append(epoch_loss)
                if validation is not None:
                    improved = self._record_validation(
                        params, validation, state, scaler
                    )
                    if improved:
                        best_params = params
                if self.verbose:
                    self._print_progress(n_iter, state, validation is not None)
                if self.solver == "sgd":
                    optimizer = {
                        **optimizer,
                        "learning_rate": scheduled_learning_rate(
                            self.learning_rate_schedule,
                            self.learning_rate,
                            optimizer["learning_rate"],
                            state["t"],
                            self.power_t,
                        ),
                    }
                optimizer, stop = self._apply_stopping_rule(
                    state, optimizer, validation is not None
                )
                # A callback may ask to stop (e.g. a monitored score is good
                # enough): that ends training like the stopping rule does.
                stop |= hooks.end_epoch(params)
                if stop or incremental:
                    break
            else:
                if not incremental:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter})"
                        " reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=_caller_stacklevel(),
                    )
        except KeyboardInterrupt:
            if n_iter == 0:
                raise
            warnings.warn(
                "Training interrupted by user.",
                UserWarning,
                stacklevel=_caller_stacklevel(),
            )
        if best_params is not None:
            # Early stopping keeps the weights of the best validation epoch.
            params = best_params
        state["optimizer"] = optimizer
        return params, state, n_iter

    def _record_validation(self, params, validation, state, scaler):
        images, y, targets, sample_weight = validation
        output = forward_output(params, images, self.padding)
        residual = output - targets
        per_sample = 0.5 * np.einsum("ij,ij->i", residual, residual)
        val_loss = float(np.average(per_sample, weights=sample_weight) / y.shape[1])
        prediction = scaler.inverse(output)
        score = float(r2_score(y, prediction, sample_weight=sample_weight))
        state["validation_loss_curve"].append(val_loss)
        state["validation_scores"].append(score)
        improved = score > state["best_validation_score"]
        if score < state["best_validation_score"] + self.tol:
            state["no_improvement_count"] += 1
        else:
            state["no_improvement_count"] = 0
        if improved:
            state["best_validation_score"] = score
        return improved

    def _apply_stopping_rule(self, state, optimizer, early_stopping):
        if not early_stopping:
            loss = state["loss_curve"][-1]
            if loss > state["best_loss"] - self.tol:
                state["no_improvement_count"] += 1
            else:
                state["no_improvement_count"] = 0
            state["best_loss"] = min(state["best_loss"], loss)
        if state["no_improvement_count"] <= self.n_iter_no_change:
            return optimizer, False
        what = "Validation score" if early_stopping else "Training loss"
        message = (
            f"{what} did not improve more than tol={self.tol:f} for "
            f"{self.n_iter_no_change} consecutive epochs."
        )
        if self.solver == "sgd":
            stop, new_rate = decay_on_plateau(
                self.learning_rate_schedule, optimizer["learning_rate"]
            )
        else:
            stop, new_rate = True, optimizer["learning_rate"]
        if self.verbose:
            if stop and new_rate == optimizer["learning_rate"] and (
                self.learning_rate_schedule == "adaptive" and self.solver == "sgd"
            ):
                print(message + " Learning rate too small. Stopping.")
            elif stop:
                print(message + " Stopping.")
            else:
                print(message + f" Setting learning rate to {new_rate:f}")
        if not stop:
            state["no_improvement_count"] = 0
        return {**optimizer, "learning_rate": new_rate}, stop

    def _print_progress(self, n_iter, state, early_stopping):
        print(f"Iteration {n_iter}, loss = {state['loss_curve'][-1]:.8f}")
        if early_stopping:
            print(f"Validation score: {state['validation_scores'][-1]:f}")
        sys.stdout.flush()

    # --------------------------------------------------------------- predict

    def _forward(self, X, maps_shape=None):
        """Validate ``X`` and run the fast forward pass over it.

        Returns the sigmoid outputs, and the feature maps when ``maps_shape``
        (one image's) is given. The pass works in cache-sized chunks, which
        bounds its extra memory whatever the number of images.
        """
        # Casting to a float32 model may overflow (sklearn then reports the
        # inf), and sklearn's finiteness test sums X, which can give inf - inf.
        with np.errstate(over="ignore", invalid="ignore"):
            images, _ = self._images(X, reset=False)
        maps = None
        if maps_shape is not None:
            maps = np.empty((images.shape[0], *maps_shape), images.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            output = forward_output(self._params(), images, self.padding, maps=maps)
        return output, maps

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
        check_is_fitted(self)
        output, _ = self._forward(X)
        y_pred = TargetScaler(self.target_offset_, self.target_scale_).inverse(output)
        return y_pred.ravel() if self._y_ndim == 1 else y_pred

    def feature_maps(self, X):
        """Return the post-tanh feature maps of images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Images, in the same form as during fit.

        Returns
        -------
        maps : ndarray of shape (n_samples, n_filters, ho, wo)
            ``tanh(conv(x, kernels_) + kernel_intercepts_)`` for each image.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvRegressor
        >>> X = np.random.RandomState(0).rand(20, 3, 3)
        >>> model = TinyConvRegressor(n_filters=2, tol=1e-3, random_state=0)
        >>> model.fit(X, X.sum(axis=(1, 2))).feature_maps(X).shape
        (20, 2, 2, 2)
        """
        check_is_fitted(self)
        ho, wo = conv_output_shape(
            self.image_shape_[1:], self.kernel_size_, self.padding
        )
        return self._forward(X, (self.kernels_.shape[0], ho, wo))[1]

    # ------------------------------------------------------------------ misc

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        # Stored so that loading with another sktinycnn version can warn.
        state["_sktinycnn_version"] = __version__
        return state

    def __setstate__(self, state):
        pickled_version = state.get("_sktinycnn_version", __version__)
        if pickled_version != __version__:
            warnings.warn(
                f"This TinyConvRegressor was pickled with sktinycnn "
                f"{pickled_version} and is being loaded with {__version__}; "
                "this might lead to breaking code or invalid results. Refit it "
                "with the installed version.",
                UserWarning,
                stacklevel=2,
            )
        super().__setstate__(state)


def _caller_stacklevel():
    """``stacklevel`` that points a warning at the first frame outside sktinycnn.

    The warnings of fit are raised a varying depth below the user's call
    (partial_fit, warm starts, scikit-learn's callback wrapper), so a fixed
    stacklevel would point into this package or into scikit-learn.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    wrapper = os.path.join("sklearn", "callback", "")
    # Level 1 is the function that calls warnings.warn (our caller's frame).
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith(package)
        or wrapper in frame.f_code.co_filename
    ):
        frame, level = frame.f_back, level + 1
    return level


def _fitted_attributes(params, image_shape, y_ndim):
    """The fitted attributes that a params dict stands for.

    Absent biases (``fit_intercept=False``) are stored as zeros, so that the
    public attributes always have their documented shapes.
    """
    kernels, coef = params["kernels"], params["coef"]
    dtype = kernels.dtype
    intercepts, intercept = params["kernel_intercepts"], params["intercept"]
    return {
        "kernels_": kernels,
        "kernel_intercepts_": (
            np.zeros(kernels.shape[0], dtype) if intercepts is None else intercepts
        ),
        "coef_": coef,
        "intercept_": (
            np.zeros(coef.shape[1], dtype) if intercept is None else intercept
        ),
        "image_shape_": tuple(int(d) for d in image_shape),
        "kernel_size_": tuple(int(k) for k in kernels.shape[2:]),
        "n_outputs_": int(coef.shape[1]),
        "_y_ndim": y_ndim,
    }


class _EpochHooks:
    """scikit-learn's callback hooks (``sklearn.callback``, 1.9+) for one fit.

    The fit is the root task and every epoch a subtask, so ``ProgressBar``
    shows one bar per fit advancing by epoch, ``ScoringMonitor`` scores the
    model after every epoch, and a callback's ``on_fit_task_end`` returning
    True stops training after that epoch. Without the callback API (older
    scikit-learn) every method does nothing.
    """

    def __init__(self, estimator, X, y, sample_weight, *, incremental):
        self._estimator = estimator
        self._hook_kwargs = {
            "X": X,
            "y": y,
            "metadata": None if sample_weight is None else {
                "sample_weight": sample_weight
            },
        }
        self.fitted_attributes = None
        self._context = None
        if hasattr(estimator, "_init_callback_context"):
            max_iter = estimator.max_iter
            n_epochs = 1 if incremental else (
                max_iter if isinstance(max_iter, numbers.Integral) else None
            )
            self._context = estimator._init_callback_context(max_subtasks=n_epochs)
            self._context.call_on_fit_task_begin(
                estimator=estimator, **self._hook_kwargs
            )
        self._epoch_context = None

    def begin_epoch(self):
        if self._context is None:
            return
        self._epoch_context = self._context.subcontext(task_name="epoch")
        self._epoch_context.call_on_fit_task_begin(
            estimator=self._estimator, **self._hook_kwargs
        )

    def end_epoch(self, params):
        if self._context is None:
            return False
        return bool(
            self._epoch_context.call_on_fit_task_end(
                estimator=self._estimator,
                # Built only if a callback asks for the fitted estimator.
                reconstruction_attributes=lambda: self.fitted_attributes(params),
                **self._hook_kwargs,
            )
        )

    def end_fit(self):
        if self._context is None:
            return
        self._context.call_on_fit_task_end(
            estimator=self._estimator,
            reconstruction_attributes=lambda: {},
            **self._hook_kwargs,
        )
