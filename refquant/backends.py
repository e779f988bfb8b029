"""The backend table: what one peer, at one version, computes for each op.

A backend here is one implementation whose last bits refquant models: a runtime at a version
(onnxruntime 1.32.0), a reference implementation (the onnx ReferenceEvaluator), one engine of a
framework (torch's fbgemm, qnnpack and onednn engines), one kernel family (TFLite reference vs
its single-rounding build, XNNPACK), a specification (ONNX, TOSA), or a user's own hardware. Every
implementation-defined choice of that backend is one field of its row, the way SoftFloat keeps
every target choice in one specialization header:

    quantize     the ``profiles.PROFILES`` row its QuantizeLinear / quantize_per_tensor follows
    quantize_per_axis  the profile of its per-channel quantize, where that differs (torch)
    ops          op -> how that op computes: for the ops that requantize one accumulator
                 (``qlinear_matmul``, ``qlinear_conv``, ``linear``, ...) a ``requant.METHODS`` row;
                 for every other op (``add``, ``avg_pool``, ``sigmoid``, ...) a variant name in the
                 ``VARIANTS`` table of the spec module that defines the op (``VARIANT_MODULES``)
    versions     the peer versions the row was measured on (facts carry the version they hold for)
    deviations   known differences from the specification, as data: a short name, the text, the
                 golden vector ids that show it (``suite:id``) and the peer versions it was measured
                 on (``refquant verify PEER`` reads them; the models that compute it live in
                 ``refquant/peers/``)

Everything else that maps a backend to semantics (the audit's profile -> method map, the golden
kernel map, the verify notes) reads this table.  A user adds a row for their own hardware from
a TOML or JSON file with ``load_file``; no package file is edited.

Stdlib only, like every top-level module (docs/architecture.md).
"""

import importlib
from dataclasses import dataclass, field, replace

from .errors import InvalidValueError, UnknownNameError
from .backend_file import load_file  # noqa: F401  (the users' row reader; users call backends.load_file)
from .activations_int16 import DEVIATIONS as ACTIVATIONS_INT16_DEVIATIONS
from .litert_deviations import LITERT_NAMED
from .matmulnbits import DEVIATIONS as MATMULNBITS_DEVIATIONS
from .openvino import INT8_DEVIATION as OV_INT8_DEVIATION
from .profiles import PROFILES
from .requant import METHODS


@dataclass(frozen=True)
class Deviation:
    """A documented difference between a backend and the specification it implements."""
    name: str
    text: str
    vectors: tuple = ()        # golden vector ids "suite:tcNNNN" that exhibit it
    measured_on: tuple = ()    # peer versions on which a run showed the peer equal to the deviation's model
    op: str = ""               # the op this text describes, where one name covers several ops ("" = any)


@dataclass(frozen=True)
class Backend:
    name: str
    source: str                # what the row reproduces, with its public source and version
    quantize: str = "exact"    # a PROFILES key
    ops: dict = field(default_factory=dict)   # op name -> METHODS key
    versions: tuple = ()       # (distribution, version) pairs the row was measured on
    deviations: tuple = ()     # Deviation rows
    user: bool = False         # loaded from a user's file
    quantize_per_axis: str = None   # a PROFILES key where per-axis quantize differs from ``quantize``

    def profile(self, per_axis=False):
        """The quantize profile for a per-tensor (or, with ``per_axis``, per-channel) quantize."""
        return (self.quantize_per_axis or self.quantize) if per_axis else self.quantize

    def deviation(self, name, op=""):
        """The ``Deviation`` row called ``name`` (for ``op``, where the name has a row per op)."""
        rows = [d for d in self.deviations if d.name == name]
        for d in sorted(rows, key=lambda d: d.op != op):
            if d.op in ("", op):
                return d
        raise UnknownNameError(f"deviation of backend {self.name!r}", name, [d.name for d in self.deviations])

    def method(self, op):
        """The requantization method this backend uses for ``op`` (UnknownNameError if it has none)."""
        try:
            return self.ops[op]
        except KeyError:
            raise UnknownNameError(f"op of backend {self.name!r}", op, self.ops) from None


def _ops(matmul, conv=None, **more):
    """The common case: one method for QLinearMatMul (and linear), one for QLinearConv."""
    return {"qlinear_matmul": matmul, "qlinear_conv": conv or matmul, **more}


_ORT = (("onnxruntime", "1.32.0"),)
_ONNX = (("onnx", "1.21.0"),)
_TORCH = (("torch", "2.13.0"),)
# The specification ideal (variant "exact") of every op beyond requantization: refquant/qops.py and
# refquant/movement.py (exact rationals, one RNE rounding, saturate; data movement is exact everywhere).
_IDEAL_OPS = {op: "exact" for op in (
    "add", "sub", "mul", "requantize", "leaky_relu", "relu", "clamp", "avg_pool", "max_pool", "mean",
    "global_avg_pool", "concat", "reshape", "transpose", "flatten", "squeeze", "unsqueeze", "slice", "gather",
    "concat_same", "pad", "resize_nearest", "identity")}
# onnxruntime 1.32.0 CPU (refquant/onnx_ops.py 'ort'): its MLAS arithmetic where it rounds; MaxPool and data
# movement are exact.
_ORT_OPS = {**_IDEAL_OPS, **{op: "ort" for op in ("add", "mul", "avg_pool", "global_avg_pool", "concat", "qgemm",
                                                  "dynamic_quantize_matmul", "resize_nearest")}}
for _op in ("sub", "requantize", "leaky_relu", "relu", "clamp", "mean"):
    del _ORT_OPS[_op]   # no com.microsoft QLinear kernel of its own (a2 owns QLinearLeakyRelu)

# The peer versions each named deviation was measured on: on each, ``refquant verify PEER`` showed
# the peer equal to the deviation's model on every element of its rows.  A version is added only
# after that run reproduces the deviation on it.  On onnxruntime 1.32.0 every ORT deviation
# reproduced except float16 +inf, which 1.32.0 saturates to qmax (measured on 1.31.1 only).
_ORT_BOTH, _ORT_OLD, _ONNX_1_21, _TORCH_2_13 = ("1.31.1", "1.32.0"), ("1.31.1",), ("1.21.0",), ("2.13.0",)
_ORT_CONV = ("ORT QLinearConv: binary32 chain M = fl(fl(sx*sw_m)/sy), fl(fl(acc)*M), RNE (refquant method 'ort')")
_ONNX_REF_CONV = ("onnx 1.21.0 reference QLinearConv: f64 product R*M + zp, np.clip, then np.round (refquant method "
                  "'onnx_ref_conv')")


def _dev(name, text, measured_on, op=""):
    return Deviation(name, text, (), measured_on, op)


