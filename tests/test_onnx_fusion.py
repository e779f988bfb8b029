"""onnxruntime 1.32.0's QDQ fusions beyond Add/Mul (AveragePool, GlobalAveragePool, Concat, MaxPool,
Sigmoid, LeakyRelu, Softmax) per graph optimization level, read from the optimized graph itself
(SessionOptions.optimized_model_filepath), and what the fused / unfused graphs compute."""

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from refquant.peers import onnx_fusion as F  # noqa: E402


def test_fused_at_extended_and_all_equal_the_kernel_variants_unfused_equal_the_float_path():
    table = F.fusion_table(seed=0, cases=1)
    for (op, level), (fused, cases, kernel_diff, float_diff, _, unfused_vs_kernel) in table.items():
        if level in ("disable", "basic"):
            assert fused == 0, (op, level)
        elif op == "MaxPool":
            assert fused == 1, (op, level)          # only the case with equal input / output parameters
        else:
            assert fused == cases, (op, level)
        assert kernel_diff == 0, (op, level)
        if op in ("LeakyRelu", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool", "Softmax"):
            assert float_diff == 0, (op, level)    # onnxruntime's own float path ('ort_float' / 'onnx_ref')
        if op == "Sigmoid":
            assert unfused_vs_kernel == 0          # float Sigmoid is the same MLAS logistic the table holds


def test_unfused_average_pool_can_differ_from_the_numpy_reference():
    # onnxruntime's float AveragePool sums each window one by one in binary32 where numpy (the
    # onnx_ref variant) sums 8 or more values pairwise: this case differs in one element, and the
    # sequential model (refquant/onnx_float.py, variant 'ort_float') gives onnxruntime's output (docs/ops.md)
    from refquant import onnx_ops as O
    rng = np.random.default_rng(1)
    F.random_case(rng, "GlobalAveragePool", "uint8")
    ins, sy, zy = F.random_case(rng, "AveragePool", "uint8")
    model = F.qdq_model("AveragePool", ins, (sy, zy))
    kernel_v, float_v = F.MODELS["AveragePool"](ins, sy, zy, "uint8")
    ops, got = F.optimized(model, "disable", {"x0": ins[0][0]})
    assert "AveragePool" in ops and F.differences(got, O.ref_avg_pool(*ins[0], sy, zy, dtype="uint8", **F._POOL)) == 1
    assert F.differences(got, float_v) == 0                                           # the sequential sum
    ops, got = F.optimized(model, "extended", {"x0": ins[0][0]})
    assert ops == ["QLinearAveragePool"] and F.differences(got, kernel_v) == 0


def _fusion_model_case(op, t_in, t_out):
    x = np.zeros((1, 3, 6, 7), F.NP[t_in])
    return F.qdq_model(op, [(x, 0.1, 0)], (0.1, 0), F.NP[t_out])


def _predicted_vs_onnxruntime(model, level):
    from refquant.model import fusion
    from refquant.model import graph as G
    actual, _ = F.optimized(model, level, {"x0": np.zeros((1, 3, 6, 7), model_input_dtype(model))})
    predicted = [n.op_type for n in fusion.fuse(G.from_proto(model), level).nodes]
    return sorted(predicted), sorted(actual)


def model_input_dtype(model):
    import onnx
    return onnx.helper.tensor_dtype_to_np_dtype(model.graph.input[0].type.tensor_type.elem_type)


@pytest.mark.parametrize("op", ["AveragePool", "GlobalAveragePool", "Sigmoid", "LeakyRelu", "Softmax", "MaxPool"])
def test_refquant_model_fusion_predicts_the_8bit_same_type_groups(op):
    predicted, actual = _predicted_vs_onnxruntime(_fusion_model_case(op, "uint8", "uint8"), "extended")
    assert predicted == actual == [F.FUSED[op]]


@pytest.mark.parametrize("op", ["AveragePool", "GlobalAveragePool", "Sigmoid", "LeakyRelu", "Softmax"])
def test_refquant_model_fusion_mixed_8bit_types_stay_float(op):
    predicted, actual = _predicted_vs_onnxruntime(_fusion_model_case(op, "int8", "uint8"), "extended")
    assert actual == sorted(["DequantizeLinear", op, "QuantizeLinear"])
    assert predicted == actual


@pytest.mark.parametrize("op", ["AveragePool", "Sigmoid", "MaxPool"])
def test_refquant_model_fusion_16bit_groups_stay_float(op):
    predicted, actual = _predicted_vs_onnxruntime(_fusion_model_case(op, "uint16", "uint16"), "extended")
    assert actual == sorted(["DequantizeLinear", op, "QuantizeLinear"])
    assert predicted == actual
