"""Golden vector sets: schema, determinism, verification (oracle and C kernel), bad input, exports,
and proof that C (gcc) and a Verilog testbench (Icarus) read the files."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from refquant import backends, cli, golden, kernel
from refquant import requant as rq
from refquant.errors import FormatFileError, InvalidValueError, UnknownNameError

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"
CSRC = ROOT / "csrc"


def run_cli(*argv):
    return cli.main(["golden", *map(str, argv)])


def copy_set(tmp_path, suite="conv"):
    dst = tmp_path / suite
    shutil.copytree(GOLDEN / suite, dst)
    return dst


def rewrite(set_dir, path, text):
    """Replace a file of a set and fix its size and checksum in the manifest (so that only the
    content check can catch the change)."""
    (set_dir / path).write_text(text)
    mpath = set_dir / "manifest.json"
    manifest = json.loads(mpath.read_text())
    data = (set_dir / path).read_bytes()
    for g in manifest["testGroups"]:
        for t in g["tests"]:
            for f in t["files"]:
                if f["path"] == path:
                    f["bytes"], f["sha256"] = len(data), golden._sha(data)
    mpath.write_text(golden.manifest_text(manifest))


# ---- schema ---------------------------------------------------------------------------------------

def test_schema_file_is_the_embedded_schema():
    committed = json.loads((GOLDEN / "schema" / "manifest.schema.json").read_text())
    assert committed == golden.SCHEMA


@pytest.mark.parametrize("suite", golden.SUITE_NAMES)
def test_manifests_validate_with_jsonschema(suite):
    jsonschema = pytest.importorskip("jsonschema")
    manifest = json.loads((GOLDEN / suite / "manifest.json").read_text())
    jsonschema.Draft202012Validator.check_schema(golden.SCHEMA)
    jsonschema.Draft202012Validator(golden.SCHEMA).validate(manifest)
    assert golden.schema_errors(manifest, golden.SCHEMA) == []


def _mutations():
    def result(m):
        m["testGroups"][0]["tests"][0]["result"] = "maybe"

    def missing(m):
        del m["testGroups"][0]["tests"][0]["files"]

    def extra(m):
        m["testGroups"][0]["surprise"] = 1

    def path_escape(m):
        m["testGroups"][0]["tests"][0]["files"][0]["path"] = "../etc/passwd"

    def sha(m):
        m["testGroups"][0]["tests"][0]["files"][0]["sha256"] = "XYZ"

    def unpredictable_with_expected(m):
        m["testGroups"][0]["tests"][0]["result"] = "unpredictable"

    def error_without_name(m):
        m["testGroups"][0]["tests"][0]["result"] = "error"
        m["testGroups"][0]["tests"][0]["files"] = []

    def version(m):
        m["formatVersion"] = 2
    return [result, missing, extra, path_escape, sha, unpredictable_with_expected, error_without_name, version]


@pytest.mark.parametrize("mutate", _mutations(), ids=lambda f: f.__name__)
def test_schema_violations_rejected_by_both_validators(mutate):
    jsonschema = pytest.importorskip("jsonschema")
    manifest = json.loads((GOLDEN / "conv" / "manifest.json").read_text())
    mutate(manifest)
    assert golden.schema_errors(manifest, golden.SCHEMA)
    assert not jsonschema.Draft202012Validator(golden.SCHEMA).is_valid(manifest)


# ---- determinism and coverage ---------------------------------------------------------------------

@pytest.mark.parametrize("suite", golden.SUITE_NAMES)
def test_regeneration_is_byte_identical(suite):
    manifest, blobs = golden.build_set(suite, seed=1, progress=False)
    blobs["manifest.json"] = golden.manifest_text(manifest).encode("ascii")
    committed = {p.name for p in (GOLDEN / suite).iterdir()}
    assert committed == set(blobs), "golden/ is out of date: run `refquant golden generate --in-place`"
    for name, data in blobs.items():
        assert (GOLDEN / suite / name).read_bytes() == data, f"{suite}/{name} differs: regenerate"


def test_generate_cli_writes_identical_files_twice(tmp_path, capsys):
    assert run_cli("generate", "--suite", "conv", "--out", tmp_path / "a") == 0
    assert run_cli("generate", "--suite", "conv", "--out", tmp_path / "b") == 0
    assert run_cli("generate", "--suite", "conv", "--out", tmp_path / "b") == 0   # replaces in place
    a, b = sorted((tmp_path / "a" / "conv").iterdir()), sorted((tmp_path / "b" / "conv").iterdir())
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    assert [p.name for p in (tmp_path / "b").iterdir() if p.name.startswith(".")] == []
    assert capsys.readouterr().err == ""    # no progress output when stderr is not a terminal
    assert run_cli("generate", "--suite", "conv", "--out", tmp_path / "c", "--seed", "2") == 0
    assert (tmp_path / "c" / "conv" / "manifest.json").read_bytes() != (tmp_path / "a" / "conv" / "manifest.json").read_bytes()


def test_generation_is_atomic(tmp_path, monkeypatch):
    assert run_cli("generate", "--suite", "conv", "--out", tmp_path) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "conv").iterdir()}

    def boom(manifest):
        raise RuntimeError("disk full")
    monkeypatch.setattr(golden.store, "manifest_text", boom)
    with pytest.raises(RuntimeError):
        golden.write_set("conv", tmp_path, seed=3)
    after = {p.name: p.read_bytes() for p in (tmp_path / "conv").iterdir()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv", "schema"]


def test_suites_cover_what_the_issue_asks():
    flags = {}
    counts = {}
    for suite in golden.SUITE_NAMES:
        m = json.loads((GOLDEN / suite / "manifest.json").read_text())
        counts[suite] = m["numberOfTests"]
        flags[suite] = {f for g in m["testGroups"] for t in g["tests"] for f in t["flags"]}
        if suite in ("matmul", "conv"):
            methods = {g["profile"] for g in m["testGroups"]}
            assert {"tflite_double", "tflite_single", "tosa_single", "tosa_double", "ort", "exact", "int32"} <= methods
    assert {"tie", "neg_tie", "saturate_hi", "saturate_lo", "acc_overflow", "per_channel", "zp_extreme", "bias",
            "k_one", "k_large", "double_vs_single_rounding", "qrange"} <= flags["matmul"]
    assert {"tie", "saturate_hi", "saturate_lo", "nan_input", "inf_input", "subnormal_scale", "huge_scale",
            "per_channel", "per_block", "int4", "fp8_target", "no_saturate", "seed_example", "fp16_input"} <= flags["quantize"]
    assert {"padding", "stride", "dilation", "groups", "per_channel"} <= flags["conv"]
    m = json.loads((GOLDEN / "quantize" / "manifest.json").read_text())
    assert {g["profile"] for g in m["testGroups"]} == set(golden.PROFILES)
    results = {t["result"] for g in m["testGroups"] for t in g["tests"]}
    assert results == {"valid", "error", "unpredictable"}
    m = json.loads((GOLDEN / "formats" / "manifest.json").read_text())
    decoded = {g["params"]["format"] for g in m["testGroups"] if g["op"] == "decode"}
    assert decoded == set(golden.FORMAT_NAMES)
    total = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert total < 20e6


def test_unpredictable_and_error_tests_have_no_expected_values():
    for suite in golden.SUITE_NAMES:
        m = json.loads((GOLDEN / suite / "manifest.json").read_text())
        for g in m["testGroups"]:
            for t in g["tests"]:
                roles = {f["role"] for f in t["files"]}
                if t["result"] != "valid":
                    assert not roles & {"expected", "intermediate", "vectors"}, t["name"]
                else:
                    assert roles & {"expected", "vectors"}, t["name"]


# ---- verification ---------------------------------------------------------------------------------

@pytest.mark.skipif(not kernel.available(), reason="refquant._kernel is not built")
def test_c_kernel_reproduces_every_matmul_vector():
    gset = golden.load_set(GOLDEN / "matmul")
    applicable = [t for _, t in gset.tests() if t["result"] != "unpredictable" and golden._kernel_applies(t["params"])]
    mismatches, stats = golden.verify_set(gset, use_kernel=True)
    assert mismatches == []
    assert stats["kernel_checked"] == len(applicable) >= 100
    methods = {t["params"]["method"] for t in applicable}
    assert methods == {m for m in rq.METHODS if backends.kernel_method(m)}


@pytest.mark.parametrize("suite", ["quantize", "conv", "formats"])
def test_oracle_reproduces_every_vector(suite):
    mismatches, stats = golden.verify_set(golden.load_set(GOLDEN / suite), use_kernel=False)
    assert mismatches == [] and stats["tests"] > 0


def test_verify_cli_all_sets(capsys):
    assert run_cli("verify", "--no-kernel", GOLDEN / "conv") == 0
    out = capsys.readouterr().out
    assert "all match" in out


def test_mismatch_exits_1_and_names_the_test(tmp_path, capsys):
    d = copy_set(tmp_path, "conv")
    gset = golden.load_set(d)
    g, t = next((g, t) for g, t in gset.tests() if t["result"] == "valid")
    f = next(f for f in t["files"] if f["name"] == "Y")
    lines = (d / f["path"]).read_text().split("\n")
    lines[1] = format((int(lines[1], 16) + 1) % 256, "02x")
    rewrite(d, f["path"], "\n".join(lines))
    assert run_cli("verify", d) == 1
    out = capsys.readouterr().out
    assert f"tc{t['tcId']:04d}" in out and "MISMATCH" in out and "[0] expected" in out


def test_derived_parameter_change_is_a_mismatch(tmp_path):
    d = copy_set(tmp_path, "conv")
    m = json.loads((d / "manifest.json").read_text())
    t = next(t for g in m["testGroups"] if g["profile"] == "tflite_double" for t in g["tests"])
    t["derived"]["m"][0] += 1
    (d / "manifest.json").write_text(golden.manifest_text(m))
    report = golden.verify(d, use_kernel=False)
    assert any("derived" in x["detail"] and x["tcId"] == t["tcId"] for x in report["mismatches"])


# ---- bad input: named error, file and line, exit 2 --------------------------------------------------

def _bad(capsys, *argv):
    assert run_cli(*argv) == 2
    return capsys.readouterr().err


def test_unknown_suite(capsys, tmp_path):
    err = _bad(capsys, "generate", "--suite", "nope", "--out", tmp_path)
    assert "unknown golden suite 'nope'" in err and "matmul" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UnknownNameError):
        golden.build_set("nope")


def test_checksum_mismatch(tmp_path, capsys):
    d = copy_set(tmp_path)
    victim = sorted(d.glob("tc0001_x*.hex"))[0]
    text = victim.read_text()
    victim.write_text(text.replace("\n8", "\n9", 1) if "\n8" in text else text[:-3] + "00\n")
    err = _bad(capsys, "verify", d)
    assert victim.name in err and "sha256" in err


def test_truncated_file(tmp_path, capsys):
    d = copy_set(tmp_path)
    victim = sorted(d.glob("tc0002_w*.hex"))[0]
    victim.write_bytes(victim.read_bytes()[:-7])
    err = _bad(capsys, "verify", d)
    assert victim.name in err and "truncated" in err


def test_missing_file(tmp_path, capsys):
    d = copy_set(tmp_path)
    victim = sorted(d.glob("tc0003_*.hex"))[0]
    victim.unlink()
    assert "missing" in _bad(capsys, "verify", d)


def test_malformed_json_names_line(tmp_path, capsys):
    d = copy_set(tmp_path)
    text = (d / "manifest.json").read_text().split("\n")
    text[5] = text[5] + ","
    (d / "manifest.json").write_text("\n".join(text))
    err = _bad(capsys, "verify", d)
    assert "manifest.json:6:" in err and "malformed JSON" in err


def test_schema_violation_cli(tmp_path, capsys):
    d = copy_set(tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["testGroups"][1]["tests"][0]["result"] = "perhaps"
    (d / "manifest.json").write_text(json.dumps(m))
    err = _bad(capsys, "verify", d)
    assert "schema violation" in err and "testGroups[1].tests[0].result" in err


def test_number_of_tests_disagrees(tmp_path, capsys):
    d = copy_set(tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["numberOfTests"] += 1
    (d / "manifest.json").write_text(json.dumps(m))
    assert "numberOfTests" in _bad(capsys, "verify", d)


@pytest.mark.parametrize("edit, message", [
    (lambda lines: lines.__setitem__(3, "zz"), ":4: 'zz' is not one hex word"),
    (lambda lines: lines.__setitem__(3, "1ff"), ":4: word '1ff' out of range for u8"),
    (lambda lines: lines.__setitem__(3, "7f 01"), ":4: '7f 01' is not one hex word"),
    (lambda lines: lines.insert(3, "00"), "more elements than shape"),
    (lambda lines: lines.pop(3), "elements, shape"),
    (lambda lines: lines.__setitem__(0, lines[0].replace("dtype=u8", "dtype=i8")), ":1: header dtype i8"),
    (lambda lines: lines.__setitem__(0, lines[0].replace("count=", "count=9")), ":1: count=9"),
    (lambda lines: lines.__setitem__(0, "7f"), ":1: missing '// name="),
], ids=["not-hex", "out-of-range", "two-words", "too-many", "too-few", "dtype", "count", "no-header"])
def test_bad_tensor_file_named_with_line(tmp_path, capsys, edit, message):
    d = copy_set(tmp_path)
    victim = sorted(d.glob("tc0001_x.u8.hex"))[0]
    lines = victim.read_text().split("\n")
    edit(lines)
    rewrite(d, victim.name, "\n".join(lines))
    err = _bad(capsys, "verify", d)
    assert victim.name in err and message in err, err


def test_shape_element_count_disagreement_in_manifest(tmp_path, capsys):
    d = copy_set(tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["testGroups"][0]["tests"][0]["files"][0]["elements"] += 1
    (d / "manifest.json").write_text(json.dumps(m))
    assert "has 50 elements, 'elements' says 51" in _bad(capsys, "verify", d)


def test_parse_tensor_roundtrip_every_dtype():
    for short, d in golden.DTYPES.items():
        lo = -(1 << (d.bits - 1)) if d.signed else 0
        hi = (1 << (d.bits - 1)) - 1 if d.signed else d.mask
        values = [lo, hi, 0, (lo + hi) // 2]
        text = golden.format_tensor("t", short, [2, 2], values)
        header, back = golden.parse_tensor(text, "t")
        assert back == values and header["dtype"] == short
        assert all(len(w) == d.digits for w in text.split("\n")[1:-1])
    with pytest.raises(FormatFileError, match="out of range for e2m1"):
        golden.parse_tensor("// name=t dtype=e2m1 shape=1 layout=row-major\nf0\n", "t")
    with pytest.raises(FormatFileError, match="out of range for e3m2"):
        golden.parse_tensor("// name=t dtype=e3m2 shape=1 layout=row-major\n40\n", "t")


def test_no_action_and_list(capsys):
    assert cli.main(["golden"]) == 2
    assert cli.main(["golden", "list"]) == 0
    out = capsys.readouterr().out
    for suite in golden.SUITE_NAMES:
        assert out.count(suite) >= 1


# ---- the Python API ---------------------------------------------------------------------------------

def test_default_root_search_order(tmp_path, monkeypatch):
    """$REFQUANT_GOLDEN_ROOT, then the checkout's golden/, then the wheel's package data
    (refquant/golden_data/), then ./golden; a directory counts only if it holds the schema."""
    monkeypatch.delenv("REFQUANT_GOLDEN_ROOT", raising=False)
    assert golden.default_root() == GOLDEN
    installed = tmp_path / "site" / "refquant" / "golden_data"
    shutil.copytree(GOLDEN / "schema", installed / "schema")
    shutil.copytree(GOLDEN / "conv", installed / "conv")
    monkeypatch.setattr(golden.load, "_REPO_GOLDEN", tmp_path / "no-checkout" / "golden")
    monkeypatch.setattr(golden.load, "_PACKAGED_GOLDEN", installed)
    assert golden.default_root() == installed          # a non-editable install finds its package data
    assert golden.load_set("conv").manifest["suite"] == "conv"
    monkeypatch.setenv("REFQUANT_GOLDEN_ROOT", str(GOLDEN))
    assert golden.default_root() == GOLDEN              # the env var points at a checkout
    monkeypatch.delenv("REFQUANT_GOLDEN_ROOT")
    monkeypatch.setattr(golden.load, "_PACKAGED_GOLDEN", tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    assert golden.default_root() == tmp_path / "golden"


def test_load_set_api():
    gset = golden.load_set("matmul")       # a suite name resolves under default_root()
    assert golden.default_root() == GOLDEN
    case = next(c for c in gset.cases(numpy=True) if c.name == "tflite_double/random_u8s8_per_channel")
    assert case.inputs["A"].dtype == np.uint8 and case.inputs["A"].shape == (3, 24)
    acc = case.inputs["A"].astype(np.int64) - case.params["za"]
    acc = acc @ (case.inputs["B"].astype(np.int64) - np.array(case.params["zb"])) + case.inputs["bias"]
    assert (acc == case.expected["acc"]).all()
    assert case.derived["m"] == case.param_tensors["mult"].tolist()
    quant = golden.load_set(GOLDEN / "quantize")
    c = next(c for c in quant.cases(numpy=True) if c.name == "onnxruntime/random_int8")
    assert c.inputs["x"].dtype == np.float32
    cases = list(quant.cases())
    assert all(not c.expected for c in cases if c.result != "valid")


# ---- exports ----------------------------------------------------------------------------------------

def test_export_npy_and_bin(tmp_path):
    assert run_cli("export", "--format", "npy", GOLDEN / "quantize", tmp_path / "npy") == 0
    assert run_cli("export", "--format", "bin", GOLDEN / "quantize", tmp_path / "bin") == 0
    gset = golden.load_set(GOLDEN / "quantize")
    n = 0
    for c in gset.cases(numpy=True):
        for f in c.files:
            stem = f["path"][:-4]
            ref = (c.inputs | c.expected)[f["name"]]
            got = np.load(tmp_path / "npy" / "quantize" / f"{stem}.npy")
            assert got.dtype == ref.dtype and got.shape == ref.shape
            assert got.tobytes() == ref.tobytes()
            raw = np.fromfile(tmp_path / "bin" / "quantize" / f"{stem}.bin", dtype=ref.dtype).reshape(ref.shape)
            assert raw.tobytes() == ref.tobytes()
            n += 1
    assert n > 500
    assert (tmp_path / "npy" / "quantize" / "manifest.json").read_bytes() == (GOLDEN / "quantize" / "manifest.json").read_bytes()


def test_export_bad_format(tmp_path, capsys):
    assert cli.main(["golden", "export", "--format", "xml", str(GOLDEN / "conv"), str(tmp_path / "x")]) == 2
    assert "unknown export format 'xml'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def _compile(tmp_path, source, name):
    exe = tmp_path / name
    (tmp_path / f"{name}.c").write_text(source)
    cmd = ["gcc", "-std=gnu99", "-O1", "-ffp-contract=off", "-w", f"-I{tmp_path}", f"-I{CSRC}",
           str(tmp_path / f"{name}.c"), *sorted(str(p) for p in CSRC.glob("*.c")), "-lm", "-lpthread",
           "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return exe


_C_CHECK = """
    {
        rq_gemm g;
        memset(&g, 0, sizeof g);
        g.m = P(M); g.n = P(N); g.k = P(K);
        g.a = T(A); g.a_type = %(a_type)s; g.lda = P(K);
        g.b = T(B); g.b_type = %(b_type)s; g.ldb = P(N);
        g.za = P(ZA);
        %(zb)s
        g.bias = %(bias)s;
        g.policy = %(policy)d;
        g.method = %(method)d;
        g.per_channel = %(per_channel)d;
        %(mult)s
        g.zp = P(ZY); g.qmin = %(qmin)s; g.qmax = %(qmax)s;
        %(ctype)s out[P(M) * P(N)];
        g.c = out; g.c_type = %(c_type)s; g.ldc = P(N);
        g.path = RQ_PATH_SCALAR;
        int rc = rq_gemm_run(&g);
        if (rc != 0) { printf("tc%(tc)04d rc %%d\\n", rc); failures++; }
        for (int i = 0; i < P(M) * P(N); i++)
            if (out[i] != T(Y)[i]) { printf("tc%(tc)04d [%%d] %%d != %%d\\n", i, (int)out[i], (int)T(Y)[i]); failures++; break; }
        checked++;
    }
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found")
def test_c_program_reads_exported_header_and_matches_kernel_c_api(tmp_path):
    assert run_cli("export", "--format", "c-header", GOLDEN / "matmul", tmp_path) == 0
    header = tmp_path / "golden_matmul.h"
    assert header.exists()
    gset = golden.load_set(GOLDEN / "matmul")
    types = {"int8": "RQ_I8", "uint8": "RQ_U8", "int32": "RQ_I32"}
    ctypes = {"int8": "int8_t", "uint8": "uint8_t", "int32": "int32_t"}
    methods = {"int32": 0, "float_fp32": 1, "tflite_double": 2, "tflite_single": 3, "tosa_single": 4, "tosa_double": 5}
    blocks = []
    for _, t in gset.tests():
        p = t["params"]
        if t["result"] != "valid" or not golden._kernel_applies(p) or p["K"] > 5000:
            continue
        tc = t["tcId"]
        km = backends.kernel_method(p["method"])
        d = t.get("derived") or {}
        per_channel = int(isinstance(p["sb"], list))
        if km == "float_fp32":
            mult = f"float mf[{p['N']}]; memcpy(mf, T(M_bits), sizeof mf[0] * {len(d['M_bits'])}); g.multiplier_f32 = mf;"
        elif km == "int32":
            mult = ""
        else:
            sh = "shift" if "shift" in d else "s"
            mult = f"g.multiplier = T(m); g.shift = T({sh});"
        zb = ("g.zb = T(zb); g.zb_per_channel = 1;" if isinstance(p["zb"], list)
              else "int32_t zb1 = P(ZB); g.zb = &zb1; g.zb_per_channel = 0;")
        yt = p["y_type"]
        lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int32": ("INT32_MIN", "INT32_MAX")}[yt]
        block = _C_CHECK % dict(
            tc=tc, a_type=types[p["a_type"]], b_type=types[p["b_type"]], zb=zb,
            bias="T(bias)" if any(f["name"] == "bias" for f in t["files"]) else "NULL",
            policy={"wrap": 0, "saturate": 1, "error": 2}[p["policy"]], method=methods[km], per_channel=per_channel,
            mult=mult, qmin="P(QMIN)" if "qmin" in p else lo, qmax="P(QMAX)" if "qmax" in p else hi,
            ctype=ctypes[yt], c_type=types[yt])
        blocks.append(f"#define P(x) RQ_MATMUL_TC{tc:04d}_##x\n#define T(x) rq_matmul_tc{tc:04d}_##x\n"
                      f"{block}#undef P\n#undef T\n")
    assert len(blocks) > 80
    source = ("#include <stdint.h>\n#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n"
              "#include \"refquant_kernel.h\"\n#include \"golden_matmul.h\"\n"
              "int main(void) {\n int failures = 0, checked = 0;\n" + "".join(blocks) +
              ' printf("checked %d failures %d\\n", checked, failures);\n return failures != 0;\n}\n')
    exe = _compile(tmp_path, source, "golden_c")
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]
    assert f"checked {len(blocks)} failures 0" in res.stdout


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found")
def test_c_program_reads_exported_bin(tmp_path):
    assert run_cli("export", "--format", "bin", GOLDEN / "matmul", tmp_path) == 0
    gset = golden.load_set(GOLDEN / "matmul")
    t = next(t for _, t in gset.tests() if t["name"] == "tflite_double/random_s8s8")
    p = t["params"]
    d = t["derived"]
    files = {f["name"]: str(tmp_path / "matmul" / (f["path"][:-4] + ".bin")) for f in t["files"]}
    source = f"""
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "refquant_kernel.h"
static void load(const char *path, void *buf, size_t n) {{
    FILE *f = fopen(path, "rb"); if (!f || fread(buf, 1, n, f) != n) {{ printf("read %s\\n", path); _exit(2); }} fclose(f);
}}
int main(void) {{
    int8_t a[{p['M'] * p['K']}], b[{p['K'] * p['N']}], y[{p['M'] * p['N']}], out[{p['M'] * p['N']}];
    int32_t bias[{p['N']}], m = {d['m'][0]}, sh = {d['shift'][0]}, zb = {p['zb']};
    load("{files['A']}", a, sizeof a); load("{files['B']}", b, sizeof b);
    load("{files['bias']}", bias, sizeof bias); load("{files['Y']}", y, sizeof y);
    rq_gemm g = {{0}};
    g.m = {p['M']}; g.n = {p['N']}; g.k = {p['K']};
    g.a = a; g.a_type = RQ_I8; g.lda = {p['K']}; g.b = b; g.b_type = RQ_I8; g.ldb = {p['N']};
    g.za = {p['za']}; g.zb = &zb; g.bias = bias; g.policy = RQ_WRAP; g.method = RQ_TFLITE_DOUBLE;
    g.multiplier = &m; g.shift = &sh; g.zp = {p['zy']}; g.qmin = -128; g.qmax = 127;
    g.c = out; g.c_type = RQ_I8; g.ldc = {p['N']}; g.path = RQ_PATH_SCALAR;
    if (rq_gemm_run(&g) != 0) return 3;
    for (int i = 0; i < {p['M'] * p['N']}; i++) if (out[i] != y[i]) {{ printf("[%d] %d != %d\\n", i, out[i], y[i]); return 1; }}
    printf("ok %d\\n", {p['M'] * p['N']});
    return 0;
}}
"""
    exe = _compile(tmp_path, source.replace("_exit(2)", "return"), "golden_bin")
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("ok"), res.stdout


