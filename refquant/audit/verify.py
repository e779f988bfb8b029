"""``refquant verify BACKEND`` and ``refquant check``: conformance tables of installed backends.

Every backend runs the same small deterministic single-op cases (or the golden vectors when
``refquant.golden`` ships them).  Each row compares the backend with the *spec* result computed
by the oracle and is one of:

    pass        bit-identical to the spec result
    known       differs from the spec exactly as a documented deviation of that backend
                (the row names it and cites the note; the backend equals the deviation's model
                on every element, so the deviation is reproduced, not assumed)
    differ      differs, and no documented deviation explains it: a finding
    unsupported the backend has no kernel for this op/type (its error message is the note)

Exit codes: 0 all pass, 1 any known or differ row (``--allow-known`` / ``check``: only differ),
2 unknown or missing backend.
"""

import functools
import importlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import ops
from .. import quantize as qz
from .. import requant as rq
from ..errors import InvalidValueError, RefquantError, UnknownNameError

PASS, KNOWN, DIFFER, UNSUPPORTED = "pass", "known", "differ", "unsupported"


@dataclass
class Row:
    backend: str
    op: str
    profile: str          # the semantics compared against (spec / method / profile)
    flag: str             # types, granularity, attribute, path ...
    status: str
    elements: int = 0
    differ: int = 0
    deviation: str = ""   # the name of a known deviation
    note: str = ""        # what it is, with the reference
    first: dict = field(default_factory=dict)
    peer: str = ""        # the PEERS key of the backend (empty for the kernel and golden rows)
    version: str = ""     # the installed version of that peer
    measured_on: list = field(default_factory=list)   # a known row: the peer versions the deviation was measured on


def _first(got, want, x=None):
    idx = tuple(int(i) for i in np.argwhere(got != want)[0])
    d = {"index": list(idx), "expected": _scalar(want[idx]), "actual": _scalar(got[idx])}
    if x is not None:
        d["input"] = _scalar(x[idx])
    return d


def _scalar(v):
    v = v.item() if hasattr(v, "item") else v
    return v


def judge(backend, op, profile, flag, got, spec, models=(), x=None):
    """A Row: ``got`` (array or the exception the backend raised) vs ``spec``; ``models`` are
    (name, note, expected array under that documented deviation)."""
    if isinstance(got, BaseException):
        msg = str(got).strip().splitlines()[0][:160] if str(got).strip() else type(got).__name__
        return Row(backend, op, profile, flag, UNSUPPORTED, note=msg)
    got, spec = np.asarray(got), np.asarray(spec)
    if got.shape != spec.shape:
        return Row(backend, op, profile, flag, DIFFER, spec.size, spec.size,
                   note=f"output shape {got.shape}, expected {spec.shape}")
    n = int(spec.size)
    diff = int((got != spec).sum())
    if diff == 0:
        return Row(backend, op, profile, flag, PASS, n, 0)
    for name, note, model in models:
        model = np.asarray(model)
        if model.shape == got.shape and np.array_equal(got, model):
            return Row(backend, op, profile, flag, KNOWN, n, diff, name, note, _first(got, spec, x))
    return Row(backend, op, profile, flag, DIFFER, n, diff, note="no documented deviation explains it",
               first=_first(got, spec, x))


# ##########################################################################
# Deterministic built-in cases
# ##########################################################################

def _rng(tag):
    import zlib
    return np.random.default_rng(zlib.crc32(tag.encode()))


def _f32(v):
    return float(np.float32(v))


def mm_case(a_type, b_type, tag, M=7, K=37, N=9, per_column=False):
    rng = _rng(tag)
    ta = {"int8": (-128, 128, np.int8), "uint8": (0, 256, np.uint8)}
    a = rng.integers(ta[a_type][0], ta[a_type][1], (M, K)).astype(ta[a_type][2])
    b = rng.integers(ta[b_type][0], ta[b_type][1], (K, N)).astype(ta[b_type][2])
    za = int(rng.integers(ta[a_type][0], ta[a_type][1]))
    zb = (rng.integers(ta[b_type][0], ta[b_type][1], N) if per_column else np.array(int(rng.integers(ta[b_type][0], ta[b_type][1])))).astype(ta[b_type][2])
    sa, sy = _f32(2.0 ** rng.uniform(-7, -3)), _f32(2.0 ** rng.uniform(-3, 0))
    sb = (np.array([_f32(2.0 ** rng.uniform(-8, -4)) for _ in range(N)], np.float32) if per_column
          else np.float32(2.0 ** rng.uniform(-8, -4)))
    zy = int(rng.integers(ta[a_type][0], ta[a_type][1]))
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


@functools.lru_cache(maxsize=None)
def _near_tie_case(a_type, b_type):
    """A deterministic QLinearMatMul case (K = 1) where binary32 requantization (ORT) and the
    exact rational result differ on at least one element: found by a seeded search."""
    from .core import _exact_round
    rng = _rng("near-tie")
    lo_a, hi_a = (0, 256) if a_type == "uint8" else (-128, 128)
    lo_b, hi_b = (0, 256) if b_type == "uint8" else (-128, 128)
    a = np.arange(lo_a, hi_a).reshape(-1, 1)
    b = np.arange(lo_b, hi_b).reshape(1, -1)
    za, zb = (128 if a_type == "uint8" else 0), (128 if b_type == "uint8" else 0)
    acc = (a - za) * (b - zb)
    for _ in range(3000):
        sa, sb = (_f32(2.0 ** rng.uniform(-8, -2)) for _ in range(2))
        sy = _f32(sa * sb / (127.0 / 16384 * rng.uniform(0.7, 1.3)))
        M = rq.fl32(rq.fl32(rq.scale_value(sa) * rq.scale_value(sb)) / rq.scale_value(sy))
        v32 = np.rint(acc.astype(np.float32) * np.float32(float(M)))
        ex = _exact_round(acc, [rq.scale_value(sa) * rq.scale_value(sb) / rq.scale_value(sy)], np.zeros_like(acc), "half_even")
        inner = (np.abs(ex) < 120)
        if ((v32 != ex) & inner).any():
            return dict(a=a.astype(np.uint8 if a_type == "uint8" else np.int8), b=b.astype(np.uint8 if b_type == "uint8" else np.int8),
                        za=za, zb=np.array(zb).astype(np.uint8 if b_type == "uint8" else np.int8),
                        sa=sa, sb=np.float32(sb), sy=sy, zy=(128 if a_type == "uint8" else 0), a_type=a_type, b_type=b_type)
    raise RuntimeError("no near-tie case found")


QUANT_X = np.array([0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.25, -7.75, 100.4, -100.6, 126.5, 127.5, -128.5,
                    -129.5, 300, -300, 1e6, -1e6, 0.1, 0.2, 0.3, -0.7, 12.345, 63.5, -63.5], dtype=np.float32)
FP8_X = np.array([0, 1, -1, 0.3, 447, 460, 470, 480, 488, 490, 495, 496, 500, 1000, -470, -480, -490, -496,
                  57344, 60000, 61440, 62000, 65519, 65520, 70000, -61440, -63000, -65536, -70000, 1e9, -1e9],
                 dtype=np.float32)


