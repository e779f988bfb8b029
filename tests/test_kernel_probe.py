"""The peak probe (csrc/probe.c, refquant.kernel.probe) that benchmarks judge the kernel against."""

import pytest

from refquant import kernel

pytestmark = pytest.mark.skipif(not kernel.available(), reason="refquant._kernel is not built")


def test_probe_counts_its_multiply_adds_or_says_zero():
    from refquant.kernel._lib import lib
    vnni = "vnni" in kernel.paths()
    assert lib.rq_probe_vnni(512, 1000) == (1000 * 16 * 64 if vnni else 0)
    assert lib.rq_probe_vnni(256, 1000) == (1000 * 16 * 32 if vnni else 0)
    assert lib.rq_probe_vnni(128, 1000) == 0
    assert lib.rq_probe_vnni(512, -1) == 0
    amx = "amx" in kernel.paths()   # 4 tdpbusd of 16 x 16 x 64 per iteration
    assert lib.rq_probe_amx(10) == (10 * 4 * 16 * 16 * 64 if amx else 0)
    assert lib.rq_probe_amx(-1) == 0


def test_peak_gops_is_measured_only_for_a_usable_path():
    from refquant.kernel import probe
    assert probe.peak_gops("vnni", width=128) is None and probe.peak_gops("sse") is None
    for path, args in (("vnni", (512,)), ("amx", ())):
        g = probe.peak_gops(path, *args, threads=1, seconds=0.05)
        if path in kernel.paths():
            assert g > 1.0, path
        else:
            assert g is None, path
