"""ggml's own C library as a peer (refquant/peers/ggml.py: libggml-base / libggml-cpu 0.13.1 from
the pywhispercpp 1.5.1 wheel, x86-64 AVX2 build, through ctypes): the reference quantizers and
dequantizers byte for byte and bit for bit, the scalar ``_generic`` dot kernels as this build
compiles them (``ggml_generic_fma``), and the AVX2 dot kernels the CPU backend runs (``ggml_avx2``).
docs/llm-formats.md §1 records the numbers."""

import numpy as np
import pytest

from refquant import gguf, gguf_avx2
from refquant.blocks import gguf as fast
from refquant.blocks import gguf_lut as flut
from refquant.peers.gguf import _k_blocks, tie_blocks
from refquant.peers.gguf_lut import decisive_mxfp4, random_blocks
from refquant.peers.gguf_lut import tie_blocks as lut_ties

LEGACY = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1")
TABLE = ("tq1_0", "tq2_0", "mxfp4", "nvfp4")
KTYPES = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K")


def _values(rng, n, scales=(1e-3, 1.0, 1e3)):
    return np.concatenate([(rng.standard_normal(n) * s).astype(np.float32) for s in scales])


def _sample(kind, seed, n_blocks=2):
    """Random blocks at three magnitudes, constructed ties +- 1 ulp, and the signed-zero blocks."""
    rng = np.random.default_rng(seed)
    n = gguf.BLOCKS[kind][0]
    parts = [_values(rng, n_blocks * n)]
    if kind in TABLE:
        parts.append(lut_ties(kind, rng, 2))
    elif kind != "q8_K":
        parts.append(tie_blocks(kind, rng, 2))
    parts += [np.full(n, -0.0, np.float32), np.zeros(n, np.float32), np.array([-0.0] + [0.0] * (n - 1), np.float32)]
    if kind == "mxfp4":
        parts.append(decisive_mxfp4(rng, 4))
    return np.concatenate(parts)


def test_library_is_the_pinned_ggml(ggml):
    assert (ggml.version, ggml.commit) == ("0.13.1", "f24588a")
    assert ggml.isa["avx2"] and ggml.isa["fma"] and not ggml.isa["avx512"]
    assert "ggml 0.13.1 (f24588a) from pywhispercpp 1.5.1" in ggml.describe()
    assert ggml.vec_dot_type("q4_0") == "q8_0" and ggml.vec_dot_type("q4_K") == "q8_K"
    for kind in ggml.types:                      # the traits agree with refquant's block table
        tr = ggml.traits(kind)
        assert (tr.type_name.decode(), tr.blck_size, tr.type_size) == (kind, *gguf.BLOCKS[kind])


@pytest.mark.parametrize("kind", LEGACY + ("q8_K",) + TABLE)
def test_reference_quantizer_matches_ggml(ggml, kind):
    x = _sample(kind, 1)
    want = gguf.quantize_row(kind, x.tolist())
    assert ggml.quantize_ref(kind, x).tobytes() == want
    assert (flut if kind in TABLE else fast).quantize(kind, x).tobytes() == want


@pytest.mark.parametrize("kind", ["q3_K", pytest.param("q2_K", marks=pytest.mark.slow),
                                  pytest.param("q4_K", marks=pytest.mark.slow),
                                  pytest.param("q5_K", marks=pytest.mark.slow),
                                  pytest.param("q6_K", marks=pytest.mark.slow)])
