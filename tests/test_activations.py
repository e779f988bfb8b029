"""refquant/activations.py: the exact ideal, and each backend's variant against the peer itself.

Peers: onnxruntime 1.32.0 (com.microsoft QLinearSigmoid / QLinearLeakyRelu / QLinearSoftmax, one
thread) and ai-edge-litert 2.3.0 (LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH under the three kernel
families).  Every int8 / uint8 input is run (exhaustive over 256 values) for the parameter sets
below, which include ties and the near-ties that tell the variants apart; every peer value must be
the modelled one, or one of the candidates of an ImplementationDefined element.  The random sweeps
are the slow tests at the end (docs/ops.md "Activations" has their numbers).
"""

from fractions import Fraction as F

import pytest

from refquant import activations as A
from refquant import activations_int16 as A16
from refquant import backends, qops
from refquant import gemmlowp as gl
from refquant.certified import ImplementationDefined, possible
from refquant.errors import InvalidValueError, ShapeError, SpecError, Unpredictable

I8, U8 = list(range(-128, 128)), list(range(256))


def _same(got, model):
    """Every peer element is the model's value or among its candidates; returns the count of
    implementation-defined elements."""
    from refquant.peers.activations import compare
    c = compare(got, model)
    assert c["unexplained"] == 0, c["examples"]
    return c["implementation_defined"]


# ##########################################################################
# The spec layer alone
# ##########################################################################

def test_exact_sigmoid_tanh_known_values():
    # sigmoid(0) = 1/2 exactly: a tie on the grid 1/256 * 2^-1 is RNE'd
    assert A.sigmoid_exact([0], F(1, 16), 0, F(1, 256), -128, dtype="int8") == [0]
    assert A.sigmoid_exact([0], F(1, 16), 0, F(1, 128), -128, dtype="int8") == [-64]
    assert A.tanh_exact([0, 127, -128], F(1, 16), 0, F(1, 128), 0, dtype="int8") == [0, 127, -128]
    # tanh(1) = 0.76159...: 0.76159 * 128 = 97.48 -> 97
    assert A.tanh_exact([16], F(1, 16), 0, F(1, 128), 0, dtype="int8") == [97]


def test_exact_softmax_rows_and_axis():
    x = [[0, 0], [10, 0]]
    assert A.softmax_exact(x, F(1, 8), 0, F(1, 256), 0, dtype="uint8") == [[128, 128], [199, 57]]
    # along axis 0 the columns are the rows
    assert A.softmax_exact(x, F(1, 8), 0, F(1, 256), 0, dtype="uint8", axis=0) == [[57, 128], [199, 128]]
    with pytest.raises(ShapeError):
        A.softmax_exact(3, F(1, 8), 0, F(1, 256), 0)


def test_hard_swish_tflite_fixed_point_vs_ideal():
    sx, sy = float(F(13421773, 268435456)), float(F(16106127, 536870912))    # fp32(0.05), fp32(0.03)
    ex = A.hard_swish_exact(I8, sx, 0, sy, -20, dtype="int8")
    tf = A.hard_swish_tflite(I8, sx, 0, sy, -20, dtype="int8")
    assert sum(a != b for a, b in zip(ex, tf)) == 5          # the int16 reluish arithmetic, off by one 5 times
    assert all(abs(a - b) <= 1 for a, b in zip(ex, tf))


def test_gemmlowp_primitives():
    assert gl.exp_on_negative_values(0, 4) == (1 << 31) - 1
    assert gl.logistic(0, 4) == 1 << 30 and gl.tanh(0, 4) == 0
    assert gl.get_reciprocal(1 << 19, 12) == (gl.one_over_one_plus_x(0), 0)     # 1.0 in Q12.19
    assert gl.rescale(1 << 30, 0, 12) == 1 << 18 and gl.rescale(-(1 << 30), 2, 0) == -(1 << 31)
    import math
    for a in (-1, -(1 << 20), -(1 << 26), -(3 << 27), -(1 << 30), -(1 << 31)):
        got = gl.exp_on_negative_values(a, 4) / 2**31
        assert abs(got - math.exp(a / 2**27)) < 2**-21    # the Taylor polynomial at -1/8 errs by ~2^-22 at the ends
    for a in (1 << 27, -(1 << 27), 5 << 26):
        assert abs(gl.logistic(a, 4) / 2**31 - 1 / (1 + math.exp(-a / 2**27))) < 2**-24
        assert abs(gl.tanh(a, 4) / 2**31 - math.tanh(a / 2**27)) < 2**-24
    for x in (1 << 19, 3 << 18, (1 << 31) - 1, 12345):
        r, over = gl.get_reciprocal(x, 12)
        assert abs(r / 2**31 * 2.0**-over - 2**19 / x) < 2**-28 * 2.0**-over


