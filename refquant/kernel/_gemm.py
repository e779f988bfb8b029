"""One GEMM for the C kernel: packed B, the checked problem (``Gemm``), the one builder of its
``rq_gemm`` template (used by the one-shot calls and by the prepared op alike) and the one-shot call.
"""

import mmap
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import AccumulatorOverflowError, InvalidValueError, ShapeError
from ._checks import (CTYPE, INT8_TYPES, INT32, METHODS, NO_REQUANT, PATHS, POLICIES, Requant,
                      bias_vector, int_scalar, int_vector, matrix, policy_name, type_range)
from ._lib import STATUS, ffi, lib, paths, require, resolve_path
from ._threads import CPUS, make_plan, rectangles, run_plan


def ptr(x, writable=False):
    """A cffi pointer to the first element of a checked array (zero-copy)."""
    if x.flags.c_contiguous and x.size:
        return ffi.from_buffer("char[]", x, require_writable=writable)
    return ffi.cast("char *", x.__array_interface__["data"][0])


HUGE_PAGE = 2 << 20   # x86-64 Linux transparent huge page


def packed_buffer(nbytes):
    """A zeroed, writable int8 buffer of ``nbytes`` for a packed B, 64-byte aligned (each tile row is
    one cache line).  From 2 MiB up, on Linux, it is a private anonymous mapping whose 2 MiB-aligned
    part is marked MADV_HUGEPAGE before anything touches it, so the kernel backs it with huge pages
    where it can: the kernels stream B once per call or per M block, and with 4 KiB pages each
    large B paid TLB misses and took random L2/L3 set colours (measured on the 2-core AMD EPYC, the
    same op twice with each kind of B, medians of 5-6 interleaved rounds: 1x4096x4096 133 -> 143-146
    GOPS, 32x4096x4096 881-893 -> 923-925, 128x4096x11008 750-763 -> 769-808).  The values never
    depend on it; where the advice is refused or unknown the buffer is simply not huge-page backed."""
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    private = getattr(mmap, "MAP_PRIVATE", None)
    if nbytes >= HUGE_PAGE and advice is not None and private is not None:
        total = -(-nbytes // HUGE_PAGE) * HUGE_PAGE
        try:
            mm = mmap.mmap(-1, total + HUGE_PAGE, flags=private | mmap.MAP_ANONYMOUS,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError):   # pragma: no cover - no anonymous mappings here
            mm = None
        if mm is not None:
            arr = np.frombuffer(mm, np.int8)   # keeps the mapping alive
            off = -arr.ctypes.data % HUGE_PAGE
            try:
                mm.madvise(advice, off, total)
            except OSError:   # pragma: no cover - THP disabled or unsupported: plain pages
                pass
            return arr[off:off + nbytes]
    raw = np.zeros(nbytes + 64, np.int8)
    off = -raw.ctypes.data % 64
    return raw[off:off + nbytes]


class PackedB:
    """B (K x N, int8 or uint8) packed once in the VNNI/AMX layout, for repeated calls.

    Memory: ceil(K/64)*64 * ceil(N/32)*32 bytes (from 2 MiB up rounded up to whole 2 MiB huge pages,
    see ``packed_buffer``) plus ceil(N/32)*32 int32 column sums.
    """

    def __init__(self, b):
        require()
        ldb = matrix(b, "b", INT8_TYPES)
        k, n = b.shape
        if n == 0:
            raise ShapeError("cannot pack B with zero columns")
        self.shape, self.dtype = (k, n), b.dtype
        nbytes = max(1, lib.rq_packed_b_bytes(k, n))
        self._data = packed_buffer(nbytes)
        self._colsum = np.zeros(max(1, lib.rq_packed_b_colsum_len(n)), np.int32)
        self._struct = ffi.new("rq_packed_b *")
        self._struct.data = ffi.cast("int8_t *", ffi.from_buffer(self._data, require_writable=True))
        self._struct.colsum = ffi.cast("int32_t *", ffi.from_buffer(self._colsum, require_writable=True))
        self._oneshot, self._oneshot_lock = {}, threading.Lock()   # see oneshot_op
        rc = lib.rq_pack_b(self._struct, ptr(b), CTYPE[b.dtype], k, n, ldb)
        if rc != 0:  # pragma: no cover - arguments were checked
            raise InvalidValueError(f"rq_pack_b failed: {STATUS.get(rc, rc)}")

    def column(self, j):
        """B[:, j] as Python ints (for error reporting)."""
        k = self.shape[0]
        kpad = self._struct.k_pad
        ks = np.arange(k)
        idx = ((j // 16) * (kpad // 4) + ks // 4) * 64 + (j % 16) * 4 + ks % 4
        off = 128 if self.dtype == np.uint8 else 0
        return [int(v) + off for v in self._data[idx]]


STREAM_BYTES = 4 << 20   # csrc/requant_avx512.c RQ_STREAM_BYTES: int32 C this large is streamed


def out_array(m, n, dtype):
    """An uninitialized (m, n) output of ``dtype``.  An int32 one of at least STREAM_BYTES with
    N % 16 == 0 starts on a 64-byte boundary, so that every 32-column block row is two whole
    cache lines, which the C kernel's VNNI paths write with non-temporal stores (no read of the
    lines before they are written: docs/kernel.md)."""
    if dtype != np.int32 or m * n * 4 < STREAM_BYTES or n % 16:
        return np.empty((m, n), dtype)
    raw = np.empty(m * n * 4 + 64, np.uint8)
    off = -raw.ctypes.data % 64
    return raw[off:off + m * n * 4].view(np.int32).reshape(m, n)


@dataclass
class Gemm:
    """A checked problem but A: B and everything that goes with it.

    It owns every array its rq_gemm template points into: a template is valid while it lives."""
    b: object               # (K, N) int8/uint8 array with row stride ldb, or a PackedB
    ldb: int
    a_dtype: np.dtype
    za: int
    zb: np.ndarray          # int32, 1 value or N
    zb_per_channel: bool
    bias: np.ndarray | None  # int32 (N,)
    policy: str
    requant: Requant
    path: str               # resolved: 'auto', 'scalar', 'avx2', 'avx_vnni', 'vnni' or 'amx'

    @property
    def k(self):
        return self.b.shape[0]

    @property
    def n(self):
        return self.b.shape[1]


def check_problem(b, a_dtype, za, zb, bias, policy, requant, path, a_shape=None):
    """The checks of everything but A itself, in the order the calls report them.

    ``a_shape``: A's shape, whose K must be B's (a prepared op has no A yet)."""
    if isinstance(b, PackedB):
        (kb, n), b_dtype, ldb = b.shape, b.dtype, b.shape[1]
    else:
        ldb = matrix(b, "b", INT8_TYPES)
        (kb, n), b_dtype = b.shape, b.dtype
    if a_shape is not None and a_shape[1] != kb:
        raise ShapeError(f"inner dimensions differ: a is {a_shape}, b is {(kb, n)}")
    policy = policy_name(policy)
    za = int_scalar(za, "za", *type_range(a_dtype))
    zb_arr, zb_pc = int_vector(zb, "zb", n, *type_range(b_dtype))
    bias_arr = bias_vector(bias, n)
    return Gemm(b, ldb, np.dtype(a_dtype), za, zb_arr, zb_pc, bias_arr, policy, requant, resolve_path(path))


def _i32(x):
    return ffi.NULL if x is None else ffi.from_buffer("int32_t[]", x)


def gemm_struct(g):
    """The rq_gemm template of a problem: every field but m, A, C, the overflow counts and the
    rectangle (plans copy it and set those)."""
    r = g.requant
    fields = dict(n=g.n, k=g.k, a_type=CTYPE[g.a_dtype], za=g.za,
                  zb=_i32(g.zb), zb_per_channel=int(g.zb_per_channel), bias=_i32(g.bias),
                  policy=POLICIES[g.policy], method=METHODS[r.method], per_channel=int(r.per_channel),
                  multiplier_f32=(ffi.NULL if r.multiplier_f32 is None
                                  else ffi.from_buffer("float[]", r.multiplier_f32)),
                  multiplier=_i32(r.multiplier), shift=_i32(r.shift), zp=r.zp, qmin=r.qmin, qmax=r.qmax,
                  c_type=CTYPE[r.out_dtype], ldc=g.n, path=PATHS[g.path])
    if isinstance(g.b, PackedB):
        fields["packed_b"] = g.b._struct
    else:
        fields.update(b=ptr(g.b), b_type=CTYPE[g.b.dtype], ldb=g.ldb)
    return ffi.new("rq_gemm *", fields)


def _first_overflow_k(a, b, za, zb, bias, i, j):
    """k of the first out-of-range step of output (i, j) (K means: the bias step)."""
    col = b.column(j) if isinstance(b, PackedB) else [int(v) for v in b[:, j]]
    s = 0
    lo, hi = INT32
    steps = [(int(a[i, kk]) - za) * (col[kk] - zb) for kk in range(len(col))]
    if bias is not None:
        steps.append(bias)
    for kk, t in enumerate(steps):
        s += t
        if not lo <= s <= hi:
            return kk
    return -1  # pragma: no cover


def overflow_error(a, g, counts):
    """AccumulatorOverflowError at the first overflowed output (row-major), with its k."""
    n = g.n
    i, j = divmod(int(np.argmax(counts.reshape(-1) > 0)), n)
    kk = _first_overflow_k(a, g.b, g.za, int(g.zb[j if g.zb_per_channel else 0]),
                           int(g.bias[j]) if g.bias is not None else None, i, j)
    err = AccumulatorOverflowError(
        f"int32 accumulator overflow at (i, j, k) = ({i}, {j}, {kk})"
        + (" (the bias step)" if kk == g.k else "") + f"; {int(np.count_nonzero(counts))} outputs overflowed")
    err.i, err.j, err.k = i, j, kk
    return err


def call(a, b, *, za=0, zb=0, bias=None, policy="wrap", requant=NO_REQUANT, path=None, threads=None,
         return_overflow=False):
    """One checked GEMM (+ requantization, already checked) on the C kernel: C, and the overflow
    counts when ``return_overflow``."""
    require()
    lda = matrix(a, "a", INT8_TYPES)
    g = check_problem(b, a.dtype, za, zb, bias, policy, requant, path, a_shape=a.shape)
    m, n = a.shape[0], g.n
    out = out_array(m, n, requant.out_dtype)   # every element is written by the kernel
    counts = np.zeros((m, n), np.int32) if (return_overflow or g.policy == "error") else None
    if m == 0 or n == 0:
        return (out, counts if counts is not None else np.zeros((m, n), np.int32)) if return_overflow else out
    if g.path != "scalar" and not isinstance(g.b, PackedB) and paths() != ["scalar"]:
        g.b, g.ldb = PackedB(g.b), n
    threads = CPUS if threads is None else threads
    threads = int_scalar(threads, "threads", 1, 1024)
    plan = make_plan(gemm_struct(g), m, rectangles(m, n, g.k, threads), disposable=True)
    counts_ptr = ffi.NULL if counts is None else ffi.from_buffer("int32_t[]", counts, require_writable=True)
    run_plan(plan, ptr(a), lda, ffi.from_buffer(out, require_writable=True), counts_ptr)
    if g.policy == "error" and np.any(counts):
        raise overflow_error(a, g, counts)
    return (out, counts) if return_overflow else out


# ---- the one-shot calls on a PackedB: prepared ops kept by argument ------------------------------

ONESHOT_KEPT = 4                  # prepared ops a PackedB keeps for one-shot calls with it
ONESHOT_ARRAY_BYTES = 1 << 16     # a larger zb / bias / params array is checked on every call


class _Uncached(Exception):
    """An argument the one-shot cache does not key: the call then checks everything itself."""


def _key_part(v, arrays):
    """A hashable stand-in for one argument of a one-shot call.  An array stands by its identity
    (it is appended to ``arrays``: the cache entry keeps it, and a copy of its bytes, dtype and
    shape, which a hit compares); a numpy scalar by its type and bytes (-0.0 is not 0.0)."""
    t = type(v)
    if t in _AS_IS:
        return v
    if t is np.ndarray:
        if v.nbytes > ONESHOT_ARRAY_BYTES:
            raise _Uncached
        arrays.append(v)
        return id(v)
    if isinstance(v, np.generic) and v.dtype.kind in "iuf":
        return (t, v.tobytes())
    if t is tuple or t is list:
        return (t, tuple([_key_part(x, arrays) for x in v]))
    if isinstance(v, np.dtype) or (t is type and issubclass(v, np.generic)):
        return np.dtype(v)
    raise _Uncached


_AS_IS = {type(None), int, str}   # arguments that stand for themselves (bool is not int here)


def run_prepared(op, a):
    """C of a prepared op (QLinearMatMul, _Reused: ``_plans``, ``_a_dtype``, ``_k``, ``_n``,
    ``_out_dtype``, ``_plain_out``) on an ndarray ``a``, or None where ``a`` is not a non-empty
    (M, K) matrix of the op's A dtype (the op's general path then checks it and raises or runs).
    Every other check is ``matrix``'s, done sooner for the common C-contiguous A."""
    shape, dt = a.shape, a.dtype
    if (dt is not op._a_dtype and dt != op._a_dtype) or len(shape) != 2 or shape[1] != op._k or not shape[0]:
        return None
    m = shape[0]
    if a.flags.c_contiguous and op._k and m < 2**31:   # what matrix() and ptr() find
        lda, pa = op._k, ffi.from_buffer("char[]", a)
    else:
        lda, pa = matrix(a, "a", (op._a_dtype,)), ptr(a)
    out = np.empty((m, op._n), op._out_dtype) if op._plain_out else out_array(m, op._n, op._out_dtype)
    op._plans.run(m, pa, lda, ffi.from_buffer("char[]", out))   # a new array of ours: writable
    return out


class _Reused:
    """What one-shot calls reuse of a prepared op: its plans and the arrays its template points
    into, but not its PackedB (which keeps this: no reference cycle holds B's memory)."""

    def __init__(self, op):
        g = op._gemm
        self._keep = (g.zb, g.bias, g.requant)
        self._plans, self._a_dtype, self._k, self._n = op._plans, op._a_dtype, op._k, op._n
        self._out_dtype, self._plain_out = op._out_dtype, op._plain_out

    def __call__(self, a):
        """C, or None where the prepared op would take its general path (the call then does)."""
        return run_prepared(self, a)


def oneshot(a, b, parts, build):
    """C of a one-shot call with PackedB ``b`` computed by a kept prepared op, or None (then the
    call checks every argument and runs, as before).

    ``parts``: every argument but A and B; ``build()``: the prepared op (QLinearMatMul) of exactly
    those arguments, which checks them.  An op is reused only while each argument is the same
    value: scalars by type and bytes, arrays (at most ONESHOT_ARRAY_BYTES) by identity *and*
    unchanged bytes, dtype and shape, so an array changed in place is checked again.  An op that
    fails to build gives None: the call then raises its own error, in its own order.  Bounded: a
    PackedB keeps the ops of its ONESHOT_KEPT most recent argument sets, and they go with it."""
    if type(b) is not PackedB or type(a) is not np.ndarray:
        return None
    arrays, key = [], [a.dtype.num]
    try:
        for v in parts:
            key.append(v if type(v) in _AS_IS else _key_part(v, arrays))
    except _Uncached:
        return None
    key = tuple(key)
    entry = b._oneshot.get(key)
    if entry is not None:
        for x, y, (d, s, raw) in zip(arrays, entry[1], entry[2]):
            if not (x is y and x.dtype == d and x.shape == s and x.tobytes() == raw):
                entry = None
                break
    if entry is None:
        try:
            op = build(a.dtype)
        except Exception:   # noqa: BLE001 - the call raises the right error, in the right order
            return None
        if op._slow:         # policy 'error' locates overflows: the call's own path
            return None
        entry = (_Reused(op), arrays, [(x.dtype, x.shape, x.tobytes()) for x in arrays])
        with b._oneshot_lock:
            if key not in b._oneshot and len(b._oneshot) >= ONESHOT_KEPT:
                del b._oneshot[next(iter(b._oneshot))]
            b._oneshot[key] = entry
    return entry[0](a)
