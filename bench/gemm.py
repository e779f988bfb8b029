"""Benchmark refquant's C kernel against peer int8 GEMMs (a script, not a test).

    python bench/gemm.py                       # all shapes, 1 and 2 threads
    python bench/gemm.py --shapes 256 1024 --threads 1 --repeats 5     # a quick run
    python bench/gemm.py --shapes 32x4096x4096 --peers ort_qlinear torch_onednn
    python bench/gemm.py --path avx2 --threads 1 2   # refquant forced to AVX2, oneDNN limited to AVX2
    python bench/gemm.py --json gemm.json --png gemm.png   # also the rows as JSON, the ratios as a plot

GOPS = 2*M*N*K / median wall time of one call.  Weights (B) are prepared
once outside the timed region for every engine that supports it
(refquant PackedB, torch prepacked quantized linear, ORT constant
initializers); activations and outputs are per call.  refquant rows run the
full fused path: u8 x s8 GEMM + float_fp32 requantization to uint8, through
the prepared op kernel.QLinearMatMul ("refquant_q") and through the one-shot
kernel.qlinear_matmul ("refquant_q_fn", every argument checked per call), and
int32 output ("refquant_i32", prepared).  Before timing, every engine's output is checked on a
sample of 2 x 16 outputs against its own semantics (the exact product for int32 engines, refquant's
oracle under the engine's method for quantizing ones); an engine that differs is printed NOT EXACT
and is not counted as a peer.  Reported: GOPS, the ratio to the best exact
peer, and for refquant_q the fraction of the measured peak of the path it ran (AMX: tdpbusd,
VNNI: vpdpbusd, AVX2: vpmaddwd + vpaddd, AVX-VNNI: VEX vpdpbusd) or, for M <= 4, the bandwidth it streams B at (GB/s) and its fraction of the read
bandwidth measured in the same run on a buffer of B's size (refquant.kernel.probe.read_gbs).

--path forces refquant's dispatch path (scalar, avx2, avx_vnni, vnni, amx; default auto).  With
avx2 / avx_vnni / vnni, torch's engines run what a CPU of that ISA would run: oneDNN (torch_onednn,
torch_int_mm) through ONEDNN_MAX_CPU_ISA, FBGEMM (torch_x86) through FBGEMM_ENABLE_INSTRUCTIONS
(AVX2 for avx2 and avx_vnni: FBGEMM has no AVX-VNNI kernel), both set before torch is imported;
onnxruntime's MLAS chooses its own kernels by CPUID and has no such switch, so its rows may use a
wider ISA.
The peak of the path refquant ran is measured in the same run (refquant.kernel.probe).
"""
import argparse
import os
import platform
import statistics
import sys
import time

import warnings

import numpy as np

warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")

SHAPES = {"256": (256, 256, 256), "1024": (1024, 1024, 1024), "2048": (2048, 2048, 2048),
          "1x4096x4096": (1, 4096, 4096), "32x4096x4096": (32, 4096, 4096),
          "128x4096x11008": (128, 4096, 11008)}


def parse_shape(s):
    if s in SHAPES:
        return SHAPES[s]
    parts = [int(p) for p in s.lower().split("x")]
    return tuple(parts) if len(parts) == 3 else (parts[0],) * 3


STAT = statistics.median   # --stat min: the fastest run (the one that ran alone on a loaded machine)
PATH = None                # --path: refquant's forced dispatch path (None: auto)
ONEDNN_ISA = {"avx2": "AVX2", "avx_vnni": "AVX2_VNNI", "vnni": "AVX512_CORE_VNNI"}
FBGEMM_ISA = {"avx2": "AVX2", "avx_vnni": "AVX2", "vnni": "AVX512_E1"}   # FBGEMM_ENABLE_INSTRUCTIONS


def timeit(fn, repeats, min_time=0.2, settle=0.5, raw=False):
    fn()
    # let the previous engine's thread pools stop spinning (OpenMP/ORT workers poll for a
    # while after a call and would otherwise steal the CPU from whoever is timed next)
    time.sleep(settle)
    fn()
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < repeats or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * repeats:
            break
    return times if raw else STAT(times)


# ---- engines: each returns a zero-argument callable, or raises to be skipped -------------------

