"""The $readmemh batch flow for rq_dot: write seeded inputs as .hex, simulate dot_batch_tb.v under
Icarus Verilog, write the audit case, and run `refquant audit` on the dump.

    python examples/rtl/run_batch.py OUTDIR [--double] [--bug truncate|wrap|zp_before|shift_swap]
                                            [--m 16 --n 8 --k 16 --seed 0] [--vectors FILE]

--vectors FILE drives the accumulators `refquant audit ... --suggest-vectors FILE` wrote (each as the
bias of a one-beat product of zero-point operands) instead of random inputs.

Exit status: the audit's (0 clean, 1 mismatches, 2 bad input). tests/test_rtl_flows.py runs it.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BUGS = {"truncate": "BUG_TRUNCATE", "wrap": "BUG_WRAP", "zp_before": "BUG_ZP_BEFORE", "shift_swap": "BUG_SHIFT_SWAP"}

# Requantization parameters per rounding mode: single rounding with M = 0.75 * 2^-7 on full-range int8
# data; double rounding with M = 0.6875 * 2^-2 on small operands (every bug visible in a few outputs).
CONFIGS = {
    False: {"m": 1610612736, "shift": -7, "za": 3, "zb": -2, "zy": -5, "amp": 127, "bias": 1 << 12},
    True: {"m": 1476395008, "shift": -2, "za": 1, "zb": 2, "zy": 5, "amp": 7, "bias": 1000},
}


def write_hex(path, values, bits):
    mask = (1 << bits) - 1
    with open(path, "w") as f:
        f.write("\n".join(f"{int(v) & mask:0{bits // 4}x}" for v in np.asarray(values).reshape(-1)) + "\n")


def inputs(outdir, M, N, K, cfg, seed):
    rng = np.random.default_rng(seed)
    amp = cfg["amp"]
    a = rng.integers(-amp - 1 if amp == 127 else -amp, amp, (M, K), endpoint=True)
    b = rng.integers(-amp - 1 if amp == 127 else -amp, amp, (K, N), endpoint=True)
    bias = rng.integers(-cfg["bias"], cfg["bias"], N, endpoint=True)
    if cfg.get("edge_bias"):                       # half the columns' biases at the int32 ends
        bias[::2] = np.where(np.arange(N)[::2] % 4 == 0, 2**31 - 1, -2**31)
    write_hex(os.path.join(outdir, "a.hex"), a, 8)
    write_hex(os.path.join(outdir, "b.hex"), b, 8)
    write_hex(os.path.join(outdir, "bias.hex"), bias, 32)


def case_json(outdir, M, N, K, cfg, double):
    case = {"op": "qlinear_matmul", "name": "rq_dot batch",
            "a": {"file": "a.hex", "dtype": "int8", "shape": [M, K]},
            "b": {"file": "b.hex", "dtype": "int8", "shape": [K, N]},
            "bias": {"file": "bias.hex", "dtype": "int32", "shape": [N]},
            "a_type": "int8", "b_type": "int8", "a_zero_point": cfg["za"], "b_zero_point": cfg["zb"],
            "y_zero_point": cfg["zy"], "params": {"m": cfg["m"], "shift": cfg["shift"]},
            "method": "tflite_double" if double else "tflite_single", "policy": "saturate"}
    path = os.path.join(outdir, "case.json")
    with open(path, "w") as f:
        json.dump(case, f, indent=1)
    return path


def simulate(outdir, M, N, K, cfg, double=False, bug=None, saturate=True):
    """Compile and run the batch testbench; returns (seconds, simulated cycles)."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise RuntimeError("Icarus Verilog (iverilog, vvp) not installed: apt-get install -y iverilog")
    params = [f"-Ptb.M={M}", f"-Ptb.N={N}", f"-Ptb.K={K}", f"-Ptb.DOUBLE_ROUND={int(double)}",
              f"-Ptb.SATURATE_ACC={int(saturate)}"]
    if bug:
        params.append(f"-Ptb.{BUGS[bug]}=1")
    vvp = os.path.join(outdir, "tb.vvp")
    subprocess.run(["iverilog", "-g2005", "-o", vvp] + params +
                   [os.path.join(HERE, "dot_batch_tb.v"), os.path.join(HERE, "rq_dot.v")], check=True)
    t0 = time.perf_counter()
    res = subprocess.run(["vvp", "-n", vvp] + [f"+{k}={os.path.join(outdir, v)}" for k, v in
                         (("A", "a.hex"), ("B", "b.hex"), ("BIAS", "bias.hex"), ("Y", "y.hex"), ("ACC", "acc.hex"))] +
                         [f"+ZA={cfg['za']}", f"+ZB={cfg['zb']}", f"+ZY={cfg['zy']}", f"+MULT={cfg['m']}",
                          f"+SHIFT={cfg['shift']}"], check=True, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    cycles = int(res.stdout.split("outputs, ")[1].split(" cycles")[0])
    return secs, cycles


def run(outdir, double=False, bug=None, M=16, N=8, K=16, seed=0, saturate=True, edge_bias=False):
    """Inputs, simulation and case file in ``outdir``; returns the case path. The case always declares
    a saturating accumulator; ``saturate=False`` builds the unit with a wrapping one (SATURATE_ACC=0),
    ``edge_bias`` puts half the biases at the int32 ends so that the difference shows."""
    os.makedirs(outdir, exist_ok=True)
    cfg = dict(CONFIGS[double], edge_bias=edge_bias)
    inputs(outdir, M, N, K, cfg, seed)
    simulate(outdir, M, N, K, cfg, double, bug, saturate)
    return case_json(outdir, M, N, K, cfg, double)


def read_vectors(path):
    """The int32 accumulators of a `refquant audit --suggest-vectors` file ($readmemh words, // comments)."""
    accs = []
    with open(path) as f:
        for line in f:
            word = line.split("//")[0].strip()
            if word:
                v = int(word, 16)
                accs.append(v - (1 << 32) if v >= 1 << 31 else v)
    return accs


def run_vectors(outdir, vectors, double=False, bug=None):
    """Drive suggested accumulators through the unit: one output per accumulator, as the bias of a
    one-beat dot product whose operands equal their zero points (product 0). Returns the case path."""
    os.makedirs(outdir, exist_ok=True)
    cfg = CONFIGS[double]
    accs = read_vectors(vectors)
    n = len(accs)
    write_hex(os.path.join(outdir, "a.hex"), [cfg["za"]], 8)
    write_hex(os.path.join(outdir, "b.hex"), [cfg["zb"]] * n, 8)
    write_hex(os.path.join(outdir, "bias.hex"), accs, 32)
    simulate(outdir, 1, n, 1, cfg, double, bug)
    return case_json(outdir, 1, n, 1, cfg, double)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir")
    p.add_argument("--double", action="store_true", help="double rounding (tflite_double)")
    p.add_argument("--bug", choices=sorted(BUGS))
    p.add_argument("--wrapping-acc", action="store_true", help="build the unit with SATURATE_ACC=0 (a bug: the "
                   "case declares saturation) and put half the biases at the int32 ends")
    p.add_argument("--vectors", metavar="FILE", help="instead of random inputs: the accumulators of a "
                   "`refquant audit --suggest-vectors FILE`, one output each")
    for k, d in (("m", 16), ("n", 8), ("k", 16), ("seed", 0)):
        p.add_argument(f"--{k}", type=int, default=d)
    a = p.parse_args(argv)
    if a.vectors:
        case = run_vectors(a.outdir, a.vectors, a.double, a.bug)
    else:
        case = run(a.outdir, a.double, a.bug, a.m, a.n, a.k, a.seed, not a.wrapping_acc, a.wrapping_acc)
    from refquant.cli import main as refquant
    return refquant(["audit", case, "--actual", os.path.join(a.outdir, "y.hex"), "--brief", "--no-progress"])


if __name__ == "__main__":
    sys.exit(main())
