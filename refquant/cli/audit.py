"""``refquant audit`` and ``refquant explain``: their arguments and commands (the library they drive
is refquant/audit; see docs/audit.md)."""

import json
import os
import sys

from ..audit import OPS, Progress, audit, explain_element, load_case, make_case, report, tensors
from ..audit.variants import VARIANT_OPS, VariantCase, case_from_args, explain_variant, run_cli_audit
from ..errors import InvalidValueError
from . import EXIT_MISMATCH, EXIT_OK, count


def _value(text, key="--set"):
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidValueError(f"--set {key}: the JSON value is nested too deeply; expected a number, a string "
                                "or a flat list") from None
    except ValueError:      # not JSON (a bare word is taken as a string), or a number of > 4300 digits
        return text


def _overrides(args):
    o = {}
    for item in args.set or []:
        if "=" not in item:
            raise InvalidValueError(f"--set {item!r}: expected KEY=VALUE (VALUE in JSON, e.g. a_scale=0.02 or b_scale=[0.1,0.2])")
        k, v = item.split("=", 1)
        o[k.strip()] = _value(v, k.strip())
    for k in ("op", "method", "profile"):      # given, even as '', means given: checked like any value
        if getattr(args, k, None) is not None:
            o[k] = getattr(args, k)
    for k in ("a", "b", "bias", "x", "w"):
        if getattr(args, k, None) is not None:
            if not getattr(args, k).strip():
                raise InvalidValueError(f"--{k} '': expected a tensor file name")
            o[k] = os.path.abspath(getattr(args, k))
    acc = getattr(args, "acc", None)
    if acc is not None:
        try:
            o["acc"] = [int(acc, 0)]
        except ValueError:
            o["acc"] = os.path.abspath(acc)
    return o


def _case(args):
    o = _overrides(args)
    vc = case_from_args(args.case, o, getattr(args, "golden", None))
    if vc is not None:
        return vc
    if getattr(args, "golden", None):
        from ..audit.core import golden_case
        return golden_case(args.golden, o)
    if args.case:
        return load_case(args.case, o)
    if "op" not in o:
        raise InvalidValueError("give a case file (JSON) or --op with the input tensors and --set parameters")
    return make_case(o, os.getcwd(), o.get("name"), "flags")


