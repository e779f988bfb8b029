"""Explain traces: the one step-trace type of the spec.

A trace is a list of ``Step(name, formula, value)`` records, one per step of a computation, in
the order the computation takes them: the method's name and source, each parameter, each
intermediate value (int or exact ``Fraction``), the result.  A spec function that can explain
itself takes ``trace=None`` and calls ``note`` at each step (a no-op when ``trace`` is None);
``render`` turns a trace into the text ``refquant explain`` and the audit print.  Used by
``requant.explain_requantize``, ``ops.explain`` and the audit's and cocotb scoreboard's
explanations (docs/audit.md).  ``refquant.requant`` re-exports these names for one release.
"""

from collections import namedtuple
from fractions import Fraction

from . import formats

Step = namedtuple("Step", "name formula value")
Step.__doc__ = "One step of an explain trace: its name, the formula or source it follows, its value."


def note(trace, name, formula, value):
    """Append one step to ``trace`` (a list) unless it is None; return ``value``.

    Reproduces: no external source (the trace format of refquant explain, docs/audit.md)."""
    if trace is not None:
        trace.append(Step(name, formula, value))
    return value


def show(value):
    """A value for the text rendering: ints as is, Fractions with a decimal approximation.

    Reproduces: no external source (the trace format of refquant explain, docs/audit.md)."""
    if isinstance(value, Fraction) and value.denominator != 1:
        return f"{value} (~{formats.to_decimal(value, 12)})"
    if isinstance(value, Fraction):
        return str(value.numerator)
    return str(value)


def render(trace):
    """The text an audit prints: one line per step (name, value, formula in aligned columns).

    Reproduces: no external source (the trace format of refquant explain, docs/audit.md)."""
    width = max((len(s.name) for s in trace), default=0)
    return "\n".join(f"{s.name:<{width}}  {show(s.value):<32}  {s.formula}" for s in trace)
