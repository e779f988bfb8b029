"""ONNX Runtime com.microsoft MatMulNBits: Y = A · dequantize(B)ᵀ with blockwise n-bit B, exactly.

Sources (read, not copied): the contrib op schema (onnxruntime docs, "Contrib operators":
MatMulNBits: B uint8 [N][k_blocks][blob], scales [N*k_blocks], optional packed uint8 zero points,
default zero point 2^(bits-1), attributes K, N, bits, block_size, accuracy_level) and the MLAS
kernels of onnxruntime 1.32.0 (``sqnbitgemm_kernel_avx_common_fp32.h``
``MlasQ4GemmKernelBlkLen16Avx512f`` / ``...BlkLen32PlusAvx512f``, ``FoldAccumulators``; the SGEMM
path of ``sqnbitgemm.cpp`` for M > 1; ``QuantizeARow_CompInt8`` for accuracy_level 4's A).
docs/llm-formats.md §2 lists what was measured, the named deviation, and what is not modelled
(accuracy_level 4's float order, 8-bit B with M = 1 or N > 64).

Values: A and the scales are binary32 values (numbers or ``formats.Real``); B and the zero points
are bytes as stored in the ONNX initializers.  Results are binary32 bit patterns.

Variants (``VARIANTS['matmul_nbits']``):
  ``exact``             the specification ideal: sum of a·(q - zp)·s in rationals, rounded once;
  ``ort_mlas_avx512``   what onnxruntime 1.32.0's CPU kernel computes on an AVX-512 machine with
                        one thread: accuracy_level 0/1 (float compute): the dequantized weight
                        w = fl((q - zp)·s); M = 1: sixteen lanes (lane = k mod 16) of fused
                        multiply-adds in k order, then FoldAccumulators (per 4 columns) or the
                        GCC _mm512_reduce_add_ps tree (the remaining columns); M > 1: the SGEMM
                        kernel's one fused multiply-add chain in k order per output.
"""

from fractions import Fraction

from . import formats as _f
from .errors import InvalidValueError, ShapeError, UnknownNameError

F32 = "fp32"
ZERO = _f.Real("finite", 0)


def _fp32(x, what):
    v = _f.real(x)
    if not v.is_finite or not _f.representable(F32, v):
        raise InvalidValueError(f"MatMulNBits {what} must be finite binary32 values; got {x!r}")
    return v


def _check(K, N, bits, block_size):
    if bits not in (4, 8):
        raise UnknownNameError("MatMulNBits bits", bits, ["4", "8"])
    if not isinstance(block_size, int) or block_size < 16 or block_size & (block_size - 1):
        raise ShapeError(f"block_size must be a power of two >= 16; got {block_size!r}")
    if K % block_size:
        raise ShapeError(f"K = {K} is not a multiple of block_size {block_size} (padded tails are not modelled)")
    return K // block_size


