"""MatMulNBits: the definition (refquant.matmulnbits), its numpy fast form, and onnxruntime 1.32.0
itself (AVX-512 CPU kernels, one thread) bit for bit."""

from fractions import Fraction

import numpy as np
import pytest

from refquant import formats
from refquant import matmulnbits as mm
from refquant.blocks import matmulnbits as fast
from refquant.blocks.fp32 import fma32
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError
from refquant.peers.matmulnbits import compare, make_inputs


def _avx512():
    try:
        return "avx512f" in open("/proc/cpuinfo").read()
    except OSError:
        return False


needs_avx512 = pytest.mark.skipif(not _avx512(), reason="the 'ort_mlas_avx512' variant models onnxruntime's AVX-512 kernels")


def test_fma32_is_one_rounding():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(400).astype(np.float32), rng.standard_normal(400).astype(np.float32)
    c = (-(a.astype(np.float64) * b)).astype(np.float32) * np.float32(1 + 2**-20)   # heavy cancellation
    got = fma32(a, b, c).view(np.uint32)
    assert [int(g) for g in got] == [formats.fma("fp32", float(x), float(y), float(z)) for x, y, z in zip(a, b, c)]
    # a binary64 sum exactly halfway between two binary32 values, with a tiny error term: rounds once
    x, y, z = np.float32(1 + 2**-12), np.float32(1 + 2**-12), np.float32(-2**-60)
    assert fma32(x, y, z).view(np.uint32) == formats.fma("fp32", float(x), float(y), float(z))


@pytest.mark.parametrize("M, K, N, bs, bits, zp", [(1, 64, 6, 16, 4, False), (3, 64, 5, 32, 4, True),
                                                  (1, 128, 7, 64, 8, False), (2, 64, 3, 32, 8, True),
                                                  (2, 256, 40, 32, 8, True)])
def test_fast_form_equals_the_definition(M, K, N, bs, bits, zp):
    a, b, s, z = make_inputs(np.random.default_rng(1), M, K, N, bits, bs, zp)
    f = fast.matmul_ort_mlas_avx512(a, b, s, z, K, N, bits, bs).view(np.uint32)
    d = mm.matmul_ort_mlas_avx512(a.tolist(), b.tobytes(), s.tolist(), None if z is None else z.tobytes(), K, N, bits, bs)
    assert f.tolist() == d


def test_exact_variant_and_dequantize():
    # one block of 16: q = 0..15, zero point 8, scale 0.5: w = (q - 8)/2; A = 1 -> sum = -4
    b = bytes((2 * j) | ((2 * j + 1) << 4) for j in range(8))
    w = mm.dequantize_b(b, [0.5], None, 16, 1, 4, 16, exact=True)
    assert w[0] == [Fraction(q - 8, 2) for q in range(16)]
    assert mm.matmul_exact([[1.0] * 16], b, [0.5], None, 16, 1, 4, 16) == [[formats.encode("fp32", -4)]]
    assert mm.zero_points(bytes([0x21]), 32, 1, 4, 16) == [[1, 2]]


def test_errors():
    with pytest.raises(ShapeError):
        mm.codes(bytes(8), 24, 1, 4, 16)
    with pytest.raises(UnknownNameError):
        mm.codes(bytes(8), 16, 1, 3, 16)
    with pytest.raises(InvalidValueError):
        mm.matmul_exact([[0.1] * 16], bytes(8), [0.5], None, 16, 1, 4, 16)


@needs_avx512
@pytest.mark.parametrize("M, N, K", [(3, 96, 256), (2, 16, 512), (2, 512, 64), (2, 100, 1024)])
def test_8bit_sgemm_chunks_match_onnxruntime(M, N, K):
    """8-bit B, M > 1: the dequantized B goes through MlasSgemm, whose K chunk depends on N and K."""
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(14), M, K, N, 8, 32, True, 0)
    assert (got == want).all()
    assert [mm.sgemm_stride_k(n, k) for n, k in [(96, 256), (64, 512), (16, 512), (512, 64)]] == [128, 256, 1024, 64]


@needs_avx512
@pytest.mark.parametrize("bits, bs, zp, level, M", [(4, 16, False, 0, 1), (4, 32, True, 1, 1), (4, 64, False, 0, 3),
                                                    (4, 128, True, 1, 5), (4, 256, True, 0, 1), (8, 32, True, 0, 4),
                                                    (4, 32, False, 2, 1), (4, 32, False, 3, 2)])
