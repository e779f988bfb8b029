"""The campaign spec: a TOML file read into a plain, validated, JSON-ready dict.

Every error names the file, the key, the value and what was expected (InvalidValueError /
FormatFileError; the CLI maps them to exit 2).  The validated dict is what travels to workers and
what the store keeps, so a resumed or replayed campaign regenerates exactly the same cases.
Format: docs/campaigns.md.
"""

import json
import tomllib

from ..errors import FormatFileError, InvalidValueError, RefquantError

OPS = ("qlinear_matmul", "matmul_integer", "quantize_linear", "qlinear_conv")
TYPES = ("int8", "uint8")
SCALES = ("random", "near_tie", "tie", "extreme")
ZERO_POINTS = ("random", "zero", "extreme")
POLICIES = ("wrap", "saturate")
REFERENCES = ("kernel", "numpy", "oracle")
BUDGETS = ("elements", "tasks", "seconds")
MAX_DIM = 1 << 16

_TOP = {"campaign", "dut", "reference", "regime", "budget"}
_REGIME_KEYS = {"name", "op", "weight", "m", "k", "n", "a_type", "b_type", "scales", "zero_points", "per_column",
                "policy", "batch", "channels", "size", "kernel", "stride", "pad", "dilation", "group"}
_CONV_DEFAULTS = {"batch": [1, 2], "channels": [1, 8], "size": [1, 12], "kernel": [1, 3], "stride": [1, 2],
                  "pad": [0, 1], "dilation": [1, 2], "group": [1, 2]}
_REGIME_DEFAULTS = {"op": "qlinear_matmul", "weight": 1.0, "m": [1, 64], "k": [1, 256], "n": [1, 64],
                    "a_type": ["uint8"], "b_type": ["int8"], "scales": ["random"], "zero_points": ["random"],
                    "per_column": [False], "policy": ["wrap"]}


class _Where:
    """Builds messages that name the spec file and the key."""

    def __init__(self, path):
        self.path = path

    def bad(self, key, value, expected):
        return InvalidValueError(f"campaign spec {self.path}: {key} = {value!r}; expected {expected}")


