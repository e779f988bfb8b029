""">= 10^5 elements per op x kernel family against ai-edge-litert 2.3.0 for the LiteRT ops whose
earlier sweeps were smaller (MEAN, MAX_POOL_2D, PAD, CONCATENATION, RESIZE_*, FULLY_CONNECTED,
CONV_2D, DEPTHWISE_CONV_2D incl. strides 2): seeded tie-heavy scales (M = 1/4, powers of two),
zero points at the range ends, saturating outputs and random cases.  Each sweep is
``@pytest.mark.slow``; one small seeded sample per group runs unmarked.  Numbers: docs/ops.md."""

import numpy as np
import pytest

from refquant import backends, ops
from refquant import tflite_ops as T
from refquant.requant import METHODS

litert = pytest.importorskip("refquant.peers.litert")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (pip install 'refquant[litert]')")

ROW = {"ref": "litert_ref", "optimized": "litert_optimized", "xnnpack": "litert_xnnpack"}
TARGET = 100_000


def _fn(fam, op, delegated):
    return backends.variant(ROW[fam if fam != "xnnpack" or delegated else "optimized"], op)


def _add(out, key, fam, got, want):
    cell = out.setdefault((key, fam), [0, 0])
    cell[0] += want.size
    cell[1] += int((np.asarray(got) != np.asarray(want)).sum())


def _done(out, keys, target):
    return all(out.get((k, f), [0])[0] >= target for k in keys for f in litert.FAMILIES)


def _qparams(rng, c, dtype):
    s = float(np.float32(rng.uniform(0.01, 1))) if c % 3 else float(rng.choice([0.0625, 0.25, 1.0]))
    if dtype == "int16":
        return s, 0
    return s, (-128, 127, int(rng.integers(-128, 128)))[c % 3]


def _single(op, x, dtype, s, zp, y_shape, consts=(), y_params=None, **opts):
    m = litert.Model()
    xt = m.tensor("x", x.shape, dtype, scale=s, zero_point=zp)
    extra = [m.const(f"c{i}", np.asarray(v, np.int32)) for i, v in enumerate(consts)]
    yt = m.tensor("y", y_shape, dtype, *(y_params or (s, zp)))
    m.op(op, [xt, *extra], [yt], **opts)
    return m.build([xt], [yt])


# ##########################################################################
# Data movement and pooling: MAX_POOL_2D, PAD, CONCATENATION, RESIZE_*, MEAN
# ##########################################################################

def run_movement(rng, target, max_configs=700):
    out, keys = {}, ("max_pool_2d", "pad", "concatenation", "resize_nearest_neighbor", "resize_bilinear", "mean")
    for c in range(max_configs):
        if target and _done(out, keys, target):
            break
        dtype = "int16" if c % 4 == 3 else "int8"
        lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
        s, zp = _qparams(rng, c, dtype)
        shape = (1 + c % 2, *(int(v) for v in rng.integers(6, 20, 2)), int(rng.integers(1, 17)))
        x = rng.integers(lo, hi + 1, shape).astype(dtype)
        if c % 5 == 0:
            x.flat[::3] = (lo, hi)[c % 2]                                     # saturated inputs
        for keys_of, run in ((("max_pool_2d",), _max_pool), (("pad", "concatenation"), _pad_concat),
                             (("resize_bilinear", "resize_nearest_neighbor"), _resize), (("mean",), _mean)):
            if not (target and _done(out, keys_of, target)):
                run(out, rng, c, x, dtype, s, zp)
    return out