_ORT_DEVIATIONS = (
    _dev("ORT fp8 E4M3FN saturate=0", "ORT gives +-448 for |x/s| in [480, 496) where the spec (and onnx reference) "
         "give NaN (docs/reference/onnx.md §5)", _ORT_BOTH),
    _dev("ORT fp8 E5M2 saturate=0", "ORT gives NaN for |x/s| in [61440, 65536) (the 61440 tie included) where the "
         "spec gives +-inf (docs/reference/onnx.md §5)", _ORT_BOTH),
    _dev("binary32 requantization (ORT MLAS)", "binary32 requantization M = fl(fl(sa*sb)/sy), v = fl(fl(acc)*M), "
         "RNE: rounds near-ties differently from the exact spec result (docs/reference/onnx.md §3; refquant method "
         "'ort')", _ORT_BOTH),
    _dev("binary32 requantization (ORT QLinearConv)", _ORT_CONV, _ORT_BOTH),
    _dev("ORT QLinearConv saturating int32 (zero-point-0 weights)", "raw sum x*w in a saturating int32, kernel "
         "positions outer, 4 channels a step, then wrap(bias - zx*sum(w)) (refquant.mlas_convsym; onnx.md §4)", ("1.32.0",)),
    _dev("refquant profile 'onnxruntime'", "onnxruntime MLAS QuantizeLinear: divps, clamp in float, cvtps2dq "
         "(refquant profile 'onnxruntime'; docs/reference/onnx.md §5)", _ORT_BOTH),
    _dev("refquant method 'ort'", "binary32 requantization M = fl(fl(sa*sb)/sy), v = fl(fl(acc)*M), RNE (refquant "
         "method 'ort'; docs/reference/onnx.md §3)", _ORT_BOTH, "qlinear_matmul"),
    _dev("refquant method 'ort'", _ORT_CONV, _ORT_BOTH, "qlinear_conv"),
    _dev("ORT fp16 QuantizeLinear: +inf -> qmin", "onnxruntime QuantizeLinear with float16 x gives qmin for x = +inf "
         "where its float32 path (and refquant profile 'onnxruntime', which widens fp16 to f32) saturates to qmax; "
         "found by the golden fp16_input vector (docs/audit.md §4)", _ORT_OLD),
)
# The com.microsoft quantized ops of onnxruntime 1.32.0 (refquant/onnx_ops.py variant 'ort'; docs/ops.md).
_ORT_1_32 = ("1.32.0",)
_ORT_VARIANT = "refquant variant 'ort'"
_ORT_QOPS_DEVIATIONS = (
    _dev(_ORT_VARIANT, "QLinearAdd, MLAS AVX2: rA = fl(sa/sy), rB = fl(sb/sy), fixed = fl(zy - fma(rA, za, fl(rB*zb))), "
         "v = fma(a, rA, fma(b, rB, fixed)), RNE, saturating packs: near-ties round differently from the exact sum",
         _ORT_1_32, "add"),
    _dev("ORT QLinearAdd: result depends on the broadcast input", "where A is the broadcast (span scalar) input "
         "onnxruntime exchanges A and B in the MLAS kernel, so the FMA chain rounds in the other order: A = [47] "
         "gives 21 where A = [47, 47] gives 20 (exact 20; docs/ops.md)", _ORT_1_32, "add"),
    _dev(_ORT_VARIANT, "QLinearMul, MLAS SSE2: M = fl(fl(sa*sb)/sy), v = fl(fl((a-za)(b-zb)*M) + zy), RNE, saturating "
         "packs: near-ties round differently from the exact product", _ORT_1_32, "mul"),
    _dev(_ORT_VARIANT, "QLinearAveragePool: xf = fl(sx*(x-zx)), window sum and mean in binary32, nearbyint(fl(y/sy) + "
         "zy): near-ties round differently from the exact mean", _ORT_1_32, "avg_pool"),
    _dev("ORT QLinearAveragePool: count_include_pad counts the ceil_mode overhang", "with count_include_pad = 1 "
         "onnxruntime divides by the whole kernel size, also for a ceil_mode window that reaches past the end "
         "padding (the spec and the onnx reference count only positions inside the padded input)", _ORT_1_32,
         "avg_pool"),
    _dev(_ORT_VARIANT, "QLinearGlobalAveragePool, MLAS: integer sum, scale = fl(sx/fl(sy*N)), v = fl(fl(acc)*scale), "
         "float clamp, RNE: near-ties round differently from the exact mean", _ORT_1_32, "global_avg_pool"),
    _dev(_ORT_VARIANT, "QLinearConcat: inputs with other parameters go through MlasQuantizeLinear(fl(sx*(x-zx))) "
         "(divps, RNE): two roundings where the spec has one", _ORT_1_32, "concat"),
    _dev(_ORT_VARIANT, "QGemm: s_j = fl(fl(alpha*sa)*sb_j) (/ sy in binary32), v = fl(fl(acc)*s_j), float clamp, RNE "
         "(MlasRequantizeOutput); float output fl(fl(acc)*s_j): roundings the exact product does not have", _ORT_1_32,
         "qgemm"),
    _dev(_ORT_VARIANT, "DynamicQuantizeMatMul: A by ORT's DynamicQuantizeLinear (profile 'onnxruntime'), y = "
         "fl(fl(fl(acc)*fl(sa*sb_j)) + bias_j): binary32 steps where the exact result rounds once", _ORT_1_32,
         "dynamic_quantize_matmul"),
    _dev("ORT Resize nearest: binary32 coordinates", "variant 'ort' (refquant/onnx_resize.py): out = trunc(fl32(s*in)) "
         "(3 at 5/3f: 5, spec 4), s = fl32(out/in) from sizes, binary32 coordinates (7 -> 19, half_pixel, ceil: "
         "output 9, exactly 3, is 3.0000002 -> 4), a fraction within 1e-6 of 1/2 is a tie (0.49999994 -> 1 under "
         "round_prefer_ceil), an output of the input's shape is a copy (5 at 1.19, asymmetric, floor: [0..4], spec "
         "[0, 0, 1, 2, 3]); docs/ops.md", _ORT_1_32, "resize_nearest"),
)
# The QDQ form of the quantized ops in the onnx 1.21.0 reference (refquant/onnx_ops.py variant 'onnx_ref').
_REF_VARIANT = "refquant variant 'onnx_ref'"
_REF_QOPS = ("add", "sub", "mul", "requantize", "relu", "clamp", "leaky_relu", "avg_pool", "global_avg_pool", "concat",
             "mean")
_ONNX_REF_OPS = {**{op: v for op, v in _IDEAL_OPS.items() if op != "mean"},
                 **{op: "onnx_ref" for op in _REF_QOPS + ("resize_nearest", "slice")}}
_ONNX_REF_QOPS_DEVIATIONS = tuple(
    _dev(_REF_VARIANT, f"QDQ {op} in the onnx reference: DequantizeLinear fl((x - zp)*s), the float op in numpy "
         "float32 (pooling: numpy's pairwise sum, then one division), QuantizeLinear x/s, rint: several binary32 "
         "roundings where the spec has one (docs/ops.md)", _ONNX_1_21, op) for op in _REF_QOPS)
_ONNX_REF_SLICE = _dev("onnx reference Slice: numpy slicing", "variant 'onnx_ref' (refquant/movement.py "
                       "slice_onnx_ref): a negative step with start and end both below -dim gives an empty axis "
                       "(numpy's clamp to -1), where the spec clamps start to 0 and takes x[0] (12 of 726 cases; "
                       "onnxruntime follows the spec)", _ONNX_1_21, "slice")
_ONNX_REF_RESIZE = _dev("onnx reference Resize nearest: float64 coordinates, fractional output length", "variant "
                        "'onnx_ref' (refquant/onnx_resize.py): float64 coordinates from the unrounded length in*scale "
                        "(align_corners, 7 at 0.6, floor: [0, 1, 3, 5], spec [0, 2, 4, 6]); the two neighbours taken "
                        "around fl64(c + 1) in the edge-padded axis (7 -> 17, pytorch_half_pixel, round_prefer_floor: "
                        "output 8, exactly 3, is 3.0000000000000004 and picks 2, spec 3); docs/ops.md",
                        _ONNX_1_21, "resize_nearest")
