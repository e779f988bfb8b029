"""The backend table (refquant/backends.py): coverage, consistency with its readers, user rows."""

import json

import pytest

from refquant import backends, kernel, profiles, requant
from refquant.errors import FormatFileError, InvalidValueError, RefquantError, UnknownNameError


def test_every_profile_and_method_has_an_owner():
    orphans = [key for key, users in backends.owners().items() if not users]
    # torch_x86 is an alias row of torch_fbgemm in METHODS and is owned by the torch_x86 backend.
    assert orphans == [], f"rows no backend uses: {orphans}"


def test_every_row_names_existing_semantics():
    for b in backends.BACKENDS.values():
        assert b.quantize in profiles.PROFILES, b.name
        assert b.profile(per_axis=True) in profiles.PROFILES, b.name
        for op, m in b.ops.items():
            assert m in requant.METHODS or m in backends.op_variants(op), (b.name, op, m)
        assert b.source


def test_every_variant_module_has_a_variants_table_of_functions():
    for mod in backends.VARIANT_MODULES:
        table = __import__(f"refquant.{mod}", fromlist=["VARIANTS"]).VARIANTS
        assert table and all(callable(fn) for op in table.values() for fn in op.values()), mod
    for op in backends.all_variant_ops():
        for name, fn in backends.op_variants(op).items():
            assert (fn.__doc__ or "").strip(), f"variant {op}:{name} has no docstring citing what it reproduces"


def test_kernel_method_matches_the_kernel_and_method_rows():
    for name, m in requant.METHODS.items():
        km = backends.kernel_method(name)
        if km is None:
            assert not m.kernel, name
        else:
            assert km in kernel.METHODS, (name, km)
    assert backends.kernel_method("ort") == "float_fp32"
    assert backends.kernel_method("xnnpack_fp32") == "float_fp32"
    assert backends.kernel_method("tflite_single") == "tflite_single"
    assert backends.kernel_method("onnx_ref") is None


@pytest.mark.parametrize("profile, method", [
    ("exact", "exact"), ("onnx", "exact"), ("onnxruntime", "ort"), ("onnx_ref", "onnx_ref"),
    ("tflite", "tflite_double"), ("tosa", "tosa_single"), ("torch", "torch_fbgemm")])
def test_profile_pairs_with_its_backends_method(profile, method):
    assert backends.method_for_profile(profile) == method


def test_aliases_and_unknown_names():
    assert backends.get_backend("ort") is backends.BACKENDS["onnxruntime"]
    assert backends.get_backend("onnxruntime").method("qlinear_conv") == "ort"
    assert backends.get_backend("onnx_ref").method("qlinear_conv") == "onnx_ref_conv"
    with pytest.raises(UnknownNameError, match="my_npu"):
        backends.get_backend("my_npu")
    with pytest.raises(UnknownNameError, match="softmax"):
        backends.get_backend("tflite").method("softmax")


def test_peer_versions_are_recorded():
    assert dict(backends.BACKENDS["onnxruntime"].versions)["onnxruntime"] == "1.32.0"
    assert dict(backends.BACKENDS["torch_qnnpack"].versions)["torch"] == "2.13.0"


USER_TOML = """
[backend.my_npu]
source = "my NPU rev B, requantizer per RTL spec 1.2"
quantize = "tflite"
ops = { qlinear_matmul = "tflite_single", qlinear_conv = "tflite_single" }
versions = [["my_npu_rtl", "1.2"]]
deviations = [{ name = "no saturation", text = "wraps", vectors = ["matmul:tc0007"] }]
"""


def test_user_row_from_toml_and_json(tmp_path, monkeypatch):
    f = tmp_path / "hw.toml"
    f.write_text(USER_TOML)
    (row,) = backends.load_file(f)
    assert row.user and row.method("qlinear_conv") == "tflite_single"
    assert row.versions == (("my_npu_rtl", "1.2"),) and row.deviations[0].vectors == ("matmul:tc0007",)
    monkeypatch.setattr(backends, "BACKENDS", dict(backends.BACKENDS))
    backends.register([row])
    assert backends.get_backend("my_npu") is row
    j = tmp_path / "hw.json"
    j.write_text(json.dumps({"backend": {"b2": {"quantize": "onnxruntime", "ops": {"qlinear_matmul": "ort"}}}}))
    assert backends.load_file(j)[0].method("qlinear_matmul") == "ort"


@pytest.mark.parametrize("text, err", [
    ("[backend.x]\nquantize = 'nope'\n", UnknownNameError),
    ("[backend.x]\nops = { qlinear_matmul = 'nope' }\n", UnknownNameError),
    ("[backend.x]\ncolour = 'red'\n", InvalidValueError),
    ("[backend.x]\nops = 3\n", InvalidValueError),
    ("[other]\n", FormatFileError),
    ("[backend\n", FormatFileError),
    ("[backend.exact]\n", None),
])
def test_user_rows_are_validated(tmp_path, text, err):
    f = tmp_path / "hw.toml"
    f.write_text(text)
    if err is None:   # a user row may not shadow a built-in one
        with pytest.raises(InvalidValueError, match="built in"):
            backends.register(backends.load_file(f))
    else:
        with pytest.raises(err):
            backends.load_file(f)


def test_user_file_must_be_a_regular_file(tmp_path):
    with pytest.raises(RefquantError, match="not a regular file"):
        backends.load_file(tmp_path)


def test_deviation_rows_carry_measured_versions(tmp_path):
    """Built-in and user deviations say which peer versions they were measured on (the ORT fp16
    +inf -> qmin deviation: onnxruntime 1.31.1 only; 1.32.0 saturates to qmax)."""
    ort = backends.get_backend("ort")
    assert ort.deviation("ORT fp16 QuantizeLinear: +inf -> qmin").measured_on == ("1.31.1",)
    assert ort.deviation("ORT fp8 E4M3FN saturate=0").measured_on == ("1.31.1", "1.32.0")
    with pytest.raises(UnknownNameError, match="no such"):
        ort.deviation("no such")
    f = tmp_path / "hw.toml"
    f.write_text('[backend.n]\ndeviations = [{ name = "w", text = "wraps", measured_on = ["1.2"] }]\n')
    assert backends.load_file(f)[0].deviation("w").measured_on == ("1.2",)
