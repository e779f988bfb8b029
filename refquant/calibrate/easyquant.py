"""EasyQuant (Wu et al. 2020, arXiv 2006.16669): per-layer scale search by cosine similarity.

One linear layer O = A·W + b (A: M x K rows, W: K x N, N output channels; a convolution after
im2col, with ``rows_per_sample`` rows per sample).  Starting from MinMax scales, each round

1. searches every weight channel's scale **independently** (the activation scale fixed): channel j
   keeps the candidate that maximises cos(O[:, j], Ô[:, j]), its output over all rows;
2. searches the activation scale (the weight scales fixed): the candidate maximising the layer
   objective, the mean over samples of cos(O_i, Ô_i).

Candidates for a current scale S: fl32(S·g_k) for the grid g_k = α + k·(β - α)/(n - 1),
k = 0..n-1 (exact rationals; the paper's α = 1/2, β = 2, n = 100), plus S itself; candidates that
overflow or underflow to 0 in fp32 are skipped.  Ties keep S if S is among the maxima, otherwise
the smallest candidate wins.  refquant's one addition: step 1 optimises per-channel objectives,
not the layer objective, so its result is accepted only if the layer objective does not drop;
step 2 always has S as a candidate.  Hence the layer objective never decreases from the MinMax
start, round after round.

Quantizers: weights symmetric narrow, q = clamp(RNE(w / s_j), -Qw, Qw) (int8: 127, int4: 7);
activations affine with the start's zero point z kept fixed, q = clamp(RNE(a / s) + z, qmin, qmax).
Ô = (q_a - z)·q_w·s·s_j + b, the integer accumulator exact (int64), then fl64(fl64(acc·fl64(s·s_j)) + b_j)
(s·s_j is exact in float64).  O is Σ_k a_mk·w_kj + b_j rounded once to float64 (math.fsum of
the exact products).  Cosines: dot and squared norms by math.fsum of float64 products,
cos = dot / fl64(sqrt(|u|²)·sqrt(|v|²)) (1 when both vectors are 0, 0 when one is), the mean by
math.fsum / count.  Every step is a correctly rounded IEEE operation or an exact one, so the
result is the same on every machine and numpy build (no BLAS, no pairwise sums).

What the paper leaves open and refquant fixes (docs/calibration.md): the grid endpoints (both
included), the tie rule, per-sample cosine for the layer, the output-column cosine for a
channel, the activation zero point (kept), the bias (included in O and Ô).
# Reproduces: Wu et al., "EasyQuant: Post-training Quantization via Scale Optimization", arXiv 2006.16669 (2020), §3.2, Alg. 1
"""

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .. import formats
from ..errors import InvalidValueError, ShapeError
from ..qparams import QParams, qrange
from ._data import as_f32, frac
from .observers import MinMaxObserver

W_DTYPES = {"int8": 127, "int4": 7}


@dataclass(frozen=True)
class EasyQuantResult:
    """The searched scales (exact fp32 values) and the layer objective before and after."""
    w_scales: tuple          # Fraction per output channel
    a_qparams: QParams       # activation scale (searched) and zero point (the start's)
    cosine: float            # mean per-sample cosine with the final scales
    start_cosine: float      # the same with the MinMax (or given) start scales
    history: tuple           # (step name, layer objective) after every step, starting with ('start', ...)


def grid(alpha=Fraction(1, 2), beta=2, n=100):
    """The exact grid g_k = alpha + k·(beta - alpha)/(n - 1), k = 0..n-1 (floats read as their repr)."""
    # Reproduces: Wu et al. 2020 (arXiv 2006.16669) §3.2: n = 100 candidates uniform in [alpha·S, beta·S], alpha 0.5, beta 2
    a, b = _exact(alpha, "alpha"), _exact(beta, "beta")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise InvalidValueError(f"the grid needs an integer n >= 2 points, got {n!r}")
    if not 0 < a <= b:
        raise InvalidValueError(f"the grid needs 0 < alpha <= beta, got alpha={alpha!r}, beta={beta!r}")
    return [a + (b - a) * Fraction(k, n - 1) for k in range(n)]


def _exact(x, what):
    try:
        v = Fraction(repr(x)) if isinstance(x, float) else Fraction(x)
    except (TypeError, ValueError, ZeroDivisionError):
        raise InvalidValueError(f"{what} must be a finite number, got {x!r}") from None
    return v


