"""The demo: ``python -m sktinycnn``.

Replays the tutorial's training run and prints it beside the tutorial's own
published numbers; puts the default regressor, and a network of two
convolution blocks, beside ``MLPRegressor()`` on digits placed at random on a
canvas, and the default classifier beside
``MLPClassifier()`` on scikit-learn's digits; then runs a small
``GridSearchCV`` over ``learning_rate`` x ``kernel_scale`` on the digits and
prints its table. ``--plots DIR`` also saves the figures (needs matplotlib, the
``plot`` extra). It uses nothing beyond the package's dependencies and data
shipped with scikit-learn, and takes about 20 seconds on one core.
"""

import argparse
import copy
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.utils import check_random_state

from . import TinyConvClassifier, TinyConvRegressor, __version__
from ._network import initialize
from .datasets import (
    TUTORIAL_PARAMS,
    load_digit_canvas,
    load_tutorial,
    tutorial_reference,
)

#: Agreement with the tutorial's printed numbers that counts as reproduced:
#: both runs are float64 with the same operations, so only rounding differs.
TOLERANCE = 1e-9

SWEEP_GRID = {"learning_rate": [0.003, 0.01, 0.03], "kernel_scale": [None, 0.3, 1.0]}


def _initial_model(model):
    """A copy of the fitted ``model`` holding the weights it started from.

    Drawn by the estimator's own initialisation (:func:`._network.initialize`)
    from the same seed, on the fitted architecture.
    """
    spec = model._spec
    theta = initialize(
        spec, check_random_state(model.random_state), model.kernel_scale,
        model.coef_.dtype,
    )
    initial = copy.deepcopy(model)
    params = spec.unpack(theta)
    initial.kernels_, initial.coef_ = params["kernels"], params["coef"]
    return initial


def _half_squared_error(y_pred, y):
    return float(0.5 * np.sum((y_pred - y) ** 2))


def run_tutorial():
    """Fit the tutorial's network; return the model, its start copy and rows."""
    X, y = load_tutorial()
    model = TinyConvRegressor(**TUTORIAL_PARAMS)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The tutorial runs exactly 1000 epochs, so reaching max_iter is the
        # point here, not a sign of trouble.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    seconds = time.perf_counter() - start
    initial = _initial_model(model)
    reference = tutorial_reference()
    start_out, final_out = initial.predict(X), model.predict(X)
    rows = [
        ("cost before training", reference["cost_before_training"],
         _half_squared_error(start_out, y)),
        ("cost after training", reference["cost_after_training"],
         _half_squared_error(final_out, y)),
    ]
    for i in range(4):
        rows.append((f"output x{i + 1} before", reference["start_output"][i],
                     start_out[i]))
    for i in range(4):
        rows.append((f"output x{i + 1} after (target {y[i]})",
                     reference["final_output"][i], final_out[i]))
    for name, ours in (("w1 initial", initial.kernels_), ("w1 final", model.kernels_)):
        key = name.replace(" ", "_")
        for (i, j), value in np.ndenumerate(reference[key]):
            rows.append((f"{name} [{i},{j}]", value, ours[0][0, 0, i, j]))
    for i, value in enumerate(reference["w2_final"]):
        rows.append((f"w2 final [{i}]", value, model.coef_[i, 0]))
    return model, initial, rows, seconds


def format_tutorial_table(rows):
    """The tutorial-versus-sktinycnn table as text."""
    lines = [f"{'':32} {'tutorial':>19} {'sktinycnn':>19} {'|difference|':>13}"]
    for name, theirs, ours in rows:
        diff = abs(float(theirs) - float(ours))
        lines.append(f"{name:32} {theirs:19.15f} {ours:19.15f} {diff:13.1e}")
    return "\n".join(lines)


