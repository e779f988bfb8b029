"""One table of element types for tensor files (stdlib only, so golden sets read without numpy).

Each row: the short file name, the kind (int, uint, or float stored as its bit pattern), the width
in bits, refquant's name (refquant.integers / refquant.formats), numpy's name where numpy holds the
type as values (``None`` for the float formats numpy lacks: their files hold bit patterns), the .npy
descriptor of the stored words, the C type, the struct code, and whether golden sets use it."""

from ..errors import UnknownNameError


class DType:
    """One element type of a tensor file: its width, how words map to values, its exports."""

    def __init__(self, short, kind, bits, name, numpy, npy, ctype, pack, golden=True):
        self.short, self.kind, self.bits, self.name, self.numpy = short, kind, bits, name, numpy
        self.npy, self.ctype, self.pack, self.golden = npy, ctype, pack, golden
        self.digits = (bits + 3) // 4
        self.mask = (1 << bits) - 1

    def __repr__(self):
        return f"DType({self.short!r})"

    @property
    def signed(self):
        return self.kind == "int"

    def word(self, v):
        """The fixed-width two's-complement hex word of value v (bit patterns for floats)."""
        return format(v & self.mask, f"0{self.digits}x")

    def value(self, word):
        """The value of an in-range word (int, two's complement for signed types)."""
        v = int(word, 16)
        if self.signed and v >> (self.bits - 1):
            v -= 1 << self.bits
        return v

    def check(self, v):
        lo, hi = (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, self.mask)
        return isinstance(v, int) and lo <= v <= hi


def _d(short, kind, bits, name, numpy, npy, ctype, pack, golden=True):
    return DType(short, kind, bits, name, numpy, npy, ctype, pack, golden)


# short -> row; sub-byte integers are stored one per byte (int8_t / uint8_t)
DTYPES = {d.short: d for d in [
    _d("i2", "int", 2, "int2", "int2", "|i1", "int8_t", "b", golden=False),
    _d("u2", "uint", 2, "uint2", "uint2", "|u1", "uint8_t", "B", golden=False),
    _d("i4", "int", 4, "int4", "int4", "|i1", "int8_t", "b"),
    _d("u4", "uint", 4, "uint4", "uint4", "|u1", "uint8_t", "B"),
    _d("i8", "int", 8, "int8", "int8", "|i1", "int8_t", "b"),
    _d("u8", "uint", 8, "uint8", "uint8", "|u1", "uint8_t", "B"),
    _d("i16", "int", 16, "int16", "int16", "<i2", "int16_t", "h"),
    _d("u16", "uint", 16, "uint16", "uint16", "<u2", "uint16_t", "H"),
    _d("i32", "int", 32, "int32", "int32", "<i4", "int32_t", "i"),
    _d("u32", "uint", 32, "uint32", "uint32", "<u4", "uint32_t", "I"),
    _d("i64", "int", 64, "int64", "int64", "<i8", "int64_t", "q", golden=False),
    _d("f64", "float", 64, "fp64", "float64", "<f8", "uint64_t", "Q"),
    _d("f32", "float", 32, "fp32", "float32", "<f4", "uint32_t", "I"),
    _d("f16", "float", 16, "fp16", "float16", "<f2", "uint16_t", "H"),
    _d("bf16", "float", 16, "bf16", None, "<u2", "uint16_t", "H"),
    _d("e4m3fn", "float", 8, "fp8_e4m3fn", None, "|u1", "uint8_t", "B"),
    _d("e5m2", "float", 8, "fp8_e5m2", None, "|u1", "uint8_t", "B"),
    _d("e4m3fnuz", "float", 8, "fp8_e4m3fnuz", None, "|u1", "uint8_t", "B"),
    _d("e5m2fnuz", "float", 8, "fp8_e5m2fnuz", None, "|u1", "uint8_t", "B"),
    _d("e2m3", "float", 6, "fp6_e2m3", None, "|u1", "uint8_t", "B"),
    _d("e3m2", "float", 6, "fp6_e3m2", None, "|u1", "uint8_t", "B"),
    _d("e2m1", "float", 4, "fp4_e2m1", None, "|u1", "uint8_t", "B"),
    _d("e8m0", "float", 8, "e8m0", None, "|u1", "uint8_t", "B"),
]}
_SPELLINGS = {}
for _row in DTYPES.values():
    for _s in (_row.short, _row.name, _row.numpy):
        if _s is not None:
            _SPELLINGS.setdefault(_s, _row)


def lookup(name, what="dtype", among=None):
    """The row of a dtype spelled any of the three ways (short, refquant name, numpy name);
    ``among``: restrict to these rows (e.g. the golden ones); UnknownNameError names the choices."""
    row = _SPELLINGS.get(name) if isinstance(name, str) else None
    if row is None or (among is not None and row.short not in among):
        choices = sorted({s for r in (among or DTYPES).values() for s in (r.short, r.name, r.numpy) if s})
        raise UnknownNameError(what, name, choices)
    return row
