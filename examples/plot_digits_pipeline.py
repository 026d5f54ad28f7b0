"""
=================================================================
A ``Pipeline`` on the digits, against ``MLPRegressor`` and Ridge
=================================================================

The 8x8 digit images of :func:`~sklearn.datasets.load_digits` come as 64
columns with values 0 to 16. We predict a continuous quantity of each image,
``digit / 9``, with a :class:`~sklearn.pipeline.Pipeline` that scales the
pixels to [0, 1] and fits :class:`~sktinycnn.TinyConvRegressor`, and compare
it on a held-out split with a fully connected network
(:class:`~sklearn.neural_network.MLPRegressor`) and a linear model
(:class:`~sklearn.linear_model.RidgeCV`).
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sktinycnn import TinyConvRegressor

X, digit = load_digits(return_X_y=True)
y = digit / 9
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0
)

# One global scale keeps the images' spatial structure (a per-pixel
# StandardScaler would put each pixel on its own scale).
to_unit = FunctionTransformer(lambda X: X / 16)
models = {
    "TinyConvRegressor": make_pipeline(
        to_unit,
        TinyConvRegressor(
            n_filters=8, kernel_size=3, max_iter=200, tol=1e-5, random_state=0
        ),
    ),
    "MLPRegressor": make_pipeline(
        to_unit,
        MLPRegressor(hidden_layer_sizes=(64,), max_iter=300, random_state=0),
    ),
    "RidgeCV": make_pipeline(to_unit, RidgeCV(alphas=np.logspace(-3, 3, 13))),
}
scores, predictions = {}, {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    scores[name] = model.score(X_test, y_test)
    predictions[name] = model.predict(X_test)
    print(f"{name:18} held-out R² {scores[name]:.3f}  ({seconds:.1f} s to fit)")

# %%
# The convolution shares 8 small kernels over the image, so with 8 * 9 + 8 *
# 36 weights it learns far more than the linear model. The fully connected
# network, with its 64 x 64 + 64 weights, does about as well: on such small
# images, weight sharing buys little accuracy, but a model of few weights whose
# kernels can be looked at (see the feature-maps example).
fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=True)
rng = np.random.RandomState(0)
jitter = rng.uniform(-0.3, 0.3, size=y_test.shape)  # spread the 10 columns
for ax, (name, pred) in zip(axes, predictions.items(), strict=True):
    ax.scatter(9 * y_test + jitter, 9 * pred, s=6, alpha=0.5)
    ax.plot([0, 9], [0, 9], color="k", lw=1)
    ax.set_title(f"{name}: R² = {scores[name]:.3f}")
    ax.set_xlabel("true digit")
axes[0].set_ylabel("predicted 9 * output")
fig.suptitle("Held-out predictions of digit / 9 (scaled back to 0..9)")
fig.tight_layout()
plt.show()
