"""The audit's numpy forms of requantization (refquant/audit/numpy_forms.py): every METHODS row has
one or is named oracle-only, each form equals the oracle, and profile names pair with the method of
their row in the backend table."""

from fractions import Fraction

import numpy as np
import pytest

from refquant import backends
from refquant import requant as rq
from refquant.audit import numpy_forms as nf
from refquant.audit.core import make_case
from refquant.errors import RefquantError, SpecError, Unpredictable


def test_every_method_is_vectorised_or_oracle_only():
    assert set(nf.FORMS) | set(nf.ORACLE_ONLY) == set(rq.METHODS)
    assert not set(nf.FORMS) & set(nf.ORACLE_ONLY)
    assert set(nf.VARIANT_FORMS) == set(nf.VARIANTS)
    assert not set(nf.VARIANTS) & set(rq.METHODS)


def _params(method):
    try:
        f32 = [float(np.float32(v)) for v in (0.0173, 0.011, 0.0031, 0.2, 0.093)]
        return rq.derive_params(method, f32[0], f32[1:4], f32[4])
    except RefquantError:
        return None


@pytest.mark.parametrize("method", sorted(nf.FORMS))
def test_form_equals_the_oracle(method):
    """Seeded sample incl. the int32 ends: the numpy form gives the oracle's code (UNPRED included)."""
    p = _params(method) if method != "int32" else rq.make_params("int32", [{}])
    if p is None:
        pytest.skip(f"{method}: no params from scales")
    rng = np.random.default_rng(12)
    acc = np.concatenate([rng.integers(-2**31, 2**31, 200), rng.integers(-3000, 3000, 200),
                          [0, 1, -1, 2**31 - 1, -2**31]]).astype(np.int64)
    n = len(p.channels)
    chan = np.arange(acc.size) % 3 if n > 1 else np.zeros(acc.size, np.int64)
    for out, zp in (("int8", -3), ("uint8", 7)):
        lo, hi = rq.out_range(out)
        got = nf.vectorised(method, p, acc, chan, zp, lo, hi)
        if got is None:
            continue
        want = []
        for a, c in zip(acc.tolist(), chan.tolist()):
            try:
                want.append(rq.requantize_one(a, method, p, zp, out, c if n > 1 else 0))
            except (Unpredictable, SpecError):
                want.append(nf.UNPRED)
        assert got.tolist() == want, (method, out)


@pytest.mark.parametrize("name", sorted(nf.VARIANTS))
def test_variant_form_equals_its_oracle(name):
    p = rq.make_params("float_fp32" if name.startswith("float") else "exact",
                       [{"M": rq.fl32(0.0173 * 0.011 / 0.093) if name.startswith("float") else
                         Fraction(173 * 11, 93 * 10**5)}])
    rng = np.random.default_rng(3)
    acc = np.concatenate([rng.integers(-2**31, 2**31, 300), [0, 1, -1, 2**31 - 1, -2**31]]).astype(np.int64)
    got = nf.variant_vectorised(name, p, acc, np.zeros_like(acc), 5, -128, 127)
    want = [nf.variant_oracle(name, p.channel(0), a, 5, -128, 127) for a in acc.tolist()]
    assert got.tolist() == want


# The audit's former private profile -> method map (audit/core.py before the split); the backend
# table must give each the same method.
OLD_PROFILE_METHOD = {"exact": "exact", "onnx": "exact", "onnxruntime": "ort", "ort": "ort",
                      "onnx_ref": "onnx_ref", "tflite": "tflite_double", "tosa": "tosa_single",
                      "torch": "torch_fbgemm", "xnnpack": "xnnpack_fp32"}


@pytest.mark.parametrize("profile", sorted(OLD_PROFILE_METHOD))
def test_profile_pairs_with_the_backend_table_method(profile):
    assert backends.get_backend(profile).method("qlinear_matmul") == OLD_PROFILE_METHOD[profile]
    for op in ("requantize", "qlinear_matmul"):
        spec = {"op": op, "a_scale": 0.02, "b_scale": 0.1, "y_scale": 0.3, "profile": profile}
        spec.update(acc=[1, -5]) if op == "requantize" else spec.update(a=[[1, 2]], b=[[3], [4]])
        assert make_case(spec).method == OLD_PROFILE_METHOD[profile]


def test_non_profile_backend_names():
    assert backends.get_backend("ort").method("qlinear_matmul") == "ort"
    assert backends.get_backend("xnnpack").method("qlinear_matmul") == "xnnpack_fp32"