def tie_inputs(scale, n=64):
    """x = fl32((k + 1/2) * s): binary32 near-ties of x/s, where x/s and x*(1/s) disagree."""
    k = np.arange(-n // 2, n // 2)
    return ((k + 0.5) * np.float64(scale)).astype(np.float32)


# ##########################################################################
# Backends
# ##########################################################################

def _need(module, peer):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingBackend(f"backend needs {module!r}, which is not installed: {install_hint(peer)}") from None


def install_hint(peer):
    """How to install a peer at the version the project's facts were measured on."""
    p = PEERS[peer]
    direct = " ".join(f"'{pin}'" for pin in p.pins) + (f" {TORCH_CPU_INDEX}" if p.dist == "torch" else "")
    return f"pip install 'refquant[{p.extra}]' (or pip install {direct})"


class MissingBackend(InvalidValueError):
    """The backend's package is not installed."""


def backend_kernel():
    from .. import kernel
    if not kernel.available():
        raise MissingBackend("refquant's C kernel is not built: pip install -e . (or python refquant/kernel/_build.py)")
    rows = []
    paths = kernel.paths()
    for a_type, b_type in (("uint8", "int8"), ("int8", "int8"), ("uint8", "uint8")):
        for per_col in (False, True):
            c = mm_case(a_type, b_type, f"kernel-{a_type}-{b_type}-{per_col}", M=33, K=70, N=37, per_column=per_col)
            y_type = a_type
            out_dt = np.uint8 if y_type == "uint8" else np.int8
            acc = oracle_acc(c)
            for method in ("int32", "float_fp32", "tflite_double", "tflite_single", "tosa_single", "tosa_double"):
                sb = [float(v) for v in c["sb"]] if per_col else float(c["sb"])
                if method == "int32":
                    spec = acc
                else:
                    params = rq.derive_params(method, c["sa"], sb, c["sy"])
                    spec = np.array(rq.requantize(acc.tolist(), method, params, c["zy"], y_type), dtype=np.int64)
                    ka = params.kernel_args()
                    kp = (np.array(ka["M_bits"], np.uint32) if method == "float_fp32" else
                          (np.array(ka["m"]), np.array(ka["shift" if "shift" in ka else "s"])))
                    if not per_col and method == "float_fp32":
                        kp = np.uint32(ka["M_bits"][0])
                    elif not per_col:
                        kp = (int(kp[0][0]), int(kp[1][0]))
                for path in paths:
                    flag = f"{a_type}x{b_type}, {'per-column' if per_col else 'per-tensor'}, path={path}"
                    try:
                        zb = c["zb"].astype(np.int32) if per_col else int(c["zb"])
                        if method == "int32":
                            got = kernel.matmul_integer(c["a"], c["b"], c["za"], zb, path=path)
                        else:
                            got = kernel.qlinear_matmul(c["a"], c["b"], c["za"], zb, method, kp, c["zy"],
                                                        out_dtype=out_dt, path=path)
                        got = got.astype(np.int64)
                    except RefquantError as exc:
                        got = exc
                    rows.append(judge("kernel", "qlinear_matmul" if method != "int32" else "matmul_integer",
                                      method, flag, got, spec))
    # accumulator overflow under both policies (K large, extreme operands)
    K = 140_000
    a = np.full((2, K), -128, np.int8)
    a[1, ::3] = 127
    b = np.full((K, 2), -128, np.int8)
    b[::5, 1] = 127
    for policy in ("wrap", "saturate"):
        acc_o = ops.Accumulator(32, policy)
        spec = np.array(ops.matmul_integer(a.tolist(), b.tolist(), 0, 0, "int8", "int8", acc_o), dtype=np.int64)
        for path in paths:
            try:
                got = kernel.matmul_integer(a, b, 0, 0, policy=policy, path=path).astype(np.int64)
            except RefquantError as exc:
                got = exc
            rows.append(judge("kernel", "matmul_integer", f"int32 {policy}", f"K={K} overflow, path={path}", got, spec))
    return rows


def _ort_run(onnx, ort, node, inputs, outputs, initializers=(), opset=21):
    h = onnx.helper
    graph = h.make_graph(node if isinstance(node, list) else [node], "g", inputs, outputs, list(initializers))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {})[0]


def _tensor(onnx, name, arr, elem=None):
    from onnx import numpy_helper
    if elem is not None:
        return onnx.helper.make_tensor(name, elem, list(np.shape(arr)), np.asarray(arr).reshape(-1).tolist())
    return numpy_helper.from_array(np.asarray(arr), name)


def _onnx_value(onnx, name, elem, shape):
    return onnx.helper.make_tensor_value_info(name, elem, list(shape))


def _as_bits(y):
    y = np.asarray(y)
    if y.dtype.itemsize == 1 and y.dtype.kind not in "iu":
        return y.view(np.uint8).astype(np.int64)
    return y.astype(np.int64)


FP8_KNOWN = {
    "fp8_e4m3fn": ("ORT fp8 E4M3FN saturate=0",
                   "ORT gives +-448 for |x/s| in [480, 496) where the spec (and onnx reference) give NaN "
                   "(docs/reference/onnx.md §5)"),
    "fp8_e5m2": ("ORT fp8 E5M2 saturate=0",
                 "ORT gives NaN for |x/s| in [61440, 65536) (the 61440 tie included) where the spec gives "
                 "+-inf (docs/reference/onnx.md §5)"),
}


def _fp8_ort_model(fmt, x, spec):
    """The documented ORT fp8 saturate=0 deviation applied to the spec codes."""
    model = spec.copy()
    ax = np.abs(x.astype(np.float64))
    sign = (x < 0).astype(np.int64) << 7
    if fmt == "fp8_e4m3fn":
        sel = (ax >= 480) & (ax < 496)
        model[sel] = 0x7E | sign[sel]
    else:
        sel = (ax >= 61440) & (ax < 65536)
        model[sel] = 0x7F | sign[sel]
    return model


def _fp8_bits_from_f32(fmt, f):
    from .. import formats
    out = np.empty(f.shape, dtype=np.int64)
    for i, v in np.ndenumerate(f):
        sign = 0x80 if np.signbit(v) else 0
        if np.isnan(v):
            out[i] = 0x7F | sign
        else:
            out[i] = formats.encode(fmt, formats.real(repr(float(v)) if np.isfinite(v) else ("-inf" if v < 0 else "inf")),
                                    "rne", "ieee")
    return out