def eng_refquant(kind):
    def make(a, b, threads):
        from refquant import kernel
        if not kernel.available():
            raise RuntimeError("refquant._kernel not built")
        pb = kernel.PackedB(b)
        n = b.shape[1]
        mult = np.full(n, np.float32(1.0 / 4096), np.float32)
        if kind == "q_fn":   # the one-shot function: every argument checked on every call
            return lambda: kernel.qlinear_matmul(a, pb, 128, 0, "float_fp32", mult, zp=3,
                                                 out_dtype=np.uint8, threads=threads, path=PATH)
        if kind == "q":      # the prepared op (like torch's prepacked linear, an ORT session)
            op = kernel.QLinearMatMul(pb, 128, 0, "float_fp32", mult, zp=3, out_dtype=np.uint8,
                                      threads=threads, path=PATH)
        else:
            op = kernel.QLinearMatMul(pb, 128, 0, "int32", threads=threads, path=PATH)
        return lambda: op(a)
    return make


def _ort_session(model, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def eng_ort(op, a_signed):
    def make(a, b, threads):
        from onnx import TensorProto, helper, numpy_helper
        m, k = a.shape
        n = b.shape[1]
        a_in = a.view(np.int8) if a_signed else a
        at = TensorProto.INT8 if a_signed else TensorProto.UINT8
        inits = [numpy_helper.from_array(b, "B")]
        if op == "MatMulInteger":
            inits += [numpy_helper.from_array(np.array(0, a_in.dtype), "za"),
                      numpy_helper.from_array(np.array(0, np.int8), "zb")]
            node = helper.make_node("MatMulInteger", ["A", "B", "za", "zb"], ["Y"])
            out = helper.make_tensor_value_info("Y", TensorProto.INT32, [m, n])
        else:
            inits += [numpy_helper.from_array(np.array(0.02, np.float32), "sa"),
                      numpy_helper.from_array(np.array(0, a_in.dtype), "za"),
                      numpy_helper.from_array(np.array(0.01, np.float32), "sb"),
                      numpy_helper.from_array(np.array(0, np.int8), "zb"),
                      numpy_helper.from_array(np.array(2.0, np.float32), "sy"),
                      numpy_helper.from_array(np.array(3, a_in.dtype), "zy")]
            node = helper.make_node("QLinearMatMul", ["A", "sa", "za", "B", "sb", "zb", "sy", "zy"], ["Y"])
            out = helper.make_tensor_value_info("Y", at, [m, n])
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("A", at, [m, k])], [out], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
        model.ir_version = 10
        sess = _ort_session(model, threads)
        feed = {"A": a_in}
        return lambda: sess.run(None, feed)
    return make


def eng_torch_int_mm(a, b, threads):
    import torch
    torch.set_num_threads(threads)
    ta = torch.from_numpy(a.view(np.int8).copy())
    tb = torch.from_numpy(b.copy())
    torch._int_mm(ta, tb)
    return lambda: torch._int_mm(ta, tb)


def eng_torch_qlinear(engine):
    def make(a, b, threads):
        import torch
        torch.set_num_threads(threads)
        if engine not in torch.backends.quantized.supported_engines:
            raise RuntimeError(f"engine {engine} unsupported")
        torch.backends.quantized.engine = engine
        # the codes themselves (no float round trip): the exactness check knows them
        x = torch._make_per_tensor_quantized_tensor(torch.from_numpy(a.copy()), F32_02, 0)
        w = torch._make_per_tensor_quantized_tensor(torch.from_numpy(b.T.copy()), F32_01, 0)
        packed = torch.ops.quantized.linear_prepack(w, None)
        op = torch.ops.quantized.linear
        return lambda: op(x, packed, 2.0, 3)
    return make


# ---- exactness: every engine's output on sampled rows and columns against its own semantics ------
# A fast wrong answer is not a peer to beat: before timing, each engine's output is compared with
# the exact int32 product (int32 engines) or with refquant's oracle (refquant.ops.qlinear_matmul)
# under the method that models the engine (quantizing engines), on SAMPLE_ROWS x SAMPLE_COLS
# outputs.  Measured with this check (torch 2.13.0): oneDNN without VNNI (ONEDNN_MAX_CPU_ISA=AVX2,
# --path avx2) saturates u8 x s8 pair sums to int16 (vpmaddubsw) and differs on most outputs.
F32_02, F32_01 = float(np.float32(0.02)), float(np.float32(0.01))   # scales exact in binary32
SAMPLE_ROWS, SAMPLE_COLS = 2, 16

