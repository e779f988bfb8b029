"""ggml's own C library as a peer: the shared libraries libggml-base and libggml-cpu that the
pywhispercpp 1.5.1 wheel ships (ggml 0.13.1, commit f24588a, built for x86-64 with AVX2, FMA and
F16C and without AVX-512), called through ctypes.

What is called (ggml.h / ggml-cpu.h of that version; docs/llm-formats.md §1 "ggml's C itself"):

- ``ggml_get_type_traits(type)``: ``to_float`` (``dequantize_row_<type>``) and ``from_float_ref``
  (``quantize_row_<type>_ref``), the reference quantizers and dequantizers refquant models, and
  ``ggml_quantize_chunk`` without an importance matrix (what llama.cpp's quantize tool writes);
- ``ggml_get_type_traits_cpu(type)->vec_dot``: the dot kernel ggml's CPU backend runs, here the
  AVX2 one of ``ggml-cpu/arch/x86/quants.c`` (refquant's accumulation ``ggml_avx2``), and its
  ``from_float`` (the activation quantizer, Q8_0 / Q8_1 by AVX2 code);
- ``ggml_vec_dot_<x>_<y>_generic``: the scalar kernels of ``ggml-cpu/quants.c`` (exported by this
  build), refquant's accumulation ``ggml_generic_fma`` (and, for MXFP4 / IQ4_NL x Q8_0,
  ``refquant.gguf_lut_dot``).

The type numbers are found by name (``ggml_type_name``), and every type's block size and byte size
are checked against refquant's table before a call, so a library whose layout differs is refused
rather than misread.
"""

import ctypes
import functools
import re
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import InvalidValueError, ShapeError, UnknownNameError
from ..gguf import BLOCKS
from .versions import MissingBackend, install_hint

DIST = "pywhispercpp"
PIN = "1.5.1"
GGML = ("0.13.1", "f24588a")      # ggml_version(), ggml_commit() of the pinned wheel's library
ISA = ("avx2", "fma", "f16c")     # the instruction sets the pinned build uses (ggml_cpu_has_*)

# enum ggml_type (ggml.h, ggml 0.13.1) for the types refquant models; each is checked by name
# (ggml_type_name) and by its block and byte sizes when the library is loaded.
TYPES = {"q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "q8_1": 9, "q2_K": 10, "q3_K": 11, "q4_K": 12,
         "q5_K": 13, "q6_K": 14, "q8_K": 15, "iq4_nl": 20, "iq4_xs": 23, "tq1_0": 34, "tq2_0": 35, "mxfp4": 39,
         "nvfp4": 40}

_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
_FROM_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
_VEC_DOT = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)



def _run_from_float(fn, kind, x):
    """Call a ggml from_float function (float32 row -> blocks) on ``x``: uint8 blocks."""
    x = np.ascontiguousarray(np.asarray(x, np.float32).ravel())
    n, size = BLOCKS[kind]
    if x.size % n:
        raise ShapeError(f"a {kind} row holds a multiple of {n} values; got {x.size}")
    out = np.zeros(x.size // n * size, np.uint8)
    _FROM_FLOAT(fn)(x.ctypes.data, out.ctypes.data, x.size)
    return out


class _Traits(ctypes.Structure):
    """struct ggml_type_traits (ggml.h, ggml 0.13.1)."""
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64), ("blck_size_interleave", ctypes.c_int64),
                ("type_size", ctypes.c_size_t), ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


class _TraitsCpu(ctypes.Structure):
    """struct ggml_type_traits_cpu (ggml-cpu.h, ggml 0.13.1)."""
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p), ("vec_dot_type", ctypes.c_int),
                ("nrows", ctypes.c_int64)]


def _library_files():
    """(libggml-base, libggml-cpu) paths inside the installed pywhispercpp wheel."""
    try:
        files = metadata.files(DIST) or []
    except metadata.PackageNotFoundError:
        raise MissingBackend(f"the ggml peer needs {DIST} (its wheel ships libggml): {install_hint('ggml')}") from None
    found = {}
    for f in files:
        m = re.fullmatch(r"pywhispercpp\.libs/libggml-(base|cpu)-[0-9a-f]+\.so[.0-9]*", str(f))
        if m:
            found[m.group(1)] = Path(f.locate())
    if set(found) != {"base", "cpu"}:
        raise MissingBackend(f"{DIST} {metadata.version(DIST)} ships no libggml-base / libggml-cpu "
                             f"(found {sorted(found)}); the ggml peer is measured on {DIST}=={PIN}")
    return found["base"], found["cpu"]


