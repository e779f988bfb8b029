"""oneDNN (torch 2.13.0) without VNNI saturates u8 x s8 pair sums to int16: requant.md §7 row 22.

On an ISA without VNNI, oneDNN's int8 GEMM multiplies uint8 by int8 bytes with ``vpmaddubsw``,
which adds two adjacent products into a *saturating* int16 (255 * 127 * 2 = 64770 > 32767); int8
A goes through as A + 128 with an exact -128 * sum(B) compensation.  ``ONEDNN_MAX_CPU_ISA`` caps
oneDNN on this host to what a CPU without VNNI runs (read once, when torch loads oneDNN, so every
case runs in a child process).  Named peer deviation: ``torch._int_mm`` and
``quantized::linear`` (onednn engine) then differ from the exact product, and match the pair
saturation model below exactly; with VNNI (where the CPU has it) they are exact.  refquant's own
``avx2`` path keeps exactness (``vpmaddwd`` on widened bytes: tests/test_kernel_avx2.py).
"""
import json
import os
import platform
import subprocess
import sys

import pytest

from peers import need
from refquant import ops

np = need("numpy")
torch = need("torch", "torch==2.13.0")

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="oneDNN's ISA caps are x86 names")

CHILD = r"""
import json, sys, warnings
import torch
warnings.filterwarnings("ignore")
torch.set_num_threads(1)
req = json.loads(sys.stdin.read())
out = {}
a, b = torch.tensor(req["a"], dtype=torch.int8), torch.tensor(req["b"], dtype=torch.int8)
out["int_mm"] = torch._int_mm(a, b).tolist()
torch.backends.quantized.engine = "onednn"
lin = []
for x, w, sx, sw, sy, zy in req["linear"]:
    xq = torch._make_per_tensor_quantized_tensor(torch.tensor(x, dtype=torch.uint8), sx, 0)
    wq = torch._make_per_tensor_quantized_tensor(torch.tensor(w, dtype=torch.int8), sw, 0)
    packed = torch.ops.quantized.linear_prepack(wq, None)
    lin.append(torch.ops.quantized.linear(xq, packed, sy, zy).int_repr().tolist())
out["linear"] = lin
print(json.dumps(out))
"""


def f32(x):
    return float(np.float32(x))


SX, SW, SY, ZY = f32(0.02), f32(0.01), f32(0.065), 128
# (x row, w row): the exact accumulator, the pair-saturated one, and a pair (x', w') whose exact
# accumulator is that saturated value (no pair of it saturates) -- the oracle then gives the code
# oneDNN should print when it saturates
LINEAR = [
    ([255, 255], [127, 127], [127, 177], [127, 94]),       # 64770 -> 32767 = 16129 + 16638
    ([255, 255], [-128, -128], [255, 1], [-128, -128]),    # -65280 -> -32768 = -32640 - 128
    ([100, 100], [100, 100], [100, 100], [100, 100]),      # 20000: no saturation, both exact
]


def run_capped(isa):
    rng = np.random.default_rng(22)
    a = rng.integers(-128, 128, (8, 64), dtype=np.int8)
    a[:, ::3] = 127                      # A + 128 = 255 in every third column
    b = rng.integers(-128, 128, (64, 16), dtype=np.int8)
    req = {"a": a.tolist(), "b": b.tolist(),
           "linear": [[[x], [w], SX, SW, SY, ZY] for x, w, _, _ in LINEAR]}
    env = dict(os.environ)
    env.pop("DNNL_MAX_CPU_ISA", None)
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    else:
        env.pop("ONEDNN_MAX_CPU_ISA", None)
    res = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(req), capture_output=True,
                         text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return a, b, json.loads(res.stdout.strip().splitlines()[-1])


def pair_saturated_s8s8(a, b):
    """sum over k-pairs (2p, 2p+1) of sat16((a+128)[2p] b[2p] + (a+128)[2p+1] b[2p+1]) - 128 sum b."""
    ap, bb = a.astype(np.int64) + 128, b.astype(np.int64)
    s = np.zeros((a.shape[0], b.shape[1]), np.int64)
    for p in range(0, a.shape[1], 2):
        s += np.clip(ap[:, p:p + 1] * bb[p:p + 1, :] + ap[:, p + 1:p + 2] * bb[p + 1:p + 2, :], -32768, 32767)
    return s - 128 * bb.sum(axis=0)[None, :]


def linear_oracle(x, w):
    return ops.qlinear_matmul([x], SX, 0, [[v] for v in w], SW, 0, SY, ZY, method="torch_onednn",
                              a_type="uint8", b_type="int8", y_type="uint8")


def cpu_has_vnni():
    from refquant import kernel
    return kernel.available() and bool({"vnni", "avx_vnni", "amx"} & set(kernel.paths()))


@pytest.mark.parametrize("isa", ["SSE41", "AVX2", "AVX512_CORE"])   # AVX-512 without VNNI too
def test_onednn_without_vnni_saturates_pair_sums(isa):
    a, b, got = run_capped(isa)
    exact = a.astype(np.int64) @ b.astype(np.int64)
    int_mm = np.array(got["int_mm"], np.int64)
    assert (int_mm != exact).sum() > int_mm.size // 2, "oneDNN capped without VNNI came out exact"
    np.testing.assert_array_equal(int_mm, pair_saturated_s8s8(a, b))
    for (x, w, xs, ws), codes in zip(LINEAR, got["linear"]):
        assert codes == linear_oracle(xs, ws), (isa, x, w, codes)
    # the saturated codes are not the exact ones (the first two cases)
    assert [c for c, (x, w, _, _) in zip(got["linear"], LINEAR) if c != linear_oracle(x, w)] == got["linear"][:2]


def test_onednn_with_vnni_is_exact():
    if not cpu_has_vnni():
        pytest.skip("this CPU has no VNNI (AVX-512 VNNI, AVX-VNNI or AMX): oneDNN saturates here too")
    a, b, got = run_capped(None)
    np.testing.assert_array_equal(np.array(got["int_mm"], np.int64), a.astype(np.int64) @ b.astype(np.int64))
    for (x, w, _, _), codes in zip(LINEAR, got["linear"]):
        assert codes == linear_oracle(x, w)
