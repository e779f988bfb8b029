"""The formats suite: decode / encode .tv vectors of every float format."""

from ... import formats
from ..compute import DECODE_CLASS, TV_FLAGS, _codes_selection, _encode_inputs, tv_decode_line, tv_encode_line
from ..tensors import short_dtype


FORMAT_NAMES = [f for f in formats.FORMATS if f != "fp64"]


def build_formats(rng):
    """Groups whose tests are .tv files (built lazily: 'lines' is a callable)."""
    groups = []
    for fmt in FORMAT_NAMES:
        f = formats.get_format(fmt)
        codes = _codes_selection(f)
        class_bits = {str(k): v for k, v in DECODE_CLASS.items()}
        groups.append({"op": "decode", "profile": "exact",
                       "params": {"format": fmt, "output": "fp64", "class_bits": class_bits},
                       "comment": f"decode every code of {fmt} ({f.source}) to its exact binary64 value",
                       "cases": [{"name": f"{fmt}/decode", "comment": f"{len(codes)} codes",
                                  "flags": ["every_code"], "params": {"format": fmt},
                                  "tv": (f"{fmt}_decode.tv", ["in:" + short_dtype(fmt), "out:f64", "class"],
                                         lambda fmt=fmt, codes=codes: [tv_decode_line(fmt, c) for c in codes])}]})
        src = "fp64" if fmt == "fp32" else "fp32"
        inputs = _encode_inputs(f, src)
        for rounding in formats.ROUNDINGS:
            cases = []
            for overflow in formats.OVERFLOWS:
                cases.append({"name": f"{fmt}/encode/{rounding}/{overflow}",
                              "comment": f"{len(inputs)} {src} inputs rounded once into {fmt}",
                              "flags": ["midpoint", "overflow_boundary", "underflow_boundary"],
                              "params": {"format": fmt, "input": src, "rounding": rounding, "overflow": overflow},
                              "tv": (f"{fmt}_encode_{rounding}_{overflow}.tv",
                                     [f"in:{short_dtype(src)}", "out:" + short_dtype(fmt), "flags"],
                                     lambda fmt=fmt, src=src, r=rounding, o=overflow, xs=inputs:
                                     [tv_encode_line(src, fmt, b, r, o) for b in xs])})
            flag_bits = {str(k): v for k, v in TV_FLAGS.items()}
            groups.append({"op": "encode", "profile": rounding,
                           "params": {"format": fmt, "input": src, "flag_bits": flag_bits},
                           "comment": f"round {src} into {fmt} with {rounding}", "cases": cases})
    return groups