def _onnx_backend_rows(name, run):
    """Rows shared by onnxruntime and the onnx reference evaluator; ``run(node, inputs, outputs, inits)``."""
    onnx = _need("onnx", name)
    T = onnx.TensorProto
    ELEM = {"int8": T.INT8, "uint8": T.UINT8, "int16": T.INT16, "int32": T.INT32, "fp8_e4m3fn": T.FLOAT8E4M3FN,
            "fp8_e5m2": T.FLOAT8E5M2}
    h = onnx.helper
    rows = []
    # QuantizeLinear, integer outputs
    for dtype, scale, zp in (("int8", 0.5, 0), ("uint8", 0.5, 128), ("int16", 0.25, -7), ("int8", _f32(0.1), 3)):
        x = np.concatenate([QUANT_X, tie_inputs(scale)])
        spec = np.asarray(qz.quantize(x, scale, zp, dtype, "onnx"), dtype=np.int64)
        node = h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])
        inits = [_tensor(onnx, "x", x), _tensor(onnx, "s", np.float32(scale)),
                 h.make_tensor("z", ELEM[dtype], [], [zp])]
        try:
            got = _as_bits(run(node, [], [_onnx_value(onnx, "y", ELEM[dtype], x.shape)], inits))
        except Exception as exc:  # noqa: BLE001 - a backend without the kernel
            got = exc
        rows.append(judge(name, "QuantizeLinear", "onnx spec", f"fp32 -> {dtype}, scale {str(np.float32(scale))}, zp {zp}", got, spec, x=x))
    # QuantizeLinear per axis
    x = np.arange(-24, 24, dtype=np.float32).reshape(4, 12) * np.float32(0.37)
    scales, zps = np.array([0.1, 0.25, 0.3, 0.7], np.float32), np.array([0, 5, -5, 100], np.int8)
    x = np.concatenate([x, tie_inputs(0.1, 48).reshape(4, 12)], 1)
    spec = np.asarray(qz.quantize(x, [float(s) for s in scales], zps.tolist(), "int8", "onnx", axis=0), dtype=np.int64)
    node = h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=0)
    try:
        got = _as_bits(run(node, [], [_onnx_value(onnx, "y", T.INT8, x.shape)],
                           [_tensor(onnx, "x", x), _tensor(onnx, "s", scales), _tensor(onnx, "z", zps)]))
    except Exception as exc:  # noqa: BLE001
        got = exc
    rows.append(judge(name, "QuantizeLinear", "onnx spec", "fp32 -> int8, per-axis 0", got, spec))
    # QuantizeLinear fp8, saturate = 1 / 0
    for fmt in ("fp8_e4m3fn", "fp8_e5m2"):
        for sat in (1, 0):
            spec = np.asarray(qz.quantize(FP8_X, 1.0, None, fmt, "onnx", saturate=bool(sat)), dtype=np.int64)
            node = h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], saturate=sat)
            inits = [_tensor(onnx, "x", FP8_X), _tensor(onnx, "s", np.float32(1.0)), h.make_tensor("z", ELEM[fmt], [], [0])]
            try:
                try:
                    got = _as_bits(run(node, [], [_onnx_value(onnx, "y", ELEM[fmt], FP8_X.shape)], inits))
                except Exception:  # noqa: BLE001 - no numpy type for this fp8 output: read it through
                    # an exact DequantizeLinear (every fp8 value is a binary32 value) and re-encode the bits
                    deq = h.make_node("DequantizeLinear", ["y", "s1"], ["f"])
                    f = run([node, deq], [], [_onnx_value(onnx, "f", T.FLOAT, FP8_X.shape)],
                            inits + [_tensor(onnx, "s1", np.float32(1.0))])
                    got = _fp8_bits_from_f32(fmt, np.asarray(f, np.float32))
            except Exception as exc:  # noqa: BLE001
                got = exc
            models = []
            if name == "onnxruntime" and not sat:
                models = [(*FP8_KNOWN[fmt], _fp8_ort_model(fmt, FP8_X, spec))]
            rows.append(judge(name, "QuantizeLinear", "onnx spec", f"fp32 -> {fmt}, saturate={sat}", got, spec, models, x=FP8_X))
    # MatMulInteger
    for a_type, b_type in (("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8"), ("int8", "uint8")):
        c = mm_case(a_type, b_type, f"mmi-{a_type}-{b_type}")
        spec = oracle_acc(c)
        node = h.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])
        inits = [_tensor(onnx, "a", c["a"]), _tensor(onnx, "b", c["b"]), h.make_tensor("za", ELEM[a_type], [], [c["za"]]),
                 h.make_tensor("zb", ELEM[b_type], [], [int(c["zb"])])]
        try:
            got = _as_bits(run(node, [], [_onnx_value(onnx, "y", T.INT32, spec.shape)], inits))
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge(name, "MatMulInteger", "onnx spec (exact int32)", f"{a_type}x{b_type}", got, spec))
    # QLinearMatMul: random, per column, saturating, near ties
    wrap_note = ("onnx 1.21.0 reference QLinearMatMul casts with astype: out-of-range results wrap instead of "
                 "saturating (onnx/onnx#7835, fixed by PR #7868; docs/reference/onnx.md §3)")
    tie_note = ("binary32 requantization M = fl(fl(sa*sb)/sy), v = fl(fl(acc)*M), RNE: rounds near-ties "
                "differently from the exact spec result (docs/reference/onnx.md §3; refquant method 'ort')")
    f64_note = ("binary64 product acc*M with M in the scale dtype (refquant method 'onnx_ref'): near-ties differ "
                "from the exact result (docs/reference/onnx.md §3)")
    cases = []
    for a_type, b_type in (("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8")):
        for per_col in (False, True):
            cases.append((f"{a_type}x{b_type}, {'per-column' if per_col else 'per-tensor'}",
                          mm_case(a_type, b_type, f"qlmm-{a_type}-{b_type}-{per_col}", per_column=per_col)))
    sat = mm_case("int8", "int8", "qlmm-saturating", M=6, K=64, N=6)
    sat["sy"] = _f32(sat["sa"] * float(sat["sb"]) * 8)    # most outputs saturate
    cases.append(("int8xint8, saturating outputs", sat))
    cases.append(("uint8xint8, near-tie accumulators (K=1)", near_tie_case()))
    for flag, c in cases:
        spec = oracle_qlinear(c, "exact")
        models = [("binary32 requantization (ORT MLAS)", tie_note, oracle_qlinear(c, "ort"))] if name == "onnxruntime" else \
            [("onnx reference wraps (no saturation)", wrap_note, oracle_qlinear(c, "onnx_ref")),
             ("binary64 requantization (onnx reference)", f64_note, oracle_qlinear(c, "onnx_ref"))]
        zb = c["zb"]
        node = h.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
        inits = [_tensor(onnx, "a", c["a"]), _tensor(onnx, "sa", np.float32(c["sa"])),
                 h.make_tensor("za", ELEM[c["a_type"]], [], [c["za"]]), _tensor(onnx, "b", c["b"]),
                 _tensor(onnx, "sb", np.asarray(c["sb"], np.float32)),
                 h.make_tensor("zb", ELEM[c["b_type"]], list(np.shape(zb)), np.asarray(zb).reshape(-1).tolist()),
                 _tensor(onnx, "sy", np.float32(c["sy"])), h.make_tensor("zy", ELEM[c["a_type"]], [], [c["zy"]])]
        try:
            got = _as_bits(run(node, [], [_onnx_value(onnx, "y", ELEM[c["a_type"]], spec.shape)], inits))
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge(name, "QLinearMatMul", "onnx spec (exact)", flag, got, spec, models))
    return rows


# ##########################################################################
# Golden-vector rows: the shipped vectors drive the conformance table
# ##########################################################################

@functools.lru_cache(maxsize=None)
def golden_index():
    """{(op, profile): {case name without its 'profile/' prefix: golden Case}} over the shipped
    quantize, matmul and conv sets; {} when refquant.golden or the sets are absent."""
    try:
        golden = importlib.import_module("refquant.golden")
        sets = {p.name: p for p in golden.find_sets(golden.default_root())}
    except (ImportError, OSError, RefquantError):
        return {}
    idx = {}
    for suite in ("quantize", "matmul", "conv"):
        if suite not in sets:
            continue
        try:
            cases = list(golden.load_set(sets[suite]).cases(numpy=True))
        except RefquantError:
            continue
        for c in cases:
            idx.setdefault((c.op, c.profile), {})[c.name.split("/", 1)[-1]] = c
    return idx


def _golden_y(c):
    if c is None or c.result != "valid":
        return None
    return np.asarray(c.expected["Y" if c.op != "quantize" else "y"]).astype(np.int64)


def golden_pairs(op, profile, spec_profile, applicable, limit=None):
    """[(name, backend-profile Case, spec Case or None)] of the golden tests of ``op`` under the
    backend's ``profile`` that ``applicable(case)`` accepts (at most ``limit``, evenly spaced)."""
    idx = golden_index()
    mine, spec = idx.get((op, profile), {}), idx.get((op, spec_profile), {})
    out = [(n, c, spec.get(n)) for n, c in mine.items() if applicable(c)]
    if limit is not None and len(out) > limit:
        step = len(out) / limit
        out = [out[int(i * step)] for i in range(limit)]
    return out


