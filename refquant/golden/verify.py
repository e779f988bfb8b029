"""Verification: recompute every expected value with the oracle, and cross-check the C kernel."""

from .. import ops
from ..errors import AccumulatorOverflowError, FormatFileError, InvalidValueError, RefquantError
from .blocks_tv import OPS as BLOCK_OPS
from .blocks_tv import expected_line as block_line
from .compute import _kernel_method, run_test, tv_decode_line, tv_encode_line
from .load import default_root, find_sets, is_shipped_root, load_set, shipped_difference, to_numpy
from .schema import TV_OPS
from .store import _Progress
from .tensors import _count



def _kernel_applies(case_params):
    p = case_params
    return (_kernel_method(p.get("method")) is not None and p["a_type"] in ("int8", "uint8") and p["b_type"] in ("int8", "uint8")
            and p["y_type"] in ("int8", "uint8", "int32") and isinstance(p["za"], int))


def kernel_matmul(params, derived, inputs):
    """Run the C kernel on one qlinear_matmul test: {'acc': values, 'Y': values} or raises
    AccumulatorOverflowError.  Requantization parameters come from ``derived`` (never re-derived)."""
    import numpy as np
    from .. import kernel
    p = params
    A = to_numpy(inputs["A"]).astype(np.dtype(p["a_type"]))
    B = to_numpy(inputs["B"]).astype(np.dtype(p["b_type"]))
    zb = np.array(p["zb"], np.int32) if isinstance(p["zb"], list) else p["zb"]
    bias = to_numpy(inputs["bias"]) if "bias" in inputs else None
    acc = kernel.matmul_integer(A, B, p["za"], zb, bias, p["policy"], path="scalar")
    out = {"acc": acc.reshape(-1).tolist()}
    kmethod = _kernel_method(p["method"])
    if kmethod == "int32":
        out["Y"] = out["acc"]
        return out
    kp = _kernel_params(kmethod, derived, p["N"], isinstance(p["sb"], list))
    results = {}
    for path in kernel.paths():
        y = kernel.qlinear_matmul(A, B, p["za"], zb, kmethod, kp, p["zy"], p.get("qmin"), p.get("qmax"),
                                  np.dtype(p["y_type"]), bias, p["policy"], path=path)
        results[path] = y.reshape(-1).tolist()
    first = results.pop("scalar")
    for path, y in results.items():
        if y != first:
            raise AssertionError(f"kernel path {path} differs from the scalar path")
    out["Y"] = first
    return out


def _kernel_params(kmethod, derived, n, per_axis_scale):
    """The C kernel's requantization parameters from a test's ``derived`` values (never re-derived)."""
    import numpy as np
    per_channel = len(next(iter(derived.values()))) > 1 or per_axis_scale
    if kmethod == "float_fp32":
        bits = np.array(derived["M_bits"], np.uint32)
        return bits if per_channel else bits.reshape(())
    m = derived["m"]
    s = derived["shift"] if "shift" in derived else derived["s"]
    if per_channel:
        return (np.array(m * (n if len(m) == 1 else 1), np.int32), np.array(s * (n if len(s) == 1 else 1), np.int32))
    return m[0], s[0]


def _kernel_applies_conv(p):
    return (_kernel_method(p.get("method")) is not None and p["x_type"] in ("int8", "uint8")
            and p["w_type"] in ("int8", "uint8") and p["y_type"] in ("int8", "uint8", "int32"))


def kernel_conv(params, derived, inputs):
    """Run the C kernel's convolution (im2col + GEMM, refquant.kernel.conv) on one qlinear_conv test:
    {'acc': values, 'Y': values}; parameters from ``derived``, as kernel_matmul."""
    import numpy as np
    from ..kernel import conv
    p = params
    x = to_numpy(inputs["x"]).astype(np.dtype(p["x_type"]))
    w = to_numpy(inputs["w"]).astype(np.dtype(p["w_type"]))
    zw = np.array(p["zw"], np.int32) if isinstance(p["zw"], list) else p["zw"]
    bias = to_numpy(inputs["bias"]).astype(np.int32) if "bias" in inputs else None
    geo = {k: p[k] for k in ("strides", "pads", "dilations", "group")}
    acc = conv.conv_integer(x, w, p["zx"], zw, bias, policy=p["policy"], **geo)
    out = {"acc": acc.reshape(-1).tolist()}
    kmethod = _kernel_method(p["method"])
    if kmethod == "int32":
        out["Y"] = out["acc"]
        return out
    kp = _kernel_params(kmethod, derived, w.shape[0], isinstance(p.get("sw"), list))
    y = conv.qlinear_conv(x, w, p["zx"], zw, kmethod, kp, p["zy"], p.get("qmin"), p.get("qmax"),
                          np.dtype(p["y_type"]), bias, policy=p["policy"], **geo)
    out["Y"] = y.reshape(-1).tolist()
    return out


