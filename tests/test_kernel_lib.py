"""csrc/ as a plain C library, without Python (csrc/Makefile; the hardware DPI-C flow links it).

``make -C csrc BUILD=<tmp>`` builds librefquant.a and librefquant.so with the flags the cffi
build uses; a small C program is linked against each and runs three problems (int32 output
under `saturate` with an overflowing bias, per-channel `float_fp32` to uint8, per-tensor
`tflite_double` to int8) on every path the CPU allows.  What it prints must equal the Python
oracle (refquant.ops + refquant.requant), which shares no code with csrc/.
"""
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from refquant import ops, requant
from refquant.integers import Accumulator

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"

needs_tools = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None,
                                 reason="needs `cc` and `make` on PATH to build csrc/ as a library")


def makefile_var(name):
    """The value of ``name = ...`` in csrc/Makefile (continuation lines joined)."""
    text = (CSRC / "Makefile").read_text().replace("\\\n", " ")
    m = re.search(rf"^{name}\s*=(.*)$", text, re.M)
    assert m, f"{name} not set in csrc/Makefile"
    return m.group(1).split()


def test_makefile_and_cffi_build_list_the_same_sources_and_flags():
    from refquant.kernel import _build as kb
    assert makefile_var("SRCS") == kb.SOURCES
    assert sorted(kb.SOURCES) == sorted(p.name for p in CSRC.glob("*.c")), "a csrc/*.c file is not built"
    assert sorted(makefile_var("HDRS")) == sorted(p.name for p in CSRC.glob("*.h"))
    assert makefile_var("RQ_CFLAGS") == kb.CFLAGS


M, N, K = 4, 37, 70          # N crosses a 32-column block, K a 64-deep chunk


def _problems():
    rnd = random.Random(20261203)
    a8 = [[rnd.randint(-128, 127) for _ in range(K)] for _ in range(M)]
    au = [[rnd.randint(0, 255) for _ in range(K)] for _ in range(M)]
    b8 = [[rnd.randint(-128, 127) for _ in range(N)] for _ in range(K)]
    bu = [[rnd.randint(0, 255) for _ in range(N)] for _ in range(K)]
    zb = [rnd.randint(0, 255) for _ in range(N)]
    bias = [rnd.choice([2**31 - 1, -2**31, rnd.randint(-2**20, 2**20)]) for _ in range(N)]
    sbs = [rnd.choice([0.5, 0.25, 0.125]) * (1 + rnd.randint(1, 2**20) / 2**23) for _ in range(N)]
    small_bias = [rnd.randint(-5000, 5000) for _ in range(N)]
    p_fp32 = requant.derive_params("ort", 0.0625, sbs, 64.0)
    p_tfl = requant.derive_params("tflite_double", 0.0625, 0.01171875, 0.75)
    return [
        # name, a, a_type, b, b_type, za, zb, bias, policy, method, params, zp, out_type
        ("i32", a8, "int8", bu, "uint8", -3, zb, bias, "saturate", "int32", None, 0, "int32"),
        ("fp32", au, "uint8", b8, "int8", 131, 0, None, "wrap", "float_fp32", p_fp32, 128, "uint8"),
        ("tfl", a8, "int8", b8, "int8", 5, -7, small_bias, "wrap", "tflite_double", p_tfl, -3, "int8"),
    ]


def _oracle(pr):
    _, a, at, b, bt, za, zb, bias, policy, method, params, zp, ot = pr
    acc = ops.matmul_integer(a, b, za, zb, a_type=at, b_type=bt, accumulator=Accumulator(32, policy), bias=bias)
    if method == "int32":
        return [v for row in acc for v in row]
    return [v for row in requant.requantize(acc, method, params, zp, ot) for v in row]


_CTYPE = {"int8": ("RQ_I8", "int8_t"), "uint8": ("RQ_U8", "uint8_t"), "int32": ("RQ_I32", "int32_t")}
_CMETHOD = {"int32": "RQ_INT32", "float_fp32": "RQ_FLOAT_FP32", "tflite_double": "RQ_TFLITE_DOUBLE"}


def _arr(ctype, name, values):
    return f"static const {ctype} {name}[] = {{{', '.join(map(str, values))}}};\n"


