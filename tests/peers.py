"""Import peers for differential tests, skipping with the reason when one is missing.

CI installs every peer (`pip install -e '.[test]'`); a developer without one sees a skip that
names the package, never a silent pass.
"""
import importlib

import pytest


def need(module, package=None):
    """Import ``module`` or skip the test naming the pip package that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - only without the extra
        pytest.skip(f"peer {package or module} not installed ({exc}); pip install -e '.[test]'")
