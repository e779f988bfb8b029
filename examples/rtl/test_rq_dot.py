"""cocotb testbench of rq_dot with refquant's scoreboard (run by examples/rtl/run_cocotb.py).

Stimulus: refquant.cocotb's directed edge vectors, then seeded random ones; every transaction's
(acc_out, y) is checked by the scoreboard, which fails the test on the first mismatch with the
expected and actual values, the explain trace and a reproducing `refquant explain` command.
Configuration by environment: RQ_DOUBLE (0/1), RQ_SATURATE (0/1), RQ_K, RQ_RANDOM, RQ_SEED,
RQ_REFERENCE (oracle | kernel).
"""
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from refquant.cocotb import Scoreboard, directed_vectors, random_vectors


async def transaction(dut, t, sb, K):
    """Drive one dot product and return (acc_out, y)."""
    dut.za.value = sb.value(t, "a_zero_point")
    dut.zb.value = sb.value(t, "b_zero_point")
    dut.zy.value = sb.value(t, "y_zero_point")
    p = sb.params_of(t).channel(0)
    dut.m.value, dut.shift.value, dut.bias.value = p["m"], p["shift"], int(t.get("bias", 0))
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value, dut.beat_valid.value = 0, 1
    for a, b in zip(t["a"], t["b"]):
        dut.a.value, dut.b.value = int(a), int(b)
        await FallingEdge(dut.clk)
    dut.beat_valid.value, dut.finish.value = 0, 1
    await FallingEdge(dut.clk)
    dut.finish.value = 0
    return dut.acc_out.value.to_signed(), dut.y.value.to_signed()


@cocotb.test()
async def rq_dot_matches_refquant(dut):
    K = int(os.environ.get("RQ_K", "8"))
    double = os.environ.get("RQ_DOUBLE", "0") == "1"
    sb = Scoreboard("dot", method="tflite_double" if double else "tflite_single",
                    params={"m": 1610612736, "shift": -7}, a_zero_point=3, b_zero_point=-2, y_zero_point=-5,
                    policy="saturate" if os.environ.get("RQ_SATURATE", "1") == "1" else "wrap",
                    reference=os.environ.get("RQ_REFERENCE", "oracle"))
    Clock(dut.clk, 10, unit="ns").start()
    for name in ("rst", "start", "beat_valid", "finish", "a", "b"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    vectors = directed_vectors(sb, K) + random_vectors(sb, int(os.environ.get("RQ_RANDOM", "50")), K,
                                                       seed=int(os.environ.get("RQ_SEED", "0")))
    for t in vectors:
        acc, y = await transaction(dut, t, sb, K)
        sb.check(t, {"acc": acc, "y": y})
    summary = sb.finish()
    dut._log.info("refquant scoreboard: %s", summary)
