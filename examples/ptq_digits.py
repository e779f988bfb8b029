#!/usr/bin/env python
"""End-to-end post-training quantization of a 64-32-10 MLP on scikit-learn's digits.

    python examples/ptq_digits.py [--png PATH] [--quick]

1. Train an MLP in float (numpy, fixed seeds, full reproducibility on one machine).
2. PTQ: weights symmetric int8 (narrow [-127, 127]) per tensor / per channel / per group of 16
   input rows, and int4 per channel (narrow [-7, 7], stored in int8); activations (input,
   hidden) per-tensor affine int8, calibrated on 256 training samples (8 batches of 32) with
   each refquant.calibrate observer.
3. Integer inference three ways, asserted bit-identical (hidden int8 codes, int32 logits):
   refquant.ops (the oracle, on the first ``--oracle-rows`` test rows: it is exact-rational
   Python), refquant.kernel (the C twin, if built) and a local numpy integer routine (exact int64
   GEMM + the gemm-contract float_fp32 requantization in numpy float32) on every row.
4. EasyQuant (``refquant.calibrate.easyquant``: scale search by per-layer cosine), dynamic
   quantization, and QAT (fake-quant + STE, int8 and int4 weights) in the same table.  A PNG shows the hidden-activation histogram and
   each method's range.

Requires scikit-learn (the optional ``examples`` extra); matplotlib is optional.
"""
import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from refquant import calibrate, kernel, ops, requant as rq  # noqa: E402
from refquant.qparams import choose_qparams  # noqa: E402

GROUP = 16
METHODS = [("minmax", {}), ("moving_average", {"c": 0.01}), ("percentile", {"p": 99.99, "mode": "signed"}),
           ("entropy", {"variant": "tensorrt"}), ("entropy", {"variant": "modelopt"}),
           ("entropy", {"variant": "onnxruntime"}), ("entropy", {"variant": "ncnn"}), ("mse", {})]
WQ = {8: ("int8", 127), 4: ("int4", 7)}   # symmetric narrow weights: [-127, 127] / [-7, 7]
ORACLE_ROWS = [128]  # test rows checked on the exact oracle (set by main)


def label(name, kw):
    return {"moving_average": "moving_avg c=0.01", "percentile": "percentile 99.99"}.get(
        name, f"entropy {kw.get('variant')}" if name == "entropy" else name)


# ----------------------------------------------------------------------------------------------
# Data and float training
# ----------------------------------------------------------------------------------------------

def load():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("scikit-learn is needed: pip install 'refquant[examples]'")
    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(X))
    X, y = X[perm], d.target[perm]
    return X[:1257], y[:1257], X[1257:], y[1257:]


def forward_f(params, X):
    W1, b1, W2, b2 = params
    h = np.maximum(X @ W1 + b1, 0)
    return h, h @ W2 + b2


def train(X, y, epochs=40, lr=0.1, seed=0, params=None, fq=None):
    """Minibatch SGD with momentum on softmax cross-entropy; ``fq`` adds fake quantization (QAT)."""
    rng = np.random.default_rng(seed)
    if params is None:
        params = [rng.standard_normal((64, 32)) * np.sqrt(2 / 64), np.zeros(32),
                  rng.standard_normal((32, 10)) * np.sqrt(2 / 32), np.zeros(10)]
    params = [p.astype(np.float64) for p in params]
    vel = [np.zeros_like(p) for p in params]
    Y = np.eye(10)[y]
    for _ in range(epochs):
        for idx in np.split(rng.permutation(len(X)), range(64, len(X), 64)):
            x, t = X[idx].astype(np.float64), Y[idx]
            grads = (fq.grads if fq else _grads)(params, x, t)
            for p, v, g in zip(params, vel, grads):
                v *= 0.9
                v -= lr * g
                p += v
    return [p.astype(np.float32) for p in params]


def _grads(params, x, t):
    W1, b1, W2, b2 = params
    z = x @ W1 + b1
    h = np.maximum(z, 0)
    g = _softmax_grad(h @ W2 + b2, t)
    gh = (g @ W2.T) * (z > 0)
    return [x.T @ gh, gh.sum(0), h.T @ g, g.sum(0)]


def _softmax_grad(logits, t):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True) - t) / len(t)


# ----------------------------------------------------------------------------------------------
# Quantization parameters
# ----------------------------------------------------------------------------------------------

