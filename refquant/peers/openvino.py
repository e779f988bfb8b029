"""OpenVINO (openvino 2026.4.1, CPU plugin) as a peer: FakeQuantize against refquant/openvino.py.

A one-op model (Parameter -> FakeQuantize with constant ranges -> Result) is compiled for the CPU with
one inference thread, twice: in the default configuration, where the plugin turns the op into a
snippets subgraph (variant 'ov_cpu_snippets'), and with ``SNIPPETS_MODE=DISABLE``, where its
FakeQuantize node runs (variant 'ov_cpu').  Each row compares the output with the exact formula; a
difference is 'known' when the peer equals the variant on every element (the named deviation of
the backend row).  The runtime graph is read back to report which path actually ran.
"""

from fractions import Fraction

import numpy as np

from .. import openvino as spec
from ..errors import InvalidValueError
from .conformance import judge
from .versions import known, need

BACKEND = "openvino CPU"
PATHS = {"snippets": ("openvino_cpu", "ov_cpu_snippets", {}),
         "fq_node": ("openvino_cpu_fq_node", "ov_cpu", {"SNIPPETS_MODE": "DISABLE"})}


def _model(shape, ranges, levels, axis_shape):
    ov = need("openvino", "openvino")
    import openvino.opset13 as ops
    p = ops.parameter(list(shape), ov.Type.f32)
    consts = [ops.constant(np.asarray(r, np.float32).reshape(axis_shape)) for r in ranges]
    return ov.Model([ops.fake_quantize(p, *consts, levels)], [p])


