"""The numpy fast form of the GGUF k-quants (refquant/blocks/gguf_k.py) against the definition
(refquant/gguf_k.py, refquant.gguf) byte for byte and bit for bit; against ggml's own C
(quantize_row_q*_K_ref / dequantize_row_q*_K of refquant/peers/ggml.py) and gguf-py 0.19.0's
dequantizers (gguf-py has no K quantizer).  docs/llm-formats.md §1 records the numbers."""

import numpy as np
import pytest

from refquant import gguf
from refquant.blocks import gguf_k as fk
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError, Unpredictable
from refquant.peers.gguf import _k_blocks

KTYPES = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K")
GROUP = {"q2_K": 16, "q3_K": 16, "q4_K": 32, "q5_K": 32, "q6_K": 16, "q8_K": 256}
CASES = ("random 1e-3", "random 1", "random 300", "all positive", "a third zeros", "half zeros", "all zeros",
         "near-ties", "below 1e-15")


def near_ties(kind, rng, n):
    """n values whose first search step hits nearest_int ties (scale exactly 1) or one ulp either side:
    Q6_K / Q3_K / Q8_K an anchor -nmax (iscale = -nmax/max = 1) and k + 0.5; Q2_K / Q4_K / Q5_K
    min 0, max nmax (iscale = nmax/(max - min) = 1) and k + 0.5."""
    lo, hi, anchors = {"q6_K": (-32, 30, {0: -32}), "q3_K": (-4, 2, {0: -4}), "q8_K": (-127, 125, {0: -127}),
                       "q2_K": (0, 2, {0: 0, 1: 3}), "q4_K": (0, 14, {0: 0, 1: 15}),
                       "q5_K": (0, 30, {0: 0, 1: 31})}[kind]
    b = rng.integers(lo, hi + 1, n).astype(np.float32) + np.float32(0.5)
    k = rng.integers(0, 3, n)
    b = np.where(k == 1, np.nextafter(b, np.float32(np.inf)), np.where(k == 2, np.nextafter(b, np.float32(-np.inf)), b))
    for i, v in anchors.items():
        b[i] = v
    return b.astype(np.float32)


