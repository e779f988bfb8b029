"""refquant/tosa.py (TOSA 1.0 integer operators) against the TOSA reference model itself
(tosa-tools 2026.8.0, in-process through refquant.peers.tosa_ops).

Every case compares outcomes: VALID with equal values, ERROR (refquant SpecError; the model reports
TOSA_ERROR or refuses the graph) or UNPREDICTABLE (refquant Unpredictable).  Where the spec says
UNPREDICTABLE the model may do anything; the two places where it reports something else (MUL
shift on int8, a TABLE of the wrong length) have their own tests, as has the one named deviation
(MUL int32 shift 63) and the model's crash on an ERROR_IF inside a two-operator graph.  The unmarked tests are small seeded samples; the slow sweep
runs >= 10^5 elements per operator.
"""

import os
from fractions import Fraction
import random

import pytest

from peers import need
from refquant import tosa as T
from refquant.errors import InvalidValueError, SpecError

np = need("numpy")
os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")     # before the model loads: no debugger fork per ERROR_IF
need("tosa_serializer", "tosa-tools")
need("tosa_reference_model", "tosa-tools")
from refquant.peers import tosa_ops as M  # noqa: E402

RANGE = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1)}


@pytest.fixture(scope="module")
def model():
    return M.Model()


class Tally:
    """Counts of compared outcomes; ``check`` asserts agreement."""

    def __init__(self):
        self.n = {M.VALID: 0, M.ERROR: 0, M.UNPREDICTABLE: 0}
        self.elements = 0
        self.inputs = 0
        self.known = 0          # elements explained by a named deviation

    def check(self, got, want, what, allowed=(), inputs=0):
        self.inputs += inputs
        (gs, gv), (ws, wv) = got, want
        if (ws, gs) in allowed:
            self.n[ws] += 1
            return
        assert gs == ws, (what, "model", gs, "refquant", ws)
        if ws == M.VALID:
            assert gv.shape == wv.shape and np.array_equal(gv, wv), (what, gv, wv)
            self.elements += int(wv.size)
        self.n[ws] += 1


def _vals(rng, dtype, shape, edge=0.2):
    lo, hi = RANGE[dtype]
    pick = lambda: rng.choice((lo, hi, 0, -1, 1)) if rng.random() < edge else rng.randint(lo, hi)  # noqa: E731
    return np.array([pick() for _ in range(int(np.prod(shape)))], dtype=np.int64).reshape(shape).tolist()


def _bshapes(rng, scale=1):
    r = rng.randint(1, 3)
    s = [rng.randint(1, 4) * (scale if i == 0 else 1) for i in range(r)]
    t = [1 if rng.random() < 0.3 else d for d in s]
    return (s, t) if rng.random() < 0.5 else (t, s)


# --------------------------------------------------------------------------------------------
# ADD / SUB / MUL / ARITHMETIC_RIGHT_SHIFT
# --------------------------------------------------------------------------------------------

