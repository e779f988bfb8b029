"""GGUF block types: the definition (refquant.gguf), its numpy fast form (refquant.blocks.gguf) and
gguf-py 0.19.0 (gguf.quants) byte for byte; dequantization bit for bit; the ggml dot products."""

from fractions import Fraction

import numpy as np
import pytest

from refquant import formats, gguf
from refquant.blocks import gguf as fast
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError

LEGACY = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0")
KTYPES = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K")


def _spec_bytes(kind, x):
    return gguf.quantize_row(kind, [float(v) for v in np.asarray(x, np.float32).ravel()])


def ties(kind, rng, n_blocks):
    """Blocks whose scale is exactly 1 so that x*id + offset lands on .5 ties, and their neighbours."""
    n = gguf.BLOCKS[kind][0]
    out = []
    for _ in range(n_blocks):
        if kind in ("q4_0", "q5_0"):
            half = 8 if kind == "q4_0" else 16
            b = rng.integers(-half, half - 1, n).astype(np.float32) + np.float32(0.5)
            anchors = {0: -half}                            # max = -half -> d = 1, id = 1
        elif kind in ("q4_1", "q5_1"):
            top = 15 if kind == "q4_1" else 31
            b = rng.integers(0, top, n).astype(np.float32) + np.float32(0.5)
            anchors = {0: 0, 1: top}                        # min 0, max top -> d = 1
        else:
            b = rng.integers(-127, 126, n).astype(np.float32) + np.float32(0.5)
            anchors = {0: 127}                              # amax 127 -> d = 1
        k = rng.integers(0, 3, n)                           # the tie, or one ulp either side
        up, down = np.nextafter(b, np.float32(np.inf)), np.nextafter(b, np.float32(-np.inf))
        b = np.where(k == 1, up, np.where(k == 2, down, b)).astype(np.float32)
        for i, v in anchors.items():
            b[i] = v
        out.append(b)
    return np.concatenate(out)


def sample(kind, seed, n_blocks=6):
    rng = np.random.default_rng(seed)
    n = gguf.BLOCKS[kind][0]
    x = (rng.standard_normal(n * n_blocks) * rng.choice([1e-3, 1.0, 300.0], n * n_blocks)).astype(np.float32)
    return np.concatenate([x, ties(kind, rng, 2) if kind in LEGACY + ("q8_1",) else x[:n]])


@pytest.mark.parametrize("kind", LEGACY + ("q8_1", "q8_K"))
def test_fast_form_equals_the_definition(kind):
    x = sample(kind, 1)
    assert fast.quantize(kind, x).tobytes() == _spec_bytes(kind, x)


@pytest.mark.parametrize("kind", LEGACY)
def test_definition_matches_gguf_py_byte_for_byte(kind):
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType as T
    x = sample(kind, 2)
    assert _spec_bytes(kind, x) == quants.quantize(x, T[kind.upper()]).tobytes()


@pytest.mark.parametrize("kind", LEGACY)
def test_dequantize_matches_gguf_py_and_the_fast_form(kind):
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType as T
    data = fast.quantize(kind, sample(kind, 3))
    spec = np.array(gguf.dequantize_row(kind, data.tobytes()), dtype=np.uint32)
    assert (spec == fast.dequantize(kind, data).view(np.uint32)).all()
    assert (spec == quants.dequantize(data, T[kind.upper()]).view(np.uint32)).all()


def random_k_blocks(kind, rng, n):
    """Random K blocks with finite fp16 (and binary32) scale fields."""
    size = gguf.BLOCKS[kind][1]
    b = rng.integers(0, 256, (n, size), dtype=np.uint8)
    offs = {"q2_K": [80, 82], "q3_K": [108], "q4_K": [0, 2], "q5_K": [0, 2], "q6_K": [208]}[kind]
    for o in offs:
        b[:, o:o + 2] = (rng.standard_normal(n) * 0.01).astype("<f2").view(np.uint8).reshape(n, 2)
    return b


