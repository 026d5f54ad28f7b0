"""Side-by-side comparison of TinyConvRegressor/Classifier with scikit-learn's MLP.

For each task of a suite (``benchmarks/tasks.py``) and each split (a 70/30
``train_test_split`` with ``random_state=split``, stratified for
classification), every model is fitted in turn on the same split, in one
process, so that the models' timings see the same machine load. Recorded per
fit: the held-out score (R², uniform average over outputs; or accuracy and,
when the model has ``predict_proba``, log-loss), the fit's wall-clock time
(``time.perf_counter``), ``n_iter_`` and whether a ``ConvergenceWarning`` was
raised (recorded, never an error).

Suites (``--suite``): ``regression`` and ``classification`` (small digit
images), ``large-regression`` and ``large-classification`` (28x28 images),
``signals-regression`` and ``signals-classification`` (1-D signals as images
of height 1), all from ``benchmarks/tasks.py`` (``SUITES`` below), and
``check``. ``--n-samples N`` fits on a seeded random subset of N samples of
each task (quick runs).

The ``check`` suite fits each regressor on the data of scikit-learn's
``check_regressors_train`` with ``random_state`` 0..N-1 and reports the
TRAINING R² (the check needs > 0.5): minimum, median and how many seeds fail.

Models (``--models``, comma separated, or ``--models`` repeated):

- ``mlp``: ``MLPRegressor()`` / ``MLPClassifier()`` with their defaults;
- ``cnn``: ``TinyConvRegressor()`` / ``TinyConvClassifier()`` with theirs;
- ``NAME:key=value,key=value...``: a named model (any of ``MODELS``) with
  keyword arguments added, e.g. ``cnn:n_filters=8,kernel_size=3,padding=same``.
  Values are parsed as int, float, ``None``, ``True``/``False``, a tuple
  (``2x2`` -> ``(2, 2)``) or else kept as strings; they are forwarded to the
  constructor unchecked, so new parameters (``pooling=max,pool_size=2``) work
  as soon as the estimator has them. A token ``key=value`` without a colon
  continues the previous model's arguments.

Every model gets ``random_state=split`` (``seed`` in the check suite). The MLP
gets flat rows ``(n, h * w)``, the CNN 3-D images ``(n, h, w)`` (4-D when there
is more than one channel); a signal ``(n, 1, 1, L)`` reaches the CNN as
``(n, 1, L)``, an image of height 1.

Examples
--------
Run from the repository root::

    python benchmarks/compare.py --suite regression --models mlp,cnn --splits 3
    python benchmarks/compare.py --suite regression \\
        --models mlp,cnn:n_filters=8,kernel_size=3 --out /tmp/r.json
    python benchmarks/compare.py --suite check --models cnn --seeds 50
    python benchmarks/compare.py --suite large-classification --splits 1
    python benchmarks/compare.py --suite signals-regression --n-samples 300
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_info, threadpool_limits

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run from a checkout without installing: the package and tasks.py side by side.
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tasks import (  # noqa: E402
    CLASSIFICATION_TASKS,
    LARGE_CLASSIFICATION_TASKS,
    LARGE_REGRESSION_TASKS,
    REGRESSION_TASKS,
    SIGNAL_CLASSIFICATION_TASKS,
    SIGNAL_REGRESSION_TASKS,
    make_check_data,
)

import sktinycnn  # noqa: E402

#: The split suites: name -> (tasks, whether they are classification tasks).
#: ``check`` is the other suite (its own runner).
SUITES = {
    "regression": (REGRESSION_TASKS, False),
    "classification": (CLASSIFICATION_TASKS, True),
    "large-regression": (LARGE_REGRESSION_TASKS, False),
    "large-classification": (LARGE_CLASSIFICATION_TASKS, True),
    "signals-regression": (SIGNAL_REGRESSION_TASKS, False),
    "signals-classification": (SIGNAL_CLASSIFICATION_TASKS, True),
}


def _cnn_classifier_class():
    """Return ``sktinycnn.TinyConvClassifier``, or raise if it does not exist yet."""
    cls = getattr(sktinycnn, "TinyConvClassifier", None)
    if cls is None:
        raise ImportError("this sktinycnn has no TinyConvClassifier")
    return cls


#: Named base models: (kind, regressor factory, classifier factory, preset
#: keyword arguments). ``kind`` says which input form the model gets. The
#: factories are callables so that a missing class fails only when used.
MODELS = {
    "mlp": ("flat", lambda: MLPRegressor, lambda: MLPClassifier, {}),
    "cnn": (
        "image",
        lambda: sktinycnn.TinyConvRegressor,
        _cnn_classifier_class,
        {},
    ),
}


def parse_value(text):
    """Parse one ``key=value`` value from the command line.

    Parameters
    ----------
    text : str
        ``"3"``, ``"0.01"``, ``"None"``, ``"True"``, ``"2x2"`` (a tuple of
        ints), or anything else (kept as a string).

    Returns
    -------
    value : int, float, None, bool, tuple of int or str

    Examples
    --------
    >>> parse_value("8"), parse_value("1e-3"), parse_value("2x3")
    (8, 0.001, (2, 3))
    >>> parse_value("None"), parse_value("same"), parse_value("False")
    (None, 'same', False)
    """
    constants = {"None": None, "none": None, "True": True, "False": False}
    if text in constants:
        return constants[text]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    parts = text.split("x")
    if len(parts) > 1 and all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return text


def parse_params(text):
    """Parse ``"key=value,key=value"`` into keyword arguments.

    Examples
    --------
    >>> parse_params("early_stopping=True,validation_fraction=0.2,padding=same")
    {'early_stopping': True, 'validation_fraction': 0.2, 'padding': 'same'}
    """
    items = (item.split("=", 1) for item in filter(None, text.split(",")))
    return {key: parse_value(value) for key, value in items}


def parse_models(specs):
    """Parse ``--models`` values into ``(label, base, kwargs)`` triples.

    Parameters
    ----------
    specs : list of str
        Each a comma-separated list of model tokens (``mlp``, ``cnn``,
        ``cnn:key=value``); a ``key=value`` token without a colon adds to the
        previous model's keyword arguments.

    Returns
    -------
    models : list of tuple
        ``(label, base, kwargs)``; ``label`` is the model as written.

    Examples
    --------
    >>> parse_models(["mlp,cnn:n_filters=8,kernel_size=3", "cnn"])
    [('mlp', 'mlp', {}), ('cnn:n_filters=8,kernel_size=3', 'cnn', \
{'n_filters': 8, 'kernel_size': 3}), ('cnn', 'cnn', {})]
    """
    models = []
    for spec in specs:
        for token in filter(None, (t.strip() for t in spec.split(","))):
            if "=" in token and ":" not in token:
                if not models:
                    raise ValueError(f"{token!r} comes before any model name")
                label, base, kwargs = models[-1]
                key, value = token.split("=", 1)
                kwargs[key] = parse_value(value)
                models[-1] = (f"{label},{token}", base, kwargs)
                continue
            base, _, rest = token.partition(":")
            if base not in MODELS:
                raise ValueError(f"unknown model {base!r}; known: {', '.join(MODELS)}")
            kwargs = dict(MODELS[base][3])
            for item in filter(None, rest.split(",")):
                key, value = item.split("=", 1)
                kwargs[key] = parse_value(value)
            models.append((token, base, kwargs))
    return models


def model_input(X, base):
    """Return ``X`` (n, c, h, w) in the form the model ``base`` takes."""
    if MODELS[base][0] == "flat":
        return X.reshape(len(X), -1)
    # One channel: 3-D images (n, h, w), the form a user would pass.
    return X[:, 0] if X.ndim == 4 and X.shape[1] == 1 else X


def timed_fit(estimator, X, y):
    """Fit, timing it and catching warnings.

    Returns
    -------
    seconds : float
        Wall-clock fit time.
    convergence_warning : bool
        Whether a ConvergenceWarning was raised.
    other_warnings : list of str
        Other warnings' categories and first words (recorded, not raised).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    conv = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    others = [
        f"{w.category.__name__}: {str(w.message)[:80]}"
        for w in caught
        if not issubclass(w.category, ConvergenceWarning)
    ]
    return seconds, conv, others


