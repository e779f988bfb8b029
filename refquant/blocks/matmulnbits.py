"""numpy fast form of ``refquant.matmulnbits``: the same binary32 bits, for whole matrices.

Reproduces: onnxruntime 1.32.0 MatMulNBits as refquant/matmulnbits.py models it (dequantized weight
fl((q - zp)·s); M = 1: sixteen fused multiply-add lanes and FoldAccumulators / the reduce tree;
M > 1: one fused multiply-add chain in k order).  tests/test_matmulnbits.py proves it equal.
"""

import numpy as np

from ..errors import ShapeError, UnknownNameError
from .fp32 import fma32

F32 = np.float32


def dequantize_b(B, scales, zp, K, N, bits, block_size):
    """float32 w[n, k] = fl((q - zp)·s)."""
    if bits not in (4, 8):
        raise UnknownNameError("MatMulNBits bits", bits, ["4", "8"])
    if K % block_size:
        raise ShapeError(f"K = {K} is not a multiple of block_size {block_size}")
    kb = K // block_size
    raw = np.asarray(B, dtype=np.uint8).reshape(N, -1)
    q = np.stack([raw & 0x0F, raw >> 4], axis=-1).reshape(N, -1)[:, :K] if bits == 4 else raw[:, :K]
    if zp is None:
        z = np.full((N, kb), 1 << (bits - 1), dtype=np.int32)
    else:
        zr = np.asarray(zp, dtype=np.uint8).reshape(N, -1)
        z = (np.stack([zr & 0x0F, zr >> 4], axis=-1).reshape(N, -1) if bits == 4 else zr)[:, :kb].astype(np.int32)
    d = (q.astype(np.int32) - np.repeat(z, block_size, axis=1)).astype(F32)
    s = np.repeat(np.asarray(scales, dtype=F32).reshape(N, kb), block_size, axis=1)
    return d * s


def fold4(acc):
    """FoldAccumulators per column over (N, 16) lanes."""
    g = [((acc[:, 4 * i] + acc[:, 4 * i + 1]) + acc[:, 4 * i + 2]) + acc[:, 4 * i + 3] for i in range(4)]
    return (g[0] + g[2]) + (g[1] + g[3])


def reduce16(acc):
    """GCC _mm512_reduce_add_ps over (N, 16) lanes: halves added 16 -> 8 -> 4 -> 2 -> 1."""
    while acc.shape[1] > 1:
        h = acc.shape[1] // 2
        acc = acc[:, :h] + acc[:, h:]
    return acc[:, 0]


def matmul_ort_mlas_avx512(A, B, scales, zp, K, N, bits, block_size):
    """float32 Y (M, N) as onnxruntime 1.32.0's AVX-512 CPU kernel computes it (levels 0-3, one thread)."""
    a = np.atleast_2d(np.asarray(A, dtype=F32))
    w = dequantize_b(B, scales, zp, K, N, bits, block_size)
    if a.shape[0] == 1:
        lanes = np.zeros((N, 16), dtype=F32)
        for k0 in range(0, K, 16):
            lanes = fma32(w[:, k0:k0 + 16], a[0, k0:k0 + 16][None, :], lanes)
        full = N // 4 * 4
        return np.concatenate([fold4(lanes[:full]), reduce16(lanes[full:])])[None, :]
    from ..matmulnbits import sgemm_stride_k
    chunk = sgemm_stride_k(N, K) if bits == 8 else K
    total = None
    for k0 in range(0, K, chunk):
        acc = np.zeros((a.shape[0], N), dtype=F32)
        for k in range(k0, min(K, k0 + chunk)):
            acc = fma32(a[:, k][:, None], w[:, k][None, :], acc)
        total = acc if total is None else (total + acc).astype(F32)
    return total



def _round_once(values):
    """binary32 of an exact sum given as (math.fsum's correctly rounded binary64, the terms): RN32(RN64(x))
    equals RN32(x) unless RN64(x) is exactly halfway between two binary32 values (no other binary32
    rounding boundary can lie between x and RN64(x)); those few are summed as Fractions."""
    import math
    from fractions import Fraction

    from .. import formats
    r64 = math.fsum(values)
    r32 = np.float32(r64)
    other = np.nextafter(r32, np.float32(np.inf) if r64 > float(r32) else np.float32(-np.inf))
    if np.isfinite(other) and r64 != float(r32) and r64 == (float(r32) + float(other)) / 2:
        return np.uint32(formats.encode("fp32", sum((Fraction(v) for v in values), Fraction(0)))).view(F32)
    return r32


