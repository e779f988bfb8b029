"""Devices under test: one small adapter per kind, opened lazily inside the process that runs tasks.

Kinds: ``kernel`` (refquant's C twin), ``planted`` (the C kernel with one element perturbed in
seeded tasks: the campaign's own self-test), ``onnxruntime`` (QLinearMatMul / MatMulInteger on
the CPU execution provider), ``command`` (an external program: a simulator or a board, reading
the case as files and writing a dump; protocol in docs/campaigns.md) and ``python`` (any
``package.module:function`` returning an adapter).  ``register(kind, cls)`` adds a kind (the hook
for the LiteRT and OpenVINO adapters).

An adapter has ``run(case) -> array`` (the (M, N) outputs) and ``versions() -> dict``; its class
says which ops and operand types it takes and which backend row (refquant/backends.py) names the
requantization it is expected to match, so a spec is checked before any peer is imported.
"""

import importlib
import json
import os
import subprocess
import tempfile
import threading
import warnings
from types import MappingProxyType

import numpy as np

from .. import backends
from .. import requant as rq
from ..errors import InvalidValueError, RefquantError, UnknownNameError
from ..profiles import get_profile

DUT_KEYS = {"kind", "backend", "method", "profile", "timeout_s", "command", "factory", "engine", "path", "plant"}
ALL_OPS = ("qlinear_matmul", "matmul_integer", "quantize_linear", "qlinear_conv")


class DutTimeout(RefquantError):
    """The device under test did not answer within dut.timeout_s."""


class DutError(RefquantError):
    """The device under test failed (raised, exited non-zero, or wrote an unreadable dump)."""


class Dut:
    kind = ""
    backend = None                 # the backend row whose qlinear_matmul method the device implements
    ops = ("qlinear_matmul", "matmul_integer")
    a_types = b_types = ("int8", "uint8")
    policies = ("wrap", "saturate")
    type_pairs = MappingProxyType({})   # op -> the (a_type, b_type) pairs it takes, where not every pair

    def __init__(self, cfg, threads=None):
        self.cfg, self.threads = cfg, threads

    def run(self, case):
        raise NotImplementedError

    def versions(self):
        return {}

    @classmethod
    def default_backend(cls, cfg):
        """The backend row whose semantics the device implements when the spec names none."""
        return cls.backend

    @classmethod
    def check_cfg(cls, cfg):
        """Raise a RefquantError for a [dut] table this kind cannot take."""

    @classmethod
    def adjust_case(cls, cfg, case):
        """Fit a generated case to what the device takes (deterministic; applied before any run)."""


def _kernel_params(case):
    """(kernel method, params) of the case for refquant.kernel.qlinear_matmul."""
    kmeth = backends.kernel_method(case["method"])
    ka = case["params"].kernel_args()
    if kmeth == "float_fp32":
        kp = np.array(ka["M_bits"], np.uint32)
        return kmeth, kp if case["per_column"] else np.uint32(kp[0])
    m, s = np.array(ka["m"]), np.array(ka["shift" if "shift" in ka else "s"])
    return kmeth, (m, s) if case["per_column"] else (int(m[0]), int(s[0]))


class KernelDut(Dut):
    kind = "kernel"
    backend = None

    def run(self, case):
        from .. import kernel
        kernel.require()
        zb = np.asarray(case["zb"], np.int32) if case["per_column"] else int(case["zb"])
        path, th = self.cfg.get("path"), self.threads
        if case["op"] == "matmul_integer":
            return kernel.matmul_integer(case["a"], case["b"], case["za"], zb, policy=case["policy"], path=path,
                                         threads=th)
        kmeth, kp = _kernel_params(case)
        return kernel.qlinear_matmul(case["a"], case["b"], case["za"], zb, kmeth, kp, case["zy"],
                                     out_dtype=np.dtype(case["y_type"]), policy=case["policy"], path=path, threads=th)

    def versions(self):
        from .. import __version__, kernel
        return {"refquant": __version__, "kernel paths": ",".join(kernel.paths())}