def subsample(X, y, n_samples):
    """Return ``n_samples`` rows of ``(X, y)`` drawn without replacement (seed 0).

    ``None`` (or at least ``len(X)``) returns the data as is. For quick runs
    (the tests); the rows keep their order.
    """
    if n_samples is None or n_samples >= len(X):
        return X, y
    keep = np.sort(np.random.RandomState(0).permutation(len(X))[:n_samples])
    return X[keep], y[keep]


def run_split_suite(tasks, models, n_splits, classification, n_samples=None):
    """Fit every model on every task and split; return one record per fit."""
    records = []
    for task_name, builder in tasks.items():
        X, y = subsample(*builder(random_state=0), n_samples)
        for split in range(n_splits):
            idx_train, idx_test = train_test_split(
                np.arange(len(X)),
                test_size=0.3,
                random_state=split,
                stratify=y if classification else None,
            )
            # Models alternate within a split so that load spikes hit all alike.
            for label, base, kwargs in models:
                record = {"task": task_name, "split": split, "model": label}
                try:
                    factory = MODELS[base][2 if classification else 1]
                    estimator = factory()(random_state=split, **kwargs)
                    Xm = model_input(X, base)
                    seconds, conv, others = timed_fit(
                        estimator, Xm[idx_train], y[idx_train]
                    )
                    record.update(
                        fit_time=seconds,
                        n_iter=int(getattr(estimator, "n_iter_", -1)),
                        convergence_warning=conv,
                        other_warnings=others,
                    )
                    X_test, y_test = Xm[idx_test], y[idx_test]
                    if classification:
                        record["accuracy"] = accuracy_score(
                            y_test, estimator.predict(X_test)
                        )
                        if hasattr(estimator, "predict_proba"):
                            record["log_loss"] = log_loss(
                                y_test,
                                estimator.predict_proba(X_test),
                                labels=estimator.classes_,
                            )
                    else:
                        record["r2"] = r2_score(y_test, estimator.predict(X_test))
                except Exception as exc:  # record and go on: one bad model
                    record["error"] = f"{type(exc).__name__}: {exc}"
                records.append(record)
                _progress(record)
    return records


