"""Time refquant's fast forms of the LLM block formats against each peer's own code, in one process:
GGUF quantize/dequantize (refquant.blocks.gguf vs gguf-py's gguf.quants), MatMulNBits
(refquant.blocks.matmulnbits vs onnxruntime's CPU kernel, one thread), NVFP4 (refquant.blocks.nvfp4,
no installed peer: its own rate).  Every timed pair is also compared bit for bit.

    python bench/llm_formats.py [--rows 4096] [--cols 4096] [--json out.json]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from refquant.blocks import gguf as fast_gguf  # noqa: E402
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
    args = ap.parse_args()
    x = np.random.default_rng(0).standard_normal((args.rows, args.cols)).astype(np.float32)
    results = []
    bench_gguf(x, results)
    bench_matmulnbits(1, args.cols, args.rows, results)
    bench_nvfp4(x, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
