"""numpy + ml_dtypes form of ``refquant.nvfp4``'s 'torchao' mode: the same codes for whole tensors.

The binary32 steps are numpy float32 operations; the casts to e4m3 and e2m1 are ml_dtypes'
(float8_e4m3fn, float4_e2m1fn: round to nearest even from binary32).  tests/test_nvfp4.py proves
it equal to the definition, so it doubles as the check of the definition against ml_dtypes' casts.
Reproduces: torchao nvfp4_tensor.py _nvfp4_quantize / to_dtype (2025), as refquant/nvfp4.py models it.
"""

import numpy as np

from ..errors import InvalidValueError, ShapeError

F32 = np.float32
BLOCK = 16


def _ml():
    import ml_dtypes
    return ml_dtypes


def tensor_scale(amax):
    """fl32(amax / 2688)."""
    return F32(F32(amax) / F32(2688))


def quantize(x, s=None, recip=False):
    """(uint8 e4m3 scale codes (blocks,), uint8 e2m1 codes (n,)) of float32 ``x``; ``s``: tensor scale or None;
    ``recip``: mode 'torchao_recip' (torchao 0.18.0: elements times fl(1/scale) or fl(fl(1/s)/scale))."""
    ml = _ml()
    x = np.asarray(x, dtype=F32).reshape(-1)
    if x.size % BLOCK:
        raise ShapeError(f"NVFP4 blocks hold {BLOCK} values; got {x.size}")
    if not np.isfinite(x).all():
        raise InvalidValueError("NVFP4 quantizes finite binary32 values")
    b = x.reshape(-1, BLOCK)
    q = np.max(np.abs(b), axis=1) / F32(6)
    if s is not None:
        q = q / F32(s)
    sc = np.clip(q, F32(2.0**-6), F32(448)).astype(ml.float8_e4m3fn)
    if recip:
        r = (F32(1) / sc.astype(F32)) if s is None else (F32(1) / F32(s)) / sc.astype(F32)
        e = np.clip(b * r[:, None], F32(-6), F32(6)).astype(ml.float4_e2m1fn)
    else:
        t = sc.astype(F32) if s is None else F32(s) * sc.astype(F32)
        e = np.clip(b / t[:, None], F32(-6), F32(6)).astype(ml.float4_e2m1fn)
    return sc.view(np.uint8), e.reshape(-1).view(np.uint8)


def dequantize(scales, codes, s=None):
    """float32 fl(e2m1 · fl(s · scale))."""
    ml = _ml()
    sc = np.asarray(scales, dtype=np.uint8).view(ml.float8_e4m3fn).astype(F32)
    t = sc if s is None else F32(s) * sc
    e = np.asarray(codes, dtype=np.uint8).view(ml.float4_e2m1fn).astype(F32).reshape(-1, BLOCK)
    return (e * t[:, None]).reshape(-1)
