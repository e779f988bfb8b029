"""Exact integer operators: MatMulInteger, QLinearMatMul, QLinearConv (+ explain).

Nested Python lists in (numpy arrays are accepted and read as such lists), nested lists out;
every value is an ``int`` (or a ``Fraction``-exact float for the dequantizing variant).
Accumulation follows docs/gemm-contract.md §2: the terms t_k = (a - za)(b - zb) are exact,
summed k ascending through an ``Accumulator`` (width, policy wrap | saturate | error, overflow
counts per output), and an int32 bias is one more step.
Requantization is refquant.requant, by method name.

Fast path (contract §2): when K*max|a'|*max|b'| + max|bias| fits the accumulator, no partial sum
can overflow under any order, so ``sum(map(mul, row, col))`` over pre-transposed columns is
exact.  Otherwise the k-ordered step loop runs and counts overflows.
"""

import functools
from collections import namedtuple
from fractions import Fraction
from itertools import product
from operator import mul

from . import nested
from .nested import plain as _plain, shape_of  # noqa: F401  (ops.shape_of, as before)
from . import requant as rq
from .errors import InvalidValueError, ShapeError
from .integers import Accumulator, get_type
from .trace import Step, render

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

Explanation = namedtuple("Explanation", "steps text")


# ##########################################################################
# Input checks and shapes
# ##########################################################################

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _accepts_arrays(fn):
    """Let ``fn`` take numpy arrays (what users hold) wherever it takes nested lists or numbers."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*map(_plain, args), **{k: _plain(v) for k, v in kwargs.items()})
    return wrapper


def _check_elements(x, t, name, path=()):
    """Every element of nested list x is an int of type t (InvalidValueError naming the index)."""
    if not isinstance(x, (list, tuple)):
        if not _is_int(x) or not t.contains(x):
            raise InvalidValueError(f"{name}{list(path)} = {x!r} is not a {t.name} value [{t.min}, {t.max}]")
        return
    if x and not isinstance(x[0], (list, tuple)) and all(type(v) is int for v in x) \
            and t.min <= min(x) and max(x) <= t.max:
        return  # a whole innermost row at once (the common case)
    for i, v in enumerate(x):
        _check_elements(v, t, name, path + (i,))


def _zero_points(zp, t, n, name, axis_name):
    """A zero point as a list of n values: a scalar (per tensor) or one per ``axis_name``."""
    values = list(zp) if isinstance(zp, (list, tuple)) else [zp] * n
    if len(values) == 1 and n != 1:
        values = values * n
    if len(values) != n:
        raise ShapeError(f"{name} has {len(values)} values; expected 1 or {n} (one per {axis_name})")
    for i, v in enumerate(values):
        if not _is_int(v) or not t.contains(v):
            raise InvalidValueError(f"{name}[{i}] = {v!r} is not a {t.name} value [{t.min}, {t.max}]")
    return values


def _int32_bias(bias, n):
    if bias is None:
        return None
    values = list(bias) if isinstance(bias, (list, tuple)) else [bias]
    if len(values) == 1 and n != 1:
        values = values * n
    if len(values) != n:
        raise ShapeError(f"bias has {len(values)} values; expected {n} (one per output channel)")
    for j, v in enumerate(values):
        if not _is_int(v) or not INT32_MIN <= v <= INT32_MAX:
            raise InvalidValueError(f"bias[{j}] = {v!r} is not an int32")
    return values


def _get(x, index):
    for i in index:
        x = x[i]
    return x


def _build(shape, fn, prefix=()):
    """A nested list of ``shape`` whose element at index I is fn(I)."""
    if not shape:
        return fn(prefix)
    return [_build(shape[1:], fn, prefix + (i,)) for i in range(shape[0])]


# ##########################################################################
# Accumulation (contract §2)
# ##########################################################################

def accumulate(acc, terms, where, bias=None):
    """s = step(s + t_k) for k ascending, then bias as one more step; names the step on 'error'."""
    return acc.sum_with_bias(terms, where, bias)


def _cannot_overflow(acc, K, amax, bmax, bias):
    """The fast-path condition: K*max|t| + max|bias| fits [-(2^(w-1)), 2^(w-1) - 1]."""
    return K * amax * bmax + max((abs(b) for b in bias or [0]), default=0) <= acc.hi


# ##########################################################################
# MatMulInteger
# ##########################################################################

def _matmul_shapes(sa, sb):
    """ONNX MatMul (numpy matmul) shapes: (batch, M, K, N, output shape, A/B batch shapes)."""
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError("MatMul operands must have rank >= 1")
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    M, K = a2[-2:]
    K2, N = b2[-2:]
    if K != K2:
        raise ShapeError(f"MatMul inner dimensions differ: A {sa} has K = {K}, B {sb} has K = {K2}")
    ba, bb = a2[:-2], b2[:-2]
    batch = _broadcast(ba, bb, sa, sb)
    out = batch + ((M,) if len(sa) > 1 else ()) + ((N,) if len(sb) > 1 else ())
    return batch, a2, b2, out


def _broadcast(ba, bb, sa, sb):
    n = max(len(ba), len(bb))
    ba, bb = (1,) * (n - len(ba)) + ba, (1,) * (n - len(bb)) + bb
    batch = []
    for x, y in zip(ba, bb):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"MatMul batch dimensions of A {sa} and B {sb} do not broadcast")
        batch.append(max(x, y))
    return tuple(batch)


def _matrices(x, full_shape, batch):
    """x (already rank >= 2) viewed as one 2-D matrix per broadcast batch index."""
    own = full_shape[:-2]
    pad = len(batch) - len(own)

    def matrix(bidx):
        return _get(x, tuple(0 if d == 1 else i for i, d in zip(bidx[pad:], own)))
    return matrix


def _operands(A, B, a_zero_point, b_zero_point, a_type, b_type):
    """Checked, zero-point-subtracted rows of A and columns of B for every batch index."""
    ta, tb = get_type(a_type), get_type(b_type)
    sa, sb = shape_of(A, "A"), shape_of(B, "B")
    batch, a2, b2, out = _matmul_shapes(sa, sb)
    _check_elements(A, ta, "A")
    _check_elements(B, tb, "B")
    M, K, N = a2[-2], a2[-1], b2[-1]
    za = _zero_points(a_zero_point, ta, M, "a_zero_point", "row of A")
    zb = _zero_points(b_zero_point, tb, N, "b_zero_point", "column of B")
    mat_a = _matrices([A] if len(sa) == 1 else A, a2, batch)
    mat_b = _matrices([[v] for v in B] if len(sb) == 1 else B, b2, batch)

    def rows(bidx):
        return [[v - za[i] for v in row] for i, row in enumerate(mat_a(bidx))]

    def cols(bidx):
        if K == 0:
            return [[] for _ in range(N)]
        return [[v - zb[j] for v in col] for j, col in enumerate(zip(*mat_b(bidx)))]
    ranks = (len(sa), len(sb))
    return batch, (M, K, N), out, rows, cols, ranks


def _split_index(index, batch, ranks):
    """Output index -> (batch index, i, j); a rank-1 operand's dimension is absent."""
    bidx, rest = tuple(index[:len(batch)]), list(index[len(batch):])
    i = rest.pop(0) if ranks[0] > 1 else 0
    j = rest.pop(0) if ranks[1] > 1 else 0
    return bidx, i, j