def _compare(models, y_train, y_test, scores):
    """Fit each model and score it on held-out data; return the table's rows.

    ``models`` holds ``(name, model, X_train, X_test)``, ``scores(model,
    X_test, y_test)`` returns a dict ``{label: value}``. Each row is ``(name,
    scores, fit seconds)``.
    """
    rows = []
    for name, model, train, test in models:
        start = time.perf_counter()
        with warnings.catch_warnings():
            # Reaching max_iter is the MLPs' default behaviour on such data;
            # the table shows what each model reaches with its defaults.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(train, y_train)
        seconds = time.perf_counter() - start
        rows.append((name, scores(model, test, y_test), seconds))
    return rows


def format_comparison_row(name, scores, seconds):
    """One row of a comparison as text: name, ``{label: value}`` scores, fit time."""
    cells = "".join(f"{label} {value:6.3f}   " for label, value in scores.items())
    return f"   {name:22} {cells}fit {seconds:5.1f} s"


#: The demo's network of two blocks, the tuning guide's for the canvas digits.
TWO_BLOCKS = {"n_filters": (16, 32), "kernel_size": 3, "padding": "same",
              "pool_size": [2, "global"]}
TWO_BLOCKS_NAME = "two blocks (16, 32)"


def run_comparison(random_state=0):
    """The defaults and two blocks beside scikit-learn's MLP on digits placed
    at random.

    Returns rows ``(model name, {"held-out R²": score}, fit seconds)``: R² of
    the regressors on ``digit / 9``: ``MLPRegressor()``,
    ``TinyConvRegressor()`` (one block) and :data:`TWO_BLOCKS`.
    """
    from sklearn.neural_network import MLPRegressor

    images, digit, _ = load_digit_canvas(random_state=random_state)
    X_train, X_test, y_train, y_test = train_test_split(
        images, digit / 9, test_size=0.3, random_state=random_state
    )
    flat_train, flat_test = (
        X.reshape(len(X), -1) for X in (X_train, X_test)
    )
    return _compare(
        [
            ("MLPRegressor()", MLPRegressor(random_state=random_state),
             flat_train, flat_test),
            ("TinyConvRegressor()", TinyConvRegressor(random_state=random_state),
             X_train, X_test),
            # Depth: a second block reads the first block's pooled maps.
            (TWO_BLOCKS_NAME, TinyConvRegressor(
                **TWO_BLOCKS, random_state=random_state), X_train, X_test),
        ],
        y_train, y_test,
        lambda model, X, y: {"held-out R²": model.score(X, y)},
    )


def run_classification(random_state=0):
    """The default classifier beside scikit-learn's MLP on the 8x8 digits.

    Pixels scaled to [0, 1], a stratified 70/30 split. Returns the rows
    ``(model name, {"accuracy": ..., "log-loss": ...}, fit seconds)``, the
    fitted TinyConvClassifier and the held-out images and labels.
    """
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.3, stratify=y, random_state=random_state
    )
    cnn = TinyConvClassifier(random_state=random_state)
    rows = _compare(
        [
            ("MLPClassifier()", MLPClassifier(random_state=random_state),
             X_train, X_test),
            ("TinyConvClassifier()", cnn, X_train, X_test),
        ],
        y_train, y_test,
        lambda model, X, y: {
            "accuracy": model.score(X, y),
            "log-loss": log_loss(y, model.predict_proba(X), labels=model.classes_),
        },
    )
    return rows, cnn, X_test, y_test


def format_proba_table(model, X, y, n_rows=3):
    """``predict_proba`` of the ``n_rows`` least confident images, as text.

    The images whose largest probability is smallest, least confident first
    (ties in the order of ``X``), with their labels and predictions.
    """
    proba = model.predict_proba(X)
    order = np.argsort(proba.max(axis=1), kind="stable")[:n_rows]
    lines = ["   label  predicted  "
             + "".join(f"{c!s:>6}" for c in model.classes_)]
    for i in order:
        predicted = model.classes_[np.argmax(proba[i])]
        lines.append(f"   {y[i]!s:>5}  {predicted!s:>9}  "
                     + "".join(f"{p:6.2f}" for p in proba[i]))
    return "\n".join(lines)


