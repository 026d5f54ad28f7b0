"""Test-session set-up shared by tests/ and the doctests in sktinycnn/."""

import os

# scikit-learn's check_array_api_input enables array-API dispatch, which needs
# SciPy's array-API mode; it must be set before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