def judge_golden(backend, op, c, spec_c, got, deviation, note):
    """A row for golden case ``c``: pass against the spec profile's Y (or, where the spec leaves
    the result undefined, against the backend profile's own Y); KNOWN DEV when it equals the
    backend profile's Y and that differs from the spec."""
    model, spec = _golden_y(c), _golden_y(spec_c)
    flag = f"golden {c.set.suite}#{c.tc_id} {c.name}"
    if spec is None:
        r = judge(backend, op, f"golden {c.profile} (the spec leaves it undefined)", flag, got, model)
    else:
        models = [(deviation, note, model)] if model is not None and not np.array_equal(model, spec) else []
        r = judge(backend, op, f"golden {spec_c.profile}", flag, got, spec, models)
    return r


GOLDEN_Q_TARGETS = ("int8", "uint8", "int16", "int4", "uint4", "fp8_e4m3fn", "fp8_e5m2")


def _onnx_golden_rows(name, onnx, run, q_profile, mm_method, conv_method, deviation_note, x_formats=("fp32",)):
    """QuantizeLinear / QLinearMatMul / QLinearConv rows from the golden vectors."""
    T = onnx.TensorProto
    h = onnx.helper
    ELEM = {"int8": T.INT8, "uint8": T.UINT8, "int16": T.INT16, "int32": T.INT32, "int4": T.INT4, "uint4": T.UINT4,
            "fp8_e4m3fn": T.FLOAT8E4M3FN, "fp8_e5m2": T.FLOAT8E5M2}
    XELEM = {"fp32": T.FLOAT, "fp16": T.FLOAT16, "bf16": T.BFLOAT16}
    rows = []

    def raw(nm, elem, arr, shape):
        arr = np.asarray(arr)
        if elem in (T.INT4, T.UINT4):
            return h.make_tensor(nm, elem, list(shape), arr.reshape(-1).astype(np.int64).tolist())
        return h.make_tensor(nm, elem, list(shape), arr.tobytes(), raw=True)

    def read(node, out_name, elem, shape, inits, fmt):
        try:
            y = run(node, [], [_onnx_value(onnx, out_name, elem, shape)], inits)
            if fmt in ("int4", "uint4"):
                return np.asarray(y).astype(np.int64)      # ml_dtypes int4: values, not bit patterns
            return _as_bits(y)
        except Exception:  # noqa: BLE001 - no numpy type for this output: read it through DequantizeLinear
            deq = h.make_node("DequantizeLinear", [out_name, "one"], ["f"])
            f = np.asarray(run([node, deq], [], [_onnx_value(onnx, "f", T.FLOAT, shape)],
                               inits + [_tensor(onnx, "one", np.float32(1.0))]), np.float32)
            return _fp8_bits_from_f32(fmt, f) if fmt.startswith("fp8") else f.astype(np.int64)

    def q_ok(c):
        p = c.params
        if p["dtype"] not in GOLDEN_Q_TARGETS or p.get("x_format", "fp32") not in x_formats \
                or p.get("scale_format", "fp32") != "fp32":
            return False
        # opset 21 binds the scale to x's type: only scales exact in it
        return _scale_in(p.get("x_format", "fp32"), np.asarray(c.inputs["scale"], np.float32)) is not None
    for _n, c, spec_c in golden_pairs("quantize", q_profile, "onnx", q_ok):
        p = c.params
        x, sc = c.inputs["x"], np.asarray(c.inputs["scale"], np.float32)
        dtype = p["dtype"]
        attrs = {}
        if p.get("axis") is not None:
            attrs["axis"] = p["axis"]
        if p.get("block_size"):
            attrs["block_size"] = p["block_size"]
        if dtype.startswith("fp8"):
            attrs["saturate"] = int(p.get("saturate", True))
        ins = ["x", "s"]
        xf = p.get("x_format", "fp32")
        sc_x = _scale_in(xf, sc)
        sshape = sc.shape if sc.size > 1 or p.get("axis") is not None else ()
        inits = [raw("x", XELEM[xf], x, x.shape), raw("s", XELEM[xf], sc_x.reshape(sshape), sshape)]
        zp = c.inputs.get("zero_point")
        if zp is not None:
            ins.append("z")
            inits.append(raw("z", ELEM[dtype], np.asarray(zp).reshape(sc.shape if sc.size > 1 or p.get("axis") is not None
                                                                        else ()), sc.shape if sc.size > 1 or p.get("axis") is not None else ()))
        else:
            attrs["output_dtype"] = ELEM[dtype]
        node = h.make_node("QuantizeLinear", ins, ["y"], **attrs)
        try:
            got = read(node, "y", ELEM[dtype], x.shape, inits, dtype)
            if dtype.startswith("fp8"):
                # the fp8 output is read through DequantizeLinear: a NaN's payload is not observable,
                # so a NaN code counts as the NaN code the golden vector expects
                want = _golden_y(c)
                if want is not None:
                    both = _fp8_nan(dtype, got) & _fp8_nan(dtype, want)
                    got = np.where(both, want, got)
        except Exception as exc:  # noqa: BLE001
            got = exc
        r = judge_golden(name, "QuantizeLinear", c, spec_c, got, f"refquant profile '{q_profile}'",
                         deviation_note.get("quantize", ""))
        if r.status == DIFFER and name == "onnxruntime" and xf == "fp16" and _golden_y(c) is not None:
            model = _golden_y(c).copy()
            model[np.isposinf(x.astype(np.float64))] = _int_min(dtype)
            r = judge(name, "QuantizeLinear", r.profile, r.flag, got, _golden_y(spec_c) if spec_c is not None and
                      _golden_y(spec_c) is not None else _golden_y(c), [(*ORT_FP16_INF, model)])
        rows.append(r)

    def mm_ok(c):
        p = c.params
        return ("bias" not in c.inputs and p.get("qmin") is None and p.get("policy", "wrap") == "wrap"
                and p["y_type"] == p["a_type"] and c.result == "valid")
    for _n, c, spec_c in golden_pairs("qlinear_matmul", mm_method, "exact", mm_ok):
        p = c.params
        a, b = c.inputs["A"], c.inputs["B"]
        zb, sb = p["zb"], p["sb"]
        sbv = np.array([_hexf(v) for v in sb], np.float32) if isinstance(sb, list) else np.float32(_hexf(sb))
        node = h.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
        inits = [_tensor(onnx, "a", a), _tensor(onnx, "sa", np.float32(_hexf(p["sa"]))),
                 h.make_tensor("za", ELEM[p["a_type"]], [], [p["za"]]), _tensor(onnx, "b", b), _tensor(onnx, "sb", sbv),
                 h.make_tensor("zb", ELEM[p["b_type"]], list(np.shape(zb)), np.asarray(zb).reshape(-1).tolist()),
                 _tensor(onnx, "sy", np.float32(_hexf(p["sy"]))), h.make_tensor("zy", ELEM[p["y_type"]], [], [p["zy"]])]
        shape = (a.shape[0], b.shape[1])
        try:
            got = _as_bits(run(node, [], [_onnx_value(onnx, "y", ELEM[p["y_type"]], shape)], inits))
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge_golden(name, "QLinearMatMul", c, spec_c, got, f"refquant method '{mm_method}'",
                                 deviation_note.get("matmul", "")))

    def conv_ok(c):
        return c.params.get("qmin") is None and c.params.get("policy", "wrap") == "wrap" and c.result == "valid"
    for _n, c, spec_c in golden_pairs("qlinear_conv", conv_method, "exact", conv_ok):
        p = c.params
        x, w = c.inputs["x"], c.inputs["w"]
        sw, zw = p["sw"], p["zw"]
        swv = np.array([_hexf(v) for v in sw], np.float32) if isinstance(sw, list) else np.float32(_hexf(sw))
        ins = ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"] + (["B"] if "bias" in c.inputs else [])
        node = h.make_node("QLinearConv", ins, ["y"], strides=p["strides"], pads=p["pads"], dilations=p["dilations"],
                           group=p["group"], kernel_shape=list(w.shape[2:]))
        inits = [_tensor(onnx, "x", x), _tensor(onnx, "sx", np.float32(_hexf(p["sx"]))),
                 h.make_tensor("zx", ELEM[p["x_type"]], [], [p["zx"]]), _tensor(onnx, "w", w), _tensor(onnx, "sw", swv),
                 h.make_tensor("zw", ELEM[p["w_type"]], list(np.shape(zw)), np.asarray(zw).reshape(-1).tolist()),
                 _tensor(onnx, "sy", np.float32(_hexf(p["sy"]))), h.make_tensor("zy", ELEM[p["y_type"]], [], [p["zy"]])]
        if "bias" in c.inputs:
            inits.append(_tensor(onnx, "B", np.asarray(c.inputs["bias"], np.int32)))
        shape = _golden_y(c).shape
        try:
            got = _as_bits(run(node, [], [_onnx_value(onnx, "y", ELEM[p["y_type"]], shape)], inits))
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge_golden(name, "QLinearConv", c, spec_c, got, f"refquant method '{conv_method}'",
                                 deviation_note.get("conv", "")))
    return rows