def run_fake_quantize(x, input_low, input_high, output_low, output_high, levels, path="snippets", axis=None):
    """OpenVINO CPU FakeQuantize of the float32 array ``x``; returns (output, the runtime layer type).

    Ranges are scalars, or 1-D arrays along ``axis`` (per channel).
    """
    ov = need("openvino", "openvino")
    x = np.asarray(x, np.float32)
    axis_shape = [1] * x.ndim
    if axis is not None:
        axis_shape[axis] = x.shape[axis]
    config = {"INFERENCE_NUM_THREADS": 1, **PATHS[path][2]}
    compiled = ov.Core().compile_model(_model(x.shape, (input_low, input_high, output_low, output_high), levels,
                                              axis_shape), "CPU", config)
    kinds = [op.get_rt_info()["layerType"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops()]
    layer = next((k for k in kinds if k in ("Subgraph", "FakeQuantize")),
                 next((k for k in kinds if k not in ("Input", "Output", "Const")), "?"))
    return np.asarray(compiled([x])[0], np.float32), layer


def _f(v):
    return Fraction(float(np.float32(v)))


def model_array(fn, x, ranges, levels, axis=None):
    """``fn`` over every element of ``x`` (ranges scalar or per ``axis``), as float32."""
    x = np.asarray(x, np.float32)
    out = np.empty(x.shape, np.float32)
    for idx in np.ndindex(x.shape):
        r = [_f(np.asarray(v).ravel()[idx[axis]] if axis is not None else v) for v in ranges]
        out[idx] = float(fn(_f(x[idx]), *r, levels))
    return out


def grid_ranges(scale, zero_point, qmin, qmax):
    """(il, ih) in float32 for an affine grid: ((qmin - zp) * s, (qmax - zp) * s)."""
    s = np.float32(scale)
    return np.float32((qmin - zero_point) * s), np.float32((qmax - zero_point) * s)


def near_ties(il, ih, levels, rng, n_random=256):
    """float32 inputs at, and one ulp either side of, every midpoint between levels (and random)."""
    mids = (np.float64(il) + (np.arange(levels - 1) + 0.5) * (np.float64(ih) - np.float64(il)) / (levels - 1))
    xs = mids.astype(np.float32)
    big = np.float32(3e38)
    rand = rng.uniform(float(il) * 1.1 - 1, float(ih) * 1.1 + 1, n_random).astype(np.float32)
    return np.concatenate([xs, np.nextafter(xs, big), np.nextafter(xs, -big), rand, [il, ih]]).astype(np.float32)


CASES = (   # (name, scale, zero point, qmin, qmax, levels, output = 'same' | 'levels')
    ("u8 s=0.3 zp=27", 0.3, 27, 0, 255, 256, "same"),
    ("i8 s=0.1 zp=0", 0.1, 0, -128, 127, 256, "same"),
    ("i8 narrow s=0.0173 zp=0", 0.0173, 0, -127, 127, 255, "same"),
    ("u4 s=0.7 zp=3", 0.7, 3, 0, 15, 16, "same"),
    ("u8 s=0.05 zp=100 -> level index", 0.05, 100, 0, 255, 256, "levels"),
)


def backend_openvino(seed=20261203):
    """Conformance rows: FakeQuantize per case and path, and one per-channel case."""
    need("openvino", "openvino")
    rng = np.random.default_rng(seed)
    rows = []
    for name, s, zp, qmin, qmax, levels, out in CASES:
        il, ih = grid_ranges(s, zp, qmin, qmax)
        ranges = (il, ih, il, ih) if out == "same" else (il, ih, np.float32(0), np.float32(levels - 1))
        x = near_ties(il, ih, levels, rng).reshape(1, -1)
        exact = model_array(spec.fake_quantize_exact, x, ranges, levels)
        for path, (_row, variant, _) in PATHS.items():
            got, layer = run_fake_quantize(x, *ranges, levels, path=path)
            model = model_array(spec.VARIANTS["fake_quantize"][variant], x, ranges, levels)
            r = judge(BACKEND, "FakeQuantize", "exact", f"{name}, levels {levels}, {path} ({layer})", got, exact,
                      models=[known("openvino", f"binary32 FakeQuantize ({path})", model, "fake_quantize")], x=x)
            rows.append(r)
    rows.append(_per_channel_row(rng))
    return (rows + int8_rows(rng) + int8_chain_rows(rng) + int8_chain_rows(rng, conv=True) + int8_bias_rows(rng)
            + int8_levels_rows(rng))


def _grid_fq(node, scale, zp, qmin, qmax, levels, shape):
    import openvino.opset13 as ops
    s = np.asarray(scale, np.float32).reshape(shape)
    lo, hi = np.float32((qmin - np.asarray(zp)) * s), np.float32((qmax - np.asarray(zp)) * s)
    return ops.fake_quantize(node, *(ops.constant(np.asarray(v, np.float32)) for v in (lo, hi, lo, hi)), levels)


def run_int8(qa, qw, act, s_w, out, conv=False, weights="fq", bias=None, levels=256):
    """An int8 MatMul (qa [M, K] @ qw [K, N]) or Convolution (qa NCHW, qw OIHW, valid, stride 1) as users write it.

    FakeQuantize on the activations (``act`` = (scale, zero point, qmin, qmax), levels qmax - qmin + 1), on
    the constant weights (scales ``s_w``, one or per output channel, narrow-range i8, 255 levels; or with
    ``weights='convert'`` an i8 constant + Convert + Multiply(s_w), the other form users write), the op,
    an Add of the float32 ``bias`` per output channel (if given), FakeQuantize on the output (``out`` =
    (scale, zero point), grid 0..levels-1, or ('range', ol, oh)).  Returns (output, {layer type: (runtime precision, primitive)},
    (ol, oh) as float32).
    """
    ov = need("openvino", "openvino")
    import openvino.opset13 as ops
    sa, za, amin, amax = act
    s_w = np.asarray(s_w, np.float32).reshape(-1)
    n_out = qw.shape[0] if conv else qw.shape[1]
    p = ops.parameter(list(qa.shape), ov.Type.f32)
    one = [1] * qa.ndim
    a = _grid_fq(p, sa, za, amin, amax, amax - amin + 1, one)
    wshape = ([n_out, 1, 1, 1] if conv else [1, n_out]) if s_w.size > 1 else one
    w = (qw * s_w.astype(np.float64).reshape(wshape)).astype(np.float32)
    if weights == "convert":
        wq = ops.multiply(ops.convert(ops.constant(qw.astype(np.int8)), ov.Type.f32),
                          ops.constant(s_w.reshape(wshape)))
    else:
        wq = _grid_fq(ops.constant(w), s_w, 0, -127, 127, 255, wshape)
    y = ops.convolution(a, wq, [1, 1], [0, 0], [0, 0], [1, 1]) if conv else ops.matmul(a, wq, False, False)
    if bias is not None:
        y = ops.add(y, ops.constant(np.asarray(bias, np.float32).reshape([1, n_out] + [1] * (qa.ndim - 2))))
    if out[0] == "range":        # ("range", ol, oh): an output range that need not be a grid
        lim = [ops.constant(np.float32(v)) for v in out[1:]]
        y = ops.fake_quantize(y, *lim, *lim, levels)
    else:
        y = _grid_fq(y, out[0], out[1], 0, levels - 1, levels, one)
    compiled = ov.Core().compile_model(ov.Model([y], [p]), "CPU", {"INFERENCE_NUM_THREADS": 1})
    info = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        info[rt["layerType"].astype(str)] = (rt["runtimePrecision"].astype(str), rt["primitiveType"].astype(str))
    x = ((qa - za) * np.float64(np.float32(sa))).astype(np.float32)
    ol, oh = (np.float32(v) for v in out[1:]) if out[0] == "range" else (
        np.float32((q - out[1]) * np.float32(out[0])) for q in (0, levels - 1))
    return np.asarray(compiled([x])[0], np.float32), info, (ol, oh)


def conv_accumulator(qa, qw):
    """int64 accumulators of a valid, stride-1 NCHW x OIHW convolution of integer arrays."""
    n, c, h, w = qa.shape
    oc, _, kh, kw = qw.shape
    acc = np.zeros((n, oc, h - kh + 1, w - kw + 1), np.int64)
    for i in range(kh):
        for j in range(kw):
            acc += np.einsum("nchw,oc->nohw", qa[:, :, i:i + h - kh + 1, j:j + w - kw + 1], qw[:, :, i, j])
    return acc


def lpt_int8(qa, qw, act, s_w):
    """(accumulators the kernel computes, d per channel, LPT's activation shifts per channel or None).

    A symmetric activation grid ([-128 s, 127 s]) runs as i8 without a zero point (d = fl(s * s_w'),
    measured); any other grid (an i8 grid with a zero point included) runs as u8, decomposed by LPT
    (spec.lpt_dequantization to 0..255), and its zero point
    subtracted behind the MatMul (spec.activation_shift over each output channel's weights); a
    Convolution takes the zero point as an integer input zero point (measured: rounded, exact).
    """
    s_a, za, qmin, qmax = act
    s_w = np.asarray(s_w, np.float32).reshape(-1)
    sw = [spec.lpt_dequantization(_f(np.float32(-127 * v)), _f(np.float32(127 * v)), -127, 127)[0] for v in s_w]
    cols = list(qw.T)
    centred = conv_accumulator(qa - za, qw) if qa.ndim == 4 else (qa - za) @ qw
    if za - qmin == 128:
        return centred, [spec.dequantization_scale(_f(np.float32(s_a)), v) for v in sw], None, centred
    lo, hi = _f(np.float32((qmin - za) * np.float32(s_a))), _f(np.float32((qmax - za) * np.float32(s_a)))
    scale, shift = spec.lpt_dequantization(lo, hi, 0, qmax - qmin)
    ds = [spec.dequantization_scale(scale, v) for v in sw]
    if qa.ndim == 4:       # Convolution: the zero point rounded to an integer, compensated exactly (oneDNN)
        return centred, ds, None, centred
    return (qa - qmin) @ qw, ds, [spec.activation_shift(shift, c) for c in cols], centred


def int8_models(qa, qw, act, s_w, out_range, axis, bias=None, levels=256):
    """(exact, ov_cpu_int8) float32 arrays for every output of the layer (channels along ``axis``)."""
    raw, ds, shifts, centred = lpt_int8(qa, qw, act, s_w)
    ol, oh = (_f(v) for v in out_range)
    b = None if bias is None else [_f(v) for v in np.asarray(bias, np.float32).reshape(-1)]
    plan = spec.int8_post_ops(ds, ol, oh, levels, shifts, bias=b, layer="conv" if qa.ndim == 4 else "matmul")
    d_exact = [_f(np.float32(act[0])) * _f(v) for v in np.asarray(s_w, np.float32).reshape(-1)]
    exact, model = np.empty(raw.shape, np.float32), np.empty(raw.shape, np.float32)
    for idx in np.ndindex(raw.shape):
        ch = idx[axis]
        exact[idx] = float(spec.int8_output_exact(int(centred[idx]), d_exact, ol, oh, levels, channel=ch, bias=b))
        model[idx] = float(spec.apply_int8_plan(int(raw[idx]), plan, ch))
    return exact, model


INT8_CASES = (   # (name, activation (s, zp, qmin, qmax), weight scales, output (s, zp))
    ("i8 act, per-tensor w, sy 0.42 zy 33", (0.3, 0, -128, 127), 0.7, (0.42, 33)),
    ("i8 act, per-tensor w, sy 0.01 zy 100", (0.1, 0, -128, 127), 0.05, (0.01, 100)),
    ("i8 act, per-tensor w, sy 1 zy 101", (0.1, 0, -128, 127), 0.05, (1.0, 101)),
    ("i8 act, per-tensor w, sy 1 zy 100", (0.5, 0, -128, 127), 0.25, (1.0, 100)),
    ("i8 act, per-tensor w, sy 0.013 zy 0", (0.1, 0, -128, 127), 0.05, (0.013, 0)),
    ("u8 act zp 0, per-tensor w, sy 0.029 zy 128", (0.37, 0, 0, 255), 0.011, (0.029, 128)),
    ("u8 act zp 128, per-channel w, sy 0.1 zy 77", (0.2, 128, 0, 255), (0.25, 0.013, 0.7, 0.11) * 4, (0.1, 77)),
    ("u8 act zp 0, per-channel w, sy 0.029 zy 64", (0.37, 0, 0, 255), (0.011, 0.0123, 0.013, 0.0119) * 4,
     (0.029, 64)),
    ("u8 act zp 127, per-tensor w, sy 0.42 zy 33", (0.3, 127, 0, 255), 0.7, (0.42, 33)),
    ("u8 act zp 77, per-channel w, sy 0.01 zy 100", (0.023, 77, 0, 255), (0.0031, 0.0042) * 8, (0.01, 100)),
    ("u8 act zp 255, per-tensor w, sy 0.42 zy 200", (0.05, 255, 0, 255), 0.7, (0.42, 200)),
    ("i8 act zp 10 (runs as u8), per-tensor w, sy 0.42 zy 33", (0.3, 10, -128, 127), 0.7, (0.42, 33)),
    ("i8 act zp -37 (runs as u8), per-channel w, sy 0.1 zy 77", (0.023, -37, -128, 127), (0.0031, 0.0042) * 8,
     (0.1, 77)),
)


def _int8_acts(rng, act, shape):
    s, zp, qmin, qmax = act
    return rng.integers(max(qmin, zp - 6), min(qmax, zp + 6) + 1, shape)


def int8_rows(rng, cases=INT8_CASES, m=64, k=16):
    """Conformance rows: int8 MatMul per case, and one per-channel Convolution."""
    rows = []
    for name, act, s_w, out in cases:
        n = np.asarray(s_w).size if np.asarray(s_w).size > 1 else 16
        qa, qw = _int8_acts(rng, act, (m, k)), rng.integers(-6, 7, (k, n))
        got, info, rng_out = run_int8(qa, qw, act, s_w, out)
        rows.append(_int8_row("MatMul", name, got, info.get("FullyConnected"), int8_models(qa, qw, act, s_w,
                                                                                            rng_out, 1)))
    act, s_w, out = (0.3, 127, 0, 255), (0.7, 0.011) * 8, (0.42, 33)
    qa, qw = _int8_acts(rng, act, (m, k)), rng.integers(-6, 7, (k, 16))
    got, info, rng_out = run_int8(qa, qw, act, s_w, out, weights="convert")
    rows.append(_int8_row("MatMul", "u8 act zp 127, i8 weights + Convert + Multiply (per-channel), sy 0.42 zy 33",
                          got, info.get("FullyConnected"), int8_models(qa, qw, act, s_w, rng_out, 1)))
    for name, act in (("u8 act zp 128", (0.2, 128, 0, 255)), ("u8 act zp 127", (0.3, 127, 0, 255))):
        s_w, out = (0.25, 0.013, 0.7, 0.11) * 4, (0.1, 77)
        qa, qw = _int8_acts(rng, act, (1, 8, 6, 6)), rng.integers(-3, 4, (16, 8, 3, 3))
        got, info, rng_out = run_int8(qa, qw, act, s_w, out, conv=True)
        rows.append(_int8_row("Convolution", f"{name}, per-channel w, sy 0.1 zy 77", got, info.get("Convolution"),
                              int8_models(qa, qw, act, s_w, rng_out, 1)))
    return rows


BIAS_CASES = (   # (name, activation (s, zp, qmin, qmax), weight scales, output (s, zp)); MatMul and Convolution each
    ("i8 act, per-tensor w, sy 0.42 zy 33", (0.1, 0, -128, 127), 0.05, (0.42, 33)),
    ("i8 act, per-channel w, sy 0.42 zy 33", (0.1, 0, -128, 127), (0.05, 0.013, 0.7, 0.11) * 4, (0.42, 33)),
    ("u8 act zp 127, per-tensor w, sy 0.42 zy 33", (0.3, 127, 0, 255), 0.7, (0.42, 33)),
    ("u8 act zp 128, per-channel w, sy 0.1 zy 77", (0.2, 128, 0, 255), (0.25, 0.013, 0.7, 0.11) * 4, (0.1, 77)),
    ("u8 act zp 77, per-channel w, sy 0.01 zy 100", (0.023, 77, 0, 255), (0.0031, 0.0042) * 8, (0.01, 100)),
    ("i8 act, per-tensor w, sy 1 zy 101", (0.1, 0, -128, 127), 0.05, (1.0, 101)),
    ("i8 act zp 10 (runs as u8), per-tensor w, sy 0.42 zy 33", (0.3, 10, -128, 127), 0.7, (0.42, 33)),
    ("u8 act zp 0, per-tensor w, sy 0.013 zy 0", (0.37, 0, 0, 255), 0.011, (0.013, 0)),
)


def _bias(rng, n):
    """A float32 bias per channel near multiples of 0.05 (so that many sums land near ties)."""
    return (rng.integers(-40, 40, n) * np.float32(0.05) + rng.choice([0, 1e-7, -1e-7, 0.01, 0.3], n)).astype(np.float32)


def _int8_case(rng, act, m, conv):
    if conv:
        return _int8_acts(rng, act, (1, 8, m // 8 + 2, 10)), rng.integers(-3, 4, (16, 8, 3, 3))
    return _int8_acts(rng, act, (m, 16)), rng.integers(-6, 7, (16, 16))


def int8_bias_rows(rng, cases=BIAS_CASES, m=64):
    """Rows: MatMul / Convolution + Add(bias per channel) + FakeQuantize, and a per-tensor bias (not supported)."""
    rows = []
    for name, act, s_w, out in cases:
        for conv in (False, True):
            qa, qw = _int8_case(rng, act, m, conv)
            bias = _bias(rng, 16)
            got, info, rng_out = run_int8(qa, qw, act, s_w, out, conv=conv, bias=bias)
            op = "Convolution" if conv else "MatMul"
            try:
                models = int8_models(qa, qw, act, s_w, rng_out, 1, bias=bias)
            except InvalidValueError as e:
                rows.append(judge(BACKEND, f"{op} + bias + FakeQuantize", "exact", f"int8 {name}", e, None))
                continue
            rows.append(_int8_row(f"{op} + bias", name, got, info.get("Convolution" if conv else "FullyConnected"),
                                  models))
    qa, qw = _int8_case(rng, BIAS_CASES[3][1], m, False)
    try:
        int8_models(qa, qw, *BIAS_CASES[3][1:3], (np.float32(-7.7), np.float32(17.8)), 1, bias=np.full(16, 0.3))
    except InvalidValueError as e:
        rows.append(judge(BACKEND, "MatMul + bias + FakeQuantize", "exact", "int8 bias 0.3 on every channel", e, None))
    return rows


LEVELS_CASES = (   # (levels, output (s, zp) or ('range', ol, oh)): f32 output FakeQuantize, other levels and ranges
    (2, (1.3, 1)), (3, (0.37, 1)), (17, (0.3, 1)), (17, (0.37, 9)), (64, (0.2, 30)), (100, (0.2, 30)),
    (128, (0.37, 77)), (129, (0.013, 43)), (254, (0.3, 1)), (254, (1.3, 127)), (257, (0.37, 77)), (1000, (0.3, 1)),
    (16, (0.3, 1)), (16, (0.37, 13)), (16, ("range", -0.77, 5.1)), (256, (0.3, 1)), (256, ("range", -1.3, 2.9)),
    (256, ("range", -2, 2)), (256, ("range", -0.77, 5.1)), (256, ("range", 0.25, 3.1)), (256, ("range", -4.2, -0.3)),
    (16, (0.37, 8)), (15, (0.3, 1)), (15, ("range", -1, 1)), (255, (0.37, 77)), (255, (1.3, 127)),
    (255, ("range", 0, 3.3)), (255, ("range", -0.77, 5.1)),
)


def int8_levels_rows(rng, cases=LEVELS_CASES, m=32):
    """Rows: int8 MatMul / Convolution with an output FakeQuantize of other levels or a range that is not a grid
    (i8 and u8 zp 127 activations)."""
    rows = []
    for i, (levels, out) in enumerate(cases):
        act, s_w = ((0.1, 0, -128, 127), 0.05) if i % 2 else ((0.3, 127, 0, 255), (0.7, 0.011) * 8)
        conv = i % 3 == 2
        qa, qw = _int8_case(rng, act, m, conv)
        got, info, rng_out = run_int8(qa, qw, act, s_w, out, conv=conv, levels=levels)
        op = "Convolution" if conv else "MatMul"
        what = f"range [{out[1]}, {out[2]}]" if out[0] == "range" else f"sy {out[0]} zy {out[1]}"
        rows.append(_int8_row(op, f"levels {levels}, {what}, act zp {act[1]}", got,
                              info.get("Convolution" if conv else "FullyConnected"),
                              int8_models(qa, qw, act, s_w, rng_out, 1, levels=levels)))
    return rows


def run_int8_chain(qa, qw1, qw2, act, s_w1, hidden, s_w2, out, conv=False):
    """Two int8 layers: FakeQuantize(x) -> op(FQ(w1)) -> FakeQuantize ``hidden`` (s, zp) -> op(FQ(w2)) -> FakeQuantize.

    The op is MatMul (qa [M, K], qw [K, N]) or, with ``conv``, a valid stride-1 Convolution (qa NCHW, qw OIHW,
    weight scales per output channel).  The hidden FakeQuantize feeds another int8 layer, so the first layer
    writes u8 / s8 (returns the output, the layers' runtime precisions, and the models' float32 arrays
    (exact, ov_cpu_int8)).
    """
    ov = need("openvino", "openvino")
    import openvino.opset13 as ops
    p = ops.parameter(list(qa.shape), ov.Type.f32)
    one = [1] * qa.ndim
    h = _grid_fq(p, act[0], act[1], act[2], act[3], 256, one)
    for qw, s_w, (s, zp) in ((qw1, s_w1, hidden), (qw2, s_w2, out)):
        s_w = np.asarray(s_w, np.float32).reshape([-1, 1, 1, 1] if conv else [1, -1])
        w = _grid_fq(ops.constant((qw * s_w.astype(np.float64)).astype(np.float32)), s_w, 0, -127, 127, 255,
                     list(s_w.shape))
        y = ops.convolution(h, w, [1, 1], [0, 0], [0, 0], [1, 1]) if conv else ops.matmul(h, w, False, False)
        h = _grid_fq(y, s, zp, 0, 255, 256, one)
    compiled = ov.Core().compile_model(ov.Model([h], [p]), "CPU", {"INFERENCE_NUM_THREADS": 1})
    layer = "Convolution" if conv else "FullyConnected"
    kinds = [op.get_rt_info()["runtimePrecision"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops()
             if op.get_rt_info()["layerType"].astype(str) == layer]
    got = np.asarray(compiled([((qa - act[1]) * np.float64(np.float32(act[0]))).astype(np.float32)])[0])
    grid = lambda s, zp: (np.float32((0 - zp) * np.float32(s)), np.float32((255 - zp) * np.float32(s)))
    raw, ds, shifts, centred = lpt_int8(qa, qw1, act, s_w1)
    dst = "s8" if hidden[1] == 128 and not conv else "u8"      # a Convolution reads u8 (with a zero point)
    ol, oh = (_f(v) for v in grid(*hidden))
    plan = spec.int8_post_ops(ds, ol, oh, 256, shifts, dst)
    d_exact = [_f(np.float32(act[0])) * _f(v) for v in np.asarray(s_w1, np.float32).reshape(-1)]
    models = []
    for fn in (lambda idx: spec.int8_output_exact(int(centred[idx]), d_exact, ol, oh, 256, idx[1], dst=dst),
               lambda idx: spec.apply_int8_plan(int(raw[idx]), plan, idx[1])):
        q1 = np.zeros(raw.shape, np.int64)
        for idx in np.ndindex(raw.shape):
            q1[idx] = int(fn(idx)) + (128 if dst == "s8" else 0)
        models.append(int8_models(q1, qw2, (hidden[0], hidden[1], 0, 255), s_w2, grid(*out), 1)[len(models)])
    return got, kinds, models


CHAIN_CASES = (   # (name, activation, first weights' scales, hidden (s, zp))
    ("hidden s8 (zp 128), i8 act", (0.3, 0, -128, 127), 0.7, (0.5, 128)),
    ("hidden u8 zp 101, u8 act zp 127, per-channel w1", (0.3, 127, 0, 255), (0.7, 0.011) * 8, (0.37, 101)),
)


def int8_chain_rows(rng, m=64, conv=False):
    """Rows: two chained int8 MatMuls or Convolutions (hidden s8 and u8), the first layer's u8/s8 output modelled."""
    rows = []
    for name, act, s_w1, hidden in CHAIN_CASES:
        if conv:
            qa = _int8_acts(rng, act, (1, 8, m // 8 + 4, 12))
            qw1, qw2 = rng.integers(-3, 4, (16, 8, 3, 3)), rng.integers(-2, 3, (16, 16, 3, 3))
        else:
            qa = _int8_acts(rng, act, (m, 16))
            qw1, qw2 = rng.integers(-6, 7, (16, 16)), rng.integers(-3, 4, (16, 16))
        s_w2 = (0.05, 0.0031) * 8 if conv else 0.05
        got, kinds, models = run_int8_chain(qa, qw1, qw2, act, s_w1, hidden, s_w2, (0.42, 33), conv)
        op = "Conv -> FQ -> Conv" if conv else "MatMul -> FQ -> MatMul"
        rows.append(_int8_row(op, name, got, ("chain", "/".join(kinds)), models))
    return rows


def _int8_row(op, name, got, info, models):
    exact, model = models
    flag = f"int8 {name} ({info[1] if info else 'not int8'}, {info[0] if info else '?'})"
    return judge(BACKEND, f"{op} + FakeQuantize", "exact", flag, got, exact,
                 models=[known("openvino", "binary32 int8 MatMul/Conv + output FakeQuantize", model, "fq_matmul")])


def _per_channel_row(rng):
    scales, zps = np.float32([0.3, 0.02, 1.7]), np.array([27, 128, 0])
    il = np.float32((0 - zps) * scales)
    ih = np.float32((255 - zps) * scales)
    x = np.stack([near_ties(il[c], ih[c], 256, rng, 0)[:700] for c in range(3)])[None, :, :]
    ranges = (il, ih, il, ih)
    got, layer = run_fake_quantize(x, *ranges, 256, path="snippets", axis=1)
    exact = model_array(spec.fake_quantize_exact, x, ranges, 256, axis=1)
    model = model_array(spec.fake_quantize_ov_cpu_snippets, x, ranges, 256, axis=1)
    return judge(BACKEND, "FakeQuantize", "exact", f"per-channel (3 channels), levels 256, snippets ({layer})", got,
                 exact, models=[known("openvino", "binary32 FakeQuantize (snippets)", model, "fake_quantize")], x=x)
