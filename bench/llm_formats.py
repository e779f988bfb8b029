"""Time refquant's fast forms of the LLM block formats against each peer's own code, in one process:
GGUF quantize/dequantize (refquant.blocks.gguf vs gguf-py's gguf.quants; the K types Q2_K..Q6_K,
Q8_K: refquant.blocks.gguf_k vs ggml's own C quantize_row_q*_K_ref through refquant.peers.ggml where
it loads, since gguf-py has no K quantizer, and vs gguf-py's dequantizers), MatMulNBits
(refquant.blocks.matmulnbits vs onnxruntime's CPU kernel, one thread), NVFP4 (refquant.blocks.nvfp4,
no installed peer: its own rate).  Every timed pair is also compared bit for bit.

    python bench/llm_formats.py [--rows 4096] [--cols 4096] [--only gguf,gguf_k,matmulnbits,nvfp4] [--json out.json]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from refquant.blocks import gguf as fast_gguf  # noqa: E402
from refquant.blocks import gguf_k as fast_gguf_k  # noqa: E402
from refquant.blocks import matmulnbits as fast_mm  # noqa: E402
from refquant.blocks import nvfp4 as fast_nvfp4  # noqa: E402


def _time(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def bench_gguf(x, results):
    try:
        from gguf import GGMLQuantizationType as T
        from gguf import quants
    except ImportError:
        print("gguf not installed: GGUF rows skipped")
        return
    for kind in ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0"):
        ours, t_ours = _time(fast_gguf.quantize, kind, x)
        peer, t_peer = _time(quants.quantize, x, T[kind.upper()])
        back, t_deq = _time(fast_gguf.dequantize, kind, ours)
        pback, t_pdeq = _time(quants.dequantize, peer, T[kind.upper()])
        row = {"what": f"gguf {kind}", "elements": int(x.size), "refquant_quantize_s": t_ours,
               "gguf_py_quantize_s": t_peer, "refquant_dequantize_s": t_deq, "gguf_py_dequantize_s": t_pdeq,
               "bytes_equal": bool((ours == peer).all()),
               "values_equal": bool((back.view(np.uint32) == pback.view(np.uint32)).all())}
        results.append(row)
        print(f"{row['what']:<10} quantize {t_ours:.3f} s (gguf-py {t_peer:.3f} s), dequantize {t_deq:.3f} s "
              f"(gguf-py {t_pdeq:.3f} s), equal: {row['bytes_equal'] and row['values_equal']}")


def _ggml():
    try:
        from refquant.peers import ggml
        return ggml.load()
    except Exception as exc:        # MissingBackend, or a library that does not load here
        print(f"ggml peer not available ({exc}): K quantize rows without a peer")
        return None


def bench_gguf_k(x, results):
    """The K types: refquant's fast form vs ggml's C reference quantizer (gguf-py has none) and
    gguf-py's / ggml's dequantizers."""
    try:
        from gguf import GGMLQuantizationType as T
        from gguf import quants
    except ImportError:
        quants = None
    g = _ggml()
    for kind in ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K"):
        ours, t_ours = _time(fast_gguf_k.quantize, kind, x)
        back, t_deq = _time(fast_gguf_k.dequantize, kind, ours)
        row = {"what": f"gguf {kind}", "elements": int(x.size), "refquant_quantize_s": t_ours,
               "refquant_dequantize_s": t_deq}
        if g is not None:
            peer, row["ggml_quantize_s"] = _time(g.quantize_ref, kind, x)
            pback, row["ggml_dequantize_s"] = _time(g.dequantize, kind, ours)
            row["bytes_equal_ggml"] = bool((ours.ravel() == peer).all())
            row["values_equal_ggml"] = bool((back.view(np.uint32) == pback.view(np.uint32)).all())
        if quants is not None and kind != "q8_K":
            pback, row["gguf_py_dequantize_s"] = _time(quants.dequantize, ours, T[kind.upper()])
            row["values_equal_gguf_py"] = bool((back.view(np.uint32) == pback.view(np.uint32).ravel()).all())
        if "ggml_quantize_s" in row:
            row["quantize_ratio_refquant_over_ggml"] = t_ours / max(row["ggml_quantize_s"], 1e-9)
        if "gguf_py_dequantize_s" in row:
            row["dequantize_ratio_refquant_over_gguf_py"] = t_deq / max(row["gguf_py_dequantize_s"], 1e-9)
        results.append(row)
        peers = ", ".join(f"{k[:-2].replace('_', ' ')} {v:.3f} s" for k, v in row.items() if k.endswith("_s")
                          and not k.startswith("refquant"))
        equal = all(v for k, v in row.items() if k.startswith(("bytes_equal", "values_equal")))
        ratios = ", ".join(f"{k.split('_')[0]} x{v:.1f} vs {k.split('_over_')[1].replace('_', '-')}"
                           for k, v in row.items() if "_ratio_" in k)
        print(f"{row['what']:<10} quantize {t_ours:.3f} s, dequantize {t_deq:.3f} s ({peers}; {ratios}), "
              f"equal: {equal}")


def bench_matmulnbits(m, k, n, results):
    try:
        from refquant.peers.matmulnbits import make_inputs, ort_model, run_ort
    except ImportError:
        print("onnx / onnxruntime not installed: MatMulNBits rows skipped")
        return
    rng = np.random.default_rng(0)
    a, b, s, z = make_inputs(rng, m, k, n, 4, 32, True)
    try:
        model = ort_model(k, n, 4, 32, 0, b, s, z)
        got, t_ort = _time(run_ort, model, a)
    except ImportError:
        print("onnx / onnxruntime not installed: MatMulNBits rows skipped")
        return
    ours, t_ours = _time(fast_mm.matmul_ort_mlas_avx512, a, b, s, z, k, n, 4, 32)
    row = {"what": f"MatMulNBits {m}x{k} @ {k}x{n} (4 bits, block 32, zp)", "refquant_s": t_ours,
           "onnxruntime_s": t_ort, "equal": bool((got.view(np.uint32) == ours.view(np.uint32)).all())}
    results.append(row)
    print(f"{row['what']}: refquant {t_ours:.3f} s, onnxruntime {t_ort:.3f} s (session + run), equal: {row['equal']}")


def bench_nvfp4(x, results):
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        print("ml_dtypes not installed: NVFP4 row skipped")
        return
    s = fast_nvfp4.tensor_scale(np.abs(x).max())
    (sc, codes), t_q = _time(fast_nvfp4.quantize, x, s)
    _, t_d = _time(fast_nvfp4.dequantize, sc, codes, s)
    results.append({"what": "nvfp4 (two-level)", "elements": int(x.size), "quantize_s": t_q, "dequantize_s": t_d})
    print(f"nvfp4      quantize {t_q:.3f} s, dequantize {t_d:.3f} s (no installed peer)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--only", default="gguf,gguf_k,matmulnbits,nvfp4", help="comma-separated parts to run")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    x = np.random.default_rng(0).standard_normal((args.rows, args.cols)).astype(np.float32)
    results = []
    if "gguf" in parts:
        bench_gguf(x, results)
    if "gguf_k" in parts:
        bench_gguf_k(x, results)
    if "matmulnbits" in parts:
        bench_matmulnbits(1, args.cols, args.rows, results)
    if "nvfp4" in parts:
        bench_nvfp4(x, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
