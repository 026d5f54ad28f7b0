"""sktinycnn.plotting draws what the model holds (Agg backend, no display)."""

import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from oracles import scipy_deep_maps, scipy_feature_maps
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
            expected = model.kernels_[0][f, c]
            if flip:
                expected = np.rot90(expected, 2)
            shown = np.asarray(display.images_[f, c].get_array())
            assert shown.shape == (2, 3)
            np.testing.assert_array_equal(shown, expected)
            title = display.axes_[f, c].get_title()
            assert f"kernel {f}" in title and f"channel {c}" in title
    # One symmetric colour scale for all kernels, centred on zero.
    vmax = np.abs(model.kernels_[0]).max()
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
    with pytest.raises(ValueError, match="n_filters, n_channels, kh, kw"):
        KernelsDisplay(kernels[0]).plot()


def test_feature_maps_display_matches_scipy(two_channel_model):
    model, X = two_channel_model
    display = FeatureMapsDisplay.from_estimator(
        model, X[:4], labels=["a", "b", "c", "d"]
    )
    assert display.axes_.shape == display.images_.shape == (4, 1 + 3)
    expected = scipy_feature_maps(
        X[:4], model.kernels_[0], model.kernel_intercepts_[0], "valid"
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
        np.testing.assert_array_equal(image.get_array(), model.kernels_[0][f, c])

    expected = scipy_feature_maps(
        X[:2], model.kernels_[0], model.kernel_intercepts_[0], "valid"
    )
    before = FeatureMapsDisplay.from_estimator(model, X[:2])
    after = FeatureMapsDisplay.from_estimator(model, X[:2], pooled=True)
    pooled = _pool_by_hand(expected, pooling, model.pool_size_[0])
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


# -------------------------------------------------------------- deep models


def _blocks(model):
    """The oracle's description of the model's blocks."""
    return [
        {"padding": padding, "pooling": pooling, "pool_hw": pool_hw}
        for padding, pooling, pool_hw in zip(
            model.padding_, model.pooling_, model.pool_size_, strict=True
        )
    ]


@pytest.fixture(scope="module")
def deep_model():
    """Two blocks over 2-channel 6x7 images: 3 filters of 3x3 ("same", 2x2 max
    pooling to 3x3 maps), then 4 filters of 2x2 on those 3 maps ("valid", no
    pooling: 2x2 maps)."""
    rng = np.random.RandomState(3)
    X = rng.rand(40, 2, 6, 7)
    y = X[:, 0].mean(axis=(1, 2)) - X[:, 1, :3].mean(axis=(1, 2))
    model = TinyConvRegressor(
        n_filters=(3, 4), kernel_size=[3, 2], padding=["same", "valid"],
        pooling=["max", None], pool_size=2, tol=1e-3, random_state=0,
    )
    return model.fit(X, y), X


@pytest.mark.parametrize("block, index", [(0, 0), (1, 1), (-1, 1), (-2, 0)])
def test_kernels_display_of_any_block(deep_model, block, index):
    model, _ = deep_model
    kernels = model.kernels_[index]
    n_filters, channels = kernels.shape[:2]
    display = KernelsDisplay.from_estimator(model, block=block)
    assert display.block == index
    assert display.axes_.shape == display.images_.shape == (n_filters, channels)
    for (f, c), image in np.ndenumerate(display.images_):
        np.testing.assert_array_equal(image.get_array(), kernels[f, c])
        assert display.axes_[f, c].get_title() == (
            f"block {index}\nkernel {f}, channel {c}"
        )
    vmax = np.abs(kernels).max()
    assert display.images_[0, 0].get_clim() == pytest.approx((-vmax, vmax))


def test_kernels_display_selects_channels(deep_model):
    """``channels`` picks the columns, in its order; the colour scale stays the
    whole block's."""
    model, _ = deep_model
    kernels = model.kernels_[1]  # (4, 3, 2, 2)
    vmax = np.abs(kernels).max()
    display = KernelsDisplay.from_estimator(model, block=1, channels=[2, 0],
                                            flip=True, colorbar=False)
    assert display.axes_.shape == (4, 2)
    for (f, k), image in np.ndenumerate(display.images_):
        c = (2, 0)[k]
        np.testing.assert_array_equal(image.get_array(), np.rot90(kernels[f, c], 2))
        assert display.axes_[f, k].get_title() == (
            f"block 1\nflipped kernel {f}, channel {c}"
        )
        assert image.get_clim() == pytest.approx((-vmax, vmax))
    # Room for the titles' longest line, "flipped kernel 0, channel 2", above
    # each of the four columns.
    assert display.figure_.get_figwidth() >= 4 * 0.1 * 27
    last = KernelsDisplay.from_estimator(model, block=-1, channels=np.int64(-1))
    assert last.axes_.shape == (4, 1)
    np.testing.assert_array_equal(last.images_[3, 0].get_array(), kernels[3, 2])
    assert last.axes_[3, 0].get_title().endswith("kernel 3, channel 2")
    # On given axes: filters by rows, the channels shown by columns.
    fig, axes = plt.subplots(4, 2)
    given = KernelsDisplay.from_estimator(model, block=1, channels=(1, 2), axes=axes)
    assert given.figure_ is fig and given.axes_[3, 1] is axes[3, 1]
    np.testing.assert_array_equal(given.images_[3, 1].get_array(), kernels[3, 2])
    with pytest.raises(ValueError, match=r"4 x 1 = 4 are needed"):
        KernelsDisplay.from_estimator(model, block=1, channels=0, axes=axes)


@pytest.mark.parametrize("channels", [3, -4, [], [0, 3], "0", 1.5, True, [True]])
def test_kernels_display_refuses_bad_channels(deep_model, channels):
    model, _ = deep_model
    with pytest.raises(
        ValueError, match=r"channels must be None, an int or a non-empty sequence "
        r"of ints in \[-3, 3\), the kernels' 3 input channel\(s\); got"
    ):
        KernelsDisplay.from_estimator(model, block=1, channels=channels)


@pytest.mark.parametrize(
    "block, index, pooled", [(0, 0, False), (0, 0, True), (1, 1, False),
                             (-1, 1, False), (-2, 0, True)]
)
def test_feature_maps_display_of_any_block(deep_model, block, index, pooled):
    """The maps of any block, before or after its pooling, are SciPy's; the
    images drawn beside them are the inputs, whatever the block."""
    model, X = deep_model
    expected = scipy_deep_maps(X[:3], model.kernels_, model.kernel_intercepts_,
                               _blocks(model), "tanh")[index][int(pooled)]
    display = FeatureMapsDisplay.from_estimator(model, X[:3], block=block,
                                                pooled=pooled)
    assert display.block == index
    n_filters = model.kernels_[index].shape[0]
    assert display.axes_.shape == display.images_.shape == (3, 1 + n_filters)
    what = "pooled map" if pooled else "map"
    for i in range(3):
        np.testing.assert_allclose(display.images_[i, 0].get_array(),
                                   X[i].mean(axis=0))
        assert display.axes_[i, 0].get_title() == "image"
        for f in range(n_filters):
            shown = np.asarray(display.images_[i, 1 + f].get_array())
            np.testing.assert_allclose(shown, expected[i, f], rtol=1e-12, atol=1e-12)
            assert display.axes_[i, 1 + f].get_title() == f"block {index}\n{what} {f}"
            assert display.images_[i, 1 + f].get_clim() == (-1, 1)
    assert display.colorbar_.ax.get_ylabel() == (
        f"{'pooled ' if pooled else ''}tanh activation"
    )


@pytest.mark.parametrize("block", [1, -1])
def test_pooled_maps_of_a_block_without_pooling_are_refused(deep_model, block):
    model, X = deep_model
    with pytest.raises(
        ValueError, match="pooled=True draws the maps after pooling, but block 1 "
        "of this TinyConvRegressor has pooling=None"
    ):
        FeatureMapsDisplay.from_estimator(model, X[:2], block=block, pooled=True)


@pytest.mark.parametrize("block", [2, -3, 1.0, True, "1", None, np.int64(2)])
def test_bad_block_is_refused(deep_model, block):
    model, X = deep_model
    message = (
        r"block must be an int in \[-2, 2\): 0 is the first of this "
        r"TinyConvRegressor's 2 convolution block\(s\), -1 the last; got"
    )
    with pytest.raises(ValueError, match=message):
        KernelsDisplay.from_estimator(model, block=block)
    with pytest.raises(ValueError, match=message):
        FeatureMapsDisplay.from_estimator(model, X[:2], block=block)


def test_one_block_model_titles_name_no_block(two_channel_model):
    """block=-1 is block 0 of a one-block model, drawn as before blocks."""
    model, X = two_channel_model
    kernels = KernelsDisplay.from_estimator(model, block=-1)
    assert kernels.block is None
    assert kernels.axes_[2, 1].get_title() == "kernel 2, channel 1"
    maps = FeatureMapsDisplay.from_estimator(model, X[:2], block=np.int64(-1))
    assert maps.axes_[1, 3].get_title() == "map 2"
    with pytest.raises(ValueError, match=r"block must be an int in \[-1, 1\)"):
        KernelsDisplay.from_estimator(model, block=1)
    with pytest.raises(ValueError, match=r"block must be an int in \[-1, 1\)"):
        FeatureMapsDisplay.from_estimator(model, X[:2], block=-2)


def test_displays_of_a_deep_classifier():
    rng = np.random.RandomState(4)
    X = rng.rand(60, 6, 6)
    y = (X[:, :3].mean(axis=(1, 2)) > X[:, 3:].mean(axis=(1, 2))).astype(int)
    model = TinyConvClassifier(
        n_filters=(2, 3), kernel_size=[3, 2], pooling=["avg", None], pool_size=2,
        max_iter=300, tol=1e-3, random_state=0,
    ).fit(X, y)
    expected = scipy_deep_maps(X[:2, None], model.kernels_, model.kernel_intercepts_,
                               _blocks(model), "tanh")
    for block in (1, -1):
        kernels = KernelsDisplay.from_estimator(model, block=block)
        assert kernels.images_.shape == (3, 2)
        np.testing.assert_array_equal(kernels.images_[2, 1].get_array(),
                                      model.kernels_[1][2, 1])
        maps = FeatureMapsDisplay.from_estimator(model, X[:2], block=block)
        assert maps.images_.shape == (2, 1 + 3)
        np.testing.assert_allclose(maps.images_[1, 3].get_array(),
                                   expected[1][0][1, 2], rtol=1e-12, atol=1e-12)
        assert maps.axes_[1, 3].get_title() == "block 1\nmap 2"
    pooled = FeatureMapsDisplay.from_estimator(model, X[:2], block=0, pooled=True)
    np.testing.assert_allclose(pooled.images_[0, 2].get_array(),
                               expected[0][1][0, 1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "activation, limit", [("tanh", 1.0), ("logistic", 1.0), ("relu", None),
                          ("identity", None)]
)
def test_feature_maps_scale_follows_the_activation(deep_model, activation, limit):
    """Bounded activations keep the fixed scale -1..1; unbounded ones span the
    largest absolute value drawn, centred on zero."""
    _, X = deep_model
    y = X[:, 0].mean(axis=(1, 2))
    model = TinyConvRegressor(n_filters=(2, 2), kernel_size=3, pooling=None,
                              activation=activation, tol=1e-3,
                              random_state=0).fit(X, y)
    display = FeatureMapsDisplay.from_estimator(model, X[:3], block=1)
    maps = model.feature_maps(X[:3], block=1)
    limit = np.abs(maps).max() if limit is None else limit
    assert display.activation == activation
    for image in display.images_[:, 1:].ravel():
        assert image.get_clim() == pytest.approx((-limit, limit))
    assert display.colorbar_.ax.get_ylabel() == f"{activation} activation"


def test_displays_constructed_with_a_block_and_an_activation():
    kernels = np.arange(8.0).reshape(2, 1, 2, 2) - 4
    display = KernelsDisplay(kernels, block=3).plot(colorbar=False)
    assert [ax.get_title() for ax in display.axes_[:, 0]] == [
        "block 3\nkernel 0", "block 3\nkernel 1"
    ]
    maps = np.zeros((1, 2, 2, 2))
    # All-zero maps of an unbounded activation: a unit scale, not an empty one.
    display = FeatureMapsDisplay(np.zeros((1, 1, 3, 3)), maps, activation="relu",
                                 block=2, pooled=True).plot()
    assert display.axes_[0, 2].get_title() == "block 2\npooled map 1"
    assert display.images_[0, 1].get_clim() == (-1, 1)
    assert display.colorbar_.ax.get_ylabel() == "pooled relu activation"
    with pytest.raises(ValueError, match="activation must be one of"):
        FeatureMapsDisplay(np.zeros((1, 1, 3, 3)), maps, activation="softmax").plot()
