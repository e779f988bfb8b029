"""Regenerate the audit tour's example: case.json, its input tensors and y.hex.

The device under test is described in case.json as TFLite built with TFLITE_SINGLE_ROUNDING
(method ``tflite_single``), but its dump y.hex was produced by TFLite's default double rounding
(``tflite_double``): the two differ by one on negative ties.  With M = 0.0078125 * 0.00390625 /
0.001953125 = 1/64, ties are common enough that a few outputs differ, so `refquant audit` has
something to find and the diagnosis something to name.

    python examples/audit/make_example.py        # rewrites the files beside this script
    refquant audit examples/audit/case.json --actual examples/audit/y.hex
"""

import json
import os

import numpy as np

from refquant.audit import core, tensors

HERE = os.path.dirname(os.path.abspath(__file__))
M, K, N = 16, 64, 32
CASE = {
    "op": "qlinear_matmul",
    "a": {"file": "a.hex", "dtype": "int8", "shape": [M, K]},
    "b": {"file": "b.hex", "dtype": "int8", "shape": [K, N]},
    "bias": {"file": "bias.hex", "dtype": "int32", "shape": [N]},
    "a_type": "int8", "b_type": "int8", "y_type": "int8",
    "a_scale": 0.0078125, "b_scale": 0.00390625, "y_scale": 0.001953125,
    "a_zero_point": 0, "b_zero_point": 0, "y_zero_point": 0,
    "method": "tflite_single",
}


def main(out=HERE):
    rng = np.random.default_rng(2026)
    # small activations and weights keep the outputs inside int8 (no saturation hides the rounding)
    tensors.save(os.path.join(out, "a.hex"), rng.integers(-12, 13, (M, K)).astype(np.int8), dtype="int8")
    tensors.save(os.path.join(out, "b.hex"), rng.integers(-12, 13, (K, N)).astype(np.int8), dtype="int8")
    tensors.save(os.path.join(out, "bias.hex"), rng.integers(-512, 513, N).astype(np.int32), dtype="int32")
    with open(os.path.join(out, "case.json"), "w") as f:
        f.write(json.dumps(CASE, indent=1) + "\n")
    device = core.make_case(dict(CASE, method="tflite_double"), out)      # what the device really does
    y = core.expected(device)[0].astype(np.int8)
    tensors.save(os.path.join(out, "y.hex"), y, dtype="int8")
    declared = core.expected(core.load_case(os.path.join(out, "case.json")))[0]
    return int((declared != y).sum())


if __name__ == "__main__":
    print(f"{main()} of {M * N} outputs differ from the declared tflite_single semantics")
