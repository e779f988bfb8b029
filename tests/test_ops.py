"""refquant.ops against numpy integer arithmetic, the contract's policies, and bad input."""


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peers import need
from refquant import ops
from refquant import requant as rq
from refquant.errors import AccumulatorOverflowError, InvalidValueError, ShapeError, UnknownNameError
from refquant.integers import Accumulator

np = need("numpy")

RANGES = {"uint8": (0, 255), "int8": (-128, 127), "int4": (-8, 7), "uint4": (0, 15), "int16": (-32768, 32767)}


def rand(rng, t, shape):
    lo, hi = RANGES[t]
    return rng.integers(lo, hi, shape, endpoint=True)


# --------------------------------------------------------------------------
# matmul_integer vs numpy int64 matmul (exact; no overflow at these sizes)
# --------------------------------------------------------------------------

shapes = st.sampled_from([
    ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 2)),
    ((2, 1, 3, 4), (5, 4, 2)), ((1, 3, 4), (2, 4, 6)), ((3, 2, 1, 4), (1, 4, 3)),
])


@settings(max_examples=60, deadline=None)
@given(shapes, st.sampled_from(list(RANGES)), st.sampled_from(list(RANGES)), st.integers(0, 2**32 - 1),
       st.booleans(), st.booleans())
def test_matmul_integer_vs_numpy(shp, ta, tb, seed, per_row, per_col):
    rng = np.random.default_rng(seed)
    sa, sb = shp
    A, B = rand(rng, ta, sa), rand(rng, tb, sb)
    M = sa[-2] if len(sa) > 1 else 1
    N = sb[-1] if len(sb) > 1 else 1
    za = rand(rng, ta, (M,)) if per_row else rand(rng, ta, ())
    zb = rand(rng, tb, (N,)) if per_col else rand(rng, tb, ())
    Ad = A - (za[:, None] if per_row and len(sa) > 1 else za)
    Bd = B - zb
    expected = (np.matmul(Ad, Bd) + 2**31) % 2**32 - 2**31   # the default accumulator wraps
    got = ops.matmul_integer(A.tolist(), B.tolist(), za.tolist(), zb.tolist(), ta, tb)
    assert np.array_equal(np.array(got, dtype=np.int64).reshape(expected.shape), expected)
    assert np.array(got).shape == expected.shape or expected.size == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 300), st.integers(1, 4), st.integers(0, 2**32 - 1),
       st.sampled_from(["wrap", "saturate"]), st.integers(8, 24))
def test_accumulator_policies_follow_k_order(M, K, N, seed, policy, width):
    """Narrow accumulators force overflow; compare with an independent k-ordered loop."""
    rng = np.random.default_rng(seed)
    A, B = rand(rng, "int8", (M, K)), rand(rng, "int8", (K, N))
    bias = rng.integers(-1000, 1000, N)
    lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
    acc = Accumulator(width, policy)
    got = ops.matmul_integer(A.tolist(), B.tolist(), 0, 0, "int8", "int8", acc, bias.tolist())
    for i in range(M):
        for j in range(N):
            s, count = 0, 0
            for t in [int(A[i, k]) * int(B[k, j]) for k in range(K)] + [int(bias[j])]:
                v = s + t
                if not lo <= v <= hi:
                    count += 1
                    v = min(max(v, lo), hi) if policy == "saturate" else (v - lo) % 2**width + lo
                s = v
            assert got[i][j] == s
            assert acc.overflows.get((i, j), 0) == count


def test_error_policy_names_output_and_k():
    # 64*127 = 8128 per term: partial sums 8128, 16256, 24384, 32512, 40640 -> int16 overflow at k = 4
    A = [[1] * 5, [64] * 5]
    with pytest.raises(AccumulatorOverflowError, match=r"output \(1, 0\).*k = 4"):
        ops.matmul_integer(A, [[127]] * 5, a_type="int8", b_type="int8", accumulator=Accumulator(16, "error"))
    # 127*127 = 16129 per term: overflows at k = 2
    with pytest.raises(AccumulatorOverflowError, match=r"output \(0, 0\).*k = 2"):
        ops.matmul_integer([[127] * 5], [[127]] * 5, a_type="int8", b_type="int8",
                           accumulator=Accumulator(16, "error"))


