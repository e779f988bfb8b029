"""numpy fast form of ``refquant.matmulnbits``: the same binary32 bits, for whole matrices.

Reproduces: onnxruntime 1.32.0 MatMulNBits as refquant/matmulnbits.py models it (dequantized weight
fl((q - zp)·s); M = 1: sixteen fused multiply-add lanes and FoldAccumulators / the reduce tree;
M > 1: one fused multiply-add chain in k order; the bias added after the sum; K not a multiple of
block_size: A padded with +0; fp16: binary32 compute, Y rounded once to binary16).
tests/test_matmulnbits.py proves it equal.
"""

import numpy as np

from ..errors import ShapeError, UnknownNameError
from .fp32 import fma32

F32 = np.float32


def _blocks(K, bits, block_size):
    """k_blocks = ceil(K / block_size) and the padded K."""
    if bits not in (4, 8):
        raise UnknownNameError("MatMulNBits bits", bits, ["4", "8"])
    if K < 1:
        raise ShapeError(f"K must be positive; got {K}")
    kb = -(-K // block_size)
    return kb, kb * block_size


def _codes(B, N, bits, kp):
    raw = np.asarray(B, dtype=np.uint8).reshape(N, -1)
    return (np.stack([raw & 0x0F, raw >> 4], axis=-1).reshape(N, -1) if bits == 4 else raw)[:, :kp].astype(np.int64)


def _zps(zp, N, bits, kb):
    if zp is None:
        return np.full((N, kb), 1 << (bits - 1), dtype=np.int64)
    zr = np.asarray(zp, dtype=np.uint8).reshape(N, -1)
    return (np.stack([zr & 0x0F, zr >> 4], axis=-1).reshape(N, -1) if bits == 4 else zr)[:, :kb].astype(np.int64)


def _pad_a(A, K, kp):
    """float32 A (M, K) extended with +0 to (M, kp), as MLAS pads the last block."""
    a = np.atleast_2d(np.asarray(A, dtype=F32))
    if a.shape[1] != K:
        raise ShapeError(f"A has {a.shape[1]} columns; expected K = {K}")
    return np.pad(a, ((0, 0), (0, kp - K))) if kp > K else a


def dequantize_b(B, scales, zp, K, N, bits, block_size):
    """float32 w[n, k] = fl((q - zp)·s), k < K."""
    kb, kp = _blocks(K, bits, block_size)
    q, z = _codes(B, N, bits, kp)[:, :K], _zps(zp, N, bits, kb)
    d = (q - np.repeat(z, block_size, axis=1)[:, :K]).astype(F32)
    s = np.repeat(np.asarray(scales, dtype=F32).reshape(N, kb), block_size, axis=1)[:, :K]
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


def _bias_add(y, bias):
    return y if bias is None else (y + np.asarray(bias, dtype=F32)[None, :]).astype(F32)


def matmul_ort_mlas_avx512(A, B, scales, zp, K, N, bits, block_size, bias=None):
    """float32 Y (M, N) as onnxruntime 1.32.0's AVX-512 CPU kernel computes it (levels 0-3, one thread)."""
    return _float_path(A, B, scales, zp, K, N, bits, block_size, bias)


def _m1_transpose_b(a, w, N, K):
    """8-bit B, M = 1: eight unfused mul + add lanes and the kernel's per-row-group horizontal sums
    (refquant.matmulnbits.m1_transpose_b_lanes / m1_transpose_b_sum)."""
    k8 = -(-K // 8) * 8      # the masked tail adds +0 products: a lane that is never -0 is unchanged
    a, w = _pad_a(a, K, k8), np.pad(w, ((0, 0), (0, k8 - K)))
    x = np.zeros((N, 8), dtype=F32)
    for k0 in range(0, k8, 8):
        x = (x + (w[:, k0:k0 + 8] * a[0, k0:k0 + 8][None, :]).astype(F32)).astype(F32)
    out = _fold8(x)
    full = N // 4 * 4
    pair = ((x[:, 0] + x[:, 2]) + (x[:, 4] + x[:, 6])) + ((x[:, 1] + x[:, 3]) + (x[:, 5] + x[:, 7]))
    single = ((x[:, 0] + x[:, 1]) + (x[:, 2] + x[:, 3])) + ((x[:, 4] + x[:, 5]) + (x[:, 6] + x[:, 7]))
    rest = np.arange(N) >= full
    use_pair = rest & ((N - full) & 2 > 0) & (np.arange(N) < full + 2)
    return np.where(use_pair, pair, np.where(rest, single, out)).astype(F32)[None, :]


def _float_path(A, B, scales, zp, K, N, bits, block_size, bias):
    a = _pad_a(A, K, K)
    w = dequantize_b(B, scales, zp, K, N, bits, block_size)
    if a.shape[0] == 1 and bits == 8:
        return _bias_add(_m1_transpose_b(a, w, N, K), bias)
    if a.shape[0] == 1:
        k16 = -(-K // 16) * 16      # whole lane groups: +0 terms leave a lane unchanged
        a, w = _pad_a(a, K, k16), np.pad(w, ((0, 0), (0, k16 - K)))
        lanes = np.zeros((N, 16), dtype=F32)
        for k0 in range(0, K, 16):
            lanes = fma32(w[:, k0:k0 + 16], a[0, k0:k0 + 16][None, :], lanes)
        full = N // 4 * 4
        return _bias_add(np.concatenate([fold4(lanes[:full]), reduce16(lanes[full:])])[None, :], bias)
    from ..matmulnbits import sgemm_stride_k
    chunk = sgemm_stride_k(N, K) if bits == 8 else K
    total = None if bias is None else np.broadcast_to(np.asarray(bias, dtype=F32), (a.shape[0], N))
    for k0 in range(0, K, chunk):      # C starts as the bias; each K chunk's chain is added to C
        acc = np.zeros((a.shape[0], N), dtype=F32)
        for k in range(k0, min(K, k0 + chunk)):
            acc = fma32(a[:, k][:, None], w[:, k][None, :], acc)
        total = acc if total is None else (total + acc).astype(F32)
    return total



def _round_once(values, dt=F32):
    """binary32 (or binary16, dt) of an exact sum given as (math.fsum's correctly rounded binary64, the
    terms): RN(RN64(x)) equals RN(x) unless RN64(x) is exactly halfway between two values of dt (no
    other rounding boundary of dt can lie between x and RN64(x)); those few are summed as Fractions."""
    import math
    from fractions import Fraction

    from .. import formats
    r64 = math.fsum(values)
    r = dt(r64)
    other = np.nextafter(r, dt(np.inf) if r64 > float(r) else dt(-np.inf))
    if np.isfinite(other) and r64 != float(r) and r64 == (float(r) + float(other)) / 2:
        fmt, ut = ("fp32", np.uint32) if dt is F32 else ("fp16", np.uint16)
        return ut(formats.encode(fmt, sum((Fraction(v) for v in values), Fraction(0)))).view(dt)
    return r


def matmul_exact(A, B, scales, zp, K, N, bits, block_size, bias=None, dt=F32):
    """float32 Y = sum_k a·(q - zp)·s (+ bias) exactly, rounded once (the 'exact' variant, for whole
    matrices; dt=np.float16: rounded once to binary16).

    Each product a·(q - zp)·s is exact in binary64 when fl((q - zp)·s) is exact in binary32, which
    holds here because |q - zp| < 2^8 and s has 24 bits: (q - zp)·s has at most 32 significant bits,
    so it is formed exactly in binary64, and a times it (24 + 32 bits) too.
    """
    kb, kp = _blocks(K, bits, block_size)
    a = _pad_a(A, K, K).astype(np.float64)
    q, z = _codes(B, N, bits, kp)[:, :K], _zps(zp, N, bits, kb)
    d = (q - np.repeat(z, block_size, axis=1)[:, :K]).astype(np.float64)
    w = d * np.repeat(np.asarray(scales, dtype=F32).reshape(N, kb), block_size, axis=1)[:, :K].astype(np.float64)
    extra = [[]] * N if bias is None else [[float(v)] for v in np.asarray(bias, dtype=F32)]
    out = np.empty((a.shape[0], N), dtype=dt)
    for m in range(a.shape[0]):
        prods = a[m][None, :] * w
        for n in range(N):
            out[m, n] = _round_once(prods[n].tolist() + extra[n], dt)
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
    kb, kp = _blocks(K, bits, block_size)
    qa, sa = quantize_a_int8(_pad_a(A, K, kp), block_size)
    q, z = _codes(B, N, bits, kp), _zps(zp, N, bits, kb)
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


def matmul_ort_int8_avx512(A, B, scales, zp, K, N, bits, block_size, bias=None):
    """float32 Y as onnxruntime 1.32.0 computes accuracy_level 4 on AVX-512 VNNI, one thread
    (refquant.matmulnbits.matmul_ort_int8_avx512, for whole matrices)."""
    kb, kp = _blocks(K, bits, block_size)
    qa, sa = quantize_a_int8(_pad_a(A, K, kp), block_size)
    q, z = _codes(B, N, bits, kp), _zps(zp, N, bits, kb)
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
        if bits == 8 and block_size == 64:      # no paired rows: every row as a last odd row
            c[:, :full] = fold4(lanes[:, :full].reshape(-1, 16)).reshape(M, full)
        elif M % 2:
            c[M - 1, :full] = fold4(lanes[M - 1, :full])
    c = _bias_add(c, bias)
    ab = (sa * qa.reshape(M, kb, block_size).sum(axis=2).astype(F32)).astype(F32)
    bb = ((-z).astype(F32) * sb).astype(F32)
    t = np.zeros((M, N), dtype=F32)
    for b in range(kb):
        t = fma32(np.broadcast_to(ab[:, b][:, None], (M, N)), np.broadcast_to(bb[:, b][None, :], (M, N)), t)
    return (c + t).astype(F32)


def matmul_ort(A, B, scales, zp, K, N, bits, block_size, accuracy_level=0, bias=None):
    """The 'ort_mlas_avx512' variant at any accuracy_level: the float path (levels 0-3) or the int8
    path (level 4).  float16 A (with float16 scales and bias): computed in binary32 from the
    widened inputs, Y rounded once to float16, as onnxruntime 1.32.0 does on x86."""
    half = np.asarray(A).dtype == np.float16
    if accuracy_level == 4:
        y = matmul_ort_int8_avx512(A, B, scales, zp, K, N, bits, block_size, bias)
    else:
        y = matmul_ort_mlas_avx512(A, B, scales, zp, K, N, bits, block_size, bias)
    return y.astype(np.float16) if half else y