def _extreme(matrix):
    return max((abs(v) for row in matrix for v in row), default=0)


def _matmul_2d(rows, cols, acc, bias, where):
    """acc[i][j] for one batch: fast when overflow is impossible, else the k-ordered loop."""
    K = len(rows[0]) if rows else 0
    if _cannot_overflow(acc, K, _extreme(rows), _extreme(cols), bias):
        if bias is None:
            return [[sum(map(mul, row, col)) for col in cols] for row in rows]
        return [[sum(map(mul, row, col)) + b for col, b in zip(cols, bias)] for row in rows]
    return [[accumulate(acc, map(mul, row, col), where + (i, j), None if bias is None else bias[j])
             for j, col in enumerate(cols)] for i, row in enumerate(rows)]


@_accepts_arrays
def matmul_integer(A, B, a_zero_point=0, b_zero_point=0, a_type="uint8", b_type="uint8",
                   accumulator=None, bias=None):
    """ONNX MatMulInteger with the contract's accumulator: nested int lists -> int32 nested lists.

    A (..., M, K), B (..., K, N), batch dimensions broadcast as numpy/ONNX MatMul (rank-1
    operands promoted and the dimension removed).  a_zero_point: scalar or one per row of A;
    b_zero_point: scalar or one per column of B; both of the operand's type.  bias: optional
    int32, one per column, added as one more accumulator step.  accumulator: an
    ``Accumulator(width, policy)`` (default int32 wrap); its ``overflows`` dict then maps each
    output index (batch..., i, j) to its number of out-of-range steps.
    """
    # Spec: ONNX MatMulInteger-10; docs/gemm-contract.md §2 (k ascending, bias one more step)
    acc = accumulator if accumulator is not None else Accumulator(32, "wrap")
    batch, (M, K, N), out, rows, cols, ranks = _operands(A, B, a_zero_point, b_zero_point, a_type, b_type)
    bias = _int32_bias(bias, N)
    results = {}
    for bidx in product(*[range(d) for d in batch]):
        results[bidx] = _matmul_2d(rows(bidx), cols(bidx), acc, bias, bidx)

    def element(index):
        bidx, i, j = _split_index(index, batch, ranks)
        return results[bidx][i][j]
    return _build(out, element)


