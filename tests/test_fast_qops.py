"""refquant.fast.qops: every numpy form equals its definition (refquant/qops.py, refquant/onnx_ops.py)
on random cases and on tie-heavy ones (power-of-two scales make exact halves; decimal scales make
near ties), with zero points at both ends of the type."""

import zlib

import numpy as np
import pytest

from refquant import backends
from refquant.fast import FAST, fast_variant

TYPES = {"uint8": (0, 255), "int8": (-128, 127)}


def _scales(rng, n, kind):
    if kind == "tie":
        return [float(np.float32(2.0 ** int(rng.integers(-5, 2)) * rng.choice([1, 1.5, 0.75, 3]))) for _ in range(n)]
    if kind == "decimal":
        return [float(np.float32(rng.choice([0.1, 0.2, 0.3, 0.7, 0.05]))) for _ in range(n)]
    return [float(np.float32(rng.uniform(0.002, 0.2))) for _ in range(n)]


def _zps(rng, dtype, n):
    lo, hi = TYPES[dtype]
    return [int(rng.choice([lo, hi, int(rng.integers(lo, hi + 1))])) for _ in range(n)]


def _x(rng, dtype, shape):
    lo, hi = TYPES[dtype]
    return rng.integers(lo, hi + 1, shape).astype({"uint8": np.uint8, "int8": np.int8}[dtype])


def _definition(op, name):
    return backends.op_variants(op)[name]


KINDS = ("tie", "decimal", "random")


@pytest.mark.parametrize("op, name", sorted(k for k in FAST if k[0] in ("add", "sub", "mul")))
def test_binary_fast_forms_equal_their_definitions(op, name):
    rng = np.random.default_rng(zlib.crc32(f"{op}:{name}".encode()))
    for i in range(6):
        dtype = ("uint8", "int8")[i % 2]
        shapes = [((8, 40), (8, 40)), ((1,), (5, 16)), ((5, 1), (5, 16)), ((2, 1, 9), (3, 9))][i % 4]
        a, b = _x(rng, dtype, shapes[0]), _x(rng, dtype, shapes[1])
        (sa, sb, sy), (za, zb, zy) = _scales(rng, 3, KINDS[i % 3]), _zps(rng, dtype, 3)
        args = (a, sa, za, b, sb, zb, sy, zy)
        got = FAST[(op, name)](*args, dtype=dtype)
        assert (np.asarray(got) == np.array(_definition(op, name)(*args, dtype=dtype))).all(), (i, shapes)


@pytest.mark.parametrize("op, name", sorted(k for k in FAST if k[0] in ("avg_pool", "global_avg_pool")))
def test_pool_fast_forms_equal_their_definitions(op, name):
    rng = np.random.default_rng(zlib.crc32(f"{op}:{name}".encode()))
    for i in range(6):
        dtype = ("uint8", "int8")[i % 2]
        nd = 1 + i % 3
        spatial = tuple(int(v) for v in rng.integers(3, 7 if nd < 3 else 5, nd))
        x = _x(rng, dtype, (2, 3) + spatial)
        (sx, sy), (zx, zy) = _scales(rng, 2, KINDS[i % 3]), _zps(rng, dtype, 2)
        kw = {}
        if op == "avg_pool":
            k = [int(min(rng.integers(1, 4), s)) for s in spatial]
            kw = dict(kernel_shape=k, strides=[int(rng.integers(1, 3)) for _ in spatial],
                      pads=[int(rng.integers(0, kk)) for kk in k] * 2, ceil_mode=int(i % 4 == 1),
                      count_include_pad=i % 2)
        got = FAST[(op, name)](x, sx, zx, sy, zy, dtype=dtype, **kw)
        assert (np.asarray(got) == np.array(_definition(op, name)(x, sx, zx, sy, zy, dtype=dtype, **kw))).all(), kw