def test_tflm_fixed_matches_exact_almost_everywhere():
    sx = float(F(13421773, 268435456))        # fp32(0.05)
    s = A.sigmoid_tflm(I8, sx, 0)
    t = A.tanh_tflm(I8, sx, 0)
    assert sum(a != b for a, b in zip(s, A.sigmoid_exact(I8, sx, 0, F(1, 256), -128, dtype="int8"))) <= 3
    assert sum(a != b for a, b in zip(t, A.tanh_exact(I8, sx, 0, F(1, 128), 0, dtype="int8"))) <= 3
    with pytest.raises(InvalidValueError):
        A.sigmoid_tflm([0], sx, 0, F(1, 128), 0)


def test_mlas_logistic_fma_and_portable_kernels_differ():
    sx, sy = 0.02134474366903305, 0.006106826476752758
    fma = A.sigmoid_ort([100], sx, -128, sy, -53, dtype="int8")
    sse = A.sigmoid_ort([100], sx, -128, sy, -53, dtype="int8", fma=False)
    assert (fma, sse, A.sigmoid_exact([100], sx, -128, sy, -53, dtype="int8")) == ([109], [110], [110])


def test_libm_dependent_entries_are_implementation_defined():
    r = A.tanh_tflite_lut([-33 + 0 * 128], 0.008645349182188511, -128, F(1, 128), 0, dtype="int8")
    assert r == [ImplementationDefined((87, 86), "TANH table: tanhf within 2 ulp")]


def test_errors_and_nested_shapes():
    assert A.sigmoid_exact([[0, 1], [2, 3]], 0.5, 0, F(1, 256), 0) == [[128, 159], [187, 209]]
    with pytest.raises(InvalidValueError):
        A.sigmoid_exact([300], 0.5, 0, F(1, 256), 0)
    with pytest.raises(InvalidValueError):
        A.sigmoid_exact([0], 0.1, 0, F(1, 256), 0)                 # 0.1 is not a binary32 value
    with pytest.raises(Unpredictable):
        A.softmax_ort([0], 0.5, 0, F(1, 256), 0, dtype="uint8")     # fl32(e * 256) overflows: C UB


def test_backend_rows_name_the_variants():
    assert backends.variant("onnxruntime", "sigmoid") is A.sigmoid_ort
    assert backends.variant("litert_xnnpack", "leaky_relu") is A.leaky_relu_xnnpack
    assert backends.variant("exact", "leaky_relu") is qops.leaky_relu
    assert backends.variant("tflite_micro", "tanh") is A.tanh_tflm


# ##########################################################################
# onnxruntime 1.32.0
# ##########################################################################

ORT_SIGMOID = [  # (x_scale, x_zp, y_scale, y_zp) for int8; the first tells FMA3 from SSE2 from exact
    (0.02134474366903305, -128, 0.006106826476752758, -53), (0.05000000074505806, 0, 0.00390625, -128),
    (0.012299999594688416, -7, 0.00430000014603138, -5), (0.0625, 1, 0.0078125, 0)]


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("p", ORT_SIGMOID)
def test_ort_qlinear_sigmoid_exhaustive(p, dtype):
    pytest.importorskip("onnxruntime")
    from refquant.peers.activations import ort_qlinear
    sx, zx, sy, zy = p
    xs, shift = (I8, 0) if dtype == "int8" else (U8, 128)
    got = ort_qlinear("sigmoid", xs, sx, zx + shift, sy, zy + shift, dtype)
    assert _same(got, A.sigmoid_ort(xs, sx, zx + shift, sy, zy + shift, dtype=dtype)) == 0


def test_ort_qlinear_sigmoid_is_not_exact_nor_sse2():
    pytest.importorskip("onnxruntime")
    from refquant.peers.activations import ort_qlinear
    sx, zx, sy, zy = ORT_SIGMOID[0]
    got = ort_qlinear("sigmoid", I8, sx, zx, sy, zy, "int8")
    assert got[100 + 128] == 109
    assert A.sigmoid_exact([100], sx, zx, sy, zy, dtype="int8") == [110]


@pytest.mark.parametrize("p", [(0.7585902810096741, 112, 0.4551541805267334, -63, 0.30000001192092896),
                               (0.0625, 3, 0.03125, -7, 0.5), (0.10000000149011612, -20, 0.05000000074505806, 9,
                                                                0.009999999776482582)])