def weight_qparams(W, granularity, bits=8):
    """Symmetric narrow int8/int4 scales of W (K x N): one, one per column, or one per (16 rows, column)."""
    dt = WQ[bits][0]
    if granularity == "tensor":
        return calibrate.MinMaxObserver().observe(W).qparams(dt, symmetric=True, narrow=True).scale
    if granularity == "channel":
        return [q.scale for q in calibrate.MinMaxObserver(axis=1).observe(W).qparams(dt, True, True)]
    qs = calibrate.MinMaxObserver(group_size=GROUP).observe(W.T).qparams(dt, True, True)
    n_g = W.shape[0] // GROUP
    return [[qs[j * n_g + g].scale for j in range(W.shape[1])] for g in range(n_g)]  # [group][column]


def scale_grid(s, W):
    """Scales as a float64 array broadcastable over W (K x N), exact (fp32 values)."""
    if isinstance(s, list) and isinstance(s[0], list):
        return np.repeat(np.array([[float(v) for v in row] for row in s]), GROUP, axis=0)
    if isinstance(s, list):
        return np.array([float(v) for v in s])[None, :]
    return np.full((1, 1), float(s))


def quantize_np(x, scale, zp, qmin=-128, qmax=127):
    """RNE(x / s) + zp, clamped.  Exact for fp32 x and s: the float64 quotient of two 24-bit
    significands is either exactly a tie k + 1/2 or at least 2^-48 (relative) away from one, so the
    single float64 rounding (2^-53) can never move it across a tie."""
    q = np.rint(np.asarray(x, np.float32).astype(np.float64) / scale) + zp
    return np.clip(q, qmin, qmax).astype(np.int8)


def act_qparams(lo, hi, data_lo):
    """Affine int8 for an activation range; symmetric ranges are clamped to the data minimum."""
    return choose_qparams(max(lo, data_lo), hi, "int8", symmetric=False, variant="exact")


def int_bias(b, sa, sw):
    """int32 bias_j = RNE(b_j / (sa * sw_j)), exact rationals."""
    sws = sw if isinstance(sw, list) else [sw] * len(b)
    return np.array([round(Fraction(*float(v).as_integer_ratio()) / (sa * s)) for v, s in zip(b, sws)], np.int32)


class QModel:
    """An integer model: int8 activations; int8 or int4 weights (int4 values held in int8 storage,
    which the oracle, the C kernel and numpy all take as is); biases and activation qparams."""

    def __init__(self, params, qx, qh, granularity, w_scales=None, bits=8):
        W1, b1, W2, b2 = params
        self.g, self.qx, self.qh = granularity, qx, qh
        self.s1, self.s2 = w_scales or (weight_qparams(W1, granularity, bits), weight_qparams(W2, granularity, bits))
        q = WQ[bits][1]
        self.W1 = quantize_np(W1, scale_grid(self.s1, W1), 0, -q, q)
        self.W2 = quantize_np(W2, scale_grid(self.s2, W2), 0, -q, q)
        self.b1, self.b2 = b1, b2
        if granularity != "group":
            self.b1q = int_bias(b1, qx.scale, self.s1)
            self.b2q = int_bias(b2, qh.scale, self.s2)

    def logits_real(self, acc):
        return acc.astype(np.float64) * float(self.qh.scale) * scale_grid(self.s2, self.W2)


# ----------------------------------------------------------------------------------------------
# Integer inference: oracle, C kernel, local numpy
# ----------------------------------------------------------------------------------------------

def requant_np(acc, M, zp, qmin, qmax=127):
    """Local integer routine = gemm-contract float_fp32: v = fl32(fl32(acc)·M_j), clamp, RNE + zp."""
    v = acc.astype(np.float32) * M
    v = np.minimum(np.maximum(v, np.float32(qmin - zp)), np.float32(qmax - zp))
    return (np.rint(v).astype(np.int32) + zp).astype(np.int8)


def infer_np(m, xq):
    """Local numpy integer routine (exact int64 GEMM; per-group combines group sums in float64)."""
    zx, zh = m.qx.zero_point, m.qh.zero_point
    if m.g == "group":
        return _infer_group(m, xq, lambda a, b, za: (a.astype(np.int64) - za) @ b.astype(np.int64))
    acc1 = (xq.astype(np.int64) - zx) @ m.W1.astype(np.int64) + m.b1q
    M = _multipliers(m)
    hq = requant_np(acc1, M.view(np.float32), zh, zh)
    return hq, (hq.astype(np.int64) - zh) @ m.W2.astype(np.int64) + m.b2q


def _multipliers(m):
    p = rq.derive_params("ort", m.qx.scale, m.s1, m.qh.scale)
    return np.array([c["M_bits"] for c in p.channels], np.uint32)