# ##########################################################################
# QLinearMatMul (fused) and the dequantizing variant
# ##########################################################################

@_accepts_arrays
def qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *,
                   method="ort", a_type="uint8", b_type="uint8", y_type=None, bias=None,
                   float_bias=None, accumulator=None, scale_format="fp32", op="fc",
                   qmin=None, qmax=None):
    """QLinearMatMul: int accumulate (contract §2), then requantize by ``method``.

    b_scale (and b_zero_point) per tensor or one per column; a_scale (and a_zero_point) per
    tensor or, for the methods in ``PER_ROW_A_METHODS``, one per row of A (M[i][j] is then
    derived from sa[i], sb[j], sy by the method's formula).  ``bias``: int32 per column,
    added in the accumulator; ``float_bias``: a float per column for the methods that take
    one (torch_*, onednn_*).  y_type defaults to a_type.  Returns y as nested int lists.
    """
    # Spec: ONNX QLinearMatMul-21; requantization: refquant.requant.METHODS[method]
    y_type = y_type or a_type
    if isinstance(a_scale, (list, tuple)):
        rows = _per_row_params(method, a_scale, shape_of(a, "a"), b_scale, y_scale, scale_format, op,
                               float_bias, bias)
        accs = matmul_integer(a, b, a_zero_point, b_zero_point, a_type, b_type, accumulator, bias)
        return _requantize_rows(accs, method, rows, y_zero_point, y_type, qmin, qmax)
    params, int_bias = _params(method, a_scale, b_scale, y_scale, scale_format, op, float_bias, bias)
    accs = matmul_integer(a, b, a_zero_point, b_zero_point, a_type, b_type, accumulator, int_bias)
    return rq.requantize(accs, method, params, y_zero_point, y_type, axis=-1, qmin=qmin, qmax=qmax)


# Methods whose multiplier is defined for a per-row a scale: M[i][j] from (sa[i], sb[j], sy) by the
# method's own formula.  ONNX QLinearMatMul allows a per-row a scale; onnxruntime (1.31.1, 1.32.0) rejects
# it ("IsScalarOr1ElementVector(a_scale) was false"), so 'ort' and the backend methods do not
# take one.  onnx_ref reproduces the reference evaluator given a_scale of shape (M, 1).
PER_ROW_A_METHODS = ("exact", "onnx_ref")


