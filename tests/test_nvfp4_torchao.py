"""NVFP4 quantization against torchao 0.18.0 itself (prototype/mx_formats nvfp4_quantize on CPU).

torchao 0.18.0 multiplies each element by a binary32 reciprocal of its scale (fl(1/scale), or
fl(fl(1/s)/scale) with a tensor scale s); refquant's variant 'torchao_recip' models that, and the
earlier division form (variant 'torchao') differs on constructed near-ties of the e2m1 grid."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (extra 'torch')")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    nv = pytest.importorskip("torchao.prototype.mx_formats.nvfp4_tensor",
                             reason="torchao is not installed (pip install torchao==0.18.0)")

from refquant import backends, nvfp4  # noqa: E402
from refquant.blocks import nvfp4 as fast  # noqa: E402


def _torchao(x, two_level):
    t = torch.from_numpy(x.reshape(1, -1))
    s = nv.per_tensor_amax_to_scale(t.abs().max()) if two_level else None
    scales, packed = nv.nvfp4_quantize(t, 16, s)
    p = packed.numpy().reshape(-1)
    codes = np.empty(p.size * 2, np.uint8)
    codes[0::2], codes[1::2] = p & 0xF, p >> 4          # low nibble first
    return scales.view(torch.uint8).numpy().ravel(), codes, (None if s is None else float(s))


def _near_ties(rng, blocks):
    """Blocks whose elements sit on, or one ulp beside, the midpoints of the e2m1 grid of a
    block scale that is itself an e4m3 value (the block max is 6 * scale)."""
    out = []
    mids = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0], np.float32)
    for _ in range(blocks):
        scale = np.float32(2.0 ** rng.integers(-6, 5) * (1 + rng.integers(0, 8) / 8))
        blk = [np.float32(6) * scale]
        for _ in range(15):
            v = np.float32(rng.choice(mids) * scale)
            if rng.random() < 0.6:
                v = np.nextafter(v, np.float32(np.inf if rng.random() < 0.5 else 0))
            blk.append(v if rng.random() < 0.5 else -v)
        out += blk
    return np.array(out, np.float32)


def _cases(seed, n):
    rng = np.random.default_rng(seed)
    for i in range(n):
        if i % 2:
            yield _near_ties(rng, 8)
        else:
            yield (rng.standard_normal(128) * rng.choice([1e-3, 1.0, 300.0])).astype(np.float32)


def _compare(seed, n):
    counts = {"elements": 0, "division_differs": 0}
    for x in _cases(seed, n):
        for two in (False, True):
            sc, codes, s = _torchao(x, two)
            rs, rc = nvfp4.quantize(x.tolist(), s, "torchao_recip")
            assert list(sc) == rs and list(codes) == rc, (two, s)
            fs, fc = fast.quantize(x, s, recip=True)
            assert np.array_equal(fs, sc) and np.array_equal(fc, codes)
            _, dc = nvfp4.quantize(x.tolist(), s, "torchao")
            counts["division_differs"] += sum(a != b for a, b in zip(dc, rc))
            counts["elements"] += x.size
    return counts


def test_torchao_recip_is_torchao_0_18():
    assert backends.variant("torchao_0_18_nvfp4", "nvfp4_quantize") is nvfp4.quantize_torchao_recip
    c = _compare(1, 12)
    assert c["elements"] == 12 * 128 * 2
    assert c["division_differs"] > 0          # the 2025 division form is not what 0.18.0 computes


@pytest.mark.slow
def test_torchao_recip_sweep():
    """>= 10^5 elements per level (random at three magnitudes and constructed near-ties)."""
    c = _compare(2, 800)
    print(c)
    assert c["elements"] >= 2 * 10**5
