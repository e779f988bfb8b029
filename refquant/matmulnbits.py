"""ONNX Runtime com.microsoft MatMulNBits: Y = A · dequantize(B)ᵀ with blockwise n-bit B, exactly.

Sources (read, not copied): the contrib op schema (onnxruntime docs, "Contrib operators":
MatMulNBits: B uint8 [N][k_blocks][blob], scales [N*k_blocks], optional packed uint8 zero points,
default zero point 2^(bits-1), attributes K, N, bits, block_size, accuracy_level) and the MLAS
kernels of onnxruntime 1.32.0 (``sqnbitgemm_kernel_avx_common_fp32.h``
``MlasQ4GemmKernelBlkLen16Avx512f`` / ``...BlkLen32PlusAvx512f``, ``FoldAccumulators``; the SGEMM
path of ``sqnbitgemm.cpp`` for M > 1; ``x86_64/SgemmKernelM1TransposeBAvx.S`` for 8-bit B at M = 1;
``QuantizeARow_CompInt8`` for accuracy_level 4's A).  docs/llm-formats.md §2 lists what was measured,
the named deviations, and what is not modelled.

Values: A, the scales and the optional bias are binary32 values (numbers or ``formats.Real``), or
binary16 values with ``dtype='fp16'``; B and the zero points are bytes as stored in the ONNX
initializers.  Results are binary32 (binary16) bit patterns.

K need not be a multiple of block_size: B holds ceil(K/block_size) blocks per column, the last one
padded; MLAS extends A with +0 to the padded length (at accuracy_level 4 the last, short block of A
is quantized over its real elements, the padding giving code 0), so the padding codes of B multiply
zeros and never change a bit (measured on 1.32.0 with random padding codes).  The bias [N]: float
path, M = 1: fl(y + bias) after the lanes' sum; M > 1: C starts as the bias and each K chunk's chain
is added to it (one chunk for 4-bit B: fl(bias + chain)); accuracy_level 4: fl(fl(c + bias) + t),
before the zero-point term.  fp16 A (with fp16 scales and bias): onnxruntime 1.32.0 on x86 widens A, the
scales and the bias to binary32, computes as for binary32, and rounds Y once to binary16 (RNE).

Variants (``VARIANTS['matmul_nbits']``):
  ``exact``             the specification ideal: sum of a·(q - zp)·s in rationals, rounded once;
  ``ort_mlas_avx512``   what onnxruntime 1.32.0's CPU kernel computes on an AVX-512 machine with
                        one thread: accuracy_level 0/1 (float compute): the dequantized weight
                        w = fl((q - zp)·s); M = 1: sixteen lanes (lane = k mod 16) of fused
                        multiply-adds in k order, then FoldAccumulators (per 4 columns) or the
                        GCC _mm512_reduce_add_ps tree (the remaining columns); 8-bit B at M = 1:
                        MlasSgemmKernelM1TransposeBAvx's eight unfused mul + add lanes and its
                        4x1 / 2x1 / 1x1 horizontal sums; M > 1: the SGEMM
                        kernel's one fused multiply-add chain in k order per output (8-bit B:
                        MlasSgemm's K chunks, ``sgemm_stride_k``, each chain added to C,
                        which starts as the bias when there is one);
                        accuracy_level 4: the int8 path, ``matmul_ort_int8_avx512``.
"""

from fractions import Fraction

from . import formats as _f
from .errors import InvalidValueError, ShapeError, UnknownNameError
from .trace import note

F32 = "fp32"
ZERO = _f.Real("finite", 0)


def _fp32(x, what):
    v = _f.real(x)
    if not v.is_finite or not _f.representable(F32, v):
        raise InvalidValueError(f"MatMulNBits {what} must be finite binary32 values; got {x!r}")
    return v


