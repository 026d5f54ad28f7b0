"""What the regressor and the classifier share: validation, fit and predict.

:class:`BaseTinyConv` validates inputs (:mod:`._inputs`) and hyperparameters,
builds the network (:mod:`._network`), trains it (:mod:`._training`) and
commits the result all or nothing; it runs the one forward pass
(:mod:`._kernels`) for ``predict`` and ``feature_maps``. A subclass adds its
output head and loss: how targets are encoded for the head, how validation is
scored, and what ``predict`` returns.
"""

import numbers
import warnings
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._callbacks import CallbackSupportMixin, EpochHooks, with_callbacks
from ._constraints import PARAMETER_CONSTRAINTS, PER_BLOCK, validate_params
from ._inputs import validate_images, validate_sample_weight
from ._kernels import TrainingData, forward
from ._network import NetworkSpec, initialize
from ._optimizers import SGD, Adam, adam_dense_step_scale
from ._parallel import n_threads
from ._partial_fit import PartialFitEarlyStoppingError, unless_early_stopping
from ._pooling import pool_forward
from ._training import Trainer, TrainingState, caller_stacklevel

__all__ = ["BaseTinyConv", "PartialFitEarlyStoppingError", "unless_early_stopping",
           "with_callbacks"]


#: ``_forward``'s default ``maps_block``: the logits, no block's maps. Not
#: None, so that ``feature_maps(X, block=None)`` is refused as a bad block.
_LOGITS = object()