class PlantedDut(KernelDut):
    """The C kernel with a planted fault: in tasks picked by (seed, task) at ``plant.rate``, the output
    at one seeded position (of the task's original shape) is off by ``plant.delta``; with
    ``plant.exit = true`` those tasks end the process instead (a device that crashes its host)."""
    kind = "planted"

    def run(self, case):
        y = np.array(super().run(case))
        hit = planted_position(case, self.cfg.get("plant", {}))
        if hit is not None and self.cfg["plant"].get("exit"):
            os._exit(70)
        if hit is not None:
            rows, cols = case.get("rows"), case.get("cols")
            r = np.flatnonzero(np.asarray(rows) == hit[0]) if rows is not None else [hit[0]]
            c = np.flatnonzero(np.asarray(cols) == hit[1]) if cols is not None else [hit[1]]
            if len(r) and len(c):
                info = np.iinfo(y.dtype)
                d = self.cfg.get("plant", {}).get("delta", 1)
                v = int(y[r[0], c[0]])
                y[r[0], c[0]] = v + d if info.min <= v + d <= info.max else v - d
        return y


def planted_position(case, plant):
    """(row, column) of the planted fault in this task's original shape, or None."""
    g = np.random.default_rng([int(case["seed"]), int(case["task"]), 0x9A17])
    if g.random() >= plant.get("rate", 0.05):
        return None
    M, N = case["shape0"]
    return int(g.integers(M)), int(g.integers(N))


class OrtDut(Dut):
    kind = "onnxruntime"
    backend = "onnxruntime"
    ops = ALL_OPS
    policies = ("wrap",)
    # onnxruntime 1.32.0 CPU: no QLinearMatMul / QLinearConv kernel for int8 x uint8 (NOT_IMPLEMENTED)
    type_pairs = MappingProxyType({"qlinear_matmul": (("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8")),
                                   "qlinear_conv": (("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8"))})

    def _open(self):
        if getattr(self, "_ort", None) is None:
            import onnx
            import onnxruntime as ort
            self._onnx, self._ort = onnx, ort
        return self._onnx, self._ort

    def _session(self, graph):
        onnx, ort = self._open()
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 21)])
        model.ir_version = 10
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if self.threads:
            so.intra_op_num_threads = so.inter_op_num_threads = int(self.threads)
        return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def _quantize(self, case):
        onnx, _ort = self._open()
        h, T = onnx.helper, onnx.TensorProto
        x = case["x"]
        per = case["per_column"]
        node = h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], **({"axis": 1} if per else {}))
        inits = [onnx.numpy_helper.from_array(np.asarray(case["scale"], np.float32), "s"),
                 onnx.numpy_helper.from_array(np.asarray(case["zp"]).astype(case["y_type"]), "z")]
        out = {"int8": T.INT8, "uint8": T.UINT8}[case["y_type"]]
        graph = h.make_graph([node], "campaign", [h.make_tensor_value_info("x", T.FLOAT, list(x.shape))],
                             [h.make_tensor_value_info("y", out, list(x.shape))], inits)
        return self._session(graph).run(None, {"x": x})[0]

    def _conv(self, case):
        onnx = self._open()[0]
        h, T = onnx.helper, onnx.TensorProto
        el = {"int8": T.INT8, "uint8": T.UINT8}
        g, x, w = case["geometry"], case["x"], case["w"]
        arr = onnx.numpy_helper.from_array
        node = h.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"],
                           kernel_shape=list(w.shape[2:]), strides=g["strides"], pads=g["pads"],
                           dilations=g["dilations"], group=g["group"])
        inits = [arr(np.float32(case["sa"]).reshape(()), "sx"), arr(np.array(case["za"], case["a_type"]), "zx"),
                 arr(w, "w"), arr(np.asarray(case["sb"], np.float32), "sw"),
                 arr(np.asarray(case["zb"]).astype(case["b_type"]), "zw"),
                 arr(np.float32(case["sy"]).reshape(()), "sy"), arr(np.array(case["zy"], case["y_type"]), "zy")]
        graph = h.make_graph([node], "campaign", [h.make_tensor_value_info("x", el[case["a_type"]], list(x.shape))],
                             [h.make_tensor_value_info("y", el[case["y_type"]], None)], inits)
        return self._session(graph).run(None, {"x": x})[0]

    def run(self, case):
        if case["op"] == "quantize_linear":
            return self._quantize(case)
        if case["op"] == "qlinear_conv":
            return self._conv(case)
        onnx = self._open()[0]
        h, T = onnx.helper, onnx.TensorProto
        el = {"int8": T.INT8, "uint8": T.UINT8}
        a, b = case["a"], case["b"]
        M, N = a.shape[0], b.shape[1]
        zb = np.asarray(case["zb"]).astype(case["b_type"])
        inits = [onnx.numpy_helper.from_array(b, "b"),
                 onnx.numpy_helper.from_array(np.array(case["za"], dtype=case["a_type"]), "za"),
                 onnx.numpy_helper.from_array(zb, "zb")]
        if case["op"] == "matmul_integer":
            node = h.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])
            out = T.INT32
        else:
            node = h.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
            out = el[case["y_type"]]
            inits += [onnx.numpy_helper.from_array(np.float32(case["sa"]).reshape(()), "sa"),
                      onnx.numpy_helper.from_array(np.asarray(case["sb"], np.float32), "sb"),
                      onnx.numpy_helper.from_array(np.float32(case["sy"]).reshape(()), "sy"),
                      onnx.numpy_helper.from_array(np.array(case["zy"], dtype=case["y_type"]), "zy")]
        graph = h.make_graph([node], "campaign", [h.make_tensor_value_info("a", el[case["a_type"]], list(a.shape))],
                             [h.make_tensor_value_info("y", out, [M, N])], inits)
        return self._session(graph).run(None, {"a": a})[0]

    def versions(self):
        onnx, ort = self._open()
        return {"onnxruntime": ort.__version__, "onnx": onnx.__version__}


