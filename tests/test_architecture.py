"""Imports follow docs/architecture.rst: data walks one way, and the math
imports no scikit-learn. A module missing from the table fails too, so that
the page is kept true when one is added."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sktinycnn"

#: The package's modules each may import ("__init__" is the version).
ALLOWED = {
    "__init__": {"_regressor", "_classifier"},
    "_constraints": set(),
    "_images": set(),
    "_pooling": set(),
    "_heads": set(),
    "_target_scaling": set(),
    "_network": {"_images", "_pooling"},
    "_parallel": set(),
    "_patches": {"_images"},
    "_layers": {"_patches", "_pooling"},
    "_kernels": {"_layers", "_parallel", "_patches", "_pooling"},
    "_optimizers": set(),
    "_lean": set(),
    "_stopping": set(),
    "_training": {"_kernels", "_lean", "_optimizers", "_parallel", "_stopping"},
    "_callbacks": set(),
    "_inputs": {"_images"},
    "_partial_fit": set(),
    "_base": {
        "__init__", "_callbacks", "_constraints", "_inputs", "_kernels", "_network",
        "_optimizers", "_parallel", "_partial_fit", "_pooling", "_training",
    },
    "_regressor": {"_base", "_constraints", "_heads", "_target_scaling"},
    "_labels": set(),
    "_class_outputs": {"_heads", "_labels"},
    "_classifier": {"_base", "_class_outputs", "_constraints", "_heads", "_labels"},
    "datasets": set(),
    "streaming": {"_target_scaling"},
    "onnx": {
        "__init__", "_onnx_graph", "_onnx_heads", "_onnx_skl2onnx", "_regressor",
        "_classifier",
    },
    "_onnx_graph": {"_images"},
    "_onnx_heads": {"_onnx_graph"},
    "_onnx_skl2onnx": {"_onnx_graph", "_onnx_heads", "_classifier"},
    "plotting": {"_plot_tools"},
    "_plot_tools": set(),
    "__main__": {"__init__", "datasets", "plotting", "_network"},
}

#: Modules of the math, and the estimators' helpers that need no
#: scikit-learn: NumPy and SciPy only.
NO_SKLEARN = {
    "_constraints", "_images", "_pooling", "_heads", "_target_scaling",
    "_network", "_parallel", "_patches", "_layers", "_kernels", "_lean",
    "_optimizers", "_stopping", "_partial_fit",
}


def _imports(path):
    """The package modules and top-level packages that ``path`` imports."""
    internal, external = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from ._y import z
                if node.module:
                    internal.add(node.module.split(".")[0])
                else:  # a sibling module, or a name from __init__
                    internal.update(
                        alias.name if (PACKAGE / f"{alias.name}.py").exists()
                        else "__init__"
                        for alias in node.names
                    )
            elif node.module.split(".")[0] == "sktinycnn":
                parts = node.module.split(".")
                internal.add(parts[1] if len(parts) > 1 else "__init__")
            else:
                external.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                external.add(alias.name.split(".")[0])
    return internal, external


MODULES = sorted(path.stem for path in PACKAGE.glob("*.py"))


def test_every_module_is_in_the_table():
    assert set(MODULES) <= set(ALLOWED), set(MODULES) - set(ALLOWED)


@pytest.mark.parametrize("module", MODULES)
def test_imports_follow_the_architecture(module):
    internal, external = _imports(PACKAGE / f"{module}.py")
    internal.discard(module)
    assert internal <= ALLOWED[module], internal - ALLOWED[module]
    if module in NO_SKLEARN:
        assert "sklearn" not in external


def test_the_check_sees_a_wrong_import(tmp_path):
    path = tmp_path / "_kernels.py"
    path.write_text("from ._base import BaseTinyConv\nimport sklearn.utils\n")
    internal, external = _imports(path)
    assert internal == {"_base"} and "sklearn" in external
