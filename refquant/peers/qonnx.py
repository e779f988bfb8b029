"""QONNX (qonnx 1.0.0) as a peer: Quant, BipolarQuant and Trunc through its executable numpy
reference (``qonnx.core.onnx_exec.execute_onnx``), against refquant/qonnx.py.

Each row runs one op over a seeded tie-heavy input (every x a binary32 value near a tie of x/s + z,
plus random values and the ends of the grid) and compares the peer with the 'qonnx' variant (its
binary32 arithmetic, modelled step by step), judged against the exact ideal: equal to it is a pass,
equal to the binary32 model where the ideal differs is a known deviation of the backend row ``qonnx``.
"""

from fractions import Fraction

import numpy as np

from .. import qonnx as spec
from .conformance import judge
from .versions import known, need

BACKEND = "qonnx reference (execute_onnx)"
DOMAIN = "qonnx.custom_op.general"


def _model(op, inputs, consts, attrs, shape, opset=None):
    onnx = need("onnx", "qonnx")
    from onnx import TensorProto, helper, numpy_helper
    node = helper.make_node(op, inputs, ["y"], domain=DOMAIN, **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))],
                          [numpy_helper.from_array(np.asarray(v, np.float32), n) for n, v in consts])
    imports = [helper.make_opsetid("", 13)] + ([helper.make_opsetid(DOMAIN, opset)] if opset else [])
    return onnx.helper.make_model(g, opset_imports=imports)


def _execute(model, x):
    need("qonnx", "qonnx")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    return np.asarray(execute_onnx(ModelWrapper(model), {"x": np.asarray(x, np.float32)})["y"], np.float32)


def run_quant(x, scale, zeropt, bit_width, signed=True, narrow=False, rounding_mode="ROUND"):
    """qonnx's Quant on a float32 array (scalar scale / zero point / bit width)."""
    m = _model("Quant", ["x", "s", "z", "bw"], (("s", scale), ("z", zeropt), ("bw", bit_width)),
               {"signed": int(signed), "narrow": int(narrow), "rounding_mode": rounding_mode}, np.shape(x))
    return _execute(m, x)


def run_bipolar(x, scale):
    """qonnx's BipolarQuant on a float32 array."""
    return _execute(_model("BipolarQuant", ["x", "s"], (("s", scale),), {}, np.shape(x)), x)


def run_trunc(x, scale, zeropt, input_bit_width, output_scale, output_bit_width, signed=True, narrow=False,
              rounding_mode="FLOOR"):
    """qonnx's Trunc (opset version 2 of its domain) on a float32 array."""
    consts = (("s", scale), ("z", zeropt), ("ibw", input_bit_width), ("os", output_scale), ("obw", output_bit_width))
    m = _model("Trunc", ["x", "s", "z", "ibw", "os", "obw"], consts,
               {"signed": int(signed), "narrow": int(narrow), "rounding_mode": rounding_mode}, np.shape(x), opset=2)
    return _execute(m, x)


def _f32(v):
    return Fraction(float(np.float32(v)))


def model_array(fn, x, *args, **kwargs):
    """The spec function ``fn`` applied to every element of the float32 array ``x`` (binary32 out)."""
    params = [_f32(a) if isinstance(a, float) else a for a in args]
    flat = [fn(Fraction(float(v)), *params, **kwargs) for v in np.asarray(x, np.float32).ravel()]
    return np.array([float(v) for v in flat], np.float32).reshape(np.shape(x))


def near_ties(scale, zeropt, lo, hi, rng, n_random=64):
    """float32 inputs whose x/s + z lies on or next to every half-integer of [lo, hi] (and random)."""
    s = np.float32(scale)
    centres = np.arange(lo, hi + 1, dtype=np.float64) + 0.5
    xs = ((centres - zeropt) * np.float64(s)).astype(np.float32)
    near = [np.nextafter(xs, np.float32(np.inf)), np.nextafter(xs, np.float32(-np.inf)), xs]
    rand = rng.uniform((lo - 2 - zeropt) * float(s), (hi + 2 - zeropt) * float(s), n_random).astype(np.float32)
    return np.concatenate(near + [rand, np.array([0.0, -0.0], np.float32)])


QUANT_CASES = (   # (scale, zero point, bit width, signed, narrow)
    (0.1, 3.0, 8, True, False), (0.25, 0.0, 4, True, True), (0.3, 7.0, 8, False, False),
    (0.0625, 0.0, 3, False, True), (1.0, 0.0, 1, True, False), (0.5, -2.0, 16, True, False),
    (1.0, 0.0, 32, True, False))
MODES = ("ROUND", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")


def _deviation_for(mode, bw):
    """The named deviation (backend row ``qonnx``) that explains a Quant row's differences from exact."""
    return "HALF_UP / HALF_DOWN in binary32" if mode.startswith("HALF_") else "binary32 x/s + z"


def _quant_inputs(s, z, bw, signed, narrow, rng):
    lo, hi = spec.int_bounds(bw, signed, narrow)
    x = near_ties(s, z, max(lo, -40), min(hi, 40), rng)
    if bw > 24:    # the ends of a wide grid: binary32 values around 2^(b-1)
        edge = np.float32(2.0 ** (bw - 1))
        x = np.concatenate([x, [edge, -edge, np.nextafter(edge, np.float32(0)), edge * 2, -edge * 2]]).astype(np.float32)
    return x


def backend_qonnx(seed=20261203):
    """Conformance rows: Quant per rounding mode and grid, BipolarQuant, Trunc.  Each row compares the
    peer with the exact ideal; a difference is 'known' when the peer equals the 'qonnx' variant (its
    binary32 arithmetic) on every element, under the named deviation."""
    need("qonnx", "qonnx")
    rng = np.random.default_rng(seed)
    rows = []
    for s, z, bw, signed, narrow in QUANT_CASES:
        x = _quant_inputs(s, z, bw, signed, narrow, rng)
        for mode in MODES:
            kw = {"signed": signed, "narrow": narrow, "rounding_mode": mode}
            flag = f"s={s} z={z} bits={bw} {'signed' if signed else 'unsigned'}{' narrow' if narrow else ''} {mode}"
            try:
                got = run_quant(x, s, z, bw, **kw)
            except Exception as exc:  # noqa: BLE001 -- the peer's own failure is a row
                got = exc
            model = model_array(spec.quant_qonnx, x, s, z, bw, **kw)
            exact = model_array(spec.quant_exact, x, s, z, bw, **kw)
            rows.append(judge(BACKEND, "Quant", "exact", flag, got, exact, x=x,
                              models=[known("qonnx", _deviation_for(mode, bw), model, "qonnx_quant")]))
    x = np.concatenate([rng.standard_normal(200).astype(np.float32), np.array([0.0, -0.0, -1e-30], np.float32)])
    rows.append(judge(BACKEND, "BipolarQuant", "qonnx", "s=0.75", run_bipolar(x, 0.75),
                      model_array(spec.bipolar_qonnx, x, 0.75), x=x))
    for rs, mode in ((4.0, "FLOOR"), (8.0, "ROUND"), (2.0, "CEIL")):
        x = near_ties(0.125, 0.0, -100, 100, rng)
        got = run_trunc(x, 0.125, 0.0, 8, 0.125 * rs, 6, rounding_mode=mode)
        want = model_array(spec.trunc_qonnx, x, 0.125, 0.0, 8, 0.125 * rs, 6, rounding_mode=mode)
        rows.append(judge(BACKEND, "Trunc", "qonnx", f"s=0.125 8->6 bits, out scale x{rs:g}, {mode}", got, want, x=x))
    return rows
