"""The diagnosis as a typed value: one ``CandidateRow`` per candidate semantics (how many elements
of the device output it explains) and the ``Ranking`` of them with its verdict.  ``as_json`` gives
the dict that ``refquant audit --json`` prints (keys ``ranking``, ``verdict`` and, when the best
row is a requantization candidate, ``ties``; see docs/audit.md).
"""

from dataclasses import dataclass, field

import numpy as np

SAMPLED = "oracle on a sample"   # how a row says its score counts a sample of the elements only


def percent(m, n):
    """``m`` of ``n`` as the audit prints it: '100%' only when all match, 4 decimals above 99.99%."""
    if n == 0 or m == n:
        return "100%"
    p = 100.0 * m / n
    return f"{p:.4f}%" if p > 99.99 else f"{p:.2f}%"


@dataclass
class CandidateRow:
    """One candidate semantics scored against the device output.

    ``vals`` are its outputs (the whole tensor, or the sample a sampled row was scored on), and
    ``cand`` the requantization ``Candidate`` it came from (None for quantize profiles and the
    MatMulInteger accumulator rows)."""
    name: str
    semantics: str
    description: str
    matched: int
    of: int
    how: str
    vals: np.ndarray = field(repr=False, compare=False)
    cand: object = field(default=None, repr=False, compare=False)

    @property
    def fraction(self):
        return self.matched / max(self.of, 1)

    @property
    def sampled(self):
        """True when ``matched`` / ``of`` count a sample of the elements, not all of them."""
        return bool(self.how) and self.how.startswith(SAMPLED)

    def as_json(self):
        return {"name": self.name, "semantics": self.semantics, "description": self.description,
                "matched": self.matched, "of": self.of, "how": self.how, "fraction": self.fraction,
                "percent": percent(self.matched, self.of)}


@dataclass
class Ranking:
    """Candidate rows best first (by the fraction explained; the declared semantics first among
    equal fractions, the rest stable), the verdict, and the rows tied with the best."""
    rows: list
    declared: str = ""
    verdict: str = "no candidate could be evaluated"
    ties: list = None

    @classmethod
    def of(cls, rows, declared):
        """The rows sorted into ranking order (a new list; ``rows`` is left as it was)."""
        return cls(sorted(rows, key=lambda r: (-r.fraction, r.semantics != declared)), declared)

    @property
    def best(self):
        return self.rows[0] if self.rows else None

    def as_json(self):
        out = {"ranking": [r.as_json() for r in self.rows], "verdict": self.verdict}
        if self.ties is not None:
            out["ties"] = self.ties
        return out
