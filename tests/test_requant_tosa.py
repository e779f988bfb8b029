"""refquant TOSA methods against the TOSA reference model (tosa-tools 2026.8.0, Python binding).

Each case serializes one RESCALE or MATMUL graph with ``tosa_serializer`` and runs it with
``tosa_reference_model.run`` in-process (no files).  Unsigned 8-bit data and zero points
travel as INT8 bits, as TOSA 1.0 stores them (requant.md §6).
"""

import random

import pytest

from peers import need
from refquant import ops
from refquant import requant as rq
from refquant import tosa as tosa_spec
from refquant.errors import InvalidValueError, SpecError, UnknownNameError, Unpredictable

np = need("numpy")
ts = need("tosa_serializer", "tosa-tools")
trm = need("tosa_reference_model", "tosa-tools")
from tosa.Op import Op  # noqa: E402
from tosa.RoundingMode import RoundingMode  # noqa: E402

DT = {"int8": (ts.DType.INT8, np.int8), "int16": (ts.DType.INT16, np.int16), "int32": (ts.DType.INT32, np.int32)}


def bits(v, t):
    """A logical (possibly unsigned) value as the signed integer of type t holding its bits."""
    w = {"int8": 8, "int16": 16, "int32": 32}[t]
    return v - 2**w if v >= 2 ** (w - 1) else v


def model_rescale(values, m, s, in_type, out_type, in_zp, out_zp, scale32, double_round, per_channel,
                  input_unsigned, output_unsigned, rounding_mode=None):
    ser = ts.TosaSerializer("")
    shape = list(np.shape(values))
    in_dt, in_np = DT[in_type]
    out_dt, _ = DT[out_type]
    data = np.array([[bits(v, in_type) for v in row] for row in values], dtype=in_np)
    x = ser.addPlaceholder(shape, in_dt, None)
    ms, ss = (m, s) if per_channel else ([m], [s])
    m_dt, m_np = (ts.DType.INT32, np.int32) if scale32 else (ts.DType.INT16, np.int16)
    mult = ser.addConst([len(ms)], m_dt, np.array(ms, dtype=m_np))
    shift = ser.addConst([len(ss)], ts.DType.INT8, np.array(ss, dtype=np.int8))
    izp = ser.addConst([1], in_dt, np.array([bits(in_zp, in_type)], dtype=in_np))
    ozp = ser.addConst([1], out_dt, np.array([bits(out_zp, out_type)], dtype=DT[out_type][1]))
    out = ser.addOutput(shape, out_dt)
    attr = ts.TosaSerializerAttribute()
    mode = RoundingMode.DOUBLE_ROUND if double_round else RoundingMode.SINGLE_ROUND
    if rounding_mode is not None:
        mode = getattr(RoundingMode, rounding_mode)
    attr.RescaleAttribute(scale32, mode, per_channel, input_unsigned, output_unsigned)
    ser.addOperator(Op.RESCALE, [x.name, mult.name, shift.name, izp.name, ozp.name], [out.name], attr)
    outputs, status = trm.run(bytes(ser.serialize()), [data])
    if status.name != "TOSA_VALID":
        return None, status.name
    w = {"int8": 8, "int16": 16, "int32": 32}[out_type]
    res = [[int(v) % 2**w if output_unsigned else int(v) for v in row] for row in outputs[0]]
    return res, status.name


CONFIGS = [  # in_type, out_type, input_unsigned, output_unsigned, scale32, double_round
    ("int32", "int8", False, False, True, False), ("int32", "int8", False, False, True, True),
    ("int32", "int16", False, False, True, True), ("int16", "int8", False, True, True, False),
    ("int8", "int8", True, False, True, False), ("int8", "int8", False, True, True, True),
    ("int8", "int8", False, False, False, False), ("int16", "int8", False, False, False, False),
    ("int16", "int8", True, False, True, False), ("int8", "int32", False, False, True, True),
    ("int16", "int16", False, True, True, False), ("int32", "int32", False, False, False, False),
]


def _range(t, unsigned):
    w = {"int8": 8, "int16": 16, "int32": 32}[t]
    return (0, 2**w - 1) if unsigned else (-(2 ** (w - 1)), 2 ** (w - 1) - 1)


