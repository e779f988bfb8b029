"""GGUF table types (TQ1_0, TQ2_0, MXFP4, NVFP4, IQ4_NL, IQ4_XS): the definition (refquant.gguf_lut, reached
through refquant.gguf), its numpy fast form (refquant.blocks.gguf_lut), and gguf-py 0.19.0
(gguf.quants) byte for byte and bit for bit."""

import numpy as np
import pytest

from refquant import formats, gguf, gguf_lut
from refquant.blocks import gguf_lut as fast
from refquant.errors import Unpredictable
from refquant.peers.gguf_lut import DEQUANTIZED, QUANTIZED, decisive_mxfp4, inputs, qtype, random_blocks, tie_blocks


def _sample(kind, seed):
    """A few blocks of each kind of input: random, ties, zeros (and MXFP4's decisive amax)."""
    rng = np.random.default_rng(seed)
    n = gguf.BLOCKS[kind][0]
    parts = [(rng.standard_normal(2 * n) * s).astype(np.float32) for s in (1e-3, 1.0, 1e3)]
    parts += [tie_blocks(kind, rng, 2), np.zeros(n, np.float32), np.full(n, -0.0, np.float32)]
    if kind == "mxfp4":
        parts.append(decisive_mxfp4(rng, 6))
    return np.concatenate(parts)


@pytest.mark.parametrize("kind", QUANTIZED)
def test_definition_and_fast_form_match_gguf_py_quantize(kind):
    quants = pytest.importorskip("gguf.quants")
    x = _sample(kind, 1)
    spec = gguf.quantize_row(kind, x.tolist())
    assert fast.quantize(kind, x).tobytes() == spec
    assert quants.quantize(x, qtype(kind)).tobytes() == spec


@pytest.mark.parametrize("kind", DEQUANTIZED)
def test_dequantize_definition_fast_form_and_gguf_py(kind):
    quants = pytest.importorskip("gguf.quants")
    b = random_blocks(kind, np.random.default_rng(2), 3)
    spec = gguf.dequantize_row(kind, b.tobytes())
    assert fast.dequantize(kind, b).view(np.uint32).tolist() == spec
    assert quants.dequantize(b, qtype(kind)).view(np.uint32).ravel().tolist() == spec


def test_layouts_and_named_values():
    # TQ2_0: element k at byte 32*(k//128) + k%32, bits 2*((k//32)%4); codes lroundf(x/amax) + 1
    x = [0.0] * 256
    x[0], x[33], x[200] = 1.0, -0.5, 0.5          # ties away from zero: -0.5 -> -1, 0.5 -> +1
    b = gguf.quantize_block("tq2_0", x)
    assert b[0] == 0b01010110 and b[1] == 0b01010001 and b[32 + 8] == 0b01100101 and b[64:] == b"\x00\x3c"
    assert gguf.codes("tq2_0", b)[0][:2] == [1, 0] and gguf.codes("tq2_0", b)[0][33] == -1
    # TQ1_0: byte 0 holds elements 0, 32, 64, 96, 128 as base-3 digits (most significant first), ceil(q*256/243)
    t = gguf.quantize_block("tq1_0", x)
    q = 2 * 81 + 1 * 27 + 1 * 9 + 1 * 3 + 1
    assert t[0] == (q * 256 + 242) // 243 and gguf.codes("tq1_0", t)[0][0] == 1
    assert [formats.value_of("fp32", v) for v in gguf.dequantize_block("tq1_0", t)[:2]] == [1, 0]
    # MXFP4: amax 6 -> e = floor(log2 6) - 2 + 127 = 127, scale 2^-1; 2.5*0.5 = 1.25 ties to the first (1.0)
    m = gguf.quantize_block("mxfp4", [6.0, 1.25, -1.25] + [0.0] * 29)
    assert m[0] == 127 and m[1] & 0x0F == 7 and m[2] & 0x0F == 2 and m[3] & 0x0F == 10
    assert gguf_lut.e8m0_half(127).value == formats.real(0.5).value
    # IQ4_NL: d * kvalues_iq4nl[q]
    nl = b"\x00\x3c" + bytes([0x10] + [0x88] * 15)
    assert [formats.value_of("fp32", v) for v in gguf.dequantize_block("iq4_nl", nl)[:2]] == [-127, 1]
    assert gguf.dequantize_block("iq4_nl", nl)[16] == formats.encode("fp32", -104)