def test_ort_qlinear_leaky_relu_exhaustive(p):
    pytest.importorskip("onnxruntime")
    from refquant.peers.activations import ort_qlinear
    sx, zx, sy, zy, alpha = p
    got = ort_qlinear("leaky_relu", I8, sx, zx, sy, zy, "int8", alpha=alpha)
    _same(got, A.leaky_relu_ort(I8, sx, zx, sy, zy, dtype="int8", alpha=alpha))
    if p[0] == 0.7585902810096741:   # binary32 alpha*v then divps: 36 of 256 differ from the ideal
        ideal = qops.leaky_relu(I8, sx, zx, sy, zy, dtype="int8", alpha=alpha)
        assert sum(int(g) != e for g, e in zip(got, ideal)) == 36


def test_ort_qlinear_softmax_rows():
    pytest.importorskip("onnxruntime")
    from refquant.peers.activations import ort_qlinear
    rows = [[43, 7, 18, -111, -88, -21], [-117, 110, 15, 112, -121, -47], [83, -89, 37, -54, -107, -95],
            [-88, -62, 73, 108, 37, 96], [127, -128, 0, 5, 5, 5]]
    sx, zx, sy, zy = 0.0716676339507103, -64, 0.006784955505281687, -128
    got = ort_qlinear("softmax", rows, sx, zx, sy, zy, "int8")
    model = A.softmax_ort(rows, sx, zx, sy, zy, dtype="int8")
    _same(got, model)
    # y_scale enters only as floor(1 / y_scale) = 147, not 1 / 0.00678... = 147.38: the ideal differs
    ideal = A.softmax_exact(rows, sx, zx, sy, zy, dtype="int8")
    assert sum(int(g) != e for g, e in zip(got.ravel(), [v for r in ideal for v in r])) >= 2
    # a dominant element saturates at 127 (int8)
    got = ort_qlinear("softmax", [[127, -128]], 0.25, 0, 1 / 256, -128, "int8")
    assert got.tolist() == [[127, -128]] == A.softmax_ort([[127, -128]], 0.25, 0, 1 / 256, -128, dtype="int8")


# ##########################################################################
# ai-edge-litert 2.3.0: reference, optimized, XNNPACK
# ##########################################################################

LITERT_TIES = [  # (op, x_scale, x_zp): binary32 table entries that land on k + 1/2
    ("sigmoid", 0.010885007679462433, -128), ("sigmoid", 0.015153616666793823, -128),
    ("tanh", 0.011895225383341312, 127), ("tanh", 0.008645349182188511, -128)]


@pytest.mark.parametrize("case", LITERT_TIES)
def test_litert_logistic_tanh_three_families(case):
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    op, sx, zx = case
    sy, zy = (F(1, 256), -128) if op == "sigmoid" else (F(1, 128), 0)
    for family, row in (("ref", "litert_ref"), ("optimized", "litert_optimized"), ("xnnpack", "litert_xnnpack")):
        got, delegated = litert_unary(op, [I8], sx, zx, float(sy), zy, "int8", family)
        assert delegated == [family == "xnnpack"]
        _same(got[0], backends.variant(row, op)(I8, sx, zx, sy, zy, dtype="int8"))


def test_litert_tie_rounding_differs_between_families():
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    sx = 0.010885007679462433                    # q = -10: the table value is exactly 200.5 / 256
    ref, _ = litert_unary("sigmoid", [I8], sx, -128, 1 / 256, -128, "int8", "ref")
    xnn, _ = litert_unary("sigmoid", [I8], sx, -128, 1 / 256, -128, "int8", "xnnpack")
    assert (int(ref[0][118]), int(xnn[0][118])) == (73, 72)      # half away vs lrintf (RNE)
    assert A.sigmoid_exact([-10], sx, -128, F(1, 256), -128, dtype="int8") == [72]


@pytest.mark.parametrize("p", [(0.014578553847968578, 23, 0.007289276923984289, 25, -0.30000001192092896),
                               (0.09341060370206833, -34, 0.1947777271270752, 126, 0.10000000149011612),
                               (0.016014056280255318, 0, 0.7058713436126709, 3, 0.009999999776482582)])
def test_litert_leaky_relu_hard_swish(p):
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    sx, zx, sy, zy, alpha = p
    for family, row in (("ref", "litert_ref"), ("optimized", "litert_optimized"), ("xnnpack", "litert_xnnpack")):
        got, _ = litert_unary("leaky_relu", [I8], sx, zx, sy, zy, "int8", family, alpha=alpha)
        _same(got[0], backends.variant(row, "leaky_relu")(I8, sx, zx, sy, zy, dtype="int8", alpha=alpha))
        got, _ = litert_unary("hard_swish", [I8], sx, zx, sy, zy, "int8", family)
        _same(got[0], backends.variant(row, "hard_swish")(I8, sx, zx, sy, zy, dtype="int8"))