def run_check_suite(models, n_seeds):
    """Training R² on the check_regressors_train data over seeds 0..N-1."""
    X, y = make_check_data()
    records = []
    for seed in range(n_seeds):
        for label, base, kwargs in models:
            record = {"task": "check", "split": seed, "model": label}
            try:
                estimator = MODELS[base][1]()(random_state=seed, **kwargs)
                # The check passes the flat rows to every regressor.
                seconds, conv, others = timed_fit(estimator, X, y)
                record.update(
                    fit_time=seconds,
                    n_iter=int(getattr(estimator, "n_iter_", -1)),
                    convergence_warning=conv,
                    other_warnings=others,
                    r2=estimator.score(X, y),
                )
            except Exception as exc:  # record and go on: one bad model
                record["error"] = f"{type(exc).__name__}: {exc}"
            records.append(record)
    return records


def _progress(record):
    score = record.get("r2", record.get("accuracy", float("nan")))
    print(
        f"  {record['task']:<16} split {record['split']} {record['model']:<60}"
        f" score {score:7.3f} time {record.get('fit_time', float('nan')):6.2f}s"
        f" iter {record.get('n_iter', -1):4d}"
        f"{' CW' if record.get('convergence_warning') else ''}"
        f"{'  ERROR ' + record['error'] if 'error' in record else ''}",
        file=sys.stderr,
        flush=True,
    )


