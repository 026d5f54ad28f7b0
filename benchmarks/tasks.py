"""Benchmark tasks built from ``sklearn.datasets.load_digits``, and 1-D signals.

Every task is offline, deterministic given ``random_state`` and small enough
that one ``MLPRegressor()`` fit takes seconds at most. Each builder
``make_<task>(random_state=0)`` returns ``(X, y)`` with ``X`` of shape
``(n_samples, 1, height, width)``: float images in ``[0, 1]`` (one channel).
Flatten them with ``X.reshape(len(X), -1)`` for a fully connected model.

Regression targets are in a natural unit (a digit's value / 9, an angle / 30
or / 45, a position or a size scaled to ``[0, 1]``, a count, a dilation level,
a frequency scaled to ``[0, 1]``); classification targets are the digit's class
(0-9), or the index of a waveform or motif.

Suites:

- ``REGRESSION_TASKS`` and ``CLASSIFICATION_TASKS``: small images (8x8 to
  16x16) from load_digits' 1797 digits;
- ``LARGE_REGRESSION_TASKS`` and ``LARGE_CLASSIFICATION_TASKS``: 28x28 images
  (the size of MNIST), each of the 1797 digits once, upsampled
  (``scipy.ndimage.zoom``), placed, rotated or cluttered;
- ``SIGNAL_REGRESSION_TASKS`` and ``SIGNAL_CLASSIFICATION_TASKS``: 1500
  synthetic 1-D signals (length 64 or 96) as images of height 1, ``X`` of shape
  ``(n_samples, 1, 1, length)``.

Each maps a task's name to its builder; ``make_check_data`` gives the data of
scikit-learn's ``check_regressors_train`` (evaluated as a training R², which
must exceed 0.5).
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
    "LARGE_CLASSIFICATION_TASKS",
    "LARGE_REGRESSION_TASKS",
    "REGRESSION_TASKS",
    "SIGNAL_CLASSIFICATION_TASKS",
    "SIGNAL_REGRESSION_TASKS",
    "make_canvas_digit",
    "make_canvas_digits",
    "make_canvas_position",
    "make_check_data",
    "make_count",
    "make_digit_value",
    "make_digits",
    "make_large_canvas_digit",
    "make_large_canvas_digits",
    "make_large_canvas_size",
    "make_large_clutter_digits",
    "make_large_clutter_position",
    "make_large_rotated_digits",
    "make_large_tilt",
    "make_signal_frequency",
    "make_signal_motif",
    "make_signal_position",
    "make_signal_shapes",
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


# ---------------------------------------------------------------------------
# The "large" suite: 28x28 images (the size of MNIST) built from load_digits.

#: Side of the canvases of the large suite.
LARGE_SIZE = 28

#: Smallest and largest side of an upsampled digit on the plain 28x28 canvas.
LARGE_DIGIT_SIDES = (18, 24)

#: Side of an upsampled digit in the rotated and cluttered tasks.
LARGE_ROTATED_SIDE = 16
LARGE_CLUTTER_SIDE = 18

#: Largest rotation of the large rotated tasks, in degrees.
LARGE_MAX_ANGLE = 45.0

#: Number of fragments of other digits on a cluttered canvas, and their side.
CLUTTER_FRAGMENTS = 3
CLUTTER_FRAGMENT_SIDE = 7


def _zoom_to(image, side):
    """Upsample one image ``(h, w)`` to ``(side, side)`` (bilinear, in [0, 1])."""
    zoom = (side / image.shape[0], side / image.shape[1])
    return np.clip(
        ndimage.zoom(image, zoom, order=1, grid_mode=True, mode="nearest"), 0.0, 1.0
    )


def _paste(canvas, image, row, col):
    """Paste ``image`` on ``canvas`` at ``(row, col)``, keeping the brighter pixel."""
    h, w = image.shape
    np.maximum(
        canvas[row : row + h, col : col + w],
        image,
        out=canvas[row : row + h, col : col + w],
    )


def _large_canvas(random_state):
    """Every digit once, upsampled to a random side, at a random place on 28x28.

    Returns the noisy canvases ``(1797, 28, 28)``, the labels, the digit's
    centre ``(1797, 2)`` over the canvas side (``(offset + side / 2) / 28``,
    in [9/28, 19/28]) and the sides.
    """
    rng = check_random_state(random_state)
    digits, labels = _digit_images()
    n = len(digits)
    lo, hi = LARGE_DIGIT_SIDES
    sides = rng.randint(lo, hi + 1, size=n)
    images = np.zeros((n, LARGE_SIZE, LARGE_SIZE))
    centres = np.empty((n, 2))
    for i, side in enumerate(sides):
        row, col = rng.randint(0, LARGE_SIZE - side + 1, size=2)
        _paste(images[i], _zoom_to(digits[i], side), row, col)
        centres[i] = (row + side / 2.0, col + side / 2.0)
    return _add_noise(images, rng), labels, centres / LARGE_SIZE, sides


def _large_rotated(random_state):
    """Every digit once, upsampled to 16x16, rotated, at a random place on 28x28.

    Returns the noisy canvases, the labels and the angles in degrees.
    """
    rng = check_random_state(random_state)
    digits, labels = _digit_images()
    n = len(digits)
    angles = rng.uniform(-LARGE_MAX_ANGLE, LARGE_MAX_ANGLE, size=n)
    # The 16x16 digit padded to 22x22, so that its strokes survive the rotation.
    pad = 3
    side = LARGE_ROTATED_SIDE + 2 * pad
    images = np.zeros((n, LARGE_SIZE, LARGE_SIZE))
    for i in range(n):
        big = np.pad(_zoom_to(digits[i], LARGE_ROTATED_SIDE), pad)
        rotated = ndimage.rotate(
            big, angles[i], order=1, reshape=False, mode="constant"
        )
        row, col = rng.randint(0, LARGE_SIZE - side + 1, size=2)
        _paste(images[i], np.clip(rotated, 0.0, 1.0), row, col)
    return _add_noise(images, rng), labels, angles


def _large_clutter(random_state):
    """Every digit once (18x18) on 28x28 among fragments of other digits.

    Each canvas gets ``CLUTTER_FRAGMENTS`` 7x7 crops of other (random)
    upsampled digits at random places (pasted with a pixel-wise maximum), then
    the digit itself at a random place, its 18x18 box replacing what was there
    (fragments reach the digit's box, not its strokes), then pixel noise.
    Returns the canvases, the labels and the digit's centre over the canvas
    side.
    """
    rng = check_random_state(random_state)
    digits, labels = _digit_images()
    n = len(digits)
    side, frag = LARGE_CLUTTER_SIDE, CLUTTER_FRAGMENT_SIDE
    # Upsample every digit once; fragments are crops of these.
    big = ndimage.zoom(
        digits, (1, side / 8, side / 8), order=1, grid_mode=True, mode="nearest"
    )
    big = np.clip(big, 0.0, 1.0)
    images = np.zeros((n, LARGE_SIZE, LARGE_SIZE))
    centres = np.empty((n, 2))
    for i in range(n):
        others = rng.randint(0, n - 1, size=CLUTTER_FRAGMENTS)
        others += others >= i  # never the digit itself
        for j in others:
            r, c = rng.randint(0, side - frag + 1, size=2)
            row, col = rng.randint(0, LARGE_SIZE - frag + 1, size=2)
            _paste(images[i], big[j, r : r + frag, c : c + frag], row, col)
        row, col = rng.randint(0, LARGE_SIZE - side + 1, size=2)
        images[i, row : row + side, col : col + side] = big[i]
        centres[i] = (row + side / 2.0, col + side / 2.0)
    return _add_noise(images, rng), labels, centres / LARGE_SIZE


def make_large_canvas_digits(random_state=0):
    """Classification: a digit of random size anywhere on a noisy 28x28 canvas.

    Each 8x8 digit is upsampled (bilinear, ``scipy.ndimage.zoom``) to a random
    side in 18..24 pixels and pasted once at a uniformly random position on a
    28x28 canvas, plus Gaussian noise (sigma 0.05, clipped). Measures
    translation and scale invariance at the size of MNIST.

    Returns
    -------
    X : ndarray of shape (1797, 1, 28, 28)
    y : ndarray of shape (1797,)
        The digit, 0-9.
    """
    images, labels, _, _ = _large_canvas(random_state)
    return _with_channel(images), labels


def make_large_canvas_digit(random_state=0):
    """Regression: the value (``digit / 9``) of the digit on the 28x28 canvas.

    The canvases of :func:`make_large_canvas_digits` (same ``random_state``,
    same images) with the target ``digit / 9``.

    Returns
    -------
    X : ndarray of shape (1797, 1, 28, 28)
    y : ndarray of shape (1797,)
        ``digit / 9`` in [0, 1].
    """
    images, labels, _, _ = _large_canvas(random_state)
    return _with_channel(images), labels / 9.0


def make_large_canvas_size(random_state=0):
    """Regression, three outputs: where and how large the digit is (28x28).

    The canvases of :func:`make_large_canvas_digits`; the targets are the
    digit's centre (row, column) over the canvas side (``(offset + side / 2) /
    28``, in [9/28, 19/28]) and its side scaled to [0, 1] over 18..24 pixels.
    Measures localisation and scale.

    Returns
    -------
    X : ndarray of shape (1797, 1, 28, 28)
    y : ndarray of shape (1797, 3)
        Centre row and column in [9/28, 19/28], size in [0, 1].
    """
    images, _, centres, sides = _large_canvas(random_state)
    lo, hi = LARGE_DIGIT_SIDES
    size = (sides - lo) / float(hi - lo)
    return _with_channel(images), np.column_stack([centres, size])


def make_large_rotated_digits(random_state=0):
    """Classification: a rotated digit anywhere on a noisy 28x28 canvas.

    Each digit is upsampled to 16x16, padded to 22x22, rotated by a uniform
    random angle in [-45, 45] degrees (``scipy.ndimage.rotate``, ``order=1``)
    and pasted at a random position (7x7 possible), plus noise (sigma 0.05).
    Measures rotation-tolerant recognition (6 and 9 stay apart: at most 45
    degrees).

    Returns
    -------
    X : ndarray of shape (1797, 1, 28, 28)
    y : ndarray of shape (1797,)
        The digit, 0-9.
    """
    images, labels, _ = _large_rotated(random_state)
    return _with_channel(images), labels


def make_large_tilt(random_state=0):
    """Regression: the rotation of the digit on the 28x28 canvas, ``angle / 45``.

    The canvases of :func:`make_large_rotated_digits` with the angle as target.
    Measures the reading of stroke orientation at a larger scale than
    :func:`make_tilt`, whatever the digit and its position.

    Returns
    -------
    X : ndarray of shape (1797, 1, 28, 28)
    y : ndarray of shape (1797,)
        ``angle / 45`` in [-1, 1].
    """
    images, _, angles = _large_rotated(random_state)
    return _with_channel(images), angles / LARGE_MAX_ANGLE


def make_large_clutter_digits(random_state=0):
    """Classification: an 18x18 digit among fragments of other digits (28x28).

    Each canvas holds three 7x7 crops of other upsampled digits at random
    places (pasted with a pixel-wise maximum), then the digit itself
    (upsampled to 18x18) at a random place, its box replacing what was there,
    plus noise (sigma 0.05). The fragments carry digit-like strokes next to
    the digit, so recognising it needs its whole shape, not just local stroke
    detectors.

    Returns
    -------
    X : ndarray of shape (1797, 1, 28, 28)
    y : ndarray of shape (1797,)
        The digit, 0-9.
    """
    images, labels, _ = _large_clutter(random_state)
    return _with_channel(images), labels


def make_large_clutter_position(random_state=0):
    """Regression, two outputs: where the whole digit is among the fragments.

    The canvases of :func:`make_large_clutter_digits`; the target is the
    (row, column) of the 18x18 digit's centre over the canvas side, in [0, 1]
    (``(offset + 9) / 28``, from 9/28 to 19/28). Measures localising an object
    among distractors of the same texture.

    Returns
    -------
    X : ndarray of shape (1797, 1, 28, 28)
    y : ndarray of shape (1797, 2)
        Centre row and column, each in [9/28, 19/28].
    """
    images, _, centres = _large_clutter(random_state)
    return _with_channel(images), centres


# ---------------------------------------------------------------------------
# The "signals" suite: 1-D signals as images of height 1.

#: Length of the signals.
SIGNAL_LENGTH = 96

#: Number of signals in each signal task.
SIGNAL_SAMPLES = 1500

#: Standard deviation of the Gaussian noise on the signals.
SIGNAL_NOISE = 0.1

#: Waveforms of :func:`make_signal_shapes`, in class order.
SIGNAL_SHAPES = ("sine", "square", "triangle", "sawtooth", "chirp")

#: Range of the frequency of :func:`make_signal_frequency`, cycles per sample.
SIGNAL_FREQUENCIES = (1 / 24, 1 / 4)

#: Standard deviation of the noise of :func:`make_signal_shapes` (lower: the
#: waveforms differ by little).
SIGNAL_SHAPES_NOISE = 0.05

#: Length of the signals of :func:`make_signal_motif` (fewer positions than
#: the others: an MLP must learn each motif at each of them).
SIGNAL_MOTIF_LENGTH = 64

#: Motifs of :func:`make_signal_motif`, one per row: a rise, a fall, an
#: alternation, a dip then a rise.
SIGNAL_MOTIFS = np.array(
    [
        [0.1, 0.1, 0.1, 0.9, 0.9, 0.9],
        [0.9, 0.9, 0.9, 0.1, 0.1, 0.1],
        [0.1, 0.9, 0.1, 0.9, 0.1, 0.9],
        [0.9, 0.1, 0.1, 0.1, 0.9, 0.9],
    ]
)


def _as_signals(signals):
    """Return float signals ``(n, L)`` as images ``(n, 1, 1, L)`` in [0, 1]."""
    return np.clip(signals, 0.0, 1.0)[:, np.newaxis, np.newaxis, :]


def _waveform(shape, phase):
    """Waveform ``shape`` in [-1, 1] at ``phase`` (in cycles, any real)."""
    frac = np.mod(phase, 1.0)
    if shape in ("sine", "chirp"):
        return np.sin(2 * np.pi * phase)
    if shape == "square":
        return np.where(frac < 0.5, 1.0, -1.0)
    if shape == "triangle":
        return 1.0 - 4.0 * np.abs(frac - 0.5)
    if shape == "sawtooth":
        return 2.0 * frac - 1.0
    raise ValueError(shape)


def make_signal_shapes(random_state=0):
    """Classification: which of five waveforms a burst in a noisy signal is.

    Each signal (length 96) is 0.5 plus a burst of one of
    :data:`SIGNAL_SHAPES` (sine, square, triangle, sawtooth, or a chirp: a
    sine whose frequency doubles along the burst) of random length 24..48
    samples, period 6..16 samples, phase and amplitude 0.3..0.5, at a random
    position, plus Gaussian noise (sigma 0.05), clipped to [0, 1]. 300 signals
    per class. Measures local shape detection anywhere in a 1-D signal.

    Returns
    -------
    X : ndarray of shape (1500, 1, 1, 96)
        Signals as images of height 1.
    y : ndarray of shape (1500,)
        The waveform's index in :data:`SIGNAL_SHAPES`, 0-4.
    """
    rng = check_random_state(random_state)
    n, length = SIGNAL_SAMPLES, SIGNAL_LENGTH
    labels = rng.permutation(np.arange(n) % len(SIGNAL_SHAPES))
    signals = np.full((n, length), 0.5)
    for i, label in enumerate(labels):
        width = rng.randint(24, 49)
        period = rng.uniform(6.0, 16.0)
        start = rng.randint(0, length - width + 1)
        t = np.arange(width)
        shape = SIGNAL_SHAPES[label]
        if shape == "chirp":
            # Frequency from 1/period to 2/period along the burst.
            phase = (t + t**2 / (2.0 * width)) / period
        else:
            phase = t / period
        phase = phase + rng.uniform()
        amplitude = rng.uniform(0.3, 0.5)
        signals[i, start : start + width] += amplitude * _waveform(shape, phase)
    signals += rng.normal(0.0, SIGNAL_SHAPES_NOISE, signals.shape)
    return _as_signals(signals), labels


def make_signal_motif(random_state=0):
    """Classification: which of four 6-sample motifs hides in a noisy signal.

    Each signal (length 64) is a background of independent Gaussian levels
    (mean 0.5, standard deviation 0.1) with one of the four motifs of
    :data:`SIGNAL_MOTIFS` written at a random position, plus Gaussian noise
    (sigma 0.1) everywhere, clipped to [0, 1]; 375 signals per class. The
    motifs are made of the same low and high levels (0.1, 0.9), three of each,
    in different orders: a rise, a fall, an alternation and a dip-then-rise,
    whose local steps each also occur in another motif, so that the class is
    in the arrangement of the steps. Measures detecting a pattern wider than a
    small kernel, anywhere in a sequence (a sequence-motif task).

    Returns
    -------
    X : ndarray of shape (1500, 1, 1, 64)
        Signals as images of height 1.
    y : ndarray of shape (1500,)
        The motif's index in :data:`SIGNAL_MOTIFS`, 0-3.
    """
    rng = check_random_state(random_state)
    n, length = SIGNAL_SAMPLES, SIGNAL_MOTIF_LENGTH
    width = SIGNAL_MOTIFS.shape[1]
    labels = rng.permutation(np.arange(n) % len(SIGNAL_MOTIFS))
    signals = rng.normal(0.5, 0.1, size=(n, length))
    starts = rng.randint(0, length - width + 1, size=n)
    for i, (label, start) in enumerate(zip(labels, starts, strict=True)):
        signals[i, start : start + width] = SIGNAL_MOTIFS[label]
    signals += rng.normal(0.0, SIGNAL_NOISE, signals.shape)
    return _as_signals(signals), labels


def make_signal_frequency(random_state=0):
    """Regression: the frequency of a sine burst in a noisy signal.

    Each signal (length 96) is 0.5 plus a sine burst of frequency ``f``
    uniform in [1/24, 1/4] cycles per sample, random phase, amplitude
    0.2..0.4 and a Gaussian envelope (standard deviation 6..12 samples)
    centred at a random position, plus Gaussian noise (sigma 0.1), clipped to
    [0, 1]. The target is ``f`` scaled to [0, 1] over its range. Measures
    reading a local frequency anywhere in the signal.

    Returns
    -------
    X : ndarray of shape (1500, 1, 1, 96)
        Signals as images of height 1.
    y : ndarray of shape (1500,)
        The frequency scaled to [0, 1].
    """
    rng = check_random_state(random_state)
    n, length = SIGNAL_SAMPLES, SIGNAL_LENGTH
    lo, hi = SIGNAL_FREQUENCIES
    freq = rng.uniform(lo, hi, size=n)
    phase = rng.uniform(0.0, 1.0, size=n)
    amplitude = rng.uniform(0.2, 0.4, size=n)
    width = rng.uniform(6.0, 12.0, size=n)
    centre = rng.uniform(16.0, length - 16.0, size=n)
    t = np.arange(length)[np.newaxis, :]
    envelope = np.exp(-0.5 * ((t - centre[:, None]) / width[:, None]) ** 2)
    burst = np.sin(2 * np.pi * (freq[:, None] * t + phase[:, None]))
    signals = 0.5 + amplitude[:, None] * envelope * burst
    signals += rng.normal(0.0, SIGNAL_NOISE, signals.shape)
    return _as_signals(signals), (freq - lo) / (hi - lo)


def make_signal_position(random_state=0):
    """Regression: where a narrow pulse is, beside a wide bump of the same height.

    Each signal (length 96) is 0.2 plus a narrow Gaussian pulse (standard
    deviation 1.5 samples) and a wide one (standard deviation 6 samples, the
    distractor), both of height 0.4..0.6 at independent random positions, plus
    Gaussian noise (sigma 0.1), clipped to [0, 1]. The target is the narrow
    pulse's centre over the signal's last index, in [0, 1]. Measures telling
    a shape apart from a distractor and localising it.

    Returns
    -------
    X : ndarray of shape (1500, 1, 1, 96)
        Signals as images of height 1.
    y : ndarray of shape (1500,)
        The narrow pulse's position, in [0, 1].
    """
    rng = check_random_state(random_state)
    n, length = SIGNAL_SAMPLES, SIGNAL_LENGTH
    t = np.arange(length)[np.newaxis, :]
    pos = rng.uniform(0.0, length - 1.0, size=n)
    other = rng.uniform(0.0, length - 1.0, size=n)
    heights = rng.uniform(0.4, 0.6, size=(n, 2))
    signals = (
        0.2
        + heights[:, :1] * np.exp(-0.5 * ((t - pos[:, None]) / 1.5) ** 2)
        + heights[:, 1:] * np.exp(-0.5 * ((t - other[:, None]) / 6.0) ** 2)
    )
    signals += rng.normal(0.0, SIGNAL_NOISE, signals.shape)
    return _as_signals(signals), pos / (length - 1.0)


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

LARGE_REGRESSION_TASKS = {
    "large_canvas_digit": make_large_canvas_digit,
    "large_canvas_size": make_large_canvas_size,
    "large_tilt": make_large_tilt,
    "large_clutter_position": make_large_clutter_position,
}

LARGE_CLASSIFICATION_TASKS = {
    "large_canvas_digits": make_large_canvas_digits,
    "large_rotated_digits": make_large_rotated_digits,
    "large_clutter_digits": make_large_clutter_digits,
}

SIGNAL_REGRESSION_TASKS = {
    "signal_frequency": make_signal_frequency,
    "signal_position": make_signal_position,
}

SIGNAL_CLASSIFICATION_TASKS = {
    "signal_shapes": make_signal_shapes,
    "signal_motif": make_signal_motif,
}
