"""The accumulator of an x86 int8 GEMM without VNNI: u8 x s8 products added in pairs into int16.

Without VNNI, x86 int8 GEMMs (oneDNN, FBGEMM) multiply with PMADDUBSW: two adjacent products of an
unsigned byte and a signed byte are added into a *signed saturating* 16-bit lane (Intel SDM,
PMADDUBSW: SaturateToSignedWord(a[2p+1]*b[2p+1] + a[2p]*b[2p])), and only these pair sums are
then added into int32.  255 * 127 * 2 = 64770 > 32767, so the result differs from the exact
product.  Measured (torch 2.13.0, docs/reference/requant.md section 7 rows 20 and 22): oneDNN
capped to SSE41 / AVX2 / AVX512_CORE and FBGEMM capped to AVX2 / AVX512 give exactly

    acc[i][j] = sum_p sat16(a[i][2p] b[2p][j] + a[i][2p+1] b[2p+1][j]) - za * sum_k b[k][j]

for uint8 A with zero point za and int8 B (quantized::linear), and the same with a + 128 and
za = 128 for int8 A (torch._int_mm).  The pairs are adjacent k from k = 0; an odd K pairs the
last k with a zero.  With VNNI (VPDPBUSD adds four products into int32 without saturation) the
same libraries give the exact product.
"""

from .errors import InvalidValueError
from .requant import sat


def sat16(v):
    """Signed saturation to int16 (SaturateToSignedWord)."""
    return sat(v, -32768, 32767)


def _check_codes(name, matrix, lo, hi):
    for i, row in enumerate(matrix):
        for k, v in enumerate(row):
            if not (isinstance(v, int) and lo <= v <= hi):
                raise InvalidValueError(f"{name}[{i}][{k}] = {v!r}: expected an integer in [{lo}, {hi}]")


def pair_saturated_matmul(a, b, a_zero_point=0, a_type="uint8"):
    """a (M x K, uint8 or int8 codes), b (K x N int8 codes) -> the M x N accumulator above (ints).

    int8 A runs as A + 128 against za + 128 (the shift oneDNN applies so that PMADDUBSW's unsigned
    operand can hold it); uint8 A as it is.  The zero point part is exact: za * sum_k b[k][j]."""
    if a_type not in ("uint8", "int8"):
        raise InvalidValueError(f"a_type {a_type!r}: expected 'uint8' or 'int8'")
    lo, hi = (0, 255) if a_type == "uint8" else (-128, 127)
    _check_codes("a", a, lo, hi)
    _check_codes("b", b, -128, 127)
    k, n = len(b), len(b[0]) if b else 0
    for i, row in enumerate(a):
        if len(row) != k:
            raise InvalidValueError(f"a row {i} has {len(row)} codes, b has {k} rows: expected a (M x K), b (K x N)")
    for kk, row in enumerate(b):
        if len(row) != n:
            raise InvalidValueError(f"b row {kk} has {len(row)} codes, row 0 has {n}: expected b (K x N)")
    if not (isinstance(a_zero_point, int) and lo <= a_zero_point <= hi):
        raise InvalidValueError(f"a_zero_point = {a_zero_point!r}: expected an integer in [{lo}, {hi}]")
    shift = 128 if a_type == "int8" else 0
    za = a_zero_point + shift
    cols = [[b[kk][j] for kk in range(k)] + [0] for j in range(n)]    # a zero pairs an odd last k
    out = []
    for row in a:
        u = [v + shift for v in row] + [0]
        out.append([sum(sat16(u[p] * col[p] + u[p + 1] * col[p + 1]) for p in range(0, k, 2))
                    - za * sum(col) for col in cols])
    return out