def codes(B, K, N, bits, block_size):
    """q[n][k]: the unsigned codes of B (4 bits: element 2j in the low nibble of byte j)."""
    kb = _check(K, N, bits, block_size)
    data = bytes(B)
    per_n = kb * block_size * bits // 8
    if len(data) != N * per_n:
        raise ShapeError(f"B holds {len(data)} bytes; [N={N}][{kb}][{block_size * bits // 8}] is {N * per_n}")
    if bits == 8:
        return [list(data[n * per_n:(n + 1) * per_n]) for n in range(N)]
    return [[(data[n * per_n + k // 2] >> (4 * (k % 2))) & 0x0F for k in range(K)] for n in range(N)]


def zero_points(zp, K, N, bits, block_size):
    """zp[n][block]: the packed uint8 zero points, or 2^(bits-1) everywhere when absent."""
    kb = _check(K, N, bits, block_size)
    if zp is None:
        return [[1 << (bits - 1)] * kb for _ in range(N)]
    data = bytes(zp)
    per_n = (kb * bits + 7) // 8
    if len(data) != N * per_n:
        raise ShapeError(f"zero_points hold {len(data)} bytes; expected N * ceil(k_blocks*bits/8) = {N * per_n}")
    if bits == 8:
        return [list(data[n * per_n:(n + 1) * per_n]) for n in range(N)]
    return [[(data[n * per_n + b // 2] >> (4 * (b % 2))) & 0x0F for b in range(kb)] for n in range(N)]


def dequantize_b(B, scales, zp, K, N, bits, block_size, exact=False):
    """w[n][k] = (q - zp)·s: binary32 Reals fl((q - zp)·s) as MLAS computes them (exact=True: Fractions)."""
    kb = _check(K, N, bits, block_size)
    q, z = codes(B, K, N, bits, block_size), zero_points(zp, K, N, bits, block_size)
    s = [_fp32(v, "scales") for v in scales]
    if len(s) != N * kb:
        raise ShapeError(f"scales hold {len(s)} values; expected N * k_blocks = {N * kb}")
    out = []
    for n in range(N):
        row = []
        for k in range(K):
            b = k // block_size
            d, sc = q[n][k] - z[n][b], s[n * kb + b]
            row.append(d * sc.value if exact else _f.decode(F32, _f.mul(F32, d, sc)))
        out.append(row)
    return out


def _rows(A, K):
    rows = [[_fp32(v, "A") for v in r] for r in A]
    if any(len(r) != K for r in rows):
        raise ShapeError(f"every row of A must hold K = {K} values")
    return rows


def matmul_exact(A, B, scales, zp, K, N, bits, block_size, accuracy_level=0):
    """The specification ideal: Y[m][n] = sum_k a·(q - zp)·s exactly, rounded once to binary32.

    Reproduces: onnxruntime contrib operator MatMulNBits (dequantize B blockwise, then MatMul), 1.32.0.
    """
    w = dequantize_b(B, scales, zp, K, N, bits, block_size, exact=True)
    return [[_f.encode(F32, sum((a.value * x for a, x in zip(row, w[n])), Fraction(0))) for n in range(N)]
            for row in _rows(A, K)]


def _fma(a, b, c):
    return _f.decode(F32, _f.fma(F32, a, b, c))


def _add(a, b):
    return _f.decode(F32, _f.add(F32, a, b))


def fold4(x):
    """FoldAccumulators for one column: per 128-bit group ((x0+x1)+x2)+x3, then (g0+g2)+(g1+g3)."""
    # Reproduces: onnxruntime 1.32.0 mlas sqnbitgemm_kernel_avx_common.h FoldAccumulators (__m512)
    g = [_add(_add(_add(x[4 * i], x[4 * i + 1]), x[4 * i + 2]), x[4 * i + 3]) for i in range(4)]
    return _add(_add(g[0], g[2]), _add(g[1], g[3]))


def reduce16(x):
    """GCC's _mm512_reduce_add_ps: halves added lane-wise 16 -> 8 -> 4 -> 2 -> 1."""
    # Reproduces: GCC avx512fintrin.h _mm512_reduce_add_ps (__MM512_REDUCE_OP tree)
    while len(x) > 1:
        h = len(x) // 2
        x = [_add(x[i], x[i + h]) for i in range(h)]
    return x[0]


def _gemv_lanes(a, w):
    lanes = [ZERO] * 16
    for k, (x, y) in enumerate(zip(a, w)):
        lanes[k % 16] = _fma(y, x, lanes[k % 16])
    return lanes


def matmul_ort_mlas_avx512(A, B, scales, zp, K, N, bits, block_size, accuracy_level=0):
    """onnxruntime 1.32.0 CPU MatMulNBits on AVX-512, one thread (see the module docstring).

    Reproduces: onnxruntime 1.32.0 mlas SQNBitGemm CompFp32 (M = 1: MlasQ4GemmKernelBlkLen*Avx512f;
    M > 1: dequantize B, then MlasSgemm's fused multiply-add chain).
    """
    if accuracy_level not in (0, 1, 2, 3):
        raise UnknownNameError("MatMulNBits accuracy_level modelled for ort_mlas_avx512", accuracy_level, ["0", "1", "2", "3"])
    w = dequantize_b(B, scales, zp, K, N, bits, block_size)
    rows = _rows(A, K)
    if len(rows) == 1:
        full = N // 4 * 4
        return [[_f.encode(F32, (fold4 if n < full else reduce16)(_gemv_lanes(rows[0], w[n]))) for n in range(N)]]
    out = []
    for a in rows:
        line = []
        for n in range(N):
            acc = ZERO
            for x, y in zip(a, w[n]):
                acc = _fma(x, y, acc)
            line.append(_f.encode(F32, acc))
        out.append(line)
    return out


def quantize_a_int8(row, block_size):
    """accuracy_level 4: A quantized per block of ``block_size`` to int8 as MLAS does:
    sa = fl(amax/127), q = RNE(fl(a · fl(127/amax))) (0 and sa = 0 for an all-zero block).

    Returns (codes, block scales as binary32 Reals).  Measured on onnxruntime 1.32.0 (AVX-512):
    tests/test_matmulnbits.py recovers every code through the kernel.
    Reproduces: onnxruntime 1.32.0 mlas QuantizeARow_CompInt8 (AVX-512).
    """
    vals = [_fp32(v, "A") for v in row]
    if len(vals) % block_size:
        raise ShapeError(f"a row of {len(vals)} values is not a multiple of block_size {block_size}")
    codes, scales = [], []
    for i in range(0, len(vals), block_size):
        block = vals[i:i + block_size]
        amax = max(v.mag for v in block)
        if amax == 0:
            codes += [0] * block_size
            scales.append(ZERO)
            continue
        scales.append(_f.decode(F32, _f.div(F32, amax, 127)))
        inv = _f.decode(F32, _f.div(F32, 127, amax))
        codes += [_round_even(_f.value_of(F32, _f.mul(F32, v, inv))) for v in block]
    return codes, scales


def _round_even(x):
    n, d = x.numerator, x.denominator
    q, r = divmod(n, d)
    if 2 * r > d or (2 * r == d and q % 2):
        q += 1
    return q


def matmul_exact_int8(A, B, scales, zp, K, N, bits, block_size, accuracy_level=4):
    """accuracy_level 4's integer semantics with an exact float part: A quantized per block as MLAS
    does (``quantize_a_int8``), then sum over blocks of sa · s · sum_k qa·(q - zp), exactly, rounded once.

    Reproduces: onnxruntime contrib MatMulNBits accuracy_level 4 (int8 compute), MLAS A quantization 1.32.0.
    """
    q, z = codes(B, K, N, bits, block_size), zero_points(zp, K, N, bits, block_size)
    kb = K // block_size
    s = [_fp32(v, "scales").value for v in scales]
    out = []
    for row in A:
        qa, sa = quantize_a_int8(row, block_size)
        line = []
        for n in range(N):
            total = Fraction(0)
            for b in range(kb):
                lo = b * block_size
                isum = sum(qa[k] * (q[n][k] - z[n][b]) for k in range(lo, lo + block_size))
                total += sa[b].value * s[n * kb + b] * isum
            line.append(_f.encode(F32, total))
        out.append(line)
    return out


VARIANTS = {"matmul_nbits": {"exact": matmul_exact, "ort_mlas_avx512": matmul_ort_mlas_avx512}}
