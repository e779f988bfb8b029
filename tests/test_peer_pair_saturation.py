"""oneDNN and FBGEMM (torch 2.13.0) without VNNI saturate u8 x s8 pair sums to int16:
requant.md §7 rows 20 (FBGEMM) and 22 (oneDNN).

On an ISA without VNNI, both multiply uint8 by int8 bytes with ``vpmaddubsw``, which adds two
adjacent products into a *saturating* int16 (255 * 127 * 2 = 64770 > 32767); oneDNN's int8 x int8
``_int_mm`` goes through A + 128 with an exact -128 * sum(B) compensation.  ``ONEDNN_MAX_CPU_ISA``
and ``FBGEMM_ENABLE_INSTRUCTIONS`` cap each library on this host to what a CPU without VNNI runs
(read once, when torch loads them, so every case runs in a child process).  Named peer deviations:
``torch._int_mm`` and ``quantized::linear`` (onednn, fbgemm and x86 engines) then differ from the
exact product and match the pair saturation model below exactly; with VNNI (where the CPU has it)
they are exact.  refquant's own ``avx2`` path keeps exactness (``vpmaddwd`` on widened bytes:
tests/test_kernel_avx2.py).
"""
import json
import os
import platform
import subprocess
import sys

import pytest

from peers import need
from refquant import ops
from refquant.peers.versions import cpu_flags
from refquant.x86_pairs import pair_saturated_matmul

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
for engine in req["engines"]:
    torch.backends.quantized.engine = engine
    lin = []
    for x, w, sx, sw, sy, zy in req["linear"]:
        xq = torch._make_per_tensor_quantized_tensor(torch.tensor(x, dtype=torch.uint8), sx, 0)
        wq = torch._make_per_tensor_quantized_tensor(torch.tensor(w, dtype=torch.int8), sw, 0)
        packed = torch.ops.quantized.linear_prepack(wq, None)
        lin.append(torch.ops.quantized.linear(xq, packed, sy, zy).int_repr().tolist())
    out[engine] = lin
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



def engines():
    return [e for e in ("onednn", "fbgemm", "x86") if e in torch.backends.quantized.supported_engines]


def run_capped(onednn_isa, fbgemm_isa):
    rng = np.random.default_rng(22)
    a = rng.integers(-128, 128, (8, 64), dtype=np.int8)
    a[:, ::3] = 127                      # A + 128 = 255 in every third column
    b = rng.integers(-128, 128, (64, 16), dtype=np.int8)
    req = {"a": a.tolist(), "b": b.tolist(), "engines": engines(),
           "linear": [[[x], [w], SX, SW, SY, ZY] for x, w, _, _ in LINEAR]}
    env = dict(os.environ)
    for var, isa in (("ONEDNN_MAX_CPU_ISA", onednn_isa), ("FBGEMM_ENABLE_INSTRUCTIONS", fbgemm_isa)):
        env.pop(var, None)
        if isa:
            env[var] = isa
    env.pop("DNNL_MAX_CPU_ISA", None)
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


def linear_oracle(engine, x, w):
    return ops.qlinear_matmul([x], SX, 0, [[v] for v in w], SW, 0, SY, ZY, method="torch_" + engine,
                              a_type="uint8", b_type="int8", y_type="uint8")


def cpu_has_vnni():
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


def check_saturated(engine, codes):
    """Each case's code is the oracle's for the pair-saturated accumulator; the first two are not
    the exact accumulator's codes, the third (no pair saturates) is."""
    for (x, w, xs, ws), c in zip(LINEAR, codes):
        assert c == linear_oracle(engine, xs, ws), (engine, x, w, c)
    assert [c != linear_oracle(engine, x, w) for c, (x, w, _, _) in zip(codes, LINEAR)] == [True, True, False]


# (ONEDNN_MAX_CPU_ISA, FBGEMM_ENABLE_INSTRUCTIONS, CPU flags the caps need); FBGEMM needs AVX2 at least
CAPS = [("SSE41", None, set()), ("AVX2", "AVX2", {"avx2"}), ("AVX512_CORE", "AVX512", {"avx512f", "avx512bw"})]


@pytest.mark.parametrize("onednn_isa, fbgemm_isa, flags", CAPS, ids=[c[0] for c in CAPS])
def test_without_vnni_pair_sums_saturate(onednn_isa, fbgemm_isa, flags):
    if not flags <= cpu_flags():
        pytest.skip(f"this CPU lacks {sorted(flags - cpu_flags())}")
    a, b, got = run_capped(onednn_isa, fbgemm_isa)
    exact = a.astype(np.int64) @ b.astype(np.int64)
    int_mm = np.array(got["int_mm"], np.int64)   # oneDNN
    assert (int_mm != exact).sum() > int_mm.size // 2, "oneDNN capped without VNNI came out exact"
    np.testing.assert_array_equal(int_mm, pair_saturated_s8s8(a, b))
    np.testing.assert_array_equal(int_mm, np.array(pair_saturated_matmul(a.tolist(), b.tolist(), 0, "int8")))
    for engine in engines():
        if engine == "onednn" or fbgemm_isa:
            check_saturated(engine, got[engine])


def test_with_vnni_exact():
    if not cpu_has_vnni():
        pytest.skip("this CPU has no VNNI (AVX-512 VNNI, AVX-VNNI or AMX): oneDNN and FBGEMM saturate here too")
    a, b, got = run_capped(None, None)
    np.testing.assert_array_equal(np.array(got["int_mm"], np.int64), a.astype(np.int64) @ b.astype(np.int64))
    # FBGEMM (fbgemm, x86) has no AVX-VNNI kernel: exact only with AVX-512 VNNI
    for engine in [e for e in engines() if e == "onednn" or "avx512_vnni" in cpu_flags()]:
        for (x, w, _, _), c in zip(LINEAR, got[engine]):
            assert c == linear_oracle(engine, x, w), (engine, x, w, c)


def test_verify_torch_names_the_saturation_without_vnni():
    """``refquant verify torch`` on a host without VNNI (here: capped) explains the full-range rows
    by the named deviation, and leaves nothing unexplained."""
    if not {"avx2"} <= cpu_flags():
        pytest.skip("this CPU lacks avx2")
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", FBGEMM_ENABLE_INSTRUCTIONS="AVX2")
    env.pop("DNNL_MAX_CPU_ISA", None)
    res = subprocess.run([sys.executable, "-m", "refquant", "verify", "torch", "--json", "--allow-known"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = json.loads(res.stdout)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    named = {(r["op"], r["flag"].split(",")[0]): r.get("deviation") for r in rows if "full" in r["flag"]}
    assert named[("_int_mm", "int8 x int8 -> int32")] == "onednn int16 pair saturation without VNNI"
    for engine in ("onednn", "fbgemm", "x86"):
        if engine in engines():
            assert named[("quantized::linear", f"engine={engine}")] == f"{engine} int16 pair saturation without VNNI"
