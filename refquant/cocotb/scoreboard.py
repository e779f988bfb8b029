"""The scoreboard: each transaction of a hardware unit (its inputs and the DUT's outputs) checked
against refquant's oracle, or against the C kernel in batches.

A testbench attaches it in a few lines (docs/hardware.md §2)::

    sb = Scoreboard("dot", method="tflite_single", a_zero_point=3, y_zero_point=-7,
                    params={"m": 1610612736, "shift": -3}, policy="saturate")
    sb.check({"a": a, "b": b, "bias": bias}, {"y": y, "acc": acc})     # raises ScoreboardMismatch
    sb.finish()                                                         # flushes a kernel batch

Ops: ``requantize`` (input ``acc``), ``dot`` (a dot product = one matmul row element: ``a``, ``b``
lists of K, optional ``bias``; outputs ``y`` and optionally ``acc``), ``quantize`` (input ``x``,
a float; output ``y``). Any parameter may also be given per transaction in the inputs dict
(``a_zero_point``, ``b_zero_point``, ``y_zero_point``, ``m``, ``shift``, ``params``, ``bias``).

A mismatch raises ``ScoreboardMismatch`` (an AssertionError, so cocotb fails the test) whose
message gives the expected and actual values, the explain step trace, the RTL faults
(refquant/audit/faults.py) that give the actual value, and a reproducing ``refquant explain``
command.
"""

import json
import shlex

from .. import ops
from .. import quantize as qz
from .. import requant as rq
from .. import trace
from ..errors import InvalidValueError, RefquantError, Unpredictable
from ..integers import Accumulator

OPS = ("requantize", "dot", "quantize")
PER_TRANSACTION = ("a_zero_point", "b_zero_point", "y_zero_point", "m", "shift", "params", "bias")


class ScoreboardMismatch(AssertionError):
    """A DUT output differs from the reference; the message says how and how to reproduce it."""


