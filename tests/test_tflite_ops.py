"""refquant/tflite_ops.py against LiteRT itself (ai-edge-litert 2.3.0), per kernel family.

Small seeded samples run unmarked; the sweeps of >= 10^5 elements per op x family are
``@pytest.mark.slow`` (their numbers are in docs/ops.md, "TFLite / LiteRT ops")."""

import numpy as np
import pytest

from refquant import backends, tflite_conv
from refquant import tflite_ops as T
from refquant.errors import InvalidValueError

litert = pytest.importorskip("refquant.peers.litert")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (pip install 'refquant[litert]')")

ROW = {"ref": "litert_ref", "optimized": "litert_optimized", "xnnpack": "litert_xnnpack"}


def family_fn(family, op, delegated):
    """The variant the family's backend row names; an op XNNPACK declined runs the optimized kernel."""
    if family == "xnnpack" and not delegated:
        family = "optimized"
    return backends.variant(ROW[family], op)


# ##########################################################################
# Against LiteRT: small seeded samples, every family
# ##########################################################################

def _binary_model(op, shape, sa, za, sb, zb, sy, zy, dtype, act):
    m = litert.Model()
    a = m.tensor("a", shape, dtype, scale=sa, zero_point=za)
    b = m.tensor("b", shape, dtype, scale=sb, zero_point=zb)
    y = m.tensor("y", shape, dtype, scale=sy, zero_point=zy)
    pot = {"pot_scale_int16": False} if op in ("ADD", "SUB") else {}   # int16: the general-scale path
    m.op(op, [a, b], [y], fused_activation_function=act, **pot)
    return m.build([a, b], [y])


def binary_cases(rng, count, n, dtype):
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    pow2 = [0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0]
    for c in range(count):
        if c % 2:
            sa, sb, sy = (float(rng.choice(pow2)) for _ in range(3))        # tie-heavy
        else:
            sa, sb, sy = (float(np.float32(rng.uniform(0.001, 0.1))) for _ in range(3))
        za, zb, zy = (0, 0, 0) if dtype == "int16" else (int(v) for v in rng.integers(-40, 40, 3))
        if c % 5 == 4 and dtype == "int8":
            za, zy = -128, 127                                                # zero points at the range ends
        if c % 4 == 3:      # activation bounds on ties: 6/sy = 6.5, 4.5; 1/sy = 0.5
            sy = (float(np.float32(12 / 13)), float(np.float32(4 / 3)), 2.0)[c % 3]
        act = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")[c % 4]
        yield (sa, za, sb, zb, sy, zy, act, rng.integers(lo, hi + 1, n).astype(dtype),
               rng.integers(lo, hi + 1, n).astype(dtype))


def run_binary(op, rng, count, n, dtype):
    """{family: (elements, mismatches)} for ``count`` random configurations of ``n`` elements."""
    out = {f: [0, 0] for f in litert.FAMILIES}
    for sa, za, sb, zb, sy, zy, act, a, b in binary_cases(rng, count, n, dtype):
        blob = _binary_model(op.upper(), (n,), sa, za, sb, zb, sy, zy, dtype, act)
        for fam in litert.FAMILIES:
            r = litert.run(blob, {"a": a, "b": b}, fam)
            want = np.array(family_fn(fam, op, r.delegated[0])(a.tolist(), sa, za, b.tolist(), sb, zb, sy, zy,
                                                               dtype=dtype, activation=act))
            out[fam][0] += n
            out[fam][1] += int((r.outputs["y"] != want).sum())
    return out


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_binary_ops_match_litert(op, dtype):
    res = run_binary(op, np.random.default_rng(hash((op, dtype)) % 2**32), 4, 64, dtype)
    assert all(d == 0 for _, d in res.values()), res