def infer_oracle(m, xq):
    """refquant.ops: QLinearMatMul (method 'ort' = float_fp32 with M = fl(fl(sa·sb_j)/sy)), MatMulInteger."""
    zx, zh = m.qx.zero_point, m.qh.zero_point
    if m.g == "group":
        return _infer_group(m, xq, lambda a, b, za: np.array(
            ops.matmul_integer(a.tolist(), b.tolist(), za, 0, "int8", "int8"), np.int64))
    hq = ops.qlinear_matmul(xq.tolist(), m.qx.scale, zx, m.W1.tolist(), m.s1, 0, m.qh.scale, zh, method="ort",
                            a_type="int8", b_type="int8", bias=m.b1q.tolist(), qmin=zh)
    hq = np.array(hq, np.int8)
    acc = ops.matmul_integer(hq.tolist(), m.W2.tolist(), zh, 0, "int8", "int8", bias=m.b2q.tolist())
    return hq, np.array(acc, np.int64)


def infer_kernel(m, xq):
    zx, zh = m.qx.zero_point, m.qh.zero_point
    if m.g == "group":
        return _infer_group(m, xq, lambda a, b, za: kernel.matmul_integer(
            np.ascontiguousarray(a), np.ascontiguousarray(b), za, 0).astype(np.int64))
    M = _multipliers(m)
    hq = kernel.qlinear_matmul(xq, m.W1, zx, 0, "float_fp32", M if M.size > 1 else M[0], zp=zh, qmin=zh,
                               bias=m.b1q)
    acc = kernel.matmul_integer(hq, m.W2, zh, 0, bias=m.b2q)
    return hq, acc.astype(np.int64)


