"""Evidence for TinyConvRegressor's default hyperparameters.

Prints, for a few candidate settings:

- training R² on scikit-learn's ``check_regressors_train`` data (the check needs
  > 0.5) over many seeds: the minimum, the median and how many seeds fail;
- held-out R² on ``load_digits`` with target ``digit / 9`` (a 25 % split), beside
  ``MLPRegressor`` with its default settings on the same split.

Usage: ``python benchmarks/defaults.py [--seeds N]``. Results and the decision are
recorded in docs/notes/defaults.md.
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from tasks import make_check_data as check_data

from sktinycnn import TinyConvRegressor

CANDIDATES = {
    "defaults": {},
    "learning_rate=0.01": {"learning_rate": 0.01},
    "learning_rate=0.05": {"learning_rate": 0.05},
    "tol=1e-4 (MLP's)": {"tol": 1e-4},
    "8 filters 3x3": {"n_filters": 8, "kernel_size": 3},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = check_data()
    Xd, digit = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(Xd / 16, digit / 9, random_state=0)
    print(
        f"{'setting':<22} {'check R2 min':>12} {'median':>7} {'fails':>6}"
        f" {'digits R2 (3 seeds)':>20}"
    )
    for name, params in CANDIDATES.items():
        r2 = np.array(
            [
                TinyConvRegressor(random_state=s, **params).fit(X, y).score(X, y)
                for s in range(args.seeds)
            ]
        )
        digits = [
            TinyConvRegressor(random_state=s, **params).fit(Xtr, ytr).score(Xte, yte)
            for s in range(3)
        ]
        print(
            f"{name:<22} {r2.min():>12.3f} {np.median(r2):>7.3f} "
            f"{(r2 <= 0.5).sum():>3}/{args.seeds:<3}"
            f" {np.mean(digits):>9.3f} ± {np.std(digits):.3f}"
        )
    mlp = [MLPRegressor(random_state=s).fit(Xtr, ytr).score(Xte, yte) for s in range(3)]
    print(
        f"{'MLPRegressor()':<22} {'':>12} {'':>7} {'':>6} "
        f"{np.mean(mlp):>9.3f} ± {np.std(mlp):.3f}"
    )


if __name__ == "__main__":
    main()
