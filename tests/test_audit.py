"""refquant.audit: injected faults are found and the diagnosis names the semantics that produced them;
dumps in every format; bad input is one named error; verify reproduces the known deviations (and only those)."""

import numpy as np
import pytest

from refquant import requant as rq
from refquant.audit import core, tensors
from refquant.audit.core import audit, make_case
from refquant.errors import FormatFileError, InvalidValueError, ShapeError, UnknownNameError
from refquant.peers.versions import cpu_flags as _cpu_flags


def _accs():
    return np.arange(-300, 300, dtype=np.int64).reshape(20, 30)


def _requant_case(method, **kw):
    spec = dict(op="requantize", acc=_accs(), method=method, y_type="int8", **kw)
    return make_case(spec)


def _output_of(case, method=None, **overrides):
    """What a device implementing ``method`` (or the variant) would have produced for the case."""
    c = make_case(dict(op=case.op, **case.tensors, **{**case.attrs, **overrides, "method": method or case.method}))
    return core.expected(c)[0]


def _best(res):
    return res["diagnosis"]["ranking"][0]


def _names_at_100(res):
    return [r["name"] for r in res["diagnosis"]["ranking"] if r["matched"] == r["of"]]


def _need_kernel():
    """Skip only where refquant was built without its C extension (cffi); anything else fails."""
    from refquant import kernel
    if not kernel.available():
        pytest.skip("refquant built without its C kernel (cffi): large golden vectors need it")


# ---------------------------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------------------------

def test_wrong_rounding_build_is_named():
    """Device built with TFLite's default double rounding; the description says single rounding."""
    case = _requant_case("tflite_single", params={"m": 2**30, "shift": -1})      # M = 1/4: many ties
    actual = _output_of(case, "tflite_double")
    res = audit(case, actual)
    assert res["mismatches"] > 100 and res["max_abs_diff"] == 1
    assert set(res["histogram"]) <= {-1, 1}
    assert "tflite_double" in _best(res)["name"] and _best(res)["matched"] == actual.size
    assert res["diagnosis"]["verdict"].startswith("matches tflite_double")
    assert "tflite_single" not in _names_at_100(res)


