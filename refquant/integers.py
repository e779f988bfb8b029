"""Integer types, their overflow behaviours, sub-byte packing, and the accumulator model.

Integer types are rows of a table (name, bits, signed, narrow).  Three ways to bring an integer
into a type: ``saturate`` (clamp to the nearer end), ``wrap`` (two's complement, mod 2^bits),
``check`` (raise naming the value).  ``narrow`` types drop the most negative code (int8 narrow
= [-127, 127], as symmetric quantizers use).

The accumulator is a k-ordered sum of exact integer terms in a register of ``width`` bits with
an overflow ``policy`` (wrap | saturate | error); it records which outputs overflowed and how
often.  Its contract is docs/gemm-contract.md §2; the C kernel implements the same text.
"""

from dataclasses import dataclass, field

from .errors import AccumulatorOverflowError, InvalidValueError, UnknownNameError


@dataclass(frozen=True)
class IntType:
    name: str
    bits: int
    signed: bool
    narrow: bool = False

    @property
    def min(self):
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def max(self):
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    def contains(self, v):
        return self.min <= v <= self.max


def _table():
    rows = {}
    for bits in (2, 4, 8, 16, 32, 48, 64):
        rows[f"int{bits}"] = IntType(f"int{bits}", bits, True)
        rows[f"int{bits}_narrow"] = IntType(f"int{bits}_narrow", bits, True, narrow=True)
        if bits != 48:
            rows[f"uint{bits}"] = IntType(f"uint{bits}", bits, False)
    return rows


INT_TYPES = _table()
ALIASES = {"i8": "int8", "u8": "uint8", "i16": "int16", "u16": "uint16", "i32": "int32", "u32": "uint32",
           "i4": "int4", "u4": "uint4", "i2": "int2", "u2": "uint2", "i48": "int48", "i64": "int64",
           "qint8": "int8", "quint8": "uint8", "qint32": "int32", "s8": "int8"}
POLICIES = ("wrap", "saturate", "error")


def get_type(t):
    """The ``IntType`` named ``t`` (name, alias or IntType)."""
    if isinstance(t, IntType):
        return t
    try:
        return INT_TYPES[ALIASES.get(t, t)]
    except (KeyError, TypeError):
        raise UnknownNameError("integer type", t, INT_TYPES) from None


def _int(v, what="value"):
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidValueError(f"{what} must be an int, got {v!r} of type {type(v).__name__}")
    return v


def saturate(t, v):
    """v clamped into type t."""
    t = get_type(t)
    return min(max(_int(v), t.min), t.max)


def wrap(t, v):
    """v reduced modulo 2^bits into type t's two's-complement (or unsigned) range."""
    t = get_type(t)
    r = _int(v) % (2**t.bits)
    return r - 2**t.bits if t.signed and r >= 2 ** (t.bits - 1) else r


def check(t, v, what="value"):
    """v itself if it lies in type t, else ``InvalidValueError`` naming it."""
    t = get_type(t)
    if not t.contains(_int(v, what)):
        raise InvalidValueError(f"{what} {v} is outside {t.name} [{t.min}, {t.max}]")
    return v


def convert(t, v, policy):
    """Bring v into type t by ``policy`` in ('wrap', 'saturate', 'error')."""
    if policy == "wrap":
        return wrap(t, v)
    if policy == "saturate":
        return saturate(t, v)
    if policy == "error":
        return check(t, v)
    raise UnknownNameError("overflow policy", policy, POLICIES)


# ---------------------------------------------------------------------------------------------
# Sub-byte packing (ONNX: element 2i in bits 0-3 and 2i+1 in bits 4-7; 2-bit: element 4i+j in
# bits 2j..2j+1).  Odd tails are padded with zero bits.
# ---------------------------------------------------------------------------------------------

