"""torch as a peer: quantize_per_tensor / quantize_per_channel and quantized::linear per engine,
with the models of its named deviations (names, texts and measured versions: the torch engine
rows of refquant/backends.py)."""

import warnings

import numpy as np

from .. import quantize as qz
from .. import requant as rq
from .. import x86_pairs
from .cases import QUANT_X, f32, mm_case, near_tie_case, oracle_qlinear, tie_inputs
from .conformance import golden_pairs, judge, judge_golden
from .versions import known, need

ENGINE_METHOD = {"x86": "torch_fbgemm", "fbgemm": "torch_fbgemm", "qnnpack": "torch_qnnpack", "onednn": "torch_onednn"}


def backend_torch():
    torch = need("torch", "torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        be = f"torch {torch.__version__}"
        return [*_quantize_rows(torch, be), _per_channel_row(torch, be), *_linear_rows(torch, be),
                _int_mm_row(torch, be), *_torch_golden_rows(torch, be)]


def _quantize_rows(torch, be):
    rows = []
    for dtype, tdt, scale, zp in (("int8", torch.qint8, 0.1, 3), ("uint8", torch.quint8, 0.3, 128),
                                  ("int8", torch.qint8, 0.5, 0)):
        scale = f32(scale)
        x = np.concatenate([QUANT_X, tie_inputs(scale, 128)])
        spec = np.asarray(qz.quantize(x, scale, zp, dtype, "exact"), dtype=np.int64)
        model = np.asarray(qz.quantize(x, scale, zp, dtype, "torch"), dtype=np.int64)
        try:
            got = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, tdt).int_repr().numpy().astype(np.int64)
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge(be, "quantize_per_tensor", "exact x/s", f"fp32 -> {dtype}, scale {np.float32(scale)!s}, "
                          f"zp {zp}", got, spec, [known("torch", "x*(1/s) with fused zero point", model)], x=x))
    return rows


def _per_channel_row(torch, be):
    x = np.concatenate([tie_inputs(0.1, 48).reshape(4, 12),
                        np.arange(-24, 24, dtype=np.float32).reshape(4, 12) * np.float32(0.37)], 1)
    scales, zps = [f32(v) for v in (0.1, 0.3, 0.7, 0.05)], [0, 5, -5, 10]
    spec = np.asarray(qz.quantize(x, scales, zps, "int8", "exact", axis=0), dtype=np.int64)
    model = np.asarray(qz.quantize(x, scales, zps, "int8", "torch_qint32", axis=0), dtype=np.int64)
    try:
        got = torch.quantize_per_channel(torch.from_numpy(x), torch.tensor(scales, dtype=torch.double),
                                         torch.tensor(zps), 0, torch.qint8).int_repr().numpy().astype(np.int64)
    except Exception as exc:  # noqa: BLE001
        got = exc
    return judge(be, "quantize_per_channel", "exact x/s", "fp32 -> int8, axis 0", got, spec,
                 [known("torch", "x*(1/s), zero point added in binary32", model)], x=x)