def _per_row_params(method, a_scale, a_shape, b_scale, y_scale, scale_format, op, float_bias, bias):
    """One ``Params`` per row of A (a per-row a scale), for the methods of PER_ROW_A_METHODS."""
    name = rq.get_method(method).name
    if name not in PER_ROW_A_METHODS:
        raise InvalidValueError(
            f"method {name!r} takes one a scale; a per-row a scale is defined only for "
            f"{', '.join(PER_ROW_A_METHODS)} (onnxruntime rejects it: a_scale must be a scalar)")
    if float_bias is not None:
        raise InvalidValueError("a float bias is only for the torch/oneDNN methods, which take one a scale")
    if len(a_shape) < 2:
        raise ShapeError(f"a per-row a scale needs A of rank >= 2, got shape {a_shape}")
    if len(a_scale) != a_shape[-2]:
        raise ShapeError(f"a_scale has {len(a_scale)} values; expected 1 or {a_shape[-2]} (one per row of A)")
    return [rq.derive_params(method, s, b_scale, y_scale, scale_format=scale_format, op=op) for s in a_scale]


def _requantize_rows(accs, method, rows, zp, y_type, qmin, qmax):
    """Requantize (..., M, N) accumulators with row i's parameters on row i."""
    if len(shape_of(accs)) > 2:
        return [_requantize_rows(x, method, rows, zp, y_type, qmin, qmax) for x in accs]
    return [rq.requantize(row, method, rows[i], zp, y_type, axis=-1, qmin=qmin, qmax=qmax)
            for i, row in enumerate(accs)]


def _params(method, sa, sb, sy, scale_format, op, float_bias, bias):
    params = rq.derive_params(method, sa, sb, sy, scale_format=scale_format, op=op, bias=float_bias)
    derived = params.int_bias()
    if derived is not None:
        if bias is not None:
            raise InvalidValueError("give either an int32 bias or a float bias, not both")
        return params, derived
    return params, bias


@_accepts_arrays
def dequantize_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, *, a_type="uint8",
                      b_type="uint8", float_bias=None, accumulator=None):
    """int32 -> float32 output: y = fl(fl(acc) * fl(sa*sb_j)) [then fl(y + bias_j)].

    Returns Python floats, each exactly a binary32 value.
    """
    # Reproduces: onnxruntime 1.31.1 / 1.32.0 MatMulIntegerToFloat (com.microsoft): multiplier fl(sa*sb), f32 FMA-free
    accs = matmul_integer(a, b, a_zero_point, b_zero_point, a_type, b_type, accumulator)
    sa = rq.scale_value(a_scale, name="a scale")
    sbs = b_scale if isinstance(b_scale, (list, tuple)) else [b_scale]
    mults = [rq.fl32(sa * rq.scale_value(s, name=f"b scale[{j}]")) for j, s in enumerate(sbs)]
    N = shape_of(accs)[-1] if shape_of(accs) else 1
    if len(mults) not in (1, N):
        raise ShapeError(f"b_scale has {len(mults)} values; expected 1 or {N}")
    biases = None if float_bias is None else [rq.formats.exact("fp32", v).value for v in
                                              (float_bias if isinstance(float_bias, (list, tuple)) else [float_bias] * N)]

    def one(v, path):
        j = path[-1] if path else 0
        y = rq.fl32(rq.fl32(v) * mults[j if len(mults) > 1 else 0])
        if biases is not None:
            y = rq.fl32(y + biases[j])
        return float(Fraction(y))
    return nested.map_indexed(accs, one)


# ##########################################################################
# QLinearConv (1-D, 2-D, 3-D; NCW, NCHW, NCDHW)
# ##########################################################################

# The checked geometry of one convolution: input channels per group, and per spatial axis the
# kernel size, stride, leading pad, dilation and input size.
ConvGeometry = namedtuple("ConvGeometry", "cg kernel strides begins dilations spatial")