# engine -> ("int32", A offset, A as int8?) or ("q", method, sa, za, sb, sy, zy, signed A and Y)
SEMANTICS = {
    "refquant_q": ("q", "float_fp32", 2.0**-6, 128, 2.0**-6, 1.0, 3, False),   # M = 2^-12 = 1/4096
    "refquant_q_fn": ("q", "float_fp32", 2.0**-6, 128, 2.0**-6, 1.0, 3, False),
    "refquant_i32": ("int32", 128, False),
    "ort_matmulinteger_u8s8": ("int32", 0, False),
    "ort_matmulinteger_s8s8": ("int32", 0, True),
    "ort_qlinear_u8s8": ("q", "ort", F32_02, 0, F32_01, 2.0, 3, False),
    "ort_qlinear_s8s8": ("q", "ort", F32_02, 0, F32_01, 2.0, 3, True),
    "torch_int_mm": ("int32", 0, True),
    "torch_onednn": ("q", "torch_onednn", F32_02, 0, F32_01, 2.0, 3, False),
    "torch_x86": ("q", "torch_x86", F32_02, 0, F32_01, 2.0, 3, False),
    "numpy": ("int32", 0, False),
}


def output_codes(out):
    """An engine's return value as an int64 array (ORT's output list, torch tensors, numpy)."""
    if isinstance(out, (list, tuple)):
        out = out[0]
    if hasattr(out, "is_quantized") and out.is_quantized:
        out = out.int_repr()
    if hasattr(out, "numpy"):
        out = out.numpy()
    return np.asarray(out).astype(np.int64)


def expected_sample(sem, a, b, rows, cols, cache):
    """The engine's exact output on rows x cols, from its semantics (cached per semantics)."""
    if sem in cache:
        return cache[sem]
    if sem[0] == "int32":
        _, za, signed = sem
        aa = (a[rows].view(np.int8) if signed else a[rows]).astype(np.int64) - za
        want = (aa @ b[:, cols].astype(np.int64) + 2**31) % 2**32 - 2**31
    else:
        from refquant import ops
        _, method, sa, za, sb, sy, zy, signed = sem
        t = "int8" if signed else "uint8"
        aa = (a[rows].view(np.int8) if signed else a[rows]).astype(np.int64)
        want = np.array(ops.qlinear_matmul(aa.tolist(), sa, za, b[:, cols].astype(np.int64).tolist(), sb, 0, sy, zy,
                                           method=method, a_type=t, b_type="int8", y_type=t), np.int64)
    cache[sem] = want
    return want


def check_exact(eng, out, a, b, rows, cols, cache):
    """(outputs that differ, outputs checked), or None where the engine has no model here."""
    sem = SEMANTICS.get(eng)
    if sem is None:
        return None
    got = output_codes(out)[np.ix_(rows, cols)]
    want = expected_sample(sem, a, b, rows, cols, cache)
    return int((got != want).sum()), int(want.size)


def eng_numpy(a, b, threads):
    b32 = b.astype(np.int32)
    return lambda: a.astype(np.int32) @ b32


ENGINES = {
    "refquant_q": eng_refquant("q"),
    "refquant_q_fn": eng_refquant("q_fn"),
    "refquant_i32": eng_refquant("i32"),
    "ort_matmulinteger_u8s8": eng_ort("MatMulInteger", False),
    "ort_matmulinteger_s8s8": eng_ort("MatMulInteger", True),
    "ort_qlinear_u8s8": eng_ort("QLinearMatMul", False),
    "ort_qlinear_s8s8": eng_ort("QLinearMatMul", True),
    "torch_int_mm": eng_torch_int_mm,
    "torch_onednn": eng_torch_qlinear("onednn"),
    "torch_x86": eng_torch_qlinear("x86"),
    "numpy": eng_numpy,
}


