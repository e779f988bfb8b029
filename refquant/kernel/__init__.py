"""refquant.kernel -- the Python face of the C twin (csrc/, built as ``refquant._kernel``).

The C kernel implements docs/gemm-contract.md bit for bit: int8/uint8 GEMM
with int32 accumulation under an overflow policy, then optional
requantization.  This package checks every argument *before* any C code
runs and raises refquant.errors exceptions; arrays go to C zero-copy; the
call releases the GIL and is split over threads by output rectangles.

If the extension was not built, the package still imports and
``available()`` is False; the pure-Python oracle does not need it.

Dispatch: ``path=`` or the environment variable ``REFQUANT_KERNEL_PATH``
(``scalar``, ``avx2``, ``avx_vnni``, ``vnni``, ``amx``, ``auto``) forces a path.  A SIMD path that
cannot be exact for a problem (saturate/error/counting when overflow is
possible) falls back to the scalar path, never to an approximation;
``last_path_used()`` tells which path ran.  Large calls are split into
rectangles run at once on the C kernel's own thread pool (rq_gemm_run_many).

Modules: ``_checks`` (argument checks), ``_lib`` (the loaded extension, paths),
``_gemm`` (PackedB, the checked problem and the one ``rq_gemm`` builder),
``_threads`` (rectangles, plans, the prepared op's plan cache), ``_build``
(the cffi build script that setup.py names in ``cffi_modules``).
"""

import numpy as np

from ._checks import (METHODS, NO_REQUANT, POLICIES, a_dtype_of, int_scalar, method_name, out_dtype_of,
                      requant_args)
from ._gemm import PackedB, call, check_problem, gemm_struct, oneshot, run_prepared
from ._lib import available, env_path, last_path_used, paths, require
from ._lib import ffi, lib  # noqa: F401  (refquant.kernel.lib and .ffi, as before the split)
from ._threads import CPUS, PlanCache
from ._threads import rectangles as _rectangles  # noqa: F401  (tests reach it as kernel._rectangles)

__all__ = ["available", "paths", "matmul_integer", "qlinear_matmul", "QLinearMatMul", "PackedB", "last_path_used",
           "POLICIES", "METHODS", "conv_integer", "qlinear_conv", "QLinearConv"]


def matmul_integer(a, b, za=0, zb=0, bias=None, policy="wrap", path=None, threads=None,
                   return_overflow=False):
    """int32 accumulators acc[i,j] = sum_k (a[i,k]-za)(b[k,j]-zb_j) (+ bias_j) under `policy`.

    a: (M, K) int8/uint8; b: (K, N) int8/uint8 or a PackedB; za: int; zb: int or (N,) ints;
    bias: None or (N,) int32; policy: 'wrap' | 'saturate' | 'error'.  Returns an (M, N) int32
    array, and the (M, N) int32 overflow counts when return_overflow is true.
    """
    if not return_overflow:   # a PackedB keeps the prepared ops of its recent argument sets
        out = oneshot(a, b, (za, zb, bias, policy, path, _env_path(path), threads),
                      lambda a_dtype: QLinearMatMul(b, za, zb, "int32", bias=bias, policy=policy, path=path,
                                                    threads=threads, a_dtype=a_dtype))
        if out is not None:
            return out
    return call(a, b, za=za, zb=zb, bias=bias, policy=policy, path=path, threads=threads,
                return_overflow=return_overflow)


def _env_path(path):
    """REFQUANT_KERNEL_PATH where ``path`` is None (a one-shot call's path may come from it)."""
    return env_path() if path is None else None


def _n_columns(b):
    """N of a B that may not have been checked yet (0 when it is no matrix)."""
    return b.shape[1] if isinstance(b, (np.ndarray, PackedB)) and len(b.shape) == 2 else 0


