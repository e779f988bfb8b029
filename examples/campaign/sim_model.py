"""A stand-in for an external device: the command a campaign runs as ``dut.kind = "command"``.

It reads what refquant writes for every task -- DIR/case.json (the audit case format, with the
kernel requantization parameters in ``kernel_params``) and the $readmemh tensors DIR/a.hex, DIR/b.hex --
and writes DIR/y.hex, one two's-complement hex word per output, row-major.  A real flow replaces
this script with a simulator run (e.g. ``vvp tb.vvp +dir={dir}``) or a board's host tool.

It models an int8 GEMM with float_fp32 requantization (docs/gemm-contract.md §3) in plain numpy:
int64 accumulation wrapped to int32, then fl(fl(acc) * M) clamped and rounded to nearest even.
``--truncate`` plants the commonest RTL requantization bug (floor instead of rounding), and
``--hang`` never answers (to see the per-task timeout).

    python sim_model.py DIR [--truncate] [--hang]
"""

import json
import os
import sys
import time

import numpy as np


def read_hex(path, bits):
    words = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            w = line.split("//", 1)[0].strip()
            if w:
                words.append(int(w, 16))
    v = np.array(words, dtype=np.int64)
    return np.where(v >= 1 << (bits - 1), v - (1 << bits), v)


def main(argv):
    d = argv[0]
    if "--hang" in argv:
        time.sleep(3600)
    with open(os.path.join(d, "case.json"), encoding="utf-8") as f:
        case = json.load(f)
    M, K = case["a"]["shape"]
    N = case["b"]["shape"][1]
    a = read_hex(os.path.join(d, "a.hex"), 8).reshape(M, K)
    b = read_hex(os.path.join(d, "b.hex"), 8).reshape(K, N)
    if case["a_type"] == "uint8":
        a &= 0xFF
    if case["b_type"] == "uint8":
        b &= 0xFF
    zb = np.broadcast_to(np.asarray(case["b_zero_point"], np.int64), (N,))
    acc = (a - case["a_zero_point"]) @ (b - zb[None, :])
    acc = ((acc + 2**31) % 2**32) - 2**31
    if case["op"] == "matmul_integer":
        y, bits = acc, 32
    else:
        m_bits = np.array([p["M_bits"] for p in case["kernel_params"]], np.uint32).view(np.float32)
        lo, hi = (0, 255) if case["y_type"] == "uint8" else (-128, 127)
        zy = case["y_zero_point"]
        v = acc.astype(np.float32) * np.broadcast_to(m_bits, (N,))[None, :]
        v = np.clip(v, np.float32(lo - zy), np.float32(hi - zy))
        r = np.floor(v) if "--truncate" in argv else np.rint(v)
        y, bits = r.astype(np.int64) + zy, 8
    with open(os.path.join(d, "y.hex"), "w", encoding="utf-8") as f:
        for v in y.reshape(-1):
            f.write(format(int(v) & ((1 << bits) - 1), f"0{bits // 4}x") + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
