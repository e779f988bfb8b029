"""Oracle quantize / dequantize throughput per profile (elements/s), beside the peers it models.

    python bench/quantize.py [--n 20000]

The oracle is exact pure Python; the peers are vectorised C.  The ratio says how much slower
the reference is than the thing it checks — not a target for the oracle to beat.  Rates are per
CPU-second of this process (time.process_time), so other load on the machine does not distort them.
"""
import argparse
import platform
import time

import numpy as np

from refquant import quantize as Q


def rate(fn, n, repeats=3):
    best = min(_timed(fn) for _ in range(repeats))
    return n / best


def _timed(fn):
    t = time.process_time()
    fn()
    return time.process_time() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args()
    x = np.random.default_rng(0).standard_normal(args.n).astype(np.float32)
    s = np.float32(0.02)
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}, n={args.n}")
    print(f"{'profile':<18}{'quantize el/s':>16}{'dequantize el/s':>18}")
    q = Q.quantize(x, s, 3, "int8", "exact")
    for p in ("exact", "onnx", "onnxruntime", "torch", "torch_qint32", "torch_fake_quant", "tflite", "tosa"):
        rq = rate(lambda: Q.quantize(x, s, 3, "int8", p), args.n, 3)
        rd = rate(lambda: Q.dequantize(q, s, 3, "int8", p), args.n, 3) if p != "torch_fake_quant" else float("nan")
        print(f"{p:<18}{rq:>16,.0f}{rd:>18,.0f}")
    try:
        import onnxruntime as ort
        from onnx import helper
        node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [None]),
                                            helper.make_tensor_value_info("s", 1, []),
                                            helper.make_tensor_value_info("z", 3, [])],
                              [helper.make_tensor_value_info("y", 3, [None])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        feeds = {"x": x, "s": np.array(s), "z": np.array(3, np.int8)}
        r = rate(lambda: sess.run(None, feeds), args.n, 5)
        ours = rate(lambda: Q.quantize(x, s, 3, "int8", "onnxruntime"), args.n, 1)
        print(f"onnxruntime QuantizeLinear: {r:,.0f} el/s; oracle 'onnxruntime' profile is {r / ours:,.0f}x slower")
    except ImportError as exc:
        print(f"onnxruntime not installed ({exc}); peer column skipped")


if __name__ == "__main__":
    main()
