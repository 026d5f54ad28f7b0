"""
===========================================
What the network sees: kernels and maps
===========================================

A fitted :class:`~sktinycnn.TinyConvRegressor` is small enough to look at:
its convolution kernels (``kernels_``, one array per block) and the post-tanh
feature maps that they make of an image
(:meth:`~sktinycnn.TinyConvRegressor.feature_maps`). :mod:`sktinycnn.plotting`
draws both, for any block.
"""

# %%
# A model of four 3x3 kernels, trained to predict ``digit / 9`` from the 8x8
# digits.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sktinycnn import TinyConvRegressor
from sktinycnn.plotting import FeatureMapsDisplay, KernelsDisplay

X, digit = load_digits(return_X_y=True)
X = X / 16
model = TinyConvRegressor(
    n_filters=4, kernel_size=3, max_iter=200, tol=1e-5, random_state=0
)
model.fit(X[:1200], digit[:1200] / 9)
score = model.score(X[1200:], digit[1200:] / 9)
print(f"{model.n_iter_} epochs, held-out R² {score:.3f}")

# %%
# The kernels
# -----------
# ``kernels_[0]`` are true convolution kernels (flipped, as in
# ``scipy.signal.convolve2d``); ``flip=True`` shows them the way they slide
# over the image, as templates: red weights respond to ink, blue to its absence.
display = KernelsDisplay.from_estimator(model, flip=True)
display.figure_.suptitle("Learned 3x3 kernels, shown as templates")

# %%
# The feature maps
# ----------------
# Each row is one held-out digit and its four 6x6 maps, ``tanh(conv + bias)``
# from -1 (blue) to 1 (red). Kernels that look like strokes light up where the
# digit has such strokes; the dense layer weighs these maps into the output.
rows = [int(np.flatnonzero(digit[1200:] == d)[0]) + 1200 for d in (0, 1, 4, 7, 8)]
predicted = 9 * model.predict(X[rows])
labels = [
    f"{digit[r]}, predicted {p:.1f}" for r, p in zip(rows, predicted, strict=True)
]
display = FeatureMapsDisplay.from_estimator(model, X[rows], labels=labels)
display.figure_.suptitle("Digits and their feature maps")

# %%
# A second block
# --------------
# With ``n_filters=(4, 8)`` a second block of eight 3x3 kernels reads the
# first block's four maps, max-pooled to 4x4. Its kernels, ``kernels_[1]``,
# have one 3x3 slice per input map; ``block=1`` (or ``-1``, the last) draws
# them, and ``channels`` keeps a few input maps so that the grid stays
# readable.
deep = TinyConvRegressor(
    n_filters=(4, 8), kernel_size=3, pooling=["max", None], pool_size=2,
    max_iter=200, tol=1e-5, random_state=0,
)
deep.fit(X[:1200], digit[:1200] / 9)
score = deep.score(X[1200:], digit[1200:] / 9)
print(f"{deep.n_iter_} epochs, held-out R² {score:.3f}, kernels "
      f"{[kernels.shape for kernels in deep.kernels_]}")
display = KernelsDisplay.from_estimator(deep, block=1, channels=[0, 1], flip=True)
display.figure_.suptitle("Block 1: its kernels on the first two maps of block 0")

# %%
# The second block's maps, 4x4 and not pooled, are what the dense layer sees;
# the images drawn beside them are still the input digits.
predicted = 9 * deep.predict(X[rows])
labels = [
    f"{digit[r]}, predicted {p:.1f}" for r, p in zip(rows, predicted, strict=True)
]
display = FeatureMapsDisplay.from_estimator(deep, X[rows], block=-1, labels=labels)
display.figure_.suptitle("Digits and the maps of the second block")
plt.show()