@pytest.mark.parametrize("kind", KTYPES)
def test_k_dequantize_matches_gguf_py(kind):
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType as T
    b = random_k_blocks(kind, np.random.default_rng(4), 2)
    spec = np.array(gguf.dequantize_row(kind, b.tobytes()), dtype=np.uint32)
    assert (spec == quants.dequantize(b, T[kind.upper()]).view(np.uint32).ravel()).all()


@pytest.mark.parametrize("kind", LEGACY)
def test_fast_vec_dot_equals_the_definition(kind):
    rng = np.random.default_rng(5)
    ky = gguf.PAIRS[kind]
    w = fast.quantize(kind, rng.standard_normal((3, 96)).astype(np.float32))
    v = fast.quantize(ky, rng.standard_normal(96).astype(np.float32))
    got = fast.vec_dot(kind, w, ky, v).view(np.uint32)
    assert list(got) == [gguf.vec_dot(kind, w[r].tobytes(), ky, v.tobytes()) for r in range(3)]


def _pow2_fp16(rng, n):
    return np.ldexp(np.float32(1), rng.integers(-6, 2, n)).astype("<f2").view(np.uint8).reshape(n, 2)


@pytest.mark.parametrize("kind", KTYPES)
def test_k_dot_exact_is_the_dot_of_the_dequantized_blocks(kind):
    """With power-of-two scales every dequantized value and product is exact: the 'exact' dot is then
    the exact sum of products of the dequantized rows (layouts of dot and dequantize agree)."""
    rng = np.random.default_rng(6)
    b = random_k_blocks(kind, rng, 2)
    offs = {"q2_K": [80, 82], "q3_K": [108], "q4_K": [0, 2], "q5_K": [0, 2], "q6_K": [208]}[kind]
    for o in offs:
        b[:, o:o + 2] = _pow2_fp16(rng, 2)
    y = fast.quantize("q8_K", rng.standard_normal(512).astype(np.float32)).reshape(2, 292)
    y[:, 0:4] = np.array([0.0078125] * 2, "<f4").view(np.uint8).reshape(2, 4)  # d = 2^-7 in each block
    dx = [formats.value_of("fp32", v) for v in gguf.dequantize_row(kind, b.tobytes())]
    dy = [formats.value_of("fp32", v) for v in gguf.dequantize_row("q8_K", y.tobytes())]
    want = formats.encode("fp32", sum(p * q for p, q in zip(dx, dy)))
    assert gguf.vec_dot(kind, b.tobytes(), "q8_K", y.tobytes(), "exact") == want
    generic = formats.value_of("fp32", gguf.vec_dot(kind, b.tobytes(), "q8_K", y.tobytes()))
    assert abs(generic - formats.value_of("fp32", want)) <= abs(formats.value_of("fp32", want)) * Fraction(1, 2**18) + 1


def test_signed_zero_scales_follow_ggml():
    """ggml keeps amax = max = +0 for an all-zero block, so d = +0/-8 = -0 (0x8000); Q4_1's min is the
    first of equal zeros."""
    assert gguf.quantize_block("q4_0", [-0.0] * 32)[:2] == b"\x00\x80"
    assert gguf.quantize_block("q4_0", [0.0] * 32)[:2] == b"\x00\x80"
    assert gguf.quantize_block("q4_1", [-0.0] + [0.0] * 31)[2:4] == b"\x00\x80"
    assert gguf.quantize_block("q8_0", [-0.0] * 32)[:2] == b"\x00\x00"


def test_named_examples():
    # max = -8: d = 1, x + 8.5 truncated; 0.5 -> 9 (tie up), -0.5 -> 8
    b = gguf.quantize_block("q4_0", [-8.0, 0.5, -0.5] + [0.0] * 29)
    assert b[:2] == b"\x00\x3c" and b[2] & 0x0F == 0 and b[3] & 0x0F == 9 and b[4] & 0x0F == 8
    q8 = gguf.quantize_block("q8_0", [127.0, 2.5, -2.5] + [0.0] * 29)
    assert list(q8[2:5]) == [127, 3, 253]          # roundf: ties away from zero
    assert gguf.nearest_int(formats.real("2.5")) == 2 and gguf.nearest_int(formats.real("3.5")) == 4


