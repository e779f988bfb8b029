"""``refquant decode q4_0 HEX`` and ``refquant encode q4_0 V1,V2,...``: one GGUF block, as stored.

decode: the block's bytes as hex (spaces allowed) -> its scale fields, the integer code of every
element and the dequantized binary32 values (refquant.gguf).  encode: the block's binary32 values,
comma-separated (each must be a binary32 value; 0.1 is not; put "--" before a list that starts
with "-") -> the bytes ggml's reference quantizer writes, then the same description.

``refquant explain CASE.json`` of a block dot product (``explain_block``): a case whose op is
``gguf_vec_dot`` (two rows of blocks as hex) or ``matmul_nbits`` (A, B as hex, scales, ...) prints
the blocks, the scales (hex and value), the integer sums and every float step as the named
accumulation or variant rounds it (docs/llm-formats.md §4).
"""

import json
from pathlib import Path

from .. import formats, gguf, matmulnbits
from ..errors import FormatFileError, InvalidValueError

BLOCK_TYPES = tuple(gguf.BLOCKS)


def read_hex(text):
    """Bytes from hex text: '0x' prefixes, spaces, ':' and '-' separators are ignored."""
    body = "".join(text.replace("0x", "").replace(":", " ").replace("-", " ").split())
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise InvalidValueError(f"cannot read {text[:40]!r} as hex bytes; expected pairs of hex digits "
                                f"such as '00 3c 88 88'") from None


def _field(name, v):
    if isinstance(v, list) or name == "group":
        return v
    if name == "e":          # MXFP4's E8M0 byte: the element scale is 2^(e - 128) (kvalues are E2M1 doubled)
        return f"0x{v:02x} (2^{v - 128})"
    fmt = "fp32" if name == "d32" else "fp16"
    return f"0x{v:0{8 if fmt == 'fp32' else 4}x} ({formats.to_decimal(formats.decode(fmt, v).value)})" \
        if formats.decode(fmt, v).is_finite else f"0x{v:x} ({formats.decode(fmt, v)})"


def describe_block(kind, data):
    """{format, bytes, fields, codes, values} of one block (values: decimal binary32, where ggml dequantizes)."""
    codes, fields = gguf.codes(kind, data)
    info = {"format": kind, "bytes": data.hex(" "), "elements": len(codes),
            "fields": {k: _field(k, v) for k, v in fields.items() if v is not None}, "codes": codes}
    if kind != "q8_1":
        vals = [formats.decode("fp32", b) for b in gguf.dequantize_block(kind, data)]
        info["values"] = [formats.to_decimal(v.value) if v.is_finite else str(v) for v in vals]
    return info


def _print(info, as_json):
    if as_json:
        print(json.dumps(info, indent=2))
        return
    for k, v in info.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        elif isinstance(v, list):
            v = " ".join(str(x) for x in v)
        print(f"{k:>10}: {v}")


def cmd_decode_block(args):
    _print(describe_block(args.format, read_hex(args.bits)), args.json)
    return 0


def cmd_encode_block(args):
    values = [formats.real(t) for t in args.value.replace(";", ",").split(",") if t.strip()]
    data = gguf.quantize_block(args.format, values)
    _print({"input": f"{len(values)} values", **describe_block(args.format, data)}, args.json)
    return 0


BLOCK_DOT_OPS = ("gguf_vec_dot", "matmul_nbits")


def block_case(path):
    """The case of a block dot product (a JSON file whose op is gguf_vec_dot or matmul_nbits), or None."""
    if not path or not str(path).endswith(".json"):
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("op") in BLOCK_DOT_OPS else None


def _need(case, key):
    if key not in case:
        raise FormatFileError(f"{case['op']} case: missing {key!r}")
    return case[key]


def _trace_of(case, index, method):
    """(header, bits, trace) of the case's output ``index`` (gguf_vec_dot: the one output)."""
    if case["op"] == "gguf_vec_dot":
        acc = method or case.get("accumulation", "ggml_generic")
        trace = []
        bits = gguf.vec_dot(_need(case, "x_format"), read_hex(_need(case, "x")), _need(case, "y_format"),
                            read_hex(_need(case, "y")), acc, trace)
        return f"ggml_vec_dot_{case['x_format']}_{case['y_format']} ({acc})", bits, trace
    m, n = index if index else (0, 0)
    zp = case.get("zero_points")
    variant = method or case.get("variant", "ort_mlas_avx512")
    bits, trace = matmulnbits.explain(
        _need(case, "A"), read_hex(_need(case, "B")), _need(case, "scales"), None if zp is None else read_hex(zp),
        _need(case, "K"), _need(case, "N"), _need(case, "bits"), _need(case, "block_size"), m, n,
        case.get("accuracy_level", 0), case.get("bias"), case.get("dtype", "fp32"), variant)
    return f"MatMulNBits Y[{m}][{n}] ({variant}, accuracy_level {case.get('accuracy_level', 0)})", bits, trace


def explain_block(case, index=None, method=None, as_json=False):
    """Print the explain trace of a block dot product case (see the module docstring)."""
    from ..trace import render
    if index is not None and len(index) != 2:
        raise InvalidValueError(f"--index {list(index)}: a {case['op']} output is (row, column)")
    head, bits, trace = _trace_of(case, index, method)
    if as_json:
        print(json.dumps({"op": case["op"], "explain": head, "bits": f"0x{bits:x}",
                          "steps": [{"step": s.name, "formula": s.formula, "value": str(s.value)} for s in trace]},
                         indent=2))
    else:
        print(f"explain: {head}: bits 0x{bits:x}")
        print(render(trace))
    return 0
