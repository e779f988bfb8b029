"""Dot products of two GGUF table types with Q8_0, exactly: MXFP4 x Q8_0 and IQ4_NL x Q8_0 (the op
``gguf_lut_vec_dot``), as ggml's scalar kernels and as its AVX2 kernels compute them.

Sources (read, not copied): ggml ``ggml-cpu/quants.c`` ``ggml_vec_dot_{mxfp4,iq4_nl}_q8_0_generic``
and ``ggml-cpu/arch/x86/quants.c`` ``ggml_vec_dot_{mxfp4,iq4_nl}_q8_0`` (``__AVX2__``), ggml 0.13.1;
measured against that library (pywhispercpp 1.5.1, docs/llm-formats.md §1).

Per block the integer dot of the table values (``kvalues_mxfp4`` / ``kvalues_iq4nl``, refquant.gguf_lut)
with the Q8_0 codes is exact; the scale is d = fl(fp16(y.d) * e8m0_half(x.e)) (MXFP4) or
fl(fp16(y.d) * fp16(x.d)) (IQ4_NL). The generic kernel adds fl(d * sumi) to sumf block by block.
The AVX2 kernel takes blocks in pairs: the first block of each pair into one eight-lane accumulator,
the second into another (lane j: elements 4j .. 4j+3, fma(d, lane, acc)), the two added lane by
lane and reduced by ``hsum_float_8``; an odd last block is added as fma(d, sumi, sumf).
A NaN result (an infinite scale) is not modelled bit for bit: x86 returns its default NaN 0xFFC00000.
"""

from . import formats as _f
from . import gguf as _g
from . import gguf_avx2 as _avx2
from . import gguf_lut as _lut
from .errors import ShapeError, UnknownNameError

F32 = "fp32"
PAIRS = {"mxfp4": "q8_0", "iq4_nl": "q8_0"}


def _fma(a, b, c):
    return _f.decode(F32, _f.fma(F32, a, b, c))


def _blocks(kind_x, x, kind_y, y):
    if PAIRS.get(kind_x) != kind_y:
        raise UnknownNameError("ggml table-type vec_dot pair", f"{kind_x}.{kind_y}",
                               [f"{a}.{b}" for a, b in PAIRS.items()])
    sx, sy = _g.BLOCKS[kind_x][1], _g.BLOCKS[kind_y][1]
    x, y = bytes(x), bytes(y)
    if len(x) % sx or len(y) % sy or len(x) // sx != len(y) // sy:
        raise ShapeError(f"{kind_x} row of {len(x)} bytes and {kind_y} row of {len(y)} bytes do not pair")
    out = []
    for i in range(len(x) // sx):
        qx, fx = _g.codes(kind_x, x[i * sx:(i + 1) * sx])
        qy, fy = _g.codes(kind_y, y[i * sy:(i + 1) * sy])
        half = _lut.e8m0_half(fx["e"]) if kind_x == "mxfp4" else _g.fp16_value(fx["d"])
        out.append((_g.mul(_g.fp16_value(fy["d"]), half), qx, qy))
    return out


def dot_generic(kind_x, x, kind_y, y):
    """binary32 bits of ggml's scalar table-type dot: sumf = fl(sumf + fl(d * (float)sumi)) per block.

    Reproduces: ggml-cpu/quants.c ggml_vec_dot_{mxfp4,iq4_nl}_q8_0_generic (ggml 0.13.1).
    """
    sumf = _g.ZERO
    for d, qx, qy in _blocks(kind_x, x, kind_y, y):
        sumf = _g.add(sumf, _g.mul(d, _g.c_float(sum(a * b for a, b in zip(qx, qy)))))
    return _f.encode(F32, sumf)


def dot_avx2(kind_x, x, kind_y, y):
    """binary32 bits of the AVX2 table-type dot: block pairs into two eight-lane fma accumulators,
    hsum_float_8 of their lane sums, an odd last block as fma(d, sumi, sumf).

    Reproduces: ggml-cpu/arch/x86/quants.c ggml_vec_dot_{mxfp4,iq4_nl}_q8_0, __AVX2__ (ggml 0.13.1).
    """
    blocks = _blocks(kind_x, x, kind_y, y)
    acc = [[_g.ZERO] * 8, [_g.ZERO] * 8]
    pairs = len(blocks) // 2 * 2
    for i, (d, qx, qy) in enumerate(blocks[:pairs]):
        acc[i % 2] = [_fma(d, _g.c_float(v), a) for v, a in zip(_avx2.lanes("q8_0", qx, qy), acc[i % 2])]
    sumf = _avx2.hsum_float_8([_g.add(a, b) for a, b in zip(acc[0], acc[1])])
    for d, qx, qy in blocks[pairs:]:
        sumf = _fma(d, _g.c_float(sum(a * b for a, b in zip(qx, qy))), sumf)
    return _f.encode(F32, sumf)


VARIANTS = {"gguf_lut_vec_dot": {"ggml_generic": dot_generic, "ggml_avx2": dot_avx2}}
