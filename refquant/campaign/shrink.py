"""Shrinking a failing task to a minimal reproducer that fails the same way (same signature).

Steps, each kept only if the failure survives: one failing output element (1 x K x 1), else halves
of the rows and columns; halves of the reduction dimension K; reduction terms neutralised (a[i, k]
set to the zero point, so the term (a - za)(b - zb) is 0: fewer non-zero elements); per-column
scales and zero points made per-tensor; zero points 0.  Small cases are judged by the oracle.
Timeouts, crashes and internal errors are not shrunk (each try would cost the timeout): their
reproducer is the task's own case.
"""

import numpy as np

from . import cases as cs
from . import conv
from .task import build_case, check_case

MAX_CALLS = 200
ORACLE_MACS = 200_000


def same_failure(new, old):
    """True when ``new`` is the failure ``old`` on a part of its elements: the same signature, or one sign
    of a failure that had both (a single element of a '+-1' failure is '+1' or '-1')."""
    if new == old:
        return True
    if new is None or not old.endswith("diff=+-1"):
        return False
    return new in (old[:-len("+-1")] + "+1", old[:-len("+-1")] + "-1")


class Shrinker:
    def __init__(self, spec, signature, max_calls=MAX_CALLS):
        self.spec, self.signature, self.calls, self.max_calls = spec, signature, 0, max_calls
        self.steps = []

    def fails(self, case):
        """The outcome when ``case`` still fails with the same signature, else None."""
        if self.calls >= self.max_calls:
            return None
        self.calls += 1
        spec = self.spec
        M, K, N = cs.dims(case)
        if M * K * N <= ORACLE_MACS:
            spec = dict(spec, reference={"kind": "oracle", "sample": 0})
        try:
            out = check_case(spec, case)
        except Exception:  # noqa: BLE001  (a cut the reference cannot take: not a reproducer)
            return None
        return out if same_failure(out.get("signature"), self.signature) else None

    def attempt(self, case, step, **cut):
        c = cs.subcase(case, **cut)
        if self.fails(c):
            self.steps.append(step)
            return c
        return None

    def shrink(self, case, first):
        if case["op"] == "qlinear_conv":
            return self._shrink_conv(case, first)
        if first:
            i, j = first[0][:2]
            c = self.attempt(case, f"one output element ({i}, {j})", rows=[i], cols=[j])
            case = c if c is not None else self._halve_mn(case)
        else:
            case = self._halve_mn(case)
        case = self._halve_k(case)
        case = self._fewest_terms(case)
        case = self._neutralise(case)
        return self._simplify(case)

    def _halve_mn(self, case):
        for axis in ("rows", "cols"):
            while True:
                n = cs.dims(case)[0 if axis == "rows" else 2]
                if n <= 1:
                    break
                halves = (np.arange(n // 2), np.arange(n // 2, n))
                c = (self.attempt(case, f"{axis} halved", **{axis: halves[0]}) or
                     self.attempt(case, f"{axis} halved", **{axis: halves[1]}))
                if c is None:
                    break
                case = c
        return case

    def _halve_k(self, case):
        while case["op"] != "quantize_linear" and case["a"].shape[1] > 1:
            K = case["a"].shape[1]
            c = (self.attempt(case, "K halved", ks=np.arange(K // 2)) or
                 self.attempt(case, "K halved", ks=np.arange(K // 2, K)))
            if c is None:
                break
            case = c
        return case

    def _fewest_terms(self, case):
        """A 1 x K x 1 case rewritten with the same accumulator from as few terms (a - za)(b - zb) as the
        operand ranges allow: a requantization failure depends only on the accumulator."""
        if case["op"] == "quantize_linear" or cs.dims(case)[0] != 1 or cs.dims(case)[2] != 1 or cs.dims(case)[1] <= 1:
            return case
        za, zb = int(case["za"]), int(np.asarray(case["zb"]).reshape(-1)[0])
        t = int((case["a"][0].astype(np.int64) - za) @ (case["b"][:, 0].astype(np.int64) - zb))
        (alo, ahi), (blo, bhi) = cs.RANGE[case["a_type"]], cs.RANGE[case["b_type"]]
        pairs = terms_for(t, alo - za, ahi - za, blo - zb, bhi - zb)
        if not pairs or len(pairs) >= case["a"].shape[1]:
            return case
        a = np.array([[za + u for u, _v in pairs]]).astype(case["a"].dtype)
        b = np.array([[zb + v] for _u, v in pairs]).astype(case["b"].dtype)
        c = dict(case, a=a, b=b)
        if self.fails(c):
            self.steps.append(f"the same accumulator {t} from {len(pairs)} term(s)")
            return c
        return case

    def _neutralise(self, case):
        """Set chunks of A (largest first) to the zero point while the failure survives."""
        if case["op"] == "quantize_linear":
            return case
        M, K = case["a"].shape
        if M * K > 4096:
            return case
        chunk = max(1, K // 2)
        while chunk >= 1:
            for start in range(0, K, chunk):
                a = case["a"].copy()
                sl = a[:, start:start + chunk]
                if np.all(sl == case["za"]):
                    continue
                a[:, start:start + chunk] = case["za"]
                c = dict(case, a=a)
                if self.fails(c):
                    case = c
                    self.steps.append(f"a[:, {start}:{start + chunk}] = za")
            if chunk == 1:
                break
            chunk //= 2
        return case

    def _simplify(self, case):
        if case["op"] == "quantize_linear":
            return self._simplify_quantize(case)
        if case["per_column"] and case["b"].shape[1] == 1:
            c = dict(case, per_column=False, zb=np.asarray(case["zb"]).reshape(-1)[0])
            if c.get("sb") is not None:
                c["sb"] = np.float32(np.asarray(case["sb"]).reshape(-1)[0])
            if c["op"] == "qlinear_matmul":
                c["params"] = cs.params_of(c)
            if self.fails(c):
                case = c
                self.steps.append("per-tensor scale and zero point")
        for key in ("za", "zb", "zy"):
            if key == "zy" and case["op"] != "qlinear_matmul":
                continue
            if np.ndim(case[key]) == 0 and case[key] != 0:
                c = dict(case, **{key: 0})
                if self.fails(c):
                    case = c
                    self.steps.append(f"{key} = 0")
        return case


    def _shrink_conv(self, case, first):
        """One image and one output channel (its group's input channels), then per-tensor, zero points 0."""
        if first:
            n, m = first[0][:2]
            c = dict(case)
            for step, cut in ((f"image {n}", {"batch": [n]}), (f"output channel {m}", {"channels": [m]})):
                cc = conv.subcase(c, **cut)
                if self.fails(cc):
                    c = cc
                    self.steps.append(step)
            case = c
        if case["per_column"] and case["w"].shape[0] == 1:
            c = dict(case, per_column=False, zb=int(np.asarray(case["zb"])[0]),
                     sb=np.float32(np.asarray(case["sb"])[0]))
            c["params"] = cs.params_of(c)
            if self.fails(c):
                case = c
                self.steps.append("per-tensor scale and zero point")
        return case

    def _simplify_quantize(self, case):
        if case["per_column"] and case["x"].shape[1] == 1:
            c = dict(case, per_column=False, scale=np.float32(np.asarray(case["scale"])[0]),
                     zp=int(np.asarray(case["zp"])[0]))
            if self.fails(c):
                case = c
                self.steps.append("per-tensor scale and zero point")
        if not case["per_column"] and case["zp"] != 0:
            c = dict(case, zp=0)
            if self.fails(c):
                case = c
                self.steps.append("zp = 0")
        return case


def _exact_pair(t, ulo, uhi, vlo, vhi):
    for v in range(vlo, vhi + 1):
        if v and t % v == 0 and ulo <= t // v <= uhi:
            return t // v, v
    return None


def terms_for(t, ulo, uhi, vlo, vhi, limit=4096):
    """Few pairs (u, v), u in [ulo, uhi], v in [vlo, vhi], whose products sum to t (greedy), or None."""
    pairs, rem = [], t
    while len(pairs) < limit:
        if rem == 0:
            return pairs
        exact = _exact_pair(rem, ulo, uhi, vlo, vhi)
        if exact:
            return [*pairs, exact]
        # the largest product of rem's sign, then a quotient step, leave a remainder below |v|
        best = max(((u, v) for u in (ulo, uhi) for v in (vlo, vhi) if u * v * rem > 0),
                   key=lambda p: abs(p[0] * p[1]), default=None)
        if best is None:
            return None
        u, v = best
        if abs(rem) < abs(u * v):
            u = rem // v if rem // v * v * rem > 0 else -(-rem // v)
            if not ulo <= u <= uhi or u == 0:
                return None
        pairs.append((u, v))
        rem -= u * v
    return None


def shrink_task(spec, rec, max_calls=MAX_CALLS):
    """(shrunk case, its outcome, steps, calls) for the failing task record ``rec``."""
    case = build_case(spec, rec["task"])
    s = Shrinker(spec, rec["signature"], max_calls)
    if rec["status"] in ("mismatch", "error", "reference"):
        case = s.shrink(case, rec.get("first"))
    out = check_case(spec, case)
    return case, out, s.steps, s.calls
