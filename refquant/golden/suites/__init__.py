"""Suite builders: groups of cases (inputs + params), in a fixed order, one module per suite."""

from .blocks import build_blocks
from .conv import build_conv
from .formats import build_formats
from .matmul import build_matmul
from .ops import build_ops
from .quantize import build_quantize


SUITES = {
    "formats": (build_formats, "decode every code of every float format (fp32/fp16/bf16: a structured "
                "selection) to binary64; encode codes, midpoints +- 1 ulp and overflow/underflow "
                "boundaries under 5 rounding modes x 2 overflow policies (TestFloat-style .tv lines)"),
    "quantize": (build_quantize, "QuantizeLinear / DequantizeLinear under every quantize profile: ties, "
                 "near ties, saturation edges, NaN/inf, subnormal and huge scales, per-axis, per-block, "
                 "int4/uint4/int16, fp16/bf16 inputs, fp8/fp4 targets (saturate 0/1), published worked examples"),
    "matmul": (build_matmul, "QLinearMatMul under every requantization method: random s8s8/u8s8/u8u8, "
               "per-channel, bias, zero-point extremes, K = 1 and 4096, exact ties and saturation edges, "
               "near ties where double and single rounding differ, accumulator overflow under wrap / "
               "saturate / error (K = 33100 and the bias step); int32 accumulators included; float32 bias "
               "for the torch / oneDNN methods (flag float_bias: oracle-only, the C kernel takes int32 bias)"),
    "conv": (build_conv, "QLinearConv (NCHW) under 8 methods: padding by the zero point (symmetric and "
             "asymmetric), stride, dilation, groups, depthwise, per-channel 1x1 with bias"),
    "blocks": (build_blocks, "GGUF block types as stored: ggml's reference quantizers (Q4_0..Q8_1, Q8_K) on random "
               "blocks, exact .5 ties and signed-zero blocks; dequantization of random Q4_0..Q8_0 and "
               "Q2_K..Q8_K blocks (one block per .tv line; docs/llm-formats.md)"),
    "ops": (build_ops, "quantized add / sub / mul, activations (sigmoid, tanh, leaky_relu, hard_swish, relu; "
            "int16 sigmoid / tanh) and pools (ONNX avg / global avg / max, TFLite AVERAGE_POOL_2D / MAX_POOL_2D, "
            "TOSA AVG_POOL2D / MAX_POOL2D), one group per op x backend variant (refquant.backends.op_variants): the same "
            "inputs under every variant, each test naming its op and variant (docs/golden-format.md)"),
}
