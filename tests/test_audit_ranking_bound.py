"""Two small pieces of the audit that each had one test: the ranking's tie-break (the declared
semantics first among equal scores) and the bias term of the overflow bound that decides whether
the C kernel path counts int32 overflows (``core.overflow_possible``).

The bound: K·max|a - za|·max|b - zb| + max|bias| > 2^31 - 1 (qlinear_conv: Cg·kH·kW, with |za|
for the zero padding, and any float bias).  It must be sound (any real overflow implies it) and
its bias term must count |bias| of either sign; the tests walk it to the exact boundary.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant import kernel
from refquant.audit import core
from refquant.audit.core import audit, make_case
from refquant.audit.diagnosis import rank, rank_candidates
from refquant.audit.ranking import CandidateRow, Ranking

I32_MAX = 2**31 - 1


# ---------------------------------------------------------------------------------------------
# Ranking tie-break
# ---------------------------------------------------------------------------------------------

def _row(sem, matched, of, name=None):
    return CandidateRow(name or sem, sem, "", matched, of, "exact", np.zeros(of, np.int64))


class _Case:
    op = "requantize"

    def __init__(self, declared):
        self.method = declared


def _order(rows, declared):
    n = max(r.of for r in rows)
    for r in rows:  # every candidate's values cover the whole output; sampled rows say so
        r.vals = np.zeros(n, np.int64)
        if r.of != n:
            r.how = "oracle on a sample of the distinct inputs"
    res = rank(rows, np.zeros(n, np.int64), _Case(declared), None)
    assert isinstance(res, Ranking) and res.best is res.rows[0]
    return [r.semantics for r in res.rows], res.verdict


@pytest.mark.parametrize("pos", [0, 1, 3, 5])
def test_declared_first_among_equal_scores_wherever_it_was(pos):
    others = ["a", "b", "c", "d", "e"]
    sems = others[:pos] + ["decl"] + others[pos:]
    order, verdict = _order([_row(s, 10, 10) for s in sems], "decl")
    assert order == ["decl"] + others  # declared first, the rest keep their order (stable)
    assert verdict.startswith("matches decl on 100%") and "indistinguishable on this data from: a, b, c, d, e" in verdict


def test_higher_score_beats_declared():
    order, verdict = _order([_row("decl", 9, 10), _row("x", 10, 10), _row("y", 9, 10)], "decl")
    assert order == ["x", "decl", "y"]
    assert verdict.startswith("matches x on 100%")


def test_tie_is_on_the_fraction_not_the_count():
    """A sampled row (99 of 100) and an exact row (990 of 1000) tie; a row with of = 0 counts as 0."""
    rows = [_row("s", 99, 100), _row("decl", 990, 1000), _row("z", 0, 0), _row("t", 980, 1000)]
    order, _ = _order(rows, "decl")
    assert order == ["decl", "s", "t", "z"]


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 50)), min_size=1, max_size=8), st.integers(0, 7))
def test_ranking_equals_reference_order(scores, d):
    """Differential: the ranking equals sorting by (exact fraction descending, declared first),
    stable in the input order."""
    from fractions import Fraction
    d %= len(scores)
    rows = [_row(f"s{i}", min(m, of), of) for i, (m, of) in enumerate(scores)]
    declared = f"s{d}"
    want = [r.semantics for r in sorted(rows, key=lambda r: (-Fraction(r.matched, r.of), r.semantics != declared))]
    got, _ = _order(rows, declared)
    assert got == want


@pytest.mark.parametrize("declared", ["exact", "tflite_double", "tflite_single", "cmsis_nn", "ort", "tosa_single",
                                      "xnnpack_rndnu"])
def test_audit_puts_the_declared_method_first_when_all_agree(declared):
    """End to end: accumulators that are multiples of 4 with M = 1/4 leave no rounding to do, so
    every candidate matches 100%; the verdict names the method the case declares."""
    acc = (np.arange(-300, 300, dtype=np.int64) * 4).reshape(20, 30)
    case = make_case(dict(op="requantize", acc=acc, method=declared, y_type="int32",
                          a_scale=0.5, b_scale=0.5, y_scale=1.0))
    res = audit(case, core.expected(case)[0])
    top = res["diagnosis"]["ranking"][0]
    assert top["semantics"] == declared and top["matched"] == top["of"] == acc.size
    assert res["diagnosis"]["verdict"].startswith(f"matches {top['name']} on 100%")
    assert sum(r["matched"] == r["of"] for r in res["diagnosis"]["ranking"]) > 3  # a real tie


def test_ranking_json_keeps_the_audit_keys():
    """The typed ranking prints as before: ``--json`` keys of the diagnosis and of each row, and
    ``diagnose`` / ``audit(...)['diagnosis']`` equal ``rank_candidates(...).as_json()``."""
    acc = (np.arange(-60, 60, dtype=np.int64) * 3).reshape(8, 15)
    case = make_case(dict(op="requantize", acc=acc, method="tflite_double", y_type="int8",
                          a_scale=0.5, b_scale=0.25, y_scale=0.75))
    actual = core.expected(case)[0]
    actual[0, 0] += 1
    typed = rank_candidates(case, actual)
    d = audit(case, actual)["diagnosis"]
    assert d == typed.as_json() == core.diagnose(case, actual)
    assert list(d) == ["ranking", "verdict", "ties"][:len(d)] and len(d) >= 2
    assert list(d["ranking"][0]) == ["name", "semantics", "description", "matched", "of", "how", "fraction",
                                     "percent"]
    assert d["ranking"][0]["semantics"] == typed.best.semantics and typed.best.cand is not None
    assert d["verdict"] == typed.verdict and "except 1 element" in d["verdict"]


# ---------------------------------------------------------------------------------------------
# The overflow bound's bias term
# ---------------------------------------------------------------------------------------------

def _mm(a, b, bias=None, za=0, zb=0, a_type="int8", b_type="uint8"):
    spec = dict(op="matmul_integer", a=np.asarray(a, np.int64), b=np.asarray(b, np.int64), a_type=a_type,
                b_type=b_type, a_zero_point=za, b_zero_point=zb)
    if bias is not None:
        spec["bias"] = np.asarray(bias, np.int64)
    return make_case(spec)


def _product_bound(K):
    return K * 128 * 255  # int8 -128 against uint8 255


@pytest.mark.parametrize("sign", [1, -1])
def test_bias_term_at_the_exact_boundary(sign):
    """K·128·255 + |bias| against 2^31 - 1: equal is safe, one more is possible, for either sign."""
    K = 4
    a, b = np.full((1, K), -128), np.full((K, 2), 255)
    room = I32_MAX - _product_bound(K)
    assert not core.overflow_possible(_mm(a, b, [0, sign * room]))
    assert core.overflow_possible(_mm(a, b, [sign * (room + 1), 0]))
    assert not core.overflow_possible(_mm(a, b, [0, 0]))
    assert not core.overflow_possible(_mm(a, b))


def test_bias_term_reads_the_largest_magnitude():
    """The largest |bias| decides, whichever column it is in and whatever the other columns hold."""
    K = 3
    a, b = np.full((2, K), -128), np.full((K, 3), 255)
    room = I32_MAX - _product_bound(K)
    assert core.overflow_possible(_mm(a, b, [5, -(room + 1), room]))
    assert not core.overflow_possible(_mm(a, b, [-room, room, 0]))


def test_product_term_uses_zero_points():
    """max|a - za| and max|b - zb|: zero points move the bound (bias 0)."""
    K = 65794  # 65794 · 128 · 255 > 2^31 - 1 >= 65793 · 128 · 255
    a = np.full((1, K), -128)
    b = np.full((K, 1), 255)
    assert core.overflow_possible(_mm(a, b))
    assert not core.overflow_possible(_mm(a[:, :-1], b[:-1]))
    assert not core.overflow_possible(_mm(a, b, zb=1))  # max|b - zb| = 254


def _conv(x, w, bias=None, za=0, pads=(0, 0, 0, 0), float_bias=None):
    spec = dict(op="qlinear_conv", x=np.asarray(x, np.int64), w=np.asarray(w, np.int64), x_type="int8",
                w_type="int8", x_zero_point=za, x_scale=1.0, w_scale=1.0, y_scale=1.0,
                y_type="int32", method="int32", pads=list(pads))
    if bias is not None:
        spec["bias"] = np.asarray(bias, np.int64)
    if float_bias is not None:
        spec["float_bias"] = float_bias
    return make_case(spec)


def test_conv_bias_term_at_the_exact_boundary():
    """Cg·kH·kW·max|x - za|·max|w - zw| + |bias|: equal is safe, one more is possible."""
    x = np.full((1, 2, 3, 3), -128)
    w = np.full((1, 2, 3, 3), -128)
    room = I32_MAX - 2 * 3 * 3 * 128 * 128
    assert not core.overflow_possible(_conv(x, w, [room]))
    assert core.overflow_possible(_conv(x, w, [-(room + 1)]))


@settings(max_examples=60)
@given(st.integers(1, 3), st.integers(60000, 70000), st.integers(1, 3), st.integers(0, 2**32), st.integers(-128, 127),
       st.integers(0, 255), st.integers(-(2**31), I32_MAX))
def test_bound_is_sound_on_every_partial_sum(M, K, N, seed, za, zb, bias0):
    """Whenever a partial sum of the accumulation (k = 1..K, then + bias, the oracle's order)
    leaves int32, the bound says an overflow is possible.  Exact int64 partial sums; operands at
    the extremes so that both outcomes occur."""
    rng = np.random.default_rng(seed)
    a = rng.choice([-128, 127, 0], size=(M, K))
    b = rng.choice([0, 255], size=(K, N))
    bias = np.clip(bias0 + rng.integers(-5, 5, N), -(2**31), I32_MAX)
    prods = (a - za)[:, :, None] * (b - zb)[None, :, :]          # (M, K, N)
    partial = np.cumsum(prods, axis=1)
    final = partial[:, -1, :] + bias[None, :]
    leaves = (np.abs(partial) > I32_MAX).any() or (final > I32_MAX).any() or (final < -(2**31)).any()
    if leaves:
        assert core.overflow_possible(_mm(a, b, bias, za, zb))


@settings(max_examples=80)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**32), st.integers(-(2**31), I32_MAX))
def test_bound_is_sound_against_the_oracle_counts(M, K, N, seed, bias0):
    """Differential with the oracle itself on tiny shapes where only a bias near ±2^31 can overflow:
    the oracle's overflow counts are nonzero exactly when a final sum leaves int32, and then the
    bound says possible."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(M, K))
    b = rng.integers(0, 256, size=(K, N))
    bias = np.clip(bias0 + rng.integers(-(2**18), 2**18, N), -(2**31), I32_MAX)
    _acc, counts = core._oracle_acc(a, b, 0, np.zeros(N, np.int64), bias, "wrap", "int8", "uint8")
    final = a @ b + bias[None, :]
    assert counts.any() == ((final > I32_MAX) | (final < -(2**31))).any()
    if counts.any():
        assert core.overflow_possible(_mm(a, b, bias))


def test_bias_only_overflow_is_counted_on_the_kernel_path():
    """A case large enough for the C kernel (M·K·N > the oracle's budget) whose products stay
    inside int32 and whose bias pushes them out: the bound must route it to the counting kernel,
    so the audit reports the overflowed outputs and names the saturating accumulator."""
    if not kernel.available():
        pytest.skip("refquant built without its C kernel")
    K = 65792  # 65792 · 128 · 255 = 2^31 - 32768
    M, N = 2, 4
    a = np.full((M, K), -128)
    b = np.full((K, N), 255)
    bias = np.array([-40000, 0, -32767, -32769])  # columns 0 and 3 overflow below -2^31
    spec = dict(op="qlinear_matmul", a=a, b=b, a_type="int8", b_type="uint8", a_scale=2.0**-10,
                b_scale=2.0**-10, y_scale=2.0**-4, method="int32", y_type="int32", bias=bias)
    case = make_case(spec)
    assert M * K * N > core.ORACLE_MACS
    assert _product_bound(K) <= I32_MAX and core.overflow_possible(case)
    actual = core.expected(make_case(dict(spec, policy="saturate")))[0]
    res = audit(case, actual)
    assert res["overflowed_outputs"] == 2 * M
    assert "saturating int32 accumulator" in res["diagnosis"]["ranking"][0]["name"]