def _diff(name, expected, got, limit=3):
    bad = [i for i, (e, g) in enumerate(zip(expected, got)) if e != g]
    if len(expected) != len(got):
        return f"{name}: {len(got)} elements, expected {len(expected)}"
    if not bad:
        return None
    shown = ", ".join(f"[{i}] expected {expected[i]} got {got[i]}" for i in bad[:limit])
    return f"{name}: {len(bad)} of {len(expected)} elements differ: {shown}"


# Exceptions a schema-valid manifest with malformed params or inputs can raise in the oracle
# (a wrong type or length where the schema does not look): the input's fault, exit 2.
_MALFORMED = (KeyError, TypeError, ValueError, IndexError, AttributeError, ArithmeticError, RecursionError)


def _count_arg(value, name):
    """A count option: None, or an int >= 0 (InvalidValueError otherwise)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise InvalidValueError(f"{name} = {value!r}; expected a non-negative integer")
    return value


def verify_set(gset, use_kernel=True, progress=None, max_mismatches=None):
    """Recompute every test of a loaded set; a list of mismatch dicts (empty = all match).

    max_mismatches: stop after this many (None or 0: all).  A set lying at the shipped location
    (is_shipped_root) that is not byte for byte the shipped set is one mismatch (checker
    'shipped')."""
    _count_arg(max_mismatches, "max_mismatches")
    mismatches = []
    total = sum(1 for _ in gset.tests())
    bar = _Progress(f"verify {gset.suite}", total, progress)
    kernel_ok = False
    if use_kernel:
        try:
            from .. import kernel
            kernel_ok = kernel.available()
        except ImportError:
            kernel_ok = False
    stats = {"tests": 0, "kernel_checked": 0}
    sha = getattr(gset, "manifest_sha256", None)
    if sha is not None and is_shipped_root(gset.path.parent):
        diff = shipped_difference(gset)
        if diff:
            mismatches.append({"set": gset.suite, "tcId": 0, "name": "manifest.json", "checker": "shipped",
                               "flags": [], "detail": diff})
    for g, t in gset.tests():
        bar.step()
        stats["tests"] += 1

        def miss(what, checker="oracle"):
            mismatches.append({"set": gset.suite, "tcId": t["tcId"], "name": t["name"], "checker": checker,
                               "flags": t["flags"], "detail": what})
        try:
            _verify_test(gset, g, t, kernel_ok, stats, miss)
        except RefquantError:
            raise
        except _MALFORMED as exc:
            raise FormatFileError(f"{gset.path}: test {t['tcId']} ({t['name']}): malformed params or inputs: "
                                  f"{type(exc).__name__}: {exc}") from None
        if max_mismatches and len(mismatches) >= max_mismatches:
            break
    return mismatches, stats


def _verify_test(gset, g, t, kernel_ok, stats, miss):
    if g["op"] in TV_OPS:
        for f in t["files"]:
            for what in _verify_tv(gset, g, t, f):
                miss(what)
        return
    inputs, expected = {}, {}
    for f in t["files"]:
        if f["kind"] != "tensor":
            raise FormatFileError(f"{gset.path}: test {t['tcId']} ({t['name']}): a {g['op']} test lists the "
                                  f"{f['kind']} file {f['path']}; expected tensor files only")
        tensor = gset.read_tensor(f)
        if f["role"] == "input":
            inputs[f["name"]] = tensor
        elif f["role"] in ("expected", "intermediate"):
            expected[f["name"]] = tensor
    _check_params_fit(gset, g["op"], t, inputs, expected)
    try:
        outcome = run_test(g["op"], t["params"], inputs)
    except RefquantError as exc:
        raise FormatFileError(f"{gset.path}: test {t['tcId']} ({t['name']}): bad parameters: {exc}") from None
    if outcome[0] != t["result"]:
        miss(f"result: manifest says {t['result']}, the oracle gives {outcome[0]}"
             + (f" ({outcome[1]})" if outcome[0] != "valid" else ""))
        return
    if outcome[0] == "error" and outcome[1] != t.get("error"):
        miss(f"error: manifest says {t.get('error')}, the oracle raises {outcome[1]}")
    if outcome[0] == "valid":
        _, outputs, derived, _flags = outcome
        if derived is not None and t.get("derived") != derived:
            miss(f"derived parameters differ: manifest {t.get('derived')}, oracle {derived}")
        for name, tensor in expected.items():
            if name not in outputs:
                miss(f"{name}: the oracle has no such output")
                continue
            d = _diff(name, tensor.values, outputs[name].values)
            if d:
                miss(d)
        for name in outputs:
            if name not in expected and not (name == "acc" and t["params"].get("method") == "int32"):
                miss(f"{name}: expected output missing from the manifest")
    if kernel_ok:
        _verify_on_kernel(gset, g, t, inputs, expected, stats, miss)


def _verify_on_kernel(gset, g, t, inputs, expected, stats, miss):
    """The C kernel's result for a matmul or conv test whose method it runs, against the manifest."""
    if g["op"] == "qlinear_matmul" and t["result"] != "unpredictable" and _kernel_applies(t["params"]):
        stats["kernel_checked"] += 1
        try:
            kout = kernel_matmul(t["params"], t.get("derived") or {}, inputs)
            if t["result"] == "error":
                miss("C kernel returned a result where the oracle raises " + str(t.get("error")), "kernel")
            else:
                for name, tensor in expected.items():
                    d = _diff(name, tensor.values, kout[name])
                    if d:
                        miss(d, "kernel")
        except AccumulatorOverflowError:
            if t["result"] != "error":
                miss("C kernel raised AccumulatorOverflowError", "kernel")
        except AssertionError as exc:
            miss(str(exc), "kernel")
        except RefquantError as exc:
            raise FormatFileError(f"{gset.path}: test {t['tcId']} ({t['name']}): the C kernel refuses the "
                                  f"parameters: {exc}") from None
    if g["op"] == "qlinear_conv" and t["result"] == "valid" and _kernel_applies_conv(t["params"]):
        stats["kernel_checked"] += 1
        kout = kernel_conv(t["params"], t.get("derived") or {}, inputs)
        for name, tensor in expected.items():
            d = _diff(name, tensor.values, kout[name])
            if d:
                miss(d, "kernel")


