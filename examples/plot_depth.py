"""
=====================================
Depth: when a second block pays
=====================================

One convolution block sees patterns as large as its kernel. When the digit
may sit anywhere on a larger canvas, a second block, reading the first
block's pooled maps, sees patterns of patterns over a larger part of the
image. ``n_filters=(16, 32)`` chains two blocks; the other network parameters
take one value for every block or a list with one per block.

The task: each of scikit-learn's 1797 digits pasted at a random place on a
noisy 14x14 canvas (:func:`sktinycnn.datasets.load_digit_canvas`), and the
digit's value / 9 to predict, as in the demo. Every training hyperparameter
stays at its default.
"""

# %%
import time

import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor

from sktinycnn import TinyConvRegressor
from sktinycnn.datasets import load_digit_canvas

images, digit, _ = load_digit_canvas(random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    images, digit / 9, test_size=0.3, random_state=0
)

models = {
    "MLPRegressor()": MLPRegressor(random_state=0),
    "one block (defaults)": TinyConvRegressor(random_state=0),
    "two blocks (16, 32)": TinyConvRegressor(
        n_filters=(16, 32), kernel_size=3, padding="same", pool_size=[2, "global"],
        random_state=0,
    ),
}
scores, seconds = {}, {}
for name, model in models.items():
    flat = name.startswith("MLP")
    train = X_train.reshape(len(X_train), -1) if flat else X_train
    test = X_test.reshape(len(X_test), -1) if flat else X_test
    start = time.perf_counter()
    model.fit(train, y_train)
    seconds[name] = time.perf_counter() - start
    scores[name] = model.score(test, y_test)
    print(f"{name:22} held-out R² {scores[name]:.3f}, fit {seconds[name]:.1f} s")

# %%
# The second block's maps are what the dense layer reads: with
# ``pool_size=[2, "global"]`` each of its 32 maps is pooled to one value, the
# largest response anywhere on the canvas, so the dense layer sees which
# patterns of patterns are present, not where.
deep = models["two blocks (16, 32)"]
print("kernels per block:", [k.shape for k in deep.kernels_])
print("pool sizes per block:", deep.pool_size_)
print("dense inputs:", deep.coef_.shape[0])

# %%
# Held-out R² of the three models.
fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(scores), list(scores.values()), color=["grey", "C0", "C1"])
for y, score in enumerate(scores.values()):
    ax.text(score + 0.01, y, f"{score:.2f}", va="center")
ax.set_xlim(0, 1)
ax.set_xlabel("held-out R² (digit / 9)")
ax.set_title("Digits anywhere on a 14x14 canvas")
fig.tight_layout()
plt.show()