ORT_FP16_INF = ("ORT fp16 QuantizeLinear: +inf -> qmin",
                "onnxruntime QuantizeLinear with float16 x gives qmin for x = +inf where its float32 path "
                "(and refquant profile 'onnxruntime', which widens fp16 to f32) saturates to qmax; found by the golden "
                "fp16_input vector (docs/audit.md §4)")


def _int_min(dtype):
    from ..integers import get_type
    return get_type(dtype).min


def _scale_in(fmt, sc):
    """The binary32 scales as an array of x's format when each is exact there, else None."""
    sc = np.asarray(sc, np.float32)
    if fmt == "fp32":
        return sc
    if fmt == "fp16":
        v = sc.astype(np.float16)
        return v if np.array_equal(v.astype(np.float32), sc) else None
    bits = sc.view(np.uint32)
    return (bits >> 16).astype(np.uint16) if not (bits & 0xFFFF).any() else None     # bf16: the top half


def _fp8_nan(fmt, codes):
    codes = np.asarray(codes, np.int64)
    if fmt == "fp8_e4m3fn":
        return (codes & 0x7F) == 0x7F
    return ((codes & 0x7C) == 0x7C) & ((codes & 3) != 0)


def conv_tie_case():
    """A QLinearConv case (1x1 kernel, C = 1) whose accumulators (x - zx)*w are the near-tie
    products of near_tie_case: x (1, 1, 256, 1) uint8, w (256, 1, 1, 1) int8, per-tensor scales."""
    c = near_tie_case("uint8", "int8")
    x = c["a"].reshape(1, 1, -1, 1)
    w = c["b"].reshape(-1, 1, 1, 1)
    return dict(op="qlinear_conv", x=x, w=w, x_type="uint8", w_type="int8", y_type="uint8", x_zero_point=c["za"],
                w_zero_point=int(c["zb"]), y_zero_point=c["zy"], x_scale=c["sa"], w_scale=float(c["sb"]),
                y_scale=c["sy"])


def _conv_tie_row(name, onnx, run, method, deviation, note):
    from . import core
    spec_d = conv_tie_case()
    exp = {m: core.expected(core.make_case(dict(spec_d, method=m)))[0] for m in ("exact", method)}
    h, T = onnx.helper, onnx.TensorProto
    node = h.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"], kernel_shape=[1, 1])
    inits = [_tensor(onnx, "x", spec_d["x"]), _tensor(onnx, "sx", np.float32(spec_d["x_scale"])),
             h.make_tensor("zx", T.UINT8, [], [spec_d["x_zero_point"]]), _tensor(onnx, "w", spec_d["w"]),
             _tensor(onnx, "sw", np.float32(spec_d["w_scale"])), h.make_tensor("zw", T.INT8, [], [spec_d["w_zero_point"]]),
             _tensor(onnx, "sy", np.float32(spec_d["y_scale"])), h.make_tensor("zy", T.UINT8, [], [spec_d["y_zero_point"]])]
    try:
        got = _as_bits(run(node, [], [_onnx_value(onnx, "y", T.UINT8, exp["exact"].shape)], inits))
    except Exception as exc:  # noqa: BLE001
        got = exc
    return judge(name, "QLinearConv", "onnx spec (exact)", "u8xs8 1x1, near-tie accumulators (C=1)", got, exp["exact"],
                 [(deviation, note, exp[method])])


def _hexf(bits):
    return float(np.array([int(bits, 16)], np.uint32).view(np.float32)[0])


ORT_NOTES = {
    "quantize": "onnxruntime MLAS QuantizeLinear: divps, clamp in float, cvtps2dq (refquant profile "
                "'onnxruntime'; docs/reference/onnx.md §5)",
    "matmul": "binary32 requantization M = fl(fl(sa*sb)/sy), v = fl(fl(acc)*M), RNE (refquant method 'ort'; "
              "docs/reference/onnx.md §3)",
    "conv": "ORT QLinearConv: binary32 chain M = fl(fl(sx*sw_m)/sy), fl(fl(acc)*M), RNE (refquant method 'ort')",
}
ONNX_REF_NOTES = {
    "quantize": "onnx 1.21.0 reference QuantizeLinear: numpy x / scale, rint, astype int32, + zp, clip (refquant "
                "profile 'onnx_ref')",
    "matmul": "onnx 1.21.0 reference QLinearMatMul: f64 product, rint, astype wraps (onnx/onnx#7835; refquant "
              "method 'onnx_ref')",
    "conv": "onnx 1.21.0 reference QLinearConv: f64 product R*M + zp, np.clip, then np.round (refquant method "
            "'onnx_ref_conv')",
}


def backend_onnxruntime():
    onnx = _need("onnx", "onnxruntime")
    ort = _need("onnxruntime", "onnxruntime")

    def run(node, inputs, outputs, inits):
        return _ort_run(onnx, ort, node, inputs, outputs, inits)
    rows = _onnx_backend_rows("onnxruntime", run)
    rows.append(_conv_tie_row("onnxruntime", onnx, run, "ort", "binary32 requantization (ORT QLinearConv)",
                              ORT_NOTES["conv"]))
    rows += _onnx_golden_rows("onnxruntime", onnx, run, "onnxruntime", "ort", "ort", ORT_NOTES,
                              x_formats=("fp32", "fp16"))   # ORT 1.31.1 and 1.32.0: no bf16 QuantizeLinear kernel
    for r in rows:
        r.backend = f"onnxruntime {ort.__version__}"
    return rows


def backend_onnx():
    onnx = _need("onnx", "onnx")
    from onnx.reference import ReferenceEvaluator

    def run(node, inputs, outputs, inits):
        h = onnx.helper
        graph = h.make_graph(node if isinstance(node, list) else [node], "g", inputs, outputs, list(inits))
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
        return ReferenceEvaluator(model).run(None, {})[0]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # numpy overflow/cast warnings of the evaluator (inf, NaN inputs)
        rows = _onnx_backend_rows("onnx", run)
        rows.append(_conv_tie_row("onnx", onnx, run, "onnx_ref_conv", "binary64 product, clip, round (onnx reference "
                                  "QLinearConv)", ONNX_REF_NOTES["conv"]))
        rows += _onnx_golden_rows("onnx", onnx, run, "onnx_ref", "onnx_ref", "onnx_ref_conv", ONNX_REF_NOTES)
    for r in rows:
        r.backend = f"onnx {onnx.__version__} reference"
    return rows