def test_errors():
    with pytest.raises(InvalidValueError):
        gguf.quantize_block("q4_0", [float("nan")] + [0.0] * 31)
    with pytest.raises(InvalidValueError):
        gguf.quantize_block("q4_0", [0.1] * 32)          # 0.1 is not a binary32 value
    with pytest.raises(ShapeError):
        gguf.quantize_block("q4_0", [0.0] * 31)
    with pytest.raises(UnknownNameError):
        gguf.dequantize_block("q8_1", bytes(36))           # ggml has no dequantize_row_q8_1
    with pytest.raises(UnknownNameError):
        gguf.quantize_block("q9_9", [0.0] * 32)
    with pytest.raises(UnknownNameError):
        gguf.vec_dot("q4_0", b"", "q8_1", b"")
    with pytest.raises(ShapeError):
        gguf.dequantize_block("q4_0", bytes(17))
    with pytest.raises(InvalidValueError):
        fast.quantize("q4_0", np.full(32, np.inf, np.float32))


@pytest.mark.parametrize("kind, block, field", [("q4_0", [-0.0] * 32, slice(0, 2)),
                                                ("q4_1", [-0.0] + [0.0] * 31, slice(2, 4))])
def test_gguf_py_zero_sign_deviations_reproduce(kind, block, field):
    """The two named deviations of gguf-py 0.19.0 (backend row gguf_py), on their reproducers."""
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType as T
    from refquant.peers.gguf import gguf_py_model
    x = np.array(block, np.float32)
    got = quants.quantize(x, T[kind.upper()]).tobytes()
    assert gguf.quantize_block(kind, block)[field] == b"\x00\x80" and got[field] == b"\x00\x00"
    assert got == gguf_py_model(kind, x).tobytes()


def test_verify_gguf_rows():
    pytest.importorskip("gguf.quants")
    from refquant.peers.gguf import backend_gguf
    rows = backend_gguf(n=1 << 12)
    assert {r.status for r in rows} <= {"pass", "known"} and sum(r.status == "known" for r in rows) == 4


@pytest.mark.slow
@pytest.mark.parametrize("kind", LEGACY)
def test_fast_form_matches_gguf_py_on_a_million_elements(kind):
    """>= 10^6 elements per type (random at three magnitudes, plus constructed .5 ties)."""
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType as T
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(1 << 20) * rng.choice([1e-4, 1.0, 1e4], 1 << 20)).astype(np.float32)
    x = np.concatenate([x, ties(kind, rng, 4096)]).reshape(-1, 1024)
    ours = fast.quantize(kind, x)
    assert (ours == quants.quantize(x, T[kind.upper()])).all()
    assert (fast.dequantize(kind, ours).view(np.uint32) == quants.dequantize(ours, T[kind.upper()]).view(np.uint32)).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", LEGACY + ("q8_1", "q8_K"))
def test_fast_form_equals_the_definition_on_more_blocks(kind):
    for seed in range(10, 14):
        x = sample(kind, seed, n_blocks=40)
        assert fast.quantize(kind, x).tobytes() == _spec_bytes(kind, x)


def test_cli_decode_and_encode_a_block():
    from fuzz_support import run_cli
    rc, out, err = run_cli(["encode", "q4_0", "--json", "--", ",".join(["-8", "0.5", "-0.5"] + ["0"] * 29)])
    assert rc == 0, err
    import json
    info = json.loads(out)
    assert info["bytes"] == "00 3c 80 89" + " 88" * 14 and info["codes"][:3] == [-8, 1, 0]
    rc, out, err = run_cli(["decode", "q4_0", info["bytes"], "--json"])
    assert rc == 0 and json.loads(out)["values"][:2] == ["-8", "1"]
    rc, out, _ = run_cli(["decode", "q6_K", "00" * 210])
    assert rc == 0 and "elements: 256" in out