def test_matches_onnxruntime(bits, bs, zp, level, M):
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(2), M, 256, 36, bits, bs, zp, level)
    assert (got == want).all()


@needs_avx512
@pytest.mark.slow
@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("bs", [16, 32, 64, 128, 256])
@pytest.mark.parametrize("zp", [False, True])
@pytest.mark.parametrize("level", [0, 1])
@pytest.mark.parametrize("M", [1, 64])
def test_matches_onnxruntime_on_1e5_outputs(bits, bs, zp, level, M):
    """>= 10^5 outputs per configuration (M = 1: N = 102400 columns; M = 64: N = 1600)."""
    pytest.importorskip("onnxruntime")
    m, n = (M, 102400 // M)
    got, want, _ = compare(np.random.default_rng(3), m, 256, n, bits, bs, zp, level)
    assert got.size >= 10**5 and (got == want).all()


@needs_avx512
def test_level4_a_quantization_is_recovered_through_onnxruntime():
    """accuracy_level 4 quantizes A per block to int8: sa = fl(amax/127), q = RNE(fl(a · fl(127/amax))).
    Column n of B selects element n (q = zp + 1 there, zp elsewhere), so Y[n] / (sa · s) is A's code n;
    near-ties of a · 127/amax are planted.  (RNE of a/sa, or of a · fl(1/sa), or ties away differ.)"""
    pytest.importorskip("onnxruntime")
    from refquant.peers.matmulnbits import ort_model, run_ort
    rng = np.random.default_rng(7)
    q = np.full((32, 32), 8)
    np.fill_diagonal(q, 9)
    b = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).reshape(32, 1, 16)
    s = np.ones(32, np.float32)
    for _ in range(10):
        a = rng.standard_normal(32).astype(np.float32)
        amax = np.float32(np.abs(a).max())
        a[1:9] = ((rng.integers(-120, 120, 8) + 0.5) * np.float64(amax) / 127).astype(np.float32)
        y = run_ort(ort_model(32, 32, 4, 32, 4, b, s, None), a[None, :])[0].astype(np.float64)
        codes, scales = mm.quantize_a_int8(a.tolist(), 32)
        got = np.rint(y / float(scales[0].value)).astype(int)
        assert np.abs(y / float(scales[0].value) - got).max() < 0.01
        assert got.tolist() == codes == fast.quantize_a_int8(a, 32)[0][0].tolist()


def _level4_ratio(bits, bs, zp, M, N, seed):
    from refquant.peers.matmulnbits import ort_model, run_ort
    a, b, s, z = make_inputs(np.random.default_rng(seed), M, 256, N, bits, bs, zp)
    y = run_ort(ort_model(256, N, bits, bs, 4, b, s, z), a).astype(np.float64)
    value, mag = fast.int8_terms(a, b, s, z, 256, N, bits, bs)
    return (np.abs(y - value) / (2.0**-24 * mag + 1e-300)).max(), y.size


@needs_avx512
@pytest.mark.parametrize("bs, zp, M", [(16, True, 1), (32, False, 3), (64, True, 2), (128, True, 1), (256, False, 4)])
def test_level4_is_the_int8_semantics_up_to_binary32_order(bs, zp, M):
    """onnxruntime's accuracy_level 4 equals the int8 semantics (``matmul_exact_int8``) up to the
    rounding of its binary32 sums: within 8 · 2^-24 of the terms' magnitudes (measured: <= 0.6); one
    A code off by 1 would move a result by about 2^-10 of it.  The float order is not modelled."""
    pytest.importorskip("onnxruntime")
    ratio, _ = _level4_ratio(4, bs, zp, M, 16, 8)
    assert ratio <= 8
    a, b, s, z = make_inputs(np.random.default_rng(9), 2, 64, 3, 4, 32, zp)
    exact = mm.matmul_exact_int8(a.tolist(), b.tobytes(), s.tolist(), None if z is None else z.tobytes(), 64, 3, 4, 32)
    value, _ = fast.int8_terms(a, b, s, z, 64, 3, 4, 32)
    assert np.allclose(np.array(exact, np.uint32).view(np.float32), value, rtol=2**-23, atol=0)


