"""Small data sets shipped with sktinycnn.

Only the four 3x3 images of the "Only Numpy: Implementing Convolutional Neural
Network" tutorial and the figures its script printed: enough to reproduce the
tutorial's run without any download.
"""

from types import MappingProxyType

import numpy as np

__all__ = [
    "TUTORIAL_PARAMS",
    "load_digit_canvas",
    "load_tutorial",
    "tutorial_reference",
]

#: Parameters of :class:`~sktinycnn.TinyConvRegressor` that replay the
#: tutorial's run: plain SGD on one image at a time, in order, for exactly 1000
#: epochs at learning rate 0.7, no biases, raw targets, the tutorial's seed and
#: ``randn(...) * 4`` initialisation, one 2x2 kernel. ``tol=0`` and
#: ``n_iter_no_change=1000`` keep the stopping rule from ending the run early.
#: Every parameter is set, so that the run does not depend on the estimator's
#: defaults. Read-only: copy it with ``dict(TUTORIAL_PARAMS)`` to change an
#: entry.
TUTORIAL_PARAMS = MappingProxyType({
    # the network
    "image_shape": (3, 3),
    "n_filters": 1,
    "kernel_size": 2,
    "padding": "valid",
    "pooling": None,
    "pool_size": 2,
    "activation": "tanh",
    "fit_intercept": False,
    "kernel_scale": 4.0,
    "scale_target": False,
    # plain SGD on one image at a time, in order, 1000 epochs
    "solver": "sgd",
    "learning_rate": 0.7,
    "learning_rate_schedule": "constant",
    "power_t": 0.5,
    "momentum": 0.0,
    "nesterovs_momentum": False,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-8,
    "alpha": 0.0,
    "batch_size": 1,
    "max_iter": 1000,
    "tol": 0.0,
    "n_iter_no_change": 1000,
    "n_iter_cooldown": 0,
    "early_stopping": False,
    "validation_fraction": 0.1,
    "shuffle": False,
    "random_state": 598765,
    "warm_start": False,
    "verbose": 0,
    "n_jobs": None,
})

# The numbers printed by the tutorial's script, run as published (legacy global
# seed 598765). They are the tutorial's published figures, copied here so that
# the package can compare itself with them without reading any file.
_REFERENCE = {
    "w1_initial": [[3.63182093635292, 2.2624333187380135],
                   [6.672896788193779, 4.483016226405968]],
    "w1_final": [[3.6317140897852247, 2.2623264721703182],
                 [6.6728967852322745, 4.483016223444463]],
    "w2_final": [-0.6745521931850905, 1.8916810882280342,
                 -2.634638171151823, 5.448107388645647],
    "cost_before_training": 1.2848050033328904,
    "cost_after_training": 0.012606738059608005,
    "start_output": [0.5, 0.0035550118627473335, 0.0007902299565358521,
                     0.0007901623961029],
    "final_output": [0.5, 0.7715578935652807, 0.9825460225062328,
                     0.9825463395419008],
}


def load_tutorial():
    """Load the tutorial's four 3x3 images and their targets.

    The images are ``x1`` (all zeros), ``x2`` (top row of ones), ``x3`` (two
    bottom rows of ones) and ``x4`` (all ones); a target grows with the number
    of ones: 0.53, 0.77, 0.88 and 1.1.

    Returns
    -------
    X : ndarray of shape (4, 9)
        The images flattened row by row (C order), as float64.
    y : ndarray of shape (4,)
        The targets.

    See Also
    --------
    tutorial_reference : The numbers the tutorial's script printed.

    Examples
    --------
    >>> from sktinycnn.datasets import load_tutorial
    >>> X, y = load_tutorial()
    >>> X.shape, y.tolist()
    ((4, 9), [0.53, 0.77, 0.88, 1.1])
    >>> X[1].reshape(3, 3)
    array([[1., 1., 1.],
           [0., 0., 0.],
           [0., 0., 0.]])
    """
    images = np.zeros((4, 3, 3))
    images[1, 0] = 1
    images[2, 1:] = 1
    images[3] = 1
    return images.reshape(4, 9), np.array([0.53, 0.77, 0.88, 1.1])


def tutorial_reference():
    """Return the numbers printed by the tutorial's own script.

    Returns
    -------
    reference : dict
        Fresh arrays (safe to modify) under the keys ``"w1_initial"`` and
        ``"w1_final"`` (shape (2, 2): the kernel before and after training),
        ``"w2_final"`` (shape (4,): the dense weights after training),
        ``"cost_before_training"`` and ``"cost_after_training"`` (floats: the
        sum over the four images of half the squared error) and
        ``"start_output"`` and ``"final_output"`` (shape (4,): the sigmoid
        outputs before and after training).

    See Also
    --------
    load_tutorial : The tutorial's images and targets.

    Examples
    --------
    >>> from sktinycnn.datasets import tutorial_reference
    >>> reference = tutorial_reference()
    >>> round(reference["cost_after_training"], 6)
    0.012607
    >>> reference["final_output"].round(4)
    array([0.5   , 0.7716, 0.9825, 0.9825])
    """
    return {
        key: value if isinstance(value, float) else np.array(value)
        for key, value in _REFERENCE.items()
    }


def load_digit_canvas(canvas_size=14, noise=0.05, random_state=0):
    """Load digits pasted at random places on a larger canvas, with pixel noise.

    Each of scikit-learn's 1797 digits (``load_digits``, scaled to [0, 1]) is
    pasted once, at a uniformly random position, on a zero ``canvas_size x
    canvas_size`` canvas; Gaussian noise of standard deviation ``noise`` is
    added and the pixels clipped back to [0, 1]. Recognising the digit
    wherever it sits needs translation invariance: a task for pooling.

    Parameters
    ----------
    canvas_size : int, default=14
        Side of the canvas, at least 8.
    noise : float, default=0.05
        Standard deviation of the pixel noise (0 for none).
    random_state : int, RandomState instance or None, default=0
        Seeds the positions, then the noise.

    Returns
    -------
    images : ndarray of shape (1797, canvas_size, canvas_size)
        The canvases.
    digits : ndarray of shape (1797,)
        The digit on each canvas, 0 to 9.
    offsets : ndarray of shape (1797, 2)
        Row and column of each digit's top-left corner, from 0 to
        ``canvas_size - 8``.

    Examples
    --------
    >>> from sktinycnn.datasets import load_digit_canvas
    >>> images, digits, offsets = load_digit_canvas(canvas_size=12)
    >>> images.shape, digits[:5].tolist(), int(offsets.max()) <= 4
    ((1797, 12, 12), [0, 1, 2, 3, 4], True)
    """
    from sklearn.datasets import load_digits
    from sklearn.utils import check_random_state

    if (
        isinstance(canvas_size, bool)
        or not isinstance(canvas_size, int | np.integer)
        or canvas_size < 8
    ):
        raise ValueError(f"canvas_size must be an int >= 8; got {canvas_size!r}.")
    if isinstance(noise, bool) or not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite float >= 0; got {noise!r}.")
    rng = check_random_state(random_state)
    data = load_digits()
    small = data.images / 16.0  # pixel values are counts 0..16
    n = len(small)
    offsets = rng.randint(0, canvas_size - 8 + 1, size=(n, 2))
    images = np.zeros((n, canvas_size, canvas_size))
    for i, (r, c) in enumerate(offsets):
        images[i, r : r + 8, c : c + 8] = small[i]
    images = np.clip(images + rng.normal(0.0, noise, images.shape), 0.0, 1.0)
    return images, data.target, offsets