def test_k_quantizer_matches_ggml(ggml, kind):
    """One random super-block unmarked (Q3_K, the fast one); slow: four kinds of super-block each."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(256) * 0.3).astype(np.float32)
    if kind != "q3_K":
        pos = np.abs(rng.standard_normal(256)).astype(np.float32)
        third = np.where(rng.integers(0, 3, 256) == 0, np.float32(0), rng.standard_normal(256).astype(np.float32))
        x = np.concatenate([x * 1e3, pos, third, np.zeros(256, np.float32)])
    assert ggml.quantize_ref(kind, x).tobytes() == gguf.quantize_row(kind, x.tolist())


@pytest.mark.parametrize("kind", LEGACY[:-1] + KTYPES + ("q8_K",) + TABLE + ("iq4_nl", "iq4_xs"))
def test_dequantize_matches_ggml(ggml, kind):
    rng = np.random.default_rng(4)
    if kind in KTYPES:
        b = _k_blocks(kind, rng, 3)
    elif kind == "q8_K":
        b = ggml.quantize_ref(kind, _values(rng, 256))
    elif kind in LEGACY:
        b = ggml.quantize_ref(kind, _values(rng, 64))
    else:
        b = random_blocks(kind, rng, 3)
    assert ggml.dequantize(kind, b).view(np.uint32).tolist() == gguf.dequantize_row(kind, np.asarray(b).tobytes())


def _rows(ggml, kind_x, rng, rows, blocks):
    from refquant.peers.ggml import dot_rows
    return dot_rows(kind_x, rng, rows, blocks)


@pytest.mark.parametrize("kind", gguf.PAIRS)
def test_generic_kernels_are_the_contracted_model(ggml, kind):
    """ggml_vec_dot_*_generic of this build = 'ggml_generic_fma'; 'ggml_generic' (no contraction)
    equals it exactly where GCC contracts nothing (Q4_0, Q5_0, Q8_0, Q3_K, Q6_K)."""
    rng, ky = np.random.default_rng(5), gguf.PAIRS[kind]
    x, y = _rows(ggml, kind, rng, 6, 2 if kind in KTYPES else 6)
    plain = 0
    for r in x:
        got = int(ggml.vec_dot_generic(kind, r, ky, y).view(np.uint32))
        assert got == gguf.vec_dot(kind, r.tobytes(), ky, y.tobytes(), "ggml_generic_fma")
        plain += got != gguf.vec_dot(kind, r.tobytes(), ky, y.tobytes(), "ggml_generic")
    assert plain == 0 or kind in ("q4_1", "q5_1", "q2_K", "q4_K", "q5_K")


@pytest.mark.parametrize("kind", gguf_avx2.PAIRS)
def test_avx2_kernels_are_the_ggml_avx2_model(ggml, kind):
    """The CPU backend's vec_dot (AVX2) = 'ggml_avx2', on quantized rows and on random bytes
    (codes -128: _mm256_sign_epi8 keeps -(-128) = -128, maddubs saturates at 32767)."""
    rng, ky = np.random.default_rng(6), gguf_avx2.PAIRS[kind]
    x, y = _rows(ggml, kind, rng, 6, 5)
    differs_from_generic = 0
    for r in x:
        got = int(ggml.vec_dot(kind, r, ky, y).view(np.uint32))
        assert got == gguf_avx2.dot_avx2(kind, r.tobytes(), ky, y.tobytes())
        differs_from_generic += got != gguf.vec_dot(kind, r.tobytes(), ky, y.tobytes())
    assert differs_from_generic > 0                 # the order matters on these rows
    size_x, size_y = gguf.BLOCKS[kind][1], gguf.BLOCKS[ky][1]
    xr = rng.integers(0, 256, (4, size_x), dtype=np.uint8)
    yr = np.full((4, size_y), 0x80, np.uint8)       # every code -128
    xr[:, :2] = yr[:, :2] = np.frombuffer(np.float16(0.5).tobytes(), np.uint8)
    if kind in gguf_avx2.UNSIGNED:
        xr[:, 2:4] = yr[:, 2:4] = 0
    if kind == "q8_0":
        xr[:2, 2:] = 0x80                           # -128 x -128: the pair sum saturates
    got = int(ggml.vec_dot(kind, xr, ky, yr).view(np.uint32))
    assert got == gguf_avx2.dot_avx2(kind, xr.tobytes(), ky, yr.tobytes())


def test_avx2_saturation_and_sign_wrap_are_modelled():
    """Q8_0 x Q8_0 of all -128 codes: |x| = 128 times sign(y, x) = -128 (wraps), pairs saturate."""
    qx = qy = [-128] * 32
    assert gguf_avx2.lanes("q8_0", qx, qy) == [-65536] * 8      # 2 x sat16(-32768) per lane
    assert gguf_avx2.lanes("q4_0", [-8] * 32, [-128] * 32) == [-4096] * 8   # 8 x -128 (wrapped), 4 products


@pytest.mark.slow
@pytest.mark.parametrize("kind", LEGACY + ("q8_K",) + TABLE)
def test_reference_quantizer_matches_ggml_sweep(ggml, kind):
    """2^20 random values at three magnitudes, ties +- 1 ulp and zero blocks: fast form = ggml."""
    rng = np.random.default_rng(7)
    n = gguf.BLOCKS[kind][0]
    x = np.concatenate([(rng.standard_normal(1 << 20) * rng.choice([1e-4, 1.0, 1e4], 1 << 20)).astype(np.float32),
                        (lut_ties(kind, rng, 1024) if kind in TABLE else tie_blocks(kind, rng, 4096) if kind != "q8_K"
                         else np.zeros(n, np.float32)), np.full(n, -0.0, np.float32)])
    if kind == "mxfp4":
        x = np.concatenate([x, decisive_mxfp4(rng, 4096)])
    ref = flut if kind in TABLE else fast
    got, want = ggml.quantize_ref(kind, x), ref.quantize(kind, x).ravel()
    assert x.size >= 1 << 20 and np.array_equal(got, want), int((got != want).sum())


@pytest.mark.slow
@pytest.mark.parametrize("kind", gguf.PAIRS)
def test_avx2_kernels_sweep(ggml, kind):
    """2^20 elements per pair (1,024 rows of 32 blocks; K: 256 rows of 16 super-blocks): ggml's AVX2
    vec_dot = 'ggml_avx2' on every row."""
    rng, ky = np.random.default_rng(8), gguf.PAIRS[kind]
    x, y = _rows(ggml, kind, rng, 256 if kind in KTYPES else 1024, 16 if kind in KTYPES else 32)
    bad = sum(int(ggml.vec_dot(kind, r, ky, y).view(np.uint32)) != gguf_avx2.vec_dot_avx2(kind, r.tobytes(), ky,
                                                                                           y.tobytes()) for r in x)
    assert x.size // gguf.BLOCKS[kind][1] * gguf.BLOCKS[kind][0] >= 1 << 20 and bad == 0


@pytest.mark.parametrize("kind", KTYPES)
def test_avx2_k_kernels_are_the_ggml_avx2_model(ggml, kind):
    """The K kernels: eight lanes of (e mod 32) div 4, the mins as each kernel adds them."""
    rng = np.random.default_rng(10)
    x, y = _rows(ggml, kind, rng, 4, 3)
    differs = 0
    for r in x:
        got = int(ggml.vec_dot(kind, r, "q8_K", y).view(np.uint32))
        assert got == gguf_avx2.vec_dot_avx2(kind, r.tobytes(), "q8_K", y.tobytes())
        differs += got != gguf.vec_dot(kind, r.tobytes(), "q8_K", y.tobytes(), "ggml_generic_fma")
    assert differs > 0


@pytest.mark.parametrize("kind", ["q8_0", "q8_1", "q8_K"])
def test_activation_quantizer_is_the_avx2_model(ggml, kind):
    """The CPU backend's from_float: Q8_0 / Q8_1 round .5 ties to even (the reference rounds them away),
    Q8_K is the reference quantizer."""
    rng = np.random.default_rng(9)
    x = _sample(kind, 2) if kind == "q8_K" else np.concatenate([_sample(kind, 2), tie_blocks(kind, rng, 4)])
    got = ggml.quantize(kind, x).tobytes()
    assert got == gguf_avx2.quantize_avx2(kind, x.tolist())
    assert (got == gguf.quantize_row(kind, x.tolist())) == (kind == "q8_K")


@pytest.mark.parametrize("kind", LEGACY[:-1] + TABLE + KTYPES)
def test_quantize_chunk_is_the_reference_quantizer(ggml, kind):
    """ggml_quantize_chunk without an importance matrix (llama.cpp's quantize tool) = refquant: the
    fast form for the 32-element and table types, the definition for Q3_K; the other K types equal
    ggml's quantize_row_*_ref, which equals the definition (test_k_quantizer_matches_ggml)."""
    rng = np.random.default_rng(11)
    n = gguf.BLOCKS[kind][0]
    x = _sample(kind, 3)[: 8 * n] if kind not in KTYPES else (rng.standard_normal(512) * 0.1).astype(np.float32)
    got = ggml.quantize_chunk(kind, x, 2 * n)
    if kind in KTYPES:
        assert np.array_equal(got, ggml.quantize_ref(kind, x))
        if kind == "q3_K":
            assert got.tobytes() == gguf.quantize_row(kind, x.tolist())
    else:
        assert got.tobytes() == (flut if kind in TABLE else fast).quantize(kind, x).tobytes()


@pytest.mark.parametrize("kind", ["q4_1", "q2_K", "q5_K"])
def test_traced_contracted_dot_is_ggml(ggml, kind):
    """refquant explain's trace of 'ggml_generic_fma' (one line per fused multiply-add) gives ggml's bits."""
    x, y = _rows(ggml, kind, np.random.default_rng(12), 1, 2)
    trace = []
    bits = gguf.vec_dot(kind, x[0].tobytes(), gguf.PAIRS[kind], y.tobytes(), "ggml_generic_fma", trace=trace)
    assert bits == int(ggml.vec_dot_generic(kind, x[0], gguf.PAIRS[kind], y).view(np.uint32))
    assert any(step.name.endswith(" fma") and step.formula.startswith("fma(") for step in trace)
    assert trace[-1].formula.startswith(f"binary32 bits 0x{bits:08x}")


@pytest.mark.slow
@pytest.mark.parametrize("kind", LEGACY[:-1] + TABLE + ("iq4_nl", "iq4_xs"))
def test_dequantize_matches_ggml_sweep(ggml, kind):
    """2^20 elements per type: the fast form = ggml (the K types' sweeps against ggml are in
    tests/test_gguf_k_fast.py, with their fast form)."""
    rng = np.random.default_rng(13)
    n = gguf.BLOCKS[kind][0]
    if kind in LEGACY:
        b = ggml.quantize_ref(kind, _values(rng, 1 << 19)[: 1 << 20])
        want = fast.dequantize(kind, b).view(np.uint32).ravel()
    else:
        b = random_blocks(kind, rng, (1 << 20) // n)
        want = flut.dequantize(kind, b).view(np.uint32).ravel()
    got = ggml.dequantize(kind, b).view(np.uint32)
    assert got.size >= 1 << 20 and np.array_equal(got, want), int((got != want).sum())


@pytest.mark.slow
@pytest.mark.parametrize("kind", gguf.PAIRS)
def test_generic_kernels_sweep(ggml, kind):
    """2^20 elements per pair: ggml_vec_dot_*_generic = 'ggml_generic_fma' on every row."""
    rng, ky = np.random.default_rng(14), gguf.PAIRS[kind]
    x, y = _rows(ggml, kind, rng, 256 if kind in KTYPES else 1024, 16 if kind in KTYPES else 32)
    bad = sum(int(ggml.vec_dot_generic(kind, r, ky, y).view(np.uint32))
              != gguf.vec_dot(kind, r.tobytes(), ky, y.tobytes(), "ggml_generic_fma") for r in x)
    assert bad == 0


@pytest.mark.parametrize("kind", ["mxfp4", "iq4_nl"])
def test_table_type_dots_are_modelled(ggml, kind):
    """MXFP4 / IQ4_NL x Q8_0: the generic kernel = gguf_lut_dot 'ggml_generic', the CPU backend's AVX2
    kernel = 'ggml_avx2' (pairs of blocks in two accumulators, an odd last block by fma), odd and even
    block counts."""
    from refquant import gguf_lut_dot
    from refquant.peers.ggml import table_dot_rows
    rng = np.random.default_rng(15)
    for blocks in (1, 4, 5):
        x, y = table_dot_rows(kind, rng, 4, blocks)
        for r in x:
            assert int(ggml.vec_dot_generic(kind, r, "q8_0", y).view(np.uint32)) == \
                gguf_lut_dot.dot_generic(kind, r.tobytes(), "q8_0", y.tobytes())
            assert int(ggml.vec_dot(kind, r, "q8_0", y).view(np.uint32)) == \
                gguf_lut_dot.dot_avx2(kind, r.tobytes(), "q8_0", y.tobytes())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mxfp4", "iq4_nl"])
def test_table_type_dots_sweep(ggml, kind):
    """2^20 elements per pair (1,024 rows of 32 blocks): both kernels = their models on every row."""
    from refquant import gguf_lut_dot
    from refquant.peers.ggml import table_dot_rows
    x, y = table_dot_rows(kind, np.random.default_rng(16), 1024, 32)
    bad = sum(int(ggml.vec_dot(kind, r, "q8_0", y).view(np.uint32)) != gguf_lut_dot.dot_avx2(kind, r.tobytes(), "q8_0",
                                                                                             y.tobytes())
              or int(ggml.vec_dot_generic(kind, r, "q8_0", y).view(np.uint32))
              != gguf_lut_dot.dot_generic(kind, r.tobytes(), "q8_0", y.tobytes()) for r in x)
    assert bad == 0