def run_sweep(random_state=0):
    """A small GridSearchCV on the digits; return the search and test data."""
    X, digit = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, digit / 9, train_size=600, test_size=300, random_state=random_state
    )
    search = GridSearchCV(
        TinyConvRegressor(
            n_filters=4, kernel_size=3, max_iter=40, random_state=random_state
        ),
        SWEEP_GRID,
        cv=3,
    )
    with warnings.catch_warnings():
        # A deliberately short budget of 40 epochs per fit keeps the demo quick;
        # fits that would go on improving warn, which says nothing new here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, y_train)
    return search, X_test, y_test


def sweep_scores(search):
    """Mean and std of the test R² as arrays of shape (n_rates, n_scales)."""
    results = search.cv_results_
    rates, scales = SWEEP_GRID["learning_rate"], SWEEP_GRID["kernel_scale"]
    means = np.empty((len(rates), len(scales)))
    stds = np.empty_like(means)
    # Look every point up by its parameters rather than rely on the order in
    # which GridSearchCV enumerates the grid.
    for k, params in enumerate(results["params"]):
        i = rates.index(params["learning_rate"])
        j = scales.index(params["kernel_scale"])
        means[i, j] = results["mean_test_score"][k]
        stds[i, j] = results["std_test_score"][k]
    return means, stds


def format_sweep_table(search):
    """Mean (and standard deviation of) test R² per grid point, as text."""
    means, stds = sweep_scores(search)
    header = "learning_rate \\ kernel_scale"
    lines = [f"{header:30}"
             + "".join(f"{s!s:>16}" for s in SWEEP_GRID["kernel_scale"])]
    for i, rate in enumerate(SWEEP_GRID["learning_rate"]):
        cells = [
            f"{m:>8.3f} ± {s:5.3f}" for m, s in zip(means[i], stds[i], strict=True)
        ]
        lines.append(f"{rate:<30}" + "".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)


def save_plots(directory, tutorial_model, search, X_test, y_test):
    """Save the demo's figures as PNG files in ``directory``; return the paths."""
    try:
        import matplotlib
    except ImportError as exc:
        raise SystemExit(
            "--plots needs matplotlib: python -m pip install \"sktinycnn[plot]\""
        ) from exc
    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    from .plotting import FeatureMapsDisplay, KernelsDisplay, LossCurveDisplay

    os.makedirs(directory, exist_ok=True)
    paths = []

    def save(fig, name):
        path = os.path.join(directory, name)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)

    display = LossCurveDisplay.from_estimator(tutorial_model)
    display.ax_.set_title("The tutorial's run: loss per epoch")
    save(display.figure_, "tutorial_loss_curve.png")
    display = KernelsDisplay.from_estimator(tutorial_model)
    display.figure_.suptitle("The tutorial's kernel w1 after training")
    save(display.figure_, "tutorial_kernel.png")

    fig, ax = plt.subplots(figsize=(5.5, 4))
    means, _ = sweep_scores(search)
    image = ax.imshow(means, cmap="viridis", vmin=max(means.min(), -1))
    ax.set_xticks(range(len(SWEEP_GRID["kernel_scale"])),
                  [str(s) for s in SWEEP_GRID["kernel_scale"]])
    ax.set_yticks(range(len(SWEEP_GRID["learning_rate"])),
                  [str(r) for r in SWEEP_GRID["learning_rate"]])
    ax.set_xlabel("kernel_scale")
    ax.set_ylabel("learning_rate")
    for (i, j), value in np.ndenumerate(means):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w")
    fig.colorbar(image, ax=ax, label="mean test R²")
    ax.set_title("GridSearchCV on digits (digit / 9)")
    save(fig, "sweep_heatmap.png")

    best = search.best_estimator_
    display = KernelsDisplay.from_estimator(best, flip=True)
    display.figure_.suptitle("Best digits model: kernels (as templates)")
    save(display.figure_, "digits_kernels.png")
    labels = [
        f"{9 * y:.0f}, predicted {9 * p:.1f}"
        for y, p in zip(y_test[:4], best.predict(X_test[:4]), strict=True)
    ]
    display = FeatureMapsDisplay.from_estimator(best, X_test[:4], labels=labels)
    save(display.figure_, "digits_feature_maps.png")
    return paths


