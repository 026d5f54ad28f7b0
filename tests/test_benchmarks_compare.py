"""benchmarks/tasks.py and benchmarks/compare.py run, so that they cannot rot.

Scores and timings are results, not tests: only the tasks' shapes, ranges and
determinism, and that compare.py reports every model, are checked. The large
(28x28) and signal suites get the same checks, and compare.py runs a tiny
configuration of each (a subsample, a few iterations).
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_tasks():
    spec = importlib.util.spec_from_file_location(
        "benchmark_tasks", ROOT / "benchmarks" / "tasks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tasks = _load_tasks()


@pytest.mark.parametrize(
    "builder",
    [*tasks.REGRESSION_TASKS.values(), *tasks.CLASSIFICATION_TASKS.values()],
)
def test_task_is_deterministic_images(builder):
    X, y = builder(random_state=0)
    X2, y2 = builder(random_state=0)
    assert X.ndim == 4 and X.shape[1] == 1 and len(X) == len(y) == 1797
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_check_data():
    X, y = tasks.make_check_data()
    assert X.shape == (200, 10) and y.shape == (200,)
    np.testing.assert_allclose([y.mean(), y.std()], [0.0, 1.0], atol=1e-12)


def test_compare_runs(tmp_path):
    out = tmp_path / "r.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"),
         "--suite", "regression", "--tasks", "digit_value,canvas_position",
         "--splits", "1", "--models", "mlp,cnn:n_filters=2,kernel_size=3x3",
         "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(out.read_text())
    assert [m["kwargs"] for m in results["models"]] == [
        {}, {"n_filters": 2, "kernel_size": [3, 3]}
    ]
    records = results["records"]
    assert len(records) == 4
    assert all("error" not in r and np.isfinite(r["r2"]) for r in records)
    assert "| digit_value | `mlp` |" in completed.stdout


def test_class_weight_check_runs(capsys):
    spec = importlib.util.spec_from_file_location(
        "class_weight_check", ROOT / "benchmarks" / "class_weight_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.parse_params("early_stopping=True,validation_fraction=0.2,"
                               "n_filters=4,padding=same") == {
        "early_stopping": True, "validation_fraction": 0.2, "n_filters": 4,
        "padding": "same",
    }
    failing = module.main(["--seeds", "1", "--params", "learning_rate=0.2"])
    out = capsys.readouterr().out
    assert out.startswith("seed   0: ") and "of 1 seeds fail" in out
    assert isinstance(failing, list)


def test_depth_quality_sets_params_of_the_cnns_only():
    spec = importlib.util.spec_from_file_location(
        "depth_quality", ROOT / "benchmarks" / "depth_quality.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run(["canvas_digit"], ["one block (defaults)"], 1,
                      {"max_iter": 2, "n_filters": 2})
    assert [(r["model"], r["n_iter"]) for r in rows] == [("one block (defaults)", 2)]
    assert "| canvas_digit | one block (defaults) |" in module.table(rows)


def test_depth_quality_torch_curve_of_the_estimator():
    spec = importlib.util.spec_from_file_location(
        "depth_quality_torch", ROOT / "benchmarks" / "depth_quality_torch.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.RandomState(0)
    X, y = rng.rand(100, 1, 6, 6), np.arange(100) % 2
    scores = module.ours_curve(X[:80], y[:80], X[80:], y[80:], learning_rate=1e-3,
                               epochs=2, report={1, 2}, seed=0)
    assert sorted(scores) == [1, 2]
    assert all(0 <= score <= 1 for score in scores.values())


# ---- the large (28x28) and signal suites

LARGE_X = (1797, 1, 28, 28)
CENTRE = (9 / 28, 19 / 28)

#: name -> (X shape, y shape, y range (lo, hi) or the class count)
SPECS = {
    # large, regression
    "large_canvas_digit": (LARGE_X, (1797,), (0.0, 1.0)),
    "large_canvas_size": (LARGE_X, (1797, 3), None),
    "large_tilt": (LARGE_X, (1797,), (-1.0, 1.0)),
    "large_clutter_position": (LARGE_X, (1797, 2), CENTRE),
    # large, classification
    "large_canvas_digits": (LARGE_X, (1797,), 10),
    "large_rotated_digits": (LARGE_X, (1797,), 10),
    "large_clutter_digits": (LARGE_X, (1797,), 10),
    # signals
    "signal_frequency": ((1500, 1, 1, 96), (1500,), (0.0, 1.0)),
    "signal_position": ((1500, 1, 1, 96), (1500,), (0.0, 1.0)),
    "signal_shapes": ((1500, 1, 1, 96), (1500,), 5),
    "signal_motif": ((1500, 1, 1, 64), (1500,), 4),
}

NEW_SUITES = {
    "large-regression": tasks.LARGE_REGRESSION_TASKS,
    "large-classification": tasks.LARGE_CLASSIFICATION_TASKS,
    "signals-regression": tasks.SIGNAL_REGRESSION_TASKS,
    "signals-classification": tasks.SIGNAL_CLASSIFICATION_TASKS,
}

BUILDERS = {name: b for suite in NEW_SUITES.values() for name, b in suite.items()}


def test_every_new_task_has_a_spec():
    assert set(BUILDERS) == set(SPECS)
    assert len(tasks.LARGE_REGRESSION_TASKS) >= 2
    assert len(tasks.LARGE_CLASSIFICATION_TASKS) >= 2
    assert len(tasks.SIGNAL_REGRESSION_TASKS) >= 1
    assert len(tasks.SIGNAL_CLASSIFICATION_TASKS) >= 2
    # The suites' task names do not collide with the small suites'.
    old = set(tasks.REGRESSION_TASKS) | set(tasks.CLASSIFICATION_TASKS)
    assert not old & set(BUILDERS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_new_task_shapes_ranges_determinism(name):
    builder = BUILDERS[name]
    x_shape, y_shape, y_range = SPECS[name]
    X, y = builder(random_state=0)
    X2, y2 = builder(random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert X.shape == x_shape and y.shape == y_shape
    assert X.dtype == np.float64 and np.isfinite(X).all()
    assert 0.0 <= X.min() and X.max() <= 1.0
    # Not blank: some ink (or signal) and some background.
    assert 0.05 < X.mean() < 0.6
    if isinstance(y_range, int):
        # Classes 0..k-1, every one present.
        assert np.issubdtype(y.dtype, np.integer)
        np.testing.assert_array_equal(np.unique(y), np.arange(y_range))
    elif y_range is not None:
        lo, hi = y_range
        assert lo - 1e-12 <= y.min() and y.max() <= hi + 1e-12
        assert y.std() > 0.1 * (hi - lo)
    # Another seed gives other data.
    X3, _ = builder(random_state=1)
    assert not np.array_equal(X, X3)


def test_large_canvas_size_ranges():
    _, y = tasks.make_large_canvas_size(random_state=0)
    lo, hi = CENTRE
    assert lo - 1e-12 <= y[:, :2].min() and y[:, :2].max() <= hi + 1e-12
    assert y[:, 2].min() == 0.0 and y[:, 2].max() == 1.0


def test_tasks_on_the_same_canvases_share_them():
    pairs = [
        (tasks.make_large_canvas_digits, tasks.make_large_canvas_digit),
        (tasks.make_large_canvas_digits, tasks.make_large_canvas_size),
        (tasks.make_large_rotated_digits, tasks.make_large_tilt),
        (tasks.make_large_clutter_digits, tasks.make_large_clutter_position),
    ]
    for first, second in pairs:
        np.testing.assert_array_equal(first(3)[0], second(3)[0])
    # Every digit once, in load_digits' order.
    _, labels = tasks.make_digits()
    _, value = tasks.make_large_canvas_digit(0)
    np.testing.assert_allclose(value * 9, labels)


def test_signal_classes_are_balanced():
    for builder, k in ((tasks.make_signal_shapes, 5), (tasks.make_signal_motif, 4)):
        _, y = builder(random_state=0)
        np.testing.assert_array_equal(np.bincount(y), np.full(k, len(y) // k))


@pytest.mark.parametrize("suite", sorted(NEW_SUITES))
def test_compare_runs_new_suite(suite, tmp_path):
    out = tmp_path / "r.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"),
         "--suite", suite, "--splits", "1", "--n-samples", "100",
         "--models", "mlp,cnn:n_filters=2,max_iter=3",
         "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["suite"] == suite and results["n_samples"] == 100
    records = results["records"]
    names = list(NEW_SUITES[suite])
    assert [r["task"] for r in records] == [n for n in names for _ in range(2)]
    assert all("error" not in r for r in records), records
    metric = "accuracy" if suite.endswith("classification") else "r2"
    assert all(np.isfinite(r[metric]) for r in records)
    for name in names:
        assert f"| {name} | `mlp` |" in completed.stdout
