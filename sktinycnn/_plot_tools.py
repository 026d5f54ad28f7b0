"""Helpers of :mod:`sktinycnn.plotting`: matplotlib on demand, axes grids, and
the parameter texts that ``from_estimator`` and ``plot`` share."""

import re
import textwrap

import numpy as np


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


KERNELS_DRAW = """\
        axes : array-like of matplotlib.axes.Axes, default=None
            ``n_filters * channels`` axes to draw on (row-major: filters by
            rows); ``None`` makes a new figure with the filters side by side
            and the channels one below the other.
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
            Colour map of the feature maps, from -1 to 1.
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