def test_off_by_one_at_ties_is_ties_away():
    case = _requant_case("exact", a_scale=0.5, b_scale=0.5, y_scale=1.0)      # acc * 1/4
    actual = case.tensors["acc"].copy()
    exp = core.expected(case)[0]
    ties = (actual % 4 == 2)
    actual = np.where(ties, np.sign(actual) * ((np.abs(actual) + 2) // 4), exp)   # half away at ties only
    res = audit(case, actual)
    assert res["mismatches"] == int((ties & (exp != actual)).sum()) > 0
    top = _names_at_100(res)
    assert any("exact_half_away" in n for n in top)
    assert not any(n.split(" ")[0] == "exact" for n in top)
    # every mismatch is explained, with the tie visible in the trace
    f = res["first"][0]
    assert any(s["step"] == "round" for s in f["explain"])


def test_zero_point_before_rounding_is_named():
    case = _requant_case("ort", a_scale=0.5, b_scale=0.5, y_scale=1.0, y_zero_point=3)
    cand = next(c for c in core.candidate_list(case) if c.name == "float_fp32_zp_before")
    actual, _ = core.apply_candidate(cand, case.tensors["acc"], case, np.random.default_rng(0))
    res = audit(case, actual)
    assert res["mismatches"] > 0
    top = _names_at_100(res)
    # onnx_ref also adds the zero point (in binary64) before rounding: indistinguishable here
    assert any(n.startswith("float_fp32_zp_before") for n in top) and not any(n.startswith("float_fp32 ") for n in top)
    # every other full match also adds the zero point in floating point before rounding
    assert {n.split(" ")[0] for n in top} <= {"float_fp32_zp_before", "onnx_ref", "onnx_ref_conv", "torch_onednn",
                                              "onednn_ref", "onednn_jit"}


def _mm_case(M=16, K=24, N=16, method="ort", za=3, zb=-5, seed=0, **kw):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (M, K))
    b = rng.integers(-128, 128, (K, N))
    return make_case(dict(op="qlinear_matmul", a=a, b=b, a_type="int8", b_type="int8", a_zero_point=za,
                          b_zero_point=zb, a_scale=0.02, b_scale=0.01, y_scale=0.05, y_zero_point=1,
                          method=method, **kw))


def test_transposed_output_is_named():
    case = _mm_case()
    exp = core.expected(case)[0]
    res = audit(case, exp.T.copy())
    assert res["mismatches"] > 0
    assert "output transposed" in _best(res)["name"] and _best(res)["matched"] == exp.size


def test_swapped_zero_points_are_named():
    case = _mm_case()
    swapped = make_case(dict(op="qlinear_matmul", **case.tensors, **{**case.attrs, "a_zero_point": -5, "b_zero_point": 3}))
    actual = core.expected(swapped)[0]
    res = audit(case, actual)
    assert res["mismatches"] > 0
    assert "a/b zero points swapped" in _best(res)["name"] and _best(res)["matched"] == actual.size


def test_saturating_accumulator_is_named():
    """int8 x uint8 with K = 70000 extremes: some outputs overflow int32; the device saturates."""
    K = 70000
    a = np.full((3, K), -128, np.int64)
    a[1, ::2] = 127
    a[2, :] = 1
    b = np.full((K, 3), 255, np.int64)
    b[::3, 2] = 0
    spec = dict(op="qlinear_matmul", a=a, b=b, a_type="int8", b_type="uint8", a_scale=2.0**-10, b_scale=2.0**-10,
                y_scale=2.0**-4, method="int32", y_type="int32")
    case = make_case(spec)
    sat = make_case(dict(spec, policy="saturate"))
    actual = core.expected(sat)[0]
    res = audit(case, actual)
    assert res["overflowed_outputs"] > 0 and res["mismatches"] > 0
    assert "saturating int32 accumulator" in _best(res)["name"]
    # the verdict for the wrap model names the overflow as the cause of the residual
    wrap_row = next(r for r in res["diagnosis"]["ranking"] if r["name"] == "int32")
    assert wrap_row["matched"] == actual.size - res["mismatches"]


def test_clean_dump_exits_clean_and_names_indistinguishable():
    case = _mm_case(method="tflite_double")
    res = audit(case, core.expected(case)[0])
    assert res["mismatches"] == 0 and res["histogram"] == {}
    assert res["diagnosis"]["verdict"].startswith("matches tflite_double on 100%")


def test_large_gemm_uses_kernel_checked_by_oracle():
    rng = np.random.default_rng(3)
    a, b = rng.integers(-128, 128, (256, 512)), rng.integers(-128, 128, (512, 256))
    case = make_case(dict(op="qlinear_matmul", a=a, b=b, a_type="int8", b_type="int8", a_scale=0.02, b_scale=0.004,
                          y_scale=0.6, y_zero_point=-3, method="tflite_single"))
    exp, acc, _ = core.expected(case, info=(info := {}))
    assert "C kernel" in info["accumulator"] and "oracle" in info["accumulator"]
    assert "vectorised" in info["requantization"]
    assert np.array_equal(acc, a @ b)
    bad = exp.copy()
    bad[7, 9] += 1
    res = audit(case, bad, diagnose_=False)
    assert res["mismatches"] == 1 and res["first"][0]["index"] == [7, 9]


@pytest.mark.parametrize("method", [m for m in rq.METHODS if m not in ("torch_x86",)])
def test_vectorised_candidates_agree_with_oracle(method):
    """Each candidate on a spread of accumulators (ties, extremes) equals the oracle element by element."""
    acc = np.concatenate([np.arange(-600, 600), [2**31 - 1, -2**31, 2**24 + 1, -2**24 - 3, 123456789]]).reshape(1, -1)
    case = make_case(dict(op="requantize", acc=acc, a_scale=0.5, b_scale=0.375, y_scale=0.75, y_zero_point=-3,
                          method="exact", y_type="int8"))
    for c in core.candidate_list(case):
        if c.method != method and c.variant is None:
            continue
        vals, _ = core.apply_candidate(c, acc, case, np.random.default_rng(0))
        want = [core._oracle_one(c, int(v), 0, -3, -128, 127, "int8", None, None) for v in acc[0]]
        assert vals[0].tolist() == want, c.name


# ---------------------------------------------------------------------------------------------
# Dumps and bad input
# ---------------------------------------------------------------------------------------------

def test_hex_dump_two_complement_and_comments(tmp_path):
    p = tmp_path / "y.hex"
    p.write_text("// header\nff\n80 // -128\n7f\n\n/* block */ 00\n")
    assert tensors.load(str(p), "int8", [4]).tolist() == [-1, -128, 127, 0]
    p.write_text("ff\n80\n7f\n00\n")
    assert tensors.load(str(p), "uint8", [2, 2]).tolist() == [[255, 128], [127, 0]]
    arr = np.array([[-5, 3], [-2**31, 2**31 - 1]], np.int32)
    tensors.save(str(tmp_path / "z.hex"), arr, dtype="int32")
    assert np.array_equal(tensors.load(str(tmp_path / "z.hex"), "int32", [2, 2]), arr)


@pytest.mark.parametrize("content,match", [("ff\n80\n7f\n", "truncated"), ("ff\n1ff\n7f\n00\n", "does not fit"),
                                           ("ff\nzz\n7f\n00\n", "not a hex word"), ("@10\nff\n", "address")])
def test_bad_hex(tmp_path, content, match):
    p = tmp_path / "y.hex"
    p.write_text(content)
    with pytest.raises(FormatFileError, match=match):
        tensors.load(str(p), "int8", [4])


def test_raw_and_npy(tmp_path):
    arr = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    arr.tofile(tmp_path / "y.bin")
    assert np.array_equal(tensors.load(str(tmp_path / "y.bin"), "int8", "3x4"), arr)
    with pytest.raises(FormatFileError, match="truncated"):
        tensors.load(str(tmp_path / "y.bin"), "int16", "3x4")
    np.save(tmp_path / "y.npy", arr)
    with pytest.raises(ShapeError, match="shape"):
        tensors.load(str(tmp_path / "y.npy"), None, "4x3")
    with pytest.raises(FormatFileError, match="not found"):
        tensors.load(str(tmp_path / "missing.npy"))


def test_nan_and_range_and_shape_are_named():
    case = _mm_case()
    bad = np.zeros(case.out_shape, np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(InvalidValueError, match=r"actual\[2, 3\] = nan"):
        audit(case, bad)
    with pytest.raises(InvalidValueError, match="outside int8"):
        audit(case, np.full(case.out_shape, 300))
    with pytest.raises(ShapeError, match="shape"):
        audit(case, np.zeros((3, 5)))
    with pytest.raises(UnknownNameError, match="op"):
        make_case(dict(op="conv3d", a=[[1]], b=[[1]]))
    with pytest.raises(UnknownNameError, match="requantization method"):
        make_case(dict(op="requantize", acc=[1], method="nope", a_scale=1.0, b_scale=1.0, y_scale=1.0))
    with pytest.raises(ShapeError, match="inner dimensions"):
        make_case(dict(op="qlinear_matmul", a=[[1, 2]], b=[[1, 2]], a_scale=1.0, b_scale=1.0, y_scale=1.0))


def test_explain_element_reuses_oracle_trace():
    case = _mm_case(method="tflite_double")
    steps = core.explain_element(case, (2, 3))
    names = [s.name for s in steps]
    assert names[0] == "output" and "acc" in names and "SRDHM(x, m)" in names and names[-1] == "saturate"
    exp = core.expected(case)[0]
    assert steps[-1].value == exp[2, 3]


# ---------------------------------------------------------------------------------------------
# verify: the known deviations are reproduced, and only those
# ---------------------------------------------------------------------------------------------

def _rows(backend):
    from refquant.audit import verify
    try:
        return verify.run_backend(backend)
    except verify.MissingBackend as exc:
        pytest.skip(str(exc))


def test_verify_kernel_all_pass():
    rows = _rows("kernel")
    assert rows and all(r.status == "pass" for r in rows), [r for r in rows if r.status != "pass"]


# The ops of the first verify rows; the later ops (contrib ops, resize, MatMulNBits, activations) have
# their own tests (test_onnx_ops.py, test_onnx_resize.py, test_matmulnbits.py, test_activations.py).
FIRST_OPS = {"QuantizeLinear", "QLinearMatMul", "QLinearConv", "MatMulInteger", "DequantizeLinear",
             "DynamicQuantizeLinear"}


def _not_modelled(r):
    """A row that reports a configuration refquant does not model yet (docs/llm-formats.md §2)."""
    return r.status == "unsupported" and r.op == "MatMulNBits" and "not modelled" in r.note



def test_verify_onnxruntime_known_deviations_only():
    rows = _rows("onnxruntime")
    assert not [r for r in rows if r.status == "differ" or (r.status == "unsupported" and not _not_modelled(r))]
    known = {(r.flag, r.deviation) for r in rows if r.status == "known" and not r.flag.startswith("golden")
             and r.op in FIRST_OPS}
    assert known == {("fp32 -> fp8_e4m3fn, saturate=0", "ORT fp8 E4M3FN saturate=0"),
                     ("fp32 -> fp8_e5m2, saturate=0", "ORT fp8 E5M2 saturate=0"),
                     ("uint8xint8, near-tie accumulators (K=1)", "binary32 requantization (ORT MLAS)"),
                     ("u8xs8 1x1, near-tie accumulators (C=1)", "binary32 requantization (ORT QLinearConv)")} | (
        {(label, "ORT QLinearConv saturating int32 (zero-point-0 weights)") for label in
         [f"u8xs8 3x3, w zero point 0, K=73728 past int32, zx={zx}" for zx in (0, 100)]
         + ["u8xs8 3x3, w zero point 0, K=110592, mixed signs (w=127 at kernel positions 0-6, -128 at 7-8)"]}
        if "avx512_vnni" in _cpu_flags() else set())
    golden = [r for r in rows if r.flag.startswith("golden")]
    assert {r.op for r in golden} == {"QuantizeLinear", "QLinearMatMul", "QLinearConv"}
    assert {r.deviation for r in golden if r.status == "known"} <= {"refquant profile 'onnxruntime'",
                                                                   "refquant method 'ort'",
                                                                   "ORT fp16 QuantizeLinear: +inf -> qmin"}


def test_verify_torch_known_deviations_only():
    rows = _rows("torch")
    assert not [r for r in rows if r.status in ("differ", "unsupported")]
    known = {(r.op, r.deviation) for r in rows if r.status == "known" and not r.flag.startswith("golden")}
    # without VNNI the full-range rows are the int16 pair saturation (refquant.x86_pairs), named
    pairs = {(r.op, r.deviation) for r in rows if r.status == "known" and "pair saturation" in (r.deviation or "")}
    assert not pairs or "avx512_vnni" not in _cpu_flags()   # FBGEMM has no AVX-VNNI kernel
    assert known - pairs == {("quantize_per_tensor", "x*(1/s) with fused zero point"),
                             ("quantize_per_channel", "x*(1/s), zero point added in binary32")}
    golden = [r for r in rows if r.flag.startswith("golden")]
    assert golden and {r.deviation for r in golden if r.status == "known"} == {"refquant profile 'torch'"}
    assert all("quantized::linear" == r.op for r in rows if r.status == "pass" and "engine" in r.flag)


def test_verify_onnx_reference_wraps():
    rows = _rows("onnx")
    assert not [r for r in rows if r.status in ("differ", "unsupported")]
    builtin = [r for r in rows if not r.flag.startswith("golden") and r.op in FIRST_OPS]
    assert {r.deviation for r in builtin if r.status == "known"} == {"onnx reference wraps (no saturation)"}
    assert all(r.op == "QLinearMatMul" for r in builtin if r.status == "known")
    golden = [r for r in rows if r.flag.startswith("golden")]
    assert {r.op for r in golden} == {"QuantizeLinear", "QLinearMatMul", "QLinearConv"}
    assert {r.deviation for r in golden if r.status == "known"} <= {"refquant profile 'onnx_ref'",
                                                                   "refquant method 'onnx_ref'",
                                                                   "refquant method 'onnx_ref_conv'"}


def test_golden_cases_audit_clean():
    """Shipped golden qlinear_matmul vectors: the audit's expected output (oracle, or kernel + vectorised
    requantization for large ones) equals the golden Y; a flipped element is found."""
    from refquant import golden
    _need_kernel()  # the large vectors go through the C kernel: the one optional part they need
    gset = golden.load_set(golden.default_root() / "matmul")  # shipped in the checkout and the wheel
    cases = [c for c in gset.cases(numpy=True) if c.op == "qlinear_matmul" and c.result == "valid"]
    for c in cases[::7]:
        case = core.golden_case(f"matmul:{c.tc_id}")
        assert np.array_equal(core.expected(case)[0], case.golden_expected), c.name
    case = core.golden_case(f"matmul:{cases[0].tc_id}")
    y = case.golden_expected.astype(np.int64).copy()
    y[0, 0] += 1 if y[0, 0] < 127 else -1
    assert audit(case, y, diagnose_=False)["mismatches"] == 1


# ---------------------------------------------------------------------------------------------
# qlinear_conv: faults, golden vectors, the im2col + kernel route
# ---------------------------------------------------------------------------------------------

def _conv_spec(**kw):
    rng = np.random.default_rng(11)
    spec = dict(op="qlinear_conv", x=rng.integers(0, 256, (1, 4, 7, 7)).astype(np.uint8),
                w=rng.integers(-128, 128, (6, 2, 3, 3)).astype(np.int8), x_type="uint8", w_type="int8",
                y_type="uint8", x_zero_point=131, w_zero_point=[0, 1, -1, 2, 0, 3], y_zero_point=128, x_scale=0.02,
                w_scale=[0.001, 0.002, 0.0015, 0.001, 0.0012, 0.003], y_scale=0.25, pads=[1, 1, 1, 1], group=2,
                method="tflite_single")
    spec.update(kw)
    return spec


def _conv_device(spec, variant="as is", method=None):
    """What a conv device with accumulator ``variant`` and requantization ``method`` outputs (NCHW)."""
    c = make_case(dict(spec, method=method or spec["method"]))
    acc = core.conv_accumulators(c, "wrap", variant)[0]
    cand = core.Candidate(c.method, "", core.params_for(c, c.method), c.method)
    return core.to_nchw(c, core.apply_candidate(cand, acc, c, np.random.default_rng(0))[0])


@pytest.mark.parametrize("variant,label", [("zero_padding", "padding filled with 0"),
                                           ("interleaved_groups", "input group m mod group")])
def test_conv_accumulator_faults_are_named(variant, label):
    spec = _conv_spec()
    res = audit(make_case(spec), _conv_device(spec, variant))
    assert res["mismatches"] > 0 and len(res["case"]["x_shape"]) == 4
    best = _best(res)
    assert best["matched"] == best["of"] and label in best["name"] and best["name"].startswith("tflite_single")
    assert not any(n == "tflite_single" for n in _names_at_100(res))
    # the first mismatch is explained with its window and padding taps
    steps = {s["step"] for s in res["first"][0]["explain"]}
    assert {"window", "taps", "terms", "acc", "saturate"} <= steps


def test_conv_double_vs_single_rounding_is_named():
    spec = _conv_spec(params={"m": 2**30, "shift": -3}, x_scale=None, w_scale=None, y_scale=None)   # M = 1/16
    actual = _conv_device(spec, method="tflite_double")
    res = audit(make_case(spec), actual)
    assert res["mismatches"] > 0 and set(res["histogram"]) <= {-1, 1}
    assert _best(res)["name"].startswith("tflite_double") and _best(res)["matched"] == actual.size
    assert "tflite_single" not in _names_at_100(res)


def test_conv_golden_vectors_and_im2col_route():
    from refquant import golden
    _need_kernel()
    gset = golden.load_set(golden.default_root() / "conv")
    cases = [c for c in gset.cases(numpy=True) if c.result == "valid"]
    for c in cases[::3]:
        case = core.golden_case(f"conv:{c.tc_id}")
        assert np.array_equal(core.expected(case)[0], case.golden_expected), c.name
    # a conv past the oracle limits: im2col + C kernel, equal to the conv oracle on every element
    from refquant import ops
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (1, 8, 41, 29)).astype(np.uint8)
    w = rng.integers(-128, 128, (24, 4, 3, 3)).astype(np.int8)
    spec = dict(op="qlinear_conv", x=x, w=w, x_type="uint8", w_type="int8", x_zero_point=77, w_zero_point=-3,
                x_scale=0.02, w_scale=0.003, y_scale=0.4, y_zero_point=120, strides=[2, 1], pads=[2, 0, 1, 3],
                dilations=[1, 2], group=2, method="ort")
    case = make_case(spec)
    info = {}
    _y, acc, _c = core.expected(case, info=info)
    want = np.array(ops.conv_integer(x.tolist(), w.tolist(), 77, -3, x_type="uint8", w_type="int8", strides=[2, 1],
                                     pads=[2, 0, 1, 3], dilations=[1, 2], group=2), dtype=np.int64)
    assert info["accumulator"].startswith("im2col") and np.array_equal(acc, want)


def test_float_bias_candidates():
    rng = np.random.default_rng(5)
    spec = dict(op="qlinear_matmul", a=rng.integers(0, 256, (24, 16)).astype(np.uint8),
                b=rng.integers(-128, 128, (16, 8)).astype(np.int8), a_type="uint8", b_type="int8", y_type="uint8",
                a_zero_point=128, y_zero_point=100, a_scale=0.05, b_scale=0.01, y_scale=0.3,
                float_bias=[float(v) for v in rng.uniform(-3, 3, 8)], method="torch_onednn")
    case = make_case(spec)
    dev = core.expected(make_case(dict(spec, method="torch_fbgemm")))[0]
    res = audit(case, dev)
    assert any(n.startswith("torch_fbgemm (float bias") for n in _names_at_100(res))
    assert any("float bias quantized to int32" in r["name"] for r in res["diagnosis"]["ranking"])
    with pytest.raises(InvalidValueError, match="int32 bias"):
        make_case(dict(spec, method="tflite_double"))


def test_quantize_variant_not_a_profile_is_named():
    x = (np.arange(-40, 40) * np.float32(0.05) + np.float32(0.025)).astype(np.float32)
    spec = dict(op="quantize", x=x, scale=0.1, zero_point=3, dtype="int8", profile="exact")
    variant = core.quantize_candidates()["fl32(x*fl32(1/s)), zp after rounding, ties away"]
    actual = core.quantize_expected(make_case(spec), variant)
    res = audit(make_case(spec), actual)
    assert "fl32(x*fl32(1/s)), zp after rounding, ties away" in _names_at_100(res)


@pytest.mark.parametrize("patch,match", [
    (dict(w=np.zeros((6, 3, 3, 3), np.int8)), "C/group"),
    (dict(x=np.zeros((4, 7, 7), np.uint8)), "N, C, H, W"),
    (dict(pads=[1, 1]), "4 pads"),
    (dict(w_zero_point=[0, 1]), "w_zero_point has 2 values"),
    (dict(x_zero_point=300), "x_zero_point 300"),
])
def test_conv_bad_input_is_named(patch, match):
    with pytest.raises((ShapeError, InvalidValueError), match=match):
        make_case(_conv_spec(**patch))