def _check_params_fit(gset, op, t, inputs, expected):
    """The sizes a test's params imply agree with its tensor files, before anything is computed (a
    manifest saying K = 10^9 or pads of 10^9 must not start a computation of that size)."""
    p = t["params"]
    where = f"{gset.path}: test {t['tcId']} ({t['name']})"

    def need(cond, what):
        if not cond:
            raise FormatFileError(f"{where}: {what}")
    if op == "qlinear_matmul":
        dims = [p.get(k) for k in ("M", "K", "N")]
        need(all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in dims),
             f"params M, K, N = {dims}; expected non-negative integers")
        M, K, N = dims
        for name, n in (("A", M * K), ("B", K * N)):
            need(name in inputs and len(inputs[name].values) == n,
                 f"params M, K, N = {dims} need {n} elements in {name}, the file has "
                 f"{len(inputs[name].values) if name in inputs else 'none'}")
    elif op == "qlinear_conv":
        need("x" in inputs and "w" in inputs, "a qlinear_conv test needs input tensors x and w")
        need(len(inputs["x"].shape) == 4 and len(inputs["w"].shape) == 4,
             "a qlinear_conv test is 2-D: x (N, C, H, W) and w (M, C/group, kH, kW), as the C and Verilog "
             f"readers read it; the file has x {tuple(inputs['x'].shape)}, w {tuple(inputs['w'].shape)}")
        try:
            geo = [p[k] for k in ("strides", "pads", "dilations", "group")]
            out = ops.conv_geometry(tuple(inputs["x"].shape), tuple(inputs["w"].shape), *geo)
        except RefquantError as exc:
            raise FormatFileError(f"{where}: bad parameters: {exc}") from None
        n = _count(out)
        if "Y" in expected:
            need(n == len(expected["Y"].values), f"params give an output of shape {list(out)} ({n} elements), "
                                                 f"the file Y has {len(expected['Y'].values)}")
        need(n <= 1 << 24, f"params give an output of shape {list(out)} ({n} elements); expected at most 2^24")


def _verify_tv(gset, g, t, entry):
    rows = gset.read_vectors(entry)
    p = t["params"]
    fmt = p["format"]
    bad = []
    for lineno, words in rows:
        try:
            if g["op"] in BLOCK_OPS:
                want = block_line(g["op"], p, words)
            elif g["op"] == "decode":
                want = tv_decode_line(fmt, int(words[0], 16))
            else:
                want = tv_encode_line(p["input"], fmt, int(words[0], 16), p["rounding"], p["overflow"])
        except RefquantError as exc:
            raise FormatFileError(f"{gset.path / entry['path']}:{lineno}: {exc}") from None
        if want.split() != [w.lower() for w in words]:
            bad.append(f"{entry['path']}:{lineno}: expected '{want}', file has '{' '.join(words)}'")
    return bad


def verify(path=None, use_kernel=True, progress=None, max_mismatches=None):
    """Verify every set under ``path`` (default_root(); a suite name is a set of it): schema,
    sizes, checksums, then every expected value against the oracle (and the C kernel for
    matmul).  Raises FormatFileError for a malformed set; returns {'sets', 'tests',
    'kernel_checked', 'mismatches', 'shipped'}: 'shipped' maps each set to whether it is byte
    for byte the shipped set of its suite (at the shipped location a difference is also a
    mismatch)."""
    _count_arg(max_mismatches, "max_mismatches")
    path = default_root() if path is None else path
    sets = [load_set(p) for p in find_sets(path)]
    for gset in sets:   # every file parses before anything is judged (malformed beats mismatch)
        for _, t in gset.tests():
            for f in t["files"]:
                (gset.read_tensor if f["kind"] == "tensor" else gset.read_vectors)(f)
    report = {"sets": [s.suite for s in sets], "tests": 0, "kernel_checked": 0, "mismatches": [],
              "shipped": {s.suite: shipped_difference(s) is None for s in sets}}
    for gset in sets:
        mism, stats = verify_set(gset, use_kernel, progress, max_mismatches)
        report["mismatches"] += mism
        report["tests"] += stats["tests"]
        report["kernel_checked"] += stats["kernel_checked"]
    return report
