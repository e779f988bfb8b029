"""refquant.kernel -- the Python face of the C twin (csrc/, built as ``refquant._kernel``).

The C kernel implements docs/gemm-contract.md bit for bit: int8/uint8 GEMM
with int32 accumulation under an overflow policy, then optional
requantization.  This module checks every argument *before* any C code
runs and raises refquant.errors exceptions; arrays go to C zero-copy; the
call releases the GIL and is split over threads by output rectangles.

If the extension was not built, the module still imports and
``available()`` is False; the pure-Python oracle does not need it.

Dispatch: ``path=`` or the environment variable ``REFQUANT_KERNEL_PATH``
(``scalar``, ``vnni``, ``amx``, ``auto``) forces a path.  A SIMD path that
cannot be exact for a problem (saturate/error/counting when overflow is
possible) falls back to the scalar path, never to an approximation;
``last_path_used()`` tells which path ran.  Large calls are split into
rectangles run at once on the C kernel's own thread pool (rq_gemm_run_many).
"""

import os
import threading

import numpy as np

from .errors import AccumulatorOverflowError, InvalidValueError, ShapeError, UnknownNameError

try:  # pragma: no cover - depends on the build
    from ._kernel import ffi, lib
except ImportError:  # pragma: no cover
    ffi = lib = None

__all__ = ["available", "paths", "matmul_integer", "qlinear_matmul", "QLinearMatMul", "PackedB", "last_path_used",
           "POLICIES", "METHODS"]

POLICIES = {"wrap": 0, "saturate": 1, "error": 2}
METHODS = {"int32": 0, "float_fp32": 1, "tflite_double": 2, "tflite_single": 3,
           "tosa_single": 4, "tosa_double": 5}
_PATHS = {"auto": 0, "scalar": 1, "vnni": 2, "amx": 4}
_PATH_NAMES = {1: "scalar", 2: "vnni", 4: "amx"}
_CTYPE = {np.dtype(np.int8): 1, np.dtype(np.uint8): 2, np.dtype(np.int32): 3}
_INT32 = (-2**31, 2**31 - 1)
_STATUS = {-1: "null pointer", -2: "bad dimension", -3: "bad leading dimension", -4: "bad type",
           -5: "bad policy", -6: "bad method", -7: "parameter out of domain", -8: "bad rectangle",
           -9: "path unavailable", -10: "out of memory", -11: "packed B mismatch",
           -12: "rounding mode is not round-to-nearest-even"}

_CPUS = os.cpu_count() or 1
_SPLIT_MIN = 1 << 24   # operations (2*M*N*K) below which a call is not split over threads
_local = threading.local()


def available():
    """True when the compiled extension ``refquant._kernel`` can be used."""
    return lib is not None


_paths_cache = []


def paths():
    """The dispatch paths usable on this CPU, e.g. ['scalar', 'vnni', 'amx']; [] without the extension."""
    if lib is None:
        return []
    if not _paths_cache:
        mask = lib.rq_cpu_paths()
        _paths_cache.extend(name for bit, name in sorted(_PATH_NAMES.items()) if mask & bit)
    return list(_paths_cache)


def last_path_used():
    """The path ('scalar', 'vnni', 'amx') the last call in this thread ran (first rectangle), or None."""
    return getattr(_local, "path", None)


def _require():
    if lib is None:
        raise InvalidValueError("refquant._kernel is not built; install refquant with a C compiler")


def _resolve_path(path):
    name = path if path is not None else os.environ.get("REFQUANT_KERNEL_PATH", "auto")
    if name not in _PATHS:
        raise UnknownNameError("kernel path", name, _PATHS)
    if name != "auto" and name not in paths():
        raise InvalidValueError(f"kernel path {name!r} is not usable on this CPU; usable: {paths()}")
    return name


# ---- argument checks (all before any C code runs) ----------------------------------------------

def _matrix(x, name, dtypes):
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


def _int_scalar(v, name, lo, hi):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu":
            v = int(v)
        else:
            raise InvalidValueError(f"{name} must be an integer, got {v!r}")
    v = int(v)
    if not lo <= v <= hi:
        raise InvalidValueError(f"{name}={v} outside [{lo}, {hi}]")
    return v


