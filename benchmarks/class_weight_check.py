"""scikit-learn's check_class_weight_classifiers over many seeds.

The check fits a classifier with class weights 1000 : 1e-4 (: 1e-4) on two
noisy blobs problems (2 and 3 centres), with ``max_iter=1000`` and
``n_iter_no_change=20``, and asks that it predict the heavy class on more
than 87% of a held-out half. scikit-learn runs it with ``random_state=0``
only; this script runs it for the seeds ``0 .. n - 1`` and prints, per seed,
the fraction predicted as the heavy class on each problem and the epochs run,
then the seeds that fail. Results: ``docs/notes/early-stopping.md``.

    python benchmarks/class_weight_check.py --seeds 20 \
        --params early_stopping=True,validation_fraction=0.2
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import parse_params

from sktinycnn import TinyConvClassifier


def check(seed, params):
    """``[(fraction predicted 0, n_iter_)]`` for the 2- and 3-centre problems."""
    results = []
    for n_centers in (2, 3):
        X, y = make_blobs(centers=n_centers, random_state=0, cluster_std=20)
        X_train, X_test, y_train, _ = train_test_split(
            X, y, test_size=0.5, random_state=0
        )
        class_weight = {0: 1000, **{k: 1e-4 for k in range(1, n_centers)}}
        model = TinyConvClassifier(
            class_weight=class_weight, max_iter=1000, n_iter_no_change=20,
            random_state=seed, **params,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        results.append((float(np.mean(model.predict(X_test) == 0)), model.n_iter_))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--params", default="", help="e.g. early_stopping=True")
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    failing = []
    for seed in range(args.seeds):
        results = check(seed, params)
        passed = all(fraction > 0.87 for fraction, _ in results)
        if not passed:
            failing.append(seed)
        cells = "  ".join(f"{fraction:.2f} ({n_iter:4d} epochs)"
                          for fraction, n_iter in results)
        print(f"seed {seed:3d}: {cells}  {'pass' if passed else 'FAIL'}", flush=True)
    print(f"{args.params or 'defaults'}: {len(failing)} of {args.seeds} seeds fail: "
          f"{failing}")
    return failing


if __name__ == "__main__":
    main()
