"""onnxruntime com.microsoft MatMulNBits against refquant's model (``refquant.matmulnbits``).

Each row runs one configuration (bits, block_size, zero points, accuracy_level, M) through
onnxruntime's CPU EP with one intra-op thread and compares every output bit with the fast form of
the 'ort_mlas_avx512' variant (``refquant.blocks.matmulnbits``, proven equal to the definition).
The variant is the AVX-512 kernel family: on a machine without AVX-512 onnxruntime dispatches other
kernels (AVX2 / NEON), which this model does not claim.  docs/llm-formats.md §2.
"""

import numpy as np

from ..blocks import matmulnbits as fast
from .conformance import judge
from .versions import known

BACKEND = "onnxruntime"
BLOCKS = (16, 32, 64, 128, 256)
DEVIATION = "MatMulNBits binary32 order (MLAS AVX-512)"
DEVIATION_INT8 = "MatMulNBits int8 path (MLAS AVX-512 VNNI)"


def make_inputs(rng, M, K, N, bits, block_size, with_zp):
    """(A, B, scales, zero points or None): random codes, scales in [0.01, 0.11), A normal; K need
    not be a multiple of block_size (the padding codes of the last block are random too)."""
    kb = -(-K // block_size)
    a = rng.standard_normal((M, K)).astype(np.float32)
    q = rng.integers(0, 1 << bits, (N, kb * block_size))
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)) if bits == 4 else q
    b = packed.astype(np.uint8).reshape(N, kb, block_size * bits // 8)
    s = (rng.random(N * kb) * 0.1 + 0.01).astype(np.float32)
    if not with_zp:
        return a, b, s, None
    zq = rng.integers(0, 1 << bits, (N, kb + (kb % 2 if bits == 4 else 0)))
    z = (zq[:, 0::2] | (zq[:, 1::2] << 4)) if bits == 4 else zq
    return a, b, s, z.astype(np.uint8).ravel()


def ort_model(K, N, bits, block_size, accuracy_level, b, s, z, bias=None):
    """One MatMulNBits node; A, Y (and the bias) have the scales' dtype (float32 or float16)."""
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(b, "B"), numpy_helper.from_array(s, "S")]
    names = ["A", "B", "S", "Z" if z is not None else ""]
    if z is not None:
        inits.append(numpy_helper.from_array(z, "Z"))
    if bias is not None:     # inputs: A, B, scales, zero_points, g_idx, bias
        inits.append(numpy_helper.from_array(bias, "bias"))
        names += ["", "bias"]
    while names[-1] == "":
        names.pop()
    node = helper.make_node("MatMulNBits", names, ["Y"], domain="com.microsoft", K=K, N=N, bits=bits,
                            block_size=block_size, accuracy_level=accuracy_level)
    dt = TensorProto.FLOAT16 if s.dtype == np.float16 else TensorProto.FLOAT
    graph = helper.make_graph([node], "matmulnbits", [helper.make_tensor_value_info("A", dt, ["M", K])],
                              [helper.make_tensor_value_info("Y", dt, ["M", N])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])


def run_ort(model, a):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"A": a})[0]


def compare(rng, M, K, N, bits, block_size, with_zp, level, exact=False, bias=False, fp16=False):
    """(onnxruntime's Y, the model's Y, A) as uint32 (fp16: uint16) bit patterns for one configuration;
    with ``exact``, (onnxruntime's Y, the model's Y, the exact Y rounded once).  ``bias``: a random
    bias input; ``fp16``: A, scales and bias in float16 (the same random values, rounded)."""
    a, b, s, z = make_inputs(rng, M, K, N, bits, block_size, with_zp)
    c = (rng.standard_normal(N) * 4).astype(np.float32) if bias else None
    dt, ut = (np.float16, np.uint16) if fp16 else (np.float32, np.uint32)
    a, s, c = a.astype(dt), s.astype(dt), None if c is None else c.astype(dt)
    got = run_ort(ort_model(K, N, bits, block_size, level, b, s, z, c), a)
    want = fast.matmul_ort(a, b, s, z, K, N, bits, block_size, level, c)
    if exact:
        ex = fast.matmul_exact(a, b, s, z, K, N, bits, block_size, c, dt)
        return got.view(ut), want.view(ut), ex.view(ut)
    return got.view(ut), want.view(ut), a


def matmulnbits_rows(seed=20261203, outputs=256):
    """Rows per (bits, block_size, zero points, level, M = 1 or M > 1); ``outputs`` per row (the slow tests of
    tests/test_matmulnbits.py run >= 10^5 per configuration)."""
    rng = np.random.default_rng(seed)
    rows = []
    for bits in (4, 8):
        for bs in BLOCKS:
            for with_zp in (False, True):
                for level in (0, 1, 4):
                    for M in (1, 16):
                        flag = f"bits={bits} block={bs} {'zp' if with_zp else 'no zp'} level={level} M={M}"
                        # 8 bits, M > 1: N = 64 (K chunks of 128), M from the output count
                        m, n = (max(M, outputs // 64), 64) if bits == 8 and M > 1 else (M, max(4, outputs // M))
                        flag += f" ({m}x256 @ 256x{n})"
                        got, model, exact = compare(rng, m, 256, n, bits, bs, with_zp, level, exact=True)
                        rows.append(judge(BACKEND, "MatMulNBits", "exact", flag, got, exact,
                                          [known("onnxruntime", DEVIATION_INT8 if level == 4 else DEVIATION, model,
                                                 "matmul_nbits")]))
    return rows + _tail_rows(rng, outputs)


def _tail_rows(rng, outputs):
    """K = 200 (the last block padded for every block size but 8), zero points, a bias, float32 and
    float16 A; 4- and 8-bit at levels 0 and 4."""
    rows = []
    for bits, level, M in ((4, 0, 1), (4, 0, 16), (4, 4, 1), (4, 4, 16), (8, 0, 1), (8, 0, 16), (8, 4, 1), (8, 4, 16)):
        for bs in (16, 64):
            for fp16 in (False, True):
                m, n = (M, max(4, outputs // M))
                flag = (f"bits={bits} block={bs} zp bias K=200 {'fp16' if fp16 else 'fp32'} level={level} M={M}"
                        f" ({m}x200 @ 200x{n})")
                got, model, exact = compare(rng, m, 200, n, bits, bs, True, level, exact=True, bias=True, fp16=fp16)
                rows.append(judge(BACKEND, "MatMulNBits", "exact", flag, got, exact,
                                  [known("onnxruntime", DEVIATION_INT8 if level == 4 else DEVIATION, model,
                                         "matmul_nbits")]))
    return rows