def cpu_flags():
    """The host's x86 feature flags (/proc/cpuinfo), empty where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    m = re.search(r"^flags\s*:(.*)$", text, re.M)
    return set(m.group(1).split()) if m else set()


class Ggml:
    """ctypes bindings of one loaded libggml-base + libggml-cpu."""

    def __init__(self, base_path, cpu_path):
        self.base = ctypes.CDLL(str(base_path))
        self.cpu = ctypes.CDLL(str(cpu_path))
        for name in ("ggml_version", "ggml_commit", "ggml_type_name"):
            getattr(self.base, name).restype = ctypes.c_char_p
        self.base.ggml_type_name.argtypes = [ctypes.c_int]
        self.base.ggml_get_type_traits.restype = ctypes.POINTER(_Traits)
        self.base.ggml_get_type_traits.argtypes = [ctypes.c_int]
        self.cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(_TraitsCpu)
        self.cpu.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
        self.cpu.ggml_cpu_init()
        self.version = self.base.ggml_version().decode()
        self.commit = self.base.ggml_commit().decode()
        self.isa = {f: bool(getattr(self.cpu, f"ggml_cpu_has_{f}")()) for f in
                    ("sse3", "ssse3", "avx", "avx2", "fma", "f16c", "avx512", "avx512_vnni", "avx_vnni")}
        self.types = {}
        for kind, t in TYPES.items():
            name = self.base.ggml_type_name(t).decode()
            tr = self.base.ggml_get_type_traits(t).contents
            if name != kind or (tr.blck_size, tr.type_size) != BLOCKS[kind]:
                raise InvalidValueError(f"ggml {self.version}: type {t} is {name!r} of {tr.blck_size} elements in "
                                        f"{tr.type_size} bytes; refquant models {kind!r} as {BLOCKS[kind]}")
            self.types[kind] = t

    def describe(self):
        """One line: the library's version, commit and the instruction sets it was built for."""
        isa = "+".join(k for k, v in self.isa.items() if v) or "scalar"
        return f"ggml {self.version} ({self.commit}) from {DIST} {metadata.version(DIST)}, built for {isa}"

    def type_id(self, kind):
        if kind not in self.types:
            raise UnknownNameError("ggml type", kind, self.types)
        return self.types[kind]

    def traits(self, kind):
        return self.base.ggml_get_type_traits(self.type_id(kind)).contents

    def _function(self, pointer, symbol, what, kind):
        """The traits' function pointer, else the exported symbol (Q8_K has no from_float_ref in the traits)."""
        if pointer:
            return pointer
        if hasattr(self.base, symbol):
            return ctypes.cast(getattr(self.base, symbol), ctypes.c_void_p).value
        raise UnknownNameError(f"ggml type with {what}", kind, [k for k in self.types if hasattr(self.base, (
            f"quantize_row_{k}_ref" if what == "from_float_ref" else f"dequantize_row_{k}"))])

    def quantize_ref(self, kind, x):
        """quantize_row_<kind>_ref (the type traits' from_float_ref) of float32 ``x``: uint8 blocks."""
        fn = self._function(self.traits(kind).from_float_ref, f"quantize_row_{kind}_ref", "from_float_ref", kind)
        return _run_from_float(fn, kind, x)

    def quantize(self, kind, x):
        """The CPU backend's from_float (ggml_get_type_traits_cpu) of float32 ``x``: how it quantizes the
        activations of a matrix product (Q8_0 / Q8_1: the AVX2 code of this build)."""
        fn = self.cpu.ggml_get_type_traits_cpu(self.type_id(kind)).contents.from_float
        if not fn:
            raise UnknownNameError("ggml type with a CPU from_float", kind, [])
        return _run_from_float(fn, kind, x)

    def quantize_chunk(self, kind, x, n_per_row):
        """ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix = NULL): what llama.cpp's
        quantize tool writes into a GGUF file for rows of ``n_per_row`` float32 values."""
        t = self.type_id(kind)
        x = np.ascontiguousarray(np.asarray(x, np.float32).ravel())
        n, size = BLOCKS[kind]
        if n_per_row % n or x.size % n_per_row:
            raise ShapeError(f"{kind} rows of {n_per_row} values (a multiple of {n}) do not divide {x.size} values")
        fn = self.base.ggml_quantize_chunk
        fn.restype = ctypes.c_size_t
        fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                       ctypes.c_void_p]
        self.base.ggml_quantize_init(t)
        out = np.zeros(x.size // n * size, np.uint8)
        written = fn(t, x.ctypes.data, out.ctypes.data, 0, x.size // n_per_row, n_per_row, None)
        if written != out.size:
            raise InvalidValueError(f"ggml_quantize_chunk({kind}) wrote {written} bytes; expected {out.size}")
        return out

    def dequantize(self, kind, data):
        """dequantize_row_<kind> (the type traits' to_float) of uint8 blocks: float32 values."""
        fn = self._function(self.traits(kind).to_float, f"dequantize_row_{kind}", "to_float", kind)
        data = np.ascontiguousarray(np.asarray(data, np.uint8).ravel())
        n, size = BLOCKS[kind]
        if data.size % size:
            raise ShapeError(f"a {kind} row is a multiple of {size} bytes; got {data.size}")
        out = np.zeros(data.size // size * n, np.float32)
        _TO_FLOAT(fn)(data.ctypes.data, out.ctypes.data, out.size)
        return out

    def _dot(self, fn, kind_x, x, kind_y, y):
        x, y = (np.ascontiguousarray(np.asarray(a, np.uint8).ravel()) for a in (x, y))
        n = x.size // BLOCKS[kind_x][1] * BLOCKS[kind_x][0]
        if x.size % BLOCKS[kind_x][1] or y.size != n // BLOCKS[kind_y][0] * BLOCKS[kind_y][1]:
            raise ShapeError(f"{kind_x} row of {x.size} bytes and {kind_y} row of {y.size} bytes do not pair")
        s = np.zeros(1, np.float32)
        fn(n, s.ctypes.data, 0, x.ctypes.data, 0, y.ctypes.data, 0, 1)
        return s[0]

    def vec_dot_type(self, kind_x):
        t = self.cpu.ggml_get_type_traits_cpu(self.type_id(kind_x)).contents.vec_dot_type
        return {v: k for k, v in self.types.items()}[t]

    def vec_dot(self, kind_x, x, kind_y, y):
        """The CPU backend's vec_dot of one row pair (this build's SIMD kernel): float32."""
        if self.vec_dot_type(kind_x) != kind_y:
            raise UnknownNameError("ggml vec_dot pair", f"{kind_x}.{kind_y}", [f"{kind_x}.{self.vec_dot_type(kind_x)}"])
        fn = _VEC_DOT(self.cpu.ggml_get_type_traits_cpu(self.type_id(kind_x)).contents.vec_dot)
        return self._dot(fn, kind_x, x, kind_y, y)

    def vec_dot_generic(self, kind_x, x, kind_y, y):
        """ggml_vec_dot_<kind_x>_<kind_y>_generic, the scalar kernel, of one row pair: float32."""
        self.type_id(kind_x), self.type_id(kind_y)
        try:
            sym = getattr(self.cpu, f"ggml_vec_dot_{kind_x}_{kind_y}_generic")
        except AttributeError:
            raise UnknownNameError("ggml generic vec_dot", f"{kind_x}.{kind_y}", []) from None
        return self._dot(_VEC_DOT(ctypes.cast(sym, ctypes.c_void_p).value), kind_x, x, kind_y, y)


@functools.lru_cache(maxsize=1)
def load():
    """The ggml peer (MissingBackend when pywhispercpp is not installed, or this CPU cannot run its build)."""
    base, cpu = _library_files()
    missing = [f for f in ISA if f not in cpu_flags()]
    if missing:
        raise MissingBackend(f"{DIST}'s libggml-cpu is built for {'+'.join(ISA)}; this CPU lacks {missing}")
    return Ggml(base, cpu)


# ---------------------------------------------------------------------------------------------
# refquant verify ggml
# ---------------------------------------------------------------------------------------------

LEGACY = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0")
TABLE = ("tq1_0", "tq2_0", "mxfp4", "nvfp4")
KTYPES = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K")
SIMD, GENERIC = "ggml_x86_avx2", "ggml_generic_gcc_fma"     # the backend rows (refquant/backends.py)


def _values(rng, n):
    return (rng.standard_normal(n) * rng.choice([1e-3, 1.0, 30.0], n)).astype(np.float32)


def dot_rows(kind_x, rng, rows, blocks):
    """(x rows, y row) of a vec_dot check: ``rows`` rows of ``kind_x`` quantized by ggml's reference
    quantizer (random K super-blocks with finite scales), one activation row of its pair type."""
    from .. import gguf
    from .gguf import _k_blocks
    g, ky = load(), gguf.PAIRS[kind_x]
    n = gguf.BLOCKS[kind_x][0] * blocks
    if kind_x in KTYPES:
        x = _k_blocks(kind_x, rng, rows * blocks).reshape(rows, -1)
    else:
        x = g.quantize_ref(kind_x, _values(rng, rows * n)).reshape(rows, -1)
    return x, g.quantize_ref(ky, _values(rng, n))


def _dot_row(kind_x, rng, rows, blocks, simd):
    from .. import gguf, gguf_avx2
    from ..blocks import gguf as fast
    from .conformance import judge
    from .versions import known
    g, ky = load(), gguf.PAIRS[kind_x]
    x, y = dot_rows(kind_x, rng, rows, blocks)
    run = g.vec_dot if simd else g.vec_dot_generic
    got = np.array([run(kind_x, r, ky, y) for r in x], np.float32).view(np.uint32)
    if kind_x in LEGACY:
        spec = fast.vec_dot(kind_x, x, ky, y).view(np.uint32)
    else:
        spec = np.array([gguf.vec_dot(kind_x, r.tobytes(), ky, y.tobytes()) for r in x], np.uint32)
    if simd:
        model = [gguf_avx2.vec_dot_avx2(kind_x, r.tobytes(), ky, y.tobytes()) for r in x]
        dev = known("ggml", "ggml AVX2 vec_dot order", np.array(model, np.uint32), "gguf_vec_dot")
    else:
        model = [gguf.vec_dot(kind_x, r.tobytes(), ky, y.tobytes(), "ggml_generic_fma") for r in x]
        dev = known("ggml", "GCC contraction of ggml's generic kernels", np.array(model, np.uint32), "gguf_vec_dot")
    return judge(SIMD if simd else GENERIC, ("vec_dot " if simd else "generic ") + f"{kind_x}.{ky}",
                 "ggml_generic", f"{rows} rows x {blocks} blocks", got, spec, [dev])


def backend_ggml(seed=20261203, n=1 << 16):
    """Conformance rows: ggml's reference quantizers and dequantizers (through the type traits) against
    refquant's fast forms, byte for byte and bit for bit; the vec_dot kernels against 'ggml_generic'."""
    from .. import gguf, gguf_avx2
    from ..blocks import gguf as fast
    from ..blocks import gguf_lut as flut
    from .conformance import judge
    from .versions import known
    from .gguf import _inputs, _k_blocks
    from .gguf_lut import inputs as lut_inputs
    from .gguf_lut import random_blocks
    g, rng, rows = load(), np.random.default_rng(seed), []
    for kind in LEGACY + ("q8_1", "q8_K") + TABLE:
        flags = (lut_inputs(kind, rng, n) if kind in TABLE else _inputs(kind, rng, n) if kind != "q8_K"
                 else {"random (1e-4, 1, 1e4)": _inputs("q8_0", rng, n)["random (1e-4, 1, 1e4)"]})
        ref = flut if kind in TABLE else fast
        for flag, x in flags.items():
            rows.append(judge(SIMD, f"quantize {kind}", "ggml_ref", flag, g.quantize_ref(kind, x),
                              ref.quantize(kind, x).ravel(), x=x))
        if kind in LEGACY + TABLE:         # llama.cpp's quantize tool: ggml_quantize_chunk, no imatrix
            x = flags["random (1e-4, 1, 1e4)"]
            per_row = 4096 if x.size % 4096 == 0 else gguf.BLOCKS[kind][0]
            rows.append(judge(SIMD, f"quantize_chunk {kind}", "ggml_ref", f"random, rows of {per_row}",
                              g.quantize_chunk(kind, x, per_row), ref.quantize(kind, x).ravel(), x=x))
    for kind in ("q8_0", "q8_1"):      # the activation quantizer the CPU backend runs (from_float, AVX2)
        for flag, x in _inputs(kind, rng, n // 8).items():
            model = np.frombuffer(gguf_avx2.quantize_avx2(kind, x.tolist()), np.uint8)
            rows.append(judge(SIMD, f"from_float {kind}", "ggml_ref", flag, g.quantize(kind, x),
                              fast.quantize(kind, x).ravel(),
                              [known("ggml", "ggml AVX2 Q8_0/Q8_1 activation rounding", model, "gguf_quantize")], x=x))
    for kind in LEGACY:
        data = fast.quantize(kind, _values(rng, n))
        rows.append(judge(SIMD, f"dequantize {kind}", "ggml_ref", "random values quantized",
                          g.dequantize(kind, data).view(np.uint32), fast.dequantize(kind, data).ravel().view(np.uint32)))
    for kind in TABLE + ("iq4_nl", "iq4_xs"):
        b = random_blocks(kind, rng, max(2, n // gguf.BLOCKS[kind][0]))
        rows.append(judge(SIMD, f"dequantize {kind}", "ggml_ref", f"{len(b)} random blocks, finite scales",
                          g.dequantize(kind, b).view(np.uint32), flut.dequantize(kind, b).ravel().view(np.uint32)))
    for kind in KTYPES + ("q8_K",):
        b = (_k_blocks(kind, rng, 16) if kind != "q8_K" else g.quantize_ref(kind, _values(rng, 16 * 256)))
        rows.append(judge(SIMD, f"dequantize {kind}", "ggml_ref", "16 super-blocks, finite scales",
                          g.dequantize(kind, b).view(np.uint32),
                          np.array(gguf.dequantize_row(kind, b.tobytes()), np.uint32)))
    for simd in (True, False):
        for kind in LEGACY + KTYPES:
            rows.append(_dot_row(kind, rng, 64 if kind in LEGACY else 16, 8 if kind in LEGACY else 2, simd=simd))
    return rows + [_table_dot_row(kind, rng, simd) for simd in (True, False) for kind in ("mxfp4", "iq4_nl")]


def table_dot_rows(kind_x, rng, rows, blocks):
    """(x rows, y row) of a table-type vec_dot check: MXFP4 quantized by ggml from random values at
    three magnitudes (finite scales), IQ4_NL random blocks with finite fp16 scales; a Q8_0 row."""
    from .gguf_lut import random_blocks
    g = load()
    if kind_x == "mxfp4":
        x = g.quantize_ref(kind_x, _values(rng, rows * blocks * 32)).reshape(rows, -1)
    else:
        x = random_blocks(kind_x, rng, rows * blocks).reshape(rows, -1)
    return x, g.quantize_ref("q8_0", _values(rng, blocks * 32))


def _table_dot_row(kind_x, rng, simd):
    from .. import gguf_lut_dot
    from .conformance import judge
    from .versions import known
    g = load()
    x, y = table_dot_rows(kind_x, rng, 64, 7)
    run = g.vec_dot if simd else g.vec_dot_generic
    got = np.array([run(kind_x, r, "q8_0", y) for r in x], np.float32).view(np.uint32)
    spec = np.array([gguf_lut_dot.dot_generic(kind_x, r.tobytes(), "q8_0", y.tobytes()) for r in x], np.uint32)
    models = []
    if simd:
        model = np.array([gguf_lut_dot.dot_avx2(kind_x, r.tobytes(), "q8_0", y.tobytes()) for r in x], np.uint32)
        models = [known("ggml", "ggml AVX2 table-type vec_dot order", model, "gguf_lut_vec_dot")]
    return judge(SIMD if simd else GENERIC, ("vec_dot " if simd else "generic ") + f"{kind_x}.q8_0", "ggml_generic",
                 "64 rows x 7 blocks", got, spec, models)