def test_log2f_decides_the_mxfp4_exponent():
    """amax = 8 (1 - 2^-24): log2 = 3 - 8.6e-8 rounds to 3.0 in binary32, so e = 128, not 127."""
    amax = np.float32(8 * (1 - 2.0 ** -24))
    assert gguf_lut.log2f(formats.real(float(amax))).value == 3
    assert gguf.quantize_block("mxfp4", [float(amax)] + [0.0] * 31)[0] == 128
    assert gguf.quantize_block("mxfp4", [float(np.nextafter(np.float32(4), np.float32(0)))] + [0.0] * 31)[0] == 126


def test_errors():
    with pytest.raises(Unpredictable):          # floor(log2(2^-126)) - 2 + 127 = -1: (uint8_t) undefined
        gguf.quantize_block("mxfp4", [2.0 ** -126] + [0.0] * 31)
    with pytest.raises(Unpredictable):
        fast.quantize("mxfp4", np.array([2.0 ** -126] + [0.0] * 31, np.float32))
    with pytest.raises(Unpredictable):          # 1/amax overflows: x * inf, lroundf undefined
        gguf.quantize_block("tq2_0", [2.0 ** -130] + [0.0] * 255)
    with pytest.raises(Unpredictable):
        fast.quantize("tq1_0", np.array([2.0 ** -130] + [0.0] * 255, np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("kind", QUANTIZED)
def test_fast_form_matches_gguf_py_on_a_million_elements(kind):
    """>= 10^6 elements per type: random at three magnitudes, ties, zeros (MXFP4: decisive amax)."""
    quants = pytest.importorskip("gguf.quants")
    rng = np.random.default_rng(7)
    x = np.concatenate(list(inputs(kind, rng, 1 << 20).values()))
    assert x.size >= 10**6
    ours = fast.quantize(kind, x)
    assert (ours == quants.quantize(x, qtype(kind))).all()
    assert (fast.dequantize(kind, ours).view(np.uint32) == quants.dequantize(ours, qtype(kind)).view(np.uint32).ravel()).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", DEQUANTIZED)
def test_dequantize_matches_gguf_py_on_a_million_elements(kind):
    quants = pytest.importorskip("gguf.quants")
    b = random_blocks(kind, np.random.default_rng(8), (1 << 20) // gguf.BLOCKS[kind][0])
    assert (fast.dequantize(kind, b).view(np.uint32) == quants.dequantize(b, qtype(kind)).view(np.uint32).ravel()).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", QUANTIZED)
def test_fast_form_equals_the_definition_on_more_blocks(kind):
    x = np.concatenate([_sample(kind, s) for s in range(3)])
    assert fast.quantize(kind, x).tobytes() == gguf.quantize_row(kind, x.tolist())
    b = random_blocks(kind, np.random.default_rng(9), 24)
    assert fast.dequantize(kind, b).view(np.uint32).tolist() == gguf.dequantize_row(kind, b.tobytes())


def test_nvfp4_quantize_fast_form_equals_the_definition():
    """gguf-py 0.19.0 has no NVFP4 quantizer; the definition equals ggml's C (docs/llm-formats.md §1)."""
    x = np.concatenate([_sample("mxfp4", 3)[:640], tie_blocks("nvfp4", np.random.default_rng(4), 4)])
    assert fast.quantize("nvfp4", x).tobytes() == gguf.quantize_row("nvfp4", x.tolist())
    # amax 1.125: amax/6 = 0.1875 = 1.5 * 2^-3 -> UE4M3 exponent 4, mantissa 4: 0x24, scale 0.1875 / 2
    b = gguf.quantize_block("nvfp4", [1.125] + [0.0] * 63)
    assert b[0] == 0x24 and gguf_lut.ue4m3_half(0x24).value == formats.real(0.09375).value
    assert [gguf_lut.fp32_to_ue4m3(formats.real(v)) for v in (0.0, -1.0, 1000.0, 2.0 ** -8)] == [0, 0, 0x7E, 2]
