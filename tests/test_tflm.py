"""tflite-micro as a peer (tflite-micro 0.dev20261023182759, its Python interpreter wheel).

The models are the ones ``refquant verify litert`` builds (refquant/peers/litert_rows.py); each runs
under tflite-micro and is compared bit for bit with refquant under the backend row ``tflite_micro``:
LiteRT's reference arithmetic except FULLY_CONNECTED ('tflite_double'), int8 LOGISTIC / TANH
('tflm_fixed') and int16 SOFTMAX ('tflm': tables from gen_lut<float>).  docs/ops.md, "tflite-micro"."""

import random

import numpy as np
import pytest

pytest.importorskip("tflite_micro.python.tflite_micro.runtime", reason="tflite-micro is not installed (extra 'tflm')")
pytest.importorskip("ai_edge_litert.schema_py_generated", reason="the model builder needs ai-edge-litert (extra 'litert')")

from refquant import activations as A  # noqa: E402
from refquant import activations_int16 as AI  # noqa: E402
from refquant import backends  # noqa: E402
from refquant.peers import activations as PA  # noqa: E402
from refquant.peers import litert, tflm  # noqa: E402


def _unary_model(op, x, dtype, sx, zx, sy, zy, **options):
    m = litert.Model()
    tx = m.tensor("x", x.shape, dtype, scale=sx, zero_point=zx)
    ty = m.tensor("y", x.shape, dtype, scale=sy, zero_point=zy)
    m.op(op, [tx], [ty], **options)
    return m.build(inputs=[tx], outputs=[ty])


def _logistic_tanh(configs, seed):
    rng, n = random.Random(seed), 0
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for _ in range(configs):
        for op, fn, sy, zy in (("LOGISTIC", A.sigmoid_tflm, 1 / 256, -128), ("TANH", A.tanh_tflm, 1 / 128, 0)):
            sx = float(np.float32(2.0 ** rng.randint(-8, -3) if rng.random() < 0.3 else rng.uniform(0.002, 0.3)))
            zx = rng.choice((-128, 127, 0)) if rng.random() < 0.3 else rng.randint(-128, 127)
            (got,) = tflm.run(_unary_model(op, x, "int8", sx, zx, sy, zy), [x])
            want = fn(x.ravel().tolist(), sx, zx, sy, zy)
            assert got.ravel().tolist() == want, (op, sx, zx)
            n += got.size
    return n


def test_int8_logistic_and_tanh_are_the_gemmlowp_fixed_point_variant():
    assert backends.variant("tflite_micro", "sigmoid") is A.sigmoid_tflm
    assert _logistic_tanh(6, 1) == 12 * 256


@pytest.mark.slow
def test_int8_logistic_and_tanh_sweep():
    """Every int8 input under 200 (scale, zero point) pairs per op: 102,400 elements."""
    assert _logistic_tanh(200, 2) >= 10**5


def test_verify_tflm_has_no_unexplained_difference():
    """``refquant verify tflm``: every ``verify litert`` model and activation case under tflite-micro,
    judged against the ideal and explained only by the ``tflite_micro`` row's named deviations."""
    from refquant.peers.conformance import DIFFER, KNOWN, UNSUPPORTED
    rows = tflm.backend_tflm()
    assert [r.op for r in rows if r.status == DIFFER] == []
    assert [r.op for r in rows if r.status == UNSUPPORTED] == ["RESIZE_BILINEAR int16"]   # no int16 bilinear
    fc = [r for r in rows if r.op.startswith("FULLY_CONNECTED")]
    assert len(fc) == 2 and all(r.status == KNOWN and r.deviation.startswith("tflite-micro FULLY_CONNECTED") for r in fc)
    assert len(rows) == 43 and sum(r.elements for r in rows) > 60000