def test_xnnpack_add_mul_measured_cases():
    """The two cases measured when the peer was first tried: ref and XNNPACK differ by one."""
    a, b = np.array([-38], np.int8), np.array([-36], np.int8)
    blob = _binary_model("ADD", (1,), 0.0625, -35, 0.03125, 24, 0.125, -18, "int8", "NONE")
    got = {f: int(litert.run(blob, {"a": a, "b": b}, f).outputs["y"][0]) for f in litert.FAMILIES}
    assert got == {"ref": -35, "optimized": -35, "xnnpack": -34}
    assert T.tflite_add([-38], 0.0625, -35, [-36], 0.03125, 24, 0.125, -18) == [-35]
    assert T.xnnpack_add([-38], 0.0625, -35, [-36], 0.03125, 24, 0.125, -18) == [-34]
    a, b = np.array([-16], np.int8), np.array([-35], np.int8)
    blob = _binary_model("MUL", (1,), 0.03125, 2, 0.125, 17, 0.0625, -10, "int8", "NONE")
    got = {f: int(litert.run(blob, {"a": a, "b": b}, f).outputs["y"][0]) for f in litert.FAMILIES}
    assert got == {"ref": 49, "optimized": 49, "xnnpack": 48}
    assert T.xnnpack_mul([-16], 0.03125, 2, [-35], 0.125, 17, 0.0625, -10) == [48]


def test_optimized_mul_int16_lane_wrap():
    """M = 16 with a saturating product: the optimized vector path adds zy in int16 with wrap."""
    n = 16
    a, b = np.full(n, 41, np.int8), np.full(n, -120, np.int8)
    blob = _binary_model("MUL", (n,), 0.5, -24, 1.0, 22, 0.03125, -35, "int8", "RELU_N1_TO_1")
    assert litert.run(blob, {"a": a, "b": b}, "ref").outputs["y"].tolist() == [-67] * n
    assert litert.run(blob, {"a": a, "b": b}, "optimized").outputs["y"].tolist() == [-3] * n
    assert T.tflite_mul_optimized(a.tolist(), 0.5, -24, b.tolist(), 1.0, 22, 0.03125, -35,
                                  activation="RELU_N1_TO_1") == [-3] * n


def _one_input_model(op, x, dtype, s, zp, y_shape, consts=(), **opts):
    m = litert.Model()
    xt = m.tensor("x", x.shape, dtype, scale=s, zero_point=zp)
    extra = [m.const(f"c{i}", np.asarray(c, np.int32)) for i, c in enumerate(consts)]
    yt = m.tensor("y", y_shape, dtype, scale=s, zero_point=zp)
    m.op(op, [xt, *extra], [yt], **opts)
    return m.build([xt], [yt])


def movement_cases(rng, count):
    for c in range(count):
        dtype = "int8" if c % 3 else "int16"
        lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
        zp = int(rng.integers(-128, 128)) if dtype == "int8" else 0
        shape = tuple(int(v) for v in (1, *rng.integers(1, 6, 3)))
        yield c, dtype, float(np.float32(rng.uniform(0.01, 1))), zp, rng.integers(lo, hi + 1, shape).astype(dtype)


def run_resize(rng, count):
    out = {}
    for c, dtype, s, zp, x in movement_cases(rng, count):
        ac, hp = ((False, False), (True, False), (False, True))[c % 3]
        size = tuple(int(v) for v in rng.integers(1, 11, 2))
        for op, key in (("RESIZE_NEAREST_NEIGHBOR", "resize_nearest_neighbor"), ("RESIZE_BILINEAR", "resize_bilinear")):
            blob = _one_input_model(op, x, dtype, s, zp, (1, *size, x.shape[3]), [size], align_corners=ac,
                                    half_pixel_centers=hp)
            for fam in litert.FAMILIES:
                r = litert.run(blob, {"x": x}, fam)
                want = np.array(family_fn(fam, key, r.delegated[0])(x.tolist(), size, align_corners=ac,
                                                                    half_pixel_centers=hp, dtype=dtype))
                cell = out.setdefault((key, fam), [0, 0])
                cell[0] += want.size
                cell[1] += int((r.outputs["y"] != want).sum())
    return out


def test_resize_match_litert():
    res = run_resize(np.random.default_rng(21), 6)
    assert all(d == 0 for _, d in res.values()), res