def test_cli_block_input_is_fuzzed_to_clean_errors():
    from fuzz_support import problems, run_cli
    rng = np.random.default_rng(8)
    bad = ["", "zz", "0x", "00 3", "00" * 17, "00" * 19, "ff" * 18 + "-", "::", "0x00 0x3c" + " 88" * 16]
    bad += [bytes(rng.integers(0, 256, rng.integers(0, 40), dtype=np.uint8)).hex() for _ in range(20)]
    for text in bad:
        for kind in ("q4_0", "q5_1", "q3_K"):
            rc, out, err = run_cli(["decode", kind, text])
            assert problems(rc, out, err) == [], (kind, text, rc, err)
    for values in ("0.1", "1,2", "nan," + "0," * 31, "x", "1e40," + "0," * 31):
        rc, out, err = run_cli(["encode", "q8_0", values])
        assert rc == 2 and problems(rc, out, err) == [], (values, err)


@pytest.mark.slow
def test_golden_blocks_set_is_reproduced_by_the_oracle():
    """Every line of the shipped 'blocks' vectors recomputed by refquant.gguf (the K quantizers' exact
    searches take seconds; test_golden's byte-identical regeneration covers them unmarked)."""
    from refquant import golden
    mismatches, _ = golden.verify_set(golden.load_set("blocks"), use_kernel=False)
    assert mismatches == []


def test_golden_blocks_set_is_reproduced_by_gguf_py():
    """gguf-py 0.19.0 writes the same bytes and values as the shipped 'blocks' vectors except on the
    signed-zero lines of its two named deviations."""
    from refquant import golden
    gset = golden.load_set("blocks")
    assert golden.shipped_difference(gset) is None
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType as T
    differ, unsupported = [], set()
    for g, t in gset.tests():
        kind = t["params"]["format"]
        if kind in ("q8_1", "q8_K") or (kind.endswith("_K") and g["op"] == "gguf_quantize"):   # no gguf-py quantizer
            continue
        for f in t["files"]:
            for lineno, words in gset.read_vectors(f):
                try:
                    if g["op"] == "gguf_quantize":
                        x = np.array([int(words[0][i:i + 8], 16) for i in range(0, len(words[0]), 8)], np.uint32)
                        got = quants.quantize(x.view(np.float32), T[kind.upper()]).tobytes().hex()
                    else:
                        v = quants.dequantize(np.frombuffer(bytes.fromhex(words[0]), np.uint8), T[kind.upper()])
                        got = "".join(f"{b:08x}" for b in v.view(np.uint32).ravel())
                except NotImplementedError:        # gguf-py 0.19.0 has no NVFP4 (checked against ggml's C instead)
                    unsupported.add(kind)
                    break
                if got != words[1]:
                    differ.append((t["name"], lineno))
    assert {name for name, _ in differ} == {f"ggml_ref/{k}/quantize/zeros" for k in ("q4_0", "q4_1", "q5_0", "q5_1")}
    assert unsupported <= {"nvfp4"}, unsupported


@pytest.mark.parametrize("kind", ["q4_0", "q4_1", "q8_0", "q2_K", "q6_K"])
def test_vec_dot_trace_equals_the_dot(kind):
    """explain of a vec_dot: the traced result is the dot's, with a line per block and per float step."""
    rng = np.random.default_rng(20)
    ky = gguf.PAIRS[kind]
    n = gguf.BLOCKS[kind][0] * 2
    x = gguf.quantize_row(kind, (rng.standard_normal(n)).astype(np.float32).tolist()) if not kind.endswith("K") \
        else random_k_blocks(kind, rng, 2).tobytes()
    y = gguf.quantize_row(ky, (rng.standard_normal(n)).astype(np.float32).tolist())
    for acc in ("ggml_generic", "exact"):
        trace = []
        assert gguf.vec_dot(kind, x, ky, y, acc, trace) == gguf.vec_dot(kind, x, ky, y, acc)
        names = [t.name for t in trace]
        assert "block 1 x" in names and names[-1] == "result" and any(t.startswith("step") for t in names)
