"""``refquant verify PEER`` and ``refquant check``: their arguments (the commands are
refquant/peers/cli.py)."""

from ..peers.cli import RUNNERS as BACKENDS
from ..peers.cli import cmd_check, cmd_verify


def register(sub):
    v = sub.add_parser("verify", help="run the built-in (or golden) cases through an installed backend: conformance table")
    v.add_argument("backend", help=f"one of: {', '.join(BACKENDS)}")
    v.add_argument("--json", action="store_true")
    v.add_argument("--allow-known", action="store_true", help="exit 0 when the only differences are known, named deviations")
    v.add_argument("--verbose", "-v", action="store_true", help="print the first differing element of each row")
    v.set_defaults(func=cmd_verify)

    c = sub.add_parser("check", help="verify the C kernel and every installed backend (fast, offline)")
    c.add_argument("--json", action="store_true")
    c.add_argument("--strict", action="store_true", help="known backend deviations also fail (exit 1)")
    c.set_defaults(func=cmd_check)