@pytest.mark.parametrize("p", [(0.05000000074505806, [[1, 5, -3, 127, 100], [0, 0, 0, 0, 0]], 1.0),
                               (0.7071067690849304, [list(range(-128, 128))], 1.0),
                               (0.0078125, [[-128, 127, 3, 3, -5, 40, 41, 42]], 2.0)])
def test_litert_softmax(p):
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    sx, rows, beta = p
    for family, row in (("ref", "litert_ref"), ("optimized", "litert_optimized"), ("xnnpack", "litert_xnnpack")):
        got, delegated = litert_unary("softmax", rows, sx, 0, 1 / 256, -128, "int8", family, beta=beta)
        assert delegated == [False]                      # XNNPACK declines int8 SOFTMAX
        _same(got, backends.variant(row, "softmax")(rows, sx, 0, F(1, 256), -128, dtype="int8", beta=beta))


def test_litert_uint8_every_op():
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    sx, zx, sy, zy, alpha = 0.03125, 131, 0.0625, 17, -0.2
    rows = [[3, 250, 17, 17, 90, 255, 0, 128, 7]]
    for op, q, extra in (("sigmoid", (1 / 256, 0), {}), ("tanh", (1 / 128, 128), {}),
                         ("leaky_relu", (sy, zy), {"alpha": alpha}), ("hard_swish", (sy, zy), {}),
                         ("softmax", (1 / 256, 0), {})):
        x = rows if op == "softmax" else [U8]
        for family in ("ref", "optimized", "xnnpack"):
            got, _ = litert_unary(op, x, sx, zx, *q, "uint8", family, **extra)
            want = backends.variant(f"litert_{family}", op)(x if op == "softmax" else U8, sx, zx, *q, dtype="uint8",
                                                            **extra)
            _same(got if op == "softmax" else got[0], want)


def test_tflite_softmax_checks_and_diff_min():
    with pytest.raises(SpecError):
        A.softmax_tflite([[0, 1]], 0.5, 0, 0.5, -128, dtype="int8")
    # input scale 1: differences below diff_min = -floor(31 * 2^26 / 2^shift) give qmin outright
    assert A.softmax_tflite([[127, -128]], 1.0, 0, F(1, 256), -128, dtype="int8") == [[127, -128]]


def test_int16_softmax_tables_do_not_depend_on_the_libm():
    exp_lut, recip_lut = A16.softmax_int16_luts()   # lut_populate_int16 raises if any entry did
    assert len(exp_lut) == len(recip_lut) == 513
    assert (exp_lut[0], exp_lut[512], recip_lut[0], recip_lut[512]) == (2, 32767, 32767, 16384)
    assert A16.lut_lookup_int16(32767, exp_lut) == 32762 and A16.lut_lookup_int16(-32768, exp_lut) == 2   # exp(0) -> 32762


@pytest.mark.parametrize("p", [(0.0009765625, [[0, 7, -9000, 20000, 32767, -32768, 5, 5]], 1.0),
                               (3.0517578125e-05, [list(range(-32768, 32768, 4099))], 2.0)])
def test_litert_softmax_int16(p):
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    sx, rows, beta = p
    want = A16.softmax_tflite_int16(rows, sx, 0, F(1, 32768), 0, beta=beta)
    for family in ("ref", "optimized", "xnnpack"):
        got, _ = litert_unary("softmax_int16", rows, sx, 0, 1 / 32768, 0, "int16", family, beta=beta)
        assert got.tolist() == want
    with pytest.raises(SpecError):
        A16.softmax_tflite_int16(rows, sx, 3, F(1, 32768), 0)


def test_sigmoid_table_uint16():
    t = A16.sigmoid_table_uint16()
    assert len(t) == 256 and t[0] == 32768 and t[1] == 33451 and t[4] == 35493 and t[255] == 65535
    assert all(a <= b for a, b in zip(t, t[1:]))


@pytest.mark.parametrize("sx", [0.0003000000142492354, 2.0 ** -10, 2.0 ** -12, 2.0 ** -11])
def test_litert_logistic_tanh_int16(sx):
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    x = list(range(-32768, 32768, 37)) + [32767, -1, 0, 1]
    for op in ("sigmoid_int16", "tanh_int16"):
        for family in ("ref", "optimized", "xnnpack"):
            for xs in (x, x[1000:1013]):                # blocks of 8 (SSE lanes), a 13-element input (scalar tail)
                want = backends.variant(f"litert_{family}", op)(xs, sx, 0, 2.0 ** -15, 0)
                got, _ = litert_unary(op, [xs], sx, 0, 2.0 ** -15, 0, "int16", family)
                assert got[0].tolist() == want, (op, family, len(xs))


