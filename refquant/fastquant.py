"""An integer fast path for ``quantize`` on IEEE-format inputs — the same numbers, sooner.

``quantize.quantize_value`` is the readable definition: it decodes to exact ``Real`` values and
calls ``formats`` for every correctly rounded step.  This module computes the *same* integer for
finite inputs with plain ints, holding each binary value as a dyadic triple (sign, m, e) meaning
(-1)^sign * m * 2^e, so no Fraction is built per element.  Anything outside its scope — NaN, ±inf,
a quotient that overflows the quotient format, the x86_int32 clamp of the onnx reference — returns
``None`` and the caller uses the definition.  tests/test_fastquant.py proves equality with
``quantize_value`` for every profile on ties, near-ties, saturation edges and random inputs.
"""

from . import formats
from .profiles import get_profile
from .rounding import round_ratio

IEEE = ("fp64", "fp32", "fp16", "bf16")


def split(fmt, bits):
    """(sign, m, e) with value (-1)^sign * m * 2^e for a finite IEEE pattern; None for inf/NaN."""
    man, width = fmt.man_bits, fmt.width
    sign = bits >> (width - 1)
    E = (bits >> man) & (2**fmt.exp_bits - 1)
    M = bits & (2**man - 1)
    if E == 2**fmt.exp_bits - 1:
        return None
    if E == 0:
        return sign, M, fmt.emin - man
    return sign, M | (1 << man), E - fmt.bias - man


def rounder(fmt):
    """round(sign, n, d, e2): sign * (n/d) * 2^e2 (n >= 0, d > 0) rounded to ``fmt`` with RNE, as
    (sign, m, e); None on overflow.  The integer form of formats.encode (float-formats.md §2),
    with the format's constants bound once."""
    man, emin, emax = fmt.man_bits, fmt.emin, fmt.emax
    carry, top = 2 << man, (2 << man) - 1

    def round_(sign, n, d, e2):
        if n == 0:
            return sign, 0, 0
        lg = n.bit_length() - d.bit_length()  # floor(log2(n/d)) is lg or lg - 1
        if (n << -lg if lg < 0 else n) < (d if lg < 0 else d << lg):
            lg -= 1
        e = lg + e2
        if e < emin:
            e = emin
        t = e2 - e + man  # the significand is round(n/d * 2^t), ties to even
        num, den = (n << t, d) if t >= 0 else (n, d << -t)
        N, r = divmod(num, den)
        if 2 * r > den or (2 * r == den and N & 1):
            N += 1
        if N == carry:
            N, e = N >> 1, e + 1
        if e > emax or (e == emax and N > top):
            return None
        return sign, N, e - man

    return round_


def round_dyadic(fmt, sign, n, d, e2):
    """One-shot form of ``rounder``."""
    return rounder(fmt)(sign, n, d, e2)


def _add_int(q, z):
    """Exact q + z for a dyadic q and an integer z, as (sign, n, e2) with n >= 0."""
    s, m, e = q
    e0 = min(e, 0)
    n = (-m if s else m) * (1 << (e - e0)) + z * (1 << (-e0))
    return (1 if n < 0 else 0), abs(n), e0


def _to_int(q, mode):
    """round(q) for a dyadic q with an integer rounding mode."""
    s, m, e = q
    v = -m if s else m
    if e >= 0:
        return v << e
    return round_ratio(v, 1 << -e, mode)


def _holds(big, small):
    """Every value of format ``small`` is a value of ``big``."""
    return (small.man_bits <= big.man_bits and small.emax <= big.emax
            and small.emin - small.man_bits >= big.emin - big.man_bits)