def backend_torch():
    import warnings
    torch = _need("torch", "torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _backend_torch(torch)


def _backend_torch(torch):
    rows = []
    be = f"torch {torch.__version__}"
    recip_note = ("torch quantize_per_tensor computes RNE(fma(x, fl(1/s), zp)): x*(1/s) instead of x/s, so binary32 "
                  "near-ties of x/s round differently (docs/reference/requant.md §4; refquant profile 'torch')")
    for dtype, tdt, scale, zp in (("int8", torch.qint8, 0.1, 3), ("uint8", torch.quint8, 0.3, 128),
                                  ("int8", torch.qint8, 0.5, 0)):
        scale = _f32(scale)
        x = np.concatenate([QUANT_X, tie_inputs(scale, 128)])
        spec = np.asarray(qz.quantize(x, scale, zp, dtype, "exact"), dtype=np.int64)
        model = np.asarray(qz.quantize(x, scale, zp, dtype, "torch"), dtype=np.int64)
        try:
            got = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, tdt).int_repr().numpy().astype(np.int64)
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge(be, "quantize_per_tensor", "exact x/s", f"fp32 -> {dtype}, scale {str(np.float32(scale))}, zp {zp}", got, spec,
                          [("x*(1/s) with fused zero point", recip_note, model)], x=x))
    # per channel
    x = np.concatenate([tie_inputs(0.1, 48).reshape(4, 12), np.arange(-24, 24, dtype=np.float32).reshape(4, 12) * np.float32(0.37)], 1)
    scales, zps = [_f32(v) for v in (0.1, 0.3, 0.7, 0.05)], [0, 5, -5, 10]
    spec = np.asarray(qz.quantize(x, scales, zps, "int8", "exact", axis=0), dtype=np.int64)
    model = np.asarray(qz.quantize(x, scales, zps, "int8", "torch_qint32", axis=0), dtype=np.int64)
    try:
        got = torch.quantize_per_channel(torch.from_numpy(x), torch.tensor(scales, dtype=torch.double),
                                         torch.tensor(zps), 0, torch.qint8).int_repr().numpy().astype(np.int64)
    except Exception as exc:  # noqa: BLE001
        got = exc
    rows.append(judge(be, "quantize_per_channel", "exact x/s", "fp32 -> int8, axis 0", got, spec,
                      [("x*(1/s), zero point added in binary32", "torch quantize_per_channel: RNE(fl(fl(x*inv) + zp)) "
                        "(refquant profile 'torch_qint32')", model)], x=x))
    # quantized::linear per engine
    engines = [e for e in ("x86", "fbgemm", "qnnpack", "onednn") if e in torch.backends.quantized.supported_engines]
    engine_note = {"x86": "torch_fbgemm", "fbgemm": "torch_fbgemm", "qnnpack": "torch_qnnpack", "onednn": "torch_onednn"}
    c = mm_case("uint8", "int8", "torch-linear", M=16, K=64, N=16)
    c["zb"] = np.array(0, np.int8)
    c["a"] = (c["a"] // 2).astype(np.uint8)        # uint8 codes in [0, 127] (x86 reduce_range-free)
    tie = near_tie_case("uint8", "int8")
    tie["zb"] = np.array(0, np.int8)
    tie["a"] = np.arange(0, 128).reshape(-1, 1).astype(np.uint8)
    tie["za"] = 64
    for label, cc in (("random", c), ("near-tie accumulators", tie)):
        spec = oracle_qlinear(cc, "exact", "uint8")
        for eng in engines:
            meth = engine_note[eng]
            model = oracle_qlinear(cc, meth, "uint8")
            try:
                torch.backends.quantized.engine = eng
                xq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(cc["a"]), cc["sa"], cc["za"])
                wq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(np.ascontiguousarray(cc["b"].T)),
                                                             float(cc["sb"]), 0)
                packed = torch.ops.quantized.linear_prepack(wq, None)
                got = torch.ops.quantized.linear(xq, packed, cc["sy"], cc["zy"]).int_repr().numpy().astype(np.int64)
            except Exception as exc:  # noqa: BLE001
                got = exc
            rows.append(judge(be, "quantized::linear", "exact (QLinearMatMul spec)", f"engine={eng}, u8xs8 per-tensor, {label}",
                              got, spec, [(f"{eng} binary32 requantization", f"{rq.METHODS[meth].reproduces} "
                                           f"(docs/reference/requant.md §4; refquant method '{meth}')", model)]))
    rows += _torch_golden_rows(torch, be)
    return rows


def _torch_golden_rows(torch, be):
    """Golden quantize vectors through torch: profile 'torch' (quantize_per_tensor, qint8/quint8) and
    profile 'torch_qint32' (quantize_per_channel), each against the exact spec vector."""
    rows = []
    tdt = {"int8": torch.qint8, "uint8": torch.quint8}

    def ok(axis_wanted):
        def f(c):
            p = c.params
            return (p["dtype"] in tdt and p.get("x_format", "fp32") == "fp32" and p.get("scale_format", "fp32") == "fp32"
                    and not p.get("block_size") and (p.get("axis") is not None) == axis_wanted
                    and "zero_point" in c.inputs)
        return f
    for prof, per_axis in (("torch", False), ("torch_qint32", True)):
        note = PROFILE_NOTES.get(prof) or prof
        for _n, c, spec_c in golden_pairs("quantize", prof, "exact", ok(per_axis)):
            p = c.params
            x = torch.from_numpy(np.ascontiguousarray(c.inputs["x"], np.float32))
            sc, zp = np.asarray(c.inputs["scale"], np.float64).reshape(-1), np.asarray(c.inputs["zero_point"]).reshape(-1)
            try:
                if per_axis:
                    q = torch.quantize_per_channel(x, torch.tensor(sc), torch.tensor(zp.astype(np.int64)), p["axis"],
                                                   tdt[p["dtype"]])
                else:
                    q = torch.quantize_per_tensor(x, float(sc[0]), int(zp[0]), tdt[p["dtype"]])
                got = q.int_repr().numpy().astype(np.int64)
            except Exception as exc:  # noqa: BLE001
                got = exc
            rows.append(judge_golden(be, "quantize_per_channel" if per_axis else "quantize_per_tensor", c, spec_c, got,
                                     f"refquant profile '{prof}'", note))
    return rows


PROFILE_NOTES = {
    "torch": "torch quantize_per_tensor computes RNE(fma(x, fl(1/s), zp)) (refquant profile 'torch'; "
             "docs/reference/requant.md §4)",
    "torch_qint32": "torch quantize_per_channel: RNE(fl(fl(x*inv) + zp)) (refquant profile 'torch_qint32')",
}


