"""``refquant decode q4_0 HEX`` and ``refquant encode q4_0 V1,V2,...``: one GGUF block, as stored.

decode: the block's bytes as hex (spaces allowed) -> its scale fields, the integer code of every
element and the dequantized binary32 values (refquant.gguf).  encode: the block's binary32 values,
comma-separated (each must be a binary32 value; 0.1 is not; put "--" before a list that starts
with "-") -> the bytes ggml's reference quantizer writes, then the same description.
"""

import json

from .. import formats, gguf
from ..errors import InvalidValueError

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