def _infer_group(m, xq, mm):
    """Per-group weights: one int32 GEMM per 16-row block; the blocks' accumulators are scaled
    (float64) and summed, as blockwise dequantize-accumulate does.  Returns (hq, [acc blocks])."""
    zx, zh = m.qx.zero_point, m.qh.zero_point
    h = m.b1.astype(np.float64)
    accs1 = []
    for g in range(m.W1.shape[0] // GROUP):
        rows = slice(g * GROUP, (g + 1) * GROUP)
        a = mm(xq[:, rows], m.W1[rows], zx)
        accs1.append(a)
        h = h + a * float(m.qx.scale) * np.array([float(s) for s in m.s1[g]])
    hq = quantize_np(np.maximum(h, 0).astype(np.float32), float(m.qh.scale), zh)
    out = [mm(hq[:, g * GROUP:(g + 1) * GROUP], m.W2[g * GROUP:(g + 1) * GROUP], zh)
           for g in range(m.W2.shape[0] // GROUP)]
    return hq, (np.stack(accs1), np.stack(out))


def predict_group(m, hq, accs):
    logits = m.b2.astype(np.float64)
    for g, a in enumerate(accs[1]):
        logits = logits + a * float(m.qh.scale) * np.array([float(s) for s in m.s2[g]])
    return logits.argmax(1)


def evaluate(m, X, y, check=True):
    """Accuracy of the integer model; asserts oracle == kernel == numpy on codes and logits."""
    xq = quantize_np(X, float(m.qx.scale), m.qx.zero_point)
    hq, acc = infer_np(m, xq)
    if check:
        r = ORACLE_ROWS[0]
        for other, rows in ([(infer_oracle, r)] + ([(infer_kernel, len(xq))] if kernel.available() else [])):
            h2, a2 = other(m, xq[:rows])
            if m.g == "group":
                same = all(np.array_equal(u[:, :rows], v) for u, v in zip(acc, a2))
            else:
                same = np.array_equal(acc[:rows], a2)
            assert np.array_equal(hq[:rows], h2) and same, f"{other.__name__} differs from the numpy routine"
    pred = predict_group(m, hq, acc) if m.g == "group" else m.logits_real(acc).argmax(1)
    return float((pred == y).mean())


# ----------------------------------------------------------------------------------------------
# Calibration, EasyQuant, dynamic, QAT
# ----------------------------------------------------------------------------------------------

def calibrate_acts(params, calib, name, kw):
    ranges = []
    for layer in ("x", "h"):
        obs, mm = calibrate.make_observer(name, **kw), calibrate.MinMaxObserver()
        for xb in calib:
            a = xb if layer == "x" else forward_f(params, xb)[0]
            obs.observe(a)
            mm.observe(a)
        lo, hi = obs.range()
        ranges.append((lo, hi, mm.range()[0]))
    return ranges


def fq_act(x, qp):
    s, z = float(qp.scale), qp.zero_point
    return (np.clip(np.rint(x / s) + z, -128, 127) - z) * s


def easyquant(params, calib_x, n=50, rounds=1):
    """EasyQuant (Wu et al. 2020) through ``refquant.calibrate.easyquant.easyquant_layer``, layer
    by layer from MinMax starts (weights per channel, activations affine with lo = 0, 100
    candidates on [0.5S, 2S], n calibration samples): layer 1 on the input; layer 2 with its float
    input H (which defines its float output) and, as its quantized input, the output of layer 1
    quantized with the scales just found.  Returns (qx, qh, (weight scales 1, weight scales 2))."""
    from refquant.calibrate.easyquant import easyquant_layer
    W1, b1, W2, b2 = params
    X = calib_x[:n]
    r1 = easyquant_layer(X, W1, b1, rounds=rounds)
    H = forward_f(params, X)[0]
    s1 = np.array([float(s) for s in r1.w_scales])
    w1q = np.clip(np.rint(W1.astype(np.float64) / s1), -127, 127) * s1
    H_in = np.maximum(fq_act(X, r1.a_qparams) @ w1q + b1, 0).astype(np.float32)
    r2 = easyquant_layer(H, W2, b2, a_in=H_in, rounds=rounds)
    return r1.a_qparams, r2.a_qparams, (list(r1.w_scales), list(r2.w_scales))


def dynamic_accuracy(params, X, y, batch=32):
    """Dynamic quantization: weights per channel offline; each batch's input and hidden ranges
    (MinMax) chosen at run time; int32 GEMMs checked kernel == numpy when the kernel is built."""
    W1, b1, W2, b2 = params
    s1, s2 = weight_qparams(W1, "channel"), weight_qparams(W2, "channel")
    W1q = quantize_np(W1, scale_grid(s1, W1), 0, -127, 127)
    W2q = quantize_np(W2, scale_grid(s2, W2), 0, -127, 127)
    correct = 0
    for i in range(0, len(X), batch):
        xb = X[i:i + batch]
        qx = calibrate.MinMaxObserver().observe(xb).qparams("int8")
        xq = quantize_np(xb, float(qx.scale), qx.zero_point)
        acc1 = (xq.astype(np.int64) - qx.zero_point) @ W1q.astype(np.int64)
        if kernel.available():
            assert np.array_equal(acc1, kernel.matmul_integer(xq, W1q, qx.zero_point, 0))
        h = np.maximum(acc1 * float(qx.scale) * scale_grid(s1, W1) + b1, 0).astype(np.float32)
        qh = calibrate.MinMaxObserver().observe(h).qparams("int8")
        hq = quantize_np(h, float(qh.scale), qh.zero_point)
        acc2 = (hq.astype(np.int64) - qh.zero_point) @ W2q.astype(np.int64)
        logits = acc2 * float(qh.scale) * scale_grid(s2, W2) + b2
        correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    return correct / len(X)


class FakeQuantQAT:
    """QAT: weights fake-quantized per channel (scale from the current weights), activations with
    torch-style FakeQuantize (moving-average observer updated before fake-quantizing the batch);
    STE: gradient passes where the unclamped integer is inside [qmin, qmax]."""

    def __init__(self, rx, bits=8):
        self.rx, self.qw = rx, WQ[bits][1]
        self.obs = calibrate.MovingAverageMinMaxObserver(c=0.01)

    @staticmethod
    def fq(x, s, z, qmin, qmax):
        q = np.rint(x * (1.0 / s)) + z
        return (np.clip(q, qmin, qmax) - z) * s, (q >= qmin) & (q <= qmax)

    def grads(self, params, x, t):
        W1, b1, W2, b2 = params
        sw1 = np.abs(W1).max(0) / self.qw
        sw2 = np.abs(W2).max(0) / self.qw
        Wf1, _ = self.fq(W1, sw1, 0, -self.qw, self.qw)
        Wf2, _ = self.fq(W2, sw2, 0, -self.qw, self.qw)
        qx = self.rx
        xf, _ = self.fq(x, float(qx.scale), qx.zero_point, -128, 127)
        z = xf @ Wf1 + b1
        h = np.maximum(z, 0)
        self.obs.observe(h.astype(np.float32))
        qh = choose_qparams(0, self.obs.range()[1], "int8")
        hf, mask = self.fq(h, float(qh.scale), qh.zero_point, -128, 127)
        g = _softmax_grad(hf @ Wf2 + b2, t)
        gh = (g @ Wf2.T) * mask * (z > 0)
        return [xf.T @ gh, gh.sum(0), hf.T @ g, g.sum(0)]


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------

def plot(path, h, ranges):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.hist(h.ravel(), bins=200, color="0.6", log=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, hi) in enumerate(ranges):
        ax.axvline(hi, color=colors[k % len(colors)], ls=["-", "--", ":", "-."][k % 4], lw=1.6,
                   label=f"{name}: {hi:.3f}")
    ax.set_xlabel("hidden activation (after ReLU), calibration set")
    ax.set_ylabel("count (log)")
    ax.set_title("Digits MLP: hidden activation histogram and each observer's clipping max")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--png", default=os.path.join(tempfile.gettempdir(), "refquant_ptq_digits.png"))
    ap.add_argument("--quick", action="store_true", help="fewer epochs, fewer oracle rows (tests)")
    ap.add_argument("--oracle-rows", type=int, default=None,
                    help="test rows also run on the exact oracle (default 128; --quick 32)")
    args = ap.parse_args(argv)
    ORACLE_ROWS[0] = args.oracle_rows or (32 if args.quick else 128)
    t0 = time.time()
    Xtr, ytr, Xte, yte = load()
    params = train(Xtr, ytr, epochs=10 if args.quick else 40)
    fp32 = float((forward_f(params, Xte)[1].argmax(1) == yte).mean())
    calib = np.split(Xtr[:256], 8)
    print(f"refquant PTQ on digits (train {len(Xtr)}, test {len(Xte)}); C kernel: "
          f"{'checked' if kernel.available() else 'not built, skipped'}; fp32 accuracy {fp32:.4f}\n")
    print("weights: int8 narrow [-127, 127] per tensor / channel / group of 16 rows; int4 ch = int4 narrow [-7, 7]"
          " per channel; activations int8 affine\n")
    print(f"{'method':<24}{'act range x':>16}{'act range h':>18}   {'tensor':>7}{'channel':>9}{'group16':>9}"
          f"{'int4 ch':>9}")
    hist_ranges = []
    results = {}
    for name, kw in METHODS:
        (lx, hx, mx), (lh, hh, mh) = calibrate_acts(params, calib, name, kw)
        qx, qh = act_qparams(lx, hx, mx), act_qparams(lh, hh, mh)
        accs = [evaluate(QModel(params, qx, qh, g), Xte, yte) for g in ("tensor", "channel", "group")]
        accs.append(evaluate(QModel(params, qx, qh, "channel", bits=4), Xte, yte))
        results[label(name, kw)] = accs
        hist_ranges.append((label(name, kw), float(hh)))
        print(f"{label(name, kw):<24}{f'[{float(max(lx, mx)):.2f},{float(hx):.3f}]':>16}"
              f"{f'[{float(max(lh, mh)):.2f},{float(hh):.3f}]':>18}   " + "".join(f"{a:>9.4f}" for a in accs))
    sx, sh, ws = easyquant(params, Xtr[:256])
    eq = evaluate(QModel(params, sx, sh, "channel", ws), Xte, yte)
    results["easyquant"] = [eq]
    print(f"{'easyquant (1 round)':<24}{'':>34}   {'':>7}{eq:>9.4f}")
    print(f"{'dynamic (per batch 32)':<24}{'':>34}   {'':>7}{dynamic_accuracy(params, Xte, yte):>9.4f}")
    rx = choose_qparams(0, calibrate.MinMaxObserver().observe(Xtr).range()[1], "int8")
    q_acc = []
    for bits in (8, 4):
        qat = FakeQuantQAT(rx, bits)
        qparams = train(Xtr, ytr, epochs=2 if args.quick else 5, lr=0.02, seed=1, params=params, fq=qat)
        qh = choose_qparams(0, qat.obs.range()[1], "int8")
        q_acc.append(evaluate(QModel(qparams, qat.rx, qh, "channel", bits=bits), Xte, yte))
    results["qat"] = q_acc
    print(f"{'QAT 5 ep (fake-quant+STE)':<24}{'':>34}   {'':>7}{q_acc[0]:>9.4f}{'':>9}{q_acc[1]:>9.4f}")
    h = forward_f(params, np.concatenate(calib))[0]
    plot(args.png, h, hist_ranges)
    print(f"\nfp32 {fp32:.4f}; integer logits bit-identical oracle == numpy"
          f"{' == C kernel' if kernel.available() else ''} (oracle on {ORACLE_ROWS[0]} rows, the rest numpy"
          f"{' == C kernel' if kernel.available() else ''}); {time.time() - t0:.1f} s")
    return results


if __name__ == "__main__":
    main()