def backend_tosa():
    ts = _need("tosa_serializer", "tosa")
    # Without this the model forks a debugger on every ERROR_IF/REQUIRE; beside onnxruntime's
    # threads that fork can deadlock (seen with tosa-tools 2026.8.0).
    os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")
    trm = _need("tosa_reference_model", "tosa")
    from tosa.Op import Op
    from tosa.RoundingMode import RoundingMode
    rows = []
    be = "tosa reference model"
    rng = _rng("tosa")
    vals = np.concatenate([rng.integers(-2**20, 2**20, 60), [0, 1, -1, 2**20 - 1, -2**20]]).astype(np.int32).reshape(5, 13)
    for double in (False, True):
        for m, s in ((1518500250, 38), (1073741824, 33), (1717986918, 40), (2**30 + 12345, 45)):
            meth = "tosa_double" if double else "tosa_single"
            params = rq.make_params(meth, [{"m": m, "s": s}])
            spec = np.array(rq.requantize(vals.tolist(), meth, params, 0, "int8"), dtype=np.int64)
            try:
                ser = ts.TosaSerializer("")
                x = ser.addPlaceholder(list(vals.shape), ts.DType.INT32, None)
                mult = ser.addConst([1], ts.DType.INT32, np.array([m], np.int32))
                shift = ser.addConst([1], ts.DType.INT8, np.array([s], np.int8))
                izp = ser.addConst([1], ts.DType.INT32, np.array([0], np.int32))
                ozp = ser.addConst([1], ts.DType.INT8, np.array([0], np.int8))
                out = ser.addOutput(list(vals.shape), ts.DType.INT8)
                attr = ts.TosaSerializerAttribute()
                attr.RescaleAttribute(True, RoundingMode.DOUBLE_ROUND if double else RoundingMode.SINGLE_ROUND,
                                      False, False, False)
                ser.addOperator(Op.RESCALE, [x.name, mult.name, shift.name, izp.name, ozp.name], [out.name], attr)
                outputs, status = trm.run(bytes(ser.serialize()), [vals])
                got = (np.asarray(outputs[0]).astype(np.int64) if status.name == "TOSA_VALID"
                       else RuntimeError(f"reference model status {status.name}"))
            except Exception as exc:  # noqa: BLE001
                got = exc
            rows.append(judge(be, "RESCALE", meth, f"int32 -> int8, scale32, m={m}, s={s}", got, spec))
    for za, zb in ((0, 0), (5, -3)):
        c = mm_case("int8", "int8", f"tosa-mm-{za}-{zb}", M=5, K=19, N=7)
        c["za"], c["zb"] = za, np.array(zb, np.int8)
        spec = oracle_acc(c)
        try:
            ser = ts.TosaSerializer("")
            A = ser.addPlaceholder([1, 5, 19], ts.DType.INT8, None)
            B = ser.addPlaceholder([1, 19, 7], ts.DType.INT8, None)
            azp = ser.addConst([1], ts.DType.INT8, np.array([za], np.int8))
            bzp = ser.addConst([1], ts.DType.INT8, np.array([zb], np.int8))
            out = ser.addOutput([1, 5, 7], ts.DType.INT32)
            attr = ts.TosaSerializerAttribute()
            attr.MatMulAttribute()
            ser.addOperator(Op.MATMUL, [A.name, B.name, azp.name, bzp.name], [out.name], attr)
            outputs, status = trm.run(bytes(ser.serialize()), [c["a"].reshape(1, 5, 19), c["b"].reshape(1, 19, 7)])
            got = (np.asarray(outputs[0]).reshape(5, 7).astype(np.int64) if status.name == "TOSA_VALID"
                   else RuntimeError(f"reference model status {status.name}"))
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge(be, "MATMUL", "exact int32", f"int8xint8, zero points {za}/{zb}", got, spec))
    return rows


BACKENDS = {"kernel": backend_kernel, "onnxruntime": backend_onnxruntime, "onnx": backend_onnx,
            "torch": backend_torch, "tosa": backend_tosa}
ALIASES = {"ort": "onnxruntime", "onnx_ref": "onnx", "pytorch": "torch", "tosa-tools": "tosa", "c": "kernel"}


def run_backend(name):
    """The conformance rows of one backend (MissingBackend when its package is absent); each row
    of a peer carries the installed version and, if known, the versions its deviation was measured on."""
    key = ALIASES.get(name, name)
    if key not in BACKENDS:
        raise UnknownNameError("backend", name, BACKENDS)
    rows = BACKENDS[key]()
    if key in PEERS:
        version = installed_version(key)
        for r in rows:
            r.peer, r.version = key, version
            if r.status == KNOWN:
                r.measured_on = list(DEVIATIONS[key].get(r.deviation, ()))
    return rows


# ##########################################################################
# Peers: the installed version, the pinned version, and where each deviation was measured
# ##########################################################################

@dataclass(frozen=True)
class Peer:
    dist: str      # the distribution whose installed version is reported (importlib.metadata)
    extra: str     # the refquant extra that installs it (pyproject.toml [project.optional-dependencies])
    pins: tuple    # the exact requirements the project's facts were measured on (= the extra's pins)


PEERS = {
    "onnxruntime": Peer("onnxruntime", "onnxruntime", ("onnxruntime==1.32.0", "onnx==1.21.0")),
    "onnx": Peer("onnx", "onnx", ("onnx==1.21.0",)),
    "torch": Peer("torch", "torch", ("torch==2.13.0",)),
    "tosa": Peer("tosa-tools", "tosa", ("tosa-tools==2026.8.0",)),
}
TORCH_CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"   # the CPU build, without CUDA packages

_ORT_BOTH, _ORT_OLD, _ONNX_1_21, _TORCH_2_13 = ("1.31.1", "1.32.0"), ("1.31.1",), ("1.21.0",), ("2.13.0",)

# Every named deviation of each peer -> the peer versions it was measured on: on each, `refquant
# verify PEER` showed the peer equal to the deviation's model on every element of its rows.  A new
# peer version is added here only after that run reproduces the deviation on it.  On onnxruntime
# 1.32.0 every ORT deviation reproduced except float16 +inf, which 1.32.0 saturates to qmax.
DEVIATIONS = {
    "onnxruntime": {
        FP8_KNOWN["fp8_e4m3fn"][0]: _ORT_BOTH,
        FP8_KNOWN["fp8_e5m2"][0]: _ORT_BOTH,
        "binary32 requantization (ORT MLAS)": _ORT_BOTH,
        "binary32 requantization (ORT QLinearConv)": _ORT_BOTH,
        "refquant profile 'onnxruntime'": _ORT_BOTH,
        "refquant method 'ort'": _ORT_BOTH,
        ORT_FP16_INF[0]: _ORT_OLD,
    },
    "onnx": {
        "onnx reference wraps (no saturation)": _ONNX_1_21,
        "binary64 requantization (onnx reference)": _ONNX_1_21,
        "binary64 product, clip, round (onnx reference QLinearConv)": _ONNX_1_21,
        "refquant profile 'onnx_ref'": _ONNX_1_21,
        "refquant method 'onnx_ref'": _ONNX_1_21,
        "refquant method 'onnx_ref_conv'": _ONNX_1_21,
    },
    "torch": {
        "x*(1/s) with fused zero point": _TORCH_2_13,
        "x*(1/s), zero point added in binary32": _TORCH_2_13,
        **{f"{eng} binary32 requantization": _TORCH_2_13 for eng in ("x86", "fbgemm", "qnnpack", "onednn")},
        "refquant profile 'torch'": _TORCH_2_13,
        "refquant profile 'torch_qint32'": _TORCH_2_13,
    },
    "tosa": {},
}


def installed_version(peer):
    """The installed version of a peer's distribution, or None."""
    from importlib import metadata
    try:
        return metadata.version(PEERS[peer].dist)
    except metadata.PackageNotFoundError:
        return None


def _release(version):
    """'2.13.0+cpu' -> '2.13.0': a local build label does not change what was measured."""
    return (version or "").split("+")[0]


def measured_text(r):
    """For a known row: on which peer versions its deviation was measured, and whether on this one."""
    if not r.peer:
        return ""
    dist = PEERS[r.peer].dist
    if not r.measured_on:
        return f"not recorded as measured on any {dist} version"
    on = f"measured on {dist} {', '.join(r.measured_on)}"
    if _release(r.version) in r.measured_on:
        return on
    return f"{on}; NOT on the installed {r.version} (this run reproduces it there)"


def peer_summary(peer, rows):
    """{installed, pins, deviations: {name: {measured_on, measured_on_installed, rows}}} for one peer."""
    version = installed_version(peer)
    seen = {}
    for r in rows:
        if r.peer == peer and r.status == KNOWN:
            seen[r.deviation] = seen.get(r.deviation, 0) + 1
    devs = {name: {"measured_on": list(on), "measured_on_installed": _release(version) in on,
                   "rows": seen.get(name, 0)} for name, on in DEVIATIONS[peer].items()}
    for name, n in seen.items():        # a deviation with no record (should not happen: a test checks it)
        devs.setdefault(name, {"measured_on": [], "measured_on_installed": False, "rows": n})
    return {"dist": PEERS[peer].dist, "installed": version, "pins": list(PEERS[peer].pins), "deviations": devs}


