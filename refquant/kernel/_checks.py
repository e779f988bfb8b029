"""Argument checks of refquant.kernel: every value the C kernel will see is checked here, before
any C code runs, and converted to what ``rq_gemm`` takes (int32 / float32 arrays, Python ints).
numpy only; the errors are refquant.errors exceptions naming the value and what was expected.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..errors import InvalidValueError, ShapeError, UnknownNameError

POLICIES = {"wrap": 0, "saturate": 1, "error": 2}
METHODS = {"int32": 0, "float_fp32": 1, "tflite_double": 2, "tflite_single": 3,
           "tosa_single": 4, "tosa_double": 5}
PATHS = {"auto": 0, "scalar": 1, "vnni": 2, "amx": 4, "avx2": 8, "avx_vnni": 16}
CTYPE = {np.dtype(np.int8): 1, np.dtype(np.uint8): 2, np.dtype(np.int32): 3}
INT32 = (-2**31, 2**31 - 1)
INT8_TYPES = (np.dtype(np.int8), np.dtype(np.uint8))
_RANGES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255), np.dtype(np.int32): INT32}


def type_range(dtype):
    """(lo, hi) of int8, uint8 or int32."""
    return _RANGES[np.dtype(dtype)]


def matrix(x, name, dtypes):
    """A 2-D array with unit stride along its last axis; returns its leading dimension."""
    if not isinstance(x, np.ndarray):
        raise InvalidValueError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ShapeError(f"{name} must be 2-D, got shape {x.shape}")
    if x.dtype not in dtypes:
        raise InvalidValueError(f"{name} must have dtype {' or '.join(map(str, dtypes))}, got {x.dtype}")
    rows, cols = x.shape
    if max(rows, cols) >= 2**31:
        raise ShapeError(f"{name} dimension too large for int32: {x.shape}")
    if x.size == 0:
        return max(cols, 1)
    if cols > 1 and x.strides[1] != 1:
        raise InvalidValueError(f"{name} must have unit stride along its last axis "
                                f"(strides {x.strides}); pass np.ascontiguousarray({name})")
    ld = x.strides[0] if rows > 1 else cols
    if ld < cols or ld >= 2**31:
        raise InvalidValueError(f"{name} row stride {x.strides[0]} must be >= its row length {cols}")
    return ld


def int_scalar(v, name, lo, hi):
    """An integer (Python, numpy or 0-d integer array) in [lo, hi], as a Python int."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu":
            v = int(v)
        else:
            raise InvalidValueError(f"{name} must be an integer, got {v!r}")
    v = int(v)
    if not lo <= v <= hi:
        raise InvalidValueError(f"{name}={v} outside [{lo}, {hi}]")
    return v


def int_vector(v, name, n, lo, hi):
    """Scalar -> (array of 1, False); 1-D length n -> (int32 array, True).  Range-checked."""
    if isinstance(v, np.ndarray) and v.ndim > 0:
        if v.ndim != 1 or v.shape[0] != n:
            raise ShapeError(f"{name} must be a scalar or have shape ({n},), got {v.shape}")
        if v.dtype.kind not in "iu":
            raise InvalidValueError(f"{name} must have an integer dtype, got {v.dtype}")
        if v.dtype == np.int32 and (lo, hi) == INT32:   # every int32 is in range
            pass
        elif n and (int(v.min()) < lo or int(v.max()) > hi):
            raise InvalidValueError(f"{name} has values outside [{lo}, {hi}]")
        if v.dtype == np.int32 and v.flags.c_contiguous and v.flags.aligned:
            return v, True
        return np.require(v, np.int32, ["C", "A"]), True
    if isinstance(v, (list, tuple)):
        raise InvalidValueError(f"{name} must be a scalar or a numpy array, got {type(v).__name__}")
    return np.array([int_scalar(v, name, lo, hi)], np.int32), False


def bias_vector(bias, n):
    """None, or the (N,) int32 bias."""
    if bias is None:
        return None
    if not isinstance(bias, np.ndarray):
        raise InvalidValueError(f"bias must be a numpy array, got {type(bias).__name__}")
    arr, per_channel = int_vector(bias, "bias", n, *INT32)
    if not per_channel:
        raise ShapeError(f"bias must have shape ({n},), got {bias.shape}")
    return arr


def policy_name(policy):
    if policy not in POLICIES:
        raise UnknownNameError("overflow policy", policy, POLICIES)
    return policy


def a_dtype_of(a_dtype):
    """The activation dtype a prepared op is built for: int8 or uint8."""
    try:
        a_dtype = np.dtype(a_dtype)
    except TypeError as exc:
        raise InvalidValueError(f"a_dtype {a_dtype!r} is not a dtype") from exc
    if a_dtype not in INT8_TYPES:
        raise InvalidValueError(f"a_dtype must be int8 or uint8, got {a_dtype}")
    return a_dtype


def _f32_domain(arr, name):
    """M_j must be finite and >= 0 (-0.0 is 0): the domain refquant.requant checks for float methods."""
    flat = arr.reshape(-1)
    bad = ~(np.isfinite(flat) & (flat >= 0))
    if bad.any():
        j = int(np.argmax(bad))
        where = f"[{j}]" if arr.ndim else ""
        raise InvalidValueError(f"{name}{where} = {float(flat[j])!r} (bits 0x{int(flat[j:j + 1].view(np.uint32)[0]):08x})"
                                " must be a finite binary32 value >= 0")