def _check(K, N, bits, block_size):
    """k_blocks = ceil(K / block_size) (the last block padded when block_size does not divide K)."""
    if bits not in (4, 8):
        raise UnknownNameError("MatMulNBits bits", bits, ["4", "8"])
    if not isinstance(block_size, int) or block_size < 16 or block_size & (block_size - 1):
        raise ShapeError(f"block_size must be a power of two >= 16; got {block_size!r}")
    if not isinstance(K, int) or K < 1:
        raise ShapeError(f"K must be a positive integer; got {K!r}")
    return -(-K // block_size)


def codes(B, K, N, bits, block_size):
    """q[n][k]: the unsigned codes of B (4 bits: element 2j in the low nibble of byte j), all
    k_blocks·block_size stored codes per column (those past K are the padding of the last block)."""
    kb = _check(K, N, bits, block_size)
    data = bytes(B)
    per_n = kb * block_size * bits // 8
    if len(data) != N * per_n:
        raise ShapeError(f"B holds {len(data)} bytes; [N={N}][{kb}][{block_size * bits // 8}] is {N * per_n}")
    if bits == 8:
        return [list(data[n * per_n:(n + 1) * per_n]) for n in range(N)]
    return [[(data[n * per_n + k // 2] >> (4 * (k % 2))) & 0x0F for k in range(kb * block_size)] for n in range(N)]


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


DTYPES = ("fp32", "fp16")


def _io(A, scales, bias, N, dtype):
    """Check the binary16 inputs of dtype 'fp16' (A, scales, bias must be binary16 values; they widen
    exactly to binary32) and the bias length; returns the bias as binary32 Reals (or None)."""
    if dtype not in DTYPES:
        raise UnknownNameError("MatMulNBits dtype", dtype, list(DTYPES))
    if dtype == "fp16":
        for what, vals in (("A", [v for r in A for v in r]), ("scales", scales), ("bias", bias or [])):
            for v in vals:
                if not _f.representable("fp16", _f.real(v)):
                    raise InvalidValueError(f"MatMulNBits {what} must be binary16 values with dtype 'fp16'; got {v!r}")
    if bias is None:
        return None
    b = [_fp32(v, "bias") for v in bias]
    if len(b) != N:
        raise ShapeError(f"bias holds {len(b)} values; expected N = {N}")
    return b


def _out(y, dtype):
    """Y as stored: binary32 bits, or (dtype 'fp16') the binary32 result rounded once to binary16."""
    return y if dtype == "fp32" else _f.encode("fp16", _f.decode(F32, y))


def matmul_exact(A, B, scales, zp, K, N, bits, block_size, accuracy_level=0, bias=None, dtype="fp32"):
    """The specification ideal: Y[m][n] = sum_k a·(q - zp)·s (+ bias[n]) exactly, rounded once to
    binary32 (binary16 with dtype 'fp16').

    Reproduces: onnxruntime contrib operator MatMulNBits (dequantize B blockwise, then MatMul), 1.32.0.
    """
    b = _io(A, scales, bias, N, dtype)
    w = dequantize_b(B, scales, zp, K, N, bits, block_size, exact=True)
    return [[_f.encode(dtype, sum((a.value * x for a, x in zip(row, w[n])), b[n].value if b else Fraction(0)))
             for n in range(N)] for row in _rows(A, K)]


def _hex(v):
    return f"{_f.to_decimal(v.value, 9)} [0x{_f.encode(F32, v):08x}]"


def _fma(a, b, c, trace=None, name="fma"):
    r = _f.decode(F32, _f.fma(F32, a, b, c))
    note(trace, name, f"fma32({_hex(a)} * {_hex(b)} + {_hex(c)}) = 0x{_f.encode(F32, r):08x}", r.value)
    return r


def _add(a, b, trace=None, name="add"):
    r = _f.decode(F32, _f.add(F32, a, b))
    note(trace, name, f"fl32({_hex(a)} + {_hex(b)}) = 0x{_f.encode(F32, r):08x}", r.value)
    return r


def fold4(x, trace=None):
    """FoldAccumulators for one column: per 128-bit group ((x0+x1)+x2)+x3, then (g0+g2)+(g1+g3)."""
    # Reproduces: onnxruntime 1.32.0 mlas sqnbitgemm_kernel_avx_common.h FoldAccumulators (__m512)
    g = []
    for i in range(4):
        t = _add(_add(x[4 * i], x[4 * i + 1], trace, f"fold g{i}"), x[4 * i + 2], trace, f"fold g{i}")
        g.append(_add(t, x[4 * i + 3], trace, f"fold g{i}"))
    return _add(_add(g[0], g[2], trace, "fold g0+g2"), _add(g[1], g[3], trace, "fold g1+g3"), trace, "fold sum")


def reduce16(x, trace=None):
    """GCC's _mm512_reduce_add_ps: halves added lane-wise 16 -> 8 -> 4 -> 2 -> 1."""
    # Reproduces: GCC avx512fintrin.h _mm512_reduce_add_ps (__MM512_REDUCE_OP tree)
    while len(x) > 1:
        h = len(x) // 2
        x = [_add(x[i], x[i + h], trace, f"tree lane {i} + {i + h}") for i in range(h)]
    return x[0]


def _mul(a, b, trace=None, name="mul"):
    r = _f.decode(F32, _f.mul(F32, a, b))
    note(trace, name, f"fl32({_hex(a)} * {_hex(b)}) = 0x{_f.encode(F32, r):08x}", r.value)
    return r


def m1_transpose_b_lanes(a, w, trace=None):
    """8-bit B, M = 1 (MlasSgemmKernelM1TransposeBAvx): eight lanes, lane i adding the products of the
    k = i (mod 8) terms in k order, each product and each sum rounded (vmulps then vaddps, no FMA)."""
    # Reproduces: onnxruntime 1.32.0 mlas x86_64/SgemmKernelM1TransposeBAvx.S (ProcessColumnLoop)
    lanes = [ZERO] * 8
    for k, (x, y) in enumerate(zip(a, w)):
        lanes[k % 8] = _add(lanes[k % 8], _mul(x, y, trace, f"product k={k}"), trace, f"lane {k % 8} k={k}")
    return lanes


def m1_transpose_b_sum(x, n, N, trace=None):
    """The kernel's horizontal sum of output n's eight lanes: outputs in full groups of four by the
    4x1 transpose (FoldAccumulators' order, ``fold8``), then a pair by the 2x1 block
    ((x0+x2)+(x4+x6)) + ((x1+x3)+(x5+x7)), then a single by vhaddps ((x0+x1)+(x2+x3)) + ((x4+x5)+(x6+x7))."""
    # Reproduces: onnxruntime 1.32.0 mlas SgemmKernelM1TransposeBAvx.S Output4x1/2x1/1x1Block
    full = N // 4 * 4
    if n < full:
        return fold8(x, trace)
    if (N - full) & 2 and n < full + 2:
        pairs = [(0, 2), (4, 6), (1, 3), (5, 7)]
    else:
        pairs = [(0, 1), (2, 3), (4, 5), (6, 7)]
    s = [_add(x[i], x[j], trace, f"hsum {i}+{j}") for i, j in pairs]
    return _add(_add(s[0], s[1], trace, "hsum"), _add(s[2], s[3], trace, "hsum"), trace, "hsum")


def _gemv_lanes(a, w, trace=None):
    lanes = [ZERO] * 16
    for k, (x, y) in enumerate(zip(a, w)):
        lanes[k % 16] = _fma(y, x, lanes[k % 16], trace, f"lane {k % 16} k={k}")
    return lanes


def matmul_ort_mlas_avx512(A, B, scales, zp, K, N, bits, block_size, accuracy_level=0, bias=None, dtype="fp32"):
    """onnxruntime 1.32.0 CPU MatMulNBits on AVX-512, one thread (see the module docstring and
    ``_float_path`` for where the bias enters).  (A padded with +0 to whole blocks leaves every lane and
    chain unchanged, so the sums run over the K real elements.)

    Reproduces: onnxruntime 1.32.0 mlas SQNBitGemm CompFp32 (M = 1: MlasQ4GemmKernelBlkLen*Avx512f;
    M > 1: dequantize B, then MlasSgemm's fused multiply-add chain).
    """
    if accuracy_level not in (0, 1, 2, 3):
        raise UnknownNameError("MatMulNBits accuracy_level modelled for ort_mlas_avx512", accuracy_level, ["0", "1", "2", "3"])
    b = _io(A, scales, bias, N, dtype)
    return [[_out(y, dtype) for y in line] for line in _float_path(A, B, scales, zp, K, N, bits, block_size, b)]


def _float_path(A, B, scales, zp, K, N, bits, block_size, bias):
    """M = 1: the lanes, their horizontal sum, then fl(y + bias[n]); M > 1: C starts as the bias
    (or the first chunk's chain), and each K chunk's chain is added to it."""
    w = dequantize_b(B, scales, zp, K, N, bits, block_size)
    rows = _rows(A, K)
    return [[_f.encode(F32, _float_output(rows, w, m, n, N, K, bits, bias)) for n in range(N)] for m in range(len(rows))]


def _float_output(rows, w, m, n, N, K, bits, bias, trace=None):
    """Output (m, n) of the float path (``trace``: every fused multiply-add and addition)."""
    if len(rows) == 1 and bits == 8:      # the lanes are never -0, so C's +0 (beta 0) changes nothing
        y = m1_transpose_b_sum(m1_transpose_b_lanes(rows[0], w[n], trace), n, N, trace)
        return _add(y, bias[n], trace, "bias") if bias else y
    if len(rows) == 1:
        y = (fold4 if n < N // 4 * 4 else reduce16)(_gemv_lanes(rows[0], w[n], trace), trace)
        return _add(y, bias[n], trace, "bias") if bias else y
    chunk = sgemm_stride_k(N, K) if bits == 8 else K
    total = bias[n] if bias else None
    for k0 in range(0, K, chunk):
        acc = ZERO
        for k, (x, y) in enumerate(zip(rows[m][k0:k0 + chunk], w[n][k0:k0 + chunk]), k0):
            acc = _fma(x, y, acc, trace, f"chain k={k}")
        total = acc if total is None else _add(total, acc, trace, f"C + chunk at k={k0}")
    return total


def sgemm_stride_k(N, K):
    """The K chunk of MlasSgemm for an N x K problem: StrideN = StrideK = 128, then StrideK doubles
    while StrideN halves (N < K: while StrideN > 16 and StrideN/2 >= N), or halves while StrideN doubles
    (N >= K: while StrideK/2 >= K).  Each chunk is one fused multiply-add chain from 0, added to C.
    Reproduces: onnxruntime 1.32.0 mlas sgemm.cpp MlasSgemmOperation stride selection (8-bit B, M > 1).
    """
    stride_n, stride_k = 128, 128
    if N >= K:
        while stride_k // 2 >= K:
            stride_n, stride_k = stride_n * 2, stride_k // 2
    else:
        while stride_n > 16 and stride_n // 2 >= N:
            stride_n, stride_k = stride_n // 2, stride_k * 2
    return stride_k


def quantize_a_int8(row, block_size, trace=None):
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
        note(trace, f"A block {i // block_size}", f"amax = {_f.to_decimal(amax, 9)}, sa = fl32(amax/127) = "
             f"{_hex(scales[-1])}, fl32(127/amax) = {_hex(inv)}, codes RNE(fl32(a*that)) = {codes[i:]}", scales[-1].value)
    return codes, scales


def _round_even(x):
    n, d = x.numerator, x.denominator
    q, r = divmod(n, d)
    if 2 * r > d or (2 * r == d and q % 2):
        q += 1
    return q


def _padded_rows(A, K, block_size):
    """A's rows extended with +0 to whole blocks, as MLAS pads the last block (K not a multiple)."""
    kp = -(-K // block_size) * block_size
    return [r + [ZERO] * (kp - K) for r in _rows(A, K)]


def matmul_exact_int8(A, B, scales, zp, K, N, bits, block_size, accuracy_level=4):
    """accuracy_level 4's integer semantics with an exact float part: A quantized per block as MLAS
    does (``quantize_a_int8``), then sum over blocks of sa · s · sum_k qa·(q - zp), exactly, rounded once.

    Reproduces: onnxruntime contrib MatMulNBits accuracy_level 4 (int8 compute), MLAS A quantization 1.32.0.
    """
    q, z = codes(B, K, N, bits, block_size), zero_points(zp, K, N, bits, block_size)
    kb = _check(K, N, bits, block_size)
    s = [_fp32(v, "scales").value for v in scales]
    out = []
    for row in _padded_rows(A, K, block_size):
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


# ---------------------------------------------------------------------------------------------
# accuracy_level 4 on AVX-512 VNNI: the lane structure of the int8 kernels
# ---------------------------------------------------------------------------------------------

def _pair_lane(G, i):
    """Elements (within a 128-element group) summed into lane 4G + i by the unpack-and-add of two
    dot vectors: {off+16G+4h .. +3} and {off+16G+8+4h .. +3}, off = 64·(i // 2), h = i % 2."""
    off, h = 64 * (i // 2), i % 2
    return [off + 16 * G + 4 * h + t for t in range(4)] + [off + 16 * G + 8 + 4 * h + t for t in range(4)]


def _blk64_lane(G, i):
    """blklen 64, two blocks per step: lanes alternate the blocks (i % 2), element sets by i // 2."""
    h = i // 2
    base = 64 * (i % 2)
    return [base + 16 * G + 4 * h + t for t in range(4)] + [base + 16 * G + 8 + 4 * h + t for t in range(4)]


def lane_plan(block_size, kb):
    """The accumulation steps of the int8 kernel for one output: each step a list of (lane, element
    indices in K, block), one fused multiply-add of the lane's integer sum by fl(sa·sb) per lane."""
    # Reproduces: onnxruntime 1.32.0 mlas sqnbitgemm_kernel_avx512_int8_blklen{16,32,64,128}.h
    steps, j = [], 0
    group = {16: 8, 32: 4, 64: 2}.get(block_size, 1)
    while group > 1 and kb - j >= group:
        base = j * block_size
        lane = _blk64_lane if block_size == 64 else _pair_lane
        step = [(4 * G + i, [base + e for e in lane(G, i)]) for G in range(4) for i in range(4)]
        steps.append([(ln, els, els[0] // block_size) for ln, els in step])
        j += group
    tail = {16: (8, 2), 32: (8, 4)}.get(block_size, (16, 4))
    for b in range(j, kb):
        base = b * block_size
        for sub in range(max(1, block_size // 128)):
            off = base + 128 * sub
            if block_size >= 128:
                els = [[off + 4 * L + t for t in range(4)] + [off + 64 + 4 * L + t for t in range(4)] for L in range(16)]
            else:
                els = [[off + tail[1] * L + t for t in range(tail[1])] for L in range(tail[0])]
            steps.append([(L, e, b) for L, e in enumerate(els)])
    return steps


def fold8(x, trace=None):
    """FoldAccumulators (__m256) for one column: per 128-bit group ((x0+x1)+x2)+x3, then g0 + g1."""
    g = []
    for i in range(2):
        t = _add(_add(x[4 * i], x[4 * i + 1], trace, f"fold g{i}"), x[4 * i + 2], trace, f"fold g{i}")
        g.append(_add(t, x[4 * i + 3], trace, f"fold g{i}"))
    return _add(g[0], g[1], trace, "fold sum")


def _int8_lanes(prod, sab, block_size, kb, trace=None):
    """The lanes of one output after the kernel's k loop (16, or 8 after h_add_512 for blklen <= 32)."""
    lanes = [ZERO] * 16
    steps = lane_plan(block_size, kb)
    halved = False
    for step in steps:
        if block_size <= 32 and not halved and len(step) == 8:
            lanes, halved = [_add(lanes[i], lanes[i + 8], trace, f"halve lane {i}") for i in range(8)], True
        for lane, els, b in step:
            isum = sum(prod[e] for e in els)
            note(trace, f"lane {lane} isum", f"block {b}: sum qa*q over elements {els[0]}..{els[-1]} ({len(els)})", isum)
            lanes[lane] = _fma(c_float32(isum), sab[b], lanes[lane], trace, f"lane {lane} fma")
    if block_size <= 32 and not halved:
        lanes = [_add(lanes[i], lanes[i + 8], trace, f"halve lane {i}") for i in range(8)]
    return lanes


def c_float32(n):
    """(float) of a C int (exact below 2^24)."""
    return _f.decode(F32, _f.encode(F32, n))


def _int8_reduce(lanes, m, M, n, N, trace=None, pairs=True):
    """Which horizontal sum the kernel tile uses: 8 lanes: FoldAccumulators for the columns in full
    groups of four, hsum_float_8 (= the halving tree) for the rest; 16 lanes: the halving tree for
    rows in pairs, FoldAccumulators / tree for a last odd row (``pairs`` False, 8-bit B with
    blklen 64: every row as a last odd row)."""
    full = n < N // 4 * 4
    if len(lanes) == 8:
        return fold8(lanes, trace) if full else reduce16(lanes, trace)
    paired = pairs and m < M - M % 2
    return fold4(lanes, trace) if (full and not paired) else reduce16(lanes, trace)


def matmul_ort_int8_avx512(A, B, scales, zp, K, N, bits, block_size, accuracy_level=4, bias=None, dtype="fp32"):
    """onnxruntime 1.32.0 CPU MatMulNBits, accuracy_level 4, on AVX-512 VNNI, one thread.

    A per block to int8 (``quantize_a_int8``); per output the integer sums of unsigned codes,
    lane by lane as the VNNI kernel of the block size groups them, fused-multiply-added with
    fl(sa·sb) in block order, the lanes summed (``_int8_reduce``) into c; with a bias c = fl(c + bias[n]);
    then the zero-point term t, a fused multiply-add chain over blocks of fl(sa·Σqa) · fl(-zp·sb)
    from +0, added once: fl(c + t).  K not a multiple of block_size: A padded with +0.  8-bit B: the
    same lanes and sums over the 8-bit codes (zero point 128 by default), except that with blklen
    64 no rows are paired (measured on 1.32.0: 320 configurations, 0 mismatches).
    Reproduces: onnxruntime 1.32.0 mlas SQ4BitGemmKernel_BlkSum_CompInt8_avx512vnni and the
    sqnbitgemm_kernel_avx512_int8_blklen{16,32,64,128}.h kernels (and their 8-bit counterparts).
    """
    q, z = codes(B, K, N, bits, block_size), zero_points(zp, K, N, bits, block_size)
    s = [_fp32(v, "scales") for v in scales]
    bias = _io(A, scales, bias, N, dtype)
    rows = [quantize_a_int8(r, block_size) for r in _padded_rows(A, K, block_size)]
    pairs = not (bits == 8 and block_size == 64)
    return [[_out(_f.encode(F32, _int8_output(rows, q, z, s, m, n, N, block_size, bias, None, pairs)), dtype)
             for n in range(N)] for m in range(len(rows))]


def _int8_output(rows, q, z, s, m, n, N, block_size, bias, trace=None, pairs=True):
    """Output (m, n) of the int8 path (``trace``: the lane sums, each step and the zero-point term)."""
    qa, sa = rows[m]
    kb = len(sa)
    sb = s[n * kb:(n + 1) * kb]
    sab = [_f.decode(F32, _f.mul(F32, sa[b], sb[b])) for b in range(kb)]
    for b in range(kb):
        note(trace, f"block {b} scales", f"sa = {_hex(sa[b])}, sb = {_hex(sb[b])}, zp = {z[n][b]}, "
             f"fl32(sa*sb) = {_hex(sab[b])}", sab[b].value)
    lanes = _int8_lanes([x * y for x, y in zip(qa, q[n])], sab, block_size, kb, trace)
    c, t = _int8_reduce(lanes, m, len(rows), n, N, trace, pairs), ZERO
    if bias:
        c = _add(c, bias[n], trace, "bias")
    for b in range(kb):
        ab = _f.decode(F32, _f.mul(F32, sa[b], sum(qa[b * block_size:(b + 1) * block_size])))
        t = _fma(ab, _f.decode(F32, _f.mul(F32, -z[n][b], sb[b])), t, trace, f"zero-point term block {b}")
    return _add(c, t, trace, "c + t")


def matmul_ort_mlas_avx512_any_level(A, B, scales, zp, K, N, bits, block_size, accuracy_level=0, bias=None,
                                     dtype="fp32"):
    """onnxruntime 1.32.0 CPU MatMulNBits on AVX-512 (VNNI), one thread, at any accuracy_level:
    the float path for levels 0-3, the int8 path for level 4.

    Reproduces: onnxruntime 1.32.0 MatMulNBits CPU kernel (MLAS SQNBitGemm CompFp32 / CompInt8).
    """
    if accuracy_level == 4:
        return matmul_ort_int8_avx512(A, B, scales, zp, K, N, bits, block_size, bias=bias, dtype=dtype)
    return matmul_ort_mlas_avx512(A, B, scales, zp, K, N, bits, block_size, accuracy_level, bias, dtype)


def explain(A, B, scales, zp, K, N, bits, block_size, m, n, accuracy_level=0, bias=None, dtype="fp32",
            variant="ort_mlas_avx512"):
    """(Y[m][n] as stored bits, its trace): the blocks of column n (scale hex and value, zero point),
    then every float step of the variant as it rounds it: 'ort_mlas_avx512' levels 0-3 each fused
    multiply-add of the lanes or the chain and each addition of the horizontal sum; level 4 the
    quantization of A's row m, each lane's integer sum and fused multiply-add, the sums and the
    zero-point term; 'exact' each block's exact partial sum and the one rounding.  The bits equal
    the variant's output (tests/test_matmulnbits.py).

    Reproduces: the variants of this module for one output (onnxruntime 1.32.0 MatMulNBits).
    """
    trace = []
    if variant not in VARIANTS["matmul_nbits"]:
        raise UnknownNameError("MatMulNBits variant", variant, list(VARIANTS["matmul_nbits"]))
    b = _io(A, scales, bias, N, dtype)
    rows = _rows(A, K)
    if not (0 <= m < len(rows) and 0 <= n < N):
        raise ShapeError(f"output ({m}, {n}) is not in Y of shape ({len(rows)}, {N})")
    kb = _check(K, N, bits, block_size)
    q, z = codes(B, K, N, bits, block_size), zero_points(zp, K, N, bits, block_size)
    s = [_fp32(v, "scales") for v in scales]
    for j in range(kb):
        note(trace, f"B block {j}", f"column {n}: scale {_hex(s[n * kb + j])}, zero point {z[n][j]}, codes "
             f"{q[n][j * block_size:(j + 1) * block_size]}", s[n * kb + j].value)
    if variant == "exact":
        w = dequantize_b(B, scales, zp, K, N, bits, block_size, exact=True)
        total = b[n].value if b else Fraction(0)
        for j in range(kb):
            part = sum((a.value * x for a, x in zip(rows[m][j * block_size:(j + 1) * block_size],
                                                     w[n][j * block_size:(j + 1) * block_size])), Fraction(0))
            total += part
            note(trace, f"block {j} exact", "sum of a*(q - zp)*s over the block, exactly; running total", total)
        y = _f.encode(dtype, total)
    elif accuracy_level == 4:
        quantized = [quantize_a_int8(r, block_size, trace if i == m else None)
                     for i, r in enumerate(_padded_rows(A, K, block_size))]
        pairs = not (bits == 8 and block_size == 64)
        y = _out(_f.encode(F32, _int8_output(quantized, q, z, s, m, n, N, block_size, b, trace, pairs)), dtype)
    else:
        w = dequantize_b(B, scales, zp, K, N, bits, block_size)
        y = _out(_f.encode(F32, _float_output(rows, w, m, n, N, K, bits, b, trace)), dtype)
    how = "exact (one rounding)" if variant == "exact" else f"{variant} level {accuracy_level}"
    note(trace, "Y", f"{how}: bits 0x{y:0{4 if dtype == 'fp16' else 8}x} ({dtype})",
         _f.value_of(dtype, y))
    return y, trace


VARIANTS = {"matmul_nbits": {"exact": matmul_exact, "ort_mlas_avx512": matmul_ort_mlas_avx512_any_level}}

# The named deviations of the backend row 'onnxruntime' for op matmul_nbits (measured on 1.32.0).
DEVIATIONS = {
    "MatMulNBits binary32 order (MLAS AVX-512)":
        "accuracy_level 0-3: w = fl((q - zp)*s); M = 1: sixteen fused multiply-add lanes (k mod 16), "
        "FoldAccumulators per 4 columns, the reduce tree for the rest (8-bit B: eight unfused mul + add lanes, "
        "the M1TransposeB kernel's horizontal sums); M > 1: one fused multiply-add chain in k "
        "order; a bias added after the lanes' sum (M = 1) or C's initial value (M > 1); fp16 A: binary32 compute, "
        "Y rounded once to fp16; differs from the exact sum in the last bits (refquant variant 'ort_mlas_avx512'; "
        "docs/llm-formats.md §2)",
    "MatMulNBits int8 path (MLAS AVX-512 VNNI)":
        "accuracy_level 4 (4- and 8-bit B): A per block to int8 (sa = fl(amax/127), RNE(fl(a*fl(127/amax)))), integer "
        "lane sums of the VNNI kernel of each block size fused-multiply-added with fl(sa*sb), the kernel's "
        "horizontal sums (8-bit B with blklen 64: no paired rows; plus the bias), then the zero-point term fl(sa*sum qa)*fl(-zp*sb) as a fused multiply-add chain "
        "(refquant variant 'ort_mlas_avx512' at level 4; docs/llm-formats.md §2)",
}