@pytest.mark.slow
def test_litert_logistic_tanh_int16_every_input():
    """All 65,536 int16 inputs at eight input scales (three of them powers of two), three families."""
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    x = list(range(-32768, 32768))
    for sx in (2.0 ** -12, 2.0 ** -11, 2.0 ** -10, 0.0003000000142492354, 0.0010000000474974513,
               9.999999747378752e-05, 2.0 ** -15, 0.001230000052601099):
        for op in ("sigmoid_int16", "tanh_int16"):
            for family in ("ref", "optimized", "xnnpack"):
                want = backends.variant(f"litert_{family}", op)(x, sx, 0, 2.0 ** -15, 0)
                got, _ = litert_unary(op, [x], sx, 0, 2.0 ** -15, 0, "int16", family)
                assert got[0].tolist() == want, (op, family, sx)


def test_gemmlowp_int16_logistic_tanh_points():
    """gemmlowp's 16-bit logistic / tanh (FixedPoint<int16, 3> in, Q0.15 out) at hand-checked points,
    and the SSE lanes' RoundingHalfSum giving the scalar result (its sum is never negative here)."""
    from refquant import gemmlowp as G
    assert [G.logistic16(q) for q in (-32768, -1, 0, 1, 4096, 32767)] == [11, 16383, 16384, 16384, 23952, 32756]
    assert [G.tanh16(q) for q in (-32768, -1, 0, 1, 100, 32767)] == [-32767, -8, 0, 8, 792, 32767]
    assert G.multiply_by_pot16(20000, 1) == 32767 and G.multiply_by_pot16(-20000, 1) == -32768
    for q in range(-32768, 32768, 61):
        assert G.logistic16(q, 3, True) == G.logistic16(q) and G.tanh16(q, 3, True) == G.tanh16(q)


@pytest.mark.slow
def test_gemmlowp_int16_lanes_equal_scalar_every_input():
    from refquant import gemmlowp as G
    for q in range(-32768, 32768):
        assert G.logistic16(q, 3, True) == G.logistic16(q) and G.tanh16(q, 3, True) == G.tanh16(q)
        assert G.tanh16(G.multiply_by_pot16(q, 1), 3, True) == G.tanh16(G.multiply_by_pot16(q, 1))


@pytest.mark.slow
def test_litert_softmax_int16_every_input():
    """All 65,536 int16 inputs, as 256 rows of 256 distinct values, three input scales, three families."""
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_unary
    rows = [[(r * 256 + c * 97) % 65536 - 32768 for c in range(256)] for r in range(256)]
    for sx in (0.0009765625, 0.0001220703125, 0.0003000000142492354):
        want = A16.softmax_tflite_int16(rows, sx, 0, F(1, 32768), 0)
        for family in ("ref", "optimized", "xnnpack"):
            got, _ = litert_unary("softmax_int16", rows, sx, 0, 1 / 32768, 0, "int16", family)
            assert got.tolist() == want


# ##########################################################################
# Slow: seeded random sweeps (the numbers in docs/ops.md)
# ##########################################################################

@pytest.mark.slow
def test_sweep_ort():
    pytest.importorskip("onnxruntime")
    from refquant.peers.activations import sweep_ort
    for op, counts in sweep_ort(seed=1, n=40).items():
        assert counts["unexplained"] == 0, (op, counts)


@pytest.mark.slow
def test_sweep_litert():
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import sweep_litert
    for key, counts in sweep_litert(seed=7, n=30).items():
        assert counts["unexplained"] == 0, (key, counts)


def test_possible_helper():
    assert possible(ImplementationDefined((1, 2), "x")) == {1, 2}


@pytest.mark.slow
def test_litert_verify_activation_rows():
    """``refquant verify litert``'s activation rows: 0 unexplained; the power-of-two int16 rows of the
    optimized families show the gemmlowp int16 deviation."""
    pytest.importorskip("ai_edge_litert")
    from refquant.peers.activations import litert_activation_rows
    rows = litert_activation_rows("2.3.0")
    assert len(rows) == 39 and not [r for r in rows if r.status == "differ"]
    pot = [r for r in rows if r.op.endswith("_int16") and ("0.000244140625" in r.flag or "0.00048828125" in r.flag)]
    assert len(pot) == 6 and all(r.status == "known" for r in pot)
