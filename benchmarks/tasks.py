"""Image benchmark tasks built from ``sklearn.datasets.load_digits``.

Every task is offline, deterministic given ``random_state`` and small enough
that one ``MLPRegressor()`` fit takes about a second. Each builder
``make_<task>(random_state=0)`` returns ``(X, y)`` with ``X`` of shape
``(n_samples, 1, height, width)``: float images in ``[0, 1]`` (one channel).
Flatten them with ``X.reshape(len(X), -1)`` for a fully connected model.

Regression targets are in a natural unit (a digit's value / 9, an angle / 30,
a position scaled to ``[0, 1]``, a count, a dilation level); classification
targets are the digit's class (0-9).

``REGRESSION_TASKS`` and ``CLASSIFICATION_TASKS`` map each task's name to its
builder; ``make_check_data`` gives the data of scikit-learn's
``check_regressors_train`` (evaluated as a training R², which must exceed 0.5).
"""

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.datasets import make_regression as _make_regression
from sklearn.preprocessing import StandardScaler, scale
from sklearn.utils import check_random_state

from sktinycnn.datasets import load_digit_canvas

__all__ = [
    "CLASSIFICATION_TASKS",
    "REGRESSION_TASKS",
    "make_canvas_digit",
    "make_canvas_digits",
    "make_canvas_position",
    "make_check_data",
    "make_count",
    "make_digit_value",
    "make_digits",
    "make_thickness",
    "make_tilt",
]

#: Side of the canvas of the translation tasks: an 8x8 digit fits at 7x7
#: positions, enough that a model must be translation invariant.
CANVAS_SIZE = 14

#: Side of the canvas of the count task: room for three 8x8 digits that do not
#: overlap.
COUNT_CANVAS_SIZE = 16

#: Standard deviation of the Gaussian pixel noise on the canvas tasks.
NOISE_SIGMA = 0.05

#: Largest rotation of the tilt task, in degrees.
MAX_ANGLE = 30.0


def _digit_images():
    """Return load_digits' 1797 images in [0, 1], shape (n, 8, 8), and labels."""
    digits = load_digits()
    # Pixel values are counts 0..16 in load_digits.
    return digits.images / 16.0, digits.target


def _with_channel(images):
    """Return float images ``(n, h, w)`` as ``(n, 1, h, w)`` in [0, 1]."""
    return np.clip(images, 0.0, 1.0)[:, np.newaxis, :, :]


def _add_noise(images, rng):
    """Add small Gaussian pixel noise and clip back to [0, 1]."""
    return np.clip(images + rng.normal(0.0, NOISE_SIGMA, images.shape), 0.0, 1.0)


def _canvas(random_state):
    """Paste every digit once at a uniformly random position on a zero canvas.

    Returns
    -------
    images : ndarray of shape (1797, CANVAS_SIZE, CANVAS_SIZE)
        Noisy canvases in [0, 1].
    labels : ndarray of shape (1797,)
        The digit pasted on each canvas.
    offsets : ndarray of shape (1797, 2)
        Row and column of each digit's top-left corner, in
        ``0 .. CANVAS_SIZE - 8``.
    """
    return load_digit_canvas(CANVAS_SIZE, NOISE_SIGMA, random_state)


def make_digit_value(random_state=0):
    """Regression: the value of an 8x8 digit, ``digit / 9``.

    Measures plain image regression at the digits' own scale: the digit is
    always centred, so a fully connected model does not need translation
    invariance. ``random_state`` is unused (the data are load_digits as is).

    Returns
    -------
    X : ndarray of shape (1797, 1, 8, 8)
    y : ndarray of shape (1797,)
        ``digit / 9`` in [0, 1].
    """
    images, labels = _digit_images()
    return _with_channel(images), labels / 9.0


def make_canvas_digit(random_state=0):
    """Regression: the value of a digit pasted anywhere on a noisy 14x14 canvas.

    Each digit is placed once at one of 7x7 random positions, plus Gaussian
    noise (sigma 0.05, clipped). Measures translation invariance: the same
    stroke can fall on any pixel, which shared convolution kernels see once
    and a fully connected layer must learn at every position.

    Returns
    -------
    X : ndarray of shape (1797, 1, 14, 14)
    y : ndarray of shape (1797,)
        ``digit / 9`` in [0, 1].
    """
    images, labels, _ = _canvas(random_state)
    return _with_channel(images), labels / 9.0


def make_canvas_position(random_state=0):
    """Regression, two outputs: where the digit is on the noisy 14x14 canvas.

    The same canvases as :func:`make_canvas_digit` (same ``random_state``, same
    images); the target is the (row, column) of the digit's centre, scaled to
    [0, 1] over the possible positions (``offset / (CANVAS_SIZE - 8)``).
    Measures localisation, i.e. equivariance rather than invariance, and
    multi-output regression.

    Returns
    -------
    X : ndarray of shape (1797, 1, 14, 14)
    y : ndarray of shape (1797, 2)
        Row and column of the centre, each in [0, 1].
    """
    images, _, offsets = _canvas(random_state)
    return _with_channel(images), offsets / float(CANVAS_SIZE - 8)


