"""Convolution through the C kernel: ConvInteger / QLinearConv (2-D, NCHW) as im2col + the C GEMM.

The C GEMM sums k ascending (docs/gemm-contract.md §2).  im2col lays each receptive field out in
the oracle's term order -- input channel, kernel row, kernel column, ascending (refquant.ops
conv_integer) -- so the GEMM adds the same terms in the same order.  Padding positions hold the
input zero point, so their terms are (zx - zx)*w = 0; adding 0 changes no partial sum and never
overflows, under wrap or saturate, so the accumulators (and overflow counts) equal the oracle's.
Requantization is the GEMM's own epilogue, per output channel: every method and path of
``qlinear_matmul`` applies unchanged.  tests/test_kernel_conv.py checks this against the oracle
(hypothesis cases, every method and policy) and on every shipped conv golden vector.

Under ``policy="wrap"`` without overflow counts the accumulator is the sum mod 2^32 of the same
terms in any order, so there the receptive fields are laid out (kernel row, kernel column, input
channel) from an NHWC copy of x -- whole kW*C runs of contiguous bytes, and for a 1x1 stride-1 conv
the NHWC copy itself, which the C GEMM reads in place -- with B's rows permuted alike: the same
terms, the same value mod 2^32 (measured: the numpy (c, kh, kw) im2col of a 56x56x64 3x3 layer took
~2.6 ms, the NHWC one ~0.06 ms, on the 2-core AMD EPYC VM).

Groups run one GEMM per group (narrow ones batched, ``group_chunks``); output channel m belongs to
group m // (M / group), as in ONNX.  A depthwise conv (C = group = M) under policy wrap or saturate
runs the direct C kernel instead (refquant/kernel/_dwconv.py, csrc/dwconv.c): the same terms in
the same order, the GEMM's requantization.
"""

import threading

import numpy as np

from ..errors import InvalidValueError, ShapeError
from ._checks import INT32, int_scalar
from ._gemm import ptr
from ._lib import PATH_NAMES, check_status, ffi, lib, local, paths

_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8))
CONV_SPLIT_MIN = 1 << 22   # operations above which the NCHW 1x1 kernel splits over threads (GEMM: _threads.SPLIT_MIN)


def _tensor4(t, name):
    if not isinstance(t, np.ndarray) or t.dtype not in _DTYPES or t.ndim != 4:
        got = f"{t.dtype} array of shape {t.shape}" if isinstance(t, np.ndarray) else type(t).__name__
        raise InvalidValueError(f"{name} must be a 4-D int8 or uint8 numpy array, got {got}")
    return t


def _pairs(v, n, name, lo):
    vals = tuple(int(x) for x in (v if v is not None else ((1,) * n if n == 2 else (0,) * n)))
    if len(vals) != n or min(vals) < lo:
        raise ShapeError(f"{name} must be {n} integers >= {lo}, got {v!r}")
    return vals


def geometry(x_shape, w_shape, strides, pads, dilations, group):
    """(N, M, OH, OW, Cg, kH, kW, strides, pads, dilations) of a 2-D conv, ShapeError if inconsistent.

    pads = (top, left, bottom, right), the ONNX order.
    """
    N, C, H, W = x_shape
    M, Cg, kH, kW = w_shape
    group = int(group)
    if group < 1 or C % group or M % group or Cg != C // group:
        raise ShapeError(f"group = {group}: x has {C} channels, w {tuple(w_shape)} needs C/group = {Cg} "
                         "and M % group == 0")
    (sh, sw), (dh, dw) = _pairs(strides, 2, "strides", 1), _pairs(dilations, 2, "dilations", 1)
    pads = _pairs(pads, 4, "pads", 0)
    OH = (H + pads[0] + pads[2] - dh * (kH - 1) - 1) // sh + 1
    OW = (W + pads[1] + pads[3] - dw * (kW - 1) - 1) // sw + 1
    if OH < 1 or OW < 1:
        raise ShapeError(f"the conv output would be empty ({OH} x {OW})")
    return N, M, OH, OW, Cg, kH, kW, (sh, sw), pads, (dh, dw)


def im2col(x, zx, geo, gin, ng=1):
    """(N*OH*OW, Cg*kH*kW) in x's dtype: the receptive fields of input groups ``gin`` .. ``gin+ng-1``
    (Cg = their channels), columns in the oracle's term order (c, kh, kw); padding holds ``zx``."""
    N, _M, OH, OW, Cg, kH, kW, (sh, sw), (pt, pl, pb, pr), (dh, dw) = geo
    Cg = Cg * ng   # gin counts chunks of ng groups
    H, W = x.shape[2], x.shape[3]
    xp = np.full((N, Cg, H + pt + pb, W + pl + pr), zx, dtype=x.dtype)
    xp[:, :, pt:pt + H, pl:pl + W] = x[:, gin * Cg:(gin + 1) * Cg]
    cols = np.empty((N, OH, OW, Cg, kH, kW), dtype=x.dtype)
    for kh in range(kH):
        for kw in range(kW):
            patch = xp[:, :, kh * dh: kh * dh + sh * (OH - 1) + 1: sh, kw * dw: kw * dw + sw * (OW - 1) + 1: sw]
            cols[..., kh, kw] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(N * OH * OW, Cg * kH * kW)


