"""The regressor's target scaling: each target's range into the sigmoid's.

The network's output is a sigmoid, in (0, 1). With ``scale_target=True`` the
regressor maps each target's training range (over the rows of positive weight)
affinely into :data:`TARGET_RANGE` for training and maps the sigmoid back at
predict time; ``predict`` returns ``offset + scale * sigmoid``. NumPy only.
"""

import numpy as np

__all__ = ["TARGET_RANGE", "TargetScaler", "target_range"]

#: Targets are mapped into this part of the sigmoid's range: far enough from 0
#: and 1 that the sigmoid is not saturated at the extremes.
TARGET_RANGE = (0.1, 0.9)


def target_range(y, sample_weight=None):
    """Per-target ``(min, max)`` over the rows of positive weight.

    Parameters
    ----------
    y : ndarray of shape (n_samples, n_outputs)
        Targets.
    sample_weight : ndarray of shape (n_samples,), default=None
        Weights; rows of weight 0 do not count.

    Returns
    -------
    low, high : ndarray of shape (n_outputs,), or None
        None when no row has a positive weight.

    Examples
    --------
    >>> import numpy as np
    >>> target_range(np.array([[1.0], [5.0], [3.0]]), np.array([1.0, 0.0, 1.0]))
    (array([1.]), array([3.]))
    """
    if sample_weight is not None:
        y = y[sample_weight > 0]
    if y.shape[0] == 0:
        return None
    return y.min(axis=0), y.max(axis=0)


class TargetScaler:
    """The affine map between targets and sigmoid units.

    Parameters
    ----------
    offset : ndarray of shape (n_outputs,)
        ``y = offset + scale * s``.
    scale : ndarray of shape (n_outputs,)
        0 for a constant target, which is then predicted exactly.

    Examples
    --------
    >>> import numpy as np
    >>> scaler = TargetScaler.fit(np.array([[0.0], [8.0]]), dtype=np.float64)
    >>> scaler.transform(np.array([[0.0], [4.0], [8.0]])).ravel()
    array([0.1, 0.5, 0.9])
    >>> scaler.inverse(np.array([[0.5]])).ravel()
    array([4.])
    """

    def __init__(self, offset, scale):
        self.offset, self.scale = offset, scale

    @classmethod
    def fit(cls, y, *, dtype, enabled=True):
        """The map of ``y``'s per-target range into :data:`TARGET_RANGE`.

        Parameters
        ----------
        y : ndarray of shape (n_samples, n_outputs)
            Training targets of positive weight.
        dtype : numpy dtype
            The model's floating dtype.
        enabled : bool, default=True
            False gives the identity (targets used as given).

        Returns
        -------
        scaler : TargetScaler

        Raises
        ------
        ValueError
            If the range is so wide that predictions would overflow ``dtype``.
        """
        n_outputs = y.shape[1]
        if not enabled:
            return cls(np.zeros(n_outputs, dtype), np.ones(n_outputs, dtype))
        low, high = TARGET_RANGE
        y_min, y_max = y.min(axis=0), y.max(axis=0)
        scale = (y_max - y_min) / (high - low)
        offset = y_min - low * scale
        # Predictions span [offset, offset + scale]: all of it must be finite.
        if not np.isfinite(np.concatenate([scale, offset, offset + scale])).all():
            raise ValueError(
                f"The range of y, [{y_min.min()}, {y_max.max()}], is too wide for "
                f"{np.dtype(dtype).name} with scale_target=True (its width / 0.8 "
                "must be finite): rescale y."
            )
        return cls(offset.astype(dtype), scale.astype(dtype))

    def transform(self, y):
        """Targets in sigmoid units (0.5 for a constant target)."""
        scale = self.scale
        safe_scale = np.where(scale > 0, scale, 1)
        scaled = np.where(scale > 0, (y - self.offset) / safe_scale, 0.5)
        return scaled.astype(y.dtype, copy=False)

    def inverse(self, s):
        """Targets from sigmoid outputs."""
        return self.offset + self.scale * s

    def check_expressible(self, y):
        """Raise if some of ``y`` lies outside what the map can predict.

        A target can be predicted when it maps into the sigmoid's open range
        (0, 1); a constant training target (scale 0) can predict that value
        only: any other would map to 0.5 and be lost without a word.

        Raises
        ------
        ValueError
            Naming the per-target range that can be predicted.
        """
        scaled = (y - self.offset) / np.where(self.scale > 0, self.scale, 1)
        constant = self.scale == 0
        outside = np.where(constant, y != self.offset, (scaled <= 0) | (scaled >= 1))
        if np.any(outside):
            raise ValueError(
                "y holds values outside the range the model can predict, "
                f"[{self.inverse(0).tolist()}, {self.inverse(1).tolist()}] per "
                "target (fixed by the first fit/partial_fit call with "
                "scale_target=True; a constant target can predict only its "
                "value). Refit from scratch (warm_start=False) with data covering "
                "the whole target range."
            )
