"""``refquant dpi build --out DIR``: refquant's C twin as a DPI-C reference library for a
SystemVerilog testbench (docs/hardware.md §6).

DIR receives librefquant_dpi.a and librefquant_dpi.so (csrc/*.c and the wrapper csrc/dpi/rq_dpi.c,
compiled with the kernel's own flags plus -fPIC), rq_dpi.h, refquant_kernel.h and the SystemVerilog
package refquant_dpi_pkg.sv with the ``import "DPI-C"`` declarations.
"""

import os
import shutil
import subprocess
import sys

from ..errors import InvalidValueError, RefquantError

LIB = "librefquant_dpi"
COPIED = ("dpi/rq_dpi.h", "refquant_kernel.h", "dpi/refquant_dpi_pkg.sv")


class BuildError(RefquantError):
    """The C compiler or archiver failed (its message names the file)."""


def csrc_dir():
    """The csrc/ directory beside the refquant package (a source checkout or an sdist install)."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    d = os.path.join(here, "csrc")
    if not os.path.isfile(os.path.join(d, "dpi", "rq_dpi.c")):
        raise InvalidValueError(f"refquant dpi build: no C sources at {d}; expected refquant's csrc/ beside the "
                                "package (install from a git checkout or an sdist)")
    return d


def sources_and_flags(csrc):
    """(the kernel's C sources + the DPI wrapper, the kernel's compile flags) -- the lists
    refquant/kernel/_build.py gives cffi."""
    from ..kernel._build import CFLAGS, SOURCES
    return [os.path.join(csrc, s) for s in SOURCES] + [os.path.join(csrc, "dpi", "rq_dpi.c")], list(CFLAGS)


def build(out, cc=None, extra_cflags=(), progress=print):
    """Compile into ``out``; returns {'static', 'shared', 'package', 'headers'} paths."""
    csrc = csrc_dir()
    cc = cc or os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise InvalidValueError(f"refquant dpi build: C compiler {cc!r} not found; expected gcc or clang on PATH "
                                "(or CC=...)")
    srcs, flags = sources_and_flags(csrc)
    objdir = os.path.join(out, "obj")
    try:
        os.makedirs(objdir, exist_ok=True)
    except OSError as exc:
        raise InvalidValueError(f"--out {out}: cannot create it ({exc.strerror}); expected a writable directory") from None
    objs = []
    for i, src in enumerate(srcs, 1):
        obj = os.path.join(objdir, os.path.basename(src)[:-2] + ".o")
        progress(f"[{i}/{len(srcs)}] cc {os.path.relpath(src, os.path.dirname(csrc))}")
        _run([cc, *flags, "-fPIC", *extra_cflags, f"-I{csrc}", "-c", src, "-o", obj])
        objs.append(obj)
    static, shared = os.path.join(out, LIB + ".a"), os.path.join(out, LIB + ".so")
    if os.path.exists(static):
        os.remove(static)
    _run([os.environ.get("AR", "ar"), "rcs", static, *objs])
    _run([cc, "-shared", "-o", shared, *objs, "-lm", "-lpthread"])
    copied = []
    for rel in COPIED:
        dst = os.path.join(out, os.path.basename(rel))
        shutil.copyfile(os.path.join(csrc, rel), dst)
        copied.append(dst)
    return {"static": static, "shared": shared, "package": copied[2], "headers": copied[:2]}


def _run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"{os.path.basename(cmd[0])} failed ({' '.join(cmd[-3:])}): {res.stderr.strip()[-600:]}")


def cmd_dpi_build(args):
    from . import EXIT_OK
    from ..golden import out_path
    out = os.path.abspath(out_path(args.out, "--out"))
    res = build(out, args.cc, progress=(lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr)))
    print(f"refquant dpi: {res['static']}\n              {res['shared']}\n              {res['package']}")
    print("Verilator: verilator --binary -CFLAGS -std=c++20 refquant_dpi_pkg.sv your_tb.sv "
          f"{res['static']} -LDFLAGS '-lm -lpthread'   (docs/hardware.md §6)")
    return EXIT_OK


def register(sub):
    p = sub.add_parser("dpi", help="refquant's C twin as a DPI-C reference library (docs/hardware.md)")
    s = p.add_subparsers(dest="dpi_command", required=True)
    b = s.add_parser("build", help="build librefquant_dpi.{a,so}, rq_dpi.h and refquant_dpi_pkg.sv into --out DIR")
    b.add_argument("--out", required=True, metavar="DIR")
    b.add_argument("--cc", help="C compiler (default: $CC or cc)")
    b.add_argument("--quiet", action="store_true", help="no per-file progress on stderr")
    b.set_defaults(func=cmd_dpi_build)