@needs_avx512
@pytest.mark.slow
@pytest.mark.parametrize("bs", [16, 32, 64, 128, 256])
@pytest.mark.parametrize("zp", [False, True])
def test_level4_8bit_bound_on_1e5_outputs(bs, zp):
    """8-bit B at level 4: the int8 semantics up to binary32 order (the order itself: the test below)."""
    pytest.importorskip("onnxruntime")
    for M in (1, 64):
        ratio, size = _level4_ratio(8, bs, zp, M, 102400 // M, 10)
        assert size >= 10**5 and ratio <= 8


@pytest.mark.parametrize("bs", [16, 32, 64, 128, 256])
def test_level4_fast_form_equals_the_definition(bs):
    a, b, s, z = make_inputs(np.random.default_rng(11), 3, 256, 6, 4, bs, bs in (32, 128))
    d = mm.matmul_ort_int8_avx512(a.tolist(), b.tobytes(), s.tolist(), None if z is None else z.tobytes(), 256, 6, 4, bs)
    assert fast.matmul_ort_int8_avx512(a, b, s, z, 256, 6, 4, bs).view(np.uint32).tolist() == d


@needs_avx512
@pytest.mark.parametrize("bs, zp, M, N", [(16, False, 1, 5), (32, True, 2, 7), (64, True, 3, 4), (128, False, 1, 9),
                                          (256, True, 5, 6)])
def test_level4_matches_onnxruntime(bs, zp, M, N):
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(12), M, 256, N, 4, bs, zp, 4)
    assert (got == want).all()


@needs_avx512
@pytest.mark.slow
@pytest.mark.parametrize("bs", [16, 32, 64, 128, 256])
@pytest.mark.parametrize("zp", [False, True])
@pytest.mark.parametrize("M, N", [(1, 102400), (64, 1600), (63, 1601)])
def test_level4_matches_onnxruntime_on_1e5_outputs(bs, zp, M, N):
    """4-bit accuracy_level 4 bit for bit, >= 10^5 outputs per configuration (odd M and N % 4 != 0
    take the kernel's remainder tiles)."""
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(13), M, 256, N, 4, bs, zp, 4)
    assert got.size >= 10**5 and (got == want).all()


# --- K not a multiple of block_size (padded last block), the bias input, float16 A ------------------------

def _definition(a, b, s, z, K, N, bits, bs, level, c, exact=False):
    fn = mm.matmul_exact if exact else mm.matmul_ort_mlas_avx512_any_level
    return fn(a.tolist(), b.tobytes(), s.tolist(), None if z is None else z.tobytes(), K, N, bits, bs, level,
              None if c is None else c.tolist(), "fp16" if a.dtype == np.float16 else "fp32")


@pytest.mark.parametrize("M, K, N, bs, bits, zp, level, bias, fp16", [
    (1, 40, 6, 16, 4, True, 0, True, False), (2, 70, 5, 32, 4, False, 0, True, True),
    (3, 100, 5, 64, 4, True, 4, True, True), (1, 50, 9, 16, 4, True, 4, False, False),
    (2, 300, 40, 32, 8, True, 0, True, False), (1, 130, 4, 128, 4, False, 4, True, False)])
def test_padded_bias_fp16_fast_form_equals_the_definition(M, K, N, bs, bits, zp, level, bias, fp16):
    rng = np.random.default_rng(15)
    a, b, s, z = make_inputs(rng, M, K, N, bits, bs, zp)
    c = (rng.standard_normal(N) * 4).astype(np.float32) if bias else None
    dt, ut = (np.float16, np.uint16) if fp16 else (np.float32, np.uint32)
    a, s, c = a.astype(dt), s.astype(dt), None if c is None else c.astype(dt)
    assert fast.matmul_ort(a, b, s, z, K, N, bits, bs, level, c).view(ut).tolist() == \
        _definition(a, b, s, z, K, N, bits, bs, level, c)
    assert fast.matmul_exact(a, b, s, z, K, N, bits, bs, c, dt).view(ut).tolist() == \
        _definition(a, b, s, z, K, N, bits, bs, level, c, exact=True)


def test_padding_bias_and_fp16_semantics():
    # K = 20 with block 16: two blocks, the second padded; the padding codes never count
    b = bytes([0x99] * 8 + [0x99, 0x99] + [0xFF] * 6)     # q = 9 (w = 1 * 0.5) for k < 20, 15 in the padding
    y = mm.matmul_exact([[1.0] * 20], b, [0.5, 0.5], None, 20, 1, 4, 16)
    assert y == [[formats.encode("fp32", 10)]]
    y = mm.matmul_ort_mlas_avx512([[1.0] * 20], b, [0.5, 0.5], None, 20, 1, 4, 16, bias=[0.25])
    assert y == [[formats.encode("fp32", 10.25)]]
    y = mm.matmul_ort_mlas_avx512_any_level([[1.0] * 20], b, [0.5, 0.5], None, 20, 1, 4, 16, 4, [0.25], "fp16")
    assert y == [[formats.encode("fp16", 10.25)]]
    with pytest.raises(InvalidValueError):       # 0.1 is not a binary16 value
        mm.matmul_exact([[0.1] * 20], b, [0.5, 0.5], None, 20, 1, 4, 16, dtype="fp16")
    with pytest.raises(ShapeError):
        mm.matmul_exact([[1.0] * 20], b, [0.5, 0.5], None, 20, 1, 4, 16, bias=[1.0, 2.0])
    with pytest.raises(UnknownNameError):
        mm.matmul_exact([[1.0] * 20], b, [0.5, 0.5], None, 20, 1, 4, 16, dtype="bf16")