def _c_program(problems):
    """A C program that runs each problem on every usable path and prints `name path rc outputs...`."""
    body, calls = [], []
    for pr in problems:
        name, a, at, b, bt, za, zb, bias, policy, method, params, zp, ot = pr
        body.append(_arr(_CTYPE[at][1], f"{name}_a", [v for r in a for v in r]))
        body.append(_arr(_CTYPE[bt][1], f"{name}_b", [v for r in b for v in r]))
        zbs = zb if isinstance(zb, list) else [zb]
        body.append(_arr("int32_t", f"{name}_zb", zbs))
        body.append(_arr("int32_t", f"{name}_bias", bias or [0]))
        args = params.kernel_args() if params is not None else {}
        body.append(_arr("uint32_t", f"{name}_mbits", args.get("M_bits", [0])))
        body.append(_arr("int32_t", f"{name}_m", args.get("m", [0])))
        body.append(_arr("int32_t", f"{name}_shift", args.get("shift", [0])))
        lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int32": (0, 0)}[ot]
        per_channel = int(params is not None and params.per_channel)
        calls.append(f"""
    {{
        static {_CTYPE[ot][1]} c[{M * N}];
        float mf[{len(args.get("M_bits", [0]))}];
        memcpy(mf, {name}_mbits, sizeof mf);
        memset(&g, 0, sizeof g);
        g.m = {M}; g.n = {N}; g.k = {K};
        g.a = {name}_a; g.a_type = {_CTYPE[at][0]}; g.lda = {K};
        g.b = {name}_b; g.b_type = {_CTYPE[bt][0]}; g.ldb = {N};
        g.za = {za}; g.zb = {name}_zb; g.zb_per_channel = {int(isinstance(zb, list))};
        g.bias = {f"{name}_bias" if bias else "NULL"};
        g.policy = {["wrap", "saturate", "error"].index(policy)};
        g.method = {_CMETHOD[method]}; g.per_channel = {per_channel};
        g.multiplier_f32 = mf; g.multiplier = {name}_m; g.shift = {name}_shift;
        g.zp = {zp}; g.qmin = {lo}; g.qmax = {hi};
        g.c = c; g.c_type = {_CTYPE[ot][0]}; g.ldc = {N};
        for (p = 0; p <= RQ_PATH_AMX; p = p ? p * 2 : 1) {{
            if (p && !(rq_cpu_paths() & p)) continue;
            g.path = p;
            memset(c, 0, sizeof c);
            rc = rq_gemm_run(&g);
            printf("{name} %d %d", p, rc);
            for (i = 0; i < {M * N}; i++) printf(" %ld", (long)c[i]);
            printf("\\n");
        }}
    }}""")
    return ("#include <stdint.h>\n#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n"
            '#include "refquant_kernel.h"\n\n' + "".join(body)
            + "\nint main(void)\n{\n    rq_gemm g;\n    int p, rc, i;\n" + "".join(calls)
            + "\n    return 0;\n}\n")


@needs_tools
def test_static_and_shared_library_match_the_oracle(tmp_path):
    build = tmp_path / "build"
    res = subprocess.run(["make", "-C", str(CSRC), f"BUILD={build}", "-j2"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert (build / "librefquant.a").is_file() and (build / "librefquant.so").is_file()
    problems = _problems()
    src = tmp_path / "prog.c"
    src.write_text(_c_program(problems))
    links = {"static": [str(build / "librefquant.a")],
             "shared": [f"-L{build}", "-lrefquant", f"-Wl,-rpath,{build}"]}
    expected = {pr[0]: _oracle(pr) for pr in problems}
    for kind, lib in links.items():
        exe = tmp_path / f"prog_{kind}"
        res = subprocess.run(["cc", "-std=gnu99", "-Wall", f"-I{CSRC}", str(src), *lib, "-lm", "-lpthread",
                              "-o", str(exe)], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr[-2000:]
        lines = run.stdout.split("\n")[:-1]
        seen = set()
        for line in lines:
            name, path, rc, *values = line.split()
            seen.add((name, path))
            assert rc == "0", f"{kind} {name} path {path}: rc {rc}"
            assert list(map(int, values)) == expected[name], f"{kind} {name} path {path}"
        assert {n for n, _ in seen} == set(expected) and {p for _, p in seen} >= {"0", "1"}
    if problems[0][8] == "saturate":   # the bias steps really saturated somewhere
        assert 2**31 - 1 in expected["i32"] or -2**31 in expected["i32"]
