"""The benchmark suite runs (``--quick``), so that it cannot rot.

Timings are results, not tests: nothing here asserts a speed. What is checked
is that every workload ran and reported its numbers, and the correctness facts
the benchmark measures along the way (the fit reproduces the tutorial's loop,
the sweep's scores do not depend on n_jobs).
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs(tmp_path):
    out = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
         "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["quick"] is True
    assert set(results) >= {
        "machine", "W1", "W2", "W3", "threads", "scaling", "W4", "W5"
    }
    # The table names every workload.
    for name in ("W1", "W2", "W3", "W4", "W5"):
        assert f"\n{name} " in completed.stdout

    w1 = results["W1"]
    assert w1["fit_s"] > 0 and w1["tutorial_s"] > 0
    # Same work as the tutorial's loop: same weights (to rounding).
    assert w1["max_rel_diff_weights"] < 1e-9

    w2 = results["W2"]
    assert -1 < w2["cnn_r2"] <= 1 and -1 < w2["mlp_r2"] <= 1

    w3 = results["W3"]
    for dtype in ("float64", "float32"):
        assert w3[dtype]["fit"] > 0 and w3[dtype]["floor"] > 0
        assert w3[dtype]["final_loss"] < 0.125  # finite, in sigmoid units

    threads = results["threads"]
    for name in ("float32", "float64", "pooled_float32", "pooled_float64"):
        assert threads[name]["n_jobs_1"] > 0 and threads[name]["n_jobs_2"] > 0
        # n_jobs does not change the result.
        assert threads[name]["same_weights"] is True
    assert threads["predict"]["same_predictions"] is True
    assert "\nW3 jobs " in completed.stdout

    assert [e["n"] for e in results["scaling"]["images"]] == [64, 128, 256]
    assert [e["size"] for e in results["scaling"]["pixels"]] == [16, 28, 56]

    w4 = results["W4"]
    assert w4["n_images"] == 6000 and 0 < w4["peak_extra_mb"]

    assert results["W5"]["same_scores"] is True


def test_quick_depth_benchmark_runs(tmp_path):
    out = tmp_path / "depth.json"
    completed = subprocess.run(
        # HEAD as the baseline: a clone of any depth has it.
        [sys.executable, str(ROOT / "benchmarks" / "bench_depth.py"), "--quick",
         "--baseline", "HEAD", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(out.read_text())
    two = results["two_blocks"]
    assert two["epoch_s"]["n_jobs=1"] > 0 and two["floor_s"] > 0
    # The threads' guarantee, measured along the way: the same weights.
    assert two["threads_identical_weights"] is True
    assert 0 < results["memory"]["peak_beyond_input_and_output_mb"] < 100
    for name in ("W1", "W3", "default"):
        assert results["depth_1"][name]["new_over_baseline"] > 0