def case(kind, name, rng, n):
    """n values of one named case (n a multiple of the kind's sub-block; ties per sub-block)."""
    if name == "near-ties":
        g = GROUP[kind]
        return np.concatenate([near_ties(kind, rng, g) for _ in range(n // g)])
    x = rng.standard_normal(n).astype(np.float32)
    if name.startswith("random"):
        return (x * np.float32(float(name.split()[1]))).astype(np.float32)
    if name == "all positive":
        return np.abs(x)
    if name == "a third zeros":
        return np.where(rng.integers(0, 3, n) == 0, np.float32(0), x)
    if name == "half zeros":
        return np.where(np.arange(n) % 2 == 0, np.float32(0), x)
    if name == "below 1e-15":
        return (x * np.float32(1e-17)).astype(np.float32)
    return np.where(rng.integers(0, 2, n) == 0, np.float32(-0.0), np.float32(0.0))     # all zeros, +-0


def mixed_superblock(kind, rng):
    """One super-block whose sub-blocks run through the cases (Q8_K: the case of the whole block)."""
    g = GROUP[kind]
    if g == 256:
        return case(kind, "near-ties", rng, 256)
    return np.concatenate([case(kind, CASES[i % len(CASES)], rng, g) for i in range(256 // g)])


def sample(kind, seed, per_case=1):
    """Super-blocks of every case (per_case each) and one mixed super-block."""
    rng = np.random.default_rng(seed)
    return np.concatenate([case(kind, c, rng, 256 * per_case) for c in CASES] + [mixed_superblock(kind, rng)])


def spec_bytes(kind, x):
    return gguf.quantize_row(kind, [float(v) for v in np.asarray(x, np.float32).ravel()])


@pytest.mark.parametrize("kind", KTYPES)
def test_fast_quantize_equals_the_definition(kind):
    """One mixed super-block (every case in its sub-blocks) and one all-zero super-block; Q3_K and Q8_K
    (quick in the definition) every case."""
    rng = np.random.default_rng(1)
    if kind in ("q3_K", "q8_K"):
        x = sample(kind, 1)
    else:
        x = np.concatenate([mixed_superblock(kind, rng), case(kind, "all zeros", rng, 256)])
    assert fk.quantize(kind, x).tobytes() == spec_bytes(kind, x)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KTYPES)
def test_fast_quantize_equals_the_definition_sweep(kind):
    x = np.concatenate([sample(kind, 2), sample(kind, 3)])
    assert fk.quantize(kind, x).tobytes() == spec_bytes(kind, x)


@pytest.mark.parametrize("kind", KTYPES)
def test_fast_quantize_matches_ggml(ggml, kind):
    x = sample(kind, 4, per_case=2)
    assert (fk.quantize(kind, x) == ggml.quantize_ref(kind, x)).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KTYPES)
def test_fast_quantize_matches_ggml_sweep(ggml, kind):
    """2^20 random values at three magnitudes and 2^17 of each other case: 1,835,008 values per type."""
    rng = np.random.default_rng(5)
    n = 1 << 20
    x = (rng.standard_normal(n) * rng.choice([1e-3, 1.0, 300.0], n)).astype(np.float32)
    x = np.concatenate([x] + [case(kind, c, rng, 1 << 17) for c in CASES[3:]])
    size = gguf.BLOCKS[kind][1]
    bad = (fk.quantize(kind, x).reshape(-1, size) != ggml.quantize_ref(kind, x).reshape(-1, size)).any(axis=1)
    assert x.size >= 10 ** 6 and not bad.any(), f"{bad.sum()} of {bad.size} super-blocks differ"


def random_blocks(kind, rng, n):
    if kind == "q8_K":
        return fk.quantize(kind, rng.standard_normal(256 * n).astype(np.float32)).reshape(n, -1)
    return _k_blocks(kind, rng, n)


@pytest.mark.parametrize("kind", KTYPES)
def test_fast_dequantize_equals_the_definition_and_gguf_py(kind):
    b = random_blocks(kind, np.random.default_rng(6), 3)
    spec = np.array(gguf.dequantize_row(kind, b.tobytes()), dtype=np.uint32)
    assert (fk.dequantize(kind, b).view(np.uint32) == spec).all()
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType as T
    if kind != "q8_K":      # gguf-py 0.19.0 has no Q8_K
        assert (quants.dequantize(b, T[kind.upper()]).view(np.uint32).ravel() == spec).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KTYPES)
def test_fast_dequantize_matches_ggml_and_gguf_py_sweep(ggml, kind):
    """2^20 elements of random blocks with finite scales (Q8_K: of random values quantized)."""
    b = random_blocks(kind, np.random.default_rng(7), 4096)
    got = fk.dequantize(kind, b).view(np.uint32)
    assert (got == ggml.dequantize(kind, b).view(np.uint32)).all()
    if kind != "q8_K":
        quants = pytest.importorskip("gguf.quants")
        from gguf import GGMLQuantizationType as T
        assert (quants.dequantize(b, T[kind.upper()]).view(np.uint32).ravel() == got).all()


def test_shapes_and_errors():
    x = np.random.default_rng(8).standard_normal((3, 512)).astype(np.float32)
    assert fk.quantize("q4_K", x).shape == (3, 288)
    assert fk.dequantize("q4_K", fk.quantize("q4_K", x)).shape == (3 * 512,)
    with pytest.raises(UnknownNameError):
        fk.quantize("q4_0", x)
    with pytest.raises(ShapeError):
        fk.quantize("q6_K", x[:, :100])
    with pytest.raises(InvalidValueError):
        fk.quantize("q6_K", np.full(256, np.nan, np.float32))
    with pytest.raises(ShapeError):
        fk.dequantize("q6_K", np.zeros(100, np.uint8))
    with pytest.raises(UnknownNameError):
        fk.dequantize("q4_0", np.zeros(18, np.uint8))


REFUSED = [("q3_K", 3e4, InvalidValueError), ("q6_K", 1e6, InvalidValueError), ("q2_K", 1e6, Unpredictable),
           ("q4_K", 1e8, Unpredictable), ("q5_K", 1e8, Unpredictable)]


@pytest.mark.parametrize("kind, mag, exc", REFUSED)
def test_overflowing_inputs_are_refused_as_the_definition_refuses_them(kind, mag, exc):
    """Random blocks at a magnitude where a search intermediate overflows binary32 (InvalidValueError)
    or an fp16 scale overflows and nearest_int meets inf / NaN (Unpredictable); at 1e4 all pass."""
    x = (np.random.default_rng(3).standard_normal(256) * mag).astype(np.float32)
    with pytest.raises(exc):
        fk.quantize(kind, x)
    fk.quantize(kind, (x / np.float32(mag) * np.float32(1e4)).astype(np.float32))
    if kind == "q3_K":          # the definition refuses it early (slow for the others: marked below)
        with pytest.raises(exc):
            spec_bytes(kind, x)


@pytest.mark.slow
@pytest.mark.parametrize("kind, mag, exc", REFUSED[1:])
def test_the_definition_refuses_the_same_inputs(kind, mag, exc):
    x = (np.random.default_rng(3).standard_normal(256) * mag).astype(np.float32)
    with pytest.raises(exc):
        spec_bytes(kind, x)


@pytest.mark.parametrize("kind", KTYPES)
def test_gguf_py_has_no_k_quantizer(kind):
    """gguf-py 0.19.0 quantizes none of the K types (so the byte-for-byte peer of the quantizers is
    ggml's C above); it dequantizes Q2_K .. Q6_K (checked above), and has no Q8_K at all."""
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType as T
    with pytest.raises(NotImplementedError):
        quants.quantize(np.zeros(256, np.float32), T[kind.upper()])
    if kind == "q8_K":
        with pytest.raises(NotImplementedError):
            quants.dequantize(np.zeros(292, np.uint8), T.Q8_K)