def conv_geometry(xs, ws, strides, pads, dilations, group):
    """(N, M, *spatial output) of a convolution of x shape ``xs`` by w shape ``ws``; ShapeError if inconsistent.

    Reproduces: ONNX Conv-11 / ConvInteger-10 / QLinearConv-10 output shape, d = 1, 2 or 3 spatial axes
    (pads = [begin of each axis, then end of each axis], e.g. [top, left, bottom, right]).
    """
    d = len(xs) - 2
    if not all(isinstance(a, (list, tuple)) and all(map(_is_int, a)) for a in (strides, pads, dilations)):
        raise ShapeError(f"strides, pads and dilations must be lists of integers; "
                         f"got {strides!r}, {pads!r}, {dilations!r}")
    if d not in (1, 2, 3) or len(ws) != len(xs):
        raise ShapeError(f"a convolution needs x (N, C, spatial...) and w (M, C/group, kernel...) of equal rank "
                         f"3, 4 or 5; got {tuple(xs)} and {tuple(ws)}")
    if len(strides) != d or len(pads) != 2 * d or len(dilations) != d:
        raise ShapeError(f"a {d}-D conv needs {d} strides, {2 * d} pads, {d} dilations; "
                         f"got {strides}, {pads}, {dilations}")
    N, C = xs[:2]
    M, Cg = ws[:2]
    if group < 1 or C % group or M % group or Cg != C // group:
        raise ShapeError(f"groups = {group}: x has {C} channels, w {tuple(ws)} needs C/group = {Cg} and "
                         f"M % group == 0")
    if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
        raise ShapeError(f"strides {strides} and dilations {dilations} must be >= 1, pads {pads} >= 0")
    out = tuple((xs[2 + i] + pads[i] + pads[d + i] - dilations[i] * (ws[2 + i] - 1) - 1) // strides[i] + 1
                for i in range(d))
    if min(out) < 1:
        raise ShapeError(f"the convolution's output would be empty ({' x '.join(map(str, out))})")
    return (N, M) + out


def conv_terms(xd, wd, index, g):
    """The nonzero terms of output ``index`` = (n, m, *o) in the defined k order: c, then the kernel
    positions row-major (kernel axes ascending, the last fastest).

    Padding positions hold the input zero point, so their terms (zp - zp)*w are 0 and are
    skipped (adding 0 cannot change a partial sum or overflow).
    """
    n, m, *o = index
    groups = len(xd[0]) // g.cg
    grp = m // (len(wd) // groups)          # the group of output channel m
    # per spatial axis: the (kernel offset, input coordinate) pairs inside the input
    axes = [[(k, oi * s - b + k * dl) for k in range(kn) if 0 <= oi * s - b + k * dl < size]
            for oi, kn, s, b, dl, size in zip(o, g.kernel, g.strides, g.begins, g.dilations, g.spatial)]
    terms = []
    for c in range(g.cg):
        plane, kernel = xd[n][grp * g.cg + c], wd[m][c]
        for position in product(*axes):
            xv, wv = plane, kernel
            for k, i in position:
                xv, wv = xv[i], wv[k]
            terms.append(xv * wv)
    return terms


def conv_prepare(x, w, x_zero_point, w_zero_point, x_type, w_type, strides, pads, dilations, group, bias):
    """Checked conv operands: (output shape, x - zx, w - zw, ConvGeometry, int32 bias, term bound)."""
    tx, tw = get_type(x_type), get_type(w_type)
    xs, ws = shape_of(x, "x"), shape_of(w, "w")
    d = max(len(xs) - 2, 1)
    strides, pads = list(strides or [1] * d), list(pads or [0] * (2 * d))
    dilations = list(dilations or [1] * d)
    out = conv_geometry(xs, ws, strides, pads, dilations, group)
    _check_elements(x, tx, "x")
    _check_elements(w, tw, "w")
    zx = _zero_points(x_zero_point, tx, 1, "x_zero_point", "tensor")[0]
    zw = _zero_points(w_zero_point, tw, ws[0], "w_zero_point", "output channel")
    xd = [_minus(img, zx) for img in x]
    wd = [_minus(filt, zw[m]) for m, filt in enumerate(w)]
    g = ConvGeometry(ws[1], tuple(ws[2:]), tuple(strides), tuple(pads[:d]), tuple(dilations), tuple(xs[2:]))
    bias = _int32_bias(bias, ws[0])
    bound = ws[1] * _count(ws[2:]) * _largest(xd) * _largest(wd)
    return out, xd, wd, g, bias, bound


