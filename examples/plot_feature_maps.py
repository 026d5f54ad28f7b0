"""
===========================================
What the network sees: kernels and maps
===========================================

A fitted :class:`~sktinycnn.TinyConvRegressor` is small enough to look at:
its convolution kernels (``kernels_``) and the post-tanh feature maps that they
make of an image (:meth:`~sktinycnn.TinyConvRegressor.feature_maps`).
:mod:`sktinycnn.plotting` draws both.
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
# ``kernels_`` are true convolution kernels (flipped, as in
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
plt.show()