def peer_lines(peer, rows, full):
    """Text lines: the installed version against the pin, and each named deviation's measured versions."""
    s = peer_summary(peer, rows)
    pin = next(p for p in s["pins"] if p.startswith(s["dist"] + "=="))
    pinned = pin.split("==")[1]
    state = "the pinned version" if _release(s["installed"]) == pinned else f"NOT the pinned {pin}"
    devs = s["deviations"]
    on = sum(d["measured_on_installed"] for d in devs.values())
    head = (f"{s['dist']} {s['installed']} installed ({state}): {len(devs)} named deviations, "
            f"{on} measured on this version")
    if not devs:
        return [f"{s['dist']} {s['installed']} installed ({state}): no named deviations"]
    lines = [head]
    for name, d in devs.items():
        if full or not d["measured_on_installed"]:
            where = ", ".join(d["measured_on"]) or "no version"
            mark = "measured on it" if d["measured_on_installed"] else "NOT measured on it"
            shown = f"shown by {d['rows']} row(s) here" if d["rows"] else "no row shows it here"
            lines.append(f"    {name:<58} measured on {where:<16} {mark}; {shown}")
    return lines


def kernel_lines(rows):
    """Which dispatch paths this CPU has, and why the kernel row count depends on it."""
    from .. import kernel
    paths = kernel.paths()
    n = len([r for r in rows if r.backend == "kernel"])
    per = n // len(paths) if paths else 0
    found = ", ".join(paths) or "none"
    return [(f"kernel: {per} checks x {len(paths)} dispatch paths on this CPU ({found}) = {n} rows; "
             f"scalar runs everywhere, vnni needs AVX-512 F/BW/DQ/VL + AVX512_VNNI, amx also AMX-TILE + AMX-INT8 "
             f"with OS permission ({per} / {2 * per} / {3 * per} rows)")]


# ##########################################################################
# Output
# ##########################################################################

def table(rows, verbose=False):
    head = f"{'backend':<26} {'op':<22} {'flag':<52} {'status':<12} {'differ':>9}  compared with / deviation"
    out = [head, "-" * len(head)]
    for r in rows:
        status = {PASS: "pass", KNOWN: "KNOWN DEV", DIFFER: "DIFFER", UNSUPPORTED: "not supported"}[r.status]
        diff = f"{r.differ}/{r.elements}" if r.elements else "-"
        what = r.deviation if r.status == KNOWN else (r.note if r.status in (UNSUPPORTED, DIFFER) else r.profile)
        out.append(f"{r.backend[:26]:<26} {r.op[:22]:<22} {r.flag[:52]:<52} {status:<12} {diff:>9}  {what}")
        if r.status == KNOWN:
            m = measured_text(r)
            out.append(f"{'':<26} {'':<22}   -> {r.note}" + (f" [{m}]" if m else ""))
        if (verbose or r.status == DIFFER) and r.first:
            out.append(f"{'':<26} {'':<22}   first: {r.first}")
    return "\n".join(out)


def summary(rows):
    c = {s: sum(r.status == s for r in rows) for s in (PASS, KNOWN, DIFFER, UNSUPPORTED)}
    return (f"{len(rows)} rows: {c[PASS]} pass, {c[KNOWN]} known deviations (named above), {c[DIFFER]} unexplained "
            f"differences, {c[UNSUPPORTED]} not supported"), c


def cmd_verify(args):
    t0 = time.perf_counter()
    rows = run_backend(args.backend)
    text, c = summary(rows)
    key = ALIASES.get(args.backend, args.backend)
    if args.json:
        out = {"backend": args.backend, "rows": [asdict(r) for r in rows], "counts": c,
               "seconds": round(time.perf_counter() - t0, 2)}
        if key in PEERS:
            out["peer"] = peer_summary(key, rows)
        print(json.dumps(out, indent=2, default=_scalar))
    else:
        print(table(rows, args.verbose))
        print(text)
        if key in PEERS:
            print("\n".join(peer_lines(key, rows, full=True)))
        elif key == "kernel":
            print("\n".join(kernel_lines(rows)))
    if c[DIFFER] or (c[KNOWN] and not args.allow_known):
        return 1
    return 0


def cmd_check(args):
    """The kernel and every installed backend, built-in cases (golden vectors when shipped)."""
    t0 = time.perf_counter()
    all_rows, skipped = [], []
    golden = _golden_rows()
    if golden is not None:
        all_rows += golden
    for name in BACKENDS:
        try:
            all_rows += run_backend(name)
        except MissingBackend as exc:
            skipped.append(f"{name}: {exc}")
    text, c = summary(all_rows)
    secs = round(time.perf_counter() - t0, 2)
    if args.json:
        peers = {p: peer_summary(p, all_rows) for p in PEERS if any(r.peer == p for r in all_rows)}
        print(json.dumps({"rows": [asdict(r) for r in all_rows], "counts": c, "skipped": skipped,
                          "golden": golden is not None, "peers": peers, "seconds": secs}, indent=2,
                         default=_scalar))
    else:
        by = {}
        for r in all_rows:
            by.setdefault(r.backend, []).append(r)
        print(f"{'backend':<28} {'rows':>5} {'pass':>5} {'known':>6} {'differ':>7} {'unsupported':>12}")
        for b, rs in by.items():
            cnt = {st: sum(r.status == st for r in rs) for st in (PASS, KNOWN, DIFFER, UNSUPPORTED)}
            print(f"{b[:28]:<28} {len(rs):>5} {cnt[PASS]:>5} {cnt[KNOWN]:>6} {cnt[DIFFER]:>7} {cnt[UNSUPPORTED]:>12}")
        notable = [r for r in all_rows if r.status != PASS]
        if notable:
            print()
            print(table(notable))
        print()
        if any(r.backend == "kernel" for r in all_rows):
            print("\n".join(kernel_lines(all_rows)))
        for p in PEERS:
            if any(r.peer == p for r in all_rows):
                print("\n".join(peer_lines(p, all_rows, full=False)))
        for s in skipped:
            print(f"skipped {s}")
        print(text + f" ({secs} s)")
        print("check: " + ("FAILED: unexplained differences" if c[DIFFER] else
                           "OK (kernel == oracle; every backend difference is a known, named deviation)"))
    if c[DIFFER] or (args.strict and c[KNOWN]):
        return 1
    return 0


def _golden_rows():
    """Rows from the shipped golden vectors (refquant.golden.verify: oracle + C kernel); None if absent."""
    try:
        golden = importlib.import_module("refquant.golden")
    except ImportError:
        return None
    try:
        sets = golden.find_sets(golden.default_root())
    except (OSError, RefquantError):
        return None
    rows = []
    for path in sets:
        try:
            gset = golden.load_set(path)
            mism, stats = golden.verify_set(gset, use_kernel=True)
        except RefquantError as exc:
            rows.append(Row("golden", path.name, "golden vectors", "manifest", DIFFER, note=str(exc)))
            continue
        flag = f"{stats['tests']} tests" + (f", {stats['kernel_checked']} also through the C kernel"
                                           if stats.get("kernel_checked") else "")
        if mism:
            m = mism[0]
            rows.append(Row("golden", gset.suite, "oracle + C kernel", flag, DIFFER, stats["tests"], len(mism),
                            note=f"#{m['tcId']} {m['name']} ({m['checker']}): {m['detail']}"[:200]))
        else:
            rows.append(Row("golden", gset.suite, "oracle + C kernel", flag, PASS, stats["tests"], 0))
    return rows or None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
