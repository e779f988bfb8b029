"""cffi builder for refquant._kernel, the C twin (csrc/).

The cdef text is csrc/refquant_kernel.h itself: that header is kept free of
preprocessor lines because cffi's cdef parser rejects #include/#ifdef.
Built by setup.py (``cffi_modules = ["refquant/kernel/_build.py:ffi"]``, which runs this
file as a script, not as part of the package) or in place with
``python refquant/kernel/_build.py``.  The extension keeps its name ``refquant._kernel``.

Flags: -O3 -ffp-contract=off (no FMA contraction of the binary32 steps),
never -ffast-math, no -march: the SIMD paths carry per-function
``__attribute__((target(...)))`` and are chosen at run time.
"""
import os

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))   # refquant/kernel/ -> the source root
_CSRC = os.path.join(_ROOT, "csrc")
# setuptools wants paths relative to setup.py's directory.
_CSRC_REL = os.path.relpath(_CSRC, os.getcwd()) if os.path.isdir(_CSRC) else "csrc"

SOURCES = ["gemm.c", "requant.c", "pack.c", "cpu_x86.c", "gemm_vnni.c", "gemv_vnni.c", "gemm_amx.c",
           "requant_avx512.c", "pool.c", "probe.c", "dwconv.c", "gemm_avx2.c", "requant_avx2.c"]
CFLAGS = ["-O3", "-std=gnu99", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing",
          "-Wall", "-Wextra", "-Wno-unused-parameter"]

with open(os.path.join(_CSRC, "refquant_kernel.h")) as f:
    CDEF = f.read()


def make_ffi(csrc=_CSRC_REL, extra_cflags=()):
    """The builder of refquant._kernel from the C sources in ``csrc``, with ``extra_cflags`` added (a
    test build: tests/test_kernel_amx_emulated.py passes -DRQ_AMX_EMULATE and an absolute csrc)."""
    builder = FFI()
    builder.cdef(CDEF)
    builder.set_source(
        "refquant._kernel",
        '#include <stdint.h>\n#include <stddef.h>\n#include "refquant_kernel.h"\n',
        sources=[os.path.join(csrc, s) for s in SOURCES],
        include_dirs=[csrc],
        depends=[os.path.join(csrc, h) for h in ("refquant_kernel.h", "rq_internal.h", "rq_simd.h")],
        extra_compile_args=CFLAGS + list(extra_cflags),
        libraries=["m", "pthread"],
    )
    return builder


ffi = make_ffi()

if __name__ == "__main__":
    os.chdir(_ROOT)
    ffi.compile(tmpdir=_ROOT, verbose=True)