_ONNX_REF_DEVIATIONS = (
    _dev("onnx reference wraps (no saturation)", "onnx 1.21.0 reference QLinearMatMul casts with astype: "
         "out-of-range results wrap instead of saturating (onnx/onnx#7835, fixed by PR #7868; "
         "docs/reference/onnx.md §3)", _ONNX_1_21),
    _dev("binary64 requantization (onnx reference)", "binary64 product acc*M with M in the scale dtype (refquant "
         "method 'onnx_ref'): near-ties differ from the exact result (docs/reference/onnx.md §3)", _ONNX_1_21),
    _dev("binary64 product, clip, round (onnx reference QLinearConv)", _ONNX_REF_CONV, _ONNX_1_21),
    _dev("refquant profile 'onnx_ref'", "onnx 1.21.0 reference QuantizeLinear: numpy x / scale, rint, astype int32, "
         "+ zp, clip (refquant profile 'onnx_ref')", _ONNX_1_21),
    _dev("refquant method 'onnx_ref'", "onnx 1.21.0 reference QLinearMatMul: f64 product, rint, astype wraps "
         "(onnx/onnx#7835; refquant method 'onnx_ref')", _ONNX_1_21),
    _dev("refquant method 'onnx_ref_conv'", _ONNX_REF_CONV, _ONNX_1_21),
)
# torch's quantize does not depend on the engine: every engine row carries these.
_TORCH_QUANTIZE_DEVIATIONS = (
    _dev("x*(1/s) with fused zero point", "torch quantize_per_tensor computes RNE(fma(x, fl(1/s), zp)): x*(1/s) "
         "instead of x/s, so binary32 near-ties of x/s round differently (docs/reference/requant.md §4; refquant "
         "profile 'torch')", _TORCH_2_13),
    _dev("x*(1/s), zero point added in binary32", "torch quantize_per_channel: RNE(fl(fl(x*inv) + zp)) (refquant "
         "profile 'torch_qint32')", _TORCH_2_13),
    _dev("refquant profile 'torch'", "torch quantize_per_tensor computes RNE(fma(x, fl(1/s), zp)) (refquant profile "
         "'torch'; docs/reference/requant.md §4)", _TORCH_2_13),
    _dev("refquant profile 'torch_qint32'", "torch quantize_per_channel: RNE(fl(fl(x*inv) + zp)) (refquant profile "
         "'torch_qint32')", _TORCH_2_13),
)


def _torch_engine(engine, method):
    """One engine's deviations: quantize, binary32 requantization, int16 pair sums (x86 without VNNI)."""
    pairs = () if engine == "qnnpack" else (_dev(f"{engine} int16 pair saturation without VNNI", "without VNNI two u8 x s8 "
        "products add into a saturating int16 first (refquant.x86_pairs; requant.md §7 rows 20, 22)", _TORCH_2_13),)
    return _TORCH_QUANTIZE_DEVIATIONS + (
        _dev(f"{engine} binary32 requantization", f"{METHODS[method].reproduces} (docs/reference/requant.md §4; "
             f"refquant method '{method}')", _TORCH_2_13),) + pairs

def _torch_row(engine, method, linear, what):
    """One torch 2.13.0 quantized engine: its requantization, per-axis quantize and named deviations."""
    return Backend(f"torch_{engine}", f"torch quantized::linear, {what}", "torch",
                   _ops(method, linear=linear), _TORCH, _torch_engine(engine, method),
                   quantize_per_axis="torch_qint32")


# Reproduces: ai-edge-litert 2.3.0 (TFLite) per kernel family, measured through refquant/peers/litert.py;
# docs/ops.md "TFLite / LiteRT ops" lists the cases and the named deviations.
_LITERT = (("ai-edge-litert", "2.3.0"),)
# Op -> variant of refquant/tflite_ops.py per family (int8; int16 ops that XNNPACK declines run the
# optimized kernels, so their variant is the optimized family's).
_LITERT_REF_OPS = {"add": "tflite_ref", "sub": "tflite_ref", "mul": "tflite_ref", "quantize": "tflite_ref",
                   "dequantize": "tflite_ref", "average_pool_2d": "tflite_ref", "max_pool_2d": "tflite_ref",
                   "mean": "tflite_ref", "concatenation": "tflite_ref", "tflite_pad": "tflite_ref",
                   "resize_nearest_neighbor": "tflite_ref", "resize_bilinear": "tflite_ref",
                   "fully_connected_16x8": "tflite_fc_float", "conv_2d_16x8": "tflite_ref",
                   "depthwise_conv_2d_16x8": "tflite_ref"}
_LITERT_OPT_OPS = {**_LITERT_REF_OPS, "add": "tflite_optimized", "mul": "tflite_optimized", "quantize": "tflite_optimized",
                   "dequantize": "tflite_optimized", "mean": "tflite_optimized"}
_LITERT_XNN_OPS = {**_LITERT_REF_OPS, "add": "xnnpack", "sub": "xnnpack", "mul": "xnnpack", "quantize": "xnnpack",
                   "mean": "xnnpack", "resize_bilinear": "xnnpack"}
def _litert_devs(ops):
    """The named deviations of a LiteRT row: one per op whose variant or method is not the ideal."""
    out = []
    for op, name in ops.items():
        named = LITERT_NAMED.get((op, name)) or LITERT_NAMED.get(("*", name))
        if named:
            out.append(Deviation(named[0], named[1] + "; measured through refquant verify litert", (), ("2.3.0",),
                                 op))
    return tuple(out)


_LITERT_REF = {"fully_connected": "tflite_fc_float", "conv_2d": "tflite_double", "depthwise_conv_2d": "tflite_double",
               **_LITERT_REF_OPS}
_LITERT_OPT = {"fully_connected": "ruy_x86", "conv_2d": "ruy_x86", "depthwise_conv_2d": "tflite_optimized",
               **_LITERT_OPT_OPS}
_LITERT_XNN = {"fully_connected": "xnnpack_fp32", "conv_2d": "xnnpack_fp32", "depthwise_conv_2d": "xnnpack_fp32",
               **_LITERT_XNN_OPS}
_LITERT_ROWS = (
    Backend("litert_ref", "ai-edge-litert 2.3.0, BUILTIN_REF op resolver (tensorflow/lite/kernels/internal/"
            "reference, double-rounding build)", "tflite", _LITERT_REF, _LITERT, _litert_devs(_LITERT_REF)),
    Backend("litert_optimized", "ai-edge-litert 2.3.0, BUILTIN_WITHOUT_DEFAULT_DELEGATES (optimized_ops, ruy, "
            "no delegate)", "torch_fake_quant", _LITERT_OPT, _LITERT, _litert_devs(_LITERT_OPT)),
    Backend("litert_xnnpack", "ai-edge-litert 2.3.0, BUILTIN op resolver with the default XNNPACK delegate "
            "(int8 ops it takes; int16 ops and int8 AVERAGE_POOL_2D run the optimized kernels)",
            "torch_fake_quant", _LITERT_XNN, _LITERT, _litert_devs(_LITERT_XNN)),
)

