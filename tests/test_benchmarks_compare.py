"""benchmarks/tasks.py and benchmarks/compare.py run, so that they cannot rot.

Scores and timings are results, not tests: only the tasks' shapes, ranges and
determinism, and that compare.py reports every model, are checked.
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
                               "n_filters=4") == {
        "early_stopping": True, "validation_fraction": 0.2, "n_filters": 4
    }
    failing = module.main(["--seeds", "1", "--params", "learning_rate=0.2"])
    out = capsys.readouterr().out
    assert out.startswith("seed   0: ") and "of 1 seeds fail" in out
    assert isinstance(failing, list)