class TorchDut(Dut):
    """torch quantized::linear on one quantized engine (``dut.engine``: x86, fbgemm, qnnpack, onednn):
    quint8 activations, qint8 weights per tensor or per output channel, no bias."""
    kind = "torch"
    ops = ("qlinear_matmul",)
    policies = ("wrap",)
    type_pairs = MappingProxyType({"qlinear_matmul": (("uint8", "int8"),)})
    ENGINES = ("x86", "fbgemm", "qnnpack", "onednn")

    @classmethod
    def default_backend(cls, cfg):
        return f"torch_{cfg.get('engine', 'x86')}"

    @classmethod
    def check_cfg(cls, cfg):
        if cfg.get("engine", "x86") not in cls.ENGINES:
            raise InvalidValueError(f"dut.engine = {cfg.get('engine')!r}; expected one of {', '.join(cls.ENGINES)}")

    @classmethod
    def adjust_case(cls, cfg, case):
        if cfg.get("engine", "x86") == "onednn":    # linear_prepack: "ONEDNN only supports symmetric weights"
            case["zb"] = np.zeros_like(case["zb"]) if case["per_column"] else 0

    def run(self, case):
        with warnings.catch_warnings():     # torch 2.13 deprecates quantized tensors; they are what is tested
            warnings.simplefilter("ignore")
            return self._run(case)

    def _run(self, case):
        import torch
        engine = self.cfg.get("engine", "x86")
        if engine not in torch.backends.quantized.supported_engines:
            raise DutError(f"torch {torch.__version__} has no quantized engine {engine!r} on this machine "
                           f"(it has {', '.join(torch.backends.quantized.supported_engines)})")
        torch.backends.quantized.engine = engine
        if self.threads:
            torch.set_num_threads(int(self.threads))
        xq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(case["a"]), float(case["sa"]), int(case["za"]))
        w = torch.from_numpy(np.ascontiguousarray(case["b"].T))
        if case["per_column"]:
            wq = torch._make_per_channel_quantized_tensor(w, torch.tensor(np.asarray(case["sb"], np.float64)),
                                                          torch.tensor(np.asarray(case["zb"], np.int64)), 0)
        else:
            wq = torch._make_per_tensor_quantized_tensor(w, float(case["sb"]), int(case["zb"]))
        packed = torch.ops.quantized.linear_prepack(wq, None)
        return torch.ops.quantized.linear(xq, packed, float(case["sy"]), int(case["zy"])).int_repr().numpy()

    def versions(self):
        import torch
        return {"torch": torch.__version__, "engine": self.cfg.get("engine", "x86")}


