"""What the documentation says about the code, checked against the code.

Module docstrings that name the libraries a module uses, references to a
module's names in comments, the type skops reports, the one-line summaries,
the size the dense layer sees, and the rule that measurements live in
docs/notes/ and benchmarks/, not in the code's comments.
"""

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

import numpy as np
import pytest

import sktinycnn
from sktinycnn import TinyConvClassifier, TinyConvRegressor

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sktinycnn"
MODULES = sorted(PACKAGE.glob("*.py"))


def _third_party_imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names - set(sys.stdlib_module_names) - {"sktinycnn"}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_module_docstrings_name_the_libraries_imported(path):
    """"NumPy only" means NumPy only; "NumPy and SciPy only" imports SciPy."""
    docstring = " ".join((ast.get_docstring(ast.parse(path.read_text())) or "").split())
    imported = _third_party_imports(path)
    if "NumPy only" in docstring:
        assert imported <= {"numpy"}, imported
    if "NumPy and SciPy only" in docstring:
        assert "scipy" in imported and imported <= {"numpy", "scipy"}, imported


def _comments_and_docstrings(path):
    """The text of a module's comments and string literals."""
    source = path.read_text()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING):
            yield token.start[0], token.string


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_references_to_package_names_resolve(path):
    """``_module.name`` in a comment or docstring names something that exists."""
    modules = {module.stem for module in MODULES}
    for line, text in _comments_and_docstrings(path):
        for module, name in re.findall(r"(?<![\w])\.?(_\w+)\.([A-Za-z_]\w*)", text):
            if module not in modules:
                continue
            namespace = __import__(f"sktinycnn.{module}", fromlist=["_"])
            assert hasattr(namespace, name), f"line {line}: {module}.{name}"


def test_the_skops_type_in_limits_is_the_one_skops_reports(tmp_path):
    sio = pytest.importorskip("skops.io")
    page = (ROOT / "docs" / "user_guide" / "limits.rst").read_text()
    named = set(re.findall(r"sktinycnn\.[\w.]*\.TinyConv\w+", page))
    X = np.random.RandomState(0).rand(20, 9)
    reported = set()
    for model in (TinyConvRegressor(max_iter=2), TinyConvClassifier(max_iter=2)):
        with pytest.warns(Warning):  # ConvergenceWarning: two epochs
            model.fit(X, (X[:, 0] > 0.5).astype(int))
        path = tmp_path / "model.skops"
        sio.dump(model, path)
        reported.update(sio.get_untrusted_types(file=path))
    assert named == reported


def test_summaries_name_pooling_and_both_estimators():
    pyproject = (ROOT / "pyproject.toml").read_text()
    description = re.search(r'^description = "(.*)"$', pyproject, re.M).group(1)
    package = sktinycnn.__doc__
    for text in (description, package):
        assert "pool" in text
        assert re.search("classifier", text, re.I) and re.search(
            "regressor", text, re.I
        )
    for estimator in (TinyConvRegressor, TinyConvClassifier):
        assert "pool" in estimator.__doc__.splitlines()[0]


def test_the_dense_layer_size_is_the_pooled_maps():
    """n_hidden is the size of the (pooled) maps: never written with the
    unpooled map size (ho, wo)."""
    model = TinyConvRegressor(n_filters=3, pooling="max", pool_size=2,
                              max_iter=2, random_state=0)
    X = np.random.RandomState(0).rand(20, 6, 6)
    with pytest.warns(Warning):
        model.fit(X, X.sum(axis=(1, 2)))
    assert model.coef_.shape[0] == 3 * 3 * 3  # n_filters * hp * wp
    texts = [*MODULES, *(ROOT / "docs").rglob("*.rst"), ROOT / "README.md"]
    for path in texts:
        flat = " ".join(path.read_text().split())
        assert not re.search(r"n_hidden = n_filters \* ho \* wo", flat), path
        assert not re.search(r"sqrt\(n_filters \* ho \* wo\)", flat), path


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_comments_keep_reasons_not_measurements(path):
    """Timings and measured speed-ups belong in docs/notes/ or benchmarks/."""
    measurement = re.compile(
        r"\b\d+(\.\d+)?\s?(us|µs|ms)\b|[Mm]easured|\b\d\.\d+x\b|from \d+ images to \d+"
    )
    if path.stem == "__main__":  # the demo prints its timings
        return
    for line, text in _comments_and_docstrings(path):
        assert not measurement.search(text), f"line {line}: {text[:80]}"