def _tosa_ops(chain):
    """The TOSA rows' variants (refquant/tosa.py VARIANTS): the quantized add/sub/mul RESCALE chains
    in the row's rounding mode, the integer operators as the spec defines them."""
    ops = {op: "tosa" for op in ("tosa_add_i32", "tosa_sub_i32", "tosa_mul_i32", "tosa_table", "tosa_avg_pool2d",
                                 "tosa_max_pool2d", "tosa_reduce_sum", "tosa_clamp", "tosa_arithmetic_right_shift")}
    tables = {op: "tosa_table" for op in ("sigmoid", "tanh", "sigmoid_int16", "tanh_int16")}   # tosa_tables.py
    return {**ops, **tables, "add": chain, "sub": chain, "mul": chain}


_TOSA = (("tosa-tools", "2026.8.0"),)
_TOSA_DEVIATIONS = (
    _dev("tosa-tools MUL int32 shift 63: int64 wrap of product + 2^62", "tosa-tools 2026.8.0 reference model "
         "MUL int32 with shift 63 adds the rounding 2^62 to the 64-bit product in wrapping int64: (-2^31)*(-2^31) "
         "+ 2^62 = 2^63 wraps, giving -1 where the TOSA 1.0 pseudo-code's exact value is 1 (only a = b = -2^31; "
         "docs/ops.md, TOSA operators)", ("2026.8.0",), "tosa_mul_i32"),
)


# Reproduces: onnxruntime 1.32.0 MatMulNBits, AVX-512 CPU kernels, one thread (texts: refquant/matmulnbits.py).
_ORT_MATMULNBITS_DEVIATIONS = tuple(_dev(n, t, ("1.32.0",), "matmul_nbits") for n, t in MATMULNBITS_DEVIATIONS.items())

# Reproduces: NVFP4 / OCP MX semantics that no installed peer runs (refquant/nvfp4.py, refquant/mxdot.py;
# docs/llm-formats.md §3): rows that own the named variants, without measured versions.
_MODELLED_ROWS = (
    Backend("torchao_nvfp4", "torchao nvfp4_tensor.py _nvfp4_quantize (2025 source, element / scale; not measured)",
            "exact", {"nvfp4_quantize": "torchao"}),
    Backend("torchao_0_18_nvfp4", "torchao 0.18.0 prototype/mx_formats nvfp4_quantize: element x binary32 reciprocal "
            "of the scale (measured, tests/test_nvfp4_torchao.py)", "exact", {"nvfp4_quantize": "torchao_recip"},
            (("torchao", "0.18.0"),), (
                _dev("torchao NVFP4: reciprocal of the two-level scale", "x * fl(fl(1/s)/scale) in binary32, not "
                     "x / fl(s*scale): near-ties of the e2m1 grid round differently from the exact quotient "
                     "(refquant nvfp4 variant 'torchao_recip')", ("0.18.0",), "nvfp4_quantize"),)),
    Backend("mx_block_fp32", "an OCP MX v1.0 dot unit with exact block sums and a binary32 cross-block "
            "accumulator (the spec's implementation-defined DotGeneral, made explicit)", "exact",
            {"mx_dot": "block_fp32"}),
    Backend("mx_fp32_emulation", "a binary32 software emulation of OCP MX v1.0 dot products (scaled elements, "
            "one fused multiply-add chain)", "exact", {"mx_dot": "fp32_fma"}),
)