class TosaDut(Dut):
    """The TOSA reference model (tosa-tools): MATMUL (int8 x int8 -> int32, scalar zero points), then for
    qlinear_matmul RESCALE int32 -> int8 (scale32, per channel when the case is per column; the method's
    rounding: tosa_single SINGLE_ROUND, tosa_double DOUBLE_ROUND)."""
    kind = "tosa"
    backend = "tosa"
    a_types = b_types = ("int8",)
    policies = ("wrap",)

    @classmethod
    def adjust_case(cls, cfg, case):
        if case["per_column"]:     # MATMUL takes one B zero point; the scales stay per channel
            case["zb"] = np.full_like(case["zb"], case["zb"][0])

    def _open(self):
        if getattr(self, "_ts", None) is None:
            os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")   # no debugger fork on REQUIRE failures
            import tosa_reference_model as trm
            import tosa_serializer as ts
            from tosa.Op import Op
            from tosa.RoundingMode import RoundingMode
            self._ts, self._trm, self._op, self._rm = ts, trm, Op, RoundingMode
        return self._ts, self._trm, self._op, self._rm

    def run(self, case):
        ts, trm, Op, RM = self._open()
        M, K = case["a"].shape
        N = case["b"].shape[1]
        ser = ts.TosaSerializer("")
        a = ser.addPlaceholder([1, M, K], ts.DType.INT8, None)
        b = ser.addPlaceholder([1, K, N], ts.DType.INT8, None)
        zps = [ser.addConst([1], ts.DType.INT8, np.array([v], np.int8))
               for v in (case["za"], int(np.asarray(case["zb"]).reshape(-1)[0]))]
        attr = ts.TosaSerializerAttribute()
        attr.MatMulAttribute()
        if case["op"] == "matmul_integer":
            acc = ser.addOutput([1, M, N], ts.DType.INT32)
        else:
            acc = ser.addIntermediate([1, M, N], ts.DType.INT32)
        ser.addOperator(Op.MATMUL, [a.name, b.name, zps[0].name, zps[1].name], [acc.name], attr)
        if case["op"] == "qlinear_matmul":
            self._rescale(ser, ts, Op, RM, case, acc, [1, M, N])
        outputs, status = trm.run(bytes(ser.serialize()), [case["a"].reshape(1, M, K), case["b"].reshape(1, K, N)])
        if status.name != "TOSA_VALID":
            raise DutError(f"TOSA reference model status {status.name}")
        return np.asarray(outputs[0]).reshape(M, N)

    @staticmethod
    def _rescale(ser, ts, Op, RM, case, acc, shape):
        ka = case["params"].kernel_args()
        n = len(ka["m"])
        mult = ser.addConst([n], ts.DType.INT32, np.array(ka["m"], np.int32))
        shift = ser.addConst([n], ts.DType.INT8, np.array(ka["s"], np.int8))
        izp = ser.addConst([1], ts.DType.INT32, np.array([0], np.int32))
        ozp = ser.addConst([1], ts.DType.INT8, np.array([case["zy"]], np.int8))
        out = ser.addOutput(shape, ts.DType.INT8)
        attr = ts.TosaSerializerAttribute()
        double = case["method"] == "tosa_double"
        attr.RescaleAttribute(True, RM.DOUBLE_ROUND if double else RM.SINGLE_ROUND, n > 1, False, False)
        ser.addOperator(Op.RESCALE, [acc.name, mult.name, shift.name, izp.name, ozp.name], [out.name], attr)

    def versions(self):
        from importlib.metadata import version
        return {"tosa-tools": version("tosa-tools")}