# ---- a Verilog testbench reads the canonical files ------------------------------------------------------

@pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                    reason="Icarus Verilog (iverilog, vvp) not installed: apt-get install -y iverilog")
def test_verilog_readmemh_loads_int8_input_and_int32_output(tmp_path):
    gset = golden.load_set(GOLDEN / "matmul")
    case = next(c for c in gset.cases() if c.name == "exact/zp_extremes")
    a_entry = next(f for f in case.files if f["name"] == "A")
    acc_entry = next(f for f in case.files if f["name"] == "acc")
    tb = Path(__file__).resolve().parents[1] / "examples" / "rtl" / "readmemh_tb.v"   # the shipped testbench
    res = subprocess.run(["iverilog", "-g2005", f"-Ptb.N_A={a_entry['elements']}", f"-Ptb.N_ACC={acc_entry['elements']}",
                          "-o", str(tmp_path / "tb.vvp"), str(tb)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp"), f"+A={gset.path / a_entry['path']}",
                          f"+ACC={gset.path / acc_entry['path']}"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    a = [int(line.split()[1]) for line in res.stdout.splitlines() if line.startswith("A ")]
    acc = [int(line.split()[1]) for line in res.stdout.splitlines() if line.startswith("ACC ")]
    assert a == case.inputs["A"].values and acc == case.expected["acc"].values
    assert min(a) < 0 and min(acc) < 0 < max(acc)     # two's complement read back as signed
    assert "WARNING" not in res.stderr


# ---- hostile input (issue 11 items 6-12): exit 2, one line, nothing written, no hang ---------------------

def _one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("refquant: error:"), err
    return lines[0]


def _shipped_at(monkeypatch, root):
    """Make ``root`` the shipped location (as the wheel's refquant/golden_data would be)."""
    monkeypatch.delenv("REFQUANT_GOLDEN_ROOT", raising=False)
    monkeypatch.setattr(golden.load, "_REPO_GOLDEN", root)
    monkeypatch.setattr(golden.load, "_PACKAGED_GOLDEN", root)


def _mtimes(path):
    return {p: p.stat().st_mtime_ns for p in Path(path).rglob("*")}


@pytest.mark.parametrize("argv", [("generate", "--suite", "conv"), ("generate", "--suite", "conv", "--out", ""),
                                  ("generate", "--suite", "conv", "--out", "  ")],
                         ids=["no-out", "empty-out", "blank-out"])
def test_generate_never_overwrites_the_shipped_set_by_default(tmp_path, monkeypatch, capsys, argv):
    root = tmp_path / "site" / "golden_data"
    shutil.copytree(GOLDEN / "schema", root / "schema")
    shutil.copytree(GOLDEN / "conv", root / "conv")
    _shipped_at(monkeypatch, root)
    monkeypatch.chdir(tmp_path)
    before = _mtimes(root)
    assert run_cli(*argv) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "--in-place" in err or "--out" in err
    assert _mtimes(root) == before
    assert run_cli("generate", "--suite", "conv", "--out", root) == 2      # --out naming it is refused too
    assert "--in-place" in _one_error_line(capsys.readouterr().err) and _mtimes(root) == before
    with pytest.raises(SystemExit) as exc:                                 # --out and --in-place exclude each other
        run_cli("generate", "--suite", "conv", "--in-place", "--out", tmp_path / "x")
    assert exc.value.code == 2


def test_shipped_record_matches_the_committed_manifests():
    got = {s: golden._sha((GOLDEN / s / "manifest.json").read_bytes()) for s in golden.SUITE_NAMES}
    assert got == golden.SHIPPED_MANIFEST_SHA256, (
        "golden/ changed: if intended, set refquant/golden/load.py SHIPPED_MANIFEST_SHA256 = " + json.dumps(got, indent=1))


def test_verify_detects_a_shipped_set_regenerated_with_another_seed(tmp_path, monkeypatch, capsys):
    root = tmp_path / "golden"
    shutil.copytree(GOLDEN / "schema", root / "schema")
    shutil.copytree(GOLDEN / "conv", root / "conv")
    _shipped_at(monkeypatch, root)
    assert golden.verify_set(golden.load_set(root / "conv"), use_kernel=False)[0] == []
    assert run_cli("generate", "--suite", "conv", "--in-place", "--seed", "2") == 0
    out = capsys.readouterr().out
    assert "note: conv now differ" in out and "SHIPPED_MANIFEST_SHA256" in out
    assert run_cli("verify", root / "conv", "--no-kernel") == 1
    out = capsys.readouterr().out
    assert "MISMATCH conv [shipped]" in out and "seed 2" in out and "all match" not in out
    mism, _ = golden.verify_set(golden.load_set(root / "conv"), use_kernel=False)
    assert [m["checker"] for m in mism] == ["shipped"]
    # the same set elsewhere is consistent with the oracle: a note, not a failure
    shutil.copytree(root / "conv", tmp_path / "mine" / "conv")
    assert run_cli("verify", tmp_path / "mine", "--no-kernel") == 0
    out = capsys.readouterr().out
    assert "note: conv: not the shipped vectors" in out and "all match" in out
    assert golden.verify(tmp_path / "mine", use_kernel=False)["shipped"] == {"conv": False}
    # restoring with the shipped seed restores the record
    assert run_cli("generate", "--suite", "conv", "--in-place") == 0
    assert "note" not in capsys.readouterr().out
    assert golden.verify_set(golden.load_set(root / "conv"), use_kernel=False)[0] == []


@pytest.mark.parametrize("value", ["-1", "-7", "x", "1.5"])
def test_negative_or_non_integer_counts_are_usage_errors(value, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli("verify", GOLDEN / "conv", "--no-kernel", "--max-errors", value)
    assert exc.value.code == 2
    assert "--max-errors" in capsys.readouterr().err
    with pytest.raises(InvalidValueError, match="max_mismatches"):
        golden.verify(GOLDEN / "conv", use_kernel=False, max_mismatches=-1)


def test_max_errors_counts_mismatches_and_checks_every_test(tmp_path, capsys):
    assert run_cli("verify", GOLDEN / "conv", "--no-kernel", "--max-errors", "0") == 0
    assert "56 tests" in capsys.readouterr().out


def _run_module(*argv, timeout=60):
    """python -m refquant in a subprocess with a time limit and a 2 GiB address-space limit (a reader
    that hangs or eats memory fails the test instead of the machine)."""
    import resource
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    return subprocess.run([sys.executable, "-m", "refquant", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit, cwd=ROOT)


def test_fifo_and_dev_zero_are_refused_not_read(tmp_path):
    import os
    d = copy_set(tmp_path, "conv")
    victim = sorted(d.glob("tc0001_x*.hex"))[0]
    victim.unlink()
    victim.symlink_to("/dev/zero")
    res = _run_module("golden", "verify", d, "--no-kernel", timeout=30)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "not a regular file" in res.stderr and "character device" in res.stderr
    res = _run_module("golden", "export", "--format", "npy", d, tmp_path / "out", timeout=30)
    assert res.returncode == 2 and "not a regular file" in res.stderr and not (tmp_path / "out").exists()
    victim.unlink()
    os.mkfifo(victim)          # nothing ever writes to it: a reader that opens it blocks for ever
    res = _run_module("golden", "verify", d, "--no-kernel", timeout=30)
    assert res.returncode == 2 and "FIFO" in res.stderr and "not found" not in res.stderr, res.stderr
    (d / "manifest.json").unlink()
    os.mkfifo(d / "manifest.json")
    res = _run_module("golden", "verify", d, timeout=30)
    assert res.returncode == 2 and "FIFO" in res.stderr, res.stderr


def test_manifest_that_is_a_directory(tmp_path, capsys):
    d = tmp_path / "conv"
    (d / "manifest.json").mkdir(parents=True)
    assert run_cli("verify", d) == 2
    assert "is a directory" in _one_error_line(capsys.readouterr().err)


def test_deeply_nested_manifest(tmp_path, capsys):
    d = tmp_path / "conv"
    d.mkdir()
    (d / "manifest.json").write_text("[" * 100000 + "]" * 100000)
    assert run_cli("verify", d) == 2
    assert "nested too deeply" in _one_error_line(capsys.readouterr().err)


def test_non_ascii_hex_file_with_a_matching_checksum(tmp_path, capsys):
    d = copy_set(tmp_path)
    victim = sorted(d.glob("tc0001_x*.hex"))[0]
    rewrite(d, victim.name, victim.read_text().replace("\n", "\n\u00e9", 1))
    assert run_cli("verify", d, "--no-kernel") == 2
    err = _one_error_line(capsys.readouterr().err)
    assert victim.name in err and "not ASCII" in err


def test_hidden_leftovers_are_not_sets(tmp_path, capsys):
    shutil.copytree(GOLDEN / "conv", tmp_path / ".conv.tmp-abc123")
    shutil.copytree(GOLDEN / "conv", tmp_path / ".conv.old-def456")
    assert run_cli("verify", tmp_path, "--no-kernel") == 2
    assert "holds no golden vector set" in _one_error_line(capsys.readouterr().err)
    shutil.copytree(GOLDEN / "conv", tmp_path / "conv")
    assert run_cli("verify", tmp_path, "--no-kernel") == 0
    assert "1 sets (conv)" in capsys.readouterr().out


def test_shipped_root_missing_a_set_fails(tmp_path, monkeypatch, capsys):
    root = tmp_path / "golden"
    shutil.copytree(GOLDEN / "schema", root / "schema")
    shutil.copytree(GOLDEN / "conv", root / "conv")
    shutil.copytree(GOLDEN / "conv", root / ".matmul.old-x")
    _shipped_at(monkeypatch, root)
    assert cli.main(["golden", "verify"]) == 2
    assert "lacks the set(s) formats, quantize, matmul" in _one_error_line(capsys.readouterr().err)


def test_suite_names_are_accepted_everywhere(tmp_path, capsys):
    assert run_cli("verify", "conv", "--no-kernel") == 0
    assert "1 sets (conv)" in capsys.readouterr().out
    assert run_cli("export", "--format", "bin", "conv", tmp_path / "out") == 0
    assert (tmp_path / "out" / "conv" / "manifest.json").read_bytes() == (GOLDEN / "conv" / "manifest.json").read_bytes()
    assert run_cli("verify", "nope", "--no-kernel") == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "'nope'" in err or "nope:" in err
    assert "conv" in err and "matmul" in err


@pytest.mark.parametrize("argv", [
    ("generate", "--suite", "conv", "--out", "{file}/sub"),
    ("export", "--format", "npy", str(GOLDEN / "conv"), "{file}/sub"),
    ("export", "--format", "c-header", str(GOLDEN / "conv"), "{file}"),
    ("export", "--format", "npy", str(GOLDEN / "conv"), "/dev/null/x"),
], ids=["generate-under-a-file", "export-under-a-file", "export-onto-a-file", "export-under-dev-null"])
def test_output_paths_that_cannot_be_directories(tmp_path, capsys, argv):
    f = tmp_path / "plain.txt"
    f.write_text("not a directory\n")
    argv = [a.replace("{file}", str(f)) for a in argv]
    assert run_cli(*argv) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"] and f.read_text() == "not a directory\n"


def test_failed_export_leaves_no_folder(tmp_path, capsys):
    d = copy_set(tmp_path, "conv")
    victim = sorted(d.glob("tc0009_*.hex"))[0]
    rewrite(d, victim.name, victim.read_text().replace("\n", "\nzz\n", 1))   # checksum fixed: fails in the parse
    out = tmp_path / "new" / "deeper"
    assert run_cli("export", "--format", "npy", d, out) == 2
    assert victim.name in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "new").exists()


def test_ctrl_c_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(golden.store, "build_set", interrupted)
    assert run_cli("generate", "--suite", "conv", "--out", tmp_path / "new") == 130
    err = capsys.readouterr().err
    assert err.strip() == "refquant: interrupted" and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "old").mkdir()
    assert run_cli("generate", "--suite", "conv", "--out", tmp_path / "old") == 130
    assert [p.name for p in (tmp_path / "old").rglob("*") if p.name.startswith(".")] == []


def test_export_never_writes_into_the_shipped_vectors(tmp_path, monkeypatch, capsys):
    root = tmp_path / "golden"
    shutil.copytree(GOLDEN / "schema", root / "schema")
    shutil.copytree(GOLDEN / "conv", root / "conv")
    _shipped_at(monkeypatch, root)
    small = tmp_path / "small"
    golden.write_set("conv", small, seed=3)
    before = _mtimes(root)
    for out in (root, root / "conv", root / "new"):
        assert run_cli("export", "--format", "bin", small / "conv", out) == 2
        assert "shipped golden vectors" in _one_error_line(capsys.readouterr().err)
    assert run_cli("generate", "--suite", "conv", "--out", root / "conv" / "x") == 2
    assert "--in-place" in _one_error_line(capsys.readouterr().err)
    assert _mtimes(root) == before


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.update(pads=[10**9] * 4), "params give an output of shape [1, 3, 2000000003"),
    (lambda p: p.update(pads=[1, 0, 0, 0]), "the file Y has"),
    (lambda p: p.update(strides="x"), "strides, pads and dilations must be lists of integers; got 'x'"),
], ids=["pads-huge", "pads-misfit", "strides-text"])
def test_params_that_do_not_fit_the_files_are_refused_before_computing(tmp_path, capsys, edit, message):
    import fuzz_support as fz
    m = fz.tiny_set(tmp_path / "conv", "conv", tests=1)
    edit(m["testGroups"][0]["tests"][0]["params"])
    (tmp_path / "conv" / "manifest.json").write_text(golden.manifest_text(m))
    with fz.time_limit(20):
        assert run_cli("verify", tmp_path / "conv", "--no-kernel") == 2
    assert message in _one_error_line(capsys.readouterr().err)


def test_matmul_params_that_do_not_fit_the_files(tmp_path, capsys):
    import fuzz_support as fz
    m = fz.tiny_set(tmp_path / "matmul", "matmul", tests=1)
    m["testGroups"][0]["tests"][0]["params"]["K"] = 10**9
    (tmp_path / "matmul" / "manifest.json").write_text(golden.manifest_text(m))
    with fz.time_limit(20):
        assert run_cli("verify", tmp_path / "matmul", "--no-kernel") == 2
    assert "need" in _one_error_line(capsys.readouterr().err)