BACKENDS = {b.name: b for b in [
    *_MODELLED_ROWS,
    # Reproduces: the specifications themselves (exact rationals, one rounding).
    Backend("exact", "the specification ideal: RNE on exact rationals, saturate", "exact",
            _ops("exact", **_IDEAL_OPS, qgemm="exact", dynamic_quantize_matmul="exact", int32="int32", float_fp32="float_fp32", qonnx_quant="exact",
                 qonnx_bipolar_quant="exact", qonnx_trunc="exact", gguf_vec_dot="exact", matmul_nbits="exact", nvfp4_quantize="exact", mx_dot="exact",
                 fake_quantize="exact", fq_matmul="exact", fq_conv="exact")),
    Backend("onnx", "ONNX Operators.md, opsets 21-25: QuantizeLinear / QLinearMatMul / QLinearConv spec text",
            "onnx", _ops("exact", **_IDEAL_OPS)),
    Backend("onnx_ref", "onnx 1.21.0 ReferenceEvaluator (onnx/reference/ops/op_qlinear_*.py)", "onnx_ref",
            _ops("onnx_ref", "onnx_ref_conv", **_ONNX_REF_OPS), _ONNX, _ONNX_REF_DEVIATIONS + _ONNX_REF_QOPS_DEVIATIONS + (_ONNX_REF_RESIZE, _ONNX_REF_SLICE)),
    Backend("onnxruntime", "onnxruntime CPU EP (MLAS QuantizeLinear, QLinearMatMul, QLinearConv)", "onnxruntime",
            _ops("ort", **_ORT_OPS, matmul_nbits="ort_mlas_avx512"), _ORT,
            _ORT_DEVIATIONS + _ORT_QOPS_DEVIATIONS + _ORT_MATMULNBITS_DEVIATIONS),
    # Reproduces: torch 2.13.0 quantized::linear per engine (aten/src/ATen/native/quantized/cpu).
    _torch_row("fbgemm", "torch_fbgemm", "torch_fbgemm", "fbgemm engine"),
    _torch_row("x86", "torch_fbgemm", "torch_x86", "x86 engine (dispatches to fbgemm)"),
    _torch_row("qnnpack", "torch_qnnpack", "torch_qnnpack", "qnnpack engine"),
    _torch_row("onednn", "torch_onednn", "torch_onednn", "onednn engine (ideep)"),
    Backend("torch_fake_quant", "torch fake_quantize_per_{tensor,channel}_affine (QAT)", "torch_fake_quant",
            {}, _TORCH),
    # Reproduces: TensorFlow Lite kernels (tensorflow/lite/kernels/internal/reference, common.h).
    Backend("tflite", "TFLite reference kernels, default (double-rounding) build", "tflite",
            _ops("tflite_double", fully_connected_float="tflite_fc_float")),
    Backend("tflite_single_rounding", "TFLite built with TFLITE_SINGLE_ROUNDING (= ruy reference)", "tflite",
            _ops("tflite_single")),
    Backend("ruy_x86", "ruy AVX2-FMA / AVX-512 kernels (two roundings, ties to +inf)", "tflite", _ops("ruy_x86")),
    Backend("cmsis_nn", "CMSIS-NN arm_nn_requantize, default build", "tflite", _ops("cmsis_nn")),
    Backend("xnnpack", "XNNPACK fp32 requantization (qs8/qu8 gemm microkernels)", "tflite",
            _ops("xnnpack_fp32")),
    Backend("xnnpack_rndnu", "XNNPACK rndnu requantization (24-bit mantissa, ties to +inf)", "tflite",
            _ops("xnnpack_rndnu")),
    *_LITERT_ROWS,
    # Reproduces: TOSA 1.0 specification, RESCALE and the float quantize lowering.
    Backend("tosa", "TOSA 1.0 RESCALE scale32 SINGLE_ROUND; integer operators (refquant/tosa.py)", "tosa",
            _ops("tosa_single", **_tosa_ops("tosa_single")), _TOSA, _TOSA_DEVIATIONS),
    Backend("tosa_double_round", "TOSA 1.0 RESCALE scale32 DOUBLE_ROUND; integer operators (refquant/tosa.py)",
            "tosa", _ops("tosa_double", **_tosa_ops("tosa_double")), _TOSA, _TOSA_DEVIATIONS),
    # Reproduces: qonnx 1.0.0 custom_op/general (Quant, BipolarQuant, Trunc: numpy in binary32).
    Backend("qonnx", "qonnx 1.0.0 executable reference (execute_onnx): Quant / BipolarQuant / Trunc in binary32",
            "exact", {"qonnx_quant": "qonnx", "qonnx_bipolar_quant": "qonnx", "qonnx_trunc": "qonnx"},
            (("qonnx", "1.0.0"),), (
                _dev("binary32 x/s + z", "qonnx computes fl(fl(x/s) + z) before rounding: near-ties of x/s + z round "
                     "differently from the exact value (x = -1.35f, s = 0.1f, z = 3: qonnx -10, exact -11; "
                     "docs/ops.md, QONNX)", ("1.0.0",), "qonnx_quant"),
                _dev("HALF_UP / HALF_DOWN in binary32", "qonnx rounds HALF_UP as floor(fl(|y| + 0.5)) and HALF_DOWN as "
                     "ceil(fl(|y| - 0.5)) in binary32: |y| = 0.5 - 2^-25 gives HALF_UP 1 where the exact mode gives 0",
                     ("1.0.0",), "qonnx_quant"))),
    # Reproduces: openvino 2026.4.1 CPU plugin FakeQuantize (intel_cpu fake_quantize.cpp; snippets
    # fq_decomposition.cpp), measured with one inference thread.
    Backend("openvino_cpu", "openvino 2026.4.1 CPU plugin, default configuration (FakeQuantize as a snippets "
            "subgraph)", "exact", {"fake_quantize": "ov_cpu_snippets", "fq_matmul": "ov_cpu_int8",
                                   "fq_conv": "ov_cpu_int8", "ov_reduce_mean_fq": "ov_cpu_reduce",
                                   "ov_avg_pool_fq": "ov_cpu_pooling", "ov_mean_subgraph_fq": "ov_cpu_subgraph"},
            (("openvino", "2026.4.1"),), (
                _dev(*OV_INT8_DEVIATION, ("2026.4.1",), "fq_matmul"),
                _dev("residual Add fused into an int8 Convolution", "DQ -> Conv -> Q -> DQ -> Add(DQ(r)) -> Q runs as "
                     "one int8 Convolution with a sum: the convolution's QuantizeLinear -> DequantizeLinear is not "
                     "applied (its dequantized binary32 value is added), so the output differs from the ONNX model's "
                     "(docs/model.md §8: 50 of 512 elements of the zoo cnn)", ("2026.4.1",), "fq_conv"),
                _dev("mean and QuantizeLinear in one layer", "DQ -> AveragePool | GlobalAveragePool | ReduceMean -> Q "
                     "runs on the levels with the DequantizeLinear folded into a binary32 FakeQuantize range "
                     "(fl(fl(il/s) + zp)): exact ties of the ONNX semantics (the same grid before and after a mean of "
                     "4 levels) round off half-to-even (AveragePool 2x2: 248 of 248 ties, ReduceMean over 2x2: 66 of "
                     "128; docs/model.md §8)", ("2026.4.1",)),
                _dev("binary32 FakeQuantize (snippets)", "isc = fl((L-1)/fl(ih-il)), ish = fl(il*isc), "
                     "fl(fl(x*isc) - ish), RNE, fma(q, fl(fl(oh-ol)/(L-1)), ol): near-ties round differently from "
                     "the exact formula (u8 grid s = 0.3f, zp = 27, x = -6.15f: level 6, exact 7; docs/ops.md, "
                     "OpenVINO)",
                     ("2026.4.1",), "fake_quantize"),)),
    Backend("openvino_cpu_fq_node", "openvino 2026.4.1 CPU plugin with SNIPPETS_MODE=DISABLE (its FakeQuantize "
            "node, JIT)", "exact", {"fake_quantize": "ov_cpu"}, (("openvino", "2026.4.1"),), (
                _dev("binary32 FakeQuantize (fq_node)", "parameters in binary32 (input_scale = fl((L-1)/fl(ih-il)), "
                     "input_shift = fl(fl(-il*(L-1))/fl(ih-il))), then fma, RNE, fma: near-ties round differently "
                     "from the exact formula (docs/ops.md, OpenVINO)", ("2026.4.1",), "fake_quantize"),)),
    # Reproduces: the oneDNN and FBGEMM libraries called directly (not through torch).
    Backend("onednn_ref", "oneDNN reference matmul with output scales", "torch", _ops("onednn_ref")),
    Backend("onednn_jit", "oneDNN x64 JIT matmul (multiplies by fl(1/dst))", "torch", _ops("onednn_jit")),
    Backend("fbgemm_fixed", "FBGEMM RequantizeFixedPoint", "torch", _ops("fbgemm_fixed")),
    # Reproduces: ggml's CPU reference quantizers and scalar dots (refquant/gguf.py; docs/llm-formats.md §1).
    Backend("ggml_cpu", "ggml CPU backend as written in C (ggml-quants.c *_ref quantizers, ggml-cpu/quants.c "
            "ggml_vec_dot_*_generic; measured on the copy vendored in ggml-python 0.0.45)", "exact",
            {"gguf_quantize": "ggml_ref", "gguf_dequantize": "ggml_ref", "gguf_vec_dot": "ggml_generic",
             "gguf_lut_vec_dot": "ggml_generic"}),
    # Reproduces: ggml 0.13.1's own library as the pywhispercpp 1.5.1 wheel ships it (refquant/peers/ggml.py).
    Backend("ggml_x86_avx2", "ggml 0.13.1 (f24588a) CPU backend, the x86-64 AVX2+FMA+F16C build shipped in "
            "pywhispercpp 1.5.1: quantize_row_*_ref / dequantize_row_* through ggml_get_type_traits, and the vec_dot "
            "of ggml_get_type_traits_cpu (ggml-cpu/arch/x86/quants.c AVX2 kernels)", "exact",
            {"gguf_quantize": "ggml_avx2", "gguf_dequantize": "ggml_ref", "gguf_vec_dot": "ggml_avx2",
             "gguf_lut_vec_dot": "ggml_avx2"},
            (("pywhispercpp", "1.5.1"),), (
                _dev("ggml AVX2 table-type vec_dot order", "MXFP4/IQ4_NL x Q8_0: blocks in pairs into two "
                     "eight-lane fma accumulators, added lane by lane and by hsum_float_8, an odd last block as "
                     "fma(d, sumi, sumf), not the generic block-by-block fl(sumf + fl(d*sumi)) (refquant "
                     "gguf_lut_dot variant 'ggml_avx2'; docs/llm-formats.md §1)", ("1.5.1",), "gguf_lut_vec_dot"),
                _dev("ggml AVX2 Q8_0/Q8_1 activation rounding", "the CPU backend's from_float for Q8_0/Q8_1 (the "
                     "activations of a matrix product) multiplies by fl(127/amax) and rounds ties to even "
                     "(_mm256_round_ps), where quantize_row_q8_0_ref multiplies by 1/fl(amax/127) and rounds ties "
                     "away (roundf): codes differ on .5 ties (refquant gguf_avx2 variant 'ggml_avx2' of "
                     "gguf_quantize; docs/llm-formats.md §1)", ("1.5.1",), "gguf_quantize"),
                _dev("ggml AVX2 vec_dot order", "the AVX2 kernels sum eight int32 lanes (legacy pairs: 4 "
                     "consecutive products; K types: the elements e with (e mod 32) div 4 = lane), accumulate each "
                     "lane across blocks with a fused multiply-add by the block's scale product, add the lanes by "
                     "hsum_float_8 and the K mins in their own lanes or chain, not the generic kernels' order "
                     "(refquant gguf_avx2 variant 'ggml_avx2'; docs/llm-formats.md §1)", ("1.5.1",),
                     "gguf_vec_dot"),)),
    Backend("ggml_generic_gcc_fma", "ggml 0.13.1 (f24588a) scalar ggml_vec_dot_*_generic kernels as exported by "
            "the pywhispercpp 1.5.1 build (GCC, -ffp-contract=fast with -mfma)", "exact",
            {"gguf_quantize": "ggml_ref", "gguf_dequantize": "ggml_ref", "gguf_vec_dot": "ggml_generic_fma",
             "gguf_lut_vec_dot": "ggml_generic"},
            (("pywhispercpp", "1.5.1"),), (
                _dev("GCC contraction of ggml's generic kernels", "Q4_1/Q5_1 (dx*dy)*sumi + mx*sy, Q2_K "
                     "dall*isum - dmin*summs, Q4_K/Q5_K sums[l] += d*aux32[l] and sumf -= dmin*sumi are fused "
                     "multiply-adds in this build (refquant gguf variant 'ggml_generic_fma'; docs/llm-formats.md "
                     "§1)", ("1.5.1",), "gguf_vec_dot"),)),
    Backend("gguf_py", "gguf-py 0.19.0 gguf.quants (numpy port of ggml's reference quantizers)", "exact",
            {"gguf_quantize": "ggml_ref", "gguf_dequantize": "ggml_ref"}, (("gguf", "0.19.0"),), (
                _dev("gguf-py zero-block scale sign", "Q4_0/Q5_0 of a block whose first element is -0 and whose "
                     "elements are all zero: gguf-py stores d = +0 (0x0000) where ggml stores -0 (0x8000) "
                     "(docs/llm-formats.md §1)", ("0.19.0",), "gguf_quantize"),
                _dev("gguf-py zero minimum sign", "Q4_1/Q5_1 of a block whose minimum is zero, the first zero -0 "
                     "and a later +0: gguf-py's numpy min stores m = +0 where ggml keeps the first (-0) "
                     "(docs/llm-formats.md §1)", ("0.19.0",), "gguf_quantize"))),
]}