def _int_vector(v, name, n, lo, hi):
    """Scalar -> (array of 1, False); 1-D length n -> (int32 array, True).  Range-checked."""
    if isinstance(v, np.ndarray) and v.ndim > 0:
        if v.ndim != 1 or v.shape[0] != n:
            raise ShapeError(f"{name} must be a scalar or have shape ({n},), got {v.shape}")
        if v.dtype.kind not in "iu":
            raise InvalidValueError(f"{name} must have an integer dtype, got {v.dtype}")
        if v.dtype == np.int32 and (lo, hi) == _INT32:   # every int32 is in range
            pass
        elif n and (int(v.min()) < lo or int(v.max()) > hi):
            raise InvalidValueError(f"{name} has values outside [{lo}, {hi}]")
        if v.dtype == np.int32 and v.flags.c_contiguous and v.flags.aligned:
            return v, True
        return np.require(v, np.int32, ["C", "A"]), True
    if isinstance(v, (list, tuple)):
        raise InvalidValueError(f"{name} must be a scalar or a numpy array, got {type(v).__name__}")
    return np.array([_int_scalar(v, name, lo, hi)], np.int32), False


_RANGES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255), np.dtype(np.int32): _INT32}


def _type_range(dtype):
    return _RANGES[np.dtype(dtype)]


def _f32_domain(arr, name):
    """M_j must be finite and >= 0 (-0.0 is 0): the domain refquant.requant checks for float methods."""
    flat = arr.reshape(-1)
    bad = ~(np.isfinite(flat) & (flat >= 0))
    if bad.any():
        j = int(np.argmax(bad))
        where = f"[{j}]" if arr.ndim else ""
        raise InvalidValueError(f"{name}{where} = {float(flat[j])!r} (bits 0x{int(flat[j:j + 1].view(np.uint32)[0]):08x})"
                                " must be a finite binary32 value >= 0")


def _f32_vector(v, name, n):
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


def _ptr(x, writable=False):
    if x.flags.c_contiguous and x.size:
        return ffi.from_buffer("char[]", x, require_writable=writable)
    return ffi.cast("char *", x.__array_interface__["data"][0])


# ---- packed B -------------------------------------------------------------------------------------