def matmul_exact(A, B, scales, zp, K, N, bits, block_size):
    """float32 Y = sum_k a·(q - zp)·s exactly, rounded once (the 'exact' variant, for whole matrices).

    Each product a·(q - zp)·s is exact in binary64 when fl((q - zp)·s) is exact in binary32, which
    holds here because |q - zp| < 2^8 and s has 24 bits: (q - zp)·s has at most 32 significant bits,
    so it is formed exactly in binary64, and a times it (24 + 32 bits) too.
    """
    a = np.atleast_2d(np.asarray(A, dtype=F32)).astype(np.float64)
    if bits not in (4, 8):
        raise UnknownNameError("MatMulNBits bits", bits, ["4", "8"])
    kb = K // block_size
    raw = np.asarray(B, dtype=np.uint8).reshape(N, -1)
    q = np.stack([raw & 0x0F, raw >> 4], axis=-1).reshape(N, -1)[:, :K] if bits == 4 else raw[:, :K]
    if zp is None:
        z = np.full((N, kb), 1 << (bits - 1), dtype=np.int64)
    else:
        zr = np.asarray(zp, dtype=np.uint8).reshape(N, -1)
        z = (np.stack([zr & 0x0F, zr >> 4], axis=-1).reshape(N, -1) if bits == 4 else zr)[:, :kb].astype(np.int64)
    d = (q.astype(np.int64) - np.repeat(z, block_size, axis=1)).astype(np.float64)
    w = d * np.repeat(np.asarray(scales, dtype=F32).reshape(N, kb), block_size, axis=1).astype(np.float64)
    out = np.empty((a.shape[0], N), dtype=F32)
    for m in range(a.shape[0]):
        prods = a[m][None, :] * w
        for n in range(N):
            out[m, n] = _round_once(prods[n].tolist())
    return out


def quantize_a_int8(a, block_size):
    """(int64 codes (M, K), float32 scales (M, K/block_size)): MLAS's accuracy_level 4 A quantization,
    sa = fl(amax/127), q = RNE(fl(a · fl(127/amax))) (refquant.matmulnbits.quantize_a_int8)."""
    a = np.atleast_2d(np.asarray(a, dtype=F32))
    blocks = a.reshape(a.shape[0], -1, block_size)
    amax = np.abs(blocks).max(axis=2)
    safe = np.where(amax > 0, amax, F32(1))
    sa = np.where(amax > 0, amax / F32(127), F32(0)).astype(F32)
    inv = np.where(amax > 0, F32(127) / safe, F32(0)).astype(F32)
    return np.rint(blocks * inv[:, :, None]).astype(np.int64).reshape(a.shape), sa


def int8_terms(A, B, scales, zp, K, N, bits, block_size):
    """(value, magnitude) float64 (M, N): accuracy_level 4's integer semantics with the float part in
    binary64 (sum over blocks of sa · s · sum qa·(q - zp)), and the sum of the magnitudes of the terms
    MLAS adds (sa · s · (sum |qa|·q + zp·|sum qa|)) that bounds its binary32 rounding error."""
    qa, sa = quantize_a_int8(A, block_size)
    kb = K // block_size
    raw = np.asarray(B, dtype=np.uint8).reshape(N, -1)
    q = (np.stack([raw & 0x0F, raw >> 4], axis=-1).reshape(N, -1) if bits == 4 else raw)[:, :K].astype(np.int64)
    if zp is None:
        z = np.full((N, kb), 1 << (bits - 1), dtype=np.int64)
    else:
        zr = np.asarray(zp, dtype=np.uint8).reshape(N, -1)
        z = (np.stack([zr & 0x0F, zr >> 4], axis=-1).reshape(N, -1) if bits == 4 else zr)[:, :kb].astype(np.int64)
    qa3, q3 = qa.reshape(qa.shape[0], kb, block_size), q.reshape(N, kb, block_size)
    isum = np.einsum("mbk,nbk->mnb", qa3, q3) - np.einsum("mb,nb->mnb", qa3.sum(axis=2), z)
    mag = np.einsum("mbk,nbk->mnb", np.abs(qa3), q3) + np.einsum("mb,nb->mnb", np.abs(qa3.sum(axis=2)), z)
    w = sa.astype(np.float64)[:, None, :] * np.asarray(scales, dtype=F32).reshape(N, kb).astype(np.float64)[None]
    return (w * isum).sum(axis=2), (w * mag).sum(axis=2)