def _linear_cases():
    c = mm_case("uint8", "int8", "torch-linear", M=16, K=64, N=16)
    c["zb"] = np.array(0, np.int8)
    c["a"] = (c["a"] // 2).astype(np.uint8)        # uint8 codes in [0, 127] (x86 reduce_range-free)
    tie = near_tie_case("uint8", "int8")
    tie["zb"] = np.array(0, np.int8)
    tie["a"] = np.arange(0, 128).reshape(-1, 1).astype(np.uint8)
    tie["za"] = 64
    full = mm_case("uint8", "int8", "torch-linear-full", M=16, K=64, N=16)
    full["zb"] = np.array(0, np.int8)
    full["a"][:, ::2] = 255                        # pair sums past int16 where B is large
    full["b"][::3, :] = 127
    full["sy"] = f32(full["sa"] * float(full["sb"]) * 2.0**14)   # |acc| ~ 10^6 -> codes inside [0, 255]
    return (("random", c), ("near-tie accumulators", tie), ("full uint8 range (u8 x s8 pair sums past int16)", full))


def _pair_saturated(cc, method):
    """What an engine without VNNI prints: the int16 pair-saturated accumulator, requantized by the
    engine's method."""
    acc = x86_pairs.pair_saturated_matmul(cc["a"].tolist(), cc["b"].tolist(), int(cc["za"]))
    params = rq.derive_params(method, cc["sa"], float(cc["sb"]), cc["sy"], op="fc")
    return np.array(rq.requantize(acc, method, params, cc["zy"], "uint8"), np.int64)


def _linear_rows(torch, be):
    """quantized::linear per engine."""
    rows = []
    engines = [e for e in ENGINE_METHOD if e in torch.backends.quantized.supported_engines]
    for label, cc in _linear_cases():
        spec = oracle_qlinear(cc, "exact", "uint8")
        for eng in engines:
            model = oracle_qlinear(cc, ENGINE_METHOD[eng], "uint8")
            models = [known("torch", f"{eng} binary32 requantization", model)]
            if eng != "qnnpack":
                models.append(known("torch", f"{eng} int16 pair saturation without VNNI",
                                    _pair_saturated(cc, ENGINE_METHOD[eng])))
            try:
                torch.backends.quantized.engine = eng
                xq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(cc["a"]), cc["sa"], cc["za"])
                wq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(np.ascontiguousarray(cc["b"].T)),
                                                             float(cc["sb"]), 0)
                packed = torch.ops.quantized.linear_prepack(wq, None)
                got = torch.ops.quantized.linear(xq, packed, cc["sy"], cc["zy"]).int_repr().numpy().astype(np.int64)
            except Exception as exc:  # noqa: BLE001
                got = exc
            rows.append(judge(be, "quantized::linear", "exact (QLinearMatMul spec)",
                              f"engine={eng}, u8xs8 per-tensor, {label}", got, spec, models))
    return rows


def _int_mm_row(torch, be):
    """torch._int_mm (int8 x int8 -> int32, oneDNN): the exact product, or its pair-saturated form on a
    CPU without VNNI (A + 128 against B, minus 128 * sum(B))."""
    c = mm_case("int8", "int8", "torch-int-mm", M=16, K=64, N=16)
    a, b = c["a"], c["b"]
    a[:, ::3] = 127
    spec = np.asarray(a, np.int64) @ np.asarray(b, np.int64)
    model = np.array(x86_pairs.pair_saturated_matmul(a.tolist(), b.tolist(), 0, "int8"), np.int64)
    try:
        got = torch._int_mm(torch.from_numpy(a), torch.from_numpy(b)).numpy().astype(np.int64)
    except Exception as exc:  # noqa: BLE001
        got = exc
    return judge(be, "_int_mm", "exact (MatMulInteger)", "int8 x int8 -> int32, full range", got, spec,
                 [known("torch", "onednn int16 pair saturation without VNNI", model)])


def _golden_ok(axis_wanted, tdt):
    def f(c):
        p = c.params
        return (p["dtype"] in tdt and p.get("x_format", "fp32") == "fp32" and p.get("scale_format", "fp32") == "fp32"
                and not p.get("block_size") and (p.get("axis") is not None) == axis_wanted
                and "zero_point" in c.inputs)
    return f


def _torch_golden_rows(torch, be):
    """Golden quantize vectors through torch: profile 'torch' (quantize_per_tensor, qint8/quint8) and
    profile 'torch_qint32' (quantize_per_channel), each against the exact spec vector."""
    rows = []
    tdt = {"int8": torch.qint8, "uint8": torch.quint8}
    for prof, per_axis in (("torch", False), ("torch_qint32", True)):
        name = f"refquant profile '{prof}'"
        note = known("torch", name, None)[1]
        for _n, c, spec_c in golden_pairs("quantize", prof, "exact", _golden_ok(per_axis, tdt)):
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
                                     name, note))
    return rows
