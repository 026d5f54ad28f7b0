"""Helpers of :mod:`sktinycnn.plotting`: matplotlib on demand, axes grids, the
checks of ``block`` and ``channels``, and the parameter texts that
``from_estimator`` and ``plot`` share."""

import numbers
import re
import textwrap

import numpy as np

#: The blocks' activations, with the largest absolute value each can reach;
#: None for the unbounded ones, whose maps are drawn on their own range.
ACTIVATION_BOUNDS = {"tanh": 1.0, "logistic": 1.0, "relu": None, "identity": None}


def pyplot():
    """Import matplotlib.pyplot, or explain how to get it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sktinycnn.plotting needs matplotlib, which is not installed. "
            'Install it with: python -m pip install "sktinycnn[plot]" (or '
            "python -m pip install matplotlib)."
        ) from exc
    return plt


def check_fitted(estimator):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "kernels_")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_block(estimator, block):
    """Return ``block`` as an index from 0 into the estimator's blocks, and the
    number of blocks; raise a ValueError naming the accepted range."""
    depth = len(estimator.kernels_)
    if not (_is_int(block) and -depth <= block < depth):
        raise ValueError(
            f"block must be an int in [-{depth}, {depth}): 0 is the first of this "
            f"{type(estimator).__name__}'s {depth} convolution block(s), -1 the "
            f"last; got {block!r}."
        )
    return int(block) % depth, depth


def check_channels(channels, n_channels):
    """Return the list of input channels that ``channels`` selects, from 0."""
    if channels is None:
        return list(range(n_channels))
    values = [channels] if _is_int(channels) else channels
    if isinstance(values, str | bytes) or not np.iterable(values):
        values = []
    values = list(values)
    if not values or not all(_is_int(c) and -n_channels <= c < n_channels
                             for c in values):
        raise ValueError(
            "channels must be None, an int or a non-empty sequence of ints in "
            f"[-{n_channels}, {n_channels}), the kernels' {n_channels} input "
            f"channel(s); got {channels!r}."
        )
    return [int(c) % n_channels for c in values]


def titled(block, what):
    """A title naming ``block`` on a line of its own, unless it is None."""
    return what if block is None else f"block {block}\n{what}"


def maps_limit(activation, maps):
    """The half-width of the maps' colour scale, centred on zero: the bound of
    a bounded activation, so that every picture of it has the same scale, or
    the largest absolute value drawn."""
    if activation not in ACTIVATION_BOUNDS:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATION_BOUNDS)}; got "
            f"{activation!r}."
        )
    bound = ACTIVATION_BOUNDS[activation]
    if bound is None:
        bound = float(np.abs(maps).max(initial=0.0)) or 1.0
    return bound


def annotate_cells(ax, kernel, vmax):
    """Write each weight of ``kernel`` in its cell, white on dark colours."""
    for (i, j), value in np.ndenumerate(kernel):
        ax.text(j, i, f"{value:.2g}", ha="center", va="center",
                color="white" if abs(value) > 0.6 * vmax else "black")


def axes_grid(axes, shape, figsize):
    """Return a figure and a 2-D array of axes of ``shape``.

    ``axes=None`` makes a new figure; otherwise ``axes`` must hold exactly
    ``shape[0] * shape[1]`` axes, which are used in row-major order.
    """
    plt = pyplot()
    if axes is None:
        fig, axes = plt.subplots(
            *shape, figsize=figsize, squeeze=False, layout="constrained"
        )
        return fig, axes
    axes = np.asarray(axes, dtype=object)
    if axes.size != shape[0] * shape[1]:
        raise ValueError(
            f"axes holds {axes.size} Axes but {shape[0]} x {shape[1]} = "
            f"{shape[0] * shape[1]} are needed."
        )
    axes = axes.reshape(shape)
    return axes[0, 0].figure, axes


def show(ax, array, title, **imshow):
    """``ax.imshow(array)`` titled, without ticks; return the AxesImage."""
    image = ax.imshow(array, **imshow)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def draw_kernels(kernels, channels, *, flip, block, axes, cmap, annotate,
                 colorbar):
    """Draw ``KernelsDisplay``'s kernels; return the figure, the axes and
    images (filters by channels shown) and the colour bar or None."""
    kernels = np.asarray(kernels, dtype=float)
    if kernels.ndim != 4:
        raise ValueError(
            "kernels must have shape (n_filters, n_channels, kh, kw); got "
            f"shape {kernels.shape}."
        )
    named = kernels.shape[1] > 1
    channels = check_channels(channels, kernels.shape[1])
    # One scale for all the block's kernels, so that pictures of different
    # channel selections compare.
    vmax = float(np.abs(kernels).max()) or 1.0
    kernels = kernels[:, channels]
    if flip:
        kernels = kernels[:, :, ::-1, ::-1]
    n_filters, n_shown, kh, kw = kernels.shape
    if annotate is None:
        annotate = kh * kw <= 16
    what = "flipped kernel" if flip else "kernel"
    titles = np.array([
        [titled(block, f"{what} {f}" + (f", channel {c}" if named else ""))
         for c in channels]
        for f in range(n_filters)
    ])
    size = 1.6 + 0.15 * max(kh, kw)
    if axes is None:
        # Wide enough for the longest title line (about 0.1 inch a character
        # at the default size), so that neighbouring titles do not overlap.
        width = max(size, 0.1 * max(len(line) for title in titles.ravel()
                                    for line in title.split("\n")))
        # Filters side by side, channels one below the other: a row of
        # kernels for one-channel images.
        fig, grid = axes_grid(
            None, (n_shown, n_filters),
            (width * n_filters + 1.2, size * n_shown + 0.4),
        )
        axes = grid.T
    else:
        fig, axes = axes_grid(axes, (n_filters, n_shown), None)
    images = np.empty((n_filters, n_shown), dtype=object)
    for (f, k), ax in np.ndenumerate(axes):
        images[f, k] = show(ax, kernels[f, k], titles[f, k], cmap=cmap,
                            vmin=-vmax, vmax=vmax)
        if annotate:
            annotate_cells(ax, kernels[f, k], vmax)
    bar = (
        fig.colorbar(images[0, 0], ax=axes.ravel().tolist(), shrink=0.8)
        if colorbar
        else None
    )
    return fig, axes, images, bar


def draw_maps(images, maps, labels, *, pooled, activation, block, axes, cmap,
              maps_cmap, colorbar):
    """Draw ``FeatureMapsDisplay``'s images and maps; return the figure, the
    axes and images (images by 1 + filters) and the colour bar or None."""
    images = np.asarray(images, dtype=float)
    maps = np.asarray(maps, dtype=float)
    if images.ndim != 4 or maps.ndim != 4 or images.shape[0] != maps.shape[0]:
        raise ValueError(
            "images must have shape (n_images, channels, height, width) and "
            "maps (n_images, n_filters, ho, wo) with the same n_images; got "
            f"{images.shape} and {maps.shape}."
        )
    n_images, n_filters = maps.shape[:2]
    if labels is not None and len(labels) != n_images:
        raise ValueError(f"labels has {len(labels)} entries for {n_images} images.")
    vmax = maps_limit(activation, maps)
    fig, axes = axes_grid(
        axes, (n_images, 1 + n_filters),
        (1.6 * (1 + n_filters) + 0.8, 1.7 * n_images),
    )
    drawn = np.empty(axes.shape, dtype=object)
    what = "pooled map" if pooled else "map"
    for i in range(n_images):
        drawn[i, 0] = show(
            axes[i, 0], images[i].mean(axis=0),
            "image" if labels is None else str(labels[i]), cmap=cmap,
        )
        for f in range(n_filters):
            drawn[i, 1 + f] = show(
                axes[i, 1 + f], maps[i, f], titled(block, f"{what} {f}"),
                cmap=maps_cmap, vmin=-vmax, vmax=vmax,
            )
    bar = (
        fig.colorbar(drawn[0, 1], ax=axes.ravel().tolist(), shrink=0.6,
                     label=f"{'pooled ' if pooled else ''}{activation} activation")
        if colorbar and n_filters
        else None
    )
    return fig, axes, drawn, bar


def draw_curves(ax, loss_curve, validation_scores, *, loss_label, score_label,
                logy, label):
    """Draw ``LossCurveDisplay``'s curves on ``ax`` (None: a new figure);
    return the axes, the loss line, and the validation axes and line or None."""
    if ax is None:
        _, ax = pyplot().subplots(figsize=(6, 4), layout="constrained")
    loss = np.asarray(loss_curve, dtype=float)
    (line,) = ax.plot(
        np.arange(1, loss.size + 1), loss, color="C0",
        label="training loss" if label is None else label,
    )
    if logy and np.all(loss > 0):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.set_title("Training curve")
    handles, validation_ax, validation_line = [line], None, None
    if validation_scores is not None and len(validation_scores):
        scores = np.asarray(validation_scores, dtype=float)
        validation_ax = ax.twinx()
        (validation_line,) = validation_ax.plot(
            np.arange(1, scores.size + 1), scores, color="C1", label=score_label,
        )
        best = int(np.argmax(scores))
        validation_ax.plot(best + 1, scores[best], "o", color="C1",
                           label="best score")
        validation_ax.set_ylabel(score_label)
        handles = [*handles, *validation_ax.get_lines()]
    ax.legend(handles=handles, loc="best")
    return ax, line, validation_ax, validation_line


def fill_doc(**parts):
    """Put the parameter texts shared by ``from_estimator`` and ``plot`` in
    their docstrings' ``{name}`` slots, so that each is written once."""

    def decorate(method):
        doc = method.__doc__
        # Indented as the section underlines, whether or not the docstring
        # was dedented when compiled.
        indent = re.search(r"^( *)-{3,}$", doc, re.MULTILINE).group(1)
        for name, text in parts.items():
            filled = textwrap.indent(textwrap.dedent(text), indent)
            doc = doc.replace(f"{{{name}}}\n", filled)
        method.__doc__ = doc
        return method

    return decorate


