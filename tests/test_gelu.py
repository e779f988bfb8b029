"""GELU and QuickGelu: the certified erf / GELU enclosures (refquant/certified.py), the exact variants
(refquant/activations.py) and onnxruntime 1.32.0's QDQ Gelu (ONNX Gelu-20, com.microsoft Gelu)
and com.microsoft QuickGelu against them."""

import math
from fractions import Fraction

import numpy as np
import pytest

from refquant import activations as A
from refquant import backends, certified


@pytest.mark.parametrize("x", [Fraction(1, 3), Fraction(-5, 2), Fraction(7), Fraction(1, 1000), Fraction(30),
                               Fraction(-100), Fraction(3, 2)])
def test_erf_and_gelu_enclosures_contain_the_libm_values(x):
    lo, hi = certified.enclose("erf", x, 30)
    assert lo <= hi and hi - lo < Fraction(1, 10**25)
    e = Fraction(math.erf(float(x)))
    assert abs(e - (lo + hi) / 2) <= Fraction(1, 2**52)           # libm erf is within an ulp or so
    glo, ghi = certified.enclose("gelu", x, 30)
    g = float(x) / 2 * (1 + math.erf(float(x) / math.sqrt(2)))
    # the float formula cancels in 1 + erf(x) for x < 0: compare within a relative 1e-12
    assert glo <= ghi and abs(Fraction(g) - glo) <= abs(Fraction(g)) * Fraction(1, 10**12) + Fraction(1, 2**1000)


def test_exact_points_and_correct_rounding():
    assert certified.enclose("erf", 0) == (0, 0) and certified.enclose("gelu", 0) == (0, 0)
    assert certified.round_nearest("erf", Fraction(1, 2), "fp64") == Fraction(math.erf(0.5))
    assert float(certified.round_nearest("gelu", Fraction(3, 4), "fp64")) == pytest.approx(0.5800294857173488, abs=1e-16)


def test_exact_variants_are_named_by_the_exact_row():
    assert backends.variant("exact", "gelu") is A.gelu_exact
    assert backends.variant("exact", "quick_gelu") is A.quick_gelu_exact
    x = [120, 128, 136, 200]
    sx, sy = float(np.float32(0.05)), float(np.float32(0.03))
    assert A.gelu_exact(x, sx, 128, sy, 20) == [
        round((v := sx * (q - 128)) / 2 * (1 + math.erf(v / math.sqrt(2))) / sy) + 20 for q in x]


def _ort_qdq(op, domain, x, sx, zx, sy, zy):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    h, nh = onnx.helper, onnx.numpy_helper
    t = h.np_dtype_to_tensor_dtype(x.dtype)
    nodes = [h.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]), h.make_node(op, ["xf"], ["yf"], domain=domain),
             h.make_node("QuantizeLinear", ["yf", "ys", "yz"], ["y"])]
    inits = [nh.from_array(np.array(sx, np.float32), "xs"), nh.from_array(np.array(zx, x.dtype), "xz"),
             nh.from_array(np.array(sy, np.float32), "ys"), nh.from_array(np.array(zy, x.dtype), "yz")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", t, list(x.shape))],
                     [h.make_tensor_value_info("y", t, None)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 20), h.make_opsetid("com.microsoft", 1)])
    m.ir_version = 10
    so = ort.SessionOptions()
    so.log_severity_level, so.intra_op_num_threads = 3, 1
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("op, domain", [("Gelu", ""), ("Gelu", "com.microsoft"), ("QuickGelu", "com.microsoft")])
def test_onnxruntime_qdq_gelu_equals_the_exact_variant(op, domain):
    x = np.arange(-128, 128, 2).astype(np.int8)
    sx, sy = float(np.float32(0.05)), float(np.float32(0.02))
    got = _ort_qdq(op, domain, x, sx, -3, sy, -100)
    fn = A.gelu_exact if op == "Gelu" else A.quick_gelu_exact
    assert (got == np.array(fn(x, sx, -3, sy, -100, dtype="int8"))).all()