def _zp(rng, t, unsigned):
    if t == "int8":
        return rng.randint(*_range(t, unsigned))
    if t == "int16" and unsigned:
        return rng.choice([0, 32768])
    return 0


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(str(v) for v in c))
def test_rescale_matches_reference_model(config):
    in_type, out_type, iu, ou, scale32, double_round = config
    rng = random.Random(repr(config))
    valid = unpredictable = 0
    for trial in range(12):
        C = rng.randint(1, 4)
        per_channel = rng.random() < 0.5
        lo, hi = _range(in_type, iu)
        if in_type == "int32" and trial % 4:
            lo, hi = -(2**27), 2**27 - 1          # inside the REQUIRE range of every s >= 28
        values = [[rng.randint(lo, hi) for _ in range(C)] for _ in range(6)]
        values[0] = [lo] * C if trial % 3 == 0 else values[0]
        in_zp, out_zp = _zp(rng, in_type, iu), _zp(rng, out_type, ou)
        n = C if per_channel else 1
        if scale32:
            ms = [rng.choice([rng.randint(2**30, 2**31 - 1), 2**30, rng.randint(0, 2**31 - 1)]) for _ in range(n)]
            ss = [rng.randint({"int8": 9, "int16": 17, "int32": 28}[in_type] - (trial == 5), 45) for _ in range(n)]
        else:
            ms = [rng.randint(0, 2**15 - 1) for _ in range(n)]
            ss = [rng.randint(2, 40) for _ in range(n)]
        m, s = (ms, ss) if per_channel else (ms[0], ss[0])
        kw = dict(in_type=in_type, out_type=out_type, in_zp=in_zp, out_zp=out_zp, scale32=scale32,
                  double_round=double_round, per_channel=per_channel, input_unsigned=iu, output_unsigned=ou)
        got, status = model_rescale(values, m, s, in_type, out_type, in_zp, out_zp, scale32, double_round,
                                    per_channel, iu, ou)
        try:
            expected = tosa_spec.tosa_rescale(values, m, s, **kw)
        except Unpredictable:
            assert status == "TOSA_UNPREDICTABLE", (kw, m, s)
            unpredictable += 1
            continue
        assert status == "TOSA_VALID" and got == expected, (kw, m, s)
        valid += 1
    assert valid >= 4, (valid, unpredictable)


ERROR_IF_CASES = [  # (arguments, message, also run the model)
    (dict(in_type="int8", out_type="int8", input_unsigned=True, output_unsigned=True), "both set", True),
    (dict(in_type="int32", out_type="int8", input_unsigned=True), "unsigned flag with int32", True),
    (dict(in_type="int32", out_type="int8", output_unsigned=True), "unsigned flag with int32", True),
    (dict(in_type="int8", out_type="int32", output_unsigned=True), "unsigned flag with int32", True),
    (dict(in_type="int16", out_type="int32", input_unsigned=True), "unsigned flag with int32", True),
    (dict(in_type="int8", out_type="int8", scale32=False, double_round=True), "DOUBLE_ROUND without scale32", True),
    (dict(in_type="int32", out_type="int8", in_zp=1), "input zero point 1", True),
    (dict(in_type="int16", out_type="int8", in_zp=5, input_unsigned=True), "input zero point 5", True),
    (dict(in_type="int8", out_type="int16", out_zp=3), "output zero point 3", True),
]


def _error_if_kwargs(args):
    kw = dict(in_type="int8", out_type="int8", in_zp=0, out_zp=0, scale32=True, double_round=False,
              per_channel=False, input_unsigned=False, output_unsigned=False)
    kw.update(args)
    return kw


_MODEL_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import test_requant_tosa as T
out = []
for kw in json.loads(sys.argv[2]):
    m = 2**30 if kw["scale32"] else 2**14
    try:
        _, status = T.model_rescale([[1, 2]], m, 31, kw["in_type"], kw["out_type"], kw["in_zp"], kw["out_zp"],
                                    kw["scale32"], kw["double_round"], False, kw["input_unsigned"],
                                    kw["output_unsigned"])
    except ValueError as e:  # the binding raises "Invalid TOSA graph" on an ERROR_IF
        status = str(e)
    out.append(status)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def model_error_if_statuses():
    """Run every ERROR_IF case through the model in a fresh process.

    On an ERROR_IF the model forks gdb for a backtrace: seconds per case, and a hang when
    onnxruntime's threads live in the same process.  So: a clean child with gdb off PATH.
    """
    import json
    import os
    import subprocess
    import sys
    cases = [_error_if_kwargs(args) for args, _, _ in ERROR_IF_CASES]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    here = os.path.dirname(os.path.abspath(__file__))
    res = subprocess.run([sys.executable, "-c", _MODEL_SCRIPT, here, json.dumps(cases)], env=env,
                         capture_output=True, text=True, timeout=120)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", range(len(ERROR_IF_CASES)))
def test_rescale_error_if_is_spec_error_and_model_rejects(case, model_error_if_statuses):
    args, match, run_model = ERROR_IF_CASES[case]
    kw = _error_if_kwargs(args)
    m = 2**30 if kw["scale32"] else 2**14
    with pytest.raises(SpecError, match=match):
        tosa_spec.tosa_rescale([[1, 2]], m, 31, **kw)
    if run_model:
        assert model_error_if_statuses[case] != "TOSA_VALID"


