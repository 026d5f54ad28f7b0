"""
==============================================
Several targets at once, and sample weights
==============================================

:class:`~sktinycnn.TinyConvRegressor` accepts a 2-D ``y`` of shape
``(n_samples, n_outputs)``: one output unit (and one sigmoid, and one target
scaling) per target, all sharing the convolutional layer. It also accepts
``sample_weight`` in ``fit``: the loss becomes the weighted mean, so an integer
weight counts like a repeated row.
"""

# %%
# Two continuous quantities of each digit image
# ---------------------------------------------
# The ink mass (how much of the image is inked) and the vertical centre of
# the ink (0 at the top row, 7 at the bottom). The first is linear in the
# pixels, the second is a ratio, so not.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

from sktinycnn import TinyConvRegressor

X, digit = load_digits(return_X_y=True)
X = X / 16
images = X.reshape(-1, 8, 8)
ink = images.sum(axis=(1, 2))
centre = (images.sum(axis=2) * np.arange(8)).sum(axis=1) / ink
Y = np.column_stack([ink, centre])
X_train, X_test, Y_train, Y_test, d_train, d_test = train_test_split(
    X, Y, digit, test_size=0.3, random_state=0
)

model = TinyConvRegressor(
    n_filters=6, kernel_size=3, max_iter=300, tol=1e-6, random_state=0
)
model.fit(X_train, Y_train)
Y_pred = model.predict(X_test)
print("outputs:", model.n_outputs_, " prediction shape:", Y_pred.shape)
print("held-out R² per target:", r2_score(Y_test, Y_pred, multioutput="raw_values"))

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for k, (ax, name) in enumerate(zip(axes, ["ink mass", "vertical centre of ink"],
                                   strict=True)):
    ax.scatter(Y_test[:, k], Y_pred[:, k], s=6, alpha=0.5)
    low, high = Y_test[:, k].min(), Y_test[:, k].max()
    ax.plot([low, high], [low, high], color="k", lw=1)
    ax.set_xlabel(f"true {name}")
    ax.set_ylabel(f"predicted {name}")
    ax.set_title(f"{name}: R² = {r2_score(Y_test[:, k], Y_pred[:, k]):.3f}")
fig.suptitle("One model, two outputs")
fig.tight_layout()

# %%
# Sample weights are repeated rows
# --------------------------------
# With full-batch training (``batch_size="auto"`` is ``min(64, n_samples)``,
# so fewer than 64 rows make one batch), weights of 0 to 3 train exactly like
# the data with each row repeated that many times.
rng = np.random.RandomState(0)
X_small, y_small = X_train[:60], Y_train[:60, 1]
weights = rng.randint(0, 4, size=60)
settings = {"n_filters": 2, "max_iter": 50, "random_state": 0}
with warnings.catch_warnings():
    # A short, fixed budget: both fits run all 50 epochs on purpose.
    warnings.simplefilter("ignore", ConvergenceWarning)
    weighted = TinyConvRegressor(**settings).fit(X_small, y_small, weights)
    repeated = TinyConvRegressor(**settings).fit(
        np.repeat(X_small, weights, axis=0), np.repeat(y_small, weights)
    )
difference = np.abs(weighted.predict(X_test) - repeated.predict(X_test)).max()
print(f"largest difference between the two models' predictions: {difference:.1e}")

# %%
# Weights to favour part of the data
# ----------------------------------
# Predicting ``digit / 9``, we weigh the images of 0s and 1s five times more
# than the others. Their error drops markedly; the others' barely changes.
fit_settings = {"n_filters": 4, "kernel_size": 3, "max_iter": 200, "tol": 1e-5,
                "random_state": 0}
in_group, in_group_test = d_train <= 1, d_test <= 1
errors = {}
for name, sample_weight in [("unweighted", None),
                            ("0s and 1s weighted x5", np.where(in_group, 5.0, 1.0))]:
    fitted = TinyConvRegressor(**fit_settings).fit(
        X_train, d_train / 9, sample_weight=sample_weight
    )
    pred = 9 * fitted.predict(X_test)
    errors[name] = [
        mean_absolute_error(d_test[in_group_test], pred[in_group_test]),
        mean_absolute_error(d_test[~in_group_test], pred[~in_group_test]),
    ]
    print(f"{name:22} mean absolute error: 0s and 1s {errors[name][0]:.2f}, "
          f"others {errors[name][1]:.2f}")

fig, ax = plt.subplots(figsize=(6, 3.8))
positions = np.arange(2)
for offset, (name, values) in zip((-0.2, 0.2), errors.items(), strict=True):
    ax.bar(positions + offset, values, width=0.4, label=name)
ax.set_xticks(positions, ["held-out 0s and 1s", "held-out 2s to 9s"])
ax.set_ylabel("mean absolute error (digits)")
ax.set_title("Sample weights put accuracy where it is wanted")
ax.legend()
fig.tight_layout()
plt.show()
