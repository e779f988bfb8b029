"""``refquant campaign run | status | report | replay`` (the library is refquant/campaign/;
the guide docs/campaigns.md)."""

import json
import os
import sys

from ..errors import InvalidValueError
from . import EXIT_MISMATCH, EXIT_OK, count


def register(sub):
    c = sub.add_parser("campaign", help="verification campaigns: seeded cases on a device under test, on Dask")
    cs = c.add_subparsers(dest="campaign_command", metavar="SUBCOMMAND", parser_class=type(c))
    r = cs.add_parser("run", help="run (or --resume) a campaign from a TOML spec")
    r.add_argument("spec", help="the campaign spec (TOML; docs/campaigns.md)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786")
    g.add_argument("--workers", type=count, default=0, metavar="N",
                   help="N local Dask worker processes (default 0: serial, no Dask)")
    r.add_argument("--store", metavar="DIR", help="where records go (default: ./NAME-SEED.campaign)")
    r.add_argument("--resume", action="store_true", help="continue the campaign in --store")
    r.add_argument("--threads", type=count, default=None, metavar="N",
                   help="threads each task's device and C kernel may use (default: CPUs / workers)")
    r.add_argument("--no-shrink", action="store_true", help="do not shrink the failures at the end")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    r.set_defaults(func=cmd_run)

    s = cs.add_parser("status", help="progress of a campaign store")
    s.add_argument("store", metavar="DIR")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    p = cs.add_parser("report", help="summary and every distinct failure with its minimal reproducer")
    p.add_argument("store", metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.add_argument("--report", metavar="OUT", help="write OUT/report.md, OUT/report.json, OUT/by_regime.png")
    p.add_argument("--shrink", action="store_true", help="shrink failures not shrunk yet (runs the device)")
    p.set_defaults(func=cmd_report)

    y = cs.add_parser("replay", help="rerun one task from (seed, task index)")
    y.add_argument("spec")
    y.add_argument("--seed", type=count, default=None, help="the campaign seed (default: the spec's)")
    y.add_argument("--task", type=count, required=True, metavar="I")
    y.add_argument("--shrink", action="store_true", help="shrink it when it fails")
    y.add_argument("--out", metavar="DIR", help="write the (shrunk) case as an audit case into DIR")
    y.add_argument("--json", action="store_true")
    y.set_defaults(func=cmd_replay)
    c.set_defaults(func=lambda args: _no_subcommand(c))


def _no_subcommand(parser):
    parser.print_help(sys.stderr)
    print("refquant: error: no campaign subcommand given; expected run, status, report or replay", file=sys.stderr)
    return 2


def _default_store(spec):
    return f"{spec['name']}-{spec['seed']}.campaign"     # in the current directory


def cmd_run(args):
    from .. import campaign
    from ..campaign.engine import run
    spec = campaign.load(args.spec)
    store = args.store or _default_store(spec)
    if args.threads == 0:
        raise InvalidValueError("--threads 0; expected a thread count >= 1")
    try:
        run(spec, store, workers=args.workers, scheduler=args.scheduler, resume=args.resume, threads=args.threads,
            quiet=args.quiet, spec_path=args.spec)
    except ImportError as exc:
        raise InvalidValueError(f"Dask is not installed ({exc}); expected pip install 'refquant[campaign]', or "
                                "--workers 0 (serial)") from None
    from ..campaign.store import Store
    st = Store(store)
    if not args.no_shrink:
        campaign.shrink_failures(st, spec, args.spec, progress=None if args.quiet else
                                 (lambda m: print(f"campaign: {m}", file=sys.stderr)))
    rep = campaign.report(store, args.spec)
    from ..campaign.report import status_text
    print(status_text(rep["totals"]))
    print(f"store: {store}   (refquant campaign report {store})")
    return EXIT_MISMATCH if rep["failures"] else EXIT_OK


def cmd_status(args):
    from ..campaign.report import status_text, totals
    from ..campaign.store import Store
    t, _recs, _spec = totals(Store(args.store))
    print(json.dumps(t, indent=1) if args.json else status_text(t))
    return EXIT_OK


def cmd_report(args):
    from ..campaign.report import png, report, report_markdown, shrink_failures
    from ..campaign.store import Store
    if args.shrink:
        st = Store(args.store)
        shrink_failures(st, st.meta()["spec"], st.meta().get("spec_path"))
    rep = report(args.store)
    md = report_markdown(rep)
    if args.report:
        os.makedirs(args.report, exist_ok=True)
        with open(os.path.join(args.report, "report.md"), "w", encoding="utf-8") as f:
            f.write(md + "\n")
        with open(os.path.join(args.report, "report.json"), "w", encoding="utf-8") as f:
            json.dump(rep, f, indent=1)
        if not png(Store(args.store).records(), os.path.join(args.report, "by_regime.png")):
            print("refquant: by_regime.png not written: matplotlib is not installed (pip install 'refquant[report]')",
                  file=sys.stderr)
    print(json.dumps(rep, indent=1) if args.json else md)
    return EXIT_MISMATCH if rep["failures"] else EXIT_OK


def cmd_replay(args):
    from .. import campaign
    from ..campaign.report import write_failure
    spec = campaign.load(args.spec)
    if args.seed is not None:
        spec = dict(spec, seed=args.seed)
    rec = campaign.run_task(spec, args.task)
    failed = rec["status"] not in ("ok", "skipped")
    if args.out and (failed and args.shrink):
        rec["reproducer"] = write_failure(spec, rec, args.out, args.spec)
    elif args.out:
        from ..campaign.repro import write_case
        write_case(campaign.build_case(spec, args.task), args.out)
    if args.json:
        print(json.dumps(rec, indent=1))
    else:
        print(f"task {rec['task']} (seed {spec['seed']}): {rec['status']}, {rec['elements']:,} elements, "
              f"{rec['mismatches']:,} mismatches")
        print(f"case: {json.dumps(rec['case'])}")
        for row in rec.get("first") or []:
            print(f"  ({row[0]}, {row[1]}): device {row[2]}, expected {row[3]}")
        if rec.get("error"):
            print(f"error: {rec['error']}")
        if rec.get("reproducer"):
            print(f"reproducer: {args.out} (shape {rec['reproducer']['shape']}, steps {rec['reproducer']['steps']})")
    return EXIT_MISMATCH if failed else EXIT_OK