def _fold8(x):
    g = [((x[:, 4 * i] + x[:, 4 * i + 1]) + x[:, 4 * i + 2]) + x[:, 4 * i + 3] for i in range(2)]
    return g[0] + g[1]


def _int8_lanes(qa, q, sab, block_size, kb):
    """(M, N, lanes) float32 after the kernel's k loop; sab (M, N, kb) = fl(sa·sb)."""
    from ..matmulnbits import lane_plan
    M, N = qa.shape[0], q.shape[0]
    lanes = np.zeros((M, N, 16), dtype=F32)
    halved = False
    for step in lane_plan(block_size, kb):
        if block_size <= 32 and not halved and len(step) == 8:
            lanes, halved = (lanes[:, :, :8] + lanes[:, :, 8:]).astype(F32), True
        for lane, els, b in step:
            isum = (qa[:, els] @ q[:, els].T).astype(F32)
            lanes[:, :, lane] = fma32(isum, sab[:, :, b], lanes[:, :, lane])
    if block_size <= 32 and not halved:
        lanes = (lanes[:, :, :8] + lanes[:, :, 8:]).astype(F32)
    return lanes


def matmul_ort_int8_avx512(A, B, scales, zp, K, N, bits, block_size):
    """float32 Y as onnxruntime 1.32.0 computes accuracy_level 4 with 4-bit B on AVX-512 VNNI, one
    thread (refquant.matmulnbits.matmul_ort_int8_avx512, for whole matrices)."""
    if bits != 4:
        raise UnknownNameError("MatMulNBits bits modelled for accuracy_level 4", bits, ["4"])
    qa, sa = quantize_a_int8(A, block_size)
    kb = K // block_size
    raw = np.asarray(B, dtype=np.uint8).reshape(N, -1)
    q = np.stack([raw & 0x0F, raw >> 4], axis=-1).reshape(N, -1)[:, :K].astype(np.int64)
    if zp is None:
        z = np.full((N, kb), 8, dtype=np.int64)
    else:
        zr = np.asarray(zp, dtype=np.uint8).reshape(N, -1)
        z = np.stack([zr & 0x0F, zr >> 4], axis=-1).reshape(N, -1)[:, :kb].astype(np.int64)
    sb = np.asarray(scales, dtype=F32).reshape(N, kb)
    sab = (sa[:, None, :] * sb[None, :, :]).astype(F32)
    lanes = _int8_lanes(qa, q, sab, block_size, kb)
    M, full = qa.shape[0], N // 4 * 4
    c = np.empty((M, N), dtype=F32)
    if lanes.shape[2] == 8:
        c[:, :full] = _fold8(lanes[:, :full].reshape(-1, 8)).reshape(M, full)
        c[:, full:] = reduce16(lanes[:, full:].reshape(-1, 8)).reshape(M, N - full)
    else:
        c[:] = reduce16(lanes.reshape(-1, 16)).reshape(M, N)
        if M % 2:
            c[M - 1, :full] = fold4(lanes[M - 1, :full])
    ab = (sa * qa.reshape(M, kb, block_size).sum(axis=2).astype(F32)).astype(F32)
    bb = ((-z).astype(F32) * sb).astype(F32)
    t = np.zeros((M, N), dtype=F32)
    for b in range(kb):
        t = fma32(np.broadcast_to(ab[:, b][:, None], (M, N)), np.broadcast_to(bb[:, b][None, :], (M, N)), t)
    return (c + t).astype(F32)


def matmul_ort(A, B, scales, zp, K, N, bits, block_size, accuracy_level=0):
    """The 'ort_mlas_avx512' variant at any accuracy_level: the float path (levels 0-3) or the int8
    path (level 4, 4-bit B)."""
    if accuracy_level == 4:
        return matmul_ort_int8_avx512(A, B, scales, zp, K, N, bits, block_size)
    return matmul_ort_mlas_avx512(A, B, scales, zp, K, N, bits, block_size)