def test_activations_other_than_logistic_tanh_equal_litert_reference():
    """LEAKY_RELU, HARD_SWISH, int8 SOFTMAX and the int16 LOGISTIC / TANH: tflite-micro gives
    LiteRT's reference outputs on the constructed near-tie cases of ``verify litert`` (every int8 input)."""
    n = 0
    for op, dtype, sx, zx, sy, zy, attrs in PA.LITERT_CASES:
        if op in ("sigmoid", "tanh", "softmax_int16"):      # the tflite_micro row's own variants
            continue
        rng = np.random.default_rng(n)
        x = (np.arange(-128, 128).reshape(4, 64) if dtype == "int8" else rng.integers(-32768, 32768, (4, 64)))
        x = x.astype(litert.DTYPES[dtype][1])
        options = {"beta": 1.0, **attrs} if op.startswith("softmax") else attrs
        blob = _unary_model(PA._LITERT_OPS[op], x, dtype, sx, zx, sy, zy, **options)
        (got,) = tflm.run(blob, [x])
        ref = litert.run(blob, {"x": x}, "ref").outputs["y"]
        assert np.array_equal(got, ref), (op, dtype, sx)
        n += 1
    assert n == 8


def test_int16_softmax_tables_differ_from_litert_at_two_reciprocal_entries():
    """gen_lut<float> (tflite-micro) against LUTPopulateInt16<double> (LiteRT): the exp tables are
    equal, the 1/(1+x) tables differ by one at entries 160 and 294; no entry depends on expf's choice
    within EXP_ULP (softmax_tflm_luts would raise Unpredictable)."""
    tflm_exp, tflm_recip = AI.softmax_tflm_luts()
    lite_exp, lite_recip = AI.softmax_int16_luts()
    assert tflm_exp == lite_exp and len(tflm_recip) == 513
    assert [(i, a - b) for i, (a, b) in enumerate(zip(tflm_recip, lite_recip)) if a != b] == [(160, -1), (294, 1)]
    assert backends.variant("tflite_micro", "softmax_int16") is AI.softmax_tflm_int16


def test_int16_softmax_seed_4_is_the_tflm_variant_not_litert():
    """The three +1 elements of seed 4 (e.g. 2949 where LiteRT and 'tflite_ref' give 2948) are the
    'tflm' variant's outputs (measured on tflite-micro 0.dev20261023182759)."""
    x = np.random.default_rng(4).integers(-32768, 32768, (4, 64)).astype(np.int16)
    blob = _unary_model("SOFTMAX", x, "int16", 0.0009765625, 0, 3.0517578125e-05, 0, beta=1.0)
    (got,) = tflm.run(blob, [x])
    ref = litert.run(blob, {"x": x}, "ref").outputs["y"]
    assert np.count_nonzero(got.astype(int) - ref.astype(int)) == 3
    assert got.tolist() == AI.softmax_tflm_int16(x.tolist(), 0.0009765625, 0, 3.0517578125e-05, 0)


def _softmax16_sweep(cases, seed):
    """Random int16 SOFTMAX models (row lengths 1-300, input scales, betas, narrow and full input
    ranges) under tflite-micro against the 'tflm' variant: (elements, mismatches, differ from 'tflite_ref')."""
    rng = np.random.default_rng(seed)
    n = bad = other = 0
    for _ in range(cases):
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 301)))
        span = int(rng.choice([300, 3000, 20000, 32768]))
        x = rng.integers(-span, min(span, 32767) + 1, shape).astype(np.int16)
        sx = float(np.float32(rng.choice([2.0 ** -10, 2.0 ** -12]) if rng.random() < 0.3 else rng.uniform(1e-4, 3e-3)))
        beta = 1.0 if rng.random() < 0.5 else float(np.float32(rng.uniform(0.3, 3.0)))
        blob = _unary_model("SOFTMAX", x, "int16", sx, 0, 3.0517578125e-05, 0, beta=beta)
        (got,) = tflm.run(blob, [x])
        want = np.array(AI.softmax_tflm_int16(x.tolist(), sx, 0, 3.0517578125e-05, 0, beta=beta))
        lite = np.array(AI.softmax_tflite_int16(x.tolist(), sx, 0, 3.0517578125e-05, 0, beta=beta))
        n, bad, other = n + got.size, bad + int((got != want).sum()), other + int((want != lite).sum())
    return n, bad, other


def test_int16_softmax_equals_the_tflm_variant_on_a_seeded_sample():
    n, bad, _ = _softmax16_sweep(12, 5)
    assert n > 1000 and bad == 0


@pytest.mark.slow
def test_int16_softmax_sweep():
    """>= 10^5 elements of random int16 SOFTMAX models: 0 mismatches with the 'tflm' variant."""
    n, bad, other = _softmax16_sweep(700, 6)
    assert n >= 10**5 and bad == 0, (n, bad, other)
