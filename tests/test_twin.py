"""The oracle (refquant.ops / requant, pure Python) and its C twin (refquant.kernel) agree bit for bit:
every requantization method the kernel implements, every overflow policy, every dispatch path, on
hypothesis-generated shapes/values/zero points/per-channel parameters and on constructed edge cases
(near-tie accumulators, multipliers near 2^31, shifts at the ends of their ranges, int32 overflow)."""
import random

import pytest
from hypothesis import given, settings, strategies as st

from refquant import ops, requant
from refquant.errors import AccumulatorOverflowError, Unpredictable
from refquant.integers import Accumulator
from peers import need

np = need("numpy")
kernel = pytest.importorskip("refquant.kernel")
if not kernel.available():  # pragma: no cover
    pytest.skip("the C kernel is not built (pip install -e .)", allow_module_level=True)

PATHS = kernel.paths()
KERNEL_METHODS = {"float_fp32": "ort", "tflite_double": "tflite_double", "tflite_single": "tflite_single",
                  "tosa_single": "tosa_single", "tosa_double": "tosa_double"}


def oracle_acc(a, b, za, zb, bias, policy):
    acc = Accumulator(32, policy)
    out = ops.matmul_integer(a.tolist(), b.tolist(), za, zb, a_type=str(a.dtype), b_type=str(b.dtype),
                             accumulator=acc, bias=None if bias is None else bias.tolist())
    return np.array(out, dtype=np.int64).reshape(a.shape[0], b.shape[1]), acc


def oracle_requant(acc, method, params, zp, out_dtype):
    return np.array(requant.requantize(acc.tolist(), method, params, zp, out_dtype), dtype=np.int64)


def kernel_params(method, params):
    """requant.Params -> the kernel's argument: per-tensor as scalars, per-channel as (N,) arrays."""
    args = params.kernel_args()
    shape = (-1,) if params.per_channel else ()
    if method == "float_fp32":
        return np.array(args["M_bits"], dtype=np.uint32).reshape(shape)
    second = args["shift"] if "shift" in args else args["s"]
    return (np.array(args["m"], dtype=np.int64).reshape(shape), np.array(second, dtype=np.int64).reshape(shape))