class BaseTinyConv(CallbackSupportMixin, BaseEstimator):
    """Base class of the estimators; not for direct use.

    A subclass defines ``_y_validation`` (the keywords of ``validate_data``
    for ``y``), ``_encode_targets`` (targets for its head, and the head),
    ``_validation_score`` and ``predict``.
    """

    #: The values each parameter accepts: the one table of both estimators,
    #: which ``fit`` checks every parameter against (a parameter missing from
    #: it is an error).
    _parameter_constraints: ClassVar[dict] = PARAMETER_CONSTRAINTS

    #: ``batch_size="auto"`` is ``min(_auto_batch_size, n_samples)``: each
    #: estimator's by evidence (docs/notes/defaults.md).
    _auto_batch_size = 200

    # ---------------------------------------------------------- the network

    def _blocks(self):
        """The per-block values of the architecture's parameters.

        Returns ``n_filters`` as a tuple (one entry per block) and a dict
        with a list of ``kernel_size``, ``padding``, ``pooling`` and
        ``pool_size`` values, one per block: a list parameter as given, any
        other value repeated.
        """
        n_filters = self.n_filters
        if isinstance(n_filters, numbers.Integral):
            n_filters = (n_filters,)
        n_filters = tuple(int(f) for f in n_filters)
        per_block = {}
        for name in PER_BLOCK:
            value = getattr(self, name)
            if isinstance(value, list):
                if len(value) != len(n_filters):
                    raise ValueError(
                        f"{name} is a list of {len(value)} values, one per "
                        f"block, but n_filters={self.n_filters!r} has "
                        f"{len(n_filters)} block(s): give one value for every "
                        "block, or a list of that length."
                    )
                per_block[name] = list(value)
            else:
                per_block[name] = [value] * len(n_filters)
        return n_filters, per_block

    def _network_spec(self, image_shape, n_outputs):
        n_filters, per_block = self._blocks()
        return NetworkSpec.build(
            image_shape, n_filters, per_block["kernel_size"], per_block["padding"],
            per_block["pooling"], per_block["pool_size"], n_outputs=n_outputs,
            fit_intercept=self.fit_intercept, activation=self.activation,
        )

    @property
    def _spec(self):
        # Stored as a plain tuple: the fitted state pickles as builtins only.
        return NetworkSpec.from_description(self._architecture_fields)

    def _theta(self):
        return self._spec.pack(
            self.kernels_, self.kernel_intercepts_, self.coef_, self.intercept_,
            self.coef_.dtype,
        )

    def _new_optimizer(self, spec, dtype):
        if self.solver == "sgd":
            return SGD(
                spec.size, dtype, self.learning_rate, momentum=self.momentum,
                nesterovs_momentum=self.nesterovs_momentum,
            )
        return Adam(
            spec.size, dtype, self.learning_rate, beta_1=self.beta_1,
            beta_2=self.beta_2, epsilon=self.epsilon,
        )

    def _configure_optimizer(self, optimizer, spec):
        """Hyperparameters changed by set_params between fits take effect."""
        if isinstance(optimizer, SGD):
            optimizer.momentum = self.momentum
            optimizer.nesterovs_momentum = self.nesterovs_momentum
        else:
            optimizer.beta_1, optimizer.beta_2 = self.beta_1, self.beta_2
            optimizer.epsilon = self.epsilon
            coef = spec.coef_slice
            optimizer.scaled = (coef.start, coef.stop, adam_dense_step_scale(
                spec.n_hidden
            ))
        if optimizer.initial_learning_rate != self.learning_rate:
            # The moments are kept; the step size restarts from the new one.
            optimizer.set_learning_rate(self.learning_rate)

    # ------------------------------------------------------------------ fit

    def _fit(self, X, y, sample_weight, *, incremental, classes=None):
        # Callback context first, so that a failed fit that restores __dict__
        # below still lets with_callbacks tear the callbacks down.
        hooks = EpochHooks(self, X, y, sample_weight, incremental=incremental)
        # All or nothing: any error (bad input, divergence) leaves the model as
        # it was. Fitted arrays are replaced, never written in place, so a
        # shallow copy of __dict__ is a snapshot. Hostile inputs can overflow:
        # the results are checked instead of letting RuntimeWarnings out.
        saved = dict(self.__dict__)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self._fit_all_or_nothing(
                    X, y, sample_weight, incremental, hooks, classes
                )
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        hooks.end_fit()
        return self

    def _fit_all_or_nothing(self, X, y, sample_weight, incremental, hooks, classes):
        validate_params(self.get_params(deep=False), self._parameter_constraints)
        if incremental and self.early_stopping:
            # A bound partial_fit taken before set_params(early_stopping=True).
            raise PartialFitEarlyStoppingError()
        first_call = not (
            (incremental or self.warm_start) and hasattr(self, "kernels_")
        )
        images, image_shape, y = validate_images(self, X, reset=first_call, y=y)
        dtype = images.dtype
        n_samples = images.shape[0]
        sample_weight = validate_sample_weight(sample_weight, n_samples, dtype)
        y, targets, sample_weight, head, target_attributes = self._encode_targets(
            y, sample_weight, dtype, first_call=first_call, classes=classes
        )
        if sample_weight is not None:
            # Zero-weight rows contribute nothing: drop them before batching so
            # that weighting and repeating rows train identically.
            keep = sample_weight > 0
            if not keep.all():
                images, y = images[keep], y[keep]
                targets, sample_weight = targets[keep], sample_weight[keep]
        spec = self._network_spec(image_shape, targets.shape[1])
        if first_call:
            rng = check_random_state(self.random_state)
            theta = initialize(spec, rng, self.kernel_scale, dtype)
            state = TrainingState(self._new_optimizer(spec, dtype), rng)
        else:
            self._check_same_architecture(spec)
            theta = self._theta()
            # A copy: training changes it, and a failed call must leave the
            # model's state (generator included) where it was.
            state = TrainingState.from_dict(self._training_state)
            if not isinstance(state.optimizer, SGD if self.solver == "sgd" else Adam):
                state.optimizer = self._new_optimizer(spec, dtype)
        self._configure_optimizer(state.optimizer, spec)

        validation = None
        if self.early_stopping and not incremental:
            train, val = self._split_validation(
                images, y, targets, sample_weight, state.rng
            )
            images, y, targets, sample_weight = train
            validation = self._validator(spec, head, *val, target_attributes)
        data = TrainingData(spec, images, targets, sample_weight)
        trainer = Trainer(
            spec, head, data, self, batch_size=self._batch_size(images.shape[0]),
            validation=validation, hooks=hooks,
        )
        hooks.fitted_attributes = lambda theta: self._fitted_attributes(
            spec, theta, target_attributes
        )
        theta, n_iter = trainer.run(theta, state, incremental=incremental)
        # Commit: nothing on self changes unless training finished (or was
        # interrupted between epochs), so a diverged fit leaves no half model.
        for name, value in self._fitted_attributes(
            spec, theta, target_attributes
        ).items():
            setattr(self, name, value)
        self._training_state = state.to_dict()
        for name, value in state.fitted_attributes(
            n_iter, self.early_stopping
        ).items():
            setattr(self, name, value)

    def _fitted_attributes(self, spec, theta, target_attributes):
        """The fitted attributes that a flat parameter vector stands for."""
        params = spec.unpack(theta)
        return {
            "kernels_": params["kernels"],
            "kernel_intercepts_": params["kernel_intercepts"],
            "coef_": params["coef"],
            "intercept_": params["intercept"],
            "image_shape_": tuple(int(d) for d in spec.image_shape),
            "kernel_size_": [block.kernel_hw for block in spec.blocks],
            "padding_": [block.padding for block in spec.blocks],
            "pooling_": [block.pooling for block in spec.blocks],
            "pool_size_": [block.pool_hw for block in spec.blocks],
            "activation_": spec.activation,
            "n_outputs_": int(spec.n_outputs),
            "_architecture_fields": spec.describe(),
            **target_attributes,
        }

    def _check_same_architecture(self, spec):
        fitted = self._spec
        if spec != fitted:
            names = ("image_shape", "n_filters", "kernel_size", "padding", "pooling",
                     "pool_size", "n_outputs", "fit_intercept", "activation")
            differ = [
                f"{name}: fitted {old!r}, now {new!r}"
                for name, old, new in zip(
                    names, fitted.describe(), spec.describe(), strict=True
                )
                if old != new
            ]
            raise ValueError(
                "warm_start / partial_fit needs the architecture of the fitted "
                f"model; the resolved values per block differ ({'; '.join(differ)})."
                " Set warm_start=False to refit."
            )

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(self._auto_batch_size, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` larger than sample size. It is going to be "
                f"clipped to {n_samples}.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        return min(self.batch_size, n_samples)

    def _split_validation(self, images, y, targets, sample_weight, rng):
        n_samples = images.shape[0]
        train_idx, val_idx = self._validation_indices(images, y, sample_weight, rng)
        if len(val_idx) < 2 or len(train_idx) < 1:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset: early_stopping with "
                f"validation_fraction={self.validation_fraction} holds out "
                f"{len(val_idx)} of {n_samples} sample(s): at least 2 are "
                "needed (and 1 to train on)."
            )

        def rows(idx):
            weights = None if sample_weight is None else sample_weight[idx]
            return images[idx], y[idx], targets[idx], weights

        return rows(train_idx), rows(val_idx)

    def _validation_indices(self, images, y, sample_weight, rng):
        """``(train, validation)`` row indices for early stopping."""
        n_samples = images.shape[0]
        n_val = int(np.ceil(self.validation_fraction * n_samples))
        if n_val < 2 or n_samples - n_val < 1:  # too small: the caller says so
            return np.arange(max(n_samples - n_val, 0)), np.arange(n_val)
        return train_test_split(
            np.arange(n_samples), test_size=n_val, random_state=rng,
            stratify=self._stratify(y),
        )

    def _stratify(self, y):
        return None

    def _validator(self, spec, head, images, y, targets, sample_weight,
                   target_attributes):
        """``theta -> (score, loss)`` on the validation rows."""

        threads = n_threads(self.n_jobs)

        def validation(theta):
            logits = forward(spec, theta, images, n_threads=threads)
            outputs = head.activate(logits.copy())
            weight = len(y) if sample_weight is None else float(sample_weight.sum())
            loss = head.loss_sum(logits, outputs, targets, sample_weight) / weight
            score = self._validation_score(
                y, outputs, sample_weight, target_attributes
            )
            return score, loss

        return validation

    # -------------------------------------------------------------- predict

    def _forward(self, X, *, maps_block=_LOGITS):
        """Validate ``X`` and run the forward pass: the logits, or a block's maps.

        The pass works in cache-sized chunks, shared by ``n_jobs`` threads
        each with its own buffers, which bounds its extra memory whatever the
        number of images.
        """
        check_is_fitted(self)
        spec = self._spec
        if maps_block is not _LOGITS and not (
            isinstance(maps_block, numbers.Integral)
            and not isinstance(maps_block, bool)
            and -spec.depth <= maps_block < spec.depth
        ):
            raise ValueError(
                f"block must be an int in [0, {spec.depth}) (or from -{spec.depth}"
                f" counting from the last), the model's {spec.depth} "
                f"convolution block(s); got {maps_block!r}."
            )
        # Casting to a float32 model may overflow (sklearn then reports the
        # inf), and sklearn's finiteness test sums X, which can give inf - inf.
        with np.errstate(over="ignore", invalid="ignore"):
            images, _ = validate_images(self, X, reset=False)
        out = None
        if maps_block is _LOGITS:
            maps_block = 0
        else:
            maps_block = int(maps_block) % spec.depth
            block = spec.blocks[maps_block]
            out = np.empty((images.shape[0], block.n_filters, *block.map_hw),
                           images.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            return forward(spec, self._theta(), images, maps=out,
                           maps_block=maps_block,
                           n_threads=n_threads(self.n_jobs))

    def feature_maps(self, X, block=0):
        """Return a block's activated feature maps of images ``X`` (before pooling).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Images, in the same form as during fit.
        block : int, default=0
            The convolution block, from 0 (the first, which reads the
            images); negative values count from the last (-1).

        Returns
        -------
        maps : ndarray of shape (n_samples, n_filters[block], ho, wo)
            ``activation(conv(x, kernels_[block]) + kernel_intercepts_[block])``
            for each image, ``x`` being the images for block 0 and the
            previous block's pooled maps (:meth:`pooled_maps`) after it.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvRegressor
        >>> X = np.random.RandomState(0).rand(20, 3, 3)
        >>> model = TinyConvRegressor(n_filters=2, kernel_size=2, tol=1e-3,
        ...                           random_state=0)
        >>> model.fit(X, X.sum(axis=(1, 2))).feature_maps(X).shape
        (20, 2, 3, 3)
        """
        return self._forward(X, maps_block=block)

    def pooled_maps(self, X, block=0):
        """Return a block's output maps: its feature maps after pooling.

        The last block's are what the dense layer sees: ``coef_`` has one row
        per value of these maps, in C order over ``(n_filters, hp, wp)``, so
        ``pooled_maps(X, block=-1).reshape(len(X), -1) @ coef_ + intercept_``
        is the dense layer's output. Each other block's are the next block's
        input.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Images, in the same form as during fit.
        block : int, default=0
            The convolution block, from 0; negative values count from the
            last (-1).

        Returns
        -------
        maps : ndarray of shape (n_samples, n_filters[block], hp, wp)
            :meth:`feature_maps` pooled over ``pool_size_[block]`` windows
            (max or mean), the rows and columns that fill no window dropped:
            ``(hp, wp) = (ho // ph, wo // pw)``. Without pooling, the feature
            maps themselves.

        Examples
        --------
        >>> import numpy as np
        >>> from sktinycnn import TinyConvRegressor
        >>> X = np.random.RandomState(0).rand(20, 6, 7)
        >>> model = TinyConvRegressor(n_filters=2, kernel_size=2, pooling="max",
        ...                           pool_size=2, tol=1e-3, random_state=0)
        >>> model = model.fit(X, X.sum(axis=(1, 2)))
        >>> model.feature_maps(X).shape, model.pooled_maps(X).shape
        ((20, 2, 6, 7), (20, 2, 3, 3))
        >>> model.coef_.shape
        (18, 1)
        """
        maps = self.feature_maps(X, block)
        spec_block = self._spec.blocks[int(block) % self._spec.depth]
        if spec_block.pooling is None:
            return maps
        return pool_forward(maps, spec_block.pooling, spec_block.pool_hw)

    # ----------------------------------------------------------------- misc

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
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
                f"This {type(self).__name__} was pickled with sktinycnn "
                f"{pickled_version} and is being loaded with {__version__}; "
                "this might lead to breaking code or invalid results. Refit it "
                "with the installed version.",
                UserWarning,
                stacklevel=2,
            )
        super().__setstate__(state)