def make_tilt(random_state=0):
    """Regression: the angle by which a digit was rotated, ``angle / 30``.

    Each digit is padded to 12x12 (so that its corners survive the rotation)
    and rotated by a uniform random angle in [-30, 30] degrees
    (``scipy.ndimage.rotate``, ``order=1``, ``reshape=False``). Measures the
    reading of local stroke orientation, whatever the digit.

    Returns
    -------
    X : ndarray of shape (1797, 1, 12, 12)
    y : ndarray of shape (1797,)
        ``angle / 30`` in [-1, 1].
    """
    rng = check_random_state(random_state)
    digits, _ = _digit_images()
    angles = rng.uniform(-MAX_ANGLE, MAX_ANGLE, size=len(digits))
    padded = np.pad(digits, ((0, 0), (2, 2), (2, 2)))
    images = np.stack(
        [
            ndimage.rotate(img, a, order=1, reshape=False, mode="constant")
            for img, a in zip(padded, angles, strict=True)
        ]
    )
    return _with_channel(images), angles / MAX_ANGLE


def make_thickness(random_state=0):
    """Regression: the stroke thickness of a digit, as a dilation level 0-3.

    Each digit is padded to 12x12 and dilated (``scipy.ndimage.grey_dilation``)
    with a square footprint of side ``level + 1`` for a random level in
    {0, 1, 2, 3} (0 leaves it as is); its ink is then scaled by a random
    contrast in [0.5, 1] so that thickness is not just the total ink.
    Measures a local texture property that any digit can carry.

    Returns
    -------
    X : ndarray of shape (1797, 1, 12, 12)
    y : ndarray of shape (1797,)
        The dilation level, in {0, 1, 2, 3}.
    """
    rng = check_random_state(random_state)
    digits, _ = _digit_images()
    levels = rng.randint(0, 4, size=len(digits))
    contrast = rng.uniform(0.5, 1.0, size=len(digits))
    padded = np.pad(digits, ((0, 0), (2, 2), (2, 2)))
    images = np.stack(
        [
            ndimage.grey_dilation(img, size=(lv + 1, lv + 1)) * k
            for img, lv, k in zip(padded, levels, contrast, strict=True)
        ]
    )
    return _with_channel(images), levels.astype(float)


def _free_positions(rng, count, span):
    """Draw ``count`` top-left corners of 8x8 boxes that do not overlap."""
    corners = np.array([(r, c) for r in range(span) for c in range(span)])
    while True:
        # One box at a time among the corners still free; start again in the
        # rare case the first boxes leave no room for the next.
        free = np.ones(len(corners), dtype=bool)
        chosen = []
        for _ in range(count):
            if not free.any():
                break
            pick = corners[rng.choice(np.flatnonzero(free))]
            chosen.append(pick)
            free &= np.abs(corners - pick).max(axis=1) >= 8
        if len(chosen) == count:
            return np.array(chosen)


def make_count(random_state=0):
    """Regression: how many digits (1-3) are on a noisy 16x16 canvas.

    Each canvas gets 1, 2 or 3 random digits at random positions where they do
    not overlap, plus Gaussian noise (sigma 0.05, clipped). Measures counting
    objects anywhere in the image (the digits' ink varies, so the total ink is
    only a rough guide).

    Returns
    -------
    X : ndarray of shape (1797, 1, 16, 16)
    y : ndarray of shape (1797,)
        The number of digits, in {1, 2, 3}.
    """
    rng = check_random_state(random_state)
    digits, _ = _digit_images()
    n = len(digits)
    counts = rng.randint(1, 4, size=n)
    span = COUNT_CANVAS_SIZE - 8 + 1
    images = np.zeros((n, COUNT_CANVAS_SIZE, COUNT_CANVAS_SIZE))
    for i, count in enumerate(counts):
        picks = rng.randint(0, n, size=count)
        for d, (r, c) in zip(picks, _free_positions(rng, count, span), strict=True):
            images[i, r : r + 8, c : c + 8] = digits[d]
    return _with_channel(_add_noise(images, rng)), counts.astype(float)


def make_digits(random_state=0):
    """Classification: load_digits' 8x8 images, 10 classes.

    The standard task; ``random_state`` is unused.

    Returns
    -------
    X : ndarray of shape (1797, 1, 8, 8)
    y : ndarray of shape (1797,)
        The digit, 0-9.
    """
    images, labels = _digit_images()
    return _with_channel(images), labels


def make_canvas_digits(random_state=0):
    """Classification: the digit pasted anywhere on a noisy 14x14 canvas.

    The canvases of :func:`make_canvas_digit` with the digit as a class label:
    translation-invariant classification.

    Returns
    -------
    X : ndarray of shape (1797, 1, 14, 14)
    y : ndarray of shape (1797,)
        The digit, 0-9.
    """
    images, labels, _ = _canvas(random_state)
    return _with_channel(images), labels


def make_check_data():
    """Return the data of scikit-learn's ``check_regressors_train``.

    ``make_regression(n_samples=200, n_features=10, n_informative=1, bias=5,
    noise=20, random_state=42)`` with X standardised and ``y = scale(y)``, as
    the check builds them. A regressor passes when its TRAINING R² exceeds 0.5
    (LinearRegression gets 0.81).

    Returns
    -------
    X : ndarray of shape (200, 10)
    y : ndarray of shape (200,)
    """
    X, y = _make_regression(
        n_samples=200,
        n_features=10,
        n_informative=1,
        bias=5.0,
        noise=20,
        random_state=42,
    )
    return StandardScaler().fit_transform(X), scale(y)


REGRESSION_TASKS = {
    "digit_value": make_digit_value,
    "canvas_digit": make_canvas_digit,
    "canvas_position": make_canvas_position,
    "tilt": make_tilt,
    "thickness": make_thickness,
    "count": make_count,
}

CLASSIFICATION_TASKS = {
    "digits": make_digits,
    "canvas_digits": make_canvas_digits,
}