def test_int32_overflow_under_error_policy():
    K = 33100
    with pytest.raises(AccumulatorOverflowError, match=r"int32 accumulator overflow at output \(0, 0\).*k = 33025"):
        ops.matmul_integer([[255] * K], [[255]] * K, accumulator=Accumulator(32, "error"))


def test_saturate_is_order_dependent_and_k_ascending():
    # terms +100, +100, -100 in int8: saturate gives 127 - 100 = 27, the exact sum is 100
    A = [[100, 100, -100]]
    B = [[1], [1], [1]]
    acc = Accumulator(8, "saturate")
    assert ops.matmul_integer(A, B, a_type="int8", b_type="int8", accumulator=acc) == [[27]]
    assert acc.overflows == {(0, 0): 1}
    acc = Accumulator(8, "wrap")
    assert ops.matmul_integer(A, B, a_type="int8", b_type="int8", accumulator=acc) == [[100]]


def test_bias_is_one_more_step():
    acc = Accumulator(8, "saturate")
    assert ops.matmul_integer([[100]], [[1]], a_type="int8", b_type="int8", accumulator=acc, bias=[100]) == [[127]]
    assert acc.overflows == {(0, 0): 1}
    acc = Accumulator(8, "error")
    with pytest.raises(AccumulatorOverflowError, match="the bias step"):
        ops.matmul_integer([[100]], [[1]], a_type="int8", b_type="int8", accumulator=acc, bias=[100])


def test_bad_input_is_named():
    with pytest.raises(ShapeError, match="inner dimensions differ"):
        ops.matmul_integer([[1, 2]], [[1, 2]])
    with pytest.raises(ShapeError, match="ragged"):
        ops.matmul_integer([[1, 2], [3]], [[1], [2]])
    with pytest.raises(ShapeError, match="do not broadcast"):
        ops.matmul_integer([[[1]]] * 2, [[[1]]] * 3)
    with pytest.raises(InvalidValueError, match=r"A\[1, 0\] = 256 is not a uint8"):
        ops.matmul_integer([[1], [256]], [[1]])
    with pytest.raises(InvalidValueError, match=r"B\[0, 0\] = -129 is not a int8"):
        ops.matmul_integer([[1]], [[-129]], b_type="int8")
    with pytest.raises(InvalidValueError, match=r"a_zero_point\[0\] = -1 is not a uint8"):
        ops.matmul_integer([[1]], [[1]], a_zero_point=-1)
    with pytest.raises(InvalidValueError, match=r"b_zero_point\[1\] = 128"):
        ops.matmul_integer([[1]], [[1, 2]], b_zero_point=[0, 128], b_type="int8")
    with pytest.raises(ShapeError, match="b_zero_point has 3 values; expected 1 or 2"):
        ops.matmul_integer([[1]], [[1, 2]], b_zero_point=[0, 1, 2])
    with pytest.raises(ShapeError, match="a_zero_point has 2 values; expected 1 or 3"):
        ops.matmul_integer([[1], [2], [3]], [[1]], a_zero_point=[0, 1])
    with pytest.raises(ShapeError, match="bias has 3 values; expected 2"):
        ops.matmul_integer([[1]], [[1, 2]], bias=[1, 2, 3])
    with pytest.raises(InvalidValueError, match=r"bias\[0\] = 2147483648 is not an int32"):
        ops.matmul_integer([[1]], [[1]], bias=[2**31])
    with pytest.raises(UnknownNameError, match="integer type"):
        ops.matmul_integer([[1]], [[1]], a_type="uint7")
    with pytest.raises(InvalidValueError, match=r"A\[0, 0\] = 1.0"):
        ops.matmul_integer([[1.0]], [[1]])


def test_qlinear_matmul_bad_per_channel_length():
    with pytest.raises(ShapeError, match="3 per-channel parameters but axis -1 has 2"):
        ops.qlinear_matmul([[1]], 1.0, 0, [[1, 2]], [1.0, 0.5, 0.25], 0, 1.0, 0)
    with pytest.raises(InvalidValueError, match="output zero point 300"):
        ops.qlinear_matmul([[1]], 1.0, 0, [[1, 2]], 1.0, 0, 1.0, 300)