class CommandDut(Dut):
    """An external program: ``command`` (placeholders {dir}, {case}, {out}) reads DIR/case.json and the
    $readmemh tensors DIR/a.hex, DIR/b.hex (DIR/x.hex for quantize_linear) and writes DIR/y.hex,
    one output word per line."""
    kind = "command"
    ops = ("qlinear_matmul", "matmul_integer", "quantize_linear")

    def run(self, case):
        from .repro import write_case
        with tempfile.TemporaryDirectory(prefix="refquant-dut-") as d:
            write_case(case, d)
            out = os.path.join(d, "y.hex")
            argv = [c.format(dir=d, case=os.path.join(d, "case.json"), out=out) for c in self.cfg["command"]]
            try:
                p = subprocess.run(argv, capture_output=True, timeout=self.cfg["timeout_s"], check=False)
            except subprocess.TimeoutExpired:
                raise DutTimeout(f"command {argv[0]} did not finish within {self.cfg['timeout_s']} s") from None
            except OSError as exc:
                raise DutError(f"cannot run command {argv[0]!r}: {exc.strerror}") from None
            if p.returncode != 0:
                tail = p.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
                raise DutError(f"command {argv[0]} exited {p.returncode}: {tail[0][:200]}")
            return read_dump(out, case)

    def versions(self):
        return {"command": " ".join(self.cfg["command"])[:200]}


def read_dump(path, case):
    """The (M, N) outputs in a $readmemh-style dump: one two's-complement hex word per line, '//' comments."""
    bits = 32 if case["op"] == "matmul_integer" else 8
    signed = case["op"] == "matmul_integer" or case["y_type"] == "int8"
    try:
        with open(path, encoding="utf-8") as f:
            words = [w for w in (line.split("//", 1)[0].strip() for line in f) if w]
    except (OSError, UnicodeDecodeError) as exc:
        raise DutError(f"cannot read the device's dump {os.path.basename(path)}: {exc}") from None
    from .cases import dims
    M, _K, N = dims(case)
    if len(words) != M * N:
        raise DutError(f"the device's dump holds {len(words)} words; expected {M * N} ({M}x{N} outputs)")
    try:
        v = np.array([int(w, 16) for w in words], dtype=np.int64)
    except ValueError:
        raise DutError("the device's dump holds a word that is not hex") from None
    if (v >> bits).any():
        raise DutError(f"the device's dump holds a word wider than {bits} bits")
    if signed:
        v = np.where(v >= 1 << (bits - 1), v - (1 << bits), v)
    return v.reshape(M, N)


class PythonDut(Dut):
    kind = "python"
    ops = ALL_OPS

    def run(self, case):
        if getattr(self, "_impl", None) is None:
            mod, _, fn = self.cfg["factory"].partition(":")
            try:
                self._impl = getattr(importlib.import_module(mod), fn)(self.cfg, self.threads)
            except (ImportError, AttributeError) as exc:
                raise DutError(f"cannot load dut.factory {self.cfg['factory']!r}: {exc}") from None
        return self._impl.run(case)

    def versions(self):
        impl = getattr(self, "_impl", None)
        return impl.versions() if hasattr(impl, "versions") else {"factory": self.cfg["factory"]}


KINDS = {c.kind: c for c in (KernelDut, PlantedDut, OrtDut, TorchDut, TosaDut, CommandDut, PythonDut)}


# Adapters that live in their own module, imported on first use (in the driver and in each worker):
# kind -> "package.module:Class".  A new peer's campaign adapter adds its line here.
ADAPTERS = {}


def register(kind, cls):
    """Add a device kind (a ``Dut`` subclass) in this process (serial runs, tests).  For Dask workers,
    list the adapter's module in ``ADAPTERS`` instead (or use kind "python")."""
    KINDS[kind] = cls


def dut_class(kind):
    """The ``Dut`` subclass of ``kind`` (importing an ``ADAPTERS`` module on first use)."""
    if kind not in KINDS and kind in ADAPTERS:
        mod, _, name = ADAPTERS[kind].partition(":")
        KINDS[kind] = getattr(importlib.import_module(mod), name)
    try:
        return KINDS[kind]
    except KeyError:
        raise UnknownNameError("dut kind", kind, known_kinds()) from None