def header():
    """Machine, CPU model, date, commit and peer versions: every number is printed with them."""
    import datetime
    import subprocess
    cpu = "?"
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or "?"
    except OSError:
        commit = "?"
    versions = []
    for mod in ("onnxruntime", "torch", "numpy"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            pass
    from refquant import kernel
    return (f"# {datetime.date.today()} commit {commit}; {platform.node()}; {cpu}; cpus={os.cpu_count()}; "
            f"python {sys.version.split()[0]}; {', '.join(versions)}; kernel paths {kernel.paths()}")


def measured_peaks(threads_list):
    """{(isa, threads): GOPS} measured now by the C probe (refquant.kernel.probe); printed."""
    from refquant.kernel import probe
    peaks = {}
    for t in sorted(set(threads_list)):
        for width in (512, 256):
            g = probe.peak_gops("vnni", width, t)
            if g:
                peaks[(f"vnni{width}", t)] = g
        for path in ("amx", "avx_vnni", "avx2"):   # tdpbusd; VEX vpdpbusd; vpmaddwd + vpaddd (the exact AVX2 step)
            g = probe.peak_gops(path, threads=t)
            if g:
                peaks[(path, t)] = g
    if peaks:
        print("# measured peaks (probe GOPS; amx: tdpbusd, vnni*: vpdpbusd, avx_vnni: VEX vpdpbusd, "
              "avx2: vpmaddwd+vpaddd): " +
              ", ".join(f"{isa} x{t} threads {g:.0f}" for (isa, t), g in sorted(peaks.items())))
    else:
        print("# no SIMD path on this CPU: no measured peak")
    return peaks


def peak_fraction(gops, threads, peaks):
    """The fraction of the peak of the path that refquant_q actually ran (kernel.last_path_used)."""
    from refquant import kernel
    path = kernel.last_path_used()
    if path == "amx" and ("amx", threads) in peaks:
        return f"{gops / peaks[('amx', threads)]:.0%} of the measured AMX peak"
    if path == "vnni" and ("vnni512", threads) in peaks:
        return f"{gops / peaks[('vnni512', threads)]:.0%} of the measured VNNI peak"
    if path in ("avx2", "avx_vnni") and (path, threads) in peaks:
        return f"{gops / peaks[(path, threads)]:.0%} of the measured {path} peak"
    return f"(path {path}: no peak to compare with)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), help="names or MxKxN")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1,
                    help="time the engines of a row in this many interleaved rounds (each round: every "
                         "engine, --repeats runs): a noisy spell of a shared host then hits all engines "
                         "alike; the row's time is --stat over every run of every round")
    ap.add_argument("--stat", choices=["median", "min"], default="median",
                    help="time of a call: median, or min (the fastest run: use on a loaded machine)")
    ap.add_argument("--peers", nargs="+", default=[e for e in ENGINES if not e.startswith("refquant")])
    ap.add_argument("--path", choices=["auto", "scalar", "avx2", "avx_vnni", "vnni", "amx"], default="auto",
                    help="refquant's dispatch path; avx2 / avx_vnni / vnni also limit oneDNN and FBGEMM")
    ap.add_argument("--json", metavar="PATH", help="also write the header and every engine's row as JSON to PATH")
    ap.add_argument("--png", metavar="PATH", help="also plot refquant_q's ratio to the best exact peer per row "
                    "(needs matplotlib: pip install -e '.[report]')")
    ap.add_argument("--no-numpy-large", action="store_true", default=True,
                    help="skip numpy when M*N*K > 2^31 (it takes seconds)")
    args = ap.parse_args(argv)
    global STAT, PATH
    STAT = min if args.stat == "min" else statistics.median
    PATH = None if args.path == "auto" else args.path
    if args.path in ONEDNN_ISA:   # read by oneDNN when torch loads it: before any engine imports torch
        os.environ["ONEDNN_MAX_CPU_ISA"] = os.environ["DNNL_MAX_CPU_ISA"] = ONEDNN_ISA[args.path]
        os.environ["FBGEMM_ENABLE_INSTRUCTIONS"] = FBGEMM_ISA[args.path]
    engines = ["refquant_q", "refquant_q_fn", "refquant_i32"] + [p for p in args.peers if p in ENGINES]
    head = header()
    report = []   # one dict per (shape, threads, engine): --json / --png
    print(head)
    print(f"# time of a call: {args.stat} of >= {args.repeats} runs" +
          (f" in each of {args.rounds} interleaved rounds" if args.rounds > 1 else "") + f"; refquant path {args.path}")
    if args.path in ONEDNN_ISA:
        print(f"# oneDNN limited to ONEDNN_MAX_CPU_ISA={ONEDNN_ISA[args.path]}, FBGEMM (torch_x86) to "
              f"FBGEMM_ENABLE_INSTRUCTIONS={FBGEMM_ISA[args.path]}; "
              "onnxruntime's MLAS picks its own ISA (no switch): its rows may use a wider one")
    peaks = measured_peaks(args.threads)
    rng = np.random.default_rng(0)
    for name in args.shapes:
        m, k, n = parse_shape(name)
        a = rng.integers(0, 256, (m, k), dtype=np.uint8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
        rows = np.sort(rng.choice(m, min(m, SAMPLE_ROWS), replace=False))
        cols = np.sort(rng.choice(n, min(n, SAMPLE_COLS), replace=False))
        cache, exact = {}, {}
        for threads in args.threads:
            fns, runs = {}, {}
            for eng in engines:
                if eng == "numpy" and args.no_numpy_large and m * n * k > 2**31:
                    continue
                try:
                    fns[eng] = ENGINES[eng](a, b, threads)
                    exact[eng, threads] = check_exact(eng, fns[eng](), a, b, rows, cols, cache)
                except Exception as exc:  # a peer missing or refusing: report and go on
                    print(f"  skip {eng}: {type(exc).__name__}: {str(exc)[:80]}")
                    fns.pop(eng, None)
            for rnd in range(max(1, args.rounds)):
                for eng, fn in list(fns.items()):
                    try:
                        runs.setdefault(eng, []).extend(timeit(fn, args.repeats, raw=True))
                    except Exception as exc:  # a peer failing mid-run: report and go on
                        print(f"  skip {eng}: {type(exc).__name__}: {str(exc)[:80]}")
                        del fns[eng]
                        runs.pop(eng, None)
                if args.rounds > 1:
                    print(f"  ({m}x{k}x{n}, {threads} thr: round {rnd + 1}/{args.rounds} timed)", file=sys.stderr,
                          flush=True)
            res = {eng: 2 * m * n * k / STAT(ts) / 1e9 for eng, ts in runs.items()}
            fns.clear()
            read_bw = None
            if m <= 4:   # what streaming B once is bound by: the read bandwidth on a buffer of B's size
                from refquant.kernel import probe
                read_bw = probe.read_gbs(k * n, threads)
            def wrong(e):
                chk = exact.get((e, threads))
                return chk is not None and chk[0] > 0
            peers = {e: v for e, v in res.items() if not e.startswith("refquant") and not wrong(e)}
            best = max(peers.items(), key=lambda kv: kv[1]) if peers else (None, float("nan"))
            print(f"\n{m}x{k}x{n}  threads={threads}  (GOPS; ratio to the best exact peer {best[0]}; "
                  f"exactness on {len(rows)}x{len(cols)} sampled outputs)")
            for eng, v in sorted(res.items(), key=lambda kv: -kv[1]):
                chk = exact.get((eng, threads))
                report.append({"shape": [m, k, n], "threads": threads, "engine": eng, "gops": v,
                               "ratio_to_best_exact_peer": v / best[1], "best_exact_peer": best[0],
                               "checked": None if chk is None else chk[1], "differ": None if chk is None else chk[0],
                               "path": kernel_path() if eng.startswith("refquant") else None})
                extra = ("  exact" if chk and not chk[0] else "  unchecked" if chk is None
                         else f"  NOT EXACT: {chk[0]} of {chk[1]} sampled outputs differ (not a peer to beat)")
                if eng == "refquant_q":
                    if m <= 4:   # B (packed, K x N bytes) streamed once per call
                        gbs = k * n / (2 * m * n * k / v / 1e9) / 1e9
                        extra = f"  B at {gbs:.1f} GB/s"
                        if read_bw:
                            extra += f" = {gbs / read_bw:.0%} of the read probe ({read_bw:.1f} GB/s, {threads} thr)"
                    extra += "  " + peak_fraction(v, threads, peaks)
                print(f"  {eng:26s} {v:9.1f}  {v / best[1]:6.2f}x{extra}")
            sys.stdout.flush()
    write_reports(args, head, peaks, report)


def kernel_path():
    from refquant import kernel
    return kernel.last_path_used()


def write_reports(args, head, peaks, report):
    """--json: the header, the measured peaks and every row; --png: refquant_q / best exact peer."""
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump({"header": head, "stat": args.stat, "rounds": args.rounds, "path": args.path,
                       "peaks_gops": {f"{isa} x{t}": g for (isa, t), g in sorted(peaks.items())},
                       "rows": report}, f, indent=1)
        print(f"# wrote {args.json}")
    if args.png:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _plot import ratio_png
        rows = [r for r in report if r["engine"] == "refquant_q"]
        ratio_png(args.png, [f"{'x'.join(map(str, r['shape']))}\n{r['threads']} thr" for r in rows],
                  [r["ratio_to_best_exact_peer"] for r in rows], "; ".join(head[2:].split("; ")[:4]),
                  "refquant_q / best exact peer")

if __name__ == "__main__":
    main()
