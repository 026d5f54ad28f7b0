"""Every public docstring passes ``numpydoc.validate`` and has an example.

Public means: the names in ``__all__`` of ``sktinycnn`` and of each of its
modules whose name does not start with an underscore (found automatically, so
a new public module is checked without editing this file), and for a class,
its own public methods and properties (those inherited from scikit-learn are
scikit-learn's to document).
"""

import importlib
import inspect
import pkgutil

import pytest
from numpydoc.validate import validate

import sktinycnn

# numpydoc error codes not enforced, each for a reason:
IGNORED = {
    # "Extended summary not found": a one-line summary is enough for many
    # methods (fit, predict, plot ...).
    "ES01",
    # "See Also section not found": cross-references only where they help.
    "SA01",
    # "The first line of the Returns section should contain only the type":
    # scikit-learn's form names the returned value (``self : object``).
    "RT02",
}


def _public_modules():
    modules = [sktinycnn]
    for info in pkgutil.iter_modules(sktinycnn.__path__):
        if not info.name.startswith("_"):
            modules.append(importlib.import_module(f"sktinycnn.{info.name}"))
    return modules


def _public_objects():
    """(qualified name, object) of every public function, class and method."""
    seen = {}
    for module in _public_modules():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # data such as __version__ or constants
            qualname = f"{obj.__module__}.{obj.__qualname__}"
            # Document under the public path, e.g. sktinycnn.TinyConvRegressor.
            seen.setdefault(qualname, (f"{module.__name__}.{name}", obj))
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(member, classmethod | staticmethod):
                        member = member.__func__
                    if inspect.isfunction(member) or isinstance(member, property):
                        public = f"{module.__name__}.{name}.{attr}"
                        seen.setdefault(f"{qualname}.{attr}", (public, member))
    return sorted(seen.values(), key=lambda item: item[0])


PUBLIC = _public_objects()


def test_public_objects_are_found():
    names = {name for name, _ in PUBLIC}
    # Anchors: the estimator, its methods, and the plotting module.
    assert {
        "sktinycnn.TinyConvRegressor",
        "sktinycnn.TinyConvRegressor.fit",
        "sktinycnn.TinyConvRegressor.predict",
        "sktinycnn.plotting.KernelsDisplay.from_estimator",
        "sktinycnn.datasets.load_tutorial",
    } <= names


@pytest.mark.parametrize("name", [name for name, _ in PUBLIC])
def test_docstring(name):
    result = validate(name)
    errors = [
        f"{code}: {message}"
        for code, message in result["errors"]
        if code not in IGNORED
    ]
    assert not errors, f"{name}:\n" + "\n".join(errors)
