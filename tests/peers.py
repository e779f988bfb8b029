"""Import peers for differential tests, skipping with the reason when one is missing.

CI installs every peer (`pip install -e '.[test]'`); a developer without one sees a skip that
names the package and the extra that installs it at the version the facts were measured on
(pyproject.toml pins it), never a silent pass.
"""
import importlib

import pytest

# top-level module -> the pyproject.toml extra that installs it (None: a core dependency).
# tests/test_peer_versions.py checks that each extra exists and pins its peer with ==.
EXTRAS = {
    "numpy": None,
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "torch": "torch",
    "tosa_serializer": "tosa",
    "tosa_reference_model": "tosa",
    "tosa": "tosa",
    "ml_dtypes": "test",
    "softfloatpy": "test",
    "jsonschema": "test",
    "sklearn": "examples",
    "matplotlib": "report",
}


def hint(module):
    """The install line for the package that provides ``module``."""
    extra = EXTRAS.get(module.split(".")[0], "test")
    if extra is None:
        return "pip install -e ."
    return f"pip install -e '.[{extra}]' (every peer: '.[test]')"


def need(module, package=None):
    """Import ``module`` or skip the test naming the pip package that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - only without the extra
        # allow_module_level: a test file that needs a peer for its module-level constants skips whole
        pytest.skip(f"peer {package or module} not installed ({exc}); {hint(module)}", allow_module_level=True)