def _mean_std(values):
    if not values:
        return "-"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def split_table(records, models, classification):
    """Markdown table: one row per task and model, then a per-model summary."""
    metric = "accuracy" if classification else "r2"
    head = [
        "task",
        "model",
        "accuracy" if classification else "R² held out",
        *(["log-loss"] if classification else []),
        "fit s (median)",
        "time / mlp",
        "n_iter_ (median)",
        "ConvergenceWarning",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    tasks = list(dict.fromkeys(r["task"] for r in records))
    labels = [m[0] for m in models]
    mlp_time = {}
    for task in tasks:
        rows = [r for r in records if r["task"] == task and r["model"] == "mlp"]
        times = [r["fit_time"] for r in rows if "fit_time" in r]
        mlp_time[task] = statistics.median(times) if times else None
    summary = {label: {"scores": [], "ratios": [], "wins": 0, "cw": 0, "n": 0}
               for label in labels}
    mlp_score = {}
    for task in tasks:
        for label in labels:
            rows = [r for r in records if r["task"] == task and r["model"] == label]
            ok = [r for r in rows if "error" not in r]
            if not ok:
                err = rows[0]["error"] if rows else "no run"
                cells = [task, f"`{label}`", f"error: {err[:60]}"]
                lines.append("| " + " | ".join(cells) + " |" + " |" * (len(head) - 3))
                continue
            scores = [r[metric] for r in ok]
            med_time = statistics.median(r["fit_time"] for r in ok)
            ratio = med_time / mlp_time[task] if mlp_time[task] else None
            n_cw = sum(r["convergence_warning"] for r in ok)
            if label == "mlp":
                mlp_score[task] = np.mean(scores)
            cells = [task, f"`{label}`", _mean_std(scores)]
            if classification:
                cells.append(_mean_std([r["log_loss"] for r in ok if "log_loss" in r]))
            cells += [
                f"{med_time:.2f}",
                f"{ratio:.2f}" if ratio is not None else "-",
                f"{statistics.median(r['n_iter'] for r in ok):.0f}",
                f"{n_cw}/{len(ok)}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
            s = summary[label]
            s["scores"].append(np.mean(scores))
            s["cw"] += n_cw
            s["n"] += len(ok)
            if ratio is not None:
                s["ratios"].append(ratio)
            if task in mlp_score and np.mean(scores) > mlp_score[task]:
                s["wins"] += 1
    lines += [
        "",
        "| model | mean score over tasks | tasks beating mlp | time / mlp"
        " (geometric mean) | ConvergenceWarning |",
        "|---|---|---|---|---|",
    ]
    for label in labels:
        s = summary[label]
        if not s["scores"]:
            continue
        ratio = np.exp(np.mean(np.log(s["ratios"]))) if s["ratios"] else float("nan")
        lines.append(
            f"| `{label}` | {np.mean(s['scores']):.3f} | {s['wins']}/{len(tasks)}"
            f" | {ratio:.2f} | {s['cw']}/{s['n']} |"
        )
    return "\n".join(lines)


def check_table(records, models):
    """Markdown table of the check suite: min / median / fails of training R²."""
    lines = [
        "| model | training R² min | median | fails (≤ 0.5) | fit s (median)"
        " | n_iter_ (median) | ConvergenceWarning |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, _, _ in models:
        ok = [r for r in records if r["model"] == label and "error" not in r]
        if not ok:
            lines.append(f"| `{label}` | error | | | | | |")
            continue
        r2 = np.array([r["r2"] for r in ok])
        lines.append(
            f"| `{label}` | {r2.min():.3f} | {np.median(r2):.3f}"
            f" | {(r2 <= 0.5).sum()}/{len(r2)}"
            f" | {statistics.median(r['fit_time'] for r in ok):.3f}"
            f" | {statistics.median(r['n_iter'] for r in ok):.0f}"
            f" | {sum(r['convergence_warning'] for r in ok)}/{len(ok)} |"
        )
    return "\n".join(lines)


def machine_info():
    """The facts a timing depends on."""
    return {
        "nproc": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "sktinycnn": getattr(sktinycnn, "__version__", "?"),
        "sktinycnn_file": sktinycnn.__file__,
        "blas": [
            {k: info.get(k) for k in ("internal_api", "version", "architecture")}
            for info in threadpool_info()
        ],
        "openblas_env": {
            k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")
        },
        "loadavg": os.getloadavg(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite", choices=(*SUITES, "check"), default="regression",
    )
    parser.add_argument(
        "--models", action="append", default=None,
        help="comma-separated models (mlp, cnn, cnn:key=value,...); repeatable",
    )
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=50, help="check suite only")
    parser.add_argument(
        "--tasks", default=None, help="comma-separated subset of the suite's tasks"
    )
    parser.add_argument(
        "--n-samples", type=int, default=None,
        help="use a random subset of this many samples of each task (quick runs)",
    )
    parser.add_argument(
        "--blas-threads", type=int, default=1,
        help="BLAS threads for every fit (1: MLP and CNN on equal terms; the CNN "
        "limits its own training loop to one anyway)",
    )
    parser.add_argument("--out", default=None, help="write the records as JSON")
    args = parser.parse_args(argv)

    models = parse_models(args.models or ["mlp,cnn"])
    info = machine_info()
    print(
        f"machine: nproc={info['nproc']} numpy {info['numpy']} sklearn "
        f"{info['sklearn']} sktinycnn {info['sktinycnn_file']} load {info['loadavg']}",
        file=sys.stderr,
    )
    start = time.perf_counter()
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        if args.suite == "check":
            records = run_check_suite(models, args.seeds)
            table = check_table(records, models)
        else:
            tasks, classification = SUITES[args.suite]
            if args.tasks:
                tasks = {name: tasks[name] for name in args.tasks.split(",")}
            records = run_split_suite(
                tasks, models, args.splits, classification, args.n_samples
            )
            table = split_table(records, models, classification)
    elapsed = time.perf_counter() - start
    print(table)
    print(f"\n({args.suite}, {elapsed:.0f} s, load average at the end "
          f"{os.getloadavg()[0]:.2f})")
    if args.out:
        payload = {
            "argv": sys.argv,
            "suite": args.suite,
            "models": [{"label": m[0], "base": m[1], "kwargs": m[2]} for m in models],
            "machine": info,
            "blas_threads": args.blas_threads,
            "n_samples": args.n_samples,
            "elapsed": elapsed,
            "records": records,
            "table": table,
        }
        Path(args.out).write_text(json.dumps(payload, indent=1, default=str))


if __name__ == "__main__":
    main()
