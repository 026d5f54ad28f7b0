"""sktinycnn.plotting draws what the model holds (Agg backend, no display)."""

import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from oracles import scipy_feature_maps
from sklearn.exceptions import NotFittedError

from sktinycnn import TinyConvClassifier, TinyConvRegressor

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sktinycnn.plotting import (
    FeatureMapsDisplay,
    KernelsDisplay,
    LossCurveDisplay,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def two_channel_model():
    """3 filters of 2x3 over 2-channel 5x6 images, with biases."""
    rng = np.random.RandomState(0)
    X = rng.rand(40, 2, 5, 6)
    y = X[:, 0].mean(axis=(1, 2)) - X[:, 1, :2].mean(axis=(1, 2))
    model = TinyConvRegressor(n_filters=3, kernel_size=(2, 3), padding="valid",
                              pooling=None, tol=1e-3, random_state=0)
    return model.fit(X, y), X


@pytest.mark.parametrize("flip", [False, True])
def test_kernels_display_shows_every_kernel(two_channel_model, flip):
    model, _ = two_channel_model
    display = KernelsDisplay.from_estimator(model, flip=flip)
    assert display.axes_.shape == (3, 2)
    assert display.images_.shape == (3, 2)
    assert isinstance(display.figure_, matplotlib.figure.Figure)
    for f in range(3):
        for c in range(2):
            expected = model.kernels_[f, c]
            if flip:
                expected = np.rot90(expected, 2)
            shown = np.asarray(display.images_[f, c].get_array())
            assert shown.shape == (2, 3)
            np.testing.assert_array_equal(shown, expected)
            title = display.axes_[f, c].get_title()
            assert f"kernel {f}" in title and f"channel {c}" in title
    # One symmetric colour scale for all kernels, centred on zero.
    vmax = np.abs(model.kernels_).max()
    assert display.images_[0, 0].get_clim() == pytest.approx((-vmax, vmax))
    assert display.colorbar_ is not None


def test_kernels_display_on_given_axes_and_annotations():
    kernels = np.arange(8.0).reshape(2, 1, 2, 2) - 4
    fig, axes = plt.subplots(1, 2)
    display = KernelsDisplay(kernels).plot(axes=axes, colorbar=False)
    assert display.figure_ is fig
    assert display.axes_[1, 0] is axes[1]
    assert display.colorbar_ is None
    # Small kernels are annotated with their values, in cell order.
    texts = [t.get_text() for t in axes[0].texts]
    assert texts == ["-4", "-3", "-2", "-1"]
    with pytest.raises(ValueError, match="2 x 1 = 2 are needed"):
        KernelsDisplay(kernels).plot(axes=plt.subplots(1, 3)[1])
    with pytest.raises(ValueError, match="n_filters, channels, kh, kw"):
        KernelsDisplay(kernels[0]).plot()


def test_feature_maps_display_matches_scipy(two_channel_model):
    model, X = two_channel_model
    display = FeatureMapsDisplay.from_estimator(
        model, X[:4], labels=["a", "b", "c", "d"]
    )
    assert display.axes_.shape == display.images_.shape == (4, 1 + 3)
    expected = scipy_feature_maps(
        X[:4], model.kernels_, model.kernel_intercepts_, "valid"
    )
    for i in range(4):
        image = np.asarray(display.images_[i, 0].get_array())
        np.testing.assert_allclose(image, X[i].mean(axis=0))
        assert display.axes_[i, 0].get_title() == "abcd"[i]
        for f in range(3):
            shown = np.asarray(display.images_[i, 1 + f].get_array())
            assert shown.shape == (4, 4)  # (5 - 2 + 1, 6 - 3 + 1)
            np.testing.assert_allclose(shown, expected[i, f], rtol=1e-12, atol=1e-12)
            assert display.axes_[i, 1 + f].get_title() == f"map {f}"
            assert display.images_[i, 1 + f].get_clim() == (-1, 1)
    assert display.colorbar_.mappable is display.images_[0, 1]


def test_feature_maps_display_flat_input_and_errors():
    rng = np.random.RandomState(1)
    X = rng.rand(30, 16)  # flat rows: 4x4 one-channel images
    model = TinyConvRegressor(n_filters=2, tol=1e-3, random_state=0)
    model.fit(X, X.sum(axis=1))
    display = FeatureMapsDisplay.from_estimator(model, X[:2])
    np.testing.assert_allclose(
        np.asarray(display.images_[1, 0].get_array()), X[1].reshape(4, 4)
    )
    assert display.axes_[0, 0].get_title() == "image"
    no_bar = FeatureMapsDisplay.from_estimator(model, X[:2], colorbar=False)
    assert no_bar.colorbar_ is None
    with pytest.raises(ValueError, match="labels has 1 entries for 2 images"):
        FeatureMapsDisplay.from_estimator(model, X[:2], labels=["only one"])
    with pytest.raises(ValueError, match="same n_images"):
        FeatureMapsDisplay(np.zeros((2, 1, 4, 4)), np.zeros((3, 2, 3, 3))).plot()


def test_loss_curve_display_without_validation(two_channel_model):
    model, _ = two_channel_model
    display = LossCurveDisplay.from_estimator(model)
    np.testing.assert_array_equal(display.line_.get_ydata(), model.loss_curve_)
    np.testing.assert_array_equal(
        display.line_.get_xdata(), np.arange(1, len(model.loss_curve_) + 1)
    )
    assert display.ax_.get_yscale() == "log"
    assert display.ax_.get_title() and display.ax_.get_xlabel() == "epoch"
    assert display.validation_ax_ is None and display.validation_line_ is None


def test_loss_curve_display_with_early_stopping():
    rng = np.random.RandomState(0)
    X = rng.rand(60, 3, 3)
    model = TinyConvRegressor(early_stopping=True, max_iter=300, random_state=0)
    model.fit(X, X.sum(axis=(1, 2)))
    fig, ax = plt.subplots()
    display = LossCurveDisplay.from_estimator(model, ax=ax, logy=False, label="ours")
    assert display.ax_ is ax and display.figure_ is fig
    assert ax.get_yscale() == "linear"
    assert display.line_.get_label() == "ours"
    np.testing.assert_array_equal(
        display.validation_line_.get_ydata(), model.validation_scores_
    )
    assert display.validation_ax_.get_ylabel() == "validation R²"
    assert display.ax_.get_ylabel() == "training loss (sigmoid units)"
    # The best score is marked.
    marker = display.validation_ax_.get_lines()[-1]
    best = int(np.argmax(model.validation_scores_))
    assert marker.get_xdata().tolist() == [best + 1]


# ------------------------------------------------------------- pooled models


def _pool_by_hand(maps, pooling, pool_hw):
    (ph, pw), (h, w) = pool_hw, maps.shape[-2:]
    hp, wp = h // ph, w // pw
    windows = maps[..., : hp * ph, : wp * pw].reshape(
        *maps.shape[:-2], hp, ph, wp, pw
    )
    return (windows.max if pooling == "max" else windows.mean)(axis=(-3, -1))


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize(
    # 4x4 maps of 2x3 kernels on 5x6 images: 2x2, 2x1 (two columns dropped),
    # 1x1 windows' results.
    "pool_size, pooled_hw", [(2, (2, 2)), ((2, 3), (2, 1)), ("global", (1, 1))]
)
def test_displays_of_a_pooled_model(pooling, pool_size, pooled_hw):
    rng = np.random.RandomState(2)
    X = rng.rand(40, 2, 5, 6)
    y = X[:, 0].mean(axis=(1, 2)) - X[:, 1, :2].mean(axis=(1, 2))
    model = TinyConvRegressor(
        n_filters=3, kernel_size=(2, 3), padding="valid", pooling=pooling,
        pool_size=pool_size, early_stopping=True, tol=1e-3, random_state=0,
    ).fit(X, y)

    kernels = KernelsDisplay.from_estimator(model, colorbar=False)
    for (f, c), image in np.ndenumerate(kernels.images_):
        np.testing.assert_array_equal(image.get_array(), model.kernels_[f, c])

    expected = scipy_feature_maps(
        X[:2], model.kernels_, model.kernel_intercepts_, "valid"
    )
    before = FeatureMapsDisplay.from_estimator(model, X[:2])
    after = FeatureMapsDisplay.from_estimator(model, X[:2], pooled=True)
    pooled = _pool_by_hand(expected, pooling, model.pool_size_)
    assert pooled.shape == (2, 3, *pooled_hw)
    for i in range(2):
        for f in range(3):
            np.testing.assert_allclose(
                before.images_[i, 1 + f].get_array(), expected[i, f],
                rtol=1e-12, atol=1e-12,
            )
            shown = np.asarray(after.images_[i, 1 + f].get_array())
            assert shown.shape == pooled_hw
            np.testing.assert_allclose(shown, pooled[i, f], rtol=1e-12, atol=1e-12)
            assert before.axes_[i, 1 + f].get_title() == f"map {f}"
            assert after.axes_[i, 1 + f].get_title() == f"pooled map {f}"
            assert after.images_[i, 1 + f].get_clim() == (-1, 1)
    np.testing.assert_allclose(
        after.images_[1, 0].get_array(), X[1].mean(axis=0)
    )
    assert after.colorbar_.ax.get_ylabel() == "pooled tanh activation"
    assert before.colorbar_.ax.get_ylabel() == "tanh activation"

    curves = LossCurveDisplay.from_estimator(model)
    np.testing.assert_array_equal(curves.line_.get_ydata(), model.loss_curve_)
    np.testing.assert_array_equal(
        curves.validation_line_.get_ydata(), model.validation_scores_
    )


def test_pooled_maps_of_a_model_without_pooling_are_refused(two_channel_model):
    model, X = two_channel_model
    with pytest.raises(ValueError, match=r"pooled=True .* pooling=None"):
        FeatureMapsDisplay.from_estimator(model, X[:2], pooled=True)


@pytest.mark.parametrize("display", [KernelsDisplay, LossCurveDisplay])
def test_unfitted_estimator_raises(display):
    with pytest.raises(NotFittedError):
        display.from_estimator(TinyConvRegressor())


def test_missing_matplotlib_message(monkeypatch):
    # None in sys.modules makes the import fail as if matplotlib were absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"sktinycnn\[plot\]"):
        LossCurveDisplay([0.1, 0.05]).plot()


def test_import_does_not_import_matplotlib():
    code = (
        "import sys, sktinycnn.plotting; "
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.stdout.strip() == "False"


def test_displays_of_a_classifier():
    """The displays read the classifier's public state, and name its loss and
    its score."""
    rng = np.random.RandomState(0)
    X = rng.rand(60, 4, 4)
    y = (X[:, :2].mean(axis=(1, 2)) > X[:, 2:].mean(axis=(1, 2))).astype(int)
    model = TinyConvClassifier(n_filters=3, early_stopping=True,
                               validation_fraction=0.2, max_iter=300,
                               random_state=0).fit(X, y)
    display = LossCurveDisplay.from_estimator(model)
    assert display.ax_.get_ylabel() == "training log-loss"
    assert display.validation_ax_.get_ylabel() == "validation accuracy"
    np.testing.assert_array_equal(
        display.validation_line_.get_ydata(), model.validation_scores_
    )
    kernels = KernelsDisplay.from_estimator(model)
    assert kernels.images_.shape == (3, 1)
    maps = FeatureMapsDisplay.from_estimator(model, X[:2], pooled=True)
    assert maps.images_.shape == (2, 3 + 1)