def candidates(s, g):
    """Sorted distinct fp32 values fl32(s·g_k) > 0 (finite), with s itself."""
    # Reproduces: Wu et al. 2020 (arXiv 2006.16669) §3.2 candidate scales, rounded to fp32 (docs/calibration.md)
    out = {s}
    for gk in g:
        r = formats.round_to("fp32", s * gk)
        if r.is_finite and r.value > 0:
            out.add(r.value)
    return sorted(out)


def _pick(values, cands, current):
    """Index of the best candidate: the current one if it is among the maxima, else the first."""
    best = max(values)
    idx = [i for i, v in enumerate(values) if v == best]
    cur = cands.index(current)
    return cur if cur in idx else idx[0]


# --------------------------------------------------------------------------------------------
# Deterministic float64 pieces
# --------------------------------------------------------------------------------------------

def _rne_div(x, s):
    """RNE(x / s) for float32 x and fp32 scales s (broadcast), as float64 integers.  Exact: the
    float64 quotient of two 24-bit significands is a tie exactly when the real one is, and
    otherwise lies too far from a tie for its rounding to cross it."""
    with np.errstate(over="ignore", under="ignore"):
        return np.rint(x.astype(np.float64) / s)


def _fsum_rows(p):
    return np.array([math.fsum(r) for r in p.tolist()]) if p.shape[1] else np.zeros(p.shape[0])


def _cos(dot, nu, nv):
    """Cosines from dot products and squared norms (arrays)."""
    out = np.zeros(dot.shape)
    both = (nu == 0) & (nv == 0)
    ok = (nu > 0) & (nv > 0)
    out[both] = 1.0
    out[ok] = dot[ok] / (np.sqrt(nu[ok]) * np.sqrt(nv[ok]))
    return out


def _mean(values):
    return math.fsum(values.tolist()) / len(values)