def known_kinds():
    return sorted(set(KINDS) | set(ADAPTERS))


def method_of(dut_cfg, op="qlinear_matmul", per_axis=False):
    """The requantization method the device is expected to implement (dut.method, else its backend row's);
    for quantize_linear its quantize profile (dut.profile, else its backend row's)."""
    if op == "matmul_integer":
        return "int32"
    if op == "quantize_linear":
        if dut_cfg.get("profile"):
            return get_profile(dut_cfg["profile"]).name
        backend = dut_cfg.get("backend") or dut_class(dut_cfg["kind"]).default_backend(dut_cfg)
        if backend is None:
            raise InvalidValueError(f"dut kind {dut_cfg['kind']!r} needs dut.profile or dut.backend for "
                                    "quantize_linear (the quantize semantics it is expected to implement)")
        return backends.get_backend(backend).profile(per_axis)
    if dut_cfg.get("method"):
        return rq.get_method(dut_cfg["method"]).name
    backend = dut_cfg.get("backend") or dut_class(dut_cfg["kind"]).default_backend(dut_cfg)
    if backend is None:
        if dut_cfg["kind"] in ("kernel", "planted"):
            return "float_fp32"
        raise InvalidValueError(f"dut kind {dut_cfg['kind']!r} needs dut.method or dut.backend (the semantics "
                                "it is expected to implement)")
    return backends.get_backend(backend).method(op)


def check_spec(spec):
    """Raise a RefquantError when the device cannot run a regime of the spec."""
    cls = dut_class(spec["dut"]["kind"])
    cls.check_cfg(spec["dut"])
    method = method_of(spec["dut"]) if any(r["op"] == "qlinear_matmul" for r in spec["regimes"]) else None
    if (method and spec["dut"]["kind"] in ("kernel", "planted")
            and backends.kernel_method(method) in (None, "int32")):
        raise InvalidValueError(f"dut.method {method!r} is not one the C kernel implements (float_fp32, ort, "
                                "tflite_single, tflite_double, tosa_single, tosa_double, ...)")
    for r in spec["regimes"]:
        for per in r["per_column"]:
            method_of(spec["dut"], r["op"], per)
        for key, allowed in (("op", cls.ops), ("a_type", cls.a_types), ("b_type", cls.b_types),
                             ("policy", cls.policies)):
            vals = r[key] if isinstance(r[key], list) else [r[key]]
            bad = [v for v in vals if v not in allowed]
            if bad:
                raise InvalidValueError(f"regime {r['name']!r}: {key} {bad[0]!r} is not supported by dut kind "
                                        f"{cls.kind!r}; expected one of {', '.join(allowed)}")
        pairs = cls.type_pairs.get(r["op"])
        for a in r["a_type"]:
            for b in r["b_type"]:
                if pairs is not None and (a, b) not in pairs:
                    raise InvalidValueError(f"regime {r['name']!r}: {r['op']} of {a} x {b} is not supported by dut "
                                            f"kind {cls.kind!r}; expected a_type x b_type among "
                                            f"{', '.join(f'{x} x {y}' for x, y in pairs)} (one regime per pair)")


_OPEN = {}
_LOCK = threading.Lock()


def open_dut(dut_cfg, threads=None):
    """The process's adapter for this device (opened once per process and configuration)."""
    key = (json.dumps(dut_cfg, sort_keys=True), threads)
    with _LOCK:
        if key not in _OPEN:
            _OPEN[key] = dut_class(dut_cfg["kind"])(dut_cfg, threads)
        return _OPEN[key]


def call_with_timeout(fn, timeout):
    """fn() in a daemon thread; DutTimeout after ``timeout`` s (the hung call is abandoned, not killed:
    an in-process device cannot be stopped; an external command is killed by its own timeout)."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001  (handed back to the caller)
            box["error"] = exc
    t = threading.Thread(target=target, daemon=True, name="refquant-dut")
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise DutTimeout(f"the device did not answer within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
