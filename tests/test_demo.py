"""``python -m sktinycnn``, the README's demo command, run as a user would.

The demo runs with warnings as errors (``PYTHONWARNINGS=error``), as the test
suite does: only the warnings it ignores on purpose may pass.
"""

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
        env={**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "error"},
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


def _comparison_rows(output, metrics):
    """``{model name: (metric values..., fit seconds)}`` of a comparison's rows."""
    cells = r"\s+".join(rf"{re.escape(m)}\s+(-?\d+\.\d{{3}})" for m in metrics)
    rows = re.findall(
        rf"^   (\S+\(\))\s+{cells}\s+fit\s+(\d+\.\d) s$", output, re.MULTILINE
    )
    return {name: tuple(float(v) for v in values) for name, *values in rows}


def test_demo_prints_classifier_beside_mlp(demo_output):
    assert "3. The classifier's defaults beside scikit-learn's MLP" in demo_output
    assert "stratified 70/30 split (540 held-out images)" in demo_output
    rows = _comparison_rows(demo_output, ["accuracy", "log-loss"])
    assert list(rows) == ["MLPClassifier()", "TinyConvClassifier()"]
    for accuracy, loss, _ in rows.values():
        # An accuracy on 540 images is a count of them, to the printed rounding.
        assert abs(accuracy * 540 - round(accuracy * 540)) <= 0.0005 * 540
        assert 0 < loss < 0.2
    cnn_accuracy, cnn_loss, _ = rows["TinyConvClassifier()"]
    # The defaults' documented result: above 0.97 on digits, below MLP's log-loss.
    assert cnn_accuracy > 0.97
    assert cnn_loss < rows["MLPClassifier()"][1]


def test_demo_prints_least_confident_probabilities(demo_output):
    header = re.search(r"^   label  predicted" + r"\s+(\d)" * 10 + "$", demo_output,
                       re.MULTILINE)
    assert header, demo_output
    assert [int(c) for c in header.groups()] == list(range(10))
    table = demo_output[header.end():].split("\n\n")[0].strip("\n").splitlines()
    assert len(table) == 3
    largest = []
    for line in table:
        label, predicted, *proba = line.split()
        proba = [float(p) for p in proba]
        assert len(proba) == 10 and 0 <= int(label) <= 9
        # Ten probabilities rounded to 0.01: their sum is 1 to 10 x 0.005.
        assert sum(proba) == pytest.approx(1, abs=0.05 + 1e-9)
        assert proba[int(predicted)] == max(proba)
        largest.append(max(proba))
    # Least confident first; the least confident images are unsure ones.
    assert largest == sorted(largest) and largest[0] < 0.9


def test_readme_example_prints_what_the_demo_does(demo_output):
    """The README's printed numbers: its example fits the demo's models on its data."""
    readme = (ROOT / "README.md").read_text()
    printed = re.search(r"It prints:\n\n```text\n(.*?)```", readme, re.DOTALL)
    assert printed, "no printed output under the README's example"
    lines = printed.group(1).splitlines()
    regression = _comparison_rows(demo_output, ["held-out R²"])
    cnn, mlp = (float(v) for v in lines[0].split())
    assert (cnn, mlp) == (regression["TinyConvRegressor()"][0],
                          regression["MLPRegressor()"][0])
    classification = _comparison_rows(demo_output, ["accuracy", "log-loss"])
    for line, name in zip(lines[1:3], ["TinyConvClassifier()", "MLPClassifier()"],
                          strict=True):
        match = re.fullmatch(r"accuracy (\d\.\d{3}), log-loss (\d\.\d{3})", line)
        assert match, line
        assert tuple(float(v) for v in match.groups()) == classification[name][:2]
    # The CNN's least confident image is the demo's first probability row.
    label, *proba = lines[3].replace("[", " ").replace("]", " ").split()
    header = demo_output.index("   label  predicted")
    first_row = demo_output[header:].splitlines()[1].split()
    assert label == first_row[0]
    assert [float(p) for p in proba] == [float(p) for p in first_row[2:]]


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
    assert "MLPClassifier" in result.stdout


def test_demo_saves_plots(tmp_path):
    result = _run("--no-sweep", "--plots", str(tmp_path))
    assert result.returncode == 0, result.stderr
    # --no-sweep: the tutorial only, no comparison.
    assert "REPRODUCED" in result.stdout
    assert "MLPRegressor()" not in result.stdout
    assert "MLPClassifier()" not in result.stdout
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([
        "tutorial_loss_curve.png", "tutorial_kernel.png", "sweep_heatmap.png",
        "digits_kernels.png", "digits_feature_maps.png",
    ])
    for path in tmp_path.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"saved {path}" in result.stdout


def test_demo_shows_a_second_block_on_the_canvas(demo_output):
    """The canvas step shows one block and two: depth lifts the held-out R²."""
    one = _comparison_rows(demo_output, ["held-out R²"])["TinyConvRegressor()"][0]
    two = re.search(r"^   two blocks \(16, 32\)\s+held-out R²\s+(-?\d\.\d{3})\s+fit",
                    demo_output, re.MULTILINE)
    assert two, demo_output
    assert float(two.group(1)) > one + 0.1