# Activations (refquant/activations.py): the variant each row uses per op, measured per row (docs/ops.md
# "Activations"); added to the rows above here, in one place.
_LITERT_ACT = {"sigmoid": "tflite_lut", "tanh": "tflite_lut", "leaky_relu": "tflite_ref", "hard_swish": "tflite_ref",
               "softmax": "tflite_optimized",   # XNNPACK declines int8 SOFTMAX: the optimized kernel runs
               "softmax_int16": "tflite_ref",   # one int16 kernel in every family
               "sigmoid_int16": "tflite_optimized", "tanh_int16": "tflite_optimized"}   # ref, but gemmlowp int16 at 2^-12
_ACTIVATION_OPS = {
    "exact": {"sigmoid": "exact", "tanh": "exact", "softmax": "exact", "hard_swish": "exact", "softmax_int16": "exact",
              "sigmoid_int16": "exact", "tanh_int16": "exact", "gelu": "exact", "quick_gelu": "exact"},
    "onnxruntime": {"sigmoid": "ort_qlinear", "leaky_relu": "ort_qlinear", "softmax": "ort_qlinear"},
    "litert_ref": {**_LITERT_ACT, "softmax": "tflite_ref", "sigmoid_int16": "tflite_ref", "tanh_int16": "tflite_ref"},
    "litert_optimized": _LITERT_ACT,
    "litert_xnnpack": {**_LITERT_ACT, "sigmoid": "xnnpack_lut", "tanh": "xnnpack_lut", "leaky_relu": "xnnpack"},
}
for _row, _act in _ACTIVATION_OPS.items():
    BACKENDS[_row].ops.update(_act)
_ORT_132, _LITERT_230 = ("1.32.0",), ("2.3.0",)
_LITERT_INT16_POT = tuple(_dev(n, t, _LITERT_230) for n, t in ACTIVATIONS_INT16_DEVIATIONS.items())
_ACTIVATION_DEVIATIONS = {
    "onnxruntime": (
        _dev("ORT QLinearSigmoid: MLAS logistic table", "com.microsoft QLinearSigmoid: a 256-entry table of MLAS's "
             "rational logistic approximation (FMA3 kernel on x86-64) of fl(sx*(q-zx)), quantized by "
             "MlasQuantizeLinear; near-ties differ from the ideal (refquant activations variant 'ort_qlinear'; "
             "docs/ops.md \"Activations\")", _ORT_132, "sigmoid"),
        _dev("ORT QLinearLeakyRelu: binary32 table", "com.microsoft QLinearLeakyRelu: a 256-entry table of "
             "v >= 0 ? v : fl(alpha*v), v = fl(sx*(q-zx)), quantized by MlasQuantizeLinear (refquant activations "
             "variant 'ort_qlinear')", _ORT_132, "leaky_relu"),
        _dev("ORT QLinearSoftmax: floor(1/y_scale), binary32", "com.microsoft QLinearSoftmax: exp table in "
             "binary64 libm stored as binary32, binary32 row sum, y = nearbyintf(e*floor(1/y_scale)/sum) + zp, int8 "
             "capped at 127: y_scale enters only as floor(1/y_scale) (refquant activations variant 'ort_qlinear')",
             _ORT_132, "softmax")),
    "litert_ref": (
        _dev("LiteRT int8 LOGISTIC/TANH: binary32 table, half away", "LUTPopulateInt8: the table of 1/(1+expf(-x)) "
             "or tanhf of fl(sx*(q-zx)), rounded half away from zero on fl(t*fl(1/sy)); expf/tanhf within their ulp "
             "bounds make some entries ImplementationDefined (refquant activations variant 'tflite_lut')",
             _LITERT_230),
        _dev("LiteRT LEAKY_RELU: two QuantizeMultiplier multipliers", "zy + MBQM(q-zx, M) with M_id = fl32(sx/sy), "
             "M_alpha = fl32(fl32(sx*alpha)/sy), double rounding (refquant activations variant 'tflite_ref')",
             _LITERT_230, "leaky_relu"),
        _dev("LiteRT HARD_SWISH: int16 fixed point", "hi-res input *128, int16 reluish multiplier, "
             "SaturatingDoublingHighMul, RDBPOT (refquant activations variant 'tflite_ref')", _LITERT_230,
             "hard_swish"),
        _dev("LiteRT int8 SOFTMAX reference: gemmlowp", "Q5.26 exp_on_negative_values with diff_min, Q12 sum, "
             "GetReciprocal (refquant activations variant 'tflite_ref')", _LITERT_230, "softmax"),
        _dev("LiteRT int16 SOFTMAX: interpolated LUTs", "exp and 1/(1+x) from 513-entry int16 tables "
             "(LUTPopulateInt16<double>), int32 sum normalized by its leading zeros (refquant activations variant "
             "'tflite_ref' of softmax_int16; every family)", _LITERT_230, "softmax_int16"),
        _dev("LiteRT int16 LOGISTIC/TANH: sigmoid_table_uint16 interpolation", "the input scaled onto 1/(3*4096) "
             "units, |v| >> 9 (TANH: >> 8) indexes a 256-entry table of sigmoid(i/24) in 0.16, the low bits "
             "interpolate (refquant activations_int16 variant 'tflite_ref')", _LITERT_230)),
    "litert_optimized": (
        _dev("LiteRT int8 SOFTMAX optimized: expf table", "expf table, binary32 sum and reciprocal, half away "
             "(refquant activations variant 'tflite_optimized')", _LITERT_230, "softmax"),) + _LITERT_INT16_POT,
    "litert_xnnpack": _LITERT_INT16_POT + (
        _dev("XNNPACK int8 sigmoid/tanh: binary32 table, lrintf", "init_lut_op: calculate_sigmoid / tanhf of "
             "fl(sx*(q-zx)), lrintf (RNE) of fl(t*fl(1/sy)) (refquant activations variant 'xnnpack_lut')",
             _LITERT_230),
        _dev("XNNPACK int8 leaky ReLU: 8-bit multipliers", "lrintf(256*fl(sx/sy)), lrintf(256*fl(p*alpha)), "
             "((q-zx)*m + 128) >> 8 (refquant activations variant 'xnnpack')", _LITERT_230, "leaky_relu")),
}
for _row, _devs in _ACTIVATION_DEVIATIONS.items():
    BACKENDS[_row] = replace(BACKENDS[_row], deviations=BACKENDS[_row].deviations + _devs)
