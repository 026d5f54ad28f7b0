"""
===========================================
Export to ONNX and predict with onnxruntime
===========================================

A :class:`~sktinycnn.TinyConvRegressor` trained in scikit-learn can serve
without Python: :func:`sktinycnn.onnx.to_onnx` writes it as an ONNX model,
which `onnxruntime <https://onnxruntime.ai>`_ runs. Here a network learns to
read the digit off the 8x8 images of the digits data set (a regression on
``digit / 9``), is exported, reloaded from disk and compared with
:meth:`~sktinycnn.TinyConvRegressor.predict`, in float32 and in float64. A
whole pipeline then goes through skl2onnx.

Needs the optional extra ``onnx`` (``pip install "sktinycnn[onnx]"``).
"""

# %%
# Train a float32 network
# -----------------------
# The model computes in the dtype of the ``X`` it was fitted on; float32 is the
# usual choice for serving.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnx
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sktinycnn import TinyConvRegressor
from sktinycnn.onnx import to_onnx

X, digit = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    (X / 16).astype(np.float32), digit / 9, test_size=0.5, random_state=0
)
model = TinyConvRegressor(n_filters=4, kernel_size=3, tol=1e-4, random_state=0)
model.fit(X_train, y_train)
print(f"R² on the test half: {model.score(X_test, y_test):.3f}")

# %%
# Export, save and reload
# -----------------------
# The graph takes flat rows ``(n_samples, 64)`` (any number of them) and
# returns ``(n_samples, n_outputs)``. ONNX ``Conv`` is a cross-correlation, so
# the exported kernels are ``kernels_`` flipped; ``onnx.checker`` has already
# validated the model.
onx = to_onnx(model, X_train[:1])
print([node.op_type for node in onx.graph.node])

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "digits.onnx"
    onnx.save(onx, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
y_onnx = session.run(None, {"X": X_test})[0].ravel()
y_sklearn = model.predict(X_test)
print(f"largest difference (float32): {np.abs(y_onnx - y_sklearn).max():.2g}")

# %%
# The same in float64
# -------------------
# A model fitted on float64 ``X`` exports in double. onnxruntime has no
# double ``Conv`` on CPU, so the graph computes the convolution as a matrix
# product of the flipped kernels with image patches, as the estimator does.
model64 = TinyConvRegressor(n_filters=4, kernel_size=3, tol=1e-4, random_state=0)
model64.fit(X_train.astype(np.float64), y_train)
onx64 = to_onnx(model64)
print(sorted({node.op_type for node in onx64.graph.node}))
session64 = ort.InferenceSession(
    onx64.SerializeToString(), providers=["CPUExecutionProvider"]
)
X_test64 = X_test.astype(np.float64)
diff64 = session64.run(None, {"X": X_test64})[0].ravel() - model64.predict(X_test64)
print(f"largest difference (float64): {np.abs(diff64).max():.2g}")

# %%
# A pipeline through skl2onnx
# ---------------------------
# :func:`~sktinycnn.onnx.register_skl2onnx` tells skl2onnx how to convert the
# estimator; ``skl2onnx.to_onnx`` then converts the whole pipeline.
from skl2onnx import to_onnx as skl2onnx_to_onnx
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktinycnn.onnx import register_skl2onnx

register_skl2onnx()
pipe = make_pipeline(
    StandardScaler(),
    TinyConvRegressor(n_filters=4, kernel_size=3, tol=1e-4, random_state=0),
)
pipe.fit(X_train, y_train)
pipe_session = ort.InferenceSession(
    skl2onnx_to_onnx(pipe, X_train[:1]).SerializeToString(),
    providers=["CPUExecutionProvider"],
)
diff_pipe = pipe_session.run(None, {"X": X_test})[0].ravel() - pipe.predict(X_test)
print(f"largest difference (pipeline): {np.abs(diff_pipe).max():.2g}")

# %%
# Compare
# -------
# Left: onnxruntime's predictions against scikit-learn's, one dot per test
# image, coloured by the true digit. Right: the absolute differences; they are
# rounding, at the scale of each dtype's machine epsilon (dotted lines).
fig, (ax_scatter, ax_hist) = plt.subplots(1, 2, figsize=(10, 4.2))
points = ax_scatter.scatter(
    9 * y_sklearn, 9 * y_onnx, c=9 * y_test, cmap="tab10", s=8, vmin=-0.5,
    vmax=9.5,
)
ax_scatter.plot([-1, 10], [-1, 10], color="0.5", lw=0.8)
ax_scatter.set(
    xlabel="TinyConvRegressor.predict (digit)",
    ylabel="onnxruntime (digit)",
    title="float32 model: ONNX vs scikit-learn",
    aspect="equal",
)
fig.colorbar(points, ax=ax_scatter, label="true digit", ticks=range(10))

tiny = 1e-18  # identical values, drawn at the left edge of the log axis
bins = np.logspace(-18.5, -5, 41)
for diff, label in [
    (y_onnx - y_sklearn, "float32 model"),
    (diff_pipe, "float32 pipeline (skl2onnx)"),
    (diff64, "float64 model"),
]:
    ax_hist.hist(np.abs(diff) + tiny, bins=bins, histtype="step", lw=1.5, label=label)
for dtype in (np.float32, np.float64):
    ax_hist.axvline(np.finfo(dtype).eps, color="0.4", ls=":", lw=1)
ax_hist.annotate("identical", (tiny, 0), xytext=(-10, 4), textcoords="offset points",
                 rotation=90, fontsize="small")
ax_hist.set(
    xscale="log",
    xlabel="|onnxruntime - predict|",
    ylabel="test images",
    title="Differences are rounding",
)
ax_hist.legend(loc="upper center", fontsize="small")
fig.tight_layout()
plt.show()