def _max_pool(out, rng, c, x, dtype, s, zp):
    fh, fw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    st, pad, act = (1 + c % 2, 1 + (c // 2) % 2), ("SAME", "VALID")[c % 2], ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")[c % 4]
    kw = dict(filter_hw=(fh, fw), strides=st, padding=pad, dtype=dtype, activation=act)
    want = np.array(T.tflite_max_pool(x.tolist(), scale=s, zero_point=zp, **kw))
    blob = _single("MAX_POOL_2D", x, dtype, s, zp, want.shape, padding=pad, stride_h=st[0], stride_w=st[1],
                   filter_height=fh, filter_width=fw, fused_activation_function=act)
    for fam in litert.FAMILIES:
        r = litert.run(blob, {"x": x}, fam)
        _add(out, "max_pool_2d", fam, r.outputs["y"], np.array(_fn(fam, "max_pool_2d", r.delegated[0])(
            x.tolist(), scale=s, zero_point=zp, **kw)))


def _pad_concat(out, rng, c, x, dtype, s, zp):
    pads = [[int(v) for v in rng.integers(0, 3, 2)] for _ in range(4)]
    pads[0] = [0, c % 2]
    want = np.array(T.tflite_pad(x.tolist(), pads, zero_point=zp, dtype=dtype))
    blob = _single("PAD", x, dtype, s, zp, want.shape, [pads])
    for fam in litert.FAMILIES:
        _add(out, "pad", fam, litert.run(blob, {"x": x}, fam).outputs["y"], want)
    axis = c % 4
    x2 = np.take(x, range(min(2, x.shape[axis])), axis=axis)
    want = np.array(T.tflite_concatenation([(x.tolist(), s, zp), (x2.tolist(), s, zp)], s, zp, axis=axis,
                                           dtype=dtype))
    m = litert.Model()
    a, b = m.tensor("a", x.shape, dtype, scale=s, zero_point=zp), m.tensor("b", x2.shape, dtype, scale=s,
                                                                         zero_point=zp)
    yt = m.tensor("y", want.shape, dtype, scale=s, zero_point=zp)
    m.op("CONCATENATION", [a, b], [yt], axis=axis)
    blob = m.build([a, b], [yt])
    for fam in litert.FAMILIES:
        _add(out, "concatenation", fam, litert.run(blob, {"a": x, "b": x2}, fam).outputs["y"], want)


def _resize(out, rng, c, x, dtype, s, zp):
    ac, hp = ((False, False), (True, False), (False, True))[c % 3]
    size = tuple(int(v) for v in rng.integers(2, 33, 2))
    for op, key in (("RESIZE_NEAREST_NEIGHBOR", "resize_nearest_neighbor"), ("RESIZE_BILINEAR", "resize_bilinear")):
        blob = _single(op, x, dtype, s, zp, (x.shape[0], *size, x.shape[3]), [size], align_corners=ac,
                       half_pixel_centers=hp)
        for fam in litert.FAMILIES:
            r = litert.run(blob, {"x": x}, fam)
            _add(out, key, fam, r.outputs["y"], np.array(_fn(fam, key, r.delegated[0])(
                x.tolist(), size, align_corners=ac, half_pixel_centers=hp, dtype=dtype)))


def _mean(out, rng, c, x, dtype, s, zp):
    axes, keep = (([1, 2], True), ([3], False), ([1], True), ([2, 3], False), ([3], True))[c % 5]
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    C = int(rng.integers(16, 65)) if axes == [1, 2] else int(rng.integers(1, 7))   # more outputs per model
    x = rng.integers(lo, hi + 1, (2, *(int(v) for v in rng.integers(4, 25, 2)), C)).astype(dtype)
    so, zo = (s, zp) if c % 4 == 0 else (float(np.float32(rng.uniform(0.005, 1))),
                                         0 if dtype == "int16" else int(rng.integers(-128, 128)))
    args, kw = (x.tolist(), s, zp, so, zo), dict(axes=axes, keepdims=keep, dtype=dtype)
    want = np.array(T.tflite_mean(*args, **kw))
    m = litert.Model()
    xt, at = m.tensor("x", x.shape, dtype, scale=s, zero_point=zp), m.const("axes", np.array(axes, np.int32))
    yt = m.tensor("y", want.shape, dtype, scale=so, zero_point=zo)
    m.op("MEAN", [xt, at], [yt], keep_dims=keep)
    blob = m.build([xt], [yt])
    for fam in litert.FAMILIES:
        r = litert.run(blob, {"x": x}, fam)
        _add(out, "mean", fam, r.outputs["y"], np.array(_fn(fam, "mean", r.delegated[0])(*args, **kw)))


def test_movement_sample():
    res = run_movement(np.random.default_rng(41), 0, max_configs=2)
    assert all(d == 0 for _, d in res.values()), res


@pytest.mark.slow
def test_movement_sweep_1e5():
    res = run_movement(np.random.default_rng(2029), TARGET)
    print({k: v for k, v in sorted(res.items())})
    assert all(n >= TARGET for n, _ in res.values()), res
    assert all(d == 0 for _, d in res.values()), res


# ##########################################################################
# FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D (int8, per-tensor / per-channel, strides 1 and 2)
# ##########################################################################

def _scales(rng, c, n_out, per_channel):
    """(sa, sw list, sy): every fourth configuration M = 1/4 (every accumulator a tie or exact)."""
    if c % 4 == 0:
        return 0.5, [0.5] * n_out, 1.0
    sa, sy = float(np.float32(rng.uniform(0.01, 0.1))), float(np.float32(rng.uniform(0.02, 0.5)))
    if c % 4 == 2:
        sy = float(np.float32(rng.uniform(0.0005, 0.002)))                  # saturating outputs
    sw = [float(np.float32(rng.uniform(0.002, 0.05))) for _ in range(n_out if per_channel else 1)]
    return sa, sw * (1 if per_channel else n_out), sy


def _fc_case(out, rng, c):
    per_channel = c % 3 != 0
    M, K, N = int(rng.integers(16, 64)), int(rng.integers(3, 64)), int(rng.integers(2, 40))
    sa, sw, sy = _scales(rng, c, N, per_channel)
    za, zy = (-128, 127, int(rng.integers(-60, 60)))[c % 3], (127, -128, int(rng.integers(-60, 60)))[c % 3]
    x = rng.integers(-128, 128, (M, K)).astype(np.int8)
    w = rng.integers(-127, 128, (N, K)).astype(np.int8)
    bias = rng.integers(-2000, 2000, N).astype(np.int32)
    m = litert.Model()
    xt = m.tensor("x", (M, K), "int8", scale=sa, zero_point=za)
    wt = m.const("w", w, scale=sw if per_channel else sw[0], zero_point=0)
    bt = m.const("b", bias, scale=[sa * v for v in sw] if per_channel else sa * sw[0], zero_point=0)
    yt = m.tensor("y", (M, N), "int8", scale=sy, zero_point=zy)
    m.op("FULLY_CONNECTED", [xt, wt, bt], [yt])
    blob = m.build([xt], [yt])
    for fam in litert.FAMILIES:
        r = litert.run(blob, {"x": x}, fam)
        method = backends.get_backend(ROW[fam if fam != "xnnpack" or r.delegated[0] else "optimized"]).ops[
            "fully_connected"]
        want = np.array(ops.qlinear_matmul(x.tolist(), sa, za, w.T.tolist(), sw if per_channel else sw[0],
                                           [0] * N if per_channel else 0, sy, zy, method=method, a_type="int8",
                                           b_type="int8", y_type="int8", bias=bias.tolist(), op="fc"))
        _add(out, "fully_connected", fam, r.outputs["y"], want)


def _conv_case(out, rng, c, op):
    depthwise = op == "depthwise_conv_2d"
    H, W = int(rng.integers(5, 16)), int(rng.integers(5, 16))
    C = int(rng.choice([1, 3, 5, 8, 9, 12, 16, 17])) if depthwise else int(rng.integers(1, 9))
    mult = 1 + c % 2 if depthwise else 1
    n_out = C * mult if depthwise else int(rng.integers(1, 20))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    st, padding = ((1, 1), (2, 2), (2, 1), (1, 2))[c % 4], ("VALID", "SAME")[(c // 2) % 2]
    (oh, ph), (ow, pw) = T.pool_geometry(H, kh, st[0], padding), T.pool_geometry(W, kw, st[1], padding)
    sa, sw, sy = _scales(rng, c, n_out, True)
    za, zy = (-128, 127, int(rng.integers(-60, 60)))[c % 3], (127, -128, int(rng.integers(-60, 60)))[c % 3]
    x = rng.integers(-128, 128, (1, H, W, C)).astype(np.int8)
    w = rng.integers(-127, 128, (1, kh, kw, n_out) if depthwise else (n_out, kh, kw, C)).astype(np.int8)
    bias = rng.integers(-2000, 2000, n_out).astype(np.int32)
    m = litert.Model()
    xt = m.tensor("x", x.shape, "int8", scale=sa, zero_point=za)
    wt = m.const("w", w, scale=sw, zero_point=[0] * n_out, axis=3 if depthwise else 0)
    bt = m.const("b", bias, scale=[sa * v for v in sw], zero_point=[0] * n_out)
    yt = m.tensor("y", (1, oh, ow, n_out), "int8", scale=sy, zero_point=zy)
    m.op(op.upper(), [xt, wt, bt], [yt], padding=padding, stride_h=st[0], stride_w=st[1],
         **({"depth_multiplier": mult} if depthwise else {}))
    blob = m.build([xt], [yt])
    pads = [ph, pw, max(0, (oh - 1) * st[0] + kh - H - ph), max(0, (ow - 1) * st[1] + kw - W - pw)]
    w_oihw = (w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)).tolist()
    for fam in litert.FAMILIES:
        r = litert.run(blob, {"x": x}, fam)
        row = ROW[fam if fam != "xnnpack" or r.delegated[0] else "optimized"]
        name = backends.get_backend(row).ops[op]
        if name in METHODS:
            want = np.array(ops.qlinear_conv(x.transpose(0, 3, 1, 2).tolist(), sa, za, w_oihw, sw, [0] * n_out, sy,
                                             zy, method=name, x_type="int8", w_type="int8", bias=bias.tolist(),
                                             strides=list(st), pads=pads, group=C if depthwise else 1))
            want = want.transpose(0, 2, 3, 1)
        else:
            want = np.array(backends.variant(row, op)(x.tolist(), sa, za, w.tolist(), sw, sy, zy, bias=bias.tolist(),
                                                      padding=padding, strides=st, depth_multiplier=mult))
        _add(out, op, fam, r.outputs["y"], want)


def run_conv_fc(rng, target, max_configs=600):
    out, keys = {}, ("fully_connected", "conv_2d", "depthwise_conv_2d")
    for c in range(max_configs):
        if target and _done(out, keys, target):
            break
        if not (target and _done(out, ("fully_connected",), target)):
            _fc_case(out, rng, c)
        for op in ("conv_2d", "depthwise_conv_2d"):
            if not (target and _done(out, (op,), target)):
                _conv_case(out, rng, c, op)
    return out


def test_conv_fc_sample():
    res = run_conv_fc(np.random.default_rng(42), 0, max_configs=2)
    assert all(d == 0 for _, d in res.values()), res


@pytest.mark.slow
def test_conv_fc_sweep_1e5():
    res = run_conv_fc(np.random.default_rng(2030), TARGET)
    print({k: v for k, v in sorted(res.items())})
    assert all(n >= TARGET for n, _ in res.values()), res
    assert all(d == 0 for _, d in res.values()), res


def test_mean_optimized_vector_blocks_reproducer():
    """Optimized int8 MEAN over H, W (keep_dims): M = 1/4 puts a sum of -6 on -1.5 after the first
    rounding; channels 0-15 (a vector block) shift it half up to -1, channel 16 half away to -2."""
    x = np.array([-1, -1, -2, -2] * 17, np.int8).reshape(17, 2, 2).transpose(1, 2, 0).reshape(1, 2, 2, 17)
    blob = _single("MEAN", x, "int8", 0.5, 0, (1, 1, 1, 17), [[1, 2]], keep_dims=True)
    got = litert.run(blob, {"x": x}, "optimized").outputs["y"].ravel().tolist()
    assert got == [-1] * 16 + [-2]
    assert np.array(T.tflite_mean_optimized(x.tolist(), 0.5, 0, 0.5, 0, axes=[1, 2], keepdims=True)).ravel().tolist() == got
    assert np.array(T.tflite_mean(x.tolist(), 0.5, 0, 0.5, 0, axes=[1, 2], keepdims=True)).ravel().tolist() == [-2] * 17
