"""Judging one tensor of a backend against refquant's enclosure, and one node twice.

Classes of a node (docs/model.md §3):
    agree                   every element equals refquant's (determined) value
    implementation-defined  every element lies in refquant's enclosure, and some element's value
                            is not determined by the modelled semantics (float order, libm)
    new divergence          on the backend's own inputs for this node, an element lies outside
                            refquant's enclosure: the divergence starts here
    inherited               on the backend's inputs the node agrees; it differs only on refquant's
                            own inputs (an earlier node diverged)
    not modelled            refquant does not model how the implementation computed this node (it ran
                            inside a fused layer whose arithmetic is not modelled): not judged, and
                            refquant carries on from the implementation's tensor
"""

from dataclasses import dataclass, field

import numpy as np

AGREE, IMPL, NEW, INHERITED = "agree", "implementation-defined", "new divergence", "inherited"
NOT_MODELLED = "not modelled"


@dataclass
class TensorJudgment:
    tensor: str
    elements: int
    mismatches: int
    ambiguous: int
    max_delta: float               # outside the enclosure: in LSB (integers) or ulps of binary32 (floats)
    unit: str
    first: list = field(default_factory=list)    # coordinates of the first mismatches
    mask: np.ndarray = None
    candidates: list = field(default_factory=list)  # first implementation-defined elements: index, range, actual


def _ulps(x, ref):
    spacing = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.abs(x - ref) / np.where(spacing > 0, spacing, 1.0)


def judge_tensor(name, actual, v, first=5):
    """Where ``actual`` lies outside the enclosure ``v`` (value.V)."""
    actual = np.asarray(actual)
    if actual.shape != v.shape:
        return TensorJudgment(name, int(v.v.size), int(v.v.size), 0, float("inf"), "shape",
                              [f"shape {list(actual.shape)} != {list(v.shape)}"], np.ones(v.shape, bool))
    lo, hi = v.bounds()
    is_float = v.v.dtype.kind == "f"
    a = actual.astype(np.float64 if is_float else np.int64)
    if is_float:
        nan = np.isnan(a) | np.isnan(v.v)
        out = ~nan & ((a < lo) | (a > hi)) | (np.isnan(a) != np.isnan(v.v.astype(np.float64)))
        delta = np.where(a < lo, _ulps(a, lo), np.where(a > hi, _ulps(a, hi), 0.0))
        unit = "ulp"
    else:
        out = (a < lo) | (a > hi)
        delta = np.where(a < lo, lo - a, np.where(a > hi, a - hi, 0)).astype(np.float64)
        unit = "LSB"
    coords = [list(map(int, c)) for c in np.argwhere(out)[:first]]
    amb_mask = v.ambiguous() & ~out
    amb = int(np.sum(amb_mask))
    cands = [{"index": list(map(int, c)), "range": [_num(lo[tuple(c)]), _num(hi[tuple(c)])],
              "actual": _num(a[tuple(c)])} for c in np.argwhere(amb_mask)[:first]]
    return TensorJudgment(name, int(a.size), int(out.sum()), amb,
                          float(np.nanmax(np.where(out, delta, 0))) if out.any() else 0.0, unit, coords, out, cands)


def _num(x):
    return int(x) if float(x).is_integer() and abs(float(x)) < 2**53 else float(x)


@dataclass
class NodeJudgment:
    node: str
    op: str
    outputs: list                  # tensor names judged
    own: list                      # TensorJudgment on refquant's own inputs
    actual: list                   # TensorJudgment on the backend's inputs for this node
    unobservable_inputs: list = field(default_factory=list)
    error: str = ""                # why the node could not be run on the backend's inputs
    not_modelled: str = ""         # why the implementation's arithmetic for this node is not modelled

    @property
    def elements(self):
        return sum(t.elements for t in self.own)

    @property
    def mismatches(self):
        return sum(t.mismatches for t in self.own)

    @property
    def new_mismatches(self):
        return sum(t.mismatches for t in self.actual)

    @property
    def klass(self):
        if self.not_modelled:
            return NOT_MODELLED
        if self.new_mismatches:
            return NEW
        if self.mismatches:
            return INHERITED
        if any(t.ambiguous for t in self.own + self.actual):
            return IMPL
        return AGREE

    def worst(self):
        ts = [t for t in self.actual if t.mismatches] or [t for t in self.own if t.mismatches]
        return max(ts, key=lambda t: t.max_delta) if ts else None