def run_add_sub(model, rng, trials, tally, scale=1):
    for _ in range(trials):
        op = rng.choice(("ADD", "SUB"))
        sa, sb = _bshapes(rng, scale)
        a, b = _vals(rng, "int32", sa, 0.4 / scale), _vals(rng, "int32", sb, 0.4 / scale)
        if rng.random() < 0.6:                   # halve: no overflow but at the edges kept
            a, b = [(np.array(v) // 2).tolist() for v in (a, b)]
        fn = T.add if op == "ADD" else T.sub
        tally.check(M.binary(model, op, a, b, "int32"), M.spec_outcome(fn, a, b), (op, a, b))


def test_add_sub_int32_match_reference_model(model):
    t = Tally()
    run_add_sub(model, random.Random(1), 60, t)
    assert t.n[M.VALID] >= 10 and t.n[M.UNPREDICTABLE] >= 10, t.n


def _mul_case(rng, dtype, scale=1):
    if dtype != "int32":
        return _vals(rng, dtype, [2 * scale, 3]), _vals(rng, dtype, [2 * scale, 3]), 0
    shift = rng.choice((0, 1, 2, rng.randint(1, 63), 31, 32, 62, 63))
    a = _vals(rng, "int32", [2 * scale, 3], 0.3)
    if rng.random() < 0.3:                     # small factors: VALID at every shift
        a = [[rng.randint(-2**15, 2**15) for _ in r] for r in a]
        return a, [[rng.randint(-2**15, 2**15) for _ in r] for r in a], shift
    if rng.random() < 0.5:      # products near 2^(31 + shift): the REQUIRE edge; and exact ties
        b = [[rng.choice((1, 3, 2 ** min(shift, 30), 2 ** min(max(0, shift - 1), 30), rng.randint(-2**16, 2**16))) for _ in r] for r in a]
        a = [[rng.choice((1, -1, 3, -3, 2**31 - 1, -(2**31))) for _ in r] for r in a]
    else:
        b = _vals(rng, "int32", [2 * scale, 3], 0.3)
    return a, b, shift


def run_mul(model, rng, trials, tally, scale=1):
    """MUL cases; where the model's values differ only as the named deviation MUL_WRAP predicts
    ((-2^31)^2 at shift 63), the case counts in ``tally.known``."""
    for i in range(trials):
        dtype = ("int8", "int16", "int32", "int32")[i % 4]
        a, b, shift = _mul_case(rng, dtype, scale)
        got, want = M.binary(model, "MUL", a, b, dtype, shift=shift), M.spec_outcome(T.mul, a, b, shift, in_type=dtype)
        if got[0] == want[0] == M.VALID and not np.array_equal(got[1], want[1]):
            assert np.array_equal(got[1], M.mul_int64_wrap_model(a, b, shift, dtype)), ("MUL", dtype, shift, a, b)
            tally.known += int((got[1] != want[1]).sum())
            continue
        tally.check(got, want, ("MUL", dtype, shift, a, b))


def test_mul_matches_reference_model(model):
    t = Tally()
    run_mul(model, random.Random(2), 80, t)
    assert t.n[M.VALID] >= 30 and t.n[M.UNPREDICTABLE] >= 3, t.n


def test_mul_shift_63_int32_min_squared_is_the_named_model_deviation(model):
    """(-2^31)^2 = 2^62; + 2^62 = 2^63 is exact in the spec (result 1, within int32) but wraps in
    the model's int64 (result -1): the named deviation MUL_WRAP, on this one input pair only."""
    a, b = [[-(2**31), -(2**31), 2**31 - 1, -(2**31)]], [[-(2**31), 2**31 - 1, 2**31 - 1, 1]]
    assert T.mul(a, b, 63) == [[1, 0, 0, 0]]
    got = M.binary(model, "MUL", a, b, "int32", shift=63)
    assert got[0] == M.VALID and got[1].tolist() == [[-1, 0, 0, 0]]
    assert M.mul_int64_wrap_model(a, b, 63).tolist() == [[-1, 0, 0, 0]]
    assert T.mul(a, b, 62) == M.binary(model, "MUL", a, b, "int32", shift=62)[1].tolist() == [[1, -1, 1, 0]]


def test_mul_shift_on_int8_is_unpredictable_and_the_model_ignores_it(model):
    got = M.binary(model, "MUL", [[3, -5]], [[3, -5]], "int8", shift=1)
    assert got[0] == M.VALID and got[1].tolist() == [[9, 25]]
    assert M.spec_outcome(T.mul, [[3, -5]], [[3, -5]], 1, in_type="int8")[0] == M.UNPREDICTABLE


def run_ars(model, rng, trials, tally, scale=1):
    for i in range(trials):
        dtype = ("int8", "int16", "int32")[i % 3]
        bits = int(dtype[3:])
        a = _vals(rng, dtype, [2 * scale, 4], 0.3)
        b = [[rng.choice((0, 1, bits - 1, rng.randint(0, bits - 1))) for _ in range(4)] for _ in range(2 * scale)]
        if rng.random() < 0.2:
            b[1][rng.randint(0, 3)] = rng.choice((bits, -1, bits + 3))      # REQUIRE: shift outside [0, bits)
        rnd = rng.random() < 0.6
        tally.check(M.binary(model, "ARITHMETIC_RIGHT_SHIFT", a, b, dtype, round=rnd),
                    M.spec_outcome(T.arithmetic_right_shift, a, b, round=rnd, dtype=dtype), ("ARS", dtype, rnd, a, b))


def test_arithmetic_right_shift_matches_reference_model(model):
    t = Tally()
    run_ars(model, random.Random(3), 60, t)
    assert t.n[M.VALID] >= 20 and t.n[M.UNPREDICTABLE] >= 5, t.n


# --------------------------------------------------------------------------------------------
# TABLE / CLAMP / REDUCE_SUM
# --------------------------------------------------------------------------------------------

def _table16(rng, steep=False):
    base = rng.randint(-20000, 20000)
    tab = [base]
    for _ in range(512):
        tab.append(max(-32768, min(32767, tab[-1] + rng.randint(-400, 400))))
    if steep:
        i = rng.randint(0, 511)
        tab[i], tab[i + 1] = -32768, 32767           # slope 65535: REQUIRE
    return tab


def test_table_int8_every_input_matches_reference_model(model):
    rng = random.Random(4)
    tab = [rng.randint(-128, 127) for _ in range(256)]
    x = [list(range(-128, 128))]
    t = Tally()
    t.check(M.table(model, x, tab, "int8"), M.spec_outcome(T.table, x, tab, in_type="int8"), "TABLE int8")
    assert t.elements == 256


def test_table_int16_every_input_matches_reference_model(model):
    rng = random.Random(5)
    tab = _table16(rng)
    x = np.arange(-32768, 32768).reshape(256, 256).tolist()
    t = Tally()
    t.check(M.table(model, x, tab, "int16"), M.spec_outcome(T.table, x, tab, in_type="int16"), "TABLE int16")
    assert t.elements == 65536
    steep = _table16(rng, steep=True)
    t.check(M.table(model, x, steep, "int16"), M.spec_outcome(T.table, x, steep, in_type="int16"), "TABLE slope")
    assert t.n[M.UNPREDICTABLE] == 1


def run_tables(model, rng, trials, tally, scale=1):
    """Every int16 input through ``trials`` random 513-entry tables (and every int8 input)."""
    x16, x8 = np.arange(-32768, 32768).reshape(256, 256).tolist(), [list(range(-128, 128))]
    for _ in range(trials):
        tab = _table16(rng)
        tally.check(M.table(model, x16, tab, "int16"), M.spec_outcome(T.table, x16, tab, in_type="int16"), "TABLE16")
        tab8 = [rng.randint(-128, 127) for _ in range(256)]
        tally.check(M.table(model, x8, tab8, "int8"), M.spec_outcome(T.table, x8, tab8, in_type="int8"), "TABLE8")


def test_table_wrong_length_model_rejects(model):
    """The pseudo-code says REQUIRE (UNPREDICTABLE); the model rejects the graph (allowed)."""
    tab = [0] * 512
    assert M.table(model, [[5]], tab, "int16")[0] == M.ERROR
    assert M.spec_outcome(T.table, [[5]], tab, in_type="int16")[0] == M.UNPREDICTABLE


def run_clamp(model, rng, trials, tally, scale=1):
    for i in range(trials):
        dtype = ("int8", "int16")[i % 2]
        lo, hi = RANGE[dtype]
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        a, b = (max(a, b), min(a, b)) if rng.random() < 0.15 else (min(a, b), max(a, b))
        x = _vals(rng, dtype, [3 * scale, 5])
        tally.check(M.clamp(model, x, a, b, dtype), M.spec_outcome(T.clamp, x, a, b, dtype=dtype), ("CLAMP", a, b))


def test_clamp_matches_reference_model(model):
    t = Tally()
    run_clamp(model, random.Random(6), 40, t)
    assert t.n[M.VALID] >= 20 and t.n[M.ERROR] >= 1, t.n


def run_reduce_sum(model, rng, trials, tally, scale=1):
    for _ in range(trials):
        shape = [rng.randint(1, 5) * (scale if i == 0 else 1) for i in range(rng.randint(1, 3))]
        x = _vals(rng, "int32", shape, 0.5) if rng.random() < 0.4 else \
            np.array([rng.randint(-2**26, 2**26) for _ in range(int(np.prod(shape)))]).reshape(shape).tolist()
        axis = rng.choice(list(range(len(shape))) + [len(shape)])
        tally.check(M.reduce_sum(model, x, axis), M.spec_outcome(T.reduce_sum, x, axis), ("REDUCE_SUM", axis, x),
                    inputs=int(np.prod(shape)))


def test_reduce_sum_matches_reference_model(model):
    t = Tally()
    run_reduce_sum(model, random.Random(7), 50, t)
    assert t.n[M.VALID] >= 15 and t.n[M.UNPREDICTABLE] >= 1 and t.n[M.ERROR] >= 3, t.n


# --------------------------------------------------------------------------------------------
# AVG_POOL2D / MAX_POOL2D
# --------------------------------------------------------------------------------------------

def _pool_case(rng, dtype, scale=1):
    ky, kx = rng.randint(1, 4), rng.randint(1, 4)
    sy, sx = rng.randint(1, 3), rng.randint(1, 3)
    pad = [rng.randint(0, ky - 1), rng.randint(0, ky - 1), rng.randint(0, kx - 1), rng.randint(0, kx - 1)]
    oh, ow = rng.randint(1, 4), rng.randint(1, 4)
    ih, iw = (oh - 1) * sy + ky - pad[0] - pad[1], (ow - 1) * sx + kx - pad[2] - pad[3]
    if ih < 1 or iw < 1:
        return None
    x = _vals(rng, dtype, [1, ih, iw, rng.randint(1, 3) * scale], 0.3)
    return x, [ky, kx], [sy, sx], pad


def run_pools(model, rng, trials, tally, scale=1):
    for i in range(trials):
        dtype = ("int8", "int8", "int16")[i % 3]
        case = _pool_case(rng, dtype, scale)
        if case is None:
            continue
        x, k, s, p = case
        izp, ozp = (rng.randint(-128, 127), rng.randint(-128, 127)) if dtype == "int8" else (0, 0)
        tally.check(M.pool(model, "AVG_POOL2D", x, k, s, p, dtype, izp, ozp),
                    M.spec_outcome(T.avg_pool2d, x, k, s, p, input_zp=izp, output_zp=ozp, in_type=dtype),
                    ("AVG_POOL2D", k, s, p, izp, ozp))
        tally.check(M.pool(model, "MAX_POOL2D", x, k, s, p, dtype),
                    M.spec_outcome(T.max_pool2d, x, k, s, p, in_type=dtype), ("MAX_POOL2D", k, s, p))


def test_pools_match_reference_model(model):
    t = Tally()
    run_pools(model, random.Random(8), 40, t)
    assert t.n[M.VALID] >= 50, t.n


def test_avg_pool_accumulator_type_matches_reference_model(model):
    """acc_type: int32 is the only accumulator for int8 / int16 inputs; int8 or int16 accumulators
    are rejected (ERROR_IF) by refquant and by the model alike."""
    t = Tally()
    x = (np.arange(16).reshape(1, 4, 4, 1) - 8).tolist()
    for in_type, scale in (("int8", 1), ("int16", 100)):
        xs = (np.array(x) * scale).tolist()
        for acc in ("int32", "int16", "int8"):
            if in_type == "int16" and acc == "int8":
                continue
            got = M.pool(model, "AVG_POOL2D", xs, (2, 2), (2, 2), (0, 0, 0, 0), in_type, acc_type=acc)
            want = M.spec_outcome(T.avg_pool2d, xs, (2, 2), (2, 2), (0, 0, 0, 0), in_type=in_type, acc_type=acc)
            t.check(got, want, (in_type, acc))
    assert t.n == {M.VALID: 2, M.ERROR: 3, M.UNPREDICTABLE: 0}, t.n


def test_avg_pool_ties_match_reference_model(model):
    """Every sum of 1..16 taps whose average is an exact half (and its neighbours): a column of
    int8 values with kernel (count, 1) -- the reciprocal_scale rounding at ties."""
    t = Tally()
    for count in range(1, 17):
        sums = sorted({(2 * k + 1) * count // 2 + d for k in range(-128, 128) for d in (-1, 0, 1)
                       if -128 * count <= (2 * k + 1) * count // 2 + d <= 127 * count})
        cols = []
        for total in sums:
            q, r = divmod(total, count)
            cols.append([q + (j < r) for j in range(count)])
        x = [[[[c[j]] for c in cols] for j in range(count)]]        # N=1, H=count, W=len(sums), C=1
        t.check(M.pool(model, "AVG_POOL2D", x, [count, 1], [1, 1], [0, 0, 0, 0], "int8"),
                M.spec_outcome(T.avg_pool2d, x, [count, 1], [1, 1], [0, 0, 0, 0]), ("AVG ties", count))
    assert t.elements > 3000


# --------------------------------------------------------------------------------------------
# ERROR_IF: refquant raises SpecError and the model rejects the graph
# --------------------------------------------------------------------------------------------

X33 = [[[[1], [2], [3]], [[4], [5], [6]], [[7], [8], [9]]]]
ERROR_IF = [  # (name, refquant call, model call)
    ("ADD shapes", lambda: T.add([[1, 2, 3]], [[1, 2]]), lambda m: M.binary(m, "ADD", [[1, 2, 3]], [[1, 2]], "int32")),
    ("SUB shapes", lambda: T.sub([[1], [2]], [[1], [2], [3]]),
     lambda m: M.binary(m, "SUB", [[1], [2]], [[1], [2], [3]], "int32")),
    ("CLAMP max < min", lambda: T.clamp([1], 5, 4), lambda m: M.clamp(m, [[1]], 5, 4, "int8")),
    ("REDUCE_SUM axis", lambda: T.reduce_sum([[1, 2]], 2), lambda m: M.reduce_sum(m, [[1, 2]], 2)),
    ("AVG_POOL2D int16 zp", lambda: T.avg_pool2d(X33, [2, 2], [1, 1], [0, 0, 0, 0], input_zp=1, in_type="int16"),
     lambda m: M.pool(m, "AVG_POOL2D", X33, [2, 2], [1, 1], [0, 0, 0, 0], "int16", 1, 0)),
    ("AVG_POOL2D pad >= kernel", lambda: T.avg_pool2d(X33, [2, 2], [1, 1], [2, 0, 0, 0]),
     lambda m: M.pool(m, "AVG_POOL2D", X33, [2, 2], [1, 1], [2, 0, 0, 0], "int8")),
    ("AVG_POOL2D idiv_check", lambda: T.avg_pool2d(X33, [2, 2], [2, 2], [0, 0, 0, 0]),
     lambda m: M.pool(m, "AVG_POOL2D", X33, [2, 2], [2, 2], [0, 0, 0, 0], "int8")),
    ("MAX_POOL2D stride 0", lambda: T.max_pool2d(X33, [2, 2], [0, 1], [0, 0, 0, 0]),
     lambda m: M.pool(m, "MAX_POOL2D", X33, [2, 2], [0, 1], [0, 0, 0, 0], "int8", out_hw=(2, 2))),
    ("MAX_POOL2D pad >= kernel", lambda: T.max_pool2d(X33, [2, 2], [1, 1], [0, 0, 0, 2]),
     lambda m: M.pool(m, "MAX_POOL2D", X33, [2, 2], [1, 1], [0, 0, 0, 2], "int8")),
    ("AVG_POOL2D kernel 0", lambda: T.avg_pool2d(X33, [0, 2], [1, 1], [0, 0, 0, 0]),
     lambda m: M.pool(m, "AVG_POOL2D", X33, [0, 2], [1, 1], [0, 0, 0, 0], "int8", out_hw=(3, 2))),
    ("AVG_POOL2D negative pad", lambda: T.avg_pool2d(X33, [2, 2], [1, 1], [-1, 0, 0, 0]),
     lambda m: M.pool(m, "AVG_POOL2D", X33, [2, 2], [1, 1], [-1, 0, 0, 0], "int8", out_hw=(2, 2))),
    ("MAX_POOL2D idiv_check", lambda: T.max_pool2d(X33, [2, 2], [2, 2], [0, 0, 0, 0]),
     lambda m: M.pool(m, "MAX_POOL2D", X33, [2, 2], [2, 2], [0, 0, 0, 0], "int8")),
    ("CLAMP int16 max < min", lambda: T.clamp([1], 300, -300, dtype="int16"),
     lambda m: M.clamp(m, [[1]], 300, -300, "int16")),
    ("SUB ranks", lambda: T.sub([[1, 2]], [1, 2]), lambda m: M.binary(m, "SUB", [[1, 2]], [1, 2], "int32")),
    ("quantized ADD int16 zp", lambda: T.quantized_add([1], 0.5, 3, [1], 0.5, 0, 0.5, 0, dtype="int16"),
     lambda m: M.rescale(m, [1], (2**30, 11), "int16", "int32", 3)),
]


@pytest.mark.parametrize("case", range(len(ERROR_IF)), ids=[c[0] for c in ERROR_IF])
def test_error_if_is_spec_error_and_model_rejects(case, model):
    name, ours, theirs = ERROR_IF[case]
    with pytest.raises(SpecError):
        ours()
    assert theirs(model)[0] == M.ERROR, name


def test_model_crashes_on_an_error_if_inside_a_two_operator_graph():
    """tosa-tools 2026.8.0: a RESCALE whose ERROR_IF (an int16 zero point) is found while the graph
    runs is reported as TOSA_ERROR alone, but kills the process (SIGSEGV) when a second operator
    follows it.  So the ERROR_IF cases above run one operator per graph; this records the crash
    (in a child process) and that the model never calls such a graph VALID."""
    import subprocess
    import sys
    script = ("from refquant.peers import tosa_ops as M\nm = M.Model()\ng = m.graph()\n"
              "x = M._step(m, g, g.input([[1, 2]], 'int16'), ('RESCALE', 2**30, 30, 'int16', 'int32', 3, 0, "
              "'SINGLE_ROUND'), [1, 2])\n"
              "M._step(m, g, x, ('RESCALE', 2**30, 30, 'int32', 'int16', 0, 0, 'SINGLE_ROUND'), [1, 2], out=True)\n"
              "print(g.run()[0], flush=True)\n")
    env = dict(os.environ, TOSA_MODEL_NO_BACKTRACE="1", PATH=os.path.dirname(sys.executable))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert "VALID" not in res.stdout
    assert res.returncode == -11 or res.stdout.strip() == M.ERROR, (res.returncode, res.stdout)


# --------------------------------------------------------------------------------------------
# Quantized ADD / SUB / MUL as RESCALE chains
# --------------------------------------------------------------------------------------------

def _f32(rng, lo, hi):
    return float(np.float32(rng.uniform(lo, hi)))


def _chain_case(rng, scale=1):
    op = rng.choice(("ADD", "SUB", "MUL"))
    dtype = "int8" if rng.random() < 0.8 else "int16"
    if rng.random() < 0.3:        # powers of two: exact ties through every RESCALE
        sa, sb, sy = (2.0 ** rng.randint(-10, -2) for _ in range(3))
    else:
        sa, sb, sy = _f32(rng, 0.001, 0.1), _f32(rng, 0.001, 0.1), _f32(rng, 0.002, 0.3)
    zps = (lambda: rng.randint(-128, 127)) if dtype == "int8" else (lambda: 0)
    a, b = _vals(rng, dtype, [2 * scale, 5], 0.3), _vals(rng, dtype, [2 * scale, 5], 0.3)
    return op, dtype, (a, sa, zps(), b, sb, zps(), sy, zps())


def run_chains(model, rng, trials, tally, scale=1):
    fns = {"ADD": T.quantized_add, "SUB": T.quantized_sub, "MUL": T.quantized_mul}
    for _ in range(trials):
        op, dtype, args = _chain_case(rng, scale)
        for mode in ("SINGLE_ROUND", "DOUBLE_ROUND"):
            tally.check(M.chain(model, op, *args, dtype=dtype, mode=mode),
                        M.spec_outcome(fns[op], *args, dtype=dtype, rounding_mode=mode), (op, dtype, mode, args))


def test_quantized_chains_match_reference_model(model):
    t = Tally()
    run_chains(model, random.Random(9), 30, t)
    assert t.n[M.VALID] >= 40, t.n


def run_uint8_chains(model, rng, trials, tally, scale=1):
    """uint8 ADD / SUB / MUL through TensorFlow's uint8 pass: refquant vs the model running the
    unsigned RESCALEs, the int8 chain and the RESCALE back (edges 0 / 255 and zero points 0 / 255)."""
    fns = {"ADD": T.quantized_add, "SUB": T.quantized_sub, "MUL": T.quantized_mul}
    for _ in range(trials):
        op = rng.choice(("ADD", "SUB", "MUL"))
        sa, sb, sy = _f32(rng, 0.001, 0.1), _f32(rng, 0.001, 0.1), _f32(rng, 0.002, 0.3)
        za, zb, zy = (rng.choice((0, 128, 255)) if rng.random() < 0.3 else rng.randint(0, 255) for _ in range(3))
        a, b = ([[rng.choice((0, 255)) if rng.random() < 0.2 else rng.randint(0, 255) for _ in range(5)]
                 for _ in range(2 * scale)] for _ in range(2))
        args = (a, sa, za, b, sb, zb, sy, zy)
        for mode in ("SINGLE_ROUND", "DOUBLE_ROUND"):
            tally.check(M.chain_uint8(model, op, *args, mode=mode),
                        M.spec_outcome(fns[op], *args, dtype="uint8", rounding_mode=mode), (op, mode, args))


def test_uint8_chains_match_reference_model(model):
    t = Tally()
    run_uint8_chains(model, random.Random(11), 12, t)
    assert t.n[M.VALID] == 24, t.n


def test_uint8_pass_keeps_every_binary32_scale():
    """The pass re-derives each uint8 tensor's int8 type from its real range in binary64. For a
    binary32 scale s every step is exact ((k - zp)*s has at most 32 significant bits, the width is
    255*s or 254*s exactly, and dividing it back gives s), so the int8 type is (s, zp - 128) and a
    uint8 chain is the int8 chain on x - 128.  A scale that is not binary32 (only a hand-written
    MLIR type can carry one) can change in its last bit; the output check then refuses the graph."""
    rng = random.Random(4)
    for _ in range(3000):
        s, zp, narrow = _f32(rng, 1e-6, 10.0), rng.randint(1, 255), rng.random() < 0.3
        assert T.uint8_as_int8_type(s, zp, narrow) == (s, zp - 128)
    assert T.uint8_as_int8_type(0.1, 1) == (Fraction(0.10000000000000002), -127)   # binary64 0.1: fl64(253.1 - ...) rounds
    a = [[0, 255, 128]]
    assert T.quantized_add(a, 0.5, 3, a, 0.25, 7, 0.125, 9, dtype="uint8") == [
        [v + 128 for v in row] for row in T.quantized_add([[-128, 127, 0]], 0.5, 3 - 128, [[-128, 127, 0]], 0.25,
                                                          7 - 128, 0.125, 9 - 128, dtype="int8")]
    with pytest.raises(SpecError, match="scale mismatch at the output"):
        T.quantized_add(a, 0.5, 3, a, 0.25, 7, 0.1, 1, dtype="uint8")


# --------------------------------------------------------------------------------------------
# The slow sweep: >= 10^5 elements per operator
# --------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("op", ["add_sub", "mul", "ars", "clamp", "reduce_sum", "pools", "chains", "table",
                                "uint8_chains"])
def test_sweep_against_reference_model(op, model):
    """Each operator on >= 10^5 elements (seeded); prints the outcome counts docs/ops.md records."""
    runner, trials, scale = {"add_sub": (run_add_sub, 600, 40), "mul": (run_mul, 600, 40),
                             "ars": (run_ars, 600, 30), "clamp": (run_clamp, 400, 20),
                             "reduce_sum": (run_reduce_sum, 600, 40), "pools": (run_pools, 600, 30),
                             "chains": (run_chains, 300, 40), "table": (run_tables, 2, 1),
                             "uint8_chains": (run_uint8_chains, 300, 40)}[op]
    t = Tally()
    runner(model, random.Random(f"sweep-{op}"), trials, t, scale)
    print(op, t.n, "elements", t.elements, "reduced inputs", t.inputs, "known-deviation elements", t.known)
    assert max(t.elements, t.inputs) >= 10**5, (t.n, t.elements, t.inputs)


def test_chain_require_is_unpredictable_in_both(model):
    """A tiny output scale makes the output RESCALE's shift small, so the int32 sum leaves its
    REQUIRE range -2^(shift-1) <= v < 2^(shift-1): UNPREDICTABLE in refquant and in the model; a
    scale beyond what scale32 can hold (shift < 2) is not a graph at all: InvalidValueError."""
    t = Tally()
    for op, fn, sy in (("ADD", T.quantized_add, 2.0**-30), ("MUL", T.quantized_mul, 2.0**-20),
                       ("SUB", T.quantized_sub, 2.0**-30)):
        args = ([[100, -100, 1, 0]], 1.0, 0, [[100, -100, 0, 0]], 1.0, 0, sy, 0)
        t.check(M.chain(model, op, *args), M.spec_outcome(fn, *args), (op, sy))
    assert t.n[M.UNPREDICTABLE] == 3
    assert T.add_chain_scales(1.0, 1.0, 2.0**-30)[2] == 2**11
    with pytest.raises(InvalidValueError, match="shift 0 < 2"):
        T.quantized_mul([1], 1.0, 0, [1], 1.0, 0, 2.0**-30, 0)