@needs_avx512
@pytest.mark.parametrize("bits, bs, zp, level, M, K, bias, fp16", [
    (4, 16, True, 0, 1, 200, True, False), (4, 32, False, 4, 3, 200, True, False), (4, 64, True, 0, 2, 100, False, True),
    (4, 128, True, 4, 1, 300, True, True), (4, 256, False, 1, 5, 300, False, False), (8, 32, True, 0, 4, 200, True, True),
    (8, 64, False, 0, 2, 1100, True, False)])
def test_padded_bias_fp16_match_onnxruntime(bits, bs, zp, level, M, K, bias, fp16):
    """K not a multiple of block_size (random padding codes), the bias input and float16 A / scales / bias,
    bit for bit against onnxruntime 1.32.0 (8-bit: M > 1 only; K = 1100 crosses MlasSgemm's K chunks)."""
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(16), M, K, 36, bits, bs, zp, level, bias=bias, fp16=fp16)
    assert (got == want).all()


@needs_avx512
@pytest.mark.slow
@pytest.mark.parametrize("bits, level", [(4, 0), (4, 4), (8, 0), (8, 4)])
@pytest.mark.parametrize("bs", [16, 32, 64, 128, 256])
@pytest.mark.parametrize("M", [1, 64])
@pytest.mark.parametrize("fp16", [False, True])
def test_padded_bias_fp16_match_onnxruntime_on_1e5_outputs(bits, level, bs, M, fp16):
    """>= 10^5 outputs per configuration: K = 200 (not a multiple of any block size >= 16 but 8), zero
    points and a bias, float32 or float16."""
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(17), M, 200, 102400 // M, bits, bs, True, level, bias=True, fp16=fp16)
    assert got.size >= 10**5 and (got == want).all()


# --- explain: one output's blocks, scales and every float step ----------------------------------------------

@pytest.mark.parametrize("M, level, bias, bs", [(1, 0, True, 16), (2, 0, False, 32), (2, 4, True, 16), (3, 4, False, 64)])
def test_explain_equals_the_variant(M, level, bias, bs):
    a, b, s, z = make_inputs(np.random.default_rng(18), M, 72, 5, 4, bs, True)
    args = (a.tolist(), b.tobytes(), s.tolist(), z.tobytes(), 72, 5, 4, bs)
    c = [0.5, -1.0, 2.0, 0.25, 3.0] if bias else None
    full = mm.matmul_ort_mlas_avx512_any_level(*args, level, c)
    for m in range(M):
        for n in range(5):
            y, trace = mm.explain(*args, m, n, level, c)
            assert y == full[m][n] and trace[-1].name == "Y"
    y, trace = mm.explain(*args, M - 1, 4, level, c, variant="exact")
    assert y == mm.matmul_exact(*args, bias=c)[M - 1][4]
    names = [t.name for t in mm.explain(*args, 0, 0, level, c)[1]]
    assert names[0] == "B block 0" and (("A block 0" in names) == (level == 4))
    with pytest.raises(ShapeError):
        mm.explain(*args, M, 0, level)
    with pytest.raises(UnknownNameError):
        mm.explain(*args, 0, 0, level, variant="avx2")