# QDQ groups onnxruntime runs in float (not fused: optimizations below 'extended', mixed 8-bit or 16-bit types):
# DequantizeLinear -> float op -> QuantizeLinear (refquant/onnx_float.py; docs/ops.md, "QDQ graphs in onnxruntime").
_QDQ_FLOAT = ("qdq_avg_pool", "qdq_avg_pool_opset11_18", "qdq_global_avg_pool", "qdq_softmax", "qdq_gelu")
BACKENDS["exact"].ops.update({op: "exact" for op in _QDQ_FLOAT})
BACKENDS["onnxruntime"].ops.update({op: "ort_float" for op in _QDQ_FLOAT})
BACKENDS["onnx_ref"].ops.update({"qdq_avg_pool": "onnx_ref", "qdq_global_avg_pool": "onnx_ref"})
BACKENDS["onnx_ref"] = replace(BACKENDS["onnx_ref"], deviations=BACKENDS["onnx_ref"].deviations + (
    _dev("onnx reference Resize crop / aspect policy / axes", "variant 'onnx_ref' (refquant/onnx_resize.py): "
         "tf_crop_and_resize's output length ignores the roi (floor(s*in)), float32 roi with binary64 coordinates "
         "over the unrounded width s*in; keep_aspect_ratio_policy out = int(fl64(p*in) + 0.5) with p = fl64(out/in); "
         "negative axes fail (numpy transpose); docs/ops.md", _ONNX_1_21, "resize_nearest"),))
BACKENDS["onnxruntime"] = replace(BACKENDS["onnxruntime"], deviations=BACKENDS["onnxruntime"].deviations + (
    _dev("ORT float AveragePool: sequential binary32 window sum", "DQ -> AveragePool -> Q unfused: xf = fl(sx*(x-zx)), "
         "each window added one by one in binary32 (row-major), one binary32 division, MlasQuantizeLinear (refquant "
         "onnx_float variant 'ort_float'; numpy's pairwise sum, variant 'onnx_ref', differs)", _ORT_1_32, "qdq_avg_pool"),
    _dev("ORT float AveragePool-11..18: MlasPool column sums", "DQ -> AveragePool (opset 11-18) -> Q unfused: MlasPool; "
         "its vector kernel (2-3 D, last stride <= 2, kernels <= 32) sums each column down the rows in binary32, then "
         "the column sums left to right; kernel = input: the global lane sum; else row-major one by one; ceil_mode "
         "with count_include_pad runs onnxruntime's own loops (refquant onnx_float variant 'ort_float' of "
         "qdq_avg_pool_opset11_18)", _ORT_1_32, "qdq_avg_pool_opset11_18"),
    _dev("ORT float GlobalAveragePool: MlasPool lane sum", "DQ -> GlobalAveragePool -> Q unfused: four binary32 lanes "
         "reduced as ((l0 + l2) + (l1 + l3)), the tail one by one, one division, MlasQuantizeLinear (refquant "
         "onnx_float variant 'ort_float')", _ORT_1_32, "qdq_global_avg_pool"),
    _dev("ORT float Softmax: MLAS expf, binary32 sum", "DQ -> Softmax -> Q unfused: e = MLAS expf(fl(x - max)), binary32 "
         "row sum, y = fl(e*fl(1/sum)), MlasQuantizeLinear; outputs that depend on expf within 1 ulp or on the sum "
         "order are ImplementationDefined (refquant onnx_float variant 'ort_float')", _ORT_1_32, "qdq_softmax"),
    _dev("ORT Resize crop / aspect policy / axes", "variant 'ort' (refquant/onnx_resize.py): tf_crop_and_resize's "
         "output length ignores the roi (trunc(fl32(s*in)), spec floor(in*(end-start)*s)), an axis of scale 1 or a "
         "same-shape output is copied whatever the roi, binary32 crop coordinates; keep_aspect_ratio_policy takes "
         "the binary32 min/max of fl32(out/in) and rounds fl32(p*in) half away, and reads the axes attribute as "
         "written (negative axes: nothing is resized); docs/ops.md", _ORT_1_32, "resize_nearest"),
    _dev("ORT float Gelu: MLAS erf, binary32 steps", "DQ -> Gelu -> Q unfused: y = fl(fl(0.5*x)*fl(erf(fl(x*fl(M_SQRT1_2)))"
         " + 1)), MLAS erf within 1 ulp (ImplementationDefined where it matters), MlasQuantizeLinear (refquant "
         "onnx_float variant 'ort_float')", _ORT_1_32, "qdq_gelu"),
))
# Reproduces: tflite-micro reference kernels (tensorflow/lite/micro/kernels), measured through its Python
# interpreter wheel (refquant/peers/tflm.py, tests/test_tflm.py): LiteRT's reference family except int8 / int16x8
# FULLY_CONNECTED (QuantizeMultiplier + MBQM) and int8 LOGISTIC / TANH (gemmlowp fixed point).
_TFLM = "0.dev20261023182759"
# int16 SOFTMAX builds its tables with gen_lut<float> (variant 'tflm'), not LiteRT's LUTPopulateInt16<double>.
_TFLM_OPS = {**BACKENDS["litert_ref"].ops,
             "fully_connected": "tflite_double", "fully_connected_16x8": "tflite_double",
             "sigmoid": "tflm_fixed", "tanh": "tflm_fixed", "softmax_int16": "tflm"}
_TFLM_OWN = ("LiteRT int8 LOGISTIC/TANH", "TFLite FULLY_CONNECTED reference", "TFLite int16x8 FULLY_CONNECTED",
             "LiteRT int16 SOFTMAX")