def compile_quantizer(profile, scale, zp, qmin, qmax, x_format, qfmt):
    """A function bits -> int (or None: use the definition) for one (profile, scale, zp) pair.

    Mirrors quantize.quantize_value step for step; returns None when the profile needs a step this
    path does not model, so the caller falls back to the definition for every element."""
    p = get_profile(profile)
    xf, qf = formats.get_format(x_format), formats.get_format(qfmt)
    if xf.name not in IEEE or qf.name not in IEEE or p.clamp == "x86_int32" or p.quotient not in (
            "exact", "div", "mul_recip", "fma_zp"):
        return None
    if p.quotient == "exact" and (p.zero_point != "int_after" or p.clamp != "exact"):
        return None
    if not formats.representable("fp64", scale):
        return None
    _, s_m, s_e = split(formats.get_format("fp64"), formats.encode("fp64", scale))
    inv = None
    if p.quotient in ("mul_recip", "fma_zp"):
        r = formats.round_to(qf, formats.real(1 / scale))
        if not r.is_finite:
            return None
        inv = split(qf, formats.encode(qf, r))
    add_zp = zp if p.zero_point == "int_after" else 0
    mode = p.rounding
    rnd = rounder(qf)
    cast = p.quotient_format == "scale" and not _holds(qf, xf)  # quantize._operand: x into qfmt first

    def run(bits):
        x = split(xf, bits)
        if x is None:
            return None
        if cast:
            x = rnd(*x[:2], 1, x[2])
            if x is None:
                return None
        xs, xm, xe = x
        if p.quotient == "exact":
            v = -xm if xs else xm
            n = round_ratio(v << max(xe - s_e, 0), s_m << max(s_e - xe, 0), mode)
            return min(max(n + add_zp, qmin), qmax)
        if p.quotient == "div":
            q = rnd(xs, xm, s_m, xe - s_e)
        elif p.quotient == "mul_recip":
            q = rnd(xs, xm * inv[1], 1, xe + inv[2])
        else:  # fma_zp: fl(x * inv + zp), one rounding
            s2, n2, e2 = _add_int((xs, xm * inv[1], xe + inv[2]), zp)
            q = rnd(s2, n2, 1, e2)
        if q is None:
            return None
        if p.zero_point == "float_before":
            s2, n2, e2 = _add_int(q, zp)
            q = rnd(s2, n2, 1, e2)
            if q is None:
                return None
        # A float clamp to [qmin - zp, qmax - zp] (profile clamp 'float') changes nothing here: the
        # bounds are integers and rounding is monotone, so for a finite q clamping first equals
        # saturating after.  It matters only for NaN, which never reaches this path.
        return min(max(_to_int(q, mode) + add_zp, qmin), qmax)

    return run


def pack(fmt, q):
    """Bits of a dyadic (sign, m, e) already rounded to ``fmt`` (m < 2^(man+1))."""
    sign, m, e = q
    man = fmt.man_bits
    if m == 0:
        return sign << (fmt.width - 1)
    if m < (1 << man):  # subnormal: e is emin - man
        return (sign << (fmt.width - 1)) | m
    return (sign << (fmt.width - 1)) | ((e + man + fmt.bias) << man) | (m - (1 << man))


def compile_dequantizer(profile, scale, zp, out_format, dtype):
    """A function q -> bits of ``out_format`` (or None: use the definition) mirroring
    quantize.dequantize_value for one (profile, scale, zp)."""
    p = get_profile(profile)
    of = formats.get_format(out_format)
    if of.name not in IEEE or not formats.representable("fp64", scale):
        return None
    ss, sm, se = split(formats.get_format("fp64"), formats.encode("fp64", scale))
    r_out = rounder(of)
    r_mid = rounder(formats.get_format({"f32": "fp32", "f64": "fp64"}.get(p.dequantize, of.name)))
    wrap32 = dtype in ("int32", "uint32") and p.dequantize == "f32"  # ORT subtracts in int32

    def run(q):
        d = q - zp
        if wrap32:
            d = (d + 2**31) % 2**32 - 2**31
        sign = 1 if d < 0 else 0
        if p.dequantize == "exact":
            r = r_out(sign, abs(d) * sm, 1, se)
        elif p.dequantize == "f32":  # fl(fl(d) * s), then into the output format
            fd = r_mid(sign, abs(d), 1, 0)
            r = fd and r_mid(fd[0], fd[1] * sm, 1, fd[2] + se)
            r = r and r_out(r[0], r[1], 1, r[2])
        elif p.dequantize == "f64":  # fl64(d * s), then into the output format
            r = r_mid(sign, abs(d) * sm, 1, se)
            r = r and r_out(r[0], r[1], 1, r[2])
        else:
            return None
        return None if r is None else pack(of, r)

    return run