def _add_case_args(p):
    p.add_argument("case", nargs="?", help="case JSON: op, input tensors (files relative to it), scales, zero points, "
                                           "types, method or profile or explicit params")
    p.add_argument("--golden", metavar="SET:TC", help="take the case from a shipped golden vector, e.g. matmul:7, "
                                                       "conv:2, quantize:5")
    p.add_argument("--op", choices=OPS + VARIANT_OPS, help="the op, when no case file is given (or to override it)")
    p.add_argument("--a", help="A matrix file (.npy, .hex, raw)")
    p.add_argument("--b", help="B matrix file")
    p.add_argument("--bias", help="int32 bias file (one per column)")
    p.add_argument("--acc", help="int32 accumulators file (op requantize), or one integer")
    p.add_argument("--x", help="float input file (op quantize), or the NCHW input of op qlinear_conv")
    p.add_argument("--w", help="weights file (op qlinear_conv, (M, C/group, kH, kW))")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="set a case attribute, VALUE in JSON: a_scale=0.02, b_zero_point=[1,2], y_type=\"uint8\"")
    p.add_argument("--method", help="requantization method (refquant.requant.METHODS)")
    p.add_argument("--profile", help="backend profile (onnxruntime, tflite, torch, tosa, exact, ...)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_audit(args):
    if args.report is not None:
        from ..golden import out_path
        out_path(args.report, "--report")     # refused before the (possibly long) audit runs
    case = _case(args)
    if args.suggest_vectors is not None:
        _check_suggest_path(args.suggest_vectors)
    if isinstance(case, VariantCase):
        return EXIT_MISMATCH if run_cli_audit(args, case) else EXIT_OK
    if args.actual_dtype is not None:
        tensors.check_dtype(args.actual_dtype, "--actual-dtype")
        if args.actual_dtype.startswith("float"):
            raise InvalidValueError(f"--actual-dtype {args.actual_dtype}: the case's output is {case.y_type} "
                                    f"(integers); expected an integer dtype such as {case.y_type}")
    actual = tensors.load(args.actual, args.actual_dtype or case.y_type,
                          args.actual_shape if args.actual_shape is not None else list(case.out_shape),
                          args.actual_format, name="actual")
    prog = Progress(False if args.json or args.no_progress else None)
    res = audit(case, actual, first=args.first, diagnose_=not args.no_diagnose, progress=prog)
    if args.report:
        md, png = report.markdown(res, args.report)
        res["report"] = {"markdown": md, "png": png}
    if args.suggest_vectors:
        _suggest(args.suggest_vectors, case, res)
    if args.json:
        print(report.to_json(res))
    else:
        print(report.text(res, explain_steps=not args.brief))
        if args.report:
            print(f"report: {res['report']['markdown']}, map: {res['report']['png']}")
    return EXIT_MISMATCH if res["mismatches"] else EXIT_OK


def _check_suggest_path(path):
    """Refuse, before the audit runs, a --suggest-vectors path that cannot be a new or regular file."""
    if not path.strip():
        raise InvalidValueError("--suggest-vectors '' is empty; expected a file path")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise InvalidValueError(f"--suggest-vectors {path}: exists and is not a regular file; expected a file path")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise InvalidValueError(f"--suggest-vectors {path}: its directory does not exist; "
                                "expected a file path in an existing directory")


def _suggest(path, case, res):
    from ..audit.ties import write_readmemh
    d = res.get("diagnosis") or {}
    best = d["ranking"][0]["name"] if d.get("ranking") else "?"
    try:
        n = write_readmemh(path, case, d.get("ties", []), best)
    except OSError as exc:
        raise InvalidValueError(f"--suggest-vectors {path}: cannot write it ({exc.strerror}); expected a "
                                "writable file path") from None
    res["suggested_vectors"] = {"file": path, "vectors": n}
    print(f"suggest-vectors: {n} distinguishing accumulator{'s' * (n != 1)} written to {path}", file=sys.stderr)


def _index(text, case):
    try:
        idx = tuple(int(v) for v in str(text).replace("(", "").replace(")", "").replace(" ", "").split(",") if v != "")
    except ValueError:
        raise InvalidValueError(f"--index {text!r}: expected comma-separated integers such as 3,5") from None
    shape = tuple(case.out_shape)
    if len(idx) != len(shape) or any(not 0 <= i < d for i, d in zip(idx, shape)):
        raise InvalidValueError(f"--index {idx} is not an element of the output shape {shape}")
    return idx


def cmd_explain(args):
    from .blocks import block_case, explain_block     # gguf_vec_dot / matmul_nbits case files
    block = block_case(args.case)
    if block is not None:
        idx = None if args.index is None else tuple(int(v) for v in str(args.index).split(",") if v.strip())
        return explain_block(block, idx, args.method, args.json)
    case = _case(args)
    idx = _index(args.index if args.index is not None else ",".join("0" * len(case.out_shape)), case)
    steps = (explain_variant(case, idx, args.method) if isinstance(case, VariantCase)
             else explain_element(case, idx, args.method))
    if args.json:
        print(json.dumps({"case": case.describe(), "index": list(idx),
                          "steps": [{"step": s.name, "formula": s.formula, "value": report.public(str(s.value))}
                                    for s in steps]}, indent=2, default=str))
        return EXIT_OK
    from ..trace import render
    print(f"explain: {case.name}: {case.op} element {list(idx)}")
    print(render(steps))
    return EXIT_OK


def register(sub):
    a = sub.add_parser("audit", help="compare a device's outputs with the oracle; diagnose the semantics it implements")
    _add_case_args(a)
    a.add_argument("--actual", required=True, help="the device's outputs (.npy, $readmemh .hex, or raw binary)")
    a.add_argument("--actual-format", choices=("auto", "npy", "hex", "raw"), default="auto")
    a.add_argument("--actual-dtype", help="dtype of a hex/raw dump (default: the case's output type)")
    a.add_argument("--actual-shape", help="shape of a hex/raw dump, e.g. 64x64 (default: the case's output shape)")
    a.add_argument("--first", type=count, default=5, metavar="N", help="explain the first N mismatches (default 5)")
    a.add_argument("--brief", action="store_true", help="no explain traces in the text output")
    a.add_argument("--no-diagnose", action="store_true", help="skip the diagnosis")
    a.add_argument("--report", metavar="DIR", help="write DIR/report.md and DIR/mismatch_map.png")
    a.add_argument("--suggest-vectors", metavar="FILE", help="write the int32 accumulators that tell the best "
                   "candidate from those tied with it as a $readmemh file (docs/hardware.md); for add/sub/mul and the "
                   "element-wise activations the input elements that tell the candidate semantics apart (docs/audit.md §7)")
    a.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    a.set_defaults(func=cmd_audit)

    e = sub.add_parser("explain", help="the full exact derivation of one output element")
    _add_case_args(e)
    e.add_argument("--index", help="the element, e.g. 3,5 (default: the first)")
    e.set_defaults(func=cmd_explain)
