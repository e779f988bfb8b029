"""The ``refquant`` command line (also ``python -m refquant``).

Exit codes (documented in README):  0 ok / all match,  1 mismatches or deviations found,
2 bad input (the message names the value and what was expected),  3 internal error,
130 interrupted (Ctrl-C; one line, no traceback, no half-written output).

This package is the whole command line: ``decode``, ``encode`` and ``formats`` here; ``golden.py``
the golden-set commands; ``audit.py`` audit and explain; ``verify.py`` verify and check (their
commands run in refquant/peers/cli.py).  Each exposes ``register(subparsers)`` and sets ``func``
on its parsers.
"""

import argparse
import json
import sys
import traceback
from fractions import Fraction

from .. import __version__, formats
from . import blocks
from ..errors import RefquantError

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130     # Ctrl-C, as shells report SIGINT


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 on usage errors already; keep one line
        self.print_usage(sys.stderr)
        print(f"refquant: error: {_one_line(message)}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def count(text):
    """argparse type of every count option (--max-errors, --first, ...): an integer >= 0."""
    try:
        v = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; expected a count >= 0") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} is negative; expected a count >= 0")
    return v


def _int_bits(text):
    try:
        return int(text, 0)
    except ValueError:
        raise RefquantError(f"cannot read bits {text!r}; expected an integer such as 0x7e, 126 or 0b1111110") from None


def _describe(fmt, bits):
    f = formats.get_format(fmt)
    v = formats.decode(f, bits)
    info = {"format": f.name, "bits": f"0x{bits:0{(f.width + 3) // 4}x}",
            "binary": format(bits, f"0{f.width}b"), "class": formats.classify(f, bits),
            "sign": v.sign}
    if v.is_finite:
        info["value"] = str(v.value) if v.value or not v.sign else "-0"
        info["decimal"] = ("-" if v.sign and v.value == 0 else "") + formats.to_decimal(v.value)
    else:
        info["value"] = str(v)
        if v.is_nan and f.specials == "ieee":
            info["quiet"], info["payload"] = v.quiet, hex(v.payload)
    for name, nb in (("next_down", formats.next_down(f, bits)), ("next_up", formats.next_up(f, bits))):
        if nb is not None:
            nv = formats.decode(f, nb)
            info[name] = f"0x{nb:0{(f.width + 3) // 4}x} ({formats.to_decimal(nv.value) if nv.is_finite else nv})"
    return info


def _print(info, as_json):
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:>10}: {v}")


def cmd_decode(args):
    if args.format in blocks.BLOCK_TYPES:   # a GGUF block as hex (refquant/cli/blocks.py)
        return blocks.cmd_decode_block(args)
    _print(_describe(args.format, _int_bits(args.bits)), args.json)
    return EXIT_OK


def cmd_encode(args):
    if args.format in blocks.BLOCK_TYPES:   # comma-separated values -> one GGUF block
        return blocks.cmd_encode_block(args)
    f = formats.get_format(args.format)
    x = formats.real(args.value)
    bits = formats.encode(f, x, args.rounding, args.overflow)
    info = _describe(f, bits)
    info = {"input": args.value, "rounding": args.rounding, "overflow": args.overflow, **info}
    got = formats.decode(f, bits)
    beyond = x.is_finite and x.mag != 0 and not formats.READ_TINY < x.mag < formats.READ_HUGE
    if x.is_finite and got.is_finite:
        if beyond:     # read as 10^+-READ_EXP_LIMIT (formats.real): the code is right, the exact error unknown
            info["error"] = f"not computed (|input| is beyond 1e{'+' if x.mag > 1 else '-'}{formats.READ_EXP_LIMIT})"
        else:
            err = got.value - x.value
            try:
                info["error"] = "exact" if err == 0 else formats.to_decimal(err)
            except ValueError:   # an exact error of more digits than Python prints
                info["error"] = "not shown (its exact value has thousands of digits)"
    if got.is_nan and not x.is_nan:   # e8m0 has no zero; fn/fnuz formats have no infinity
        missing = "zero" if x.is_finite and x.mag == 0 else "infinity"
        info["note"] = (f"{f.name} has no {missing}: {args.value} is not representable and encodes as the NaN code "
                        f"under --rounding {args.rounding} --overflow {args.overflow}")
    _print(info, args.json)
    return EXIT_OK


def cmd_formats(args):
    rows = formats.format_table()
    if args.json:
        print(json.dumps([{k: (str(v) if isinstance(v, Fraction) else v) for k, v in r.items()} for r in rows], indent=2))
        return EXIT_OK
    head = f"{'format':<14}{'bits':>5}  {'S/E/M':<7}{'bias':>5}  {'max':<24}{'min normal':<24}{'min subnormal':<24}specials"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['name']:<14}{r['bits']:>5}  {r['layout']:<7}{r['bias']:>5}  {formats.to_decimal(r['max'], 8):<24}"
              f"{formats.to_decimal(r['min_normal'], 8):<24}{formats.to_decimal(r['min_subnormal'], 8):<24}{r['specials']}")
    return EXIT_OK


def build_parser():
    p = _Parser(prog="refquant", description="refquant: the bit-exact reference for integer and low-precision quantization")
    p.add_argument("--version", action="version", version=f"refquant {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("decode", help="exact value, class and neighbours of a bit pattern")
    d.add_argument("format", help="e.g. fp32, fp16, bf16, fp8_e4m3fn, fp4_e2m1, e8m0 (see 'refquant formats')")
    d.add_argument("bits", help="the bit pattern: 0x7e, 126, 0b1111110")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_decode)

    e = sub.add_parser("encode", help="bits of a value, rounded once, correctly")
    e.add_argument("format")
    e.add_argument("value", help="exact decimal, fraction or hex float: 0.1, -3/8, 0x1.8p-3, inf, nan")
    e.add_argument("--rounding", default="rne", choices=sorted(formats.ROUNDINGS))
    e.add_argument("--overflow", default="ieee", choices=sorted(formats.OVERFLOWS))
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_encode)

    f = sub.add_parser("formats", help="table of every float format")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_formats)

    from . import audit, campaign, golden, verify   # here: they import EXIT_* and count from this module
    golden.register(sub)
    audit.register(sub)
    verify.register(sub)
    from . import model   # refquant model run|compare|explain
    model.register(sub)
    campaign.register(sub)
    __import__("refquant.cli.dpi", fromlist=["register"]).register(sub)   # refquant dpi build
    return p


def _one_line(text, limit=1000):
    """A message as one line of at most ``limit`` characters (a user's value may be huge)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    bad = next((a for a in argv if isinstance(a, str) and "\x00" in a), None)
    if bad is not None:      # only possible in process: a shell cannot pass a NUL byte
        print(f"refquant: error: argument {_one_line(repr(bad), 200)} holds a NUL byte; expected text without NUL",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print("refquant: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not getattr(args, "func", None):
        parser.print_help()
        print("refquant: error: no command given; expected one of the commands above", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except RefquantError as exc:
        print(f"refquant: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:   # Ctrl-C: writers clean up their temporary files on the way out
        print("refquant: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if isinstance(exc, OSError) and exc.filename is not None:
            # the file system refused a path the user gave (full disk, permissions, ...)
            print(f"refquant: error: {_one_line(exc.filename)}: {exc.strerror or exc}; expected a path refquant "
                  "can read or write", file=sys.stderr)
            return EXIT_BAD_INPUT
        # a bug in refquant, not the user's input: say so, keep the traceback
        traceback.print_exc()
        print(f"refquant: internal error (exit {EXIT_INTERNAL}); please report it with the command line above",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
