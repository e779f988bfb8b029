"""One exception hierarchy for everything refquant rejects.

Every error names the offending value and what was expected.  The CLI maps
``RefquantError`` to exit code 2 (bad input).  Two classes are *outcomes*
rather than user mistakes, mirroring TOSA's three outcomes (valid / ERROR_IF /
REQUIRE): ``SpecError`` (the modelled spec says this input must be rejected)
and ``Unpredictable`` (the modelled spec leaves the result undefined; no golden
value may be emitted for it).
"""


class RefquantError(ValueError):
    """Base class of every error refquant raises on purpose."""


class UnknownNameError(RefquantError, KeyError):
    """A format, rounding mode, policy, profile, method, ... name is not known."""

    def __init__(self, kind, name, valid):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; expected one of: {', '.join(self.valid)}")

    def __str__(self):  # KeyError would otherwise repr() the message
        return self.args[0]


class InvalidValueError(RefquantError):
    """A value is outside what the operation accepts (range, type, exactness)."""


class ShapeError(RefquantError):
    """Shapes, axes, block sizes or parameter lengths do not fit together."""


class AccumulatorOverflowError(RefquantError):
    """An accumulator left its range under the ``error`` overflow policy."""


class FormatFileError(RefquantError):
    """A file (golden manifest, tensor dump, ...) is malformed, truncated or fails its checksum."""


class SpecError(RefquantError):
    """The modelled specification rejects this input (TOSA ERROR_IF, a DCHECK that is a hard error)."""


class Unpredictable(RefquantError):
    """The modelled specification leaves the result undefined (TOSA REQUIRE violated, C UB, DCHECK)."""
