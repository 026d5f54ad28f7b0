"""scikit-learn's callback API (``sklearn.callback``, 1.9+) for the estimators.

:class:`EpochHooks` drives the callbacks of one fit; on older scikit-learn,
where the API does not exist, empty stand-ins keep the estimators working.
"""

import numbers

try:  # scikit-learn >= 1.9 has a callback API; older versions simply lack it.
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # pragma: no cover - exercised on scikit-learn < 1.9

    class CallbackSupportMixin:  # an empty stand-in
        pass

    def with_callbacks(method):  # an identity stand-in
        return method


__all__ = ["CallbackSupportMixin", "EpochHooks", "with_callbacks"]


class EpochHooks:
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

    def end_epoch(self, theta):
        if self._context is None:
            return False
        return bool(
            self._epoch_context.call_on_fit_task_end(
                estimator=self._estimator,
                # Built only if a callback asks for the fitted estimator.
                reconstruction_attributes=lambda: self.fitted_attributes(
                    theta.copy()
                ),
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
