"""EasyQuant (refquant.calibrate.easyquant): brute force of the same grid, monotone objective,
determinism, channel independence, input errors.  Wu et al. 2020 (arXiv 2006.16669) ships no
runnable reference (the authors' code starts from other tables and another grid, ncnn's
quantize_EQ reads one sample for all, docs/calibration.md): the check is an independent naive
implementation of the definitions in docs/calibration.md."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant import formats
from refquant.calibrate import easyquant as eq
from refquant.calibrate.easyquant import easyquant_layer
from refquant.errors import InvalidValueError, RefquantError, ShapeError
from refquant.qparams import QParams


def F(x):
    return Fraction(*float(x).as_integer_ratio())


def fl32(x):
    return formats.round_to("fp32", x).value


def _layer(seed, M=6, K=3, N=2, bias=True):
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.standard_normal((M, K)), 0).astype(np.float32)
    w = (rng.standard_normal((K, N)) * 0.7).astype(np.float32)
    b = (rng.standard_normal(N) * 0.3).astype(np.float32) if bias else None
    return a, w, b


# ---------------------------------------------------------------------------------------------
# An independent, naive implementation: Python lists, Fractions for the quantizers, loops
# ---------------------------------------------------------------------------------------------

def naive(a, w, b, g, rounds, wq=127, a_in=None, P=1):
    a, w = a.tolist(), w.tolist()
    a_in = a if a_in is None else a_in.tolist()
    M, K, N = len(a), len(w), len(w[0])
    b = [0.0] * N if b is None else b.tolist()
    O = [[math.fsum([a[m][k] * w[k][j] for k in range(K)] + [b[j]]) for j in range(N)] for m in range(M)]
    ws = [fl32(max(abs(F(w[k][j])) for k in range(K)) / wq) if any(w[k][j] for k in range(K)) else Fraction(1)
          for j in range(N)]
    amin, amax = min(min(r) for r in a), max(max(r) for r in a)
    lo, hi = min(F(amin), 0), max(F(amax), 0)
    sa = fl32((hi - lo) / 255)
    z = min(max(-128 - round(lo / sa), -128), 127)

    def qa(s):
        return [[min(max(round(F(v) / s) + z, -128), 127) - z for v in row] for row in a_in]

    def qw(j, s):
        return [min(max(round(F(w[k][j]) / s), -wq), wq) for k in range(K)]

    def out(s, wsj, j, A):
        q = qw(j, wsj)
        return [float(sum(A[m][k] * q[k] for k in range(K))) * float(s * wsj) + b[j] for m in range(M)]

    def cos(u, v):
        nu, nv = math.fsum(x * x for x in u), math.fsum(x * x for x in v)
        if nu == 0 and nv == 0:
            return 1.0
        if nu == 0 or nv == 0:
            return 0.0
        return math.fsum(x * y for x, y in zip(u, v)) / (math.sqrt(nu) * math.sqrt(nv))

    def objective(s, wss):
        A = qa(s)
        cols = [out(s, wss[j], j, A) for j in range(N)]
        per = []
        for i in range(M // P):
            rows = range(i * P, (i + 1) * P)
            per.append(cos([O[m][j] for m in rows for j in range(N)], [cols[j][m] for m in rows for j in range(N)]))
        return math.fsum(per) / len(per)

    def cands(s):
        out_ = {s}
        for gk in g:
            r = formats.round_to("fp32", s * gk)
            if r.is_finite and r.value > 0:
                out_.add(r.value)
        return sorted(out_)

    def pick(scores, cs, cur):
        best = max(scores)
        return cur if scores[cs.index(cur)] == best else cs[scores.index(best)]

    cur = objective(sa, ws)
    for _ in range(rounds):
        A = qa(sa)
        new = []
        for j in range(N):
            cs = cands(ws[j])
            new.append(pick([cos([O[m][j] for m in range(M)], out(sa, c, j, A)) for c in cs], cs, ws[j]))
        if objective(sa, new) >= cur:
            ws, cur = new, objective(sa, new)
        cs = cands(sa)
        scores = [objective(c, ws) for c in cs]
        sa = pick(scores, cs, sa)
        cur = max(scores)
    return ws, sa, z, cur


@pytest.mark.parametrize("seed", range(4))
def test_tiny_layer_equals_brute_force_of_the_same_grid(seed):
    """M=6, K=3, N=2, a 7-point grid on [1/2, 2], 2 rounds: every channel's and the activation's
    choice equals evaluating every grid candidate with the naive implementation."""
    a, w, b = _layer(seed)
    g = eq.grid(Fraction(1, 2), 2, 7)
    r = easyquant_layer(a, w, b, rounds=2, n=7)
    ws, sa, z, cur = naive(a, w, b, g, 2)
    assert list(r.w_scales) == ws and r.a_qparams.scale == sa and r.a_qparams.zero_point == z
    assert r.cosine == cur
    if seed in (0, 3):  # the search moved the weight scales away from MinMax here
        assert r.w_scales != easyquant_layer(a, w, b, rounds=0).w_scales and r.cosine > r.start_cosine


def test_brute_force_with_quantized_input_int4_and_samples_of_two_rows():
    a, w, b = _layer(9, M=8, K=4, N=3)
    a_in = (a + np.float32(0.05) * (np.arange(a.size, dtype=np.float32).reshape(a.shape) % 3)).astype(np.float32)
    g = eq.grid(0.25, 3, 9)
    r = easyquant_layer(a, w, b, a_in=a_in, rounds=1, alpha=0.25, beta=3, n=9, w_dtype="int4", rows_per_sample=2)
    ws, sa, _, cur = naive(a, w, b, g, 1, wq=7, a_in=a_in, P=2)
    assert (list(r.w_scales), r.a_qparams.scale, r.cosine) == (ws, sa, cur)


def test_grid_is_exact_and_contains_one():
    g = eq.grid()
    assert len(g) == 100 and g[0] == Fraction(1, 2) and g[-1] == 2 and g[33] == 1
    assert eq.candidates(Fraction(3), [Fraction(1, 2), 1]) == [Fraction(3, 2), 3]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 3), st.integers(1, 3), st.booleans())
def test_objective_never_below_the_minmax_start(seed, rounds, n_out, bias):
    """The layer objective after every step is >= the one before (so >= the MinMax start)."""
    a, w, b = _layer(seed, M=5, K=4, N=n_out, bias=bias)
    r = easyquant_layer(a, w, b, rounds=rounds, n=11)
    objs = [v for _, v in r.history]
    assert objs[0] == r.start_cosine and objs[-1] == r.cosine
    assert all(x <= y for x, y in zip(objs, objs[1:])) and r.cosine >= r.start_cosine


def test_deterministic_and_channels_independent():
    """Same call, same bits; permuting the output channels permutes the weight scales and leaves
    the activation scale (the channel objectives do not see each other; fsum is order-free)."""
    a, w, b = _layer(3, M=20, K=8, N=5)
    r1, r2 = easyquant_layer(a, w, b, rounds=2), easyquant_layer(a, w, b, rounds=2)
    assert r1 == r2
    perm = [3, 0, 4, 2, 1]
    rp = easyquant_layer(a, w[:, perm], b[perm], rounds=2)
    assert list(rp.w_scales) == [r1.w_scales[j] for j in perm] and rp.a_qparams == r1.a_qparams
    assert rp.cosine == r1.cosine


def test_zero_rounds_and_given_start():
    a, w, b = _layer(5)
    r = easyquant_layer(a, w, b, rounds=0)
    assert r.cosine == r.start_cosine and len(r.history) == 1
    start = QParams(Fraction(1, 64), -128, "int8")
    r = easyquant_layer(a, w, b, w_scales=[Fraction(1, 128), Fraction(1, 32)], a_qparams=start, rounds=1, n=5)
    assert r.history[0][1] == r.start_cosine and r.a_qparams.zero_point == -128


def test_dead_channel_keeps_its_scale():
    a, w, b = _layer(6, M=6, K=3, N=3)
    w[:, 1] = 0
    r = easyquant_layer(a, w, b, rounds=1, n=9)
    assert r.w_scales[1] == 1 and r.cosine >= r.start_cosine


def test_bad_inputs_are_named_errors():
    a, w, b = _layer(1)
    cases = [dict(a=a[:, :2], w=w), dict(a=a, w=w, b=b[:1]), dict(a=a, w=w, rounds=-1), dict(a=a, w=w, n=1),
             dict(a=a, w=w, alpha=0), dict(a=a, w=w, w_dtype="int2"), dict(a=a, w=w, rows_per_sample=4),
             dict(a=a, w=w, w_scales=[0.1]), dict(a=a, w=w, w_scales=[0.1, 0.0]), dict(a=a, w=w, w_scales=[0.1, 0.1 + 1e-12]),
             dict(a=np.full_like(a, np.nan), w=w), dict(a=a, w=np.full_like(w, np.inf)), dict(a=a[0], w=w),
             dict(a=a[:0], w=w), dict(a=a, w=w, a_in=a[:3])]
    for kw in cases:
        with pytest.raises(RefquantError):
            easyquant_layer(**kw)
    with pytest.raises(ShapeError):
        easyquant_layer(a[:, :2], w)
    with pytest.raises(InvalidValueError):
        easyquant_layer(a, w, alpha=3, beta=2)
