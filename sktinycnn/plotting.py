"""Pictures of a fitted :class:`~sktinycnn.TinyConvRegressor` or
:class:`~sktinycnn.TinyConvClassifier`.

scikit-learn-style ``Display`` objects for the learned kernels, the feature
maps of a few images and the training curves. Each has a ``from_estimator``
class method that computes what to draw from a fitted model and plots it, and
a ``plot`` method that draws stored values (on axes you pass, or on a new
figure); both return the display, whose trailing-underscore attributes hold
the matplotlib objects.

matplotlib is an optional dependency (``pip install "sktinycnn[plot]"``): this
module imports it only when something is drawn.
"""

import numpy as np
from sklearn.base import is_classifier

from ._plot_tools import (
    CURVE_DRAW,
    KERNELS_DRAW,
    MAPS_DRAW,
    axes_grid,
    check_fitted,
    fill_doc,
    pyplot,
    show,
)

__all__ = ["FeatureMapsDisplay", "KernelsDisplay", "LossCurveDisplay"]


class KernelsDisplay:
    """Learned convolution kernels as images, one per filter and channel.

    Build it with :meth:`from_estimator`; the constructor only stores values.
    A diverging colour map centred on zero shows the sign of every weight.

    Parameters
    ----------
    kernels : ndarray of shape (n_filters, channels, kh, kw)
        The kernels, as in ``TinyConvRegressor.kernels_``.
    flip : bool, default=False
        Whether the kernels are shown rotated by 180 degrees, i.e. as the
        template that slides over the image (cross-correlation). ``False``
        shows ``kernels_`` as stored (true convolution kernels).

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn on.
    axes_ : ndarray of matplotlib.axes.Axes of shape (n_filters, channels)
        One axes per kernel.
    images_ : ndarray of matplotlib.image.AxesImage of shape \
(n_filters, channels)
        The drawn kernels.
    colorbar_ : matplotlib.colorbar.Colorbar or None
        The shared colour bar, if drawn.

    See Also
    --------
    FeatureMapsDisplay : What the kernels make of some images.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sktinycnn import TinyConvRegressor
    >>> from sktinycnn.plotting import KernelsDisplay
    >>> X, digit = load_digits(return_X_y=True)
    >>> model = TinyConvRegressor(n_filters=4, kernel_size=3, tol=1e-4,
    ...                           random_state=0).fit(X[:300] / 16, digit[:300])
    >>> display = KernelsDisplay.from_estimator(model)
    >>> display.axes_.shape, display.images_[0, 0].get_array().shape
    ((4, 1), (3, 3))
    """

    def __init__(self, kernels, *, flip=False):
        self.kernels = kernels
        self.flip = flip

    @classmethod
    @fill_doc(draw=KERNELS_DRAW)
    def from_estimator(
        cls, estimator, *, flip=False, axes=None, cmap="RdBu_r", annotate=None,
        colorbar=True,
    ):
        """Draw the kernels of a fitted estimator.

        Parameters
        ----------
        estimator : TinyConvRegressor or TinyConvClassifier
            A fitted model.
        flip : bool, default=False
            Show the kernels rotated by 180 degrees (the template that slides
            over the image) instead of as stored.
{draw}

        Returns
        -------
        display : KernelsDisplay
            The display, with the matplotlib objects in its attributes.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sktinycnn import TinyConvRegressor
        >>> from sktinycnn.datasets import load_tutorial
        >>> from sktinycnn.plotting import KernelsDisplay
        >>> X, y = load_tutorial()
        >>> model = TinyConvRegressor(n_filters=2, tol=1e-3, random_state=0).fit(X, y)
        >>> display = KernelsDisplay.from_estimator(model, flip=True)
        >>> display.axes_.shape
        (2, 1)
        """
        check_fitted(estimator)
        return cls(np.asarray(estimator.kernels_), flip=flip).plot(
            axes=axes, cmap=cmap, annotate=annotate, colorbar=colorbar
        )

    @fill_doc(draw=KERNELS_DRAW)
    def plot(self, *, axes=None, cmap="RdBu_r", annotate=None, colorbar=True):
        """Draw the kernels.

        Parameters
        ----------
{draw}

        Returns
        -------
        display : KernelsDisplay
            This display, with the matplotlib objects in its attributes.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from sktinycnn.plotting import KernelsDisplay
        >>> kernels = np.arange(8.0).reshape(2, 1, 2, 2) - 4
        >>> display = KernelsDisplay(kernels).plot(colorbar=False)
        >>> display.images_[1, 0].get_array().tolist()
        [[0.0, 1.0], [2.0, 3.0]]
        """
        kernels = np.asarray(self.kernels, dtype=float)
        if kernels.ndim != 4:
            raise ValueError(
                "kernels must have shape (n_filters, channels, kh, kw); got "
                f"shape {kernels.shape}."
            )
        if self.flip:
            kernels = kernels[:, :, ::-1, ::-1]
        n_filters, channels, kh, kw = kernels.shape
        if annotate is None:
            annotate = kh * kw <= 16
        size = 1.6 + 0.15 * max(kh, kw)
        if axes is None:
            # Filters side by side, channels one below the other: a row of
            # kernels for one-channel images.
            fig, grid = axes_grid(
                None, (channels, n_filters),
                (size * n_filters + 1.2, size * channels + 0.4),
            )
            axes = grid.T
        else:
            fig, axes = axes_grid(axes, (n_filters, channels), None)
        vmax = float(np.abs(kernels).max()) or 1.0
        images = np.empty((n_filters, channels), dtype=object)
        what = "flipped kernel" if self.flip else "kernel"
        for (f, c), ax in np.ndenumerate(axes):
            title = f"{what} {f}" + (f", channel {c}" if channels > 1 else "")
            images[f, c] = show(ax, kernels[f, c], title, cmap=cmap, vmin=-vmax,
                                 vmax=vmax)
            for (i, j), value in np.ndenumerate(kernels[f, c]) if annotate else ():
                ax.text(j, i, f"{value:.2g}", ha="center", va="center",
                        color="white" if abs(value) > 0.6 * vmax else "black")
        self.colorbar_ = (
            fig.colorbar(images[0, 0], ax=axes.ravel().tolist(), shrink=0.8)
            if colorbar
            else None
        )
        self.figure_, self.axes_, self.images_ = fig, axes, images
        return self