def qlinear_matmul(a, b, za, zb, method, params, zp=0, qmin=None, qmax=None, out_dtype=np.int8,
                   bias=None, policy="wrap", path=None, threads=None, return_overflow=False):
    """Requantized GEMM: q[i,j] = requant_method(acc[i,j], params_j) per docs/gemm-contract.md.

    method: 'float_fp32' (params: M_j as float32 scalar / (N,) array, or uint32 bit patterns),
    'tflite_double' | 'tflite_single' (params: (m, shift), m in [0, 2^31), shift in [-31, 30]),
    'tosa_single' | 'tosa_double' (params: (m, s), s in [2, 62]), or 'int32' (params ignored).
    Scalars are per-tensor, (N,) arrays per-channel.  out_dtype: int8, uint8 or int32;
    qmin/qmax default to its range.  With a PackedB ``b``, a call whose other arguments are the
    same values as a recent call's reuses that call's checked, prepared op (``_gemm.oneshot``).
    """
    out_dtype = out_dtype_of(out_dtype, method_name(method))
    if not return_overflow:   # a PackedB keeps the prepared ops of its recent argument sets
        out = oneshot(a, b, (za, zb, method, params, zp, qmin, qmax, out_dtype, bias, policy, path,
                             _env_path(path), threads),
                      lambda a_dtype: QLinearMatMul(b, za, zb, method, params, zp, qmin, qmax, out_dtype, bias,
                                                    policy, path, threads, a_dtype))
        if out is not None:
            return out
    requant = NO_REQUANT if method == "int32" else requant_args(method, params, _n_columns(b), out_dtype,
                                                                 zp, qmin, qmax)
    return call(a, b, za=za, zb=zb, bias=bias, policy=policy, requant=requant, path=path, threads=threads,
                return_overflow=return_overflow)


class QLinearMatMul:
    """A prepared GEMM + requantization with fixed weights, like a prepacked quantized linear layer.

    ``QLinearMatMul(b, za, zb, method, params, ...)`` takes the arguments of ``qlinear_matmul``
    except ``a`` (plus ``a_dtype``, the dtype of the activations it will be called with), checks
    them once, as ``qlinear_matmul`` does, packs B once and keeps private copies of zb, bias and
    the requantization parameters; ``op(a)`` then returns exactly ``qlinear_matmul(a, b, ...)``
    with those arguments, checking only ``a`` (dtype, shape, strides).  ``method="int32"`` gives
    ``matmul_integer``.  The path (``path`` or ``REFQUANT_KERNEL_PATH``) and the thread count are
    resolved when the op is built.  Policy ``error`` (which must locate the overflow) and any
    ``a`` that is not a plain (M, K) array of ``a_dtype`` go through ``qlinear_matmul`` itself.
    """

    def __init__(self, b, za, zb, method, params=None, zp=0, qmin=None, qmax=None,
                 out_dtype=np.int8, bias=None, policy="wrap", path=None, threads=None,
                 a_dtype=np.uint8):
        require()
        a_dtype = a_dtype_of(a_dtype)
        method = method_name(method)
        out_dtype = out_dtype_of(np.int32 if method == "int32" else out_dtype, method)
        requant = NO_REQUANT if method == "int32" else requant_args(method, params, _n_columns(b), out_dtype,
                                                                     zp, qmin, qmax)
        g = check_problem(b, a_dtype, za, zb, bias, policy, requant.private_copy(), path)
        g.b = g.b if isinstance(g.b, PackedB) else PackedB(g.b)
        g.zb, g.bias = np.array(g.zb, copy=True), None if g.bias is None else np.array(g.bias, copy=True)
        self._threads = CPUS if threads is None else int_scalar(threads, "threads", 1, 1024)
        self._gemm = g
        self._plans = PlanCache(gemm_struct(g), g.n, g.k, self._threads)
        # what a call looks at, kept as plain attributes (the call is a few microseconds)
        self._slow, self._a_dtype, self._k, self._n = g.policy == "error", np.dtype(a_dtype), g.k, g.n
        self._out_dtype = np.dtype(g.requant.out_dtype)
        self._plain_out = self._out_dtype != np.int32   # out_array aligns only int32 outputs

    @property
    def shape(self):
        """(K, N) of the prepared B."""
        return self._gemm.b.shape

    def _general(self, a):
        g = self._gemm
        zb = g.zb if g.zb_per_channel else int(g.zb[0])
        return call(a, g.b, za=g.za, zb=zb, bias=g.bias, policy=g.policy, requant=g.requant, path=g.path,
                    threads=self._threads)

    def __call__(self, a):
        out = None if self._slow or type(a) is not np.ndarray else run_prepared(self, a)
        return self._general(a) if out is None else out


# Convolution (im2col + the GEMM above); at the end: conv.py calls back into this module.
from .conv import QLinearConv, conv_integer, qlinear_conv  # noqa: E402