def main(argv=None):
    """Run the demo; return the exit status (0 when the tutorial is reproduced)."""
    parser = argparse.ArgumentParser(
        prog="python -m sktinycnn",
        description=(
            "sktinycnn demo: replay the 'Only Numpy' CNN tutorial's training run "
            "and print it beside the tutorial's own numbers, compare the "
            "default regressor with MLPRegressor on digits placed at random on "
            "a canvas (and a network of two convolution blocks) and the default "
            "classifier with MLPClassifier on scikit-learn's digits, then run a "
            "small GridSearchCV over learning_rate x kernel_scale on the digits. "
            "Takes about 20 seconds."
        ),
    )
    parser.add_argument(
        "--plots", metavar="DIR",
        help="also save the figures as PNG files in DIR (needs matplotlib: "
        'pip install "sktinycnn[plot]")',
    )
    parser.add_argument(
        "--no-sweep", action="store_true",
        help="only replay the tutorial; skip the comparisons and the sweep",
    )
    args = parser.parse_args(argv)

    print(f"sktinycnn {__version__}: a tiny CNN (conv -> tanh -> pooling -> dense) "
          "as a scikit-learn regressor and classifier\n")
    model, _, rows, seconds = run_tutorial()
    print("1. The tutorial's run, replayed: TinyConvRegressor(**TUTORIAL_PARAMS),")
    print(f"   4 images of 3x3, per-image SGD, {model.n_iter_} epochs "
          f"({seconds:.2f} s)\n")
    print(format_tutorial_table(rows))
    worst = max(abs(float(theirs) - float(ours)) for _, theirs, ours in rows)
    reproduced = worst <= TOLERANCE
    verdict = "REPRODUCED" if reproduced else "NOT REPRODUCED"
    print(f"\n{verdict}: largest |difference| {worst:.1e} "
          f"(tolerance {TOLERANCE:.0e})\n")

    search = X_test = None
    if not args.no_sweep:
        print("2. The defaults beside scikit-learn's MLP on images: each of the "
              "1797 digits pasted")
        print("   at a random place on a noisy 14x14 canvas, target digit / 9, "
              "70/30 split;")
        print("   then two convolution blocks, n_filters=(16, 32), 3x3 'same', "
              "pool_size=[2, 'global']:\n")
        for row in run_comparison():
            print(format_comparison_row(*row))
        print()
        rows, classifier, images, labels = run_classification()
        print("3. The classifier's defaults beside scikit-learn's MLP: the 1797 "
              "digits of 8x8,")
        print(f"   pixels / 16, stratified 70/30 split ({len(labels)} held-out "
              "images), held-out accuracy and log-loss:\n")
        for row in rows:
            print(format_comparison_row(*row))
        print("\n   TinyConvClassifier().predict_proba of its "
              "3 least confident held-out images:\n")
        print(format_proba_table(classifier, images, labels))
        print()
        start = time.perf_counter()
        search, X_test, y_test = run_sweep()
        seconds = time.perf_counter() - start
        print("4. GridSearchCV over learning_rate x kernel_scale on the digits")
        print("   (600 training images of 8x8, target digit / 9; n_filters=4, "
              "kernel_size=3, 40 epochs of Adam;")
        print(f"   3-fold CV, {len(search.cv_results_['params'])} candidates, "
              f"{seconds:.1f} s). Mean test R² ± std over folds:\n")
        print(format_sweep_table(search))
        print(f"\n   best: {search.best_params_}, CV R² {search.best_score_:.3f}, "
              f"R² on 300 held-out images {search.score(X_test, y_test):.3f}\n")

    if args.plots:
        if search is None:
            search, X_test, y_test = run_sweep()
        for path in save_plots(args.plots, model, search, X_test, y_test):
            print(f"saved {path}")
    return 0 if reproduced else 1


if __name__ == "__main__":
    sys.exit(main())
