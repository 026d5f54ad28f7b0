"""
=========================================================
Training controls: progress, early stopping, optimisers
=========================================================

:class:`~sktinycnn.TinyConvRegressor` has the training controls of
:class:`~sklearn.neural_network.MLPRegressor`: ``verbose`` progress lines,
early stopping on a held-out validation fraction, SGD with momentum or Adam,
and the curves they leave behind (``loss_curve_``, ``validation_scores_``).
"""

# %%
# Progress
# --------
# ``verbose=1`` prints one line per epoch. (Three epochs only, so it warns
# that it has not converged: silenced here, since that is the point.)
import importlib.util
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sktinycnn import TinyConvRegressor
from sktinycnn.plotting import LossCurveDisplay

X, digit = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16, digit / 9, train_size=1000, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    TinyConvRegressor(n_filters=4, kernel_size=3, max_iter=3, verbose=1,
                      random_state=0).fit(X_train, y_train)

# %%
# scikit-learn 1.9 and newer also have a callback API; with the optional
# ``rich`` package installed, its ``ProgressBar`` draws a live bar instead.
has_progress_bar = importlib.util.find_spec("rich") is not None and (
    importlib.util.find_spec("sklearn.callback") is not None
)
if has_progress_bar:
    from sklearn.callback import ProgressBar

    TinyConvRegressor(n_filters=4, kernel_size=3, max_iter=20, tol=1e-3,
                      random_state=0).set_callbacks(ProgressBar()).fit(
        X_train, y_train
    )

# %%
# Early stopping
# --------------
# ``early_stopping=True`` holds out ``validation_fraction`` of the training
# data, records its R² after every epoch and stops when it has not improved by
# ``tol`` for ``n_iter_no_change`` epochs, keeping the weights of the best
# epoch.
model = TinyConvRegressor(
    n_filters=4, kernel_size=3, max_iter=500, early_stopping=True,
    validation_fraction=0.2, n_iter_no_change=15, random_state=0,
)
model.fit(X_train, y_train)
best_epoch = model.validation_scores_.index(model.best_validation_score_) + 1
print(f"stopped after {model.n_iter_} epochs; best validation R² "
      f"{model.best_validation_score_:.3f} at epoch {best_epoch}; "
      f"test R² {model.score(X_test, y_test):.3f}")

display = LossCurveDisplay.from_estimator(model)
display.ax_.set_title("Early stopping: training loss and validation R²")

# %%
# Optimisers
# ----------
# The same network and data under three optimisers, for 60 epochs each:
# plain SGD, SGD with Nesterov's momentum, and Adam (the default).
solvers = {
    "sgd, no momentum": {"solver": "sgd", "momentum": 0.0, "learning_rate": 0.1},
    "sgd, Nesterov momentum 0.9": {"solver": "sgd", "learning_rate": 0.1},
    "adam": {"solver": "adam", "learning_rate": 0.01},
}
fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
for name, params in solvers.items():
    with warnings.catch_warnings():
        # A fixed budget of 60 epochs, so that the curves are comparable.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = TinyConvRegressor(n_filters=4, kernel_size=3, max_iter=60,
                                   tol=0.0, random_state=0, **params)
        fitted.fit(X_train, y_train)
    LossCurveDisplay.from_estimator(
        fitted, ax=ax, label=f"{name} (test R² {fitted.score(X_test, y_test):.2f})"
    )
for line, color in zip(ax.get_lines(), ["C0", "C1", "C2"], strict=True):
    line.set_color(color)
ax.legend(handles=ax.get_lines())
ax.set_title("Training loss by optimiser")
plt.show()
