"""The tuning guide's two-block classifier in PyTorch and here, epoch by epoch.

Run by hand only (PyTorch is no dependency of the package; ``pip install -e
".[bench]"``)::

    taskset -c 1 python benchmarks/depth_quality_torch.py --task canvas_digits

Both networks are ``n_filters=(32, 64)``, 3x3 "same" kernels, tanh, 2x2 max
pooling, a dense softmax layer, trained by Adam on batches of 64 with the same
step size, on the splits of ``benchmarks/depth_quality.py`` (3 stratified
75/25 splits). Each is trained for ``--epochs`` epochs without a stopping
rule, and its held-out accuracy is printed after the epochs of ``--report``:
the difference between the two is then the engine's and its training
details' (initialisation, Adam's dense step scaling, weight decay), not the
stopping rule's. The results: ``docs/notes/depth.md``.
"""

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))

import depth_quality

#: The two-block classifier of the tuning guide, as depth_quality.py fits it.
TWO_BLOCKS = depth_quality.CLASSIFIERS["two blocks 32/64"]
TASKS = ("digits", "canvas_digits")


def torch_curve(X_train, y_train, X_test, y_test, *, learning_rate, epochs,
                report, seed):
    """Held-out accuracy of the PyTorch network after each epoch of ``report``."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    n_classes = int(y_train.max()) + 1
    side = X_train.shape[-1]
    after_pools = side // 2 // 2  # MaxPool2d drops a last odd row and column
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * after_pools**2, n_classes),
    ).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    X_tr, y_tr = torch.from_numpy(X_train), torch.from_numpy(y_train)
    X_te = torch.from_numpy(X_test)
    generator = torch.Generator().manual_seed(seed)
    scores = {}
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in torch.randperm(len(X_tr), generator=generator).split(64):
            optimizer.zero_grad()
            loss_fn(model(X_tr[batch]), y_tr[batch]).backward()
            optimizer.step()
        if epoch in report:
            model.eval()
            with torch.no_grad():
                predicted = model(X_te).argmax(1).numpy()
            scores[epoch] = float(np.mean(predicted == y_test))
    return scores


def ours_curve(X_train, y_train, X_test, y_test, *, learning_rate, epochs,
               report, seed):
    """The same for ``TinyConvClassifier``, one warm-started epoch at a time."""
    cls, kwargs = TWO_BLOCKS
    model = cls(
        **kwargs, learning_rate=learning_rate, batch_size=64, max_iter=1,
        warm_start=True, random_state=seed,
    )
    scores = {}
    for epoch in range(1, epochs + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        if epoch in report:
            scores[epoch] = float(model.score(X_test, y_test))
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, default="canvas_digits")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--report", default="5,10,20,30,40")
    parser.add_argument("--splits", type=int, default=3)
    args = parser.parse_args(argv)
    report = {int(e) for e in args.report.split(",")}
    X, y = depth_quality.TASKS[args.task][0](random_state=0)
    X = X.reshape(len(X), 1, *X.shape[-2:]).astype(np.float64)
    curves = {"pytorch": [], "sktinycnn": []}
    for split, (X_train, X_test, y_train, y_test) in enumerate(
        depth_quality.splits(X, y, args.splits)
    ):
        parts = (X_train, y_train.astype(np.int64), X_test, y_test)
        kwargs = dict(learning_rate=args.learning_rate, epochs=args.epochs,
                      report=report, seed=split)
        curves["pytorch"].append(torch_curve(*parts, **kwargs))
        curves["sktinycnn"].append(ours_curve(*parts, **kwargs))
        print(f"split {split}: {curves}", flush=True)
    epochs = sorted(report)
    print(f"\n{args.task}, Adam {args.learning_rate}, batches of 64, "
          f"{args.splits} splits: mean held-out accuracy after each epoch\n")
    print("| engine | " + " | ".join(f"epoch {e}" for e in epochs) + " |")
    print("|---|" + "---|" * len(epochs))
    for name, runs in curves.items():
        means = [statistics.mean(run[e] for run in runs) for e in epochs]
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means) + " |")


if __name__ == "__main__":
    main()