class Scoreboard:
    """Checks transactions of one op against the oracle (``reference='oracle'``) or the C kernel
    (``reference='kernel'``, queued and checked ``batch`` at a time)."""

    def __init__(self, op, method=None, backend=None, params=None, a_scale=None, b_scale=None, y_scale=None,
                 a_zero_point=0, b_zero_point=0, y_zero_point=0, a_type="int8", b_type="int8", y_type=None,
                 policy="wrap", qmin=None, qmax=None, profile=None, scale=None, reference="oracle", batch=256,
                 raise_on_mismatch=True):
        if op not in OPS:
            raise InvalidValueError(f"scoreboard op {op!r}; expected one of {', '.join(OPS)}")
        if reference not in ("oracle", "kernel"):
            raise InvalidValueError(f"reference {reference!r}; expected 'oracle' or 'kernel'")
        self.op, self.reference, self.batch = op, reference, max(1, int(batch))
        self.method = _method(op, method, backend)
        self.profile = profile or (_backend_profile(backend) if op == "quantize" and backend else "exact")
        self.base = {"a_zero_point": a_zero_point, "b_zero_point": b_zero_point, "y_zero_point": y_zero_point,
                     "params": params, "bias": None}
        self.scales = (a_scale, b_scale, y_scale)
        self.scale = scale
        self.a_type, self.b_type = a_type, b_type
        self.y_type = y_type or (a_type if op == "dot" else "int8")
        self.policy, self.qmin, self.qmax = policy, qmin, qmax
        self.raise_on_mismatch = raise_on_mismatch
        self.transactions, self.mismatches, self.unpredictable, self.failures = 0, 0, 0, []
        self._queue = []
        self._derived = None
        if reference == "kernel":
            from .kernel_ref import check_kernel_op
            check_kernel_op(self)

    # -- parameters ----------------------------------------------------------------------------
    def params_of(self, t):
        """The requantization Params of transaction inputs ``t`` (explicit, per transaction, or derived)."""
        p = t.get("params", self.base["params"])
        if "m" in t or "shift" in t:
            p = {**(p or {}), **{k: t[k] for k in ("m", "shift") if k in t}}
        if p is not None:
            return rq.make_params(self.method, p if isinstance(p, list) else [p])
        if self._derived is None:
            sa, sb, sy = self.scales
            if None in (sa, sb, sy):
                raise InvalidValueError("scoreboard: give params (e.g. {'m': .., 'shift': ..}) or a_scale, b_scale "
                                        "and y_scale")
            self._derived = rq.derive_params(self.method, sa, sb, sy, op="fc")
        return self._derived

    def value(self, t, key):
        return int(t.get(key, self.base[key]) or 0)

    # -- the reference ---------------------------------------------------------------------------
    def expected(self, t):
        """{'y': ..., 'acc': ...} for transaction inputs ``t`` under the oracle."""
        if self.op == "quantize":
            y = qz.quantize([float(t["x"])], self.scale, self.value(t, "y_zero_point"), self.y_type, self.profile)[0]
            return {"y": int(y)}
        acc = int(t["acc"]) if self.op == "requantize" else self._acc(t)
        try:
            y = int(rq.requantize_one(acc, self.method, self.params_of(t), self.value(t, "y_zero_point"),
                                      self.y_type, 0, self.qmin, self.qmax))
        except Unpredictable:
            y = None            # the method leaves this output undefined: only acc is checked
        return {"acc": acc, "y": y}

    def _acc(self, t):
        a, b = [int(v) for v in t["a"]], [int(v) for v in t["b"]]
        if len(a) != len(b):
            raise InvalidValueError(f"dot transaction: a has {len(a)} elements and b {len(b)}; expected equal lengths")
        bias = t.get("bias", self.base["bias"])
        res = ops.matmul_integer([a], [[v] for v in b], self.value(t, "a_zero_point"), self.value(t, "b_zero_point"),
                                 self.a_type, self.b_type, Accumulator(32, self.policy),
                                 bias=None if bias is None else [int(bias)])
        return int(res[0][0])

    # -- checking ------------------------------------------------------------------------------
    def check(self, inputs, actual):
        """Check one transaction: ``inputs`` (dict) and the DUT's ``actual`` outputs ({'y': .., 'acc': ..}
        or just the int y). Oracle: checked now. Kernel: queued, checked when the batch is full."""
        actual = {"y": actual} if not isinstance(actual, dict) else actual
        actual = {k: int(v) for k, v in actual.items()}
        self.transactions += 1
        if self.reference == "kernel":
            self._queue.append((dict(inputs), actual, self.transactions))
            if len(self._queue) >= self.batch:
                self.flush()
            return None
        return self._compare(inputs, actual, self.expected(inputs), self.transactions)

    def flush(self):
        """Check every queued transaction (kernel reference) in one batched call."""
        if not self._queue:
            return
        from .kernel_ref import expected_batch
        queue, self._queue = self._queue, []
        for (t, act, number), exp in zip(queue, expected_batch(self, [q[0] for q in queue])):
            self._compare(t, act, exp, number)

    def finish(self):
        """Flush, then return a summary dict; raises when any transaction mismatched."""
        self.flush()
        summary = {"op": self.op, "method": self.method, "reference": self.reference,
                   "transactions": self.transactions, "mismatches": self.mismatches,
                   "unpredictable": self.unpredictable}
        if self.mismatches and self.raise_on_mismatch:
            raise ScoreboardMismatch(f"{self.mismatches} of {self.transactions} transactions mismatched; "
                                     f"first:\n{self.failures[0]}")
        return summary

    def _compare(self, t, actual, exp, number):
        if exp.get("y", 0) is None:
            self.unpredictable += 1
        bad = [k for k in actual if exp.get(k) is not None and actual[k] != exp[k]]
        if not bad:
            return exp
        self.mismatches += 1
        msg = self.message(t, actual, exp, number)
        if len(self.failures) < 10:
            self.failures.append(msg)
        if self.raise_on_mismatch:
            raise ScoreboardMismatch(msg)
        return exp

    # -- the message -----------------------------------------------------------------------------
    def message(self, t, actual, exp, number=None):
        """Expected vs actual, the explain trace, the RTL faults that give actual, the command."""
        number = self.transactions if number is None else number
        lines = [f"refquant scoreboard: {self.op} transaction {number} mismatched ({self.method})"]
        for k in ("acc", "y"):
            if k in actual and k in exp:
                lines.append(f"  {k:<4} expected {exp[k]}, actual {actual[k]}" + ("   <-- differs" if actual[k] != exp[k] else ""))
        lines.append("  inputs: " + json.dumps({k: v for k, v in t.items()}, default=int)[:400])
        lines.append("  explain:")
        try:
            steps = self.explain(t)
            w = max(len(s.name) for s in steps)
            lines += [f"    {s.name:<{w}}  {trace.show(s.value):<26}  {s.formula}" for s in steps]
        except RefquantError as exc:
            lines.append(f"    (no trace: {exc})")
        faults = self.faults_giving(t, exp.get("acc"), actual.get("y"))
        if faults:
            lines.append("  the actual y is what these RTL faults give: " + ", ".join(faults))
        lines.append("  reproduce: " + self.command(t))
        return "\n".join(lines)

    def explain(self, t):
        if self.op == "quantize":
            return [trace.Step("x", "float input", repr(float(t["x"]))), trace.Step("profile", "", self.profile)]
        steps = []
        if self.op == "dot":
            bias = t.get("bias", self.base["bias"])
            ex = ops.explain_matmul_integer([[int(v) for v in t["a"]]], [[int(v)] for v in t["b"]], (0, 0),
                                            self.value(t, "a_zero_point"), self.value(t, "b_zero_point"),
                                            self.a_type, self.b_type, policy=self.policy,
                                            bias=None if bias is None else [int(bias)])
            steps = list(ex.steps)
        acc = int(t["acc"]) if self.op == "requantize" else self._acc(t)
        given = t.get("params", self.base["params"]) is not None or "m" in t
        return steps + [trace.Step(s.name, "given", s.value) if given and s.name.startswith("param ") else s
                        for s in self._requant_steps(t, acc)]

    def _requant_steps(self, t, acc):
        return rq.explain_requantize(acc, self.method, self.params_of(t), self.value(t, "y_zero_point"),
                                             self.y_type, 0, self.qmin, self.qmax)

    def faults_giving(self, t, acc, y):
        if acc is None or y is None or self.op == "quantize" or self.method not in ("tflite_single", "tflite_double"):
            return []
        from ..audit.faults import fault_names, fault_oracle, valid
        p = self.params_of(t).channel(0)
        lo, hi = rq.out_range(self.y_type, self.qmin, self.qmax)
        zp = self.value(t, "y_zero_point")
        return [name for name, base, f in fault_names(self.method)
                if valid(base, f, p) and fault_oracle(base, f, p, acc, zp, lo, hi) == y]

    def command(self, t):
        """A ``refquant explain`` command line that reproduces this transaction's trace."""
        sets = {"y_zero_point": self.value(t, "y_zero_point"), "y_type": self.y_type}
        if self.qmin is not None:
            sets["qmin"], sets["qmax"] = self.qmin, self.qmax
        if self.op == "quantize":
            args = ["refquant", "explain", "--op", "quantize", "--set", f"x=[{float(t['x'])!r}]",
                    "--set", f"scale={self.scale}", "--set", f"zero_point={sets['y_zero_point']}",
                    "--set", f"dtype={self.y_type}", "--profile", self.profile, "--index", "0"]
            return " ".join(shlex.quote(a) for a in args)
        p = self.params_of(t)
        if t.get("params", self.base["params"]) is not None or "m" in t:
            sets["params"] = p.channels[0]
        else:
            sets.update(a_scale=self.scales[0], b_scale=self.scales[1], y_scale=self.scales[2])
        if self.op == "requantize":
            args = ["refquant", "explain", "--op", "requantize", "--acc", str(int(t["acc"]))]
            index = "0"
        else:
            bias = t.get("bias", self.base["bias"])
            sets.update(a=[[int(v) for v in t["a"]]], b=[[int(v)] for v in t["b"]], a_type=self.a_type,
                        b_type=self.b_type, a_zero_point=self.value(t, "a_zero_point"),
                        b_zero_point=self.value(t, "b_zero_point"), policy=self.policy)
            if bias is not None:
                sets["bias"] = [int(bias)]
            args, index = ["refquant", "explain", "--op", "qlinear_matmul"], "0,0"
        for k, v in sets.items():
            text = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=_jsonable)
            args += ["--set", f"{k}={text}"]
        args += ["--method", self.method, "--index", index]
        return " ".join(shlex.quote(a) for a in args)


def _jsonable(v):
    return str(v) if not isinstance(v, int) else v


def _backend_profile(backend):
    from .. import backends
    return backends.get_backend(backend).profile()


def _method(op, method, backend):
    if op == "quantize":
        return None
    if backend is not None:
        from .. import backends
        m = backends.get_backend(backend).method("qlinear_matmul")
        if method is not None and method != m:
            raise InvalidValueError(f"backend {backend!r} requantizes with {m!r}, not method {method!r}; give one")
        return m
    m = method or "tflite_single"
    rq.get_method(m)
    return m