class FeatureMapsDisplay:
    """A few input images beside their post-tanh feature maps.

    One row per image: the image (mean over channels), then the map of every
    filter, ``tanh(conv(x, kernel) + intercept)``, on a fixed scale from -1 to
    1; for a model with pooling, the maps before pooling or, with
    ``pooled=True``, after it (what the dense layer sees).

    Parameters
    ----------
    images : ndarray of shape (n_images, channels, height, width)
        The input images.
    maps : ndarray of shape (n_images, n_filters, ho, wo)
        Their feature maps, as returned by ``TinyConvRegressor.feature_maps``
        (or by ``pooled_maps``, of shape (n_images, n_filters, hp, wp)).
    labels : list of str or None, default=None
        A label per image, shown in the title of its row's first axes.
    pooled : bool, default=False
        Whether ``maps`` are pooled maps; only the titles and the colour bar's
        label say so.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn on.
    axes_ : ndarray of matplotlib.axes.Axes of shape (n_images, 1 + n_filters)
        Column 0 holds the images, column ``1 + f`` the maps of filter ``f``.
    images_ : ndarray of matplotlib.image.AxesImage of shape \
(n_images, 1 + n_filters)
        The drawn images and maps.
    colorbar_ : matplotlib.colorbar.Colorbar or None
        The colour bar of the maps, if drawn.

    See Also
    --------
    KernelsDisplay : The kernels that make the maps.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sktinycnn import TinyConvRegressor
    >>> from sktinycnn.plotting import FeatureMapsDisplay
    >>> X, digit = load_digits(return_X_y=True)
    >>> model = TinyConvRegressor(n_filters=2, kernel_size=3, tol=1e-4,
    ...                           random_state=0).fit(X[:300] / 16, digit[:300])
    >>> display = FeatureMapsDisplay.from_estimator(model, X[:3] / 16)
    >>> display.axes_.shape, display.images_[0, 1].get_array().shape
    ((3, 3), (8, 8))
    """

    def __init__(self, images, maps, *, labels=None, pooled=False):
        self.images = images
        self.maps = maps
        self.labels = labels
        self.pooled = pooled

    @classmethod
    @fill_doc(draw=MAPS_DRAW)
    def from_estimator(cls, estimator, X, *, labels=None, pooled=False, axes=None,
                       cmap="gray_r", maps_cmap="RdBu_r", colorbar=True):
        """Draw some images and their feature maps under a fitted estimator.

        Parameters
        ----------
        estimator : TinyConvRegressor or TinyConvClassifier
            A fitted model.
        X : array-like of shape (n_images, n_features), \
(n_images, height, width) or (n_images, channels, height, width)
            A few images, in the form the model was fitted on.
        labels : list of str or None, default=None
            A label per image, shown in its row's first title.
        pooled : bool, default=False
            Draw the maps after pooling (``estimator.pooled_maps(X)``, what
            the dense layer sees) instead of before it; only for a model
            fitted with ``pooling``.
{draw}

        Returns
        -------
        display : FeatureMapsDisplay
            The display, with the matplotlib objects in its attributes.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sktinycnn import TinyConvRegressor
        >>> from sktinycnn.datasets import load_tutorial
        >>> from sktinycnn.plotting import FeatureMapsDisplay
        >>> X, y = load_tutorial()
        >>> model = TinyConvRegressor(n_filters=2, tol=1e-3, random_state=0).fit(X, y)
        >>> display = FeatureMapsDisplay.from_estimator(
        ...     model, X[2:4], labels=["x3", "x4"])
        >>> display.axes_.shape, display.axes_[0, 0].get_title()
        ((2, 3), 'x3')
        """
        check_fitted(estimator)
        if pooled and estimator.pool_size_ is None:
            raise ValueError(
                "pooled=True draws the pooled maps of a model fitted with pooling; "
                f"this {type(estimator).__name__} has pooling=None."
            )
        maps = (estimator.pooled_maps if pooled else estimator.feature_maps)(X)
        images = np.asarray(X, dtype=float).reshape(
            maps.shape[0], *estimator.image_shape_
        )
        return cls(images, maps, labels=labels, pooled=pooled).plot(
            axes=axes, cmap=cmap, maps_cmap=maps_cmap, colorbar=colorbar
        )

    @fill_doc(draw=MAPS_DRAW)
    def plot(self, *, axes=None, cmap="gray_r", maps_cmap="RdBu_r", colorbar=True):
        """Draw the images and their feature maps.

        Parameters
        ----------
{draw}

        Returns
        -------
        display : FeatureMapsDisplay
            This display, with the matplotlib objects in its attributes.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from sktinycnn.plotting import FeatureMapsDisplay
        >>> images = np.zeros((1, 1, 3, 3))
        >>> maps = np.full((1, 2, 2, 2), 0.5)
        >>> display = FeatureMapsDisplay(images, maps).plot()
        >>> [ax.get_title() for ax in display.axes_[0]]
        ['image', 'map 0', 'map 1']
        """
        images = np.asarray(self.images, dtype=float)
        maps = np.asarray(self.maps, dtype=float)
        if images.ndim != 4 or maps.ndim != 4 or images.shape[0] != maps.shape[0]:
            raise ValueError(
                "images must have shape (n_images, channels, height, width) and "
                "maps (n_images, n_filters, ho, wo) with the same n_images; got "
                f"{images.shape} and {maps.shape}."
            )
        n_images, n_filters = maps.shape[:2]
        labels = self.labels
        if labels is not None and len(labels) != n_images:
            raise ValueError(
                f"labels has {len(labels)} entries for {n_images} images."
            )
        fig, axes = axes_grid(
            axes, (n_images, 1 + n_filters),
            (1.6 * (1 + n_filters) + 0.8, 1.7 * n_images),
        )
        drawn = np.empty(axes.shape, dtype=object)
        what = "pooled map" if self.pooled else "map"
        for i in range(n_images):
            drawn[i, 0] = show(
                axes[i, 0], images[i].mean(axis=0),
                "image" if labels is None else str(labels[i]), cmap=cmap,
            )
            for f in range(n_filters):
                drawn[i, 1 + f] = show(axes[i, 1 + f], maps[i, f], f"{what} {f}",
                                        cmap=maps_cmap, vmin=-1, vmax=1)
        self.colorbar_ = (
            fig.colorbar(drawn[0, 1], ax=axes.ravel().tolist(), shrink=0.6,
                         label=f"{'pooled ' if self.pooled else ''}tanh activation")
            if colorbar and n_filters
            else None
        )
        self.figure_, self.axes_, self.images_ = fig, axes, drawn
        return self