def pack_subbyte(values, t):
    """Pack 2- or 4-bit integers of type t into bytes, low bits first."""
    t = get_type(t)
    if t.bits not in (2, 4):
        raise InvalidValueError(f"sub-byte packing needs a 2- or 4-bit type, got {t.name}")
    per = 8 // t.bits
    out = bytearray((len(values) + per - 1) // per)
    for i, v in enumerate(values):
        check(t, v, f"element {i}")
        out[i // per] |= (v & (2**t.bits - 1)) << (t.bits * (i % per))
    return bytes(out)


def unpack_subbyte(data, t, count):
    """Unpack ``count`` 2- or 4-bit integers of type t from bytes (inverse of pack_subbyte)."""
    t = get_type(t)
    if t.bits not in (2, 4):
        raise InvalidValueError(f"sub-byte unpacking needs a 2- or 4-bit type, got {t.name}")
    per = 8 // t.bits
    if count < 0 or len(data) * per < count:
        raise InvalidValueError(f"{len(data)} bytes hold at most {len(data) * per} {t.name} elements, asked for {count}")
    raw = [(data[i // per] >> (t.bits * (i % per))) & (2**t.bits - 1) for i in range(count)]
    return [wrap(t, r) for r in raw]


# ---------------------------------------------------------------------------------------------
# The accumulator (docs/gemm-contract.md §2)
# ---------------------------------------------------------------------------------------------

@dataclass
class Accumulator:
    """A ``width``-bit signed register summing terms in the given order under ``policy``.

    ``overflows`` maps an output index to the number of steps whose exact value v = s + t left
    [-2^(w-1), 2^(w-1) - 1].  Under ``wrap`` the result is the exact sum mod 2^w; under
    ``saturate`` each step clamps (so order matters); under ``error`` the first such step raises.
    """
    width: int = 32
    policy: str = "wrap"
    overflows: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 2:
            raise InvalidValueError(f"accumulator width must be an int >= 2, got {self.width!r}")
        if self.policy not in POLICIES:
            raise UnknownNameError("accumulator overflow policy", self.policy, POLICIES)
        self.lo, self.hi = -(2 ** (self.width - 1)), 2 ** (self.width - 1) - 1

    def step(self, s, t, where=None):
        """One accumulation step s + t under the policy; counts an overflow against ``where``."""
        v = s + t
        if self.lo <= v <= self.hi:
            return v
        self.overflows[where] = self.overflows.get(where, 0) + 1
        if self.policy == "saturate":
            return self.hi if v > self.hi else self.lo
        if self.policy == "error":
            raise AccumulatorOverflowError(
                f"int{self.width} accumulator overflow at output {where}: {s} + {t} = {v} "
                f"is outside [{self.lo}, {self.hi}] (policy 'error')")
        return (v - self.lo) % 2**self.width + self.lo

    def sum(self, terms, where=None, start=0):
        """Sum ``terms`` in order (k ascending) starting from ``start``; under ``error`` the message
        names the step k that overflowed."""
        s = start
        lo, hi = self.lo, self.hi
        for k, t in enumerate(terms):
            v = s + t
            s = v if lo <= v <= hi else self._named_step(s, t, where, f"k = {k}")
        return s

    def _named_step(self, s, t, where, what):
        try:
            return self.step(s, t, where)
        except AccumulatorOverflowError as e:
            raise AccumulatorOverflowError(f"{e}; at {what}") from None

    def sum_with_bias(self, terms, where=None, bias=None):
        """``sum`` of the terms, then ``bias`` (if any) as one more step: the contract's accumulator
        (docs/gemm-contract.md §2)."""
        s = self.sum(terms, where)
        return s if bias is None else self._named_step(s, bias, where, "the bias step")

    def total(self, terms, where=None):
        """Like ``sum`` but fast when no partial sum can leave the range (the usual case).

        Exactness argument: if sum(|t|) fits in the range, every partial sum does too.
        """
        terms = list(terms)
        if sum(map(abs, terms)) <= self.hi:
            return sum(terms)
        return self.sum(terms, where)

    @property
    def overflowed(self):
        """Number of outputs with at least one overflow step."""
        return len(self.overflows)
