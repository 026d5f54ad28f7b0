"""
=====================================================
Tuning ``learning_rate`` and ``kernel_scale``
=====================================================

:class:`~sktinycnn.TinyConvRegressor` is an ordinary scikit-learn estimator,
so :class:`~sklearn.model_selection.GridSearchCV` tunes it like any other.
Here we search the step size ``learning_rate`` and the initial weight scale
``kernel_scale`` on scikit-learn's 8x8 digits, predicting ``digit / 9`` from
the pixels, and draw the mean cross-validated R² as a heatmap.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from sktinycnn import TinyConvRegressor

X, digit = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16, digit / 9, train_size=800, test_size=400, random_state=0
)

learning_rates = [0.001, 0.003, 0.01, 0.03, 0.1]
kernel_scales = [None, 0.1, 0.3, 1.0, 4.0]
search = GridSearchCV(
    TinyConvRegressor(n_filters=4, kernel_size=3, max_iter=40, random_state=0),
    {"learning_rate": learning_rates, "kernel_scale": kernel_scales},
    cv=3,
)
with warnings.catch_warnings():
    # 40 epochs per fit keep the sweep quick; fits that would go on improving
    # warn, which is expected here.
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated R²: {search.best_score_:.3f}")
print(f"held-out R²:        {search.score(X_test, y_test):.3f}")

# %%
# The heatmap
# -----------
# Each cell is looked up by its parameters in ``cv_results_``.
scores = np.empty((len(learning_rates), len(kernel_scales)))
for params, score in zip(
    search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
):
    i = learning_rates.index(params["learning_rate"])
    j = kernel_scales.index(params["kernel_scale"])
    scores[i, j] = score

fig, ax = plt.subplots(figsize=(6.5, 4.5))
# Very bad fits (R² far below 0) would squash the colour scale: clip at -0.5.
image = ax.imshow(np.clip(scores, -0.5, None), cmap="viridis")
for (i, j), score in np.ndenumerate(scores):
    ax.text(j, i, f"{score:.2f}", ha="center", va="center",
            color="black" if score > 0.4 else "white")
ax.set_xticks(range(len(kernel_scales)), [str(s) for s in kernel_scales])
ax.set_yticks(range(len(learning_rates)), [str(r) for r in learning_rates])
ax.set_xlabel("kernel_scale (None: fan-in default)")
ax.set_ylabel("learning_rate")
ax.set_title("Mean cross-validated R² (digit / 9)")
fig.colorbar(image, ax=ax, label="R² (clipped at -0.5)")
fig.tight_layout()
plt.show()

# %%
# Large initial weights (the tutorial's 4) saturate the tanh and the sigmoid:
# those fits hardly learn in 40 epochs whatever the step size. The fan-in
# default (``None``) is a good start, and the step size then matters most.
