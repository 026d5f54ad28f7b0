"""``python -m sktinycnn``, the README's demo command, run as a user would."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sktinycnn.datasets import load_tutorial

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "sktinycnn", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )


@pytest.fixture(scope="module")
def demo_output():
    result = _run()
    assert result.returncode == 0, result.stderr
    return result.stdout


def _row(output, name):
    """The (tutorial, ours, difference) numbers of the table row ``name``."""
    match = re.search(
        rf"^{re.escape(name)}\s+(\S+)\s+(\S+)\s+(\S+)$", output, re.MULTILINE
    )
    assert match, f"no row {name!r} in:\n{output}"
    return tuple(float(v) for v in match.groups())


def test_demo_prints_tutorial_table_beside_reference(demo_output, reference):
    _, targets = load_tutorial()
    theirs, ours, diff = _row(demo_output, "cost before training")
    assert theirs == pytest.approx(reference["cost_before_training"], abs=1e-14)
    assert ours == pytest.approx(theirs, abs=1e-12) and diff < 1e-12
    theirs, ours, diff = _row(demo_output, "cost after training")
    assert theirs == pytest.approx(reference["cost_after_training"], abs=1e-14)
    assert ours == pytest.approx(theirs, abs=1e-12)
    for i, target in enumerate(targets):
        theirs, ours, _ = _row(demo_output, f"output x{i + 1} after (target {target})")
        assert theirs == pytest.approx(reference["final_output"][i], abs=1e-14)
        assert ours == pytest.approx(theirs, abs=1e-12)
    for i, value in enumerate(reference["w2_final"]):
        theirs, ours, _ = _row(demo_output, f"w2 final [{i}]")
        assert theirs == pytest.approx(value, abs=1e-14)
        assert ours == pytest.approx(value, abs=1e-12)
    assert "REPRODUCED: largest |difference|" in demo_output
    assert "NOT REPRODUCED" not in demo_output


def test_demo_prints_sweep_table(demo_output):
    assert "GridSearchCV over learning_rate x kernel_scale" in demo_output
    header = re.search(r"^learning_rate \\ kernel_scale\s+None\s+0\.3\s+1\.0$",
                       demo_output, re.MULTILINE)
    assert header, demo_output
    cells = re.findall(r"(-?\d+\.\d{3}) ± (\d+\.\d{3})", demo_output)
    assert len(cells) == 9
    best = re.search(r"best: \{.*\}, CV R² (-?\d\.\d{3})", demo_output)
    assert best is not None
    # The reported best CV score is the largest mean in the table.
    assert float(best.group(1)) == max(float(mean) for mean, _ in cells)
    assert "Traceback" not in demo_output


def test_demo_help():
    result = _run("--help")
    assert result.returncode == 0
    assert "usage: python -m sktinycnn" in result.stdout
    assert "--plots DIR" in result.stdout and "--no-sweep" in result.stdout


def test_demo_saves_plots(tmp_path):
    result = _run("--no-sweep", "--plots", str(tmp_path))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([
        "tutorial_loss_curve.png", "tutorial_kernel.png", "sweep_heatmap.png",
        "digits_kernels.png", "digits_feature_maps.png",
    ])
    for path in tmp_path.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"saved {path}" in result.stdout