def test_matmul_takes_the_fast_path_when_no_partial_sum_can_overflow(monkeypatch):
    """The contract's fast path (docs/gemm-contract.md §2): in-bound inputs never enter the k-ordered
    step loop; one more unit of range does.  (Speed itself: bench/oracle.py, never a timed test.)"""
    calls = []
    real = ops.accumulate
    monkeypatch.setattr(ops, "accumulate", lambda *a, **k: calls.append(1) or real(*a, **k))
    A, B = [[255] * 4], [[-128]] * 4                      # |sum| = 4 * 255 * 128 = 130560
    assert ops.matmul_integer(A, B, 0, 0, "uint8", "int8", Accumulator(18, "wrap")) == [[-130560]]
    assert calls == []                                    # 130560 <= 2^17 - 1 = 131071
    assert ops.matmul_integer(A, B, 0, 0, "uint8", "int8", Accumulator(17, "wrap")) == [[-130560 + 2**17]]
    assert calls == [1]


# --------------------------------------------------------------------------
# conv_integer / qlinear_conv vs a direct numpy definition
# --------------------------------------------------------------------------

def numpy_conv(x, w, zx, zw, strides, pads, dilations, group):
    N, C, H, W = x.shape
    M, Cg, kH, kW = w.shape
    xp = np.full((N, C, H + pads[0] + pads[2], W + pads[1] + pads[3]), zx, dtype=np.int64)
    xp[:, :, pads[0]:pads[0] + H, pads[1]:pads[1] + W] = x
    xd = xp - zx
    wd = w.astype(np.int64) - np.asarray(zw).reshape(-1, 1, 1, 1)
    OH = (xp.shape[2] - dilations[0] * (kH - 1) - 1) // strides[0] + 1
    OW = (xp.shape[3] - dilations[1] * (kW - 1) - 1) // strides[1] + 1
    out = np.zeros((N, M, OH, OW), np.int64)
    per = M // group
    for m in range(M):
        g = m // per
        for oh in range(OH):
            for ow in range(OW):
                h0, w0 = oh * strides[0], ow * strides[1]
                patch = xd[:, g * Cg:(g + 1) * Cg, h0:h0 + dilations[0] * kH:dilations[0],
                           w0:w0 + dilations[1] * kW:dilations[1]]
                out[:, m, oh, ow] = (patch * wd[m]).sum(axis=(1, 2, 3))
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 3]), st.booleans())
def test_conv_integer_vs_numpy(seed, group, per_channel_zp):
    rng = np.random.default_rng(seed)
    C, M = group * int(rng.integers(1, 3)), group * int(rng.integers(1, 3))
    kH, kW = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x = rand(rng, "uint8", (2, C, 7, 6))
    w = rand(rng, "int8", (M, C // group, kH, kW))
    zx = int(rng.integers(0, 256))
    zw = rand(rng, "int8", (M,)) if per_channel_zp else int(rng.integers(-128, 128))
    strides = [int(v) for v in rng.integers(1, 3, 2)]
    pads = [int(v) for v in rng.integers(0, 3, 4)]
    dil = [int(v) for v in rng.integers(1, 3, 2)]
    expected = numpy_conv(x, w, zx, zw if per_channel_zp else [zw] * M, strides, pads, dil, group)
    got = ops.conv_integer(x.tolist(), w.tolist(), zx, zw.tolist() if per_channel_zp else zw, x_type="uint8",
                           w_type="int8", strides=strides, pads=pads, dilations=dil, group=group)
    assert np.array_equal(np.array(got), expected)


def test_conv_padding_uses_input_zero_point():
    # a 1x1 image padded by 1 with zp 7: padded taps contribute (7-7)*w = 0
    got = ops.conv_integer([[[[9]]]], [[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]]], 7, 0, pads=[1, 1, 1, 1])
    assert got == [[[[2]]]]


def test_conv_bad_input():
    x = [[[[1, 2], [3, 4]]]]
    with pytest.raises(ShapeError, match="groups = 2"):
        ops.conv_integer(x, [[[[1]]]], group=2)
    with pytest.raises(ShapeError, match="2 strides, 4 pads"):
        ops.conv_integer(x, [[[[1]]]], pads=[0, 0])
    with pytest.raises(ShapeError, match="output would be empty"):
        ops.conv_integer(x, [[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]]])
    with pytest.raises(ShapeError, match="w_zero_point has 2 values; expected 1 or 1"):
        ops.conv_integer(x, [[[[1]]]], 0, [0, 0])
    with pytest.raises(ShapeError, match="2 per-channel parameters but axis 1 has 1"):
        ops.qlinear_conv(x, 1.0, 0, [[[[1]]]], [1.0, 0.5], 0, 1.0, 0)


