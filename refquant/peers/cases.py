"""Deterministic built-in cases every peer runs: seeded matmul cases, binary32 near-tie inputs,
a near-tie QLinearMatMul case and its QLinearConv twin, and the oracle results they are judged by."""

import functools
import zlib

import numpy as np

from .. import ops
from .. import requant as rq


def rng(tag):
    return np.random.default_rng(zlib.crc32(tag.encode()))


def f32(v):
    return float(np.float32(v))


def hexf(bits):
    """A binary32 given as its hex bit pattern (as the golden vectors store scales)."""
    return float(np.array([int(bits, 16)], np.uint32).view(np.float32)[0])


def mm_case(a_type, b_type, tag, M=7, K=37, N=9, per_column=False):
    g = rng(tag)
    ta = {"int8": (-128, 128, np.int8), "uint8": (0, 256, np.uint8)}
    a = g.integers(ta[a_type][0], ta[a_type][1], (M, K)).astype(ta[a_type][2])
    b = g.integers(ta[b_type][0], ta[b_type][1], (K, N)).astype(ta[b_type][2])
    za = int(g.integers(ta[a_type][0], ta[a_type][1]))
    zb = (g.integers(ta[b_type][0], ta[b_type][1], N) if per_column
          else np.array(int(g.integers(ta[b_type][0], ta[b_type][1])))).astype(ta[b_type][2])
    sa, sy = f32(2.0 ** g.uniform(-7, -3)), f32(2.0 ** g.uniform(-3, 0))
    sb = (np.array([f32(2.0 ** g.uniform(-8, -4)) for _ in range(N)], np.float32) if per_column
          else np.float32(2.0 ** g.uniform(-8, -4)))
    zy = int(g.integers(ta[a_type][0], ta[a_type][1]))
    return dict(a=a, b=b, za=za, zb=zb, sa=sa, sb=sb, sy=sy, zy=zy, a_type=a_type, b_type=b_type)


def oracle_acc(c):
    zb = c["zb"].tolist() if np.ndim(c["zb"]) else int(c["zb"])
    return np.array(ops.matmul_integer(c["a"].tolist(), c["b"].tolist(), c["za"], zb, c["a_type"], c["b_type"]),
                    dtype=np.int64)


def oracle_qlinear(c, method, y_type=None):
    sb = [float(v) for v in c["sb"]] if np.ndim(c["sb"]) else float(c["sb"])
    zb = c["zb"].tolist() if np.ndim(c["zb"]) else int(c["zb"])
    return np.array(ops.qlinear_matmul(c["a"].tolist(), c["sa"], c["za"], c["b"].tolist(), sb, zb, c["sy"], c["zy"],
                                       method=method, a_type=c["a_type"], b_type=c["b_type"], y_type=y_type),
                    dtype=np.int64)


def near_tie_case(a_type="uint8", b_type="int8"):
    c = _near_tie_case(a_type, b_type)
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in c.items()}


@functools.cache
def _near_tie_case(a_type, b_type):
    """A deterministic QLinearMatMul case (K = 1) where binary32 requantization (ORT) and the
    exact rational result differ on at least one element: found by a seeded search."""
    from ..audit.numpy_forms import exact_round
    g = rng("near-tie")
    lo_a, hi_a = (0, 256) if a_type == "uint8" else (-128, 128)
    lo_b, hi_b = (0, 256) if b_type == "uint8" else (-128, 128)
    a = np.arange(lo_a, hi_a).reshape(-1, 1)
    b = np.arange(lo_b, hi_b).reshape(1, -1)
    za, zb = (128 if a_type == "uint8" else 0), (128 if b_type == "uint8" else 0)
    acc = (a - za) * (b - zb)
    for _ in range(3000):
        sa, sb = (f32(2.0 ** g.uniform(-8, -2)) for _ in range(2))
        sy = f32(sa * sb / (127.0 / 16384 * g.uniform(0.7, 1.3)))
        M = rq.fl32(rq.fl32(rq.scale_value(sa) * rq.scale_value(sb)) / rq.scale_value(sy))
        v32 = np.rint(acc.astype(np.float32) * np.float32(float(M)))
        ex = exact_round(acc, [rq.scale_value(sa) * rq.scale_value(sb) / rq.scale_value(sy)], np.zeros_like(acc),
                          "half_even")
        inner = (np.abs(ex) < 120)
        if ((v32 != ex) & inner).any():
            a_dt, b_dt = (np.uint8 if a_type == "uint8" else np.int8), (np.uint8 if b_type == "uint8" else np.int8)
            return dict(a=a.astype(a_dt), b=b.astype(b_dt), za=za, zb=np.array(zb).astype(b_dt),
                        sa=sa, sb=np.float32(sb), sy=sy, zy=(128 if a_type == "uint8" else 0), a_type=a_type,
                        b_type=b_type)
    raise RuntimeError("no near-tie case found")


def conv_tie_case():
    """A QLinearConv case (1x1 kernel, C = 1) whose accumulators (x - zx)*w are the near-tie
    products of near_tie_case: x (1, 1, 256, 1) uint8, w (256, 1, 1, 1) int8, per-tensor scales."""
    c = near_tie_case("uint8", "int8")
    x = c["a"].reshape(1, 1, -1, 1)
    w = c["b"].reshape(-1, 1, 1, 1)
    return dict(op="qlinear_conv", x=x, w=w, x_type="uint8", w_type="int8", y_type="uint8", x_zero_point=c["za"],
                w_zero_point=int(c["zb"]), y_zero_point=c["zy"], x_scale=c["sa"], w_scale=float(c["sb"]),
                y_scale=c["sy"])


QUANT_X = np.array([0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.25, -7.75, 100.4, -100.6, 126.5, 127.5, -128.5,
                    -129.5, 300, -300, 1e6, -1e6, 0.1, 0.2, 0.3, -0.7, 12.345, 63.5, -63.5], dtype=np.float32)
FP8_X = np.array([0, 1, -1, 0.3, 447, 460, 470, 480, 488, 490, 495, 496, 500, 1000, -470, -480, -490, -496,
                  57344, 60000, 61440, 62000, 65519, 65520, 70000, -61440, -63000, -65536, -70000, 1e9, -1e9],
                 dtype=np.float32)


def tie_inputs(scale, n=64):
    """x = fl32((k + 1/2) * s): binary32 near-ties of x/s, where x/s and x*(1/s) disagree."""
    k = np.arange(-n // 2, n // 2)
    return ((k + 0.5) * np.float64(scale)).astype(np.float32)