def nchw_to_rows(src, dst):
    """dst = src.T by the C kernel's rq_transpose (2-D arrays of 1- or 4-byte elements, unit last
    stride, dst C-contiguous): channels x pixels <-> pixels x channels."""
    from ._gemm import ptr
    from ._lib import lib
    rows, cols = src.shape
    if src.size == 0 and dst.shape == (cols, rows):
        return
    if (dst.shape != (cols, rows) or dst.dtype != src.dtype or src.strides[1] != src.itemsize
            or dst.strides[1] != dst.itemsize):
        raise InvalidValueError(f"transpose of a {src.dtype} {src.shape} array with strides {src.strides} into a "
                                f"{dst.dtype} {dst.shape} array with strides {dst.strides}: expected the transposed "
                                "shape, the same dtype and unit strides along the last axes")
    check_status(lib.rq_transpose(ptr(src), ptr(dst, True), rows, cols, max(src.strides[0] // src.itemsize, cols),
                                  max(dst.strides[0] // dst.itemsize, rows), src.itemsize))


def k_padded(k, x_dtype, order_free):
    """The GEMM's K for an order-free conv of ``k`` terms: rounded up to a multiple of 4 for uint8 x
    (the C kernel then reads A in place instead of packing it), with terms (zx - zx) * w = 0."""
    return -(-k // 4) * 4 if order_free and np.dtype(x_dtype) == np.uint8 else k


def _empty(_tag, shape, dtype):
    return np.empty(shape, dtype)


def im2col_nhwc(x, zx, geo, gin, ng=1, kp=0, empty=_empty):
    """(N*OH*OW, max(kp, kH*kW*Cg)): the receptive fields of input groups ``gin`` .. ``gin+ng-1`` with
    columns in (kh, kw, c) order (an order-free sum only: see the module docstring); padding positions
    and the columns past kH*kW*Cg hold ``zx``.  ``empty(tag, shape, dtype)`` gives its work arrays
    (a prepared op passes one that reuses them)."""
    N, _M, OH, OW, Cg, kH, kW, (sh, sw), (pt, pl, pb, pr), (dh, dw) = geo
    Cg = Cg * ng   # gin counts chunks of ng groups
    H, W = x.shape[2], x.shape[3]
    from ._gemm import ptr
    from ._lib import lib
    xs = empty("xs", (N, H, W, Cg), x.dtype)
    for n in range(N):   # NCHW -> NHWC in C (numpy's byte transposes are ~10x slower); x is C-contiguous
        check_status(lib.rq_transpose(ptr(x[n, gin * Cg:(gin + 1) * Cg]), ptr(xs[n], True), Cg, H * W, H * W, Cg, 1))
    if kH == kW == sh == sw == 1 and not any((pt, pl, pb, pr)) and kp <= Cg:
        return xs.reshape(N * OH * OW, Cg)
    out = empty("cols", (N * OH * OW, max(kp, kH * kW * Cg)), x.dtype)   # rq_im2col writes every byte
    check_status(lib.rq_im2col(ptr(xs), ptr(out, True), N, H, W, Cg, kH, kW, sh, sw, dh, dw, pt, pl, OH, OW,
                               out.shape[1], zx))
    return out


def _per_channel(v, chans, M):
    """The slice of a per-output-channel argument (scalar, or an array of length M) for ``chans``."""
    arr = np.asarray(v)
    if arr.ndim == 1:
        if arr.shape[0] != M:
            raise ShapeError(f"a per-channel argument has {arr.shape[0]} values; expected one per output "
                             f"channel ({M})")
        return np.ascontiguousarray(arr[chans])
    return v


def weights_b(w, g0, ng, mg, zb, order_free, kp=0):
    """B (K, ng*mg) of output groups g0 .. g0+ng-1: each filter's terms in the im2col's order (of those
    groups' ng*Cg input channels), one column each; with ng > 1 the rows of the other groups' channels,
    and rows past K up to ``kp``, hold the column's zero point ``zb`` (scalar or one per column), so
    their terms are exactly 0."""
    B = _weights_b(w, g0, ng, mg, zb, order_free)
    if kp > B.shape[0]:
        pad = np.broadcast_to(np.asarray(zb).astype(w.dtype), (kp - B.shape[0], ng * mg))
        B = np.ascontiguousarray(np.concatenate([B, pad]))   # numpy may pick F order for a (1, n) B
    return B


def _weights_b(w, g0, ng, mg, zb, order_free):
    M, Cg, kH, kW = w.shape
    wg = w[g0 * mg:(g0 + ng) * mg]
    if ng == 1:   # rows (c, t) by one C transpose; (t, c) then moves whole rows of mg bytes
        B = np.empty((wg[0].size, mg), w.dtype)
        nchw_to_rows(np.ascontiguousarray(wg).reshape(mg, -1), B)
        if order_free and kH * kW > 1:
            B = np.ascontiguousarray(B.reshape(Cg, kH * kW, mg).transpose(1, 0, 2)).reshape(-1, mg)
        return B
    full = np.empty((kH, kW, ng * Cg, ng * mg) if order_free else (ng * Cg, kH, kW, ng * mg), w.dtype)
    full[...] = np.asarray(zb).astype(w.dtype)
    for gl in range(ng):
        blk = wg[gl * mg:(gl + 1) * mg]
        if order_free:
            full[:, :, gl * Cg:(gl + 1) * Cg, gl * mg:(gl + 1) * mg] = blk.transpose(2, 3, 1, 0)
        else:
            full[gl * Cg:(gl + 1) * Cg, :, :, gl * mg:(gl + 1) * mg] = blk.transpose(1, 2, 3, 0)
    return full.reshape(-1, ng * mg)


def group_chunks(group, mg, zw, w_dtype):
    """Groups per GEMM: 1, or for groups narrower than one 32-column panel (depthwise: mg = 1) as many
    as fill one (block-diagonal B, see weights_b) when every zero point is a value of w's type."""
    lo, hi = (-128, 127) if w_dtype == np.int8 else (0, 255)
    z = np.asarray(zw)
    ok = z.dtype.kind in "iu" and z.size > 0 and int(z.min()) >= lo and int(z.max()) <= hi
    return 1 if group == 1 or mg >= 32 or not ok else max(1, min(group, 32 // mg))


def _run(x, w, zx, zw, bias, strides, pads, dilations, group, gemm, order_free=False, need_b=True):
    """Shared driver: per group, im2col + ``gemm(A, B, zb, bias, chans)``; NCHW result(s).
    ``order_free``: the caller's sum does not depend on the term order (wrap, no counts);
    ``need_b=False``: ``gemm`` holds its own prepared weights (B is None)."""
    from . import require
    require()
    x, w = np.ascontiguousarray(_tensor4(x, "x")), _tensor4(w, "w")
    geo = geometry(x.shape, w.shape, strides, pads, dilations, group)
    N, M, OH, OW = geo[:4]
    zx = int_scalar(zx, "x zero point", *((-128, 127) if x.dtype == np.int8 else (0, 255)))
    G = int(group)
    mg = M // G
    ng = group_chunks(G, mg, zw, w.dtype)
    outs = None
    for g0 in range(0, G, ng):
        n_g = min(ng, G - g0)
        chans = np.arange(g0 * mg, (g0 + n_g) * mg)
        kp = k_padded(n_g * w[0].size, x.dtype, order_free)
        xg, gi = (x, g0 // ng) if n_g == ng else (x[:, g0 * geo[4]:], 0)   # else: the last, narrower chunk
        A = im2col_nhwc(xg, zx, geo, gi, n_g, kp) if order_free else im2col(xg, zx, geo, gi, n_g)
        zb = _per_channel(zw, chans, M)
        B = weights_b(w, g0, n_g, mg, zb, order_free, kp) if need_b else None
        res = gemm(A, B, zx, zb, None if bias is None else _per_channel(bias, chans, M), chans)
        res = res if isinstance(res, tuple) else (res,)
        if int(group) == 1:
            outs = list(res)
            break
        if outs is None:
            outs = [np.empty((N * OH * OW, M), r.dtype) for r in res]
        for o, r in zip(outs, res):
            o[:, chans] = r
    final = [np.empty((N, M, OH, OW), o.dtype) for o in outs]
    for o, f in zip(outs, final):
        for n in range(N):
            nchw_to_rows(o[n * OH * OW:(n + 1) * OH * OW], f[n].reshape(M, OH * OW))
    outs = final
    return outs[0] if len(outs) == 1 else tuple(outs)


def _depthwise(x, w, zx, zw, bias, rq, strides, pads, dilations, group, policy, path, threads, x_dtype=None):
    """The direct depthwise kernel (refquant/kernel/_dwconv.py) for a depthwise conv under policy
    wrap or saturate, checked as the GEMM route checks it (x is checked here unless ``x_dtype``
    names the dtype of a prepared op); None for every other conv.  ``rq``: (method, params, zp,
    qmin, qmax, out_dtype), or None for int32 accumulators."""
    from . import require
    from ._checks import NO_REQUANT, method_name, out_dtype_of, policy_name, requant_args
    from ._dwconv import DwConv, is_depthwise
    require()
    if x_dtype is None:
        x = _tensor4(x, "x")
    w = _tensor4(w, "w")
    if policy_name(policy) == "error" or not is_depthwise(x.shape if x_dtype is None else (0, w.shape[0]),
                                                         w.shape, group):
        return None
    xt = np.dtype(x_dtype or x.dtype)
    if x_dtype is None:
        geometry(x.shape, w.shape, strides, pads, dilations, group)
    zx = int_scalar(zx, "x zero point", *((-128, 127) if xt == np.int8 else (0, 255)))
    _per_channel(zw, slice(None), w.shape[0])   # the GEMM route's check of a per-channel zw
    if rq is None:
        requant = NO_REQUANT
    else:
        method, params, zp, qmin, qmax, out_dtype = rq
        method = method_name(method)
        out_dtype = out_dtype_of(out_dtype, method)
        requant = NO_REQUANT if method == "int32" else requant_args(method, params, w.shape[0], out_dtype, zp,
                                                                     qmin, qmax)
    return DwConv(w, xt, zx, zw, bias, requant, (strides, pads, dilations), policy, path, threads)


def conv_integer(x, w, zx=0, zw=0, bias=None, strides=None, pads=None, dilations=None, group=1, policy="wrap",
                 path=None, threads=None, return_overflow=False):
    """ConvInteger 2-D (NCHW) through the C kernel: int32 accumulators (N, M, OH, OW).

    Equals refquant.ops.conv_integer (same terms, same order, same accumulator policy).  zw: a
    scalar or one per output channel; bias: None or int32 per output channel.  With
    ``return_overflow`` also the per-output overflow counts.
    """
    from . import matmul_integer
    dw = _depthwise(x, w, zx, zw, bias, None, strides, pads, dilations, group, policy, path, threads)
    if dw is not None:
        return dw(x, return_overflow)

    def gemm(A, B, za, zb, b, _chans):
        return matmul_integer(A, B, za, zb, b, policy, path=path, threads=threads,
                              return_overflow=return_overflow)
    return _run(x, w, zx, zw, bias, strides, pads, dilations, group, gemm,
                order_free=policy == "wrap" and not return_overflow)


def qlinear_conv(x, w, zx, zw, method, params, zp=0, qmin=None, qmax=None, out_dtype=np.int8, bias=None,
                 strides=None, pads=None, dilations=None, group=1, policy="wrap", path=None, threads=None):
    """QLinearConv 2-D (NCHW) through the C kernel: conv accumulators, then the C requantization
    ``method`` per output channel (axis 1), with the parameters of ``kernel.qlinear_matmul``
    (scalars per tensor, or arrays with one value per output channel)."""
    from . import qlinear_matmul
    int_scalar(zp, "zp", *INT32)
    M = w.shape[0] if isinstance(w, np.ndarray) and w.ndim == 4 else 0

    pair = isinstance(method, str) and method.startswith(("tflite", "tosa"))   # (multiplier, shift)
    dw = _depthwise(x, w, zx, zw, bias, (method, params, zp, qmin, qmax, out_dtype), strides, pads, dilations,
                    group, policy, path, threads)
    if dw is not None:
        return dw(x)

    def gemm(A, B, za, zb, b, chans):
        p = (tuple(_per_channel(q, chans, M) for q in params) if pair and isinstance(params, (tuple, list))
             else _per_channel(params, chans, M))
        return qlinear_matmul(A, B, za, zb, method, p, zp, qmin, qmax, out_dtype, b, policy, path=path,
                              threads=threads)
    return _run(x, w, zx, zw, bias, strides, pads, dilations, group, gemm, order_free=policy == "wrap")


def _strided_unpadded(strides, pads):
    """Strides other than (1, 1) and no padding (ONNX attributes; None: the defaults)."""
    return strides is not None and tuple(int(v) for v in strides) != (1, 1) and not (pads is not None and any(pads))


class QLinearConv:
    """A prepared ``qlinear_conv`` with fixed weights (like an ONNX Runtime session's constant W).

    ``QLinearConv(w, zx, zw, method, params, ...)`` takes the arguments of ``qlinear_conv`` except
    ``x`` (plus ``x_dtype``, the dtype of the activations), lays each group's weights out and packs
    them once (one ``kernel.QLinearMatMul`` per group); ``op(x)`` then returns exactly
    ``qlinear_conv(x, w, zx, zw, method, params, ...)`` with those arguments."""

    def __init__(self, w, zx, zw, method, params, zp=0, qmin=None, qmax=None, out_dtype=np.int8, bias=None,
                 strides=None, pads=None, dilations=None, group=1, policy="wrap", path=None, threads=None,
                 x_dtype=np.uint8):
        from . import QLinearMatMul
        self._w = _tensor4(w, "w")
        self._x_dtype = np.dtype(x_dtype)
        if self._x_dtype not in _DTYPES:
            raise InvalidValueError(f"x_dtype must be int8 or uint8, got {self._x_dtype}")
        self._zx = int_scalar(zx, "x zero point", *((-128, 127) if self._x_dtype == np.int8 else (0, 255)))
        self._geo = (strides, pads, dilations, int(group))
        self._order_free = policy == "wrap"
        M = self._w.shape[0]
        if int(group) < 1 or M % int(group):
            raise ShapeError(f"group = {group}: w has {M} output channels, not a multiple of it")
        mg = M // int(group)
        pair = isinstance(method, str) and method.startswith(("tflite", "tosa"))
        self._ops, G = {}, int(group)
        self._zw, self._shapes = zw, {}
        self._dw = _depthwise(None, w, zx, zw, bias, (method, params, zp, qmin, qmax, out_dtype), strides, pads,
                              dilations, group, policy, path, threads, x_dtype=self._x_dtype)
        ng = group_chunks(G, mg, zw, self._w.dtype) if self._dw is None else G
        for g0 in range(0 if self._dw is None else G, G, ng):
            n_g = min(ng, G - g0)
            chans = np.arange(g0 * mg, (g0 + n_g) * mg)
            p = (tuple(_per_channel(q, chans, M) for q in params) if pair and isinstance(params, (tuple, list))
                 else _per_channel(params, chans, M))
            zb = _per_channel(zw, chans, M)
            kp = k_padded(n_g * self._w[0].size, self._x_dtype, self._order_free)
            self._ops[g0 * mg] = QLinearMatMul(weights_b(self._w, g0, n_g, mg, zb, self._order_free, kp), self._zx,
                                               zb, method, p, zp, qmin, qmax, out_dtype,
                                               None if bias is None else _per_channel(bias, chans, M), policy,
                                               path=path, threads=threads, a_dtype=self._x_dtype)
        self._one = self._ops[0] if G == 1 and self._order_free and self._dw is None else None
        self._conv_a = None   # True where the implicit GEMM (rq_conv_gemm_run) may apply
        self._lock = threading.Lock()   # one call at a time uses the implicit form's structs and _bufs
        self._bufs = {}
        self._pw = {}   # _pointwise's arrays, C structs and plan per input shape
        self._imp = {}   # _implicit's, likewise
        self._wt = None   # for rq_conv1x1_nchw_run: the weights as M rows of K int8
        if (self._one is not None and self._x_dtype == np.uint8 and self._w.dtype == np.int8
                and self._w.shape[2:] == (1, 1) and "vnni" in paths()):
            B = weights_b(self._w, 0, 1, M, _per_channel(zw, np.arange(M), M), True, self._one.shape[0])
            self._wt = np.ascontiguousarray(B.T)
        self._imp_op = self._one
        # a strided unpadded 1x1 conv (ResNet's downsample): the lanes kernel on the subsampled image
        # where it applies (_subsampled), else the implicit GEMM on the NHWC copy of the pixels read
        self._sub_lanes = self._wt is not None and _strided_unpadded(strides, pads)
        self._implicit_setup(zw, (method, params, zp, qmin, qmax, out_dtype, bias, policy, path, threads), pair)

    def _implicit_setup(self, zw, args, pair):
        """Where the implicit GEMM (rq_conv_gemm_run) may apply: k x k kernels, strided unpadded 1x1
        ones, and other 1x1 ones with more than 32 output channels and K < 512 split over threads
        (measured on the 2-core AMD EPYC, r50_1x1_56 at 2 threads: 0.88x -> 1.00x ORT, its
        transposes then run on both threads; at 1 thread, or K >= 512, _pointwise is as fast or
        faster).  A 1x1 call still tries the NCHW
        lanes kernel first (_one_gemm), which is faster where it applies.  ``args``: the op's
        requantization."""
        from . import QLinearMatMul
        M, C = self._w.shape[:2]
        strided_1x1 = _strided_unpadded(*self._geo[:2])
        if not (self._one is not None and self._x_dtype == np.uint8 and self._one._gemm.path != "scalar"
                and "vnni" in paths() and (self._w.shape[2:] != (1, 1) or strided_1x1
                                           or (M > 32 and self._one._threads > 1 and self._one.shape[0] < 512))):
            return
        if C % 4 == 0:
            self._conv_a = True
        elif C < 4 and self._w.dtype == np.int8 and not np.any(np.asarray(zw)):
            # C < 4 (an RGB input layer): a fourth channel of zx bytes (terms (zx - zx) * w = 0) and
            # zero weights for it, so K = kH*kW*4 and no im2col (rq_conv_nhwc_pad, cp = 4)
            method, params, zp, qmin, qmax, out_dtype, bias, policy, path, threads = args
            w4 = np.zeros((M, 4) + self._w.shape[2:], np.int8)
            w4[:, :C] = self._w
            chans = np.arange(M)
            p = tuple(_per_channel(q, chans, M) for q in params) if pair and isinstance(params, (tuple, list)) \
                else _per_channel(params, chans, M)
            self._imp_op = QLinearMatMul(weights_b(w4, 0, 1, M, 0, True), self._zx, zw, method, p, zp, qmin, qmax,
                                         out_dtype, None if bias is None else _per_channel(bias, chans, M), policy,
                                         path=path, threads=threads, a_dtype=self._x_dtype)
            self._conv_a = True

    def __call__(self, x):
        x = _tensor4(x, "x")
        if x.dtype != self._x_dtype:
            raise InvalidValueError(f"x must have dtype {self._x_dtype} (the op was prepared for it), got {x.dtype}")
        if self._dw is not None:
            return self._dw(x)
        if self._one is not None:
            return self._one_gemm(np.ascontiguousarray(x))
        strides, pads, dilations, group = self._geo

        def gemm(A, _B, _za, _zb, _b, chans):
            return self._ops[int(chans[0])](A)
        return _run(x, self._w, self._zx, self._zw, None, strides, pads, dilations, group, gemm,
                    order_free=self._order_free, need_b=False)

    def _one_gemm(self, x):
        """group = 1 under wrap: the rows of ``im2col_nhwc`` (the NHWC copy itself for a 1x1
        stride-1 conv), the prepared GEMM, NCHW out -- ``_run``'s steps without its per-group
        bookkeeping (a few tens of microseconds per call on small layers)."""
        from ._gemm import ptr
        geo = self._shapes.get(x.shape)
        if geo is None:
            strides, pads, dilations, group = self._geo
            geo = geometry(x.shape, self._w.shape, strides, pads, dilations, group)
            if len(self._shapes) < 8:
                self._shapes[x.shape] = geo
        N, M, OH, OW = geo[:4]
        mine = self._lock.acquire(False)   # the implicit form's structs and the work arrays are the op's own
        try:
            y = self._subsampled(x, geo) if mine and self._sub_lanes else None
            if y is not None:
                return y
            y = self._pointwise(x, geo, lanes_only=self._conv_a is not None) if mine else None
            if y is not None:
                return y
            empty = self._scratch if mine else _empty
            y = self._implicit(x, geo) if mine and self._conv_a is not None else None
            if y is not None:
                return y
            # the prepared GEMM's plan, run directly (A is a checked C-contiguous array)
            A, op = im2col_nhwc(x, self._zx, geo, 0, 1, self._one.shape[0], empty), self._one
            r = empty("r", (A.shape[0], op._n), op._out_dtype)
            op._plans.run(A.shape[0], ptr(A), A.shape[1], ptr(r, True))
            return self._to_nchw(r, N, M, OH, OW)
        finally:
            if mine:
                self._lock.release()

    def _subsampled(self, x, geo):
        """A 1x1 unpadded strided conv as the NCHW lanes kernel on the pixels it reads
        (rq_subsample_nchw into the op's own array, then ``_pointwise``), or None where that kernel
        does not take the subsampled image, or would split it by output channels over threads.
        Called under the op's lock.  Measured on the 2-core AMD EPYC (Zen 4), A/B in one process,
        12 interleaved rounds, against the implicit GEMM on the NHWC copy of the same pixels: r50's
        downsample at 56x56 (784 output pixels) 570 -> 516 us at 1 thread, 340 -> 300 at 2; at
        28x28 (196 pixels) 527 -> 520 at 1 thread, and at 2 (a channel split) 306 -> 322, so not
        there."""
        N, M, OH, OW, C, _kh, _kw, (sh, sw) = geo[:8]
        key = ("sub", N, C, OH, OW)
        threads = self._one._threads
        if self._pw.get(key, 0) is None or (threads > 1 and -(-OH * OW // 64) < 4 * threads):
            return None
        t = self._scratch("sub", (N, C, OH, OW), x.dtype)
        g1 = geometry(t.shape, self._w.shape, (1, 1), (0, 0, 0, 0), (1, 1), 1)
        if self._pw.get(key) is None and (len(self._pw) >= 8 or self._pointwise_rec(t, g1, key) is None
                                          or self._pw[key][-1] is None):
            if len(self._pw) < 8:
                self._pw[key] = None
            return None
        H, W = x.shape[2], x.shape[3]
        for n in range(N):
            check_status(lib.rq_subsample_nchw(ptr(x[n]), ptr(t[n], True), C, H, W, sh, sw, OH, OW, threads))
        return self._pointwise(t, g1, lanes_only=True, key=key)

    def _pointwise(self, x, geo, lanes_only=False, key=None):
        """A 1x1 stride-1 unpadded conv (called under the op's lock): per image one C transpose into
        the op's own NHWC rows, the prepared GEMM on them through C structs that already point at
        them and at the op's own output rows, one transpose per image back -- ``im2col_nhwc``, the
        plan and ``_to_nchw`` with their per-call Python work done once per input shape (measured on
        the 2-core AMD EPYC, best of 2000: a 4-channel 2x2 layer 12.5 -> 4.8-7.4 us per call).  None
        where it does not apply."""
        key = x.shape if key is None else key
        rec = self._pw.get(key)
        if rec is None:
            rec = self._pointwise_rec(x, geo, key)
            if rec is None:
                return None
        xs, r, pxs, pr, plan, N, C, P, M, nchw = rec
        if lanes_only and nchw is None:
            return None
        y = np.empty((N, M) + x.shape[2:], r.dtype)
        px, py, tr = ptr(x), ptr(y, True), lib.rq_transpose
        if nchw is not None:   # no transposes: the kernel reads x and writes y in NCHW
            st, sts, parts, pwt = nchw
            for n in range(N):
                code = (lib.rq_conv1x1_nchw_run(st, px + n * C * P, C, P, pwt, py + n * M * P * r.itemsize)
                        if parts == 1 else
                        lib.rq_conv1x1_nchw_run_many(sts, px + n * C * P, C, P, pwt, py + n * M * P * r.itemsize, parts))
                if code == -9:   # RQ_E_PATH: not this problem (say, weight zero points that need pixel sums)
                    self._wt = None
                    self._sub_lanes = False
                    self._pw.clear()
                    return self._pointwise(x, geo, lanes_only, key)
                check_status(code)
            local.path = PATH_NAMES.get(st[0].path_used)
            return y
        for n in range(N):
            check_status(tr(px + n * C * P, pxs + n * P * C, C, P, P, C, 1))
        code = lib.rq_gemm_run(plan.structs) if plan.count == 1 else lib.rq_gemm_run_many(plan.pointers, plan.count)
        local.path = PATH_NAMES.get(plan.structs[0].path_used)
        check_status(code)
        for n in range(N):
            check_status(tr(pr + n * P * M * r.itemsize, py + n * M * P * r.itemsize, P, M, M, P, r.itemsize))
        return y

    def _pointwise_rec(self, x, geo, key):
        """``_pointwise``'s arrays and plan for one input shape (at most 8 shapes kept, by ``key``),
        or None."""
        from ._gemm import gemm_struct
        from ._threads import make_plan, rectangles
        N, M, OH, OW, C, kH, kW, strides, pads, _dil = geo
        op = self._one
        if (kH, kW, tuple(strides)) != (1, 1, (1, 1)) or any(pads) or len(self._pw) >= 8:
            return None
        P, K = OH * OW, op.shape[0]
        plan = make_plan(gemm_struct(op._gemm), N * P, rectangles(N * P, M, K, op._threads))
        # pixels in the vector lanes (rq_conv1x1_nchw_run: no transposes, x read and y written in
        # NCHW) wherever P is within 10 % of a multiple of 16, and on threads also where P mod 16
        # <= 8 (the tail kernel takes those pixels).  Measured on the 2-core AMD EPYC, A/B in one
        # process, 8 interleaved rounds: faster on all 14 ResNet-50 / MobileNetV2 1x1 layers with
        # P = 196, 784, 3136 or 12544 at 1 and at 2 threads (r50_1x1_56: 185 -> 143 us at 1
        # thread, 99.5 -> 77.0 at 2; mv2_pw_112_16to96 172 -> 100 us), K 16 to 1024, M 16 to
        # 1024; the 7x7 layers (P = 49) slower at 1 thread (r50_1x1_7 123 -> 131 us) and faster
        # at 2 (88.7 -> 73.9 us, split by output channels).
        nchw = None
        split = op._threads > 1 and 2 * P * M * K >= CONV_SPLIT_MIN
        if self._wt is not None and (-(-P // 16) * 160 <= 11 * P or (split and P % 16 <= 8)):
            # on threads: runs of whole 64-pixel blocks, or of output channels where an image has
            # fewer than 4 blocks per part (rq_conv1x1_nchw_run_many, rq_1x1_task)
            blocks = -(-P // 64)
            parts = ((op._threads if blocks < 4 * op._threads and M >= 32 * op._threads else min(op._threads, blocks))
                     if split else 1)
            sts = ffi.new("rq_gemm[]", parts)
            for i in range(parts):
                sts[i] = gemm_struct(op._gemm)[0]
            nchw = (sts, ffi.new("rq_gemm *[]", [sts + i for i in range(parts)]), parts, ffi.from_buffer(self._wt))
        if K != C and nchw is None:   # the GEMM on NHWC rows needs K = C here
            return None
        xs, r = np.empty((N * P, C), x.dtype), np.empty((N * P, M), op._out_dtype)
        pxs, pr = ptr(xs, True), ptr(r, True)
        for i in range(plan.count):
            g = plan.structs[i]
            g.a, g.lda, g.c, g.overflow_count = pxs, C, pr, ffi.NULL
        rec = self._pw[key] = (xs, r, pxs, pr, plan, N, C, P, M, nchw)
        return rec

    def _scratch(self, tag, shape, dtype):
        """A work array of the op's own, kept for the next call of the same shape: fresh large arrays
        cost page faults on every call (measured: the 7x7 conv1 layer 2.1 ms instead of 0.7 ms
        while glibc still returned each call's 2 MB im2col to the system)."""
        key = (tag, shape, np.dtype(dtype))
        a = self._bufs.get(key)
        if a is None:
            a = np.empty(shape, dtype)
            if len(self._bufs) < 16:
                self._bufs[key] = a
        return a

    @staticmethod
    def _to_nchw(r, N, M, OH, OW):
        """(N*OH*OW, M) rows -> a new (N, M, OH, OW) array (rq_transpose per image)."""
        from ._gemm import ptr
        from ._lib import lib
        y = np.empty((N, M, OH, OW), r.dtype)
        P = OH * OW
        for n in range(N):
            check_status(lib.rq_transpose(ptr(r[n * P:(n + 1) * P]), ptr(y[n], True), P, M, M, P, r.itemsize))
        return y

    def _implicit(self, x, geo):
        """The NCHW output, each image's GEMM rows read in place from a padded NHWC copy
        (rq_conv_gemm_run: no im2col) and each rectangle's block written NCHW by the thread that
        computed it; the copy itself made by rq_conv_nhwc_pad on the same threads.  None where the
        C kernel says that form does not apply (then im2col).  Called under the op's lock; the
        arrays, C structs and plan are kept per input shape (``_implicit_rec``)."""
        rec = self._imp.get(x.shape)
        if rec is None:
            rec = self._implicit_rec(x, geo)
        cv, plan, prep, args, N, _arrays = rec
        y = np.empty((N,) + geo[1:2] + geo[2:4], self._imp_op._out_dtype)
        nb, yb = x[0].nbytes, y[0].nbytes
        px, py = ptr(x), ptr(y, True)
        run = (lambda: lib.rq_conv_gemm_run(plan.structs, cv)) if plan.count == 1 else \
            (lambda: lib.rq_conv_gemm_run_many(plan.pointers, cv, plan.count))
        for n in range(N):
            check_status(prep(px + n * nb, *args))
            cv.y = py + n * yb
            code = run()
            if code == -9:   # RQ_E_PATH: this form does not apply (say, a weight zero point needs row sums)
                self._conv_a = None
                self._imp.clear()
                return None
            check_status(code)
        local.path = PATH_NAMES.get(plan.structs[0].path_used)
        return y

    def _implicit_rec(self, x, geo):
        """``_implicit``'s C structs, work arrays and plan for one input shape (up to 8 kept).  A 1x1
        unpadded conv is one output row of P pixels (blocks of the kernel's full height); with
        strides, of the P pixels it reads, which rq_conv_nhwc_sub gathers into the NHWC copy."""
        from ._gemm import gemm_struct
        from ._threads import make_plan, rectangles
        N, M, OH, OW, C, kH, kW, (sh, sw), (pt, pl, pb, pr), (dh, dw) = geo
        H, W = x.shape[2], x.shape[3]
        op, P = self._imp_op, OH * OW
        cp = op.shape[0] // (kH * kW)   # C, or 4 for C < 4
        Hp, Wp = H + pt + pb, W + pl + pr
        sub = None
        if (kH, kW, Hp, Wp) == (1, 1, H, W) and ((sh, sw) == (1, 1) or cp == C):
            # strides: only the pixels read go into the NHWC copy (rq_conv_nhwc_sub).  Measured on
            # the 2-core AMD EPYC (Zen 4), A/B in one process against im2col (1 thread) or the
            # implicit GEMM on the whole image (2 threads, K < 512): r50's downsample 1024 -> 2048
            # at 14x14 unchanged, 512 -> 1024 at 28x28 544 -> 524 us (1 thread), 325 -> 296 (2)
            sub = (C, H, W, sh, sw, OH, OW) if (sh, sw) != (1, 1) else None
            H, W, Hp, Wp, OH, OW, sh, sw = 1, P, 1, P, 1, P, 1, 1
        rects = rectangles(P, M, op.shape[0], op._threads)
        plan = make_plan(gemm_struct(op._gemm), P, rects)
        xp = np.empty((Hp * Wp * cp,), x.dtype)
        xs = xp if (Hp, Wp, cp) == (H, W, C) else None   # a padded copy is written straight into xp
        tmp = np.empty((P * C,) if sub else (0,), x.dtype)
        out = np.empty((P, M), op._out_dtype)
        cv = ffi.new("rq_conv_a *")
        cv.c, cv.hp, cv.wp, cv.kh, cv.kw, cv.sh, cv.sw, cv.dh, cv.dw, cv.oh, cv.ow = (cp, Hp, Wp, kH, kW, sh, sw, dh,
                                                                                      dw, OH, OW)
        cv.ldy = P
        pxs, pxp, pout = ffi.NULL if xs is None else ptr(xs, True), ptr(xp, True), ptr(out, True)
        for i in range(plan.count):
            g = plan.structs[i]
            g.a, g.lda, g.c, g.overflow_count = pxp, op.shape[0], pout, ffi.NULL
        if sub:
            prep, args = lib.rq_conv_nhwc_sub, (ptr(tmp, True), pxs) + sub + (plan.count,)
        else:
            prep, args = lib.rq_conv_nhwc_pad, (pxs, pxp, C, H, W, pt, pl, Hp, Wp, cp, self._zx, plan.count)
        rec = (cv, plan, prep, args, N, (xs, xp, tmp, out))
        if len(self._imp) < 8:
            self._imp[x.shape] = rec
        return rec