class _Layer:
    def __init__(self, a, w, b, a_in, rows_per_sample, w_qmax, aq):
        self.w, self.a_in, self.P, self.w_qmax = w, a_in, rows_per_sample, w_qmax
        self.b = np.zeros(w.shape[1]) if b is None else b.astype(np.float64)
        self.z, self.qmin, self.qmax = aq
        # O = a·w + b, each element the exact sum rounded once (math.fsum of exact float64 products)
        a64, w64 = a.astype(np.float64), w.astype(np.float64)
        self.O = np.array([[math.fsum((a64[m] * w64[:, j]).tolist() + [self.b[j]]) for j in range(w.shape[1])]
                           for m in range(a.shape[0])]).reshape(a.shape[0], w.shape[1])
        self.nO_col = _fsum_rows((self.O * self.O).T)

    def qa(self, s):
        q = np.clip(_rne_div(self.a_in, float(s)) + self.z, self.qmin, self.qmax)
        return (q - self.z).astype(np.int64)

    def qw(self, ws):
        return np.clip(_rne_div(self.w, ws), -self.w_qmax, self.w_qmax).astype(np.int64)

    def out(self, acc, m, b):
        return acc.astype(np.float64) * m + b

    def objective(self, s, ws):
        """Mean over samples of cos(O_i, Ô_i) (rows_per_sample rows per sample)."""
        wsf = np.array([float(v) for v in ws])
        Oh = self.out(self.qa(s) @ self.qw(wsf[None, :]), float(s) * wsf, self.b)
        M, N = self.O.shape
        u, v = self.O.reshape(M // self.P, self.P * N), Oh.reshape(M // self.P, self.P * N)
        return _mean(_cos(_fsum_rows(u * v), _fsum_rows(u * u), _fsum_rows(v * v)))

    def channel_scores(self, s, j, cands):
        """cos(O[:, j], Ô[:, j]) for each candidate scale of channel j."""
        cf = np.array([float(c) for c in cands])
        qw = np.clip(_rne_div(self.w[:, j:j + 1], cf[None, :]), -self.w_qmax, self.w_qmax).astype(np.int64)
        Oh = self.out(self.qa(s) @ qw, float(s) * cf, self.b[j])          # M x len(cands)
        col = self.O[:, j:j + 1]
        return _cos(_fsum_rows((col * Oh).T), np.full(len(cands), self.nO_col[j]), _fsum_rows((Oh * Oh).T)).tolist()


def easyquant_layer(a, w, b=None, *, a_in=None, w_scales=None, a_qparams=None, rounds=1, alpha=Fraction(1, 2),
                    beta=2, n=100, w_dtype="int8", a_dtype="int8", rows_per_sample=1):
    """EasyQuant scale search for one linear layer; see the module docstring for every definition.

    ``a``: the layer's float input (M x K) from the float model, which defines O; ``a_in``: the
    input the quantized layer sees (e.g. the output of already quantized earlier layers, as the
    paper's activation search uses; default ``a``).  ``w``: K x N, ``b``: N or None.  Start:
    ``w_scales`` (N fp32 values) or MinMax per output channel (symmetric narrow ``w_dtype``);
    ``a_qparams`` or MinMax of ``a`` (affine ``a_dtype``, exact variant).  ``rounds`` >= 0.
    # Reproduces: Wu et al. 2020 (arXiv 2006.16669) §3.2 Algorithm 1, refquant's definitions (docs/calibration.md)
    """
    if w_dtype not in W_DTYPES:
        raise InvalidValueError(f"w_dtype must be one of {sorted(W_DTYPES)}, got {w_dtype!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise InvalidValueError(f"rounds must be an integer >= 0, got {rounds!r}")
    if isinstance(rows_per_sample, bool) or not isinstance(rows_per_sample, int) or rows_per_sample < 1:
        raise InvalidValueError(f"rows_per_sample must be a positive integer, got {rows_per_sample!r}")
    g = grid(alpha, beta, n)
    a = _finite_2d(a, "a")
    w = _finite_2d(w, "w")
    a_in = a if a_in is None else _finite_2d(a_in, "a_in")
    if a.shape[1] != w.shape[0] or a_in.shape != a.shape:
        raise ShapeError(f"a {a.shape}, a_in {a_in.shape} and w {w.shape} do not fit (a: M x K, w: K x N)")
    if a.shape[0] == 0 or w.shape[1] == 0 or a.shape[0] % rows_per_sample:
        raise ShapeError(f"need M > 0 rows in whole samples of {rows_per_sample} and N > 0 channels; "
                         f"got a {a.shape}, w {w.shape}")
    if b is not None:
        b = as_f32(b, "b").ravel()
        if b.size != w.shape[1] or np.isnan(b).any():
            raise ShapeError(f"bias needs {w.shape[1]} non-NaN values, got {b.size}")
    if w_scales is None:
        w_scales = [q.scale for q in MinMaxObserver(axis=1).observe(w).qparams(w_dtype, symmetric=True, narrow=True)]
    ws = [_scale(v, "w_scales") for v in w_scales]
    if len(ws) != w.shape[1]:
        raise ShapeError(f"w_scales has {len(ws)} values for {w.shape[1]} output channels")
    if a_qparams is None:
        a_qparams = MinMaxObserver().observe(a).qparams(a_dtype)
    sa = _scale(a_qparams.scale, "activation scale")
    qmin, qmax = qrange(a_qparams.dtype)
    layer = _Layer(a, w, b, a_in, rows_per_sample, W_DTYPES[w_dtype], (a_qparams.zero_point, qmin, qmax))

    start = cur = layer.objective(sa, ws)
    history = [("start", start)]
    for r in range(rounds):
        new_ws = []
        for j, s in enumerate(ws):
            cands = candidates(s, g)
            new_ws.append(cands[_pick(layer.channel_scores(sa, j, cands), cands, s)])
        obj = layer.objective(sa, new_ws)
        if obj >= cur:
            ws, cur = new_ws, obj
        history.append((f"round {r + 1} weights", cur))
        cands = candidates(sa, g)
        scores = [layer.objective(c, ws) for c in cands]
        k = _pick(scores, cands, sa)
        sa, cur = cands[k], scores[k]
        history.append((f"round {r + 1} activation", cur))
    return EasyQuantResult(tuple(ws), QParams(sa, a_qparams.zero_point, a_qparams.dtype), cur, start, tuple(history))


def _finite_2d(x, what):
    a = as_f32(x, what)
    if a.ndim != 2:
        raise ShapeError(f"{what} must be 2-D, got shape {a.shape}")
    if np.isnan(a).any():
        raise InvalidValueError(f"{what} contains NaN")
    return a


def _scale(v, what):
    try:
        s = frac(v) if not isinstance(v, Fraction) else v
    except (TypeError, ValueError, OverflowError):
        raise InvalidValueError(f"{what}: expected a positive fp32 scale, got {v!r}") from None
    r = formats.round_to("fp32", s)
    if not (r.is_finite and r.value == s and s > 0):
        raise InvalidValueError(f"{what}: expected a positive finite fp32 value, got {v!r}")
    return s


__all__ = ["EasyQuantResult", "easyquant_layer", "grid", "candidates"]
