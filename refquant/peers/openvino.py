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
        for path, (row, variant, _) in PATHS.items():
            got, layer = run_fake_quantize(x, *ranges, levels, path=path)
            model = model_array(spec.VARIANTS["fake_quantize"][variant], x, ranges, levels)
            r = judge(BACKEND, "FakeQuantize", "exact", f"{name}, levels {levels}, {path} ({layer})", got, exact,
                      models=[known("openvino", f"binary32 FakeQuantize ({path})", model, "fake_quantize")], x=x)
            rows.append(r)
    rows.append(_per_channel_row(rng))
    return rows


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