def f32_vector(v, name, n):
    """Multipliers M_j: float32 values (or uint32 bit patterns); finite, >= 0; exact binary32 only."""
    if isinstance(v, np.float32):   # the common per-tensor case, kept cheap
        if not (v >= 0 and np.isfinite(v)):
            _f32_domain(np.array(v), name)
        return np.array([v], np.float32), False
    if (type(v) is np.ndarray and v.dtype == np.float32 and v.ndim == 1 and v.shape[0] == n
            and v.flags.c_contiguous and v.flags.aligned):   # the common per-channel case
        if not (np.isfinite(v).all() and (v >= 0).all()):
            _f32_domain(v, name)
        return v, True
    arr = np.asarray(v)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
        raise ShapeError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
    if arr.dtype == np.uint32:
        arr = arr.view(np.float32)
    elif arr.dtype == np.float64:
        f = arr.astype(np.float32)
        with np.errstate(invalid="ignore"):
            exact = (f.astype(np.float64) == arr) | np.isnan(arr)
        if not np.all(exact):
            raise InvalidValueError(f"{name} must be exactly representable in binary32; "
                                    "pass np.float32 values (the profile decides the rounding)")
        arr = f
    elif arr.dtype != np.float32:
        raise InvalidValueError(f"{name} must be float32 (or uint32 bit patterns), got {arr.dtype}")
    _f32_domain(arr, name)
    per_channel = arr.ndim == 1
    return np.require(arr.reshape(-1), np.float32, ["C", "A"]), per_channel


@dataclass(slots=True)
class Requant:
    """Checked requantization of the accumulators (``method="int32"``: none, int32 output).
    Not changed once built (a plain slotted class: it is built on every one-shot call)."""
    method: str = "int32"
    out_dtype: np.dtype = np.dtype(np.int32)
    per_channel: bool = False
    multiplier_f32: np.ndarray | None = None   # float_fp32: M_j
    multiplier: np.ndarray | None = None       # tflite_* / tosa_*: m_j
    shift: np.ndarray | None = None            # tflite_* / tosa_*: shift_j
    zp: int = 0
    qmin: int = INT32[0]
    qmax: int = INT32[1]

    def private_copy(self):
        """The same requantization with arrays of its own (a prepared op keeps these)."""
        own = (lambda x: None if x is None else np.array(x, copy=True))
        return replace(self, multiplier_f32=own(self.multiplier_f32), multiplier=own(self.multiplier),
                       shift=own(self.shift))


NO_REQUANT = Requant()


def method_name(method):
    if method not in METHODS:
        raise UnknownNameError("requantization method", method, METHODS)
    return method


def out_dtype_of(out_dtype, method):
    """int8, uint8 or int32 (the only output of method 'int32')."""
    try:
        out_dtype = np.dtype(out_dtype)
    except TypeError as exc:
        raise InvalidValueError(f"out_dtype {out_dtype!r} is not a dtype") from exc
    if out_dtype not in CTYPE:
        raise InvalidValueError(f"out_dtype must be int8, uint8 or int32, got {out_dtype}")
    if method == "int32" and out_dtype != np.int32:
        raise InvalidValueError("method 'int32' produces int32 output")
    return out_dtype


def _integer_params(method, params, n):
    """(multiplier, shift, per_channel) of a tflite_* / tosa_* method."""
    if not isinstance(params, (tuple, list)) or len(params) != 2:
        raise InvalidValueError(f"{method} params must be a pair (multiplier, shift)")
    srange = (2, 62) if method.startswith("tosa") else (-31, 30)
    qm, pc_m = int_vector(params[0], "multiplier", n, 0, 2**31 - 1)
    qs, pc_s = int_vector(params[1], "shift", n, *srange)
    per_channel = pc_m or pc_s
    if per_channel:
        qm = np.require(np.broadcast_to(qm, (n,)), np.int32, ["C", "A"])
        qs = np.require(np.broadcast_to(qs, (n,)), np.int32, ["C", "A"])
    return qm, qs, per_channel


def requant_args(method, params, n, out_dtype, zp, qmin, qmax):
    """Checks and converts the requantization arguments of a requantizing method (not 'int32');
    ``method`` and ``out_dtype`` (a np.dtype) are checked already."""
    lo, hi = type_range(out_dtype)
    qmin = lo if qmin is None else int_scalar(qmin, "qmin", lo, hi)
    qmax = hi if qmax is None else int_scalar(qmax, "qmax", lo, hi)
    if qmin > qmax:
        raise InvalidValueError(f"qmin={qmin} > qmax={qmax}")
    zp = int_scalar(zp, "zp", *INT32)
    if method == "float_fp32":
        if abs(qmin - zp) > 2**24 or abs(qmax - zp) > 2**24:
            raise InvalidValueError("float_fp32 needs |qmin - zp| and |qmax - zp| <= 2^24 "
                                    "(the clamp bounds must be exact binary32 integers)")
        mf, per_channel = f32_vector(params, "multiplier", n)
        return Requant(method, out_dtype, per_channel, mf, None, None, zp, qmin, qmax)
    qm, qs, per_channel = _integer_params(method, params, n)
    return Requant(method, out_dtype, per_channel, None, qm, qs, zp, qmin, qmax)