def test_rescale_worked_numbers_requant_md_section6():
    # int16 255 * 0.5 = 127.5 -> 128 -> 127 (rounding before saturation)
    assert tosa_spec.tosa_rescale([255], 2**30, 31, in_type="int16", out_type="int8") == [127]
    # int8, in_zp 127, out_zp -1, x0.5: -128 -> -127.5 -> -127 -> -128
    assert tosa_spec.tosa_rescale([-128], 2**30, 31, in_type="int8", out_type="int8", in_zp=127, out_zp=-1) == [-128]
    # x/8 (2^30, 33): -4 / -12 -> SINGLE 0 / -1, DOUBLE -1 / -2
    assert tosa_spec.tosa_rescale([-4, -12], 2**30, 33) == [0, -1]
    assert tosa_spec.tosa_rescale([-4, -12], 2**30, 33, double_round=True) == [-1, -2]
    # uint8 travels with zp 128 (logical)
    assert tosa_spec.tosa_rescale([128, 0], 2**30, 30, in_type="int8", input_unsigned=True, in_zp=128) == [0, -128]


def test_tosa_methods_equal_rescale_int32_in():
    p = rq.derive_params("tosa_double", 0.03125, [0.0078125, 0.01171875], 0.25)
    accs = [[-100000, 123], [77777, -1]]
    for method, dr in (("tosa_single", False), ("tosa_double", True)):
        ka = p.kernel_args()
        direct = tosa_spec.tosa_rescale(accs, ka["m"], ka["s"], out_type="int8", out_zp=3, per_channel=True, double_round=dr)
        assert rq.requantize(accs, method, p, 3, "int8") == direct


def model_matmul(A, B, za, zb):
    ser = ts.TosaSerializer("")
    a = np.array(A, np.int8)
    b = np.array(B, np.int8)
    pa = ser.addPlaceholder(list(a.shape), ts.DType.INT8, None)
    pb = ser.addPlaceholder(list(b.shape), ts.DType.INT8, None)
    cza = ser.addConst([1], ts.DType.INT8, np.array([za], np.int8))
    czb = ser.addConst([1], ts.DType.INT8, np.array([zb], np.int8))
    out = ser.addOutput([a.shape[0], a.shape[1], b.shape[2]], ts.DType.INT32)
    attr = ts.TosaSerializerAttribute()
    attr.MatMulAttribute()
    ser.addOperator(Op.MATMUL, [pa.name, pb.name, cza.name, czb.name], [out.name], attr)
    outputs, status = trm.run(bytes(ser.serialize()), [a, b])
    return (outputs[0].tolist() if status.name == "TOSA_VALID" else None), status.name


def test_matmul_with_zero_points_matches_reference_model():
    rng = np.random.default_rng(4)
    for _ in range(15):
        N, H, C, W = (int(v) for v in rng.integers(1, 5, 4))
        C *= 8
        A = rng.integers(-128, 128, (N, H, C)).tolist()
        B = rng.integers(-128, 128, (N, C, W)).tolist()
        za, zb = (int(v) for v in rng.integers(-128, 128, 2))
        got, status = model_matmul(A, B, za, zb)
        assert status == "TOSA_VALID"
        assert got == ops.matmul_integer(A, B, za, zb, "int8", "int8")


# --------------------------------------------------------------------------------------------
# INEXACT_ROUND (TOSA 1.0 EXT-INEXACTROUND, issue 11 item 4): a range of allowed results
# --------------------------------------------------------------------------------------------

def _inexact_trial(rng, config):
    """One random RESCALE (values, multiplier, shift, kwargs) inside every REQUIRE of the spec."""
    in_type, out_type, iu, ou, scale32, _ = config
    C, per_channel = rng.randint(1, 4), rng.random() < 0.5
    lo, hi = _range(in_type, iu)
    if in_type == "int32":
        lo, hi = -(2**27), 2**27 - 1
    values = [[rng.randint(lo, hi) for _ in range(C)] for _ in range(8)]
    values[0] = [lo] * C
    n = C if per_channel else 1
    bits = {"int8": 9, "int16": 17, "int32": 28}[in_type]
    if scale32:
        ms = [rng.choice([2**30, rng.randint(2**30, 2**31 - 1), rng.randint(0, 2**31 - 1)]) for _ in range(n)]
        ss = [rng.choice([31, rng.randint(bits, 45)]) for _ in range(n)]
    else:
        ms = [rng.choice([2**14, rng.randint(0, 2**15 - 1)]) for _ in range(n)]
        ss = [rng.randint(max(2, bits - 1), 40) if in_type == "int32" else rng.randint(2, 40) for _ in range(n)]
    kw = dict(in_type=in_type, out_type=out_type, in_zp=_zp(rng, in_type, iu), out_zp=_zp(rng, out_type, ou),
              scale32=scale32, per_channel=per_channel, input_unsigned=iu, output_unsigned=ou)
    return values, (ms, ss) if per_channel else (ms[0], ss[0]), kw