@st.composite
def gemm_case(draw):
    m, n = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    k = draw(st.sampled_from([1, 3, 17, 64, 65, 130]))
    a_t = draw(st.sampled_from(["int8", "uint8"]))
    b_t = draw(st.sampled_from(["int8", "uint8"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    info = {"int8": (-128, 127), "uint8": (0, 255)}
    extreme = draw(st.booleans())
    lo_a, hi_a = info[a_t]
    lo_b, hi_b = info[b_t]
    if extreme:  # values at the ends: largest products, accumulators near overflow when K is big
        a = rng.choice([lo_a, hi_a], size=(m, k)).astype(a_t)
        b = rng.choice([lo_b, hi_b], size=(k, n)).astype(b_t)
    else:
        a = rng.integers(lo_a, hi_a + 1, size=(m, k)).astype(a_t)
        b = rng.integers(lo_b, hi_b + 1, size=(k, n)).astype(b_t)
    za = draw(st.integers(lo_a, hi_a))
    per_col = draw(st.booleans())
    zb = [draw(st.integers(lo_b, hi_b)) for _ in range(n)] if per_col else draw(st.integers(lo_b, hi_b))
    bias = rng.integers(-2**20, 2**20, size=n).astype(np.int32) if draw(st.booleans()) else None
    return a, b, za, zb, bias


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("policy", ["wrap", "saturate"])
@settings(max_examples=60)
@given(case=gemm_case())
def test_int32_accumulators_agree(path, policy, case):
    a, b, za, zb, bias = case
    ours, acc = oracle_acc(a, b, za, zb, bias, policy)
    theirs, counts = kernel.matmul_integer(a, b, za, np.array(zb) if isinstance(zb, list) else zb,
                                           bias=bias, policy=policy, path=path, return_overflow=True)
    assert theirs.tolist() == ours.tolist()
    expected_counts = np.zeros_like(counts)
    for (i, j), c in ((w, c) for w, c in acc.overflows.items() if w is not None):
        expected_counts[i, j] = c
    if acc.overflows and None not in acc.overflows:
        assert counts.tolist() == expected_counts.tolist()


def _scales(rng, n, per_channel):
    sa = np.float32(rng.uniform(0.001, 0.1))
    sb = [float(np.float32(rng.uniform(0.001, 0.1))) for _ in range(n)] if per_channel else float(np.float32(rng.uniform(0.001, 0.1)))
    sy = np.float32(rng.uniform(0.005, 2.0))
    return float(sa), sb, float(sy)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", list(KERNEL_METHODS))
@settings(max_examples=40)
@given(case=gemm_case(), seed=st.integers(0, 2**32 - 1), per_channel=st.booleans(),
       out=st.sampled_from(["int8", "uint8"]))
def test_requantized_outputs_agree(path, method, case, seed, per_channel, out):
    a, b, za, zb, bias = case
    rng = np.random.default_rng(seed)
    sa, sb, sy = _scales(rng, b.shape[1], per_channel)
    try:
        params = requant.derive_params(KERNEL_METHODS[method], sa, sb, sy)
    except Unpredictable:
        return
    zp = int(rng.integers(-128, 128) if out == "int8" else rng.integers(0, 256))
    acc, _ = oracle_acc(a, b, za, zb, bias, "wrap")
    try:
        ours = oracle_requant(acc, KERNEL_METHODS[method], params, zp, out)
    except Unpredictable:
        return  # the spec defines no value (e.g. TOSA REQUIRE on the accumulator range)
    theirs = kernel.qlinear_matmul(a, b, za, np.array(zb) if isinstance(zb, list) else zb, method,
                                   kernel_params(method, params), zp=zp, out_dtype=out, bias=bias, path=path)
    assert theirs.tolist() == ours.tolist()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["tflite_double", "tflite_single", "tosa_single", "tosa_double"])
def test_edge_parameters_agree(path, method):
    """Multipliers near 2^31, shifts at both ends of their domains, accumulators at int32's ends."""
    rng = random.Random(method)
    shifts = [-31, -30, -16, -1, 0, 1, 15, 30] if method.startswith("tflite") else [2, 3, 30, 31, 32, 33, 47, 62]
    ms = [0, 1, 2**30, 2**31 - 2, 2**31 - 1, 1518500250, 1610612736]
    accs = np.array([[-(2**31), 2**31 - 1, 0, 1, -1, 2**30, -(2**30), 12345, -54321, 7, -7, 2**24 + 1]], dtype=np.int32)
    a = np.ones((accs.shape[1], 1), np.int8)  # acc[i, 0] = bias via a K=1 GEMM with zero operands
    b = np.zeros((1, 1), np.int8)
    for m in ms:
        for s in shifts:
            params = requant.params_from_kernel(method, m=[m], **({"shift": [s]} if method.startswith("tflite") else {"s": [s]}))
            zp = rng.randint(-128, 127)
            for acc in accs[0].tolist():
                bias = np.array([acc], np.int32)
                try:
                    ours = requant.requantize([[acc]], method, params, zp, "int8")[0][0]
                except Unpredictable:
                    continue
                theirs = kernel.qlinear_matmul(a[:1], b, 0, 0, method, (np.array([m]), np.array([s])), zp=zp,
                                               out_dtype="int8", bias=bias, path=path)
                assert int(theirs[0, 0]) == ours, (m, s, acc, zp)


@pytest.mark.parametrize("path", PATHS)
def test_overflow_policies_at_large_k(path):
    """K = 33,100 products of -65,025 (= 255 * (-128 - 127)) overflow int32 near the end of the sum;
    wrap, saturate (k order) and error agree, with the same per-output counts."""
    k = 33100
    a = np.full((2, k), 255, np.uint8)
    a[1, ::3] = 0
    b = np.full((k, 2), -128, np.int8)
    b[::2, 1] = 127  # column 1: half the terms are zero, no overflow
    for policy in ("wrap", "saturate"):
        ours, acc = oracle_acc(a, b, 0, 127, None, policy)
        assert acc.overflows, "the case must overflow"
        theirs, counts = kernel.matmul_integer(a, b, 0, 127, policy=policy, path=path, return_overflow=True)
        assert theirs.tolist() == ours.tolist()
        assert {(i, j): int(counts[i, j]) for i in range(2) for j in range(2) if counts[i, j]} == acc.overflows
    with pytest.raises(AccumulatorOverflowError):
        kernel.matmul_integer(a, b, 0, 127, policy="error", path=path)
    with pytest.raises(AccumulatorOverflowError, match=r"\(0, 0"):
        oracle_acc(a, b, 0, 127, None, "error")


@pytest.mark.parametrize("path", PATHS)
def test_near_tie_accumulators_float_fp32(path):
    """Accumulators whose acc·M lands within 2^-18 of k + 1/2 (onnx.md §3): RNE in binary32 agrees."""
    rng = random.Random(5)
    M = np.float32(0.0137)
    accs = []
    while len(accs) < 200:
        acc = rng.randint(-(2**24), 2**24)
        v = float(np.float32(np.float32(acc) * M))
        if abs(v - np.floor(v) - 0.5) < 2**-12:
            accs.append(acc)
    a = np.ones((len(accs), 1), np.int8)
    b = np.zeros((1, 1), np.int8)
    params = requant.params_from_kernel("float_fp32", M_bits=[int(np.array(M).view(np.uint32))])
    for acc in accs:
        ours = requant.requantize([[acc]], "float_fp32", params, 3, "int8", qmin=-128, qmax=127)[0][0]
        theirs = kernel.qlinear_matmul(a[:1], b, 0, 0, "float_fp32", np.array([M]), zp=3, out_dtype="int8",
                                       bias=np.array([acc], np.int32), path=path)
        assert int(theirs[0, 0]) == ours, acc