def load(path):
    """The validated spec dict of the TOML file at ``path``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FormatFileError(f"campaign spec {path!r} not found") from None
    except IsADirectoryError:
        raise FormatFileError(f"campaign spec {path!r} is a directory; expected a TOML file") from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FormatFileError(f"campaign spec {path}: not valid TOML ({exc})") from None
    return validate(raw, path)


def validate(raw, path="<spec>"):
    """A raw spec (the parsed TOML) checked and completed with defaults."""
    w = _Where(path)
    if not isinstance(raw, dict):
        raise w.bad("<top level>", raw, "a TOML table")
    extra = set(raw) - _TOP
    if extra:
        raise w.bad(min(extra), "...", f"one of the tables {', '.join(sorted(_TOP))}")
    camp = _table(w, raw, "campaign")
    spec = {"name": str(camp.get("name", "campaign")),
            "seed": _int(w, "campaign.seed", camp.get("seed", 0), 0, 2**63 - 1)}
    unknown = set(camp) - {"name", "seed"}
    if unknown:
        raise w.bad(f"campaign.{min(unknown)}", camp[min(unknown)], "only name and seed in [campaign]")
    spec["dut"] = _dut(w, _table(w, raw, "dut", required=True))
    spec["reference"] = _reference(w, _table(w, raw, "reference"), spec["dut"])
    regimes = raw.get("regime")
    if regimes is None:
        raise w.bad("regime", None, "at least one [[regime]] table")
    if not isinstance(regimes, list) or not regimes or not all(isinstance(r, dict) for r in regimes):
        raise w.bad("regime", regimes, "an array of tables ([[regime]])")
    spec["regimes"] = [_regime(w, i, r) for i, r in enumerate(regimes)]
    names = [r["name"] for r in spec["regimes"]]
    if len(set(names)) != len(names):
        raise w.bad("regime.name", names, "distinct regime names")
    spec["budget"] = _budget(w, _table(w, raw, "budget", required=True))
    from .duts import check_spec
    try:
        check_spec(spec)
    except RefquantError as exc:
        raise InvalidValueError(f"campaign spec {path}: {exc}") from None
    return spec


def _table(w, raw, key, required=False):
    t = raw.get(key)
    if t is None:
        if required:
            raise w.bad(key, None, f"a [{key}] table")
        return {}
    if not isinstance(t, dict):
        raise w.bad(key, t, f"a [{key}] table")
    return t


def _int(w, key, v, lo, hi):
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise w.bad(key, v, f"an integer in [{lo}, {hi}]")
    return v


def _number(w, key, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise w.bad(key, v, f"a number in [{lo}, {hi}]")
    return float(v)


def _dut(w, t):
    from .duts import DUT_KEYS, known_kinds
    kind = t.get("kind")
    if kind not in known_kinds():
        raise w.bad("dut.kind", kind, f"one of {', '.join(known_kinds())}")
    extra = set(t) - DUT_KEYS
    if extra:
        raise w.bad(f"dut.{min(extra)}", t[min(extra)], f"keys among {', '.join(sorted(DUT_KEYS))}")
    d = dict(t)
    d["timeout_s"] = _number(w, "dut.timeout_s", t.get("timeout_s", 60), 0.01, 86400)
    for key in ("backend", "method", "engine", "factory", "path"):
        if key in d and not isinstance(d[key], str):
            raise w.bad(f"dut.{key}", d[key], "a string")
    if kind == "command":
        cmd = t.get("command")
        if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
            raise w.bad("dut.command", cmd, 'a non-empty array of strings, e.g. ["./sim", "{dir}"]')
    if kind == "python" and ":" not in str(t.get("factory", "")):
        raise w.bad("dut.factory", t.get("factory"), 'a "package.module:function" that returns the DUT')
    if "plant" in d:
        p = d["plant"]
        if not isinstance(p, dict) or set(p) - {"rate", "delta", "exit"}:
            raise w.bad("dut.plant", p, "a table {rate = 0.05, delta = 1} (exit = true: end the process)")
        d["plant"] = {"rate": _number(w, "dut.plant.rate", p.get("rate", 0.05), 0, 1),
                      "delta": _int(w, "dut.plant.delta", p.get("delta", 1), -255, 255)}
        if p.get("exit"):
            d["plant"]["exit"] = True
    return d


def _reference(w, t, dut):
    extra = set(t) - {"kind", "sample"}
    if extra:
        raise w.bad(f"reference.{min(extra)}", t[min(extra)], "only kind and sample in [reference]")
    default = "numpy" if dut["kind"] in ("kernel", "planted") else "kernel"
    kind = t.get("kind", default)
    if kind not in REFERENCES:
        raise w.bad("reference.kind", kind, f"one of {', '.join(REFERENCES)}")
    if kind == "kernel" and dut["kind"] == "kernel":
        raise w.bad("reference.kind", kind, "numpy or oracle when the device under test is the C kernel itself")
    return {"kind": kind, "sample": _int(w, "reference.sample", t.get("sample", 64), 0, 1 << 20)}


def _choices(w, key, v, allowed):
    v = v if isinstance(v, list) else [v]
    if not v or any(x not in allowed for x in v):
        raise w.bad(key, v, f"a non-empty list drawn from {', '.join(map(str, allowed))}")
    return v


def _range(w, key, v):
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v, v]
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
            and 1 <= v[0] <= v[1] <= MAX_DIM):
        raise w.bad(key, v, f"an integer or [lo, hi] with 1 <= lo <= hi <= {MAX_DIM}")
    return list(v)


def _regime(w, i, r):
    extra = set(r) - _REGIME_KEYS
    if extra:
        raise w.bad(f"regime[{i}].{min(extra)}", r[min(extra)],
                    f"keys among {', '.join(sorted(_REGIME_KEYS))}")
    g = {**_REGIME_DEFAULTS, **(_CONV_DEFAULTS if r.get("op") == "qlinear_conv" else {}), **r}
    if g["op"] == "qlinear_conv" and "n" not in r:
        g["n"] = [1, 8]             # output channels per group
    g["name"] = str(r.get("name", f"regime{i}"))
    k = f"regime[{i}]"
    if g["op"] not in OPS:
        raise w.bad(f"{k}.op", g["op"], f"one of {', '.join(OPS)}")
    g["weight"] = _number(w, f"{k}.weight", g["weight"], 1e-9, 1e9)
    for dim in ("m", "k", "n"):
        g[dim] = _range(w, f"{k}.{dim}", g[dim])
    if g["op"] == "qlinear_conv":
        _conv_keys(w, k, g)
    for key, allowed in (("a_type", TYPES), ("b_type", TYPES), ("scales", SCALES), ("zero_points", ZERO_POINTS),
                         ("per_column", (False, True)), ("policy", POLICIES)):
        g[key] = _choices(w, f"{k}.{key}", g[key], allowed)
    return g


def _conv_keys(w, k, g):
    for key in ("batch", "channels", "size", "kernel", "stride", "dilation"):
        g[key] = _range(w, f"{k}.{key}", g[key])
    p = g["pad"] if isinstance(g["pad"], list) else [g["pad"], g["pad"]]
    if not (len(p) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in p) and 0 <= p[0] <= p[1] <= 64):
        raise w.bad(f"{k}.pad", g["pad"], "an integer or [lo, hi] with 0 <= lo <= hi <= 64")
    g["pad"] = p
    grp = g["group"] if isinstance(g["group"], list) else [g["group"]]
    if not grp or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64 for v in grp):
        raise w.bad(f"{k}.group", g["group"], "a list of group counts in [1, 64]")
    g["group"] = grp


def _budget(w, t):
    given = [b for b in BUDGETS if b in t]
    extra = set(t) - set(BUDGETS)
    if extra or not given:
        raise w.bad("budget", t, f"at least one of {', '.join(BUDGETS)} (e.g. elements = 1_000_000)")
    out = {}
    for b in given:
        out[b] = (_number(w, f"budget.{b}", t[b], 0.001, 1e9) if b == "seconds"
                  else _int(w, f"budget.{b}", t[b], 1, 10**15))
    return out


def canonical(spec):
    """The spec as canonical JSON text (what the store compares on --resume)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))
