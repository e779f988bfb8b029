"""The hardware verification flow: a scoreboard a cocotb (or any) testbench attaches, and stimulus.

    from refquant.cocotb import Scoreboard, random_vectors, directed_vectors
    sb = Scoreboard("dot", method="tflite_single", params={"m": 1610612736, "shift": -3},
                    a_zero_point=3, y_zero_point=-7, policy="saturate")
    for t in directed_vectors(sb, K=8) + random_vectors(sb, 200, K=8, seed=1):
        ...drive t into the DUT, read y (and acc)...
        sb.check(t, {"y": y, "acc": acc})
    sb.finish()

Tooling (extra ``refquant[cocotb]``): cocotb itself is imported only by the testbenches; this
package needs numpy (and the C kernel for ``reference='kernel'``). See docs/hardware.md.
"""

from .scoreboard import OPS, Scoreboard, ScoreboardMismatch  # noqa: F401
from .vectors import directed_vectors, random_vectors, tie_accumulators  # noqa: F401