BACKENDS["tflite_micro"] = replace(
    BACKENDS["litert_ref"], name="tflite_micro", ops=_TFLM_OPS, versions=(("tflite-micro", _TFLM),),
    source="tflite-micro reference kernels (tensorflow/lite/micro/kernels, wheel tflite-micro " + _TFLM + "): "
           "TFLite's reference arithmetic, FULLY_CONNECTED by QuantizeMultiplier + MBQM, int8 LOGISTIC / TANH in "
           "gemmlowp fixed point (kernels/internal/reference/integer_ops/logistic.h, tanh.h)",
    deviations=tuple(replace(d, measured_on=(_TFLM,)) for d in BACKENDS["litert_ref"].deviations
                     if not d.name.startswith(_TFLM_OWN)) + (
        _dev("tflite-micro FULLY_CONNECTED: QuantizeMultiplier + MBQM", "int8 and int16x8 FULLY_CONNECTED requantize "
             "with the double-rounding fixed-point multiplier per channel (method 'tflite_double'), where LiteRT's "
             "reference rounds a binary64 product ('tflite_fc_float')", (_TFLM,), "fully_connected"),
        _dev("tflite-micro FULLY_CONNECTED: QuantizeMultiplier + MBQM", "int16x8 FULLY_CONNECTED: as int8, with the "
             "int64 accumulator (method 'tflite_double')", (_TFLM,), "fully_connected_16x8"),
        _dev("tflite-micro int8 LOGISTIC/TANH: gemmlowp fixed point", "MBQM of q - zx into Q4.27, gemmlowp logistic / "
             "tanh, RDBPOT by 23 / 24 (refquant activations variant 'tflm_fixed'), where LiteRT builds a binary32 "
             "table", (_TFLM,), ""),
        _dev("tflite-micro int16 SOFTMAX: binary32 LUTs", "exp and 1/(1+x) tables from gen_lut<float> (every step in "
             "binary32, expf; the 1/(1+x) table is one lower at entry 160 and one higher at 294 than LiteRT's "
             "LUTPopulateInt16<double>), multiplier from the binary64 product sx*beta (refquant activations_int16 "
             "variant 'tflm')", (_TFLM,), "softmax_int16"),))
# Reproduces: onnxruntime 1.32.0 CPU EP QuantizeLinear-23/25 with a float16 scale (x rounded to fp16, fp16
# division; tests/test_onnx_mixed_dtypes.py, docs/profiles.md); every other op is the onnxruntime row's.
BACKENDS["onnxruntime_opset23_fp16_scale"] = replace(
    BACKENDS["onnxruntime"], name="onnxruntime_opset23_fp16_scale", quantize="onnxruntime_fp16_scale",
    ops=dict(BACKENDS["onnxruntime"].ops), versions=_ORT,
    source="onnxruntime CPU EP, opset >= 23 QuantizeLinear with a float16 scale (profile 'onnxruntime_fp16_scale'); "
           "QLinearMatMul, QLinearConv and the other ops as row 'onnxruntime'",
    deviations=tuple(d for d in BACKENDS["onnxruntime"].deviations if "1.32.0" in d.measured_on
                     and d.name != "refquant profile 'onnxruntime'") + (
        _dev("refquant profile 'onnxruntime_fp16_scale'", "onnxruntime QuantizeLinear-23/25 with a float16 scale: x "
             "rounded to fp16, one fp16 division, clamp in float, RNE, + zp, NaN -> qmin; profile 'onnxruntime' "
             "(binary32 division) differs on near-ties (docs/profiles.md)", ("1.32.0",)),))

# Spec modules that define ops beyond requantization.  Each has a ``VARIANTS`` table
# {op: {variant name: function}}: one readable function per backend arithmetic, each citing what
# it reproduces.  A backend row picks a variant per op; nothing else in the package branches on
# the backend's name.  One module per line (several engineers add to this tuple).
VARIANT_MODULES = (
    "nvfp4",
    "mxdot",
    "matmulnbits",
    "activations",
    "activations_int16",
    "tflite_ops",
    "tflite_conv",
    "gguf",
    "gguf_avx2",
    "gguf_lut_dot",
    "qops",
    "movement",
    "onnx_ops",
    "onnx_resize",
    "onnx_float",
    "onnx_gemm",
    "qonnx",
    "openvino",
    "openvino_layers",
    "tosa",
    "tosa_tables",
)


def op_variants(op):
    """Every variant of ``op`` across ``VARIANT_MODULES``: {variant name: function}."""
    found = {}
    for mod in VARIANT_MODULES:
        table = getattr(importlib.import_module(f"{__package__}.{mod}"), "VARIANTS", {})
        for name, fn in table.get(op, {}).items():
            if name in found and found[name] is not fn:
                raise InvalidValueError(f"op {op!r}: variant {name!r} is defined twice ({mod} and another module)")
            found[name] = fn
    return found


def all_variant_ops():
    """Every op name that some spec module in ``VARIANT_MODULES`` defines variants for."""
    ops = set()
    for mod in VARIANT_MODULES:
        ops |= set(getattr(importlib.import_module(f"{__package__}.{mod}"), "VARIANTS", {}))
    return sorted(ops)


def variant(backend, op):
    """The function that computes ``op`` as ``backend`` does (UnknownNameError if it has none)."""
    b = get_backend(backend)
    name = b.method(op)
    table = op_variants(op)
    if name not in table:
        raise UnknownNameError(f"variant of op {op!r} (backend {b.name!r})", name, table)
    return table[name]


# Old names that the audit, golden vectors and CLI already accept for a backend.
ALIASES = {"ort": "onnxruntime", "torch": "torch_fbgemm"}


def get_backend(name):
    """The ``Backend`` row called ``name`` (an alias, or the row itself)."""
    if isinstance(name, Backend):
        return name
    key = ALIASES.get(name, name)
    try:
        return BACKENDS[key]
    except (KeyError, TypeError):
        raise UnknownNameError("backend", name, list(BACKENDS) + list(ALIASES)) from None


def method_for_profile(profile, op="qlinear_matmul"):
    """The method a quantize profile's own backend uses for ``op`` (the audit's default pairing)."""
    for b in BACKENDS.values():
        if b.quantize == profile and op in b.ops and not b.user:
            return b.ops[op]
    raise UnknownNameError(f"quantize profile with a {op} method", profile,
                           sorted({b.quantize for b in BACKENDS.values() if op in b.ops}))


def kernel_method(method):
    """The C kernel's requantization (``kernel.METHODS`` key) that runs ``method``, or None.

    Equals: docs/gemm-contract.md §3 -- every binary32-multiplier method runs as float_fp32; the
    fixed-point methods run as themselves.
    """
    m = METHODS[method]
    if m.name == "int32":
        return "int32"
    if m.kernel == ("M_bits",):
        return "float_fp32"
    return m.name if m.kernel else None


def owners():
    """Every PROFILES and METHODS key and op variant -> the backends that use it (the table's coverage)."""
    seen = {("profile", p): [] for p in PROFILES}
    seen.update({("method", m): [] for m in METHODS})
    for b in BACKENDS.values():
        for p in {b.quantize, b.quantize_per_axis} - {None}:
            seen.setdefault(("profile", p), []).append(b.name)
        for op, m in b.ops.items():
            key = ("variant", f"{op}:{m}") if m in op_variants(op) else ("method", m)
            seen.setdefault(key, []).append(b.name)
    for op in all_variant_ops():
        for name in op_variants(op):
            seen.setdefault(("variant", f"{op}:{name}"), [])
    return seen


# ---- Users' rows: backend_file.load_file reads a TOML or JSON file of [backend.NAME] tables ----

def register(rows):
    """Add user rows to the table (a name may not shadow a built-in row)."""
    for b in rows:
        if b.name in BACKENDS and not BACKENDS[b.name].user:
            raise InvalidValueError(f"backend {b.name!r} is built in; choose another name for a user row")
        BACKENDS[b.name] = b
    return rows
