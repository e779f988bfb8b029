"""The model runner's grouped and depthwise convolution accumulators through the C kernel equal the
einsum definition (refquant.model.ops_quant.conv_acc), per-channel weight zero points included."""

import numpy as np
import pytest

from refquant import kernel
from refquant.model.ops_quant import conv_acc, conv_acc_raw, wrap32


@pytest.mark.skipif(not kernel.available(), reason="the C kernel is not built")
def test_grouped_and_depthwise_accumulators_equal_the_definition():
    rng, n = np.random.default_rng(0), 0
    while n < 40:
        G, cg, mg = int(rng.choice([2, 4, 8])), int(rng.choice([1, 1, 2])), int(rng.choice([1, 2]))
        C, M, H, W, k = G * cg, G * mg, int(rng.integers(3, 12)), int(rng.integers(3, 12)), int(rng.choice([1, 3]))
        xd = (np.uint8, np.int8)[int(rng.integers(2))]
        lo, hi = np.iinfo(xd).min, np.iinfo(xd).max
        x = rng.integers(lo, hi + 1, (1, C, H, W)).astype(xd)
        w = rng.integers(-128, 128, (M, cg, k, k)).astype(np.int8)
        zx = int(rng.integers(lo, hi + 1))
        zw = rng.integers(-5, 5, M).astype(np.int64) if rng.random() < 0.5 else np.array([0])
        s, p, d = [int(rng.integers(1, 3))] * 2, [int(rng.integers(0, 2))] * 4, [int(rng.integers(1, 3))] * 2
        if H + 2 * p[0] - d[0] * (k - 1) - 1 < 0 or W + 2 * p[1] - d[1] * (k - 1) - 1 < 0:
            continue
        wz = w.astype(np.int64) - (zw.reshape(-1, 1, 1, 1) if zw.size > 1 else zw[0])
        want = wrap32(conv_acc(x.astype(np.int64) - zx, wz, s, p, d, G))
        got = conv_acc_raw(x, zx, w, zw, s, p, d, G)
        assert got.shape == want.shape and np.array_equal(got, want), (G, cg, mg, k, s, p, d)
        n += 1
