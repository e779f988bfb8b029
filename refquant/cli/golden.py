"""The command line of golden sets: ``refquant golden {generate, verify, export, list}``."""

import json
import os
import sys
import time

from ..errors import InvalidValueError, RefquantError, UnknownNameError
from ..golden import (EXPORT_FORMATS, MAX_JSON_BYTES, SUITE_NAMES, SUITES, out_path, output_root, decode_text,
                      default_root, export, load_set, parse_json, read_file, shipped_difference, verify,
                      write_schema, write_set)
from . import EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK, count


def _seed(text):
    try:
        v = int(text, 0)
    except ValueError:
        raise InvalidValueError(f"--seed {text!r} is not a non-negative integer") from None
    if v < 0:
        raise InvalidValueError(f"--seed {v} is negative; expected a non-negative integer")
    return v


def cmd_generate(args):
    suites = SUITE_NAMES if args.suite in (None, "all") else [args.suite]
    for s in suites:
        if s not in SUITES:
            raise UnknownNameError("golden suite", s, list(SUITES) + ["all"])
    seed = _seed(args.seed)
    if args.in_place:
        out = default_root()
    elif args.out is None:
        raise InvalidValueError(f"golden generate needs --out DIR (a directory for the new sets); to overwrite the "
                                f"shipped vectors in {default_root()}, pass --in-place")
    else:
        out = out_path(args.out, "--out")
    with output_root(out, "--in-place root" if args.in_place else "--out"):
        write_schema(out)
        for s in suites:
            t0 = time.perf_counter()
            manifest, size = write_set(s, out, seed)
            print(f"{s}: {manifest['numberOfTests']} tests, {size / 1e6:.2f} MB, {time.perf_counter() - t0:.1f} s "
                  f"-> {out / s}")
    if args.in_place:
        changed = {}
        for s in suites:
            gset = load_set(out / s, check_files=False)
            if shipped_difference(gset):
                changed[s] = gset.manifest_sha256
        if changed:
            print(f"note: {', '.join(changed)} now differ(s) from the shipped vectors, so `refquant golden verify` "
                  "fails until they are restored (--in-place --seed 1 with the released generator) or, for an "
                  "intended generator change, the new checksums are recorded in refquant/golden/load.py "
                  "SHIPPED_MANIFEST_SHA256: " + json.dumps(changed))
    return EXIT_OK


def cmd_verify(args):
    report = verify(args.dir, use_kernel=not args.no_kernel, max_mismatches=args.max_errors or None)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for m in report["mismatches"]:
            where = "" if m["checker"] == "shipped" else f" tc{m['tcId']:04d} {m['name']}"
            print(f"MISMATCH {m['set']}{where} [{m['checker']}]: {m['detail']}")
        others = [s for s, same in report["shipped"].items() if not same]
        if others and not any(m["checker"] == "shipped" for m in report["mismatches"]):
            print(f"note: {', '.join(others)}: not the shipped vectors (another seed, generator or edit); "
                  "checked for consistency with the oracle only")
        print(f"{len(report['sets'])} sets ({', '.join(report['sets'])}), {report['tests']} tests, "
              f"{report['kernel_checked']} also run on the C kernel: "
              f"{'all match' if not report['mismatches'] else str(len(report['mismatches'])) + ' mismatches'}")
    return EXIT_MISMATCH if report["mismatches"] else EXIT_OK


def cmd_export(args):
    for p in export(args.dir, args.format, args.out):
        print(p)
    return EXIT_OK


def cmd_list(args):
    root = default_root()
    for name, (_, text) in SUITES.items():
        line = f"{name:<9} {text}"
        mpath = root / name / "manifest.json"
        if os.path.lexists(mpath):
            try:
                n = parse_json(decode_text(read_file(mpath, "a manifest", MAX_JSON_BYTES), mpath, "utf-8"),
                               mpath)["numberOfTests"]
                line += f"  [{n} tests in {root / name}]"
            except (RefquantError, KeyError, TypeError):
                line += "  [manifest unreadable]"
        print(line)
    return EXIT_OK


def register(sub):
    """Add ``refquant golden ...`` to the CLI's sub-parsers."""
    g = sub.add_parser("golden", help="golden vector sets: generate, verify, export, list")
    gs = g.add_subparsers(dest="golden_command", metavar="ACTION", parser_class=type(g))
    p = gs.add_parser("generate", help="regenerate vector sets from the oracle (deterministic, atomic)")
    p.add_argument("--suite", default="all", help=f"one of {', '.join(SUITE_NAMES)} or all (default)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="DIR", help="root directory to write the sets into (required, unless --in-place)")
    where.add_argument("--in-place", action="store_true",
                       help="overwrite the shipped vectors (the checkout's golden/ or the installed copy)")
    p.add_argument("--seed", default="1", help="generation seed (default 1, the seed of the shipped vectors)")
    p.set_defaults(func=cmd_generate)
    v = gs.add_parser("verify", help="check schema, sizes and checksums, then recompute every expected value")
    v.add_argument("dir", nargs="?", help="a set directory or a root of sets (default: golden/)")
    v.add_argument("--no-kernel", action="store_true", help="skip the C-kernel cross-check")
    v.add_argument("--max-errors", type=count, default=0, metavar="N", help="stop a set after N mismatches (0: all)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=cmd_verify)
    e = gs.add_parser("export", help="write .npy, a C header or raw little-endian .bin files")
    e.add_argument("--format", required=True, help=" | ".join(EXPORT_FORMATS))
    e.add_argument("dir", help="a set directory or a root of sets")
    e.add_argument("out", help="output directory")
    e.set_defaults(func=cmd_export)
    lst = gs.add_parser("list", help="what each suite covers")
    lst.set_defaults(func=cmd_list)

    def no_action(args):
        g.print_help()
        print("refquant: error: golden needs an action: generate, verify, export or list", file=sys.stderr)
        return EXIT_BAD_INPUT
    g.set_defaults(func=no_action)