def _minus(t, z):
    """Nested list t with z subtracted from every element."""
    if t and isinstance(t[0], (list, tuple)):
        return [_minus(v, z) for v in t]
    return [v - z for v in t]


def _count(dims):
    n = 1
    for v in dims:
        n *= v
    return n


def _largest(t):
    """max |v| over a nested list of any depth (0 if empty)."""
    return max(map(abs, nested.flatten(t)), default=0)


@_accepts_arrays
def conv_integer(x, w, x_zero_point=0, w_zero_point=0, *, x_type="uint8", w_type="uint8",
                 strides=None, pads=None, dilations=None, group=1, bias=None, accumulator=None):
    """ConvInteger 1-D/2-D/3-D (NCW/NCHW/NCDHW) with the contract's accumulator: int32 nested lists (N, M, *O).

    pads = [begins, ends] per spatial axis (ONNX order; 2-D: [top, left, bottom, right]); padding holds
    the input zero point.
    w_zero_point: scalar or one per output channel.  bias: int32 per output channel, one
    more accumulator step.  Term order: input channel, kernel row, kernel column, ascending.
    """
    # Spec: ONNX ConvInteger-10 / QLinearConv-10 accumulation; docs/gemm-contract.md §2
    acc = accumulator if accumulator is not None else Accumulator(32, "wrap")
    out, xd, wd, g, bias, bound = conv_prepare(x, w, x_zero_point, w_zero_point, x_type, w_type,
                                                 strides, pads, dilations, group, bias)
    fast = bound + max((abs(b) for b in bias or [0]), default=0) <= acc.hi

    def element(idx):
        terms = conv_terms(xd, wd, idx, g)
        b = None if bias is None else bias[idx[1]]
        if fast:
            return sum(terms) + (b or 0)
        return accumulate(acc, terms, idx, b)
    return _build(out, element)


@_accepts_arrays
def qlinear_conv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, *,
                 method="ort", x_type="uint8", w_type="uint8", y_type=None, bias=None, float_bias=None,
                 strides=None, pads=None, dilations=None, group=1, accumulator=None,
                 scale_format="fp32", qmin=None, qmax=None):
    """QLinearConv 1-D/2-D/3-D (NCW/NCHW/NCDHW): conv_integer, then requantize per output channel (axis 1)."""
    # Spec: ONNX QLinearConv-10; requantization: refquant.requant.METHODS[method]
    params, int_bias = _params(method, x_scale, w_scale, y_scale, scale_format, "conv", float_bias, bias)
    accs = conv_integer(x, w, x_zero_point, w_zero_point, x_type=x_type, w_type=w_type, strides=strides,
                        pads=pads, dilations=dilations, group=group, bias=int_bias, accumulator=accumulator)
    return rq.requantize(accs, method, params, y_zero_point, y_type or x_type, axis=1, qmin=qmin, qmax=qmax)


# ##########################################################################
# explain: one output element, step by step
# ##########################################################################

def accumulation_steps(terms, policy, width, bias):
    """(explain steps, value) of summing ``terms`` (+ bias) in an int``width`` accumulator under ``policy``."""
    acc = Accumulator(width, policy)
    steps = [Step("terms", f"{len(terms)} exact products (a - za)(b - zb), k ascending",
                     f"min {min(terms, default=0)}, max {max(terms, default=0)}"),
             Step("exact sum", "sum of terms (+ bias), no overflow", sum(terms) + (bias or 0))]
    value = accumulate(acc, terms, "x", bias)
    steps.append(Step("overflow steps", f"int{width} policy '{policy}'", acc.overflows.get("x", 0)))
    if bias is not None:
        steps.append(Step("bias", "int32, one more accumulator step", bias))
    steps.append(Step("acc", f"int{width} accumulator under '{policy}'", value))
    return steps, value


def _matmul_terms(A, B, index, a_zero_point, b_zero_point, a_type, b_type):
    batch, (M, K, N), out, rows, cols, ranks = _operands(A, B, a_zero_point, b_zero_point, a_type, b_type)
    index = tuple(index)
    if len(index) != len(out) or any(not 0 <= i < d for i, d in zip(index, out)):
        raise ShapeError(f"index {index} is not an element of the output shape {out}")
    bidx, i, j = _split_index(index, batch, ranks)
    return list(map(mul, rows(bidx)[i], cols(bidx)[j])), j, N


