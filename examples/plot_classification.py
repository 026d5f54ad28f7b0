"""
==========================================
Classifying digits with TinyConvClassifier
==========================================

:class:`~sktinycnn.TinyConvClassifier` on scikit-learn's 8x8 digits: a
confusion matrix, the predicted probabilities of a few images, and a harder
task, digits pasted anywhere on a noisy 14x14 canvas, where max pooling
helps, beside :class:`~sklearn.neural_network.MLPClassifier`.
"""

# %%
# Digits
# ------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sktinycnn import TinyConvClassifier

X, y = load_digits(return_X_y=True)
images = X.reshape(-1, 8, 8) / 16
X_train, X_test, y_train, y_test = train_test_split(
    images, y, test_size=0.3, stratify=y, random_state=0
)
model = TinyConvClassifier(random_state=0).fit(X_train, y_train)
print(f"held-out accuracy: {model.score(X_test, y_test):.3f}")
ConfusionMatrixDisplay.from_estimator(model, X_test, y_test)
plt.title("TinyConvClassifier on digits")

# %%
# Probabilities of a few images
# -----------------------------
proba = model.predict_proba(X_test[:4])
fig, axes = plt.subplots(2, 4, figsize=(9, 4))
for i in range(4):
    axes[0, i].imshow(X_test[i], cmap="gray_r")
    axes[0, i].set_axis_off()
    axes[0, i].set_title(f"label {y_test[i]}")
    axes[1, i].bar(model.classes_, proba[i])
    axes[1, i].set_xticks(model.classes_)
    axes[1, i].set_ylim(0, 1)
fig.tight_layout()

# %%
# Digits anywhere on a canvas
# ---------------------------
# Each digit is pasted at a random position on a 14x14 canvas with Gaussian
# noise. A dense network must learn every position separately; pooled
# feature maps tolerate the shift.
rng = np.random.RandomState(0)
n = 1200
canvas = np.zeros((n, 14, 14))
for k, (row, col) in enumerate(rng.randint(0, 7, size=(n, 2))):
    canvas[k, row:row + 8, col:col + 8] = images[k]
canvas = np.clip(canvas + rng.normal(0, 0.1, canvas.shape), 0, 1)
C_train, C_test, c_train, c_test = train_test_split(
    canvas, y[:n], test_size=0.3, stratify=y[:n], random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    pooled = TinyConvClassifier(
        kernel_size=5, pool_size=4, max_iter=60, random_state=0
    ).fit(C_train, c_train)
    mlp = MLPClassifier(max_iter=60, random_state=0).fit(
        C_train.reshape(len(C_train), -1), c_train
    )
scores = {
    "TinyConvClassifier\n(max pooling)": pooled.score(C_test, c_test),
    "MLPClassifier": mlp.score(C_test.reshape(len(C_test), -1), c_test),
}
for name, score in scores.items():
    print(f"{name.splitlines()[0]}: {score:.3f}")
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(list(scores), list(scores.values()))
ax.set_ylabel("held-out accuracy")
ax.set_ylim(0, 1)
ax.set_title("Digits anywhere on a 14x14 canvas")
fig.tight_layout()
plt.show()
