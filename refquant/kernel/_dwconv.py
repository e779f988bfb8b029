"""Depthwise convolution on the C kernel (csrc/dwconv.c, ``rq_dwconv_run``): one filter per channel,
ONNX group = C = M (TFLite DEPTHWISE_CONV_2D with depth multiplier 1), NCHW in and out.

The C function computes the accumulators of refquant.ops.conv_integer (terms for kh, then kw,
ascending; a padding position holds zx; the bias as one more step; policy wrap or saturate, with
overflow counts) and requantizes them per channel with the GEMM's own requantization (the scalar
rq_requant_col, or the AVX-512 rq_epilogue): docs/kernel.md, Convolution.  Policy ``error`` stays
on the GEMM route (refquant/kernel/conv.py), which locates the overflowing step.
"""

import threading

import numpy as np

from ._checks import CTYPE, METHODS, PATHS, POLICIES, bias_vector, int_vector, type_range
from ._lib import PATH_NAMES, check_status, ffi, lib, local, resolve_path
from ._threads import CPUS

DW_SPLIT_MIN = 1 << 18   # multiply-adds below which a depthwise call is not split over threads


def is_depthwise(x_shape, w_shape, group):
    """True for a conv with one input channel and one filter per group (C = group = M)."""
    group = int(group)
    return group >= 1 and x_shape[1] == group == w_shape[0] and w_shape[1] == 1


def _f32(x):
    return ffi.NULL if x is None else ffi.from_buffer("float[]", x)


def _i32(x):
    return ffi.NULL if x is None else ffi.from_buffer("int32_t[]", x)


class DwConv:
    """A checked depthwise problem but x: the ``rq_dwconv`` template, which points into private
    copies of the weights, zero points, bias and requantization parameters it holds.

    ``requant``: a checked refquant.kernel._checks.Requant (``NO_REQUANT``: int32 output);
    ``geo``: (strides, pads, dilations) as refquant.kernel.conv.geometry takes them."""

    def __init__(self, w, x_dtype, zx, zw, bias, requant, geo, policy, path, threads):
        M = w.shape[0]
        self._w = np.array(w, copy=True, order="C")
        self._zw, zw_pc = int_vector(zw, "zb", M, *type_range(w.dtype))
        self._zw = np.array(self._zw, copy=True)
        self._bias = None if bias is None else np.array(bias_vector(bias, M), copy=True)
        self._rq = requant.private_copy()
        self._geo, self._threads, self._out = geo, (CPUS if threads is None else int(threads)), requant.out_dtype
        self._cache, self._lock = {}, threading.Lock()   # x shape -> what _structs returns
        r = self._rq
        self._t = ffi.new("rq_dwconv *", dict(
            c=M, kh=w.shape[2], kw=w.shape[3], x_type=CTYPE[np.dtype(x_dtype)], wt=ffi.from_buffer(self._w),
            w_type=CTYPE[w.dtype], zx=int(zx), zw=_i32(self._zw), zw_per_channel=int(zw_pc),
            bias=_i32(self._bias), policy=POLICIES[policy], method=METHODS[r.method],
            per_channel=int(r.per_channel), multiplier_f32=_f32(r.multiplier_f32), multiplier=_i32(r.multiplier),
            shift=_i32(r.shift), zp=r.zp, qmin=r.qmin, qmax=r.qmax, y_type=CTYPE[r.out_dtype],
            path=PATHS[resolve_path(path)]))
        # the SIMD forms' weight layout and channel corrections, once (rq_dwconv_prepare): laid
        # out on every call they cost ~20 us at 960 channels (measured, mv2_dw_7_960: ORT 18 us)
        nbytes = lib.rq_dwconv_prep_bytes(self._t)
        self._prep = None
        if nbytes:
            raw = np.empty(nbytes + 64, np.uint8)
            off = -raw.ctypes.data % 64
            self._prep = raw[off:off + nbytes]
            pp = ffi.from_buffer(self._prep, require_writable=True)
            check_status(lib.rq_dwconv_prepare(self._t, pp))
            self._t.prep = pp

    def _structs(self, shape):
        """(structs, pointers or None, pieces, output shape) for an x of this shape: the template
        with the geometry set, one struct per row range (kept for the last few shapes)."""
        from .conv import geometry
        N, M, OH, OW, _Cg, kH, kW, (sh, sw), (pt, pl, pb, pr), (dh, dw) = geometry(
            shape, self._w.shape, *self._geo, self._w.shape[0])
        rows = N * OH
        pieces = 1 if self._threads <= 1 or N * OH * OW * M * kH * kW < DW_SPLIT_MIN else min(self._threads, rows)
        structs = ffi.new("rq_dwconv[]", pieces)
        for i in range(pieces):
            s = structs[i]
            structs[i] = self._t[0]
            s.batch, s.h, s.w, s.oh, s.ow = N, shape[2], shape[3], OH, OW
            s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, s.pb, s.pr = sh, sw, dh, dw, pt, pl, pb, pr
            s.row_begin, s.row_end = rows * i // pieces, rows * (i + 1) // pieces
        ptrs = ffi.new("rq_dwconv *[]", [structs + i for i in range(pieces)]) if pieces > 1 else None
        return structs, ptrs, pieces, (N, M, OH, OW)

    def __call__(self, x, return_overflow=False):
        """y (N, M, OH, OW) for a checked x (and the overflow counts)."""
        x = np.ascontiguousarray(x)
        mine = self._lock.acquire(False)   # another thread's call in progress: structs of our own
        try:
            got = self._cache.get(x.shape) if mine else None
            if got is None:
                got = self._structs(x.shape)
                if mine and len(self._cache) < 8:
                    self._cache[x.shape] = got
            return self._run(x, got, return_overflow)
        finally:
            if mine:
                self._lock.release()

    def _run(self, x, got, return_overflow):
        structs, ptrs, pieces, yshape = got
        y = np.empty(yshape, self._out)
        counts = np.zeros(yshape, np.int32) if return_overflow else None
        xp, yp = ffi.from_buffer(x), ffi.from_buffer(y, require_writable=True)
        cp = ffi.NULL if counts is None else ffi.from_buffer("int32_t[]", counts, require_writable=True)
        for i in range(pieces):
            s = structs[i]
            s.x, s.y, s.overflow_count = xp, yp, cp
        if pieces == 1:
            code = lib.rq_dwconv_run(structs)
        else:
            code = lib.rq_dwconv_run_many(ptrs, pieces)
        local.path = PATH_NAMES.get(structs[0].path_used)
        check_status(code)
        return (y, counts) if return_overflow else y