@_accepts_arrays
def explain_matmul_integer(A, B, index, a_zero_point=0, b_zero_point=0, a_type="uint8", b_type="uint8",
                           width=32, policy="wrap", bias=None):
    """Explanation of MatMulInteger output ``index``: the accumulation, step by step."""
    terms, j, N = _matmul_terms(A, B, index, a_zero_point, b_zero_point, a_type, b_type)
    b = None if bias is None else _int32_bias(bias, N)[j]
    steps, _ = accumulation_steps(terms, policy, width, b)
    steps.insert(0, Step("output", "MatMulInteger element", tuple(index)))
    return Explanation(steps, render(steps))


@_accepts_arrays
def explain_qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point,
                           index, *, method="ort", a_type="uint8", b_type="uint8", y_type=None, bias=None,
                           float_bias=None, width=32, policy="wrap", scale_format="fp32", op="fc",
                           qmin=None, qmax=None):
    """Explanation of QLinearMatMul output ``index``: accumulation, bias, each rounding, saturation."""
    if isinstance(a_scale, (list, tuple)):
        rows = _per_row_params(method, a_scale, shape_of(a, "a"), b_scale, y_scale, scale_format, op,
                               float_bias, bias)
        params, int_bias = rows[tuple(index)[-2]], bias
    else:
        params, int_bias = _params(method, a_scale, b_scale, y_scale, scale_format, op, float_bias, bias)
    terms, j, N = _matmul_terms(a, b, index, a_zero_point, b_zero_point, a_type, b_type)
    bj = None if int_bias is None else _int32_bias(int_bias, N)[j]
    steps, value = accumulation_steps(terms, policy, width, bj)
    steps.insert(0, Step("output", f"QLinearMatMul element, channel j = {j}", tuple(index)))
    steps += rq.explain_requantize(value, method, params, y_zero_point, y_type or a_type, j, qmin, qmax)
    return Explanation(steps, render(steps))


@_accepts_arrays
def explain_qlinear_conv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point,
                         index, *, method="ort", x_type="uint8", w_type="uint8", y_type=None, bias=None,
                         float_bias=None, strides=None, pads=None, dilations=None, group=1, width=32,
                         policy="wrap", scale_format="fp32", qmin=None, qmax=None):
    """Explanation of QLinearConv output ``index`` = (n, m, *o), e.g. (n, m, oh, ow) in 2-D."""
    params, int_bias = _params(method, x_scale, w_scale, y_scale, scale_format, "conv", float_bias, bias)
    out, xd, wd, g, bias_l, _ = conv_prepare(x, w, x_zero_point, w_zero_point, x_type, w_type,
                                               strides, pads, dilations, group, int_bias)
    index = tuple(index)
    if len(index) != len(out) or any(not 0 <= i < d for i, d in zip(index, out)):
        raise ShapeError(f"index {index} is not an element of the output shape {out}")
    terms = conv_terms(xd, wd, index, g)
    m = index[1]
    steps, value = accumulation_steps(terms, policy, width, None if bias_l is None else bias_l[m])
    steps.insert(0, Step("output", f"QLinearConv element (n, m, *o), channel m = {m}", index))
    steps += rq.explain_requantize(value, method, params, y_zero_point, y_type or x_type, m, qmin, qmax)
    return Explanation(steps, render(steps))


EXPLAINERS = {
    "matmul_integer": explain_matmul_integer,
    "qlinear_matmul": explain_qlinear_matmul,
    "qlinear_conv": explain_qlinear_conv,
}


def explain(op, *args, **kwargs):
    """``explain('qlinear_matmul', a, sa, za, b, sb, zb, sy, zy, index, method='ort')`` etc."""
    if op not in EXPLAINERS:
        raise rq.UnknownNameError("operator", op, EXPLAINERS)
    return EXPLAINERS[op](*args, **kwargs)
