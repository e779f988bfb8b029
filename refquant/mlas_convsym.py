"""onnxruntime's symmetric QLinearConv: the raw sum x*w in a saturating int32, kernel positions outer.

Measured (onnxruntime 1.32.0, AVX-512 VNNI host; docs/reference/onnx.md section 4): when QLinearConv
has uint8 x, int8 w whose zero points are all 0, a constant x zero point, a constant (or absent)
bias, group 1, C % 4 == 0 input channels and M >= 16, M % 8 == 0 output channels, onnxruntime runs
MLAS's symmetric convolution (VPDPBUSDS: four u8 x s8 products added into int32 with signed
saturation).  For every output element it computes exactly

    s = 0
    for each kernel position p (row-major over the kernel axes, the last fastest):
        for c0 = 0, 4, 8, ... < C:    s = sat32(s + sum_{c = c0}^{c0 + 3} x[c, p] * w[c, p])
    acc = wrap32(s + wrap32(bias - zx * sum(w)))

where x holds zx at padding positions (the raw codes: zx is not subtracted inside the sum), and
then requantizes acc like every ORT QLinearConv (refquant method 'ort').  The contract's int32
wraps the centred sum sum((x - zx) * w) instead, in channel-major order; the two agree whenever no
partial sum s leaves int32.  Other configurations (int8 x, M = 8 or 17, C % 4 != 0, a fed bias or
x zero point, group 2, a weight zero point 1, x constant-folded at session creation) wrap like
the contract.
"""

from itertools import product

from . import ops
from . import requant as rq
from .nested import flatten, plain, unflatten
from .errors import InvalidValueError
from .requant import sat

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


def sat32(v):
    """Signed saturation to int32 (VPDPBUSDS's SaturateToSignedDword)."""
    return sat(v, INT32_MIN, INT32_MAX)


def wrap32(v):
    """v mod 2^32 as a signed int32 (VPADDD)."""
    return (v - INT32_MIN) % 2**32 + INT32_MIN


def applies(x_type, w_type, w_zero_points, in_channels, out_channels, group, *, zx_constant=True,
            bias_constant=True):
    """Whether onnxruntime 1.32.0 (AVX-512 VNNI) runs a QLinearConv through this path (measured)."""
    return (x_type == "uint8" and w_type == "int8" and all(z == 0 for z in w_zero_points) and zx_constant
            and bias_constant and group == 1 and in_channels % 4 == 0 and out_channels >= 16
            and out_channels % 8 == 0)


def _at(t, index):
    for i in index:
        t = t[i]
    return t


def _position_terms(planes, wm, g, o, zx):
    """The raw products x * w of one output element, one list per kernel position (row-major), each
    in input channel order; x = zx outside the input (padding)."""
    positions = [((), ())]          # (kernel index, input index) per spatial axis
    for oi, kn, s, b, dl in zip(o, g.kernel, g.strides, g.begins, g.dilations):
        positions = [(k + (kk,), i + (oi * s - b + kk * dl,)) for k, i in positions for kk in range(kn)]
    rows = []
    for k, i in positions:
        inside = all(0 <= v < size for v, size in zip(i, g.spatial))
        rows.append([(_at(planes[c], i) if inside else zx) * _at(wm[c], k) for c in range(g.cg)])
    return rows


def saturating_sum(position_terms):
    """s of the module docstring: kernel positions in order, four channels per saturating step."""
    s = 0
    for row in position_terms:
        for c0 in range(0, len(row), 4):
            s = sat32(s + sum(row[c0:c0 + 4]))
    return s


def accumulators(x, w, x_zero_point=0, *, bias=None, strides=None, pads=None, dilations=None):
    """x (N, C, *spatial) uint8 codes, w (M, C, *kernel) int8 codes (zero point 0) -> acc (N, M, *O)."""
    x, w, x_zero_point, bias = plain(x), plain(w), plain(x_zero_point), plain(bias)
    if not (isinstance(x_zero_point, int) and 0 <= x_zero_point <= 255):
        raise InvalidValueError(f"x_zero_point = {x_zero_point!r}: expected a uint8 value [0, 255]")
    out, xd, wd, g, bias, _ = ops.conv_prepare(x, w, 0, 0, "uint8", "int8", strides, pads, dilations, 1, bias)
    fix = [wrap32((bias[m] if bias else 0) - x_zero_point * sum(flatten(wd[m]))) for m in range(len(wd))]
    accs = [wrap32(saturating_sum(_position_terms(xd[n], wd[m], g, o, x_zero_point)) + fix[m])
            for n, m, *o in product(*map(range, out))]
    return unflatten(accs, out)


def qlinear_conv(x, x_scale, x_zero_point, w, w_scale, y_scale, y_zero_point, *, bias=None, strides=None,
                 pads=None, dilations=None):
    """QLinearConv through this path: accumulators(), then onnxruntime's requantization (method 'ort')
    per output channel; uint8 codes (N, M, *O).  w_scale: one float or one per output channel."""
    params = rq.derive_params("ort", plain(x_scale), plain(w_scale), plain(y_scale), op="conv")
    accs = accumulators(x, w, x_zero_point, bias=bias, strides=strides, pads=pads, dilations=dilations)
    return rq.requantize(accs, "ort", params, y_zero_point, "uint8", axis=1)

