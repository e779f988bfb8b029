"""The rule of the house (docs/architecture.md), enforced.

Top-level ``refquant/*.py`` is the executable spec: stdlib only, and it imports no subpackage.
Subpackages are tooling around it.  Files stay small.  The exceptions are named here, each with
the reason, so that the list can only shrink.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "refquant"

# Top-level modules that are tooling, not spec, until they move into a subpackage (issue: redesign).
TOOLING_AT_TOP = {
    "__main__": "entry point",
}
# Spec modules that import numpy lazily at their API edge (never in the definitions).
NUMPY_AT_EDGE = {"quantize": "numpy arrays in and out of quantize()/dequantize()"}

SPEC = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in TOOLING_AT_TOP and p.stem != "__init__")
SUBPACKAGES = sorted(p.name for p in PKG.iterdir() if (p / "__init__.py").exists())

BLOCK_NUMPY = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {'numpy', 'cffi', 'torch', 'onnx', 'onnxruntime', 'ml_dtypes', 'scipy'}:
            raise ImportError('blocked for the stdlib-only test: ' + name)
sys.meta_path.insert(0, Block())
import importlib
importlib.import_module('refquant.%s')
bad = sorted(m for m in sys.modules if m.startswith('refquant.') and m.split('.')[1] in %r)
print(','.join(bad))
"""


@pytest.mark.parametrize("module", SPEC)
def test_spec_module_imports_with_numpy_blocked(module):
    r = subprocess.run([sys.executable, "-c", BLOCK_NUMPY % (module, SUBPACKAGES)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "", f"refquant.{module} loaded tooling subpackages: {r.stdout.strip()}"


def _imports(path):
    """(module names imported at any depth, relative import levels) of one file."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            out += [(f"{base}.{a.name}" if base else a.name, node.level) for a in node.names]
    return out


@pytest.mark.parametrize("module", SPEC)
def test_spec_module_imports_no_subpackage_and_only_the_stdlib(module):
    stdlib = set(sys.stdlib_module_names)
    for name, level in _imports(PKG / f"{module}.py"):
        top = name.split(".")[0]
        if level:   # relative: a sibling spec module, never a subpackage or tooling module
            assert top not in SUBPACKAGES and top not in TOOLING_AT_TOP, f"{module} imports .{name}"
        elif top == "refquant":
            sib = name.split(".")[1]
            assert sib not in SUBPACKAGES and sib not in TOOLING_AT_TOP, f"{module} imports {name}"
        elif top not in stdlib:
            assert module in NUMPY_AT_EDGE and top == "numpy", f"{module} imports third-party {name}"


MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 60
# Named exceptions (shrinking): file -> why it is still over budget.
BIG_FILES = {  # none left: requant.py's IEEE operations moved to ieee.py
}
LONG_FUNCTIONS_ALLOWED = {  # "file:function" of the tooling modules named above
}


def _files():
    return sorted(p for p in PKG.rglob("*.py") if "golden_data" not in p.parts)


def test_no_file_over_the_line_budget():
    over = {}
    for p in _files():
        rel = p.relative_to(PKG).as_posix()
        n = len(p.read_text().splitlines())
        if n > MAX_FILE_LINES and rel not in BIG_FILES:
            over[rel] = n
    assert over == {}, f"files over {MAX_FILE_LINES} lines (split them, or name them in BIG_FILES): {over}"


def test_no_function_over_the_line_budget():
    long = []
    for p in _files():
        rel = p.relative_to(PKG).as_posix()
        if rel in LONG_FUNCTIONS_ALLOWED:
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{rel}:{node.name} ({n})")
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_exceptions_are_still_needed():
    """A named exception that no longer applies (the file is within budget, or gone: split or
    moved) is removed from the list (it can only shrink)."""
    for rel in BIG_FILES:
        p = PKG / rel
        assert p.exists(), f"{rel} no longer exists: drop it from BIG_FILES"
        assert len(p.read_text().splitlines()) > MAX_FILE_LINES, f"{rel} is within budget: drop it from BIG_FILES"
    for rel in LONG_FUNCTIONS_ALLOWED:
        p = PKG / rel
        assert p.exists(), f"{rel} no longer exists: drop it from LONG_FUNCTIONS_ALLOWED"
        longest = max((node.end_lineno - node.lineno + 1 for node in ast.walk(ast.parse(p.read_text()))
                       if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))), default=0)
        assert longest > MAX_FUNCTION_LINES, f"{rel} is within budget: drop it from LONG_FUNCTIONS_ALLOWED"


def _room(parts):
    """The room of a module path ('refquant', ...): a subpackage is one room (its own subpackages
    included); a top-level module is a room of its own."""
    return tuple(parts[:2]) if (PKG.parent / Path(*parts[:2])).is_dir() else tuple(parts[:2])


def _private_imports_across_packages(path):
    """(line, what) for each ``_private`` name one module takes from a module in another room."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(PKG.parent).with_suffix("")
    here = _room(rel.parts if rel.name != "__init__" else rel.parts[:-1])
    pkg = rel.parts[:-1]
    found, aliases = [], {}

    def private(name):
        return name.startswith("_") and not name.startswith("__")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg[:len(pkg) - (node.level - 1)] + (tuple(node.module.split(".")) if node.module else ())
            for a in node.names:
                if private(a.name) and _room(base) != here:
                    found.append((node.lineno, f"from {'.' * node.level}{node.module or ''} import {a.name}"))
                aliases[a.asname or a.name] = base + (a.name,)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and private(node.attr) and _room(aliases[node.value.id]) != here):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


def test_no_private_name_crosses_a_package():
    """A ``_private`` name stays inside its package: tooling reaches the spec (and other packages)
    through public names only, so a rename inside one room cannot break another."""
    bad = {}
    for p in sorted(PKG.rglob("*.py")):
        hits = _private_imports_across_packages(p)
        if hits:
            bad[str(p.relative_to(PKG.parent))] = hits
    assert bad == {}, f"private names used across packages (make them public, or move the code): {bad}"