class PackedB:
    """B (K x N, int8 or uint8) packed once in the VNNI/AMX layout, for repeated calls.

    Memory: ceil(K/64)*64 * ceil(N/32)*32 bytes plus ceil(N/32)*32 int32 column sums.
    """

    def __init__(self, b):
        _require()
        ldb = _matrix(b, "b", (np.dtype(np.int8), np.dtype(np.uint8)))
        k, n = b.shape
        if n == 0:
            raise ShapeError("cannot pack B with zero columns")
        self.shape, self.dtype = (k, n), b.dtype
        nbytes = max(1, lib.rq_packed_b_bytes(k, n))
        raw = np.zeros(nbytes + 64, np.int8)   # 64-byte aligned: each tile row is one cache line
        off = -raw.ctypes.data % 64
        self._data = raw[off:off + nbytes]
        self._colsum = np.zeros(max(1, lib.rq_packed_b_colsum_len(n)), np.int32)
        self._struct = ffi.new("rq_packed_b *")
        self._struct.data = ffi.cast("int8_t *", ffi.from_buffer(self._data, require_writable=True))
        self._struct.colsum = ffi.cast("int32_t *", ffi.from_buffer(self._colsum, require_writable=True))
        rc = lib.rq_pack_b(self._struct, _ptr(b), _CTYPE[b.dtype], k, n, ldb)
        if rc != 0:  # pragma: no cover - arguments were checked
            raise InvalidValueError(f"rq_pack_b failed: {_STATUS.get(rc, rc)}")

    def column(self, j):
        """B[:, j] as Python ints (for error reporting)."""
        k = self.shape[0]
        kpad = self._struct.k_pad
        ks = np.arange(k)
        idx = ((j // 16) * (kpad // 4) + ks // 4) * 64 + (j % 16) * 4 + ks % 4
        off = 128 if self.dtype == np.uint8 else 0
        return [int(v) + off for v in self._data[idx]]


# ---- the call ---------------------------------------------------------------------------------------

def _run_rects(structs):
    """Runs the rectangles at once (C pool: the calling thread takes the first); the GIL is
    released during the call.  Returns the combined code (see rq_gemm_run_many)."""
    if len(structs) == 1:
        return (lib.rq_gemm_run(structs[0]),)
    return (lib.rq_gemm_run_many(ffi.new("rq_gemm *[]", structs), len(structs)),)


def _rectangles(m, n, k, threads):
    """Disjoint output rectangles, split at multiples of 32 (the AMX block).

    Columns are split when N > M (each thread then reads only its share of B, the
    larger operand), rows otherwise (each thread packs only its share of A)."""
    if threads <= 1 or 2 * m * n * max(k, 1) < _SPLIT_MIN:
        return [(0, m, 0, n)]
    if m >= 32 * threads and not (n > m and n >= 32 * threads):
        blocks = -(-m // 32)
        cuts = [min(m, 32 * (blocks * t // threads)) for t in range(threads + 1)]
        return [(cuts[t], cuts[t + 1], 0, n) for t in range(threads) if cuts[t] < cuts[t + 1]]
    if n >= 32 * threads:
        blocks = -(-n // 32)
        cuts = [min(n, 32 * (blocks * t // threads)) for t in range(threads + 1)]
        return [(0, m, cuts[t], cuts[t + 1]) for t in range(threads) if cuts[t] < cuts[t + 1]]
    return [(0, m, 0, n)]


def _first_overflow_k(a, b, za, zb, bias, i, j, policy):
    """k of the first out-of-range step of output (i, j) (K means: the bias step)."""
    col = b.column(j) if isinstance(b, PackedB) else [int(v) for v in b[:, j]]
    s = 0
    lo, hi = _INT32
    steps = [(int(a[i, kk]) - za) * (col[kk] - zb) for kk in range(len(col))]
    if bias is not None:
        steps.append(bias)
    for kk, t in enumerate(steps):
        s += t
        if not lo <= s <= hi:
            return kk
    return -1  # pragma: no cover


def _run(a, b, za, zb, bias, policy, method, per_channel, mf, qm, qs, zp, qmin, qmax,
         out_dtype, path, threads, return_overflow):
    _require()
    lda = _matrix(a, "a", (np.dtype(np.int8), np.dtype(np.uint8)))
    packed = isinstance(b, PackedB)
    if packed:
        kb, n = b.shape
        b_dtype, ldb = b.dtype, n
    else:
        ldb = _matrix(b, "b", (np.dtype(np.int8), np.dtype(np.uint8)))
        (kb, n), b_dtype = b.shape, b.dtype
    m, k = a.shape
    if k != kb:
        raise ShapeError(f"inner dimensions differ: a is {a.shape}, b is {(kb, n)}")
    if policy not in POLICIES:
        raise UnknownNameError("overflow policy", policy, POLICIES)
    za = _int_scalar(za, "za", *_type_range(a.dtype))
    zb_arr, zb_pc = _int_vector(zb, "zb", n, *_type_range(b_dtype))
    bias_arr = None
    if bias is not None:
        if not isinstance(bias, np.ndarray):
            raise InvalidValueError(f"bias must be a numpy array, got {type(bias).__name__}")
        bias_arr, pc = _int_vector(bias, "bias", n, *_INT32)
        if not pc:
            raise ShapeError(f"bias must have shape ({n},), got {bias.shape}")
    path_name = _resolve_path(path)
    out = np.empty((m, n), out_dtype)   # every element is written by the kernel
    counts = np.zeros((m, n), np.int32) if (return_overflow or policy == "error") else None
    if m == 0 or n == 0:
        return (out, counts if counts is not None else np.zeros((m, n), np.int32)) if return_overflow else out
    if path_name != "scalar" and not packed and paths() != ["scalar"]:
        b = PackedB(b)
        packed = True
    if threads is None:
        threads = _CPUS
    threads = _int_scalar(threads, "threads", 1, 1024)

    keep = [a, b, zb_arr, bias_arr, mf, qm, qs, out, counts]
    base = dict(m=m, n=n, k=k, a=_ptr(a), a_type=_CTYPE[a.dtype], lda=lda,
                za=za, zb=ffi.from_buffer("int32_t[]", zb_arr), zb_per_channel=int(zb_pc),
                bias=ffi.from_buffer("int32_t[]", bias_arr) if bias_arr is not None else ffi.NULL,
                policy=POLICIES[policy], method=METHODS[method], per_channel=int(per_channel),
                multiplier_f32=ffi.from_buffer("float[]", mf) if mf is not None else ffi.NULL,
                multiplier=ffi.from_buffer("int32_t[]", qm) if qm is not None else ffi.NULL,
                shift=ffi.from_buffer("int32_t[]", qs) if qs is not None else ffi.NULL,
                zp=zp, qmin=qmin, qmax=qmax,
                c=ffi.from_buffer(out, require_writable=True), c_type=_CTYPE[out.dtype], ldc=n,
                overflow_count=(ffi.from_buffer("int32_t[]", counts, require_writable=True)
                                if counts is not None else ffi.NULL),
                path=_PATHS[path_name])
    if packed:
        base["packed_b"] = b._struct
    else:
        base.update(b=_ptr(b), b_type=_CTYPE[b.dtype], ldb=ldb)
    rects = _rectangles(m, n, k, threads)
    structs = []
    for r0, r1, c0, c1 in rects:
        base.update(row_begin=r0, row_end=r1, col_begin=c0, col_end=c1)
        structs.append(ffi.new("rq_gemm *", base))
    codes = _run_rects(structs)
    del keep
    _local.path = _PATH_NAMES.get(structs[0].path_used)
    bad = [c for c in codes if c < 0]
    if bad:  # pragma: no cover - every domain is checked above
        raise InvalidValueError(f"refquant kernel rejected the call: {_STATUS.get(bad[0], bad[0])}")
    if policy == "error" and np.any(counts):
        flat = int(np.argmax(counts.reshape(-1) > 0))
        i, j = divmod(flat, n)
        kk = _first_overflow_k(a, b, za, int(zb_arr[j if zb_pc else 0]),
                               int(bias_arr[j]) if bias_arr is not None else None, i, j, policy)
        err = AccumulatorOverflowError(
            f"int32 accumulator overflow at (i, j, k) = ({i}, {j}, {kk})"
            + (" (the bias step)" if kk == k else "") + f"; {int(np.count_nonzero(counts))} outputs overflowed")
        err.i, err.j, err.k = i, j, kk
        raise err
    return (out, counts) if return_overflow else out


def matmul_integer(a, b, za=0, zb=0, bias=None, policy="wrap", path=None, threads=None,
                   return_overflow=False):
    """int32 accumulators acc[i,j] = sum_k (a[i,k]-za)(b[k,j]-zb_j) (+ bias_j) under `policy`.

    a: (M, K) int8/uint8; b: (K, N) int8/uint8 or a PackedB; za: int; zb: int or (N,) ints;
    bias: None or (N,) int32; policy: 'wrap' | 'saturate' | 'error'.  Returns an (M, N) int32
    array, and the (M, N) int32 overflow counts when return_overflow is true.
    """
    return _run(a, b, za, zb, bias, policy, "int32", False, None, None, None, 0, *_INT32,
                np.int32, path, threads, return_overflow)


def _requant_args(method, params, n, out_dtype, zp, qmin, qmax):
    """Checks and converts the requantization arguments: (qmin, qmax, zp, mf, qm, qs, per_channel)."""
    lo, hi = _type_range(out_dtype)
    qmin = lo if qmin is None else _int_scalar(qmin, "qmin", lo, hi)
    qmax = hi if qmax is None else _int_scalar(qmax, "qmax", lo, hi)
    if qmin > qmax:
        raise InvalidValueError(f"qmin={qmin} > qmax={qmax}")
    zp = _int_scalar(zp, "zp", *_INT32)
    mf = qm = qs = None
    if method == "float_fp32":
        if abs(qmin - zp) > 2**24 or abs(qmax - zp) > 2**24:
            raise InvalidValueError("float_fp32 needs |qmin - zp| and |qmax - zp| <= 2^24 "
                                    "(the clamp bounds must be exact binary32 integers)")
        mf, per_channel = _f32_vector(params, "multiplier", n)
    else:
        if not isinstance(params, (tuple, list)) or len(params) != 2:
            raise InvalidValueError(f"{method} params must be a pair (multiplier, shift)")
        srange = (2, 62) if method.startswith("tosa") else (-31, 30)
        qm, pc_m = _int_vector(params[0], "multiplier", n, 0, 2**31 - 1)
        qs, pc_s = _int_vector(params[1], "shift", n, *srange)
        per_channel = pc_m or pc_s
        if per_channel:
            qm = np.require(np.broadcast_to(qm, (n,)), np.int32, ["C", "A"])
            qs = np.require(np.broadcast_to(qs, (n,)), np.int32, ["C", "A"])
    return qmin, qmax, zp, mf, qm, qs, per_channel


def qlinear_matmul(a, b, za, zb, method, params, zp=0, qmin=None, qmax=None, out_dtype=np.int8,
                   bias=None, policy="wrap", path=None, threads=None, return_overflow=False):
    """Requantized GEMM: q[i,j] = requant_method(acc[i,j], params_j) per docs/gemm-contract.md.

    method: 'float_fp32' (params: M_j as float32 scalar / (N,) array, or uint32 bit patterns),
    'tflite_double' | 'tflite_single' (params: (m, shift), m in [0, 2^31), shift in [-31, 30]),
    'tosa_single' | 'tosa_double' (params: (m, s), s in [2, 62]), or 'int32' (params ignored).
    Scalars are per-tensor, (N,) arrays per-channel.  out_dtype: int8, uint8 or int32;
    qmin/qmax default to its range.
    """
    if method not in METHODS:
        raise UnknownNameError("requantization method", method, METHODS)
    try:
        out_dtype = np.dtype(out_dtype)
    except TypeError as exc:
        raise InvalidValueError(f"out_dtype {out_dtype!r} is not a dtype") from exc
    if out_dtype not in _CTYPE:
        raise InvalidValueError(f"out_dtype must be int8, uint8 or int32, got {out_dtype}")
    if method == "int32":
        if out_dtype != np.int32:
            raise InvalidValueError("method 'int32' produces int32 output")
        return matmul_integer(a, b, za, zb, bias, policy, path, threads, return_overflow)
    n = b.shape[1] if isinstance(b, (np.ndarray, PackedB)) and len(b.shape) == 2 else 0
    qmin, qmax, zp, mf, qm, qs, per_channel = _requant_args(method, params, n, out_dtype, zp, qmin, qmax)
    return _run(a, b, za, zb, bias, policy, method, per_channel, mf, qm, qs, zp, qmin, qmax,
                out_dtype, path, threads, return_overflow)


class QLinearMatMul:
    """A prepared GEMM + requantization with fixed weights, like a prepacked quantized linear layer.

    ``QLinearMatMul(b, za, zb, method, params, ...)`` takes the arguments of ``qlinear_matmul``
    except ``a`` (plus ``a_dtype``, the dtype of the activations it will be called with), checks
    them once, packs B once and keeps private copies of zb, bias and the requantization
    parameters; ``op(a)`` then returns exactly ``qlinear_matmul(a, b, ...)`` with those
    arguments, checking only ``a`` (dtype, shape, strides).  ``method="int32"`` gives
    ``matmul_integer``.  The path (``path`` or ``REFQUANT_KERNEL_PATH``) and the thread count are
    resolved when the op is built.  Policy ``error`` (which must locate the overflow) and any
    ``a`` that is not a plain (M, K) array of ``a_dtype`` go through ``qlinear_matmul`` itself.
    """

    def __init__(self, b, za, zb, method, params=None, zp=0, qmin=None, qmax=None,
                 out_dtype=np.int8, bias=None, policy="wrap", path=None, threads=None,
                 a_dtype=np.uint8):
        _require()
        try:
            a_dtype = np.dtype(a_dtype)
        except TypeError as exc:
            raise InvalidValueError(f"a_dtype {a_dtype!r} is not a dtype") from exc
        if a_dtype not in (np.dtype(np.int8), np.dtype(np.uint8)):
            raise InvalidValueError(f"a_dtype must be int8 or uint8, got {a_dtype}")
        if method == "int32":
            out_dtype = np.int32
        k = b.shape[0] if isinstance(b, (np.ndarray, PackedB)) and len(b.shape) == 2 else 0
        probe = np.zeros((1, k), a_dtype)
        # every argument is checked here exactly as qlinear_matmul checks it (errors included)
        qlinear_matmul(probe, b, za, zb, method, params, zp, qmin, qmax, out_dtype, bias, policy,
                       path, threads)
        pb = b if isinstance(b, PackedB) else PackedB(b)
        k, n = pb.shape
        out_dtype = np.dtype(out_dtype)
        zb_arr, zb_pc = _int_vector(zb, "zb", n, *_type_range(pb.dtype))
        bias_arr = None if bias is None else np.array(_int_vector(bias, "bias", n, *_INT32)[0], copy=True)
        if method == "int32":
            qmin, qmax, zp, mf, qm, qs, per_channel = _INT32[0], _INT32[1], 0, None, None, None, False
        else:
            qmin, qmax, zp, mf, qm, qs, per_channel = _requant_args(method, params, n, out_dtype,
                                                                    zp, qmin, qmax)
        copy = (lambda x: None if x is None else np.array(x, copy=True))
        self._zb, self._bias, self._mf, self._qm, self._qs = (np.array(zb_arr, copy=True), bias_arr,
                                                              copy(mf), copy(qm), copy(qs))
        self._pb, self._k, self._n, self._a_dtype, self._out_dtype = pb, k, n, a_dtype, out_dtype
        self._policy, self._method, self._za = policy, method, int(za)
        self._zp, self._qmin, self._qmax, self._per_channel = zp, qmin, qmax, per_channel
        self._path = _resolve_path(path)
        self._threads = _CPUS if threads is None else _int_scalar(threads, "threads", 1, 1024)
        self._slow, self._zb_pc = policy == "error", zb_pc
        self._lock, self._plans = threading.Lock(), {}
        self._tmpl = ffi.new("rq_gemm *", dict(
            n=n, k=k, a_type=_CTYPE[a_dtype], za=self._za, packed_b=pb._struct,
            zb=ffi.from_buffer("int32_t[]", self._zb), zb_per_channel=int(zb_pc),
            bias=ffi.from_buffer("int32_t[]", self._bias) if self._bias is not None else ffi.NULL,
            policy=POLICIES[policy], method=METHODS[method], per_channel=int(per_channel),
            multiplier_f32=ffi.from_buffer("float[]", self._mf) if self._mf is not None else ffi.NULL,
            multiplier=ffi.from_buffer("int32_t[]", self._qm) if self._qm is not None else ffi.NULL,
            shift=ffi.from_buffer("int32_t[]", self._qs) if self._qs is not None else ffi.NULL,
            zp=zp, qmin=qmin, qmax=qmax, c_type=_CTYPE[out_dtype], ldc=n, path=_PATHS[self._path]))

    @property
    def shape(self):
        """(K, N) of the prepared B."""
        return self._pb.shape

    def _general(self, a):
        zb = self._zb if self._zb_pc else int(self._zb[0])
        if self._method == "int32":
            return matmul_integer(a, self._pb, self._za, zb, self._bias, self._policy,
                                  self._path, self._threads)
        if self._method == "float_fp32":
            params = self._mf if self._per_channel else self._mf[0]
        else:
            params = (self._qm, self._qs) if self._per_channel else (int(self._qm[0]), int(self._qs[0]))
        return qlinear_matmul(a, self._pb, self._za, zb, self._method, params, self._zp,
                              self._qmin, self._qmax, self._out_dtype, self._bias, self._policy,
                              self._path, self._threads)

    def __call__(self, a):
        if (self._slow or type(a) is not np.ndarray or a.dtype != self._a_dtype or a.ndim != 2
                or a.shape[1] != self._k or a.shape[0] == 0):
            return self._general(a)
        lda = _matrix(a, "a", (self._a_dtype,))
        m = a.shape[0]
        out = np.empty((m, self._n), self._out_dtype)
        aptr, cptr = _ptr(a), ffi.from_buffer(out, require_writable=True)
        # the rq_gemm structs for this M are kept between calls (only a, lda and c change);
        # a call that finds them in use by another thread builds its own
        mine = self._lock.acquire(False)
        try:
            plan = self._plans.get(m) if mine else None
            if plan is None:
                rects = _rectangles(m, self._n, self._k, self._threads)
                arr = ffi.new("rq_gemm[]", len(rects))
                for i, (r0, r1, c0, c1) in enumerate(rects):
                    arr[i] = self._tmpl[0]
                    arr[i].m = m
                    arr[i].row_begin, arr[i].row_end, arr[i].col_begin, arr[i].col_end = r0, r1, c0, c1
                plan = (arr, ffi.new("rq_gemm *[]", [arr + i for i in range(len(rects))]), len(rects))
                if mine and len(self._plans) < 8:
                    self._plans[m] = plan
            arr, ptrs, count = plan
            for i in range(count):
                g = arr[i]
                g.a, g.lda, g.c = aptr, lda, cptr
            codes = (lib.rq_gemm_run(ptrs[0]) if count == 1 else lib.rq_gemm_run_many(ptrs, count),)
            _local.path = _PATH_NAMES.get(arr[0].path_used)
        finally:
            if mine:
                self._lock.release()
        for c in codes:
            if c < 0:  # pragma: no cover - every domain was checked when the op was built
                raise InvalidValueError(f"refquant kernel rejected the call: {_STATUS.get(c, c)}")
        return out
