"""
=====================================================
Pooling: recognising a digit wherever it sits
=====================================================

Each of scikit-learn's digits is pasted at a random place on a 14x14 noisy
canvas (:func:`sktinycnn.datasets.load_digit_canvas`), and the target is the
digit's value divided by 9. A fully connected network sees a different set of
pixels for every position; a convolution sees the same strokes wherever they
are, and a max pool over the whole map (``pool_size="global"``) keeps only
*whether* a kernel's pattern occurs, not where. This compares
:class:`~sklearn.neural_network.MLPRegressor`, the unpooled network and the
pooled one on the same split.
"""

# %%
# The data and the three models.
import time
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor

from sktinycnn import TinyConvRegressor
from sktinycnn.datasets import load_digit_canvas
from sktinycnn.plotting import KernelsDisplay

images, digit, _ = load_digit_canvas(canvas_size=14, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    images, digit / 9, test_size=0.3, random_state=0
)
network = dict(n_filters=8, kernel_size=5, batch_size=64, random_state=0)
models = {
    "MLPRegressor()": MLPRegressor(random_state=0),
    "CNN, no pooling": TinyConvRegressor(pooling=None, **network),
    "CNN, global max pool": TinyConvRegressor(
        pooling="max", pool_size="global", **network
    ),
}
scores = {}
for name, model in models.items():
    flat = isinstance(model, MLPRegressor)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # MLPRegressor may reach max_iter here: the comparison stands anyway.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train.reshape(len(X_train), -1) if flat else X_train, y_train)
    seconds = time.perf_counter() - start
    test = X_test.reshape(len(X_test), -1) if flat else X_test
    scores[name] = model.score(test, y_test)
    print(f"{name:22s} held-out R² {scores[name]:6.3f}   fit {seconds:5.1f} s")

# %%
# A few test canvases with the predictions of each model (in digits).
fig, axes = plt.subplots(1, 6, figsize=(10, 2.6))
for ax, i in zip(axes, range(6), strict=True):
    ax.imshow(X_test[i], cmap="gray_r")
    ax.set_axis_off()
    lines = [f"true {y_test[i] * 9:.0f}"]
    for name, model in models.items():
        x = X_test[i : i + 1]
        if isinstance(model, MLPRegressor):
            x = x.reshape(1, -1)
        short = name.split(",")[-1].strip().split()[0]
        lines.append(f"{short}: {model.predict(x)[0] * 9:.1f}")
    ax.set_title("\n".join(lines), fontsize=7)
fig.tight_layout()

# %%
# The kernels the pooled network learned: stroke detectors that fire wherever
# the stroke is, the max pool reporting their strongest response.
KernelsDisplay.from_estimator(models["CNN, global max pool"])
plt.show()