def run_pool_pad_concat_mean(rng, count):
    out = {}

    def cell(key, fam, got, want):
        c = out.setdefault((key, fam), [0, 0])
        c[0] += want.size
        c[1] += int((got != want).sum())
    for c, dtype, s, zp, x in movement_cases(rng, count):
        h, w = x.shape[1:3]
        fh, fw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        pad, act = ("SAME", "VALID")[c % 2], ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")[c % 4]
        for op, key in (("AVERAGE_POOL_2D", "average_pool_2d"), ("MAX_POOL_2D", "max_pool_2d")):
            kw = dict(filter_hw=(fh, fw), strides=(1 + c % 2, 1), padding=pad, dtype=dtype, activation=act)
            want = np.array(backends.variant("litert_ref", key)(x.tolist(), scale=s, zero_point=zp, **kw))
            blob = _one_input_model(op, x, dtype, s, zp, want.shape, padding=pad, stride_h=1 + c % 2, stride_w=1,
                                    filter_height=fh, filter_width=fw, fused_activation_function=act)
            for fam in litert.FAMILIES:
                r = litert.run(blob, {"x": x}, fam)
                cell(key, fam, r.outputs["y"], np.array(family_fn(fam, key, r.delegated[0])(
                    x.tolist(), scale=s, zero_point=zp, **kw)))
        pads = [[0, 0], [c % 2, 1], [1, c % 3], [0, c % 2]]
        want = np.array(T.tflite_pad(x.tolist(), pads, zero_point=zp, dtype=dtype))
        blob = _one_input_model("PAD", x, dtype, s, zp, want.shape, [pads])
        for fam in litert.FAMILIES:
            cell("pad", fam, litert.run(blob, {"x": x}, fam).outputs["y"], want)
        axes, keep = ([1, 2], True) if c % 2 else ([3], False)
        so, zo = (s, zp) if c % 3 == 0 else (float(np.float32(rng.uniform(0.01, 1))), 0 if dtype == "int16" else 7)
        want0 = np.array(T.tflite_mean(x.tolist(), s, zp, so, zo, axes=axes, keepdims=keep, dtype=dtype))
        m = litert.Model()
        xt, at = m.tensor("x", x.shape, dtype, scale=s, zero_point=zp), m.const("axes", np.array(axes, np.int32))
        yt = m.tensor("y", want0.shape, dtype, scale=so, zero_point=zo)
        m.op("MEAN", [xt, at], [yt], keep_dims=keep)
        blob = m.build([xt], [yt])
        for fam in litert.FAMILIES:
            r = litert.run(blob, {"x": x}, fam)
            cell("mean", fam, r.outputs["y"], np.array(family_fn(fam, "mean", r.delegated[0])(
                x.tolist(), s, zp, so, zo, axes=axes, keepdims=keep, dtype=dtype)))
        x2 = x[..., :1]
        want = np.array(T.tflite_concatenation([(x.tolist(), s, zp), (x2.tolist(), s, zp)], s, zp, axis=3,
                                               dtype=dtype))
        m = litert.Model()
        a, b = m.tensor("a", x.shape, dtype, scale=s, zero_point=zp), m.tensor("b", x2.shape, dtype, scale=s,
                                                                             zero_point=zp)
        yt = m.tensor("y", want.shape, dtype, scale=s, zero_point=zp)
        m.op("CONCATENATION", [a, b], [yt], axis=3)
        blob = m.build([a, b], [yt])
        for fam in litert.FAMILIES:
            cell("concatenation", fam, litert.run(blob, {"a": x, "b": x2}, fam).outputs["y"], want)
    return out


def test_pool_pad_concat_mean_match_litert():
    res = run_pool_pad_concat_mean(np.random.default_rng(22), 8)
    assert all(d == 0 for _, d in res.values()), res


def run_quantize(rng, count, n):
    out = {}
    for c in range(count):
        s = float(np.float32(rng.uniform(0.001, 2))) if c % 2 else float(np.float32(rng.choice([0.1, 0.3, 1.0])))
        dtype = "int8" if c % 3 else "int16"
        zp = int(rng.integers(-128, 128)) if dtype == "int8" else 0
        if c % 5 == 4 and dtype == "int8":
            zp = (-128, 127)[c % 2]
        k = rng.integers(-200, 200, n)
        x = np.where(rng.random(n) < 0.5, ((k + 0.5) * s), rng.standard_normal(n) * 300 * s).astype(np.float32)
        lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
        q = rng.integers(lo, hi + 1, n).astype(dtype)
        for op, key, inp, args, in_t, out_t in (("QUANTIZE", "quantize", x, (s, zp), "float32", dtype),
                                               ("DEQUANTIZE", "dequantize", q, (s, zp), dtype, "float32")):
            m = litert.Model()
            xt = m.tensor("x", (n,), in_t, *((s, zp) if in_t != "float32" else ()))
            yt = m.tensor("y", (n,), out_t, *((s, zp) if out_t != "float32" else ()))
            m.op(op, [xt], [yt])
            blob = m.build([xt], [yt])
            for fam in litert.FAMILIES:
                r = litert.run(blob, {"x": inp}, fam)
                want = np.array(family_fn(fam, key, r.delegated[0])(inp.tolist(), *args, dtype=dtype),
                                np.float32 if key == "dequantize" else np.int64)
                got = r.outputs["y"]
                diff = (got.view(np.int32) != want.view(np.int32)) if key == "dequantize" else (got != want)
                cell = out.setdefault((key, fam), [0, 0])
                cell[0] += n
                cell[1] += int(diff.sum())
    return out