class LossCurveDisplay:
    """Training loss per epoch and, with early stopping, the validation score.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss of every epoch (``loss_curve_``).
    validation_scores : array-like of shape (n_epochs,) or None, default=None
        Validation score of every epoch (``validation_scores_``: R² for the
        regressor, accuracy for the classifier), drawn on a second y axis.
    loss_label : str, default="training loss (sigmoid units)"
        Label of the loss axis (the regressor's loss; ``from_estimator`` says
        ``"training log-loss"`` for the classifier).
    score_label : str, default="validation R²"
        Label of the validation score's axis and curve (``from_estimator``
        says ``"validation accuracy"`` for the classifier).

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn on.
    ax_ : matplotlib.axes.Axes
        The axes of the training loss.
    line_ : matplotlib.lines.Line2D
        The training loss curve.
    validation_ax_ : matplotlib.axes.Axes or None
        The twin axes of the validation score, if drawn.
    validation_line_ : matplotlib.lines.Line2D or None
        The validation score curve, if drawn.

    See Also
    --------
    KernelsDisplay : The kernels learned.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sktinycnn import TinyConvRegressor
    >>> from sktinycnn.plotting import LossCurveDisplay
    >>> X, digit = load_digits(return_X_y=True)
    >>> model = TinyConvRegressor(max_iter=200, early_stopping=True,
    ...                           random_state=0).fit(X[:300] / 16, digit[:300])
    >>> display = LossCurveDisplay.from_estimator(model)
    >>> len(display.line_.get_xdata()) == model.n_iter_
    True
    >>> display.validation_line_ is not None
    True
    """

    def __init__(self, loss_curve, *, validation_scores=None,
                 loss_label="training loss (sigmoid units)",
                 score_label="validation R²"):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.loss_label = loss_label
        self.score_label = score_label

    @classmethod
    @fill_doc(draw=CURVE_DRAW)
    def from_estimator(cls, estimator, *, ax=None, logy=True, label=None):
        """Draw the training curves of a fitted estimator.

        Parameters
        ----------
        estimator : TinyConvRegressor or TinyConvClassifier
            A fitted model.
{draw}

        Returns
        -------
        display : LossCurveDisplay
            The display, with the matplotlib objects in its attributes.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sktinycnn import TinyConvRegressor
        >>> from sktinycnn.datasets import load_tutorial
        >>> from sktinycnn.plotting import LossCurveDisplay
        >>> X, y = load_tutorial()
        >>> model = TinyConvRegressor(n_filters=2, tol=1e-3, random_state=0).fit(X, y)
        >>> display = LossCurveDisplay.from_estimator(model)
        >>> display.line_.get_ydata().tolist() == model.loss_curve_
        True
        """
        check_fitted(estimator)
        labels = {}
        if is_classifier(estimator):
            labels = {"loss_label": "training log-loss",
                      "score_label": "validation accuracy"}
        return cls(
            estimator.loss_curve_,
            validation_scores=getattr(estimator, "validation_scores_", None),
            **labels,
        ).plot(ax=ax, logy=logy, label=label)

    @fill_doc(draw=CURVE_DRAW)
    def plot(self, *, ax=None, logy=True, label=None):
        """Draw the curves.

        Parameters
        ----------
{draw}

        Returns
        -------
        display : LossCurveDisplay
            This display, with the matplotlib objects in its attributes.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sktinycnn.plotting import LossCurveDisplay
        >>> display = LossCurveDisplay([0.1, 0.05, 0.04],
        ...                            validation_scores=[0.2, 0.5, 0.4]).plot()
        >>> display.validation_line_.get_ydata().tolist()
        [0.2, 0.5, 0.4]
        """
        plt = pyplot()
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        loss = np.asarray(self.loss_curve, dtype=float)
        epochs = np.arange(1, loss.size + 1)
        (self.line_,) = ax.plot(
            epochs, loss, color="C0",
            label="training loss" if label is None else label,
        )
        if logy and np.all(loss > 0):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(self.loss_label)
        ax.set_title("Training curve")
        handles = [self.line_]
        self.validation_ax_ = self.validation_line_ = None
        if self.validation_scores is not None and len(self.validation_scores):
            scores = np.asarray(self.validation_scores, dtype=float)
            self.validation_ax_ = ax.twinx()
            (self.validation_line_,) = self.validation_ax_.plot(
                np.arange(1, scores.size + 1), scores, color="C1",
                label=self.score_label,
            )
            best = int(np.argmax(scores))
            self.validation_ax_.plot(
                best + 1, scores[best], "o", color="C1", label="best score"
            )
            self.validation_ax_.set_ylabel(self.score_label)
            handles = [*handles, *self.validation_ax_.get_lines()]
        ax.legend(handles=handles, loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        return self
