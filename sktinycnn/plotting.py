"""Pictures of a fitted :class:`~sktinycnn.TinyConvRegressor` or
:class:`~sktinycnn.TinyConvClassifier`.

scikit-learn-style ``Display`` objects for the learned kernels and the feature
maps of a few images, of any convolution block (``block=0`` by default, the
one that reads the images), and for the training curves. Each has a
``from_estimator`` class method that computes what to draw from a fitted model
and plots it, and a ``plot`` method that draws stored values (on axes you
pass, or on a new figure); both return the display, whose trailing-underscore
attributes hold the matplotlib objects.

matplotlib is an optional dependency (``pip install "sktinycnn[plot]"``): this
module imports it only when something is drawn.
"""

import numpy as np
from sklearn.base import is_classifier

from ._plot_tools import (
    BLOCK,
    CURVE_DRAW,
    KERNELS_DRAW,
    MAPS_DRAW,
    check_block,
    check_fitted,
    draw_curves,
    draw_kernels,
    draw_maps,
    fill_doc,
)

__all__ = ["FeatureMapsDisplay", "KernelsDisplay", "LossCurveDisplay"]


class KernelsDisplay:
    """One block's convolution kernels as images, one per filter and channel.

    Build it with :meth:`from_estimator`; the constructor only stores values.
    A diverging colour map centred on zero shows the sign of every weight, on
    one scale for all the kernels stored (shown or not).

    A kernel has one ``kh x kw`` slice per input channel of its block: the
    image's channels for block 0, the previous block's maps (one per filter)
    after it. Each slice gets an axes: every channel's by default, or only
    those of ``channels``, for a block with many input channels.

    Parameters
    ----------
    kernels : ndarray of shape (n_filters, n_channels, kh, kw)
        One block's kernels, as in ``TinyConvRegressor.kernels_[block]``.
    flip : bool, default=False
        Whether the kernels are shown rotated by 180 degrees, i.e. as the
        template that slides over the image (cross-correlation). ``False``
        shows ``kernels_`` as stored (true convolution kernels).
    block : int or None, default=None
        The index of the block the kernels belong to, named in the titles on a
        line of its own; ``None`` names none (:meth:`from_estimator` passes
        ``None`` for a model of one block).
    channels : int, sequence of int or None, default=None
        The input channels shown, in this order; negative values count from
        the last. ``None`` shows all ``n_channels``. The titles name the
        channel of each kernel slice when ``n_channels > 1``.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn on.
    axes_ : ndarray of matplotlib.axes.Axes of shape (n_filters, n_shown)
        One axes per kernel slice: ``axes_[f, k]`` shows filter ``f`` on the
        ``k``-th channel shown.
    images_ : ndarray of matplotlib.image.AxesImage of shape \
(n_filters, n_shown)
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

    def __init__(self, kernels, *, flip=False, block=None, channels=None):
        self.kernels = kernels
        self.flip = flip
        self.block = block
        self.channels = channels

    @classmethod
    @fill_doc(block=BLOCK, draw=KERNELS_DRAW)
    def from_estimator(
        cls, estimator, *, block=0, channels=None, flip=False, axes=None,
        cmap="RdBu_r", annotate=None, colorbar=True,
    ):
        """Draw the kernels of one block of a fitted estimator.

        Parameters
        ----------
        estimator : TinyConvRegressor or TinyConvClassifier
            A fitted model.
{block}
        channels : int, sequence of int or None, default=None
            The block's input channels shown, in this order; negative values
            count from the last. ``None`` shows them all, one axes per filter
            and channel. After the first block, channel ``c`` is the map of
            filter ``c`` of the block before, so a wide block makes a large
            grid that a few channels keep readable.
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

        Of two blocks, the last one's three kernels on the first one's second
        map:

        >>> deep = TinyConvRegressor(n_filters=(2, 3), kernel_size=[3, 2],
        ...                          pooling=None, tol=1e-3, random_state=0)
        >>> [kernels.shape for kernels in deep.fit(X, y).kernels_]
        [(2, 1, 3, 3), (3, 2, 2, 2)]
        >>> display = KernelsDisplay.from_estimator(deep, block=-1, channels=1)
        >>> display.axes_.shape
        (3, 1)
        >>> print(display.axes_[2, 0].get_title())
        block 1
        kernel 2, channel 1
        """
        check_fitted(estimator)
        index, depth = check_block(estimator, block)
        return cls(
            np.asarray(estimator.kernels_[index]), flip=flip,
            block=index if depth > 1 else None, channels=channels,
        ).plot(axes=axes, cmap=cmap, annotate=annotate, colorbar=colorbar)

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
        fig, axes, images, self.colorbar_ = draw_kernels(
            self.kernels, self.channels, flip=self.flip, block=self.block,
            axes=axes, cmap=cmap, annotate=annotate, colorbar=colorbar,
        )
        self.figure_, self.axes_, self.images_ = fig, axes, images
        return self


class FeatureMapsDisplay:
    """A few input images beside one block's activated feature maps.

    One row per image: the image (mean over channels), then the map of every
    filter of the block, ``activation(conv(x, kernel) + intercept)`` with
    ``x`` the image for block 0 and the previous block's pooled maps after
    it; for a block with pooling, the maps before pooling or, with
    ``pooled=True``, after it (what the next block or the dense layer sees).
    The maps share a colour scale centred on zero: from -1 to 1 for the
    bounded activations (``"tanh"``, ``"logistic"``), from minus to plus the
    largest absolute value drawn for ``"relu"`` and ``"identity"``.

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
    activation : {"tanh", "logistic", "relu", "identity"}, default="tanh"
        The activation that made the maps (``activation_``); it sets the
        colour scale and the colour bar's label.
    block : int or None, default=None
        The index of the block the maps come from, named in the maps' titles
        on a line of its own; ``None`` names none (:meth:`from_estimator`
        passes ``None`` for a model of one block).

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

    def __init__(self, images, maps, *, labels=None, pooled=False,
                 activation="tanh", block=None):
        self.images = images
        self.maps = maps
        self.labels = labels
        self.pooled = pooled
        self.activation = activation
        self.block = block

    @classmethod
    @fill_doc(block=BLOCK, draw=MAPS_DRAW)
    def from_estimator(cls, estimator, X, *, block=0, labels=None, pooled=False,
                       axes=None, cmap="gray_r", maps_cmap="RdBu_r", colorbar=True):
        """Draw some images and one block's feature maps under a fitted estimator.

        Parameters
        ----------
        estimator : TinyConvRegressor or TinyConvClassifier
            A fitted model.
        X : array-like of shape (n_images, n_features), \
(n_images, height, width) or (n_images, channels, height, width)
            A few images, in the form the model was fitted on. They are drawn
            whatever the block.
{block}
        labels : list of str or None, default=None
            A label per image, shown in its row's first title.
        pooled : bool, default=False
            Draw the block's maps after pooling (``estimator.pooled_maps(X,
            block)``, what the next block or the dense layer sees) instead of
            before it; only for a block with pooling.
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

        The three maps of the second block of two:

        >>> deep = TinyConvRegressor(n_filters=(2, 3), kernel_size=[3, 2],
        ...                          pooling=None, tol=1e-3, random_state=0)
        >>> display = FeatureMapsDisplay.from_estimator(deep.fit(X, y), X[2:4],
        ...                                             block=1)
        >>> display.axes_.shape
        (2, 4)
        >>> print(display.axes_[0, 1].get_title())
        block 1
        map 0
        """
        check_fitted(estimator)
        index, depth = check_block(estimator, block)
        if pooled and estimator.pooling_[index] is None:
            where = f"block {index} of this" if depth > 1 else "this"
            raise ValueError(
                "pooled=True draws the maps after pooling, but "
                f"{where} {type(estimator).__name__} has pooling=None."
            )
        maps = (estimator.pooled_maps if pooled else estimator.feature_maps)(
            X, block=index
        )
        images = np.asarray(X, dtype=float).reshape(
            maps.shape[0], *estimator.image_shape_
        )
        return cls(
            images, maps, labels=labels, pooled=pooled,
            activation=estimator.activation_, block=index if depth > 1 else None,
        ).plot(axes=axes, cmap=cmap, maps_cmap=maps_cmap, colorbar=colorbar)

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
        fig, axes, drawn, self.colorbar_ = draw_maps(
            self.images, self.maps, self.labels, pooled=self.pooled,
            activation=self.activation, block=self.block, axes=axes, cmap=cmap,
            maps_cmap=maps_cmap, colorbar=colorbar,
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
        self.ax_, self.line_, self.validation_ax_, self.validation_line_ = (
            draw_curves(ax, self.loss_curve, self.validation_scores,
                        loss_label=self.loss_label, score_label=self.score_label,
                        logy=logy, label=label)
        )
        self.figure_ = self.ax_.figure
        return self