def test_quantize_dequantize_match_litert():
    res = run_quantize(np.random.default_rng(23), 6, 37)     # 37 = four 8-wide blocks + a 5-element tail
    assert all(d == 0 for _, d in res.values()), res


def test_equal_params_required():
    with pytest.raises(InvalidValueError):
        T.tflite_concatenation([([[1]], 0.5, 0), ([[2]], 0.25, 0)], 0.5, 0, axis=1)
    with pytest.raises(InvalidValueError):
        T.tflite_pad([[1]], [[0, 0]])


def run_big_pool_mean(rng, count):
    """AVERAGE_POOL_2D (2x2, stride 2) and MEAN over the channel axis on larger int8 tensors."""
    out = {}
    for c in range(count):
        s, zp = float(np.float32(rng.uniform(0.01, 1))), int(rng.integers(-128, 128))
        x = rng.integers(-128, 128, (2, 16, 16, 8)).astype(np.int8)
        kw = dict(filter_hw=(2, 2), strides=(2, 2), padding="VALID", dtype="int8")
        want = np.array(T.tflite_average_pool(x.tolist(), **kw))
        blob = _one_input_model("AVERAGE_POOL_2D", x, "int8", s, zp, want.shape, padding="VALID", stride_h=2,
                                stride_w=2, filter_height=2, filter_width=2)
        so, zo = float(np.float32(rng.uniform(0.01, 1))), int(rng.integers(-20, 20))
        args, mkw = (x.tolist(), s, zp, so, zo), dict(axes=[3], keepdims=c % 2 == 0, dtype="int8")
        m0 = np.array(T.tflite_mean(*args, **mkw))
        m = litert.Model()
        xt, at = m.tensor("x", x.shape, "int8", scale=s, zero_point=zp), m.const("axes", np.array([3], np.int32))
        yt = m.tensor("y", m0.shape, "int8", scale=so, zero_point=zo)
        m.op("MEAN", [xt, at], [yt], keep_dims=c % 2 == 0)
        mblob = m.build([xt], [yt])
        for fam in litert.FAMILIES:
            r = litert.run(blob, {"x": x}, fam)
            cell = out.setdefault(("average_pool_2d big", fam), [0, 0])
            cell[0] += want.size
            cell[1] += int((r.outputs["y"] != want).sum())
            r = litert.run(mblob, {"x": x}, fam)
            w = np.array(family_fn(fam, "mean", r.delegated[0])(*args, **mkw))
            cell = out.setdefault(("mean big", fam), [0, 0])
            cell[0] += w.size
            cell[1] += int((r.outputs["y"] != w).sum())
    return out


@pytest.mark.slow
def test_conv_fc_sweep_through_verify_rows():
    """FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D per family, many seeded configurations: every
    difference from the ideal equals the family's named deviation."""
    from refquant.peers import litert_rows as L
    col = L.Collector(litert.version())
    L.fc_rows(col, configs=200)
    L.conv_rows(col, configs=150)
    rows = col.rows()
    print({(r.backend, r.op): (r.elements, r.differ, r.status) for r in rows})
    assert not [r for r in rows if r.status == "differ"]


@pytest.mark.slow
def test_sweeps_1e5_per_op_and_family():
    """>= 10^5 elements per op x family (numbers recorded in docs/ops.md)."""
    rng = np.random.default_rng(2026)
    results = {}
    for op in ("add", "sub", "mul"):
        for dtype in ("int8", "int16"):
            for k, v in run_binary(op, rng, 50, 1024, dtype).items():
                results[(op, dtype, k)] = v
    for k, v in run_quantize(rng, 120, 1000).items():
        results[k] = v
    for k, v in run_resize(rng, 400).items():
        results[k] = v
    for k, v in run_pool_pad_concat_mean(rng, 300).items():
        results[k] = v
    for k, v in run_big_pool_mean(rng, 60).items():
        results[k] = v
    bad = {k: v for k, v in results.items() if v[1]}
    print({k: v for k, v in sorted(results.items(), key=str)})
    assert not bad, bad