def test_explain_cli_on_block_dot_cases(tmp_path, capsys):
    import json

    from refquant import cli, gguf
    rng = np.random.default_rng(19)
    x = gguf.quantize_row("q4_0", rng.standard_normal(64).astype(np.float32).tolist())
    y = gguf.quantize_row("q8_0", rng.standard_normal(64).astype(np.float32).tolist())
    (tmp_path / "dot.json").write_text(json.dumps({"op": "gguf_vec_dot", "x_format": "q4_0", "x": x.hex(),
                                                   "y_format": "q8_0", "y": y.hex()}))
    assert cli.main(["explain", str(tmp_path / "dot.json")]) == 0
    out = capsys.readouterr().out
    assert f"bits 0x{gguf.vec_dot('q4_0', x, 'q8_0', y):x}" in out and "block 1 isum" in out and "fl32(" in out
    a, b, s, z = make_inputs(rng, 2, 48, 3, 4, 16, True)
    (tmp_path / "mm.json").write_text(json.dumps({
        "op": "matmul_nbits", "A": a.tolist(), "B": b.tobytes().hex(), "scales": s.tolist(),
        "zero_points": z.tobytes().hex(), "K": 48, "N": 3, "bits": 4, "block_size": 16, "accuracy_level": 4}))
    assert cli.main(["explain", str(tmp_path / "mm.json"), "--index", "1,2"]) == 0
    want = fast.matmul_ort(a, b, s, z, 48, 3, 4, 16, 4).view(np.uint32)[1, 2]
    out = capsys.readouterr().out
    assert f"bits 0x{want:x}" in out and "zero-point term block 2" in out and "A block 2" in out
    assert cli.main(["explain", str(tmp_path / "mm.json"), "--index", "7,0"]) == 2
    assert "not in Y" in capsys.readouterr().err


@needs_avx512
@pytest.mark.parametrize("bs, K, N, zp, bias", [(16, 256, 41, True, False), (32, 200, 6, False, True),
                                               (64, 1000, 7, True, True), (256, 512, 3, False, False)])
def test_8bit_m1_matches_onnxruntime(bs, K, N, zp, bias):
    """8-bit B, M = 1: MlasSgemmKernelM1TransposeBAvx (eight unfused mul + add lanes, the horizontal sum
    of the output's row group: 4x1, 2x1 or 1x1 block)."""
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(22), 1, K, N, 8, bs, zp, 0, bias=bias)
    assert (got == want).all()


@pytest.mark.parametrize("N", [1, 2, 3, 4, 5, 6, 7])
def test_8bit_m1_fast_form_equals_the_definition(N):
    rng = np.random.default_rng(23)
    a, b, s, z = make_inputs(rng, 1, 40, N, 8, 16, True)
    c = rng.standard_normal(N).astype(np.float32)
    d = mm.matmul_ort_mlas_avx512(a.tolist(), b.tobytes(), s.tolist(), z.tobytes(), 40, N, 8, 16, bias=c.tolist())
    assert fast.matmul_ort_mlas_avx512(a, b, s, z, 40, N, 8, 16, c).view(np.uint32).tolist() == d
    y, _ = mm.explain(a.tolist(), b.tobytes(), s.tolist(), z.tobytes(), 40, N, 8, 16, 0, N - 1, 0, c.tolist())
    assert y == d[0][N - 1]


@needs_avx512
@pytest.mark.parametrize("bs, zp, M, N, K", [(16, True, 1, 22, 256), (32, False, 3, 24, 200), (64, True, 2, 22, 256),
                                             (64, False, 3, 21, 512), (128, True, 1, 23, 256), (256, True, 5, 6, 512)])
def test_level4_8bit_matches_onnxruntime(bs, zp, M, N, K):
    """8-bit B at accuracy_level 4: the 4-bit int8 path's lanes over the 8-bit codes; blklen 64 pairs no rows."""
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(24), M, K, N, 8, bs, zp, 4, bias=bs == 64)
    assert (got == want).all()


@pytest.mark.parametrize("bs", [32, 64])
def test_level4_8bit_fast_form_equals_the_definition(bs):
    a, b, s, z = make_inputs(np.random.default_rng(25), 3, 160, 6, 8, bs, True)
    d = mm.matmul_ort_mlas_avx512_any_level(a.tolist(), b.tobytes(), s.tolist(), z.tobytes(), 160, 6, 8, bs, 4)
    assert fast.matmul_ort(a, b, s, z, 160, 6, 8, bs, 4).view(np.uint32).tolist() == d


@needs_avx512
@pytest.mark.slow
@pytest.mark.parametrize("bs", [16, 32, 64, 128, 256])
@pytest.mark.parametrize("zp", [False, True])
@pytest.mark.parametrize("M, N", [(1, 102400), (64, 1600), (63, 1601)])
def test_level4_8bit_matches_onnxruntime_on_1e5_outputs(bs, zp, M, N):
    pytest.importorskip("onnxruntime")
    got, want, _ = compare(np.random.default_rng(26), M, 256, N, 8, bs, zp, 4)
    assert got.size >= 10**5 and (got == want).all()
