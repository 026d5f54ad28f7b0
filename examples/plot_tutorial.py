"""
==========================
Reproducing the tutorial
==========================

The tutorial *Only Numpy: Implementing Convolutional Neural Network using
Numpy* trains a one-kernel network on four 3x3 images for 1000 epochs of
per-image SGD and prints its cost, outputs and weights. Here
:class:`~sktinycnn.TinyConvRegressor` replays that run with the parameters in
:data:`sktinycnn.datasets.TUTORIAL_PARAMS`, and we print our numbers beside the
tutorial's own (:func:`sktinycnn.datasets.tutorial_reference`).
"""

# %%
# The data and the run
# --------------------
# Four images: all zeros, a top row of ones, two bottom rows of ones, all ones.
import copy
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sktinycnn import TinyConvRegressor
from sktinycnn.datasets import TUTORIAL_PARAMS, load_tutorial, tutorial_reference
from sktinycnn.plotting import KernelsDisplay, LossCurveDisplay

X, y = load_tutorial()
model = TinyConvRegressor(**TUTORIAL_PARAMS)
with warnings.catch_warnings():
    # The tutorial runs exactly 1000 epochs: reaching max_iter is the point.
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X, y)
model.n_iter_

# %%
# The network before training
# ---------------------------
# The initial weights are ``kernel_scale`` times standard normal draws from
# ``RandomState(random_state)``, kernels first, then dense weights: with the
# tutorial's seed and scale they are its ``w1`` and ``w2``. A copy of the fitted
# model holding them gives the outputs and the cost before training.
rng = np.random.RandomState(TUTORIAL_PARAMS["random_state"])
initial = copy.deepcopy(model)
initial.kernels_ = [4.0 * rng.standard_normal(model.kernels_[0].shape)]
initial.coef_ = 4.0 * rng.standard_normal(model.coef_.shape)

# %%
# Side by side
# ------------
reference = tutorial_reference()
start_out, final_out = initial.predict(X), model.predict(X)
rows = [
    ("cost before training", reference["cost_before_training"],
     0.5 * np.sum((start_out - y) ** 2)),
    ("cost after training", reference["cost_after_training"],
     0.5 * np.sum((final_out - y) ** 2)),
]
rows += [(f"output x{i + 1} before", reference["start_output"][i], start_out[i])
         for i in range(4)]
rows += [(f"output x{i + 1} after", reference["final_output"][i], final_out[i])
         for i in range(4)]
rows += [(f"w1 final {ij}", reference["w1_final"][ij], model.kernels_[0][0, 0][ij])
         for ij in np.ndindex(2, 2)]
rows += [(f"w2 final [{i}]", reference["w2_final"][i], model.coef_[i, 0])
         for i in range(4)]
print(f"{'':24} {'tutorial':>18} {'sktinycnn':>18} {'|diff|':>8}")
for name, theirs, ours in rows:
    print(f"{name:24} {theirs:18.14f} {ours:18.14f} {abs(theirs - ours):8.1e}")

# %%
# Every number agrees to the last bit or two: the same float64 operations in
# the same order. The trained outputs are 0.5, 0.77, 0.98 and 0.98 for
# targets 0.53, 0.77, 0.88 and 1.1: without a bias the all-zeros image is stuck
# at :math:`\sigma(0) = 0.5`, and 1.1 is out of the sigmoid's reach.
#
# Loss curve and kernel
# ---------------------
# The initial weights (scale 4) saturate the tanh and the sigmoid, so the loss
# hardly moves for about 140 epochs before it drops.
fig, (ax_loss, ax_out) = plt.subplots(1, 2, figsize=(10, 3.8))
LossCurveDisplay.from_estimator(model, ax=ax_loss)
ax_loss.set_title("Mean loss per epoch (per image)")
positions = np.arange(4)
ax_out.bar(positions - 0.27, y, width=0.27, label="target")
ax_out.bar(positions, start_out, width=0.27, label="before training")
ax_out.bar(positions + 0.27, final_out, width=0.27, label="after training")
ax_out.axhline(1.0, color="k", lw=0.8, ls="--")
ax_out.set_xticks(positions, [f"x{i + 1}" for i in positions])
ax_out.set_title("Outputs (the sigmoid stays below 1)")
ax_out.legend(loc="upper left")
fig.tight_layout()

# %%
# The kernel barely changed: it is the dense weights that learned.
display = KernelsDisplay.from_estimator(model)
display.figure_.suptitle("Kernel w1 after 1000 epochs")
plt.show()