BLOCK = """\
        block : int, default=0
            The convolution block, from 0 (the first, which reads the images)
            to ``len(estimator.kernels_) - 1``; negative values count from the
            last (-1). When the model has more than one block, the titles name
            it.
"""
KERNELS_DRAW = """\
        axes : array-like of matplotlib.axes.Axes, default=None
            ``n_filters * n_shown`` axes to draw on, ``n_shown`` being the
            number of channels shown (row-major: filters by rows); ``None``
            makes a new figure with the filters side by side and the channels
            one below the other.
        cmap : str or matplotlib.colors.Colormap, default="RdBu_r"
            Colour map, centred on zero.
        annotate : bool or None, default=None
            Write each weight's value in its cell; ``None`` does so for kernels
            of at most 16 weights.
        colorbar : bool, default=True
            Whether to add a colour bar shared by all kernels.
"""
MAPS_DRAW = """\
        axes : array-like of matplotlib.axes.Axes, default=None
            ``n_images * (1 + n_filters)`` axes to draw on (row-major);
            ``None`` makes a new figure.
        cmap : str or matplotlib.colors.Colormap, default="gray_r"
            Colour map of the input images.
        maps_cmap : str or matplotlib.colors.Colormap, default="RdBu_r"
            Colour map of the feature maps, centred on zero: from -1 to 1 for
            the ``"tanh"`` and ``"logistic"`` activations, from minus to plus
            the largest absolute value drawn for ``"relu"`` and
            ``"identity"``.
        colorbar : bool, default=True
            Whether to add a colour bar of the maps' scale.
"""
CURVE_DRAW = """\
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        logy : bool, default=True
            Whether the loss axis is logarithmic.
        label : str or None, default=None
            Legend label of the loss curve; ``None`` is ``"training loss"``.
"""
