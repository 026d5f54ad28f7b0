"""Depth's quality: the tuning guide's configurations against one block and MLP.

For each task and each of 3 stratified 75/25 splits (``train_test_split`` with
``test_size=0.25`` and ``random_state=split``, stratified by the digit), every
model is fitted in turn on the same split, in one process, at every training
hyperparameter's default; recorded are the held-out score (accuracy, or R² of
the digit value / 9) and the fit time. Tasks (``benchmarks/tasks.py``):

- ``digits``: scikit-learn's 8x8 digits;
- ``canvas_digits``: the same digits pasted anywhere on a noisy 14x14 canvas;
- ``canvas_digit``: those canvases, the digit's value / 9 as a regression
  target.

Models: ``MLPClassifier()`` / ``MLPRegressor()``, the default estimators (one
block) and the two-block configurations of the tuning guide::

    TinyConvClassifier(n_filters=(32, 64), kernel_size=3, padding="same",
                       pool_size=2)
    TinyConvRegressor(n_filters=(16, 32), kernel_size=3, padding="same",
                      pool_size=[2, "global"])

Run from the repository root, one core (the results: docs/notes/depth.md)::

    taskset -c 1 python benchmarks/depth_quality.py --json /tmp/quality.json

``--params alpha=1e-3`` sets a parameter of every CNN (not of the MLPs).
"""

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:  # run from a checkout without installing
        sys.path.insert(0, str(path))

import tasks  # noqa: E402
from compare import parse_params  # noqa: E402

from sktinycnn import TinyConvClassifier, TinyConvRegressor  # noqa: E402

#: model -> (class, its parameters); ``--params`` adds to the CNNs' parameters.
CLASSIFIERS = {
    "mlp": (MLPClassifier, {}),
    "one block (defaults)": (TinyConvClassifier, {}),
    "two blocks 32/64": (TinyConvClassifier, dict(
        n_filters=(32, 64), kernel_size=3, padding="same", pool_size=2,
    )),
}

REGRESSORS = {
    "mlp": (MLPRegressor, {}),
    "one block (defaults)": (TinyConvRegressor, {}),
    "two blocks 16/32, global": (TinyConvRegressor, dict(
        n_filters=(16, 32), kernel_size=3, padding="same", pool_size=[2, "global"],
    )),
}

#: task -> (builder, models, whether the target is the digit / 9)
TASKS = {
    "digits": (tasks.make_digits, CLASSIFIERS),
    "canvas_digits": (tasks.make_canvas_digits, CLASSIFIERS),
    "canvas_digit": (tasks.make_canvas_digit, REGRESSORS),
}


def splits(X, y, n_splits):
    """``(X_train, X_test, y_train, y_test)`` of each stratified 75/25 split."""
    labels = np.rint(y * 9).astype(int) if y.dtype.kind == "f" else y
    for split in range(n_splits):
        yield train_test_split(X, y, test_size=0.25, random_state=split,
                               stratify=labels)


def run(task_names, model_names, n_splits, params=None):
    rows = []
    for task in task_names:
        builder, models = TASKS[task]
        X, y = builder(random_state=0)
        for split, (X_train, X_test, y_train, y_test) in enumerate(
            splits(X, y, n_splits)
        ):
            for name in model_names or models:
                if name not in models:
                    continue
                is_mlp = name == "mlp"
                cls, kwargs = models[name]
                model = cls(**kwargs, **({} if is_mlp else params or {}),
                            random_state=split)
                fit_X = X_train.reshape(len(X_train), -1) if is_mlp else X_train
                test_X = X_test.reshape(len(X_test), -1) if is_mlp else X_test
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(fit_X, y_train)
                    seconds = time.perf_counter() - start
                rows.append({
                    "task": task, "model": name, "split": split,
                    "score": float(model.score(test_X, y_test)),
                    "fit_s": seconds, "n_iter": int(model.n_iter_),
                })
                print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows):
    lines = ["| task | model | score (mean ± std) | fit s (median) | epochs |",
             "|---|---|---|---|---|"]
    keys = dict.fromkeys((r["task"], r["model"]) for r in rows)
    for task, model in keys:
        mine = [r for r in rows if r["task"] == task and r["model"] == model]
        scores = [r["score"] for r in mine]
        lines.append(
            f"| {task} | {model} | {np.mean(scores):.3f} ± {np.std(scores):.3f} | "
            f"{statistics.median(r['fit_s'] for r in mine):.1f} | "
            f"{statistics.median(r['n_iter'] for r in mine):.0f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--models", default="")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--params", default="",
                        help="parameters of every CNN, e.g. alpha=1e-3,tol=1e-5")
    args = parser.parse_args(argv)
    rows = run(args.tasks.split(","), [m for m in args.models.split(",") if m],
               args.splits, parse_params(args.params))
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