def test_optimized_int16_add_vector_blocks_reproducer():
    """The vector path of the optimized int16 ADD scales the inputs with one rounding: a pair whose
    double-rounded sum lands on 10099.5 (exact 10099.49995) gives 10099 in blocks of 16, 10100 in
    the scalar tail and in the reference."""
    sa, sb, sy = 0.0962374210357666, 0.06368101388216019, 0.07624411582946777
    a, b = np.full(17, -4141, np.int16), np.full(17, 18350, np.int16)
    blob = _binary_model("ADD", (17,), sa, 0, sb, 0, sy, 0, "int16", "NONE")
    want = [10099] * 16 + [10100]
    assert litert.run(blob, {"a": a, "b": b}, "optimized").outputs["y"].tolist() == want
    assert litert.run(blob, {"a": a, "b": b}, "ref").outputs["y"].tolist() == [10100] * 17
    assert T.tflite_add_optimized(a.tolist(), sa, 0, b.tolist(), sb, 0, sy, 0, dtype="int16") == want


def test_optimized_depthwise_channel_blocks():
    """Optimized DEPTHWISE_CONV_2D: channels 0-7 round as ruy (ties toward +inf), channels 8-9 as
    the reference; a 1x1 filter with M = 1/4 puts every accumulator on a tie."""
    accs = [-6, -2, -6, -2, -6, -2, -6, -2, -6, -2]
    x = np.array(accs, np.int8).reshape(1, 1, 1, 10)
    m = litert.Model()
    xt = m.tensor("x", x.shape, "int8", scale=0.5, zero_point=0)
    wt = m.const("w", np.ones((1, 1, 1, 10), np.int8), scale=[0.5] * 10, zero_point=[0] * 10, axis=3)
    bt = m.const("b", np.zeros(10, np.int32), scale=[0.25] * 10, zero_point=[0] * 10)
    yt = m.tensor("y", x.shape, "int8", scale=1.0, zero_point=0)
    m.op("DEPTHWISE_CONV_2D", [xt, wt, bt], [yt], padding="VALID", stride_w=1, stride_h=1, depth_multiplier=1)
    got = litert.run(m.build([xt], [yt]), {"x": x}, "optimized").outputs["y"].ravel().tolist()
    model = tflite_conv.tflite_depthwise_conv_optimized(x.tolist(), 0.5, 0, np.ones((1, 1, 1, 10), np.int8).tolist(),
                                              [0.5] * 10, 1.0, 0, bias=[0] * 10)
    assert got == np.array(model).ravel().tolist() == [-1, 0] * 4 + [-2, -1]


def test_mul_multiplier_in_binary32_and_xnnpack_bounds():
    """MUL's multiplier is fl32(fl32(sa*sb)/sy): sy = fl32(12/13) puts 9 * 28 on the tie 68.25 that
    the double rounding sends to 69 (exact 68.2499997).  XNNPACK rounds activation bounds as
    RNE(fl32(fl32(f/s) + zp)): RELU6 with 6/s = 4.5 and zp 2 gives 6 where TFLite gives 2 + 5 = 7."""
    sy = float(np.float32(12 / 13))
    blob = _binary_model("MUL", (1,), 0.5, 0, 0.5, 0, sy, 0, "int8", "NONE")
    got = {f: litert.run(blob, {"a": np.array([9], np.int8), "b": np.array([28], np.int8)}, f).outputs["y"][0]
           for f in litert.FAMILIES}
    assert got == {"ref": 69, "optimized": 69, "xnnpack": 68}
    assert T.tflite_mul([9], 0.5, 0, [28], 0.5, 0, sy, 0) == [69]
    s43 = float(np.float32(4 / 3))
    assert T.activation_range("RELU6", s43, 2, "int8") == (2, 7)
    assert T.activation_range("RELU6", s43, 2, "int8", "half_even") == (2, 6)
    assert T.activation_range("RELU6", s43, 3, "int8", "half_even") == (3, 8)     # 7.5 -> 8
    a, b = np.array([3], np.int8), np.array([101], np.int8)      # 0.5*3 + 0.25*101 = 26.75: above 6
    blob = _binary_model("ADD", (1,), 0.5, 0, 0.25, 0, s43, 2, "int8", "RELU6")
    assert [int(litert.run(blob, {"a": a, "b": b}, f).outputs["y"][0]) for f in litert.FAMILIES] == [7, 7, 6]
