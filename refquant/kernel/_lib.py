"""The compiled C twin ``refquant._kernel`` (csrc/, built by refquant/kernel/_build.py), if any:
whether it loaded, which dispatch paths this CPU can run, which path a call ran, its status codes.
"""

import os
import threading

from ..errors import InvalidValueError, UnknownNameError
from ._checks import PATHS

try:  # pragma: no cover - depends on the build
    from .._kernel import ffi, lib
except ImportError:  # pragma: no cover
    ffi = lib = None

PATH_NAMES = {1: "scalar", 2: "vnni", 4: "amx", 8: "avx2", 16: "avx_vnni"}
PATH_ORDER = (1, 8, 16, 2, 4)   # paths() lists them in auto's order of preference, best last
STATUS = {-1: "null pointer", -2: "bad dimension", -3: "bad leading dimension", -4: "bad type",
          -5: "bad policy", -6: "bad method", -7: "parameter out of domain", -8: "bad rectangle",
          -9: "path unavailable", -10: "out of memory", -11: "packed B mismatch",
          -12: "rounding mode is not round-to-nearest-even"}

local = threading.local()   # .path: the path the last call in this thread ran
_paths_cache = []


def available():
    """True when the compiled extension ``refquant._kernel`` can be used."""
    return lib is not None


def require():
    if lib is None:
        raise InvalidValueError("refquant._kernel is not built; install refquant with a C compiler")


def paths():
    """The dispatch paths usable on this CPU, worst to best, e.g. ['scalar', 'avx2', 'avx_vnni', 'vnni',
    'amx']; [] without the extension."""
    if lib is None:
        return []
    if not _paths_cache:
        mask = lib.rq_cpu_paths()
        _paths_cache.extend(PATH_NAMES[bit] for bit in PATH_ORDER if mask & bit)
    return list(_paths_cache)


def last_path_used():
    """The path ('scalar', 'avx2', 'avx_vnni', 'vnni', 'amx') the last call in this thread ran (first rectangle), or None."""
    return getattr(local, "path", None)


def _env_reader(name):
    """A reader of the environment variable ``name`` (None where unset), equal to
    ``os.environ.get(name)``.  CPython's os.environ keeps the encoded variables in a dict (``_data``,
    changed in place by every os.environ update), and its ``get`` of an unset name raises and
    catches a KeyError (~0.7 us, a tenth of a one-shot call); the reader looks in that dict."""
    env = os.environ
    data, enc, dec = getattr(env, "_data", None), getattr(env, "encodekey", None), getattr(env, "decodevalue", None)
    if type(data) is not dict or enc is None or dec is None:   # pragma: no cover - not CPython's os.environ
        return lambda: os.environ.get(name)
    key = enc(name)

    def read():
        value = data.get(key)
        return None if value is None else dec(value)
    return read


env_path = _env_reader("REFQUANT_KERNEL_PATH")   # REFQUANT_KERNEL_PATH, or None


def resolve_path(path):
    """``path``, or REFQUANT_KERNEL_PATH, or 'auto'; a named path must be usable on this CPU."""
    name = path if path is not None else env_path()
    name = "auto" if name is None else name
    if name not in PATHS:
        raise UnknownNameError("kernel path", name, PATHS)
    if name != "auto" and name not in paths():
        raise InvalidValueError(f"kernel path {name!r} is not usable on this CPU; usable: {paths()}")
    return name


def check_status(code):
    """A negative rq_gemm status as InvalidValueError (every domain is checked before, so rare)."""
    if code < 0:  # pragma: no cover - every domain is checked before the call
        raise InvalidValueError(f"refquant kernel rejected the call: {STATUS.get(code, code)}")
