"""The audit names RTL faults (refquant/audit/faults.py): each fault injected into a dump is the best
explanation (alone, or tied with an equivalent one on that data); ties come with the accumulators
that tell the candidates apart, and ``refquant audit --suggest-vectors`` writes them as $readmemh."""
import json

import numpy as np
import pytest

from refquant.audit import audit, expected, make_case
from refquant.audit.accumulators import accumulators
from refquant.audit.faults import FAULTS, fault_names, fault_oracle, fault_vectorised
from refquant.audit.numpy_forms import Channels
from refquant.audit.ties import probes
from refquant.cli import main
from refquant import requant as rq

PARAMS = {"m": 3 << 29, "shift": -3}        # M = 3/32: exact ties exist in int32


def _top(res):
    d = res["diagnosis"]
    best = d["ranking"][0]
    tied = [best["semantics"]] + [t["semantics"] for t in d.get("ties", [])]
    return best, tied


@pytest.mark.parametrize("name,base,fault", fault_names())
def test_each_fault_is_named_on_a_requantize_dump(name, base, fault):
    acc = probes(PARAMS, -128, 127, 5)[::5]
    case = make_case(dict(op="requantize", acc=acc.tolist(), params=PARAMS, y_zero_point=5, method=base))
    y = np.array([fault_oracle(base, fault, PARAMS, int(v), 5, -128, 127) for v in acc])
    res = audit(case, y, first=0)
    best, tied = _top(res)
    assert res["mismatches"] > 0 and best["matched"] == best["of"]
    assert name in tied, (name, res["diagnosis"]["verdict"])
    if name != "tflite_single/zp_before_rounding":        # unscaled zp below one ulp of T = 34: = no_zp
        assert best["semantics"] == name


def test_numpy_form_equals_oracle_on_probes():
    for m, shift in ((3 << 29, -3), (1518500250, -9), (2**31 - 1, 0), (1 << 30, 2)):
        p = {"m": m, "shift": shift}
        acc = probes(p)
        for _name, base, fault in fault_names():
            ch = Channels(rq.make_params(base, [p]), np.zeros(acc.size, np.int64))
            got = fault_vectorised(base, fault, ch, acc, -3, -128, 127)
            sample = acc[:: max(1, acc.size // 300)]
            want = [fault_oracle(base, fault, p, int(a), -3, -128, 127) for a in sample]
            assert got[:: max(1, acc.size // 300)].tolist() == want, (base, fault, m, shift)


def _mm(method="tflite_single", policy="wrap", bias=None, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (16, 32)).astype(np.int8)
    b = rng.integers(-128, 128, (32, 8)).astype(np.int8)
    spec = dict(op="qlinear_matmul", a=a, b=b, a_scale=0.02, b_scale=0.01, y_scale=0.5, a_zero_point=3,
                y_zero_point=-7, method=method, policy=policy)
    if bias is not None:
        spec["bias"] = bias
    return make_case(spec)


def _inject(case, fault):
    base = case.method
    acc = accumulators(case, case.get("policy", "wrap"))[0]
    from refquant.audit.case import params_for
    p = params_for(case, base).channel(0)
    return np.vectorize(lambda v: fault_oracle(base, fault, p, int(v), -7, -128, 127))(acc)


@pytest.mark.parametrize("fault", ["floor_shift", "trunc_shift", "shift_plus1", "shift_swapped", "zp_twice"])
def test_truncating_design_is_named_not_half_matched(fault):
    """The issue's example: a truncating design was 'matches tflite_single on 51.75 %'."""
    case = _mm()
    res = audit(case, _inject(case, fault), first=0)
    best, _ = _top(res)
    assert best["semantics"] == f"tflite_single/{fault}" and best["matched"] == best["of"], res["diagnosis"]["verdict"]
    assert res["diagnosis"]["verdict"].startswith(f"matches tflite_single/{fault} on 100%")


def test_wrapping_accumulator_is_named_when_saturation_was_declared():
    bias = np.array([2**31 - 5000] * 4 + [-2**31 + 5000] * 4, dtype=np.int64)
    case = _mm(policy="saturate", bias=bias)
    wrapped = make_case(dict(op="qlinear_matmul", **case.tensors, **{**case.attrs, "policy": "wrap"}))
    res = audit(case, expected(wrapped)[0], first=0)
    best, _ = _top(res)
    assert res["mismatches"] > 0 and best["matched"] == best["of"]
    assert "wrapping int32 accumulator" in best["name"], res["diagnosis"]["verdict"]


def test_ties_carry_distinguishing_vectors_and_suggest_vectors_writes_them(tmp_path, capsys):
    case = _mm()
    np.save(tmp_path / "a.npy", case.tensors["a"])
    np.save(tmp_path / "b.npy", case.tensors["b"])
    np.save(tmp_path / "y.npy", expected(case)[0])
    spec = {k: v for k, v in case.attrs.items() if v is not None}
    (tmp_path / "case.json").write_text(json.dumps({"op": "qlinear_matmul", "a": "a.npy", "b": "b.npy", **spec}))
    out = tmp_path / "v.hex"
    rc = main(["audit", str(tmp_path / "case.json"), "--actual", str(tmp_path / "y.npy"), "--json",
               "--suggest-vectors", str(out)])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0
    ties = {t["semantics"]: t for t in res["diagnosis"]["ties"]}
    assert "tflite_single/wrap_output" in ties and ties["tflite_double"]["vectors"]
    for v in ties["tflite_double"]["vectors"]:
        o = v["outputs"]
        assert o["tflite_single"] != o["tflite_double"]
        p = rq.derive_params("tflite_single", case.attrs["a_scale"], case.attrs["b_scale"], case.attrs["y_scale"])
        assert rq.requantize_one(v["acc"], "tflite_single", p, -7, "int8") == o["tflite_single"]
    words = [ln.split("//")[0].strip() for ln in out.read_text().splitlines() if ln.split("//")[0].strip()]
    assert words and all(len(w) == 8 and int(w, 16) >= 0 for w in words)
    accs = {(int(w, 16) + 2**31) % 2**32 - 2**31 for w in words}
    assert {v["acc"] for v in ties["tflite_double"]["vectors"]} <= accs
    assert "tied with" in res["diagnosis"]["verdict"]


def test_suggest_vectors_bad_directory_is_exit_2(tmp_path, capsys):
    rc = main(["audit", "--op", "requantize", "--acc", "5", "--set", "params={\"m\": 1073741824, \"shift\": 0}",
               "--method", "tflite_single", "--actual", str(tmp_path / "nope.npy"),
               "--suggest-vectors", str(tmp_path / "no" / "dir" / "v.hex")])
    assert rc == 2 and "--suggest-vectors" in capsys.readouterr().err


def test_every_fault_has_a_description():
    assert all(len(d) == 2 and d[1] for d in FAULTS.values())