# --------------------------------------------------------------------------
# qlinear_matmul with every method; dequantizing variant; explain
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method", sorted(set(rq.METHODS) - {"int32"}))
def test_qlinear_matmul_runs_every_method_and_matches_requantize(method):
    rng = np.random.default_rng(3)
    a, b = rand(rng, "uint8", (3, 20)).tolist(), rand(rng, "int8", (20, 4)).tolist()
    sa, sb, sy = 0.0078125, [0.00390625, 0.0048828125, 0.001953125, 0.0029296875], 0.0625
    y = ops.qlinear_matmul(a, sa, 128, b, sb, 0, sy, 5, method=method, b_type="int8")
    accs = ops.matmul_integer(a, b, 128, 0, "uint8", "int8")
    params = rq.derive_params(method, sa, sb, sy)
    assert y == rq.requantize(accs, method, params, 5, "uint8")


def test_qlinear_matmul_int32_bias_and_float_bias():
    a, b = [[10, 20]], [[3], [4]]
    # int32 bias goes through the accumulator: acc = (10-0)*3 + 20*4 + 7 = 117
    assert ops.qlinear_matmul(a, 1.0, 0, b, 1.0, 0, 1.0, 0, method="exact", bias=[7]) == [[117]]
    # qnnpack turns a float bias into qint32 at scale fl(w*in) and adds it in the accumulator
    y = ops.qlinear_matmul(a, 0.5, 0, b, 0.25, 0, 1.0, 0, method="torch_qnnpack", float_bias=[1.0])
    assert y == [[round((110 + 8) * 0.125)]]
    with pytest.raises(InvalidValueError, match="either an int32 bias or a float bias"):
        ops.qlinear_matmul(a, 0.5, 0, b, 0.25, 0, 1.0, 0, method="torch_qnnpack", float_bias=[1.0], bias=[1])


def test_dequantize_matmul():
    y = ops.dequantize_matmul([[1, 2]], 0.5, 0, [[3, 1], [4, 1]], [0.25, 0.125], 0, float_bias=[1.0, -1.0])
    assert y == [[11 * 0.125 + 1.0, 3 * 0.0625 - 1.0]]


def test_explain_qlinear_matmul_trace():
    a = [[255] * 10, [0] * 10]
    b = [[127, 1]] * 10
    e = ops.explain("qlinear_matmul", a, 0.5, 0, b, 0.25, 0, 1.0, 0, (0, 0), b_type="int8", method="tflite_single",
                    policy="saturate", width=16)
    steps = {s.name: s.value for s in e.steps}
    assert steps["exact sum"] == 323850 and steps["overflow steps"] == 9 and steps["acc"] == 32767
    assert steps["saturate"] == 255  # y_type defaults to a_type (uint8)
    assert "TFLITE_SINGLE_ROUNDING" in e.text and "(acc*m + 2^(T-1)) >> T" in e.text
    e = ops.explain("matmul_integer", a, b, (1, 1), b_type="int8")
    assert [s.value for s in e.steps if s.name == "acc"] == [0]


def test_explain_qlinear_conv_matches_op():
    rng = np.random.default_rng(5)
    x, w = rand(rng, "uint8", (1, 2, 5, 5)).tolist(), rand(rng, "int8", (3, 2, 3, 3)).tolist()
    kw = dict(method="tflite_double", w_type="int8", pads=[1, 1, 1, 1], bias=[100, -200, 300])
    y = ops.qlinear_conv(x, 0.5, 100, w, [0.25, 0.125, 0.0625], 0, 8.0, 10, **kw)
    for idx in [(0, 0, 0, 0), (0, 2, 4, 3), (0, 1, 2, 2)]:
        e = ops.explain("qlinear_conv", x, 0.5, 100, w, [0.25, 0.125, 0.0625], 0, 8.0, 10, idx, **kw)
        assert e.steps[-1].value == y[idx[0]][idx[1]][idx[2]][idx[3]]
    with pytest.raises(UnknownNameError):
        ops.explain("conv_transpose")