@pytest.mark.parametrize("op, name", sorted(k for k in FAST if k[0] in ("requantize", "relu", "clamp", "leaky_relu")))
def test_unary_table_forms_equal_their_definitions(op, name):
    rng = np.random.default_rng(7)
    kw = {"clamp": {"min": -1.5, "max": 2.25}, "leaky_relu": {"alpha": 0.1}}.get(op, {})
    for i, dtype in enumerate(("uint8", "int8")):
        x = _x(rng, dtype, (4, 50))
        (sx, sy), (zx, zy) = _scales(rng, 2, KINDS[i]), _zps(rng, dtype, 2)
        got = FAST[(op, name)](x, sx, zx, sy, zy, dtype=dtype, **kw)
        assert (got == np.array(_definition(op, name)(x, sx, zx, sy, zy, dtype=dtype, **kw))).all()


@pytest.mark.parametrize("name", sorted(n for o, n in FAST if o == "concat"))
def test_concat_table_forms_equal_their_definitions(name):
    rng = np.random.default_rng(8)
    for i, dtype in enumerate(("uint8", "int8")):
        sy, zy = _scales(rng, 1, KINDS[i])[0], _zps(rng, dtype, 1)[0]
        ins = [(_x(rng, dtype, (2, int(rng.integers(1, 4)), 5)), _scales(rng, 1, KINDS[i])[0], _zps(rng, dtype, 1)[0])
               for _ in range(3)]
        got = FAST[("concat", name)](ins, sy, zy, axis=1, dtype=dtype)
        assert (got == np.array(_definition("concat", name)(ins, sy, zy, axis=1, dtype=dtype))).all()


def test_fast_variant_follows_the_backend_table():
    assert fast_variant("onnxruntime", "add") is FAST[("add", "ort")]
    assert fast_variant("onnx_ref", "avg_pool") is FAST[("avg_pool", "onnx_ref")]
    assert fast_variant("exact", "mul") is FAST[("mul", "exact")]
    assert fast_variant("exact", "transpose") is None


def test_fma32_rounds_once():
    from fractions import Fraction

    from refquant import requant as rq
    rng = np.random.default_rng(9)
    x = rng.integers(-255, 256, 2000).astype(np.float64)
    r = rng.uniform(0.001, 3, 2000).astype(np.float32).astype(np.float64)
    z = (rng.standard_normal(2000) * 100).astype(np.float32).astype(np.float64)
    from refquant.fast.qops import fma32
    got = fma32(x, r, z)
    want = [float(rq.ffma("fp32", int(a), Fraction(b), Fraction(c))) for a, b, c in zip(x, r, z)]
    assert (got.astype(np.float64) == np.array(want)).all()
    # the float64 sum 2^40 + 2^16 is a binary32 tie, but the exact sum lies 2^-20 above it
    assert fma32(np.array([1.0]), np.array([2.0**16 + 2.0**-20]), np.array([2.0**40]))[0] == 2.0**40 + 2.0**17


def test_max_pool_and_mean_fast_forms_equal_their_definitions():
    rng = np.random.default_rng(10)
    for i in range(6):
        dtype = ("uint8", "int8")[i % 2]
        x = _x(rng, dtype, (2, 3, 7, 6))
        kw = dict(kernel_shape=[3, 2], strides=[1 + i % 2, 2], pads=[i % 2, 1, 1, 0], dilations=[1, 1 + i % 2],
                  ceil_mode=i % 2)
        assert (FAST[("max_pool", "exact")](x, dtype=dtype, **kw) == np.array(_definition("max_pool", "exact")(
            x, dtype=dtype, **kw))).all()
        (sx, sy), (zx, zy) = _scales(rng, 2, KINDS[i % 3]), _zps(rng, dtype, 2)
        axes, keep = [[3], [2, 3], [1], None, [-1, 1], [0, 3]][i], i % 2
        want = np.array(_definition("mean", "exact")(x, sx, zx, sy, zy, axes=axes, keepdims=keep, dtype=dtype))
        assert (FAST[("mean", "exact")](x, sx, zx, sy, zy, axes=axes, keepdims=keep, dtype=dtype) == want).all()
        want = np.array(_definition("mean", "onnx_ref")(x, sx, zx, sy, zy, axes=axes, keepdims=keep, dtype=dtype))
        got = FAST[("mean", "onnx_ref")](x, sx, zx, sy, zy, axes=axes, keepdims=keep, dtype=dtype)
        assert (got == want).all()
