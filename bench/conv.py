"""Benchmark refquant's convolution through the C kernel against onnxruntime QLinearConv (a script).

    python bench/conv.py                          # every layer, 1 and 2 threads
    python bench/conv.py --layers r50_3x3_56 mv2_dw_112 --threads 1 --repeats 3
    python bench/conv.py --path avx2                # refquant forced onto its AVX2 path

Layers are every distinct convolution shape of ResNet-50 (torchvision v1.5) and MobileNetV2 at
batch 1 (224x224 input): 1x1, 3x3, strided, depthwise, 53 in all (the first 13 are the original
set; --layers picks some).  Both engines compute uint8 activations x int8 per-channel weights ->
uint8 with ORT's binary32 requantization M_j = fl(fl(sx*sw_j)/sy) (refquant method 'ort', which
the C kernel runs as float_fp32), so the outputs must be equal bit for bit: each row says so.
Reported per layer and thread count: milliseconds (median, or the fastest run with --stat min),
GOPS (2*MACs/time), the ratio refquant/ORT (> 1: refquant faster) of the prepared op
kernel.QLinearConv, and the one-shot kernel.qlinear_conv's time ("fn ms").  The header records
machine, CPU, date, commit and versions.  --path forces refquant's dispatch path (scalar, avx2,
avx_vnni, vnni, amx); each row names the path that ran ("path": a depthwise layer runs the
definition on the 256-bit paths) and, where the probe of that path measured a peak in this run,
refquant's fraction of it.  onnxruntime's MLAS chooses its own kernels by CPUID (no switch limits
its ISA), so on an AVX-512 machine the ORT column is not an AVX2 number.
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

# name: (C_in, H=W, C_out, k, stride, pad, group)
LAYERS = {
    "r50_conv1": (3, 224, 64, 7, 2, 3, 1),
    "r50_1x1_56": (64, 56, 256, 1, 1, 0, 1),
    "r50_3x3_56": (64, 56, 64, 3, 1, 1, 1),
    "r50_3x3s2_28": (128, 56, 128, 3, 2, 1, 1),
    "r50_1x1_14": (1024, 14, 256, 1, 1, 0, 1),
    "r50_3x3_7": (512, 7, 512, 3, 1, 1, 1),
    "r50_1x1_7": (2048, 7, 512, 1, 1, 0, 1),
    "r50_1x1_7_512to2048": (512, 7, 2048, 1, 1, 0, 1),
    "mv2_conv1": (3, 224, 32, 3, 2, 1, 1),
    "mv2_dw_112": (32, 112, 32, 3, 1, 1, 32),
    "mv2_pw_112": (32, 112, 16, 1, 1, 0, 1),
    "mv2_dw_s2_112": (96, 112, 96, 3, 2, 1, 96),
    "mv2_pw_7": (160, 7, 960, 1, 1, 0, 1),
    # ... and every other distinct conv layer of the two networks (torchvision ResNet-50 v1.5, the
    # stride in the 3x3; MobileNetV2 1.0; 224 x 224, batch 1): none is left for a model to find
    "r50_1x1_56_64": (64, 56, 64, 1, 1, 0, 1), "r50_1x1_56_256to64": (256, 56, 64, 1, 1, 0, 1),
    "r50_1x1_56_256to128": (256, 56, 128, 1, 1, 0, 1), "r50_ds_1x1s2_56": (256, 56, 512, 1, 2, 0, 1),
    "r50_1x1_28_128to512": (128, 28, 512, 1, 1, 0, 1), "r50_1x1_28_512to128": (512, 28, 128, 1, 1, 0, 1),
    "r50_3x3_28": (128, 28, 128, 3, 1, 1, 1), "r50_1x1_28_512to256": (512, 28, 256, 1, 1, 0, 1),
    "r50_3x3s2_14": (256, 28, 256, 3, 2, 1, 1), "r50_1x1_14_256to1024": (256, 14, 1024, 1, 1, 0, 1),
    "r50_ds_1x1s2_28": (512, 28, 1024, 1, 2, 0, 1), "r50_3x3_14": (256, 14, 256, 3, 1, 1, 1),
    "r50_1x1_14_1024to512": (1024, 14, 512, 1, 1, 0, 1), "r50_3x3s2_7": (512, 14, 512, 3, 2, 1, 1),
    "r50_ds_1x1s2_14": (1024, 14, 2048, 1, 2, 0, 1),
    "mv2_pw_112_16to96": (16, 112, 96, 1, 1, 0, 1), "mv2_pw_56_96to24": (96, 56, 24, 1, 1, 0, 1),
    "mv2_pw_56_24to144": (24, 56, 144, 1, 1, 0, 1), "mv2_dw_56": (144, 56, 144, 3, 1, 1, 144),
    "mv2_pw_56_144to24": (144, 56, 24, 1, 1, 0, 1), "mv2_dw_s2_56": (144, 56, 144, 3, 2, 1, 144),
    "mv2_pw_28_144to32": (144, 28, 32, 1, 1, 0, 1), "mv2_pw_28_32to192": (32, 28, 192, 1, 1, 0, 1),
    "mv2_dw_28": (192, 28, 192, 3, 1, 1, 192), "mv2_pw_28_192to32": (192, 28, 32, 1, 1, 0, 1),
    "mv2_dw_s2_28": (192, 28, 192, 3, 2, 1, 192), "mv2_pw_14_192to64": (192, 14, 64, 1, 1, 0, 1),
    "mv2_pw_14_64to384": (64, 14, 384, 1, 1, 0, 1), "mv2_dw_14_384": (384, 14, 384, 3, 1, 1, 384),
    "mv2_pw_14_384to64": (384, 14, 64, 1, 1, 0, 1), "mv2_pw_14_384to96": (384, 14, 96, 1, 1, 0, 1),
    "mv2_pw_14_96to576": (96, 14, 576, 1, 1, 0, 1), "mv2_dw_14_576": (576, 14, 576, 3, 1, 1, 576),
    "mv2_pw_14_576to96": (576, 14, 96, 1, 1, 0, 1), "mv2_dw_s2_14": (576, 14, 576, 3, 2, 1, 576),
    "mv2_pw_7_576to160": (576, 7, 160, 1, 1, 0, 1), "mv2_dw_7_960": (960, 7, 960, 3, 1, 1, 960),
    "mv2_pw_7_960to160": (960, 7, 160, 1, 1, 0, 1), "mv2_pw_7_960to320": (960, 7, 320, 1, 1, 0, 1),
    "mv2_pw_7_320to1280": (320, 7, 1280, 1, 1, 0, 1),
}


STAT = statistics.median   # --stat min: the fastest run (the one that ran alone on a loaded machine)
PATH = None                # --path: refquant's forced dispatch path (None: auto)


def timeit(fn, repeats, min_time=0.2, raw=False):
    fn()
    times, t_end = [], time.perf_counter() + min_time
    while len(times) < repeats or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 20 * repeats:
            break
    return times if raw else STAT(times)


def timed_rounds(fns, repeats, rounds):
    """The time of each engine: --stat over all runs of ``rounds`` interleaved rounds (each round
    times every engine in turn), so a noisy spell of a shared host hits all engines alike."""
    runs = [[] for _ in fns]
    for _ in range(max(1, rounds)):
        for i, fn in enumerate(fns):
            runs[i].extend(timeit(fn, repeats, raw=True))
    return [STAT(r) for r in runs]


def problem(layer, rng):
    cin, hw, cout, k, s, p, g = LAYERS[layer]
    x = rng.integers(0, 256, (1, cin, hw, hw)).astype(np.uint8)
    w = rng.integers(-127, 128, (cout, cin // g, k, k)).astype(np.int8)
    sx, sy = np.float32(0.02), np.float32(0.05)
    sw = rng.uniform(0.001, 0.01, cout).astype(np.float32)
    geo = {"strides": [s, s], "pads": [p] * 4, "dilations": [1, 1], "group": g}
    return x, w, sx, sw, sy, geo


def refquant_engine(x, w, sx, sw, sy, geo, threads, prepared=True):
    """The prepared op kernel.QLinearConv (weights laid out and packed once, as ORT's session does
    with its constant W), or with ``prepared=False`` the one-shot kernel.qlinear_conv."""
    from refquant import kernel
    mult = ((sx * sw).astype(np.float32) / sy).astype(np.float32)     # fl(fl(sx*sw_j)/sy), binary32
    if prepared:
        op = kernel.QLinearConv(w, 128, 0, "float_fp32", mult, 128, out_dtype=np.uint8, threads=threads,
                                path=PATH, **geo)
        return lambda: op(x)
    return lambda: kernel.qlinear_conv(x, w, 128, 0, "float_fp32", mult, 128, out_dtype=np.uint8,
                                       threads=threads, path=PATH, **geo)


def ort_engine(x, w, sx, sw, sy, geo, threads):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.array(sx), "sx"), numpy_helper.from_array(np.array(128, np.uint8), "zx"),
             numpy_helper.from_array(w, "w"), numpy_helper.from_array(sw, "sw"),
             numpy_helper.from_array(np.zeros(w.shape[0], np.int8), "zw"), numpy_helper.from_array(np.array(sy), "sy"),
             numpy_helper.from_array(np.array(128, np.uint8), "zy")]
    node = helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"],
                            strides=geo["strides"], pads=geo["pads"], group=geo["group"],
                            kernel_shape=list(w.shape[2:]))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"x": x})[0]


def header():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(__file__)).stdout.strip()
    except OSError:
        commit = "?"
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?") \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    import onnxruntime
    from refquant import kernel
    return (f"# bench/conv.py {datetime.date.today()} commit {commit}; {platform.node()}; {cpu}; "
            f"{os.cpu_count()} CPUs; kernel paths {kernel.paths()}; onnxruntime {onnxruntime.__version__}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", nargs="*", default=list(LAYERS), choices=list(LAYERS))
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="time refquant, ORT and the one-shot call in this many interleaved rounds")
    ap.add_argument("--stat", choices=["median", "min"], default="median",
                    help="time of a call: median, or min (the fastest run: use on a loaded machine)")
    ap.add_argument("--json", metavar="PATH", help="also write the header and the rows as JSON to PATH")
    ap.add_argument("--png", metavar="PATH", help="also plot the ORT ms / refquant ms ratio per row "
                    "(needs matplotlib: pip install -e '.[report]')")
    ap.add_argument("--path", choices=["auto", "scalar", "avx2", "avx_vnni", "vnni", "amx"], default="auto",
                    help="refquant's dispatch path (default auto)")
    args = ap.parse_args(argv)
    global STAT, PATH
    STAT = min if args.stat == "min" else statistics.median
    PATH = None if args.path == "auto" else args.path
    from refquant import kernel
    from refquant.kernel import probe
    peaks = {}
    for t in args.threads:
        for p in ("amx", "vnni", "avx_vnni", "avx2"):
            g = probe.peak_gops(p, threads=t)
            if g:
                peaks[p, t] = g
    print(f"# refquant: prepared kernel.QLinearConv; 'fn ms': the one-shot kernel.qlinear_conv; time = {args.stat}"
          + (f" over {args.rounds} interleaved rounds" if args.rounds > 1 else ""))
    head = header() + f"; refquant path {args.path}"
    print(head)
    if peaks:
        print("# measured peaks (probe GOPS): " + ", ".join(f"{p} x{t} {g:.0f}" for (p, t), g in sorted(peaks.items())))
    print("# onnxruntime's MLAS picks its own ISA by CPUID (no switch to limit it)")
    rows = []
    print(f"{'layer':<16}{'thr':>4}{'MMAC':>9}{'refquant ms':>13}{'ORT ms':>9}{'refquant GOPS':>15}"
          f"{'ORT GOPS':>10}{'ratio':>8}{'fn ms':>9}  bit-equal  path  %peak")
    rng = np.random.default_rng(0)
    for layer in args.layers:
        x, w, sx, sw, sy, geo = problem(layer, rng)
        cout, _, k, _ = w.shape
        rq = refquant_engine(x, w, sx, sw, sy, geo, 1)
        y = rq()
        macs = y.shape[2] * y.shape[3] * cout * w.shape[1] * k * k
        for t in args.threads:
            rq, ort = refquant_engine(x, w, sx, sw, sy, geo, t), ort_engine(x, w, sx, sw, sy, geo, t)
            fn = refquant_engine(x, w, sx, sw, sy, geo, t, prepared=False)
            equal = np.array_equal(rq(), ort()) and np.array_equal(fn(), y)
            rq()
            path = kernel.last_path_used()
            t_rq, t_ort, t_fn = timed_rounds((rq, ort, fn), args.repeats, args.rounds)
            frac = f"{2 * macs / t_rq / 1e9 / peaks[path, t]:.0%}" if (path, t) in peaks else "-"
            print(f"{layer:<16}{t:>4}{macs / 1e6:>9.1f}{t_rq * 1e3:>13.3f}{t_ort * 1e3:>9.3f}"
                  f"{2 * macs / t_rq / 1e9:>15.1f}{2 * macs / t_ort / 1e9:>10.1f}{t_ort / t_rq:>8.2f}"
                  f"{t_fn * 1e3:>9.3f}  {'yes' if equal else 'NO':<9}  {path}  {frac}", flush=True)
            rows.append({"layer": layer, "threads": t, "mmac": macs / 1e6, "refquant_ms": t_rq * 1e3,
                         "ort_ms": t_ort * 1e3, "ratio": t_ort / t_rq, "oneshot_ms": t_fn * 1e3, "bit_equal": equal,
                         "path": path, "peak_fraction": frac})
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump({"header": head, "stat": args.stat, "rounds": args.rounds, "rows": rows}, f, indent=1)
    if args.png:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _plot import ratio_png
        ratio_png(args.png, [f"{r['layer']}\n{r['threads']} thr" + ("" if r["bit_equal"] else "\nNOT EQUAL") for r in rows],
                  [r["ratio"] for r in rows], "; ".join(head[2:].split("; ")[:4]), "ORT ms / refquant ms (> 1: refquant faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