def test_rescale_inexact_model_output_lies_in_the_spec_range():
    """tosa-tools 2026.8.0 runs INEXACT_ROUND in binary32 (rint of fl(fl(v)*fl(m))*2^-s): its every
    output lies in refquant's allowed range, as does the exact SINGLE_ROUND result, and the two
    differ often enough that an exact-value comparison would be wrong."""
    rng = random.Random(20260411)
    elements = differ = narrowest = 0
    for config in CONFIGS:
        if config[5]:
            continue                        # DOUBLE_ROUND rows: the mode is the attribute under test
        for _ in range(8):
            values, (m, s), kw = _inexact_trial(rng, config)
            try:
                bounds = tosa_spec.tosa_rescale_bounds(values, m, s, **kw)
            except Unpredictable:
                continue
            single = tosa_spec.tosa_rescale(values, m, s, **kw)
            got, status = model_rescale(values, m, s, kw["in_type"], kw["out_type"], kw["in_zp"], kw["out_zp"],
                                        kw["scale32"], False, kw["per_channel"], kw["input_unsigned"],
                                        kw["output_unsigned"], rounding_mode="INEXACT_ROUND")
            assert status == "TOSA_VALID", (config, m, s, kw)
            for brow, grow, srow in zip(bounds, got, single):
                for (lo, hi), g, e in zip(brow, grow, srow):
                    assert lo <= g <= hi and lo <= e <= hi, (config, m, s, kw, lo, hi, g, e)
                    elements, differ, narrowest = elements + 1, differ + (g != e), narrowest + (lo == hi)
    assert elements >= 1000 and differ > 0 and narrowest > 0, (elements, differ, narrowest)


def test_rescale_inexact_worked_numbers():
    # x0.5 (2^30, 31), int32 -> int8: out_ref -1.5, 2.5, 2 and two saturations
    assert tosa_spec.tosa_rescale_bounds([-3, 5, 4, 1000, -1000], 2**30, 31) == [(-2, -1), (2, 3), (2, 2), (127, 127),
                                                                        (-128, -128)]
    # out_ref = 2^28: err_bnd = 0.5 + (3 * 2^28 + 2^28) * 2^-24 = 64.5
    assert tosa_spec.tosa_rescale_bounds([2**28], 2**30, 30, out_type="int32") == [(2**28 - 64, 2**28 + 64)]
    # the output zero point widens the bound by |out_ref + zp| * 2^-24: still less than one code here
    assert tosa_spec.tosa_rescale_bounds([0, 1], 2**30, 31, in_type="int8", out_zp=-100) == [(-100, -100), (-100, -99)]
    # unsigned output: clipped to [0, 255], zero point 128 (logical)
    assert tosa_spec.tosa_rescale_bounds([-300, 3], 2**30, 31, in_type="int16", output_unsigned=True,
                                  out_zp=128) == [(0, 0), (129, 130)]


def test_rescale_inexact_outcomes_and_api():
    with pytest.raises(InvalidValueError, match="tosa_rescale_bounds"):
        tosa_spec.tosa_rescale([1], 2**30, 31, rounding_mode="INEXACT_ROUND")
    assert tosa_spec.tosa_rescale([-4, -12], 2**30, 33, rounding_mode="DOUBLE_ROUND") == [-1, -2]
    assert tosa_spec.tosa_rescale([-4, -12], 2**30, 33, rounding_mode="SINGLE_ROUND") == [0, -1]
    with pytest.raises(InvalidValueError, match="contradicts"):
        tosa_spec.tosa_rescale([1], 2**30, 33, double_round=True, rounding_mode="SINGLE_ROUND")
    with pytest.raises(UnknownNameError, match="rounding mode"):
        tosa_spec.tosa_rescale([1], 2**30, 33, rounding_mode="NEAREST")
    with pytest.raises(Unpredictable, match="REQUIRE"):                       # v = 512 at s = 10
        tosa_spec.tosa_rescale_bounds([512], 2**30, 10)
    with pytest.raises(SpecError, match="unsigned flag"):
        tosa_spec.tosa_rescale_bounds([1], 2**30, 31, in_type="int32", output_unsigned=True)
    assert tosa_spec.tosa_rescale_bounds([[7, 9]], [2**14, 2**13], [15, 15], in_type="int8", per_channel=True,
                                  scale32=False) == [[(3, 4), (2, 2)]]      # 3.5 and 2.25
