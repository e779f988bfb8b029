/* requant_avx2.c -- the requantization epilogue of the 256-bit paths (gemm_avx2.c), in AVX2 only.
 *
 * The same steps as rq_epilogue (requant_avx512.c) and requant.c, bit for bit, with the
 * instructions AVX2 has:
 *   - the column and row corrections are the same int32 additions mod 2^32;
 *   - float_fp32: vcvtdq2ps, vmulps, vmaxps/vminps to the exact binary32 bounds, vcvtps2dq.
 *     AVX2 has no embedded rounding: these round by MXCSR, which is what the scalar path's
 *     binary32 steps use too; rq_gemm_run refuses float_fp32 unless the rounding mode is
 *     round-to-nearest-even (fesetround sets the x87 and the SSE modes together);
 *   - the integer methods run in 64-bit lanes exactly as on AVX-512 (|acc*m| < 2^62).  AVX2
 *     lacks the 64-bit arithmetic shift and min/max: x >> n (floor) is ((x ^ s) >>> n) ^ s with
 *     s = all ones where x < 0 (a logical shift of ~x = -x - 1 >= 0 is floor((-x - 1) / 2^n),
 *     and ~ of that is floor(x / 2^n)); min/max are vpcmpgtq + vpblendvb.
 * 8-bit results are already clamped to the output type, so keeping each int32's low byte
 * (vpshufb) is exact, as vpmovdb is on AVX-512.
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "rq_simd.h"   /* includes rq_internal.h and refquant_kernel.h once */

#if RQ_X86_SIMD

RQ_AVX2 static inline __m256i rq_sra64(__m256i x, __m256i n)
{
    __m256i s = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(x, s), n), s);
}

RQ_AVX2 static inline __m256i rq_max64(__m256i a, __m256i b)
{
    return _mm256_blendv_epi8(b, a, _mm256_cmpgt_epi64(a, b));
}

RQ_AVX2 static inline __m256i rq_min64(__m256i a, __m256i b)
{
    return _mm256_blendv_epi8(a, b, _mm256_cmpgt_epi64(a, b));
}

/* Four accumulators (int32) -> four requantized int64, clamped to [qmin, qmax]. */
RQ_AVX2 static __m256i rq_vint4(int32_t method, __m128i acc32, __m128i m32, __m128i s32,
                                __m256i zp, __m256i qmin, __m256i qmax)
{
    const __m256i one = _mm256_set1_epi64x(1), zero = _mm256_setzero_si256();
    const __m256i acc = _mm256_cvtepi32_epi64(acc32), m = _mm256_cvtepi32_epi64(m32);
    const __m256i s = _mm256_cvtepi32_epi64(s32);
    __m256i r;
    if (method == RQ_TFLITE_DOUBLE) {
        __m128i left = _mm_max_epi32(s32, _mm_setzero_si128());
        __m256i x = _mm256_cvtepi32_epi64(_mm_sllv_epi32(acc32, left));            /* wrap32(acc << left) */
        __m256i e = _mm256_cvtepi32_epi64(_mm_max_epi32(_mm_sub_epi32(_mm_setzero_si128(), s32),
                                                        _mm_setzero_si128()));     /* right */
        __m256i p = rq_sra64(_mm256_add_epi64(_mm256_mul_epi32(x, m), _mm256_set1_epi64x((int64_t)1 << 30)),
                             _mm256_set1_epi64x(31));                              /* SRDHM */
        __m256i mask = _mm256_sub_epi64(_mm256_sllv_epi64(one, e), one);
        __m256i rem = _mm256_and_si256(p, mask);
        __m256i thr = _mm256_sub_epi64(_mm256_srli_epi64(mask, 1), _mm256_cmpgt_epi64(zero, p));  /* +1 if p < 0 */
        r = _mm256_sub_epi64(rq_sra64(p, e), _mm256_cmpgt_epi64(rem, thr));      /* +1 if rem > thr */
    } else {
        __m256i t = method == RQ_TFLITE_SINGLE ? _mm256_sub_epi64(_mm256_set1_epi64x(31), s) : s;
        r = _mm256_add_epi64(_mm256_mul_epi32(acc, m), _mm256_sllv_epi64(one, _mm256_sub_epi64(t, one)));
        if (method == RQ_TOSA_DOUBLE) {
            __m256i big = _mm256_cmpgt_epi64(s, _mm256_set1_epi64x(31));
            __m256i neg = _mm256_cmpgt_epi64(zero, acc);
            __m256i d = _mm256_and_si256(big, _mm256_set1_epi64x((int64_t)1 << 30));
            r = _mm256_add_epi64(r, _mm256_andnot_si256(neg, d));
            r = _mm256_sub_epi64(r, _mm256_and_si256(neg, d));
        }
        r = rq_sra64(r, t);
    }
    r = _mm256_add_epi64(r, zp);
    return rq_min64(rq_max64(r, qmin), qmax);
}

/* The low int32 of each int64 lane of lo (lanes 0..3) and hi (lanes 4..7). */
RQ_AVX2 static inline __m256i rq_narrow64(__m256i lo, __m256i hi)
{
    const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m128i a = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(lo, idx));
    __m128i b = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(hi, idx));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
}

/* Corrections, requantization and store for a block cbuf[rows][32] at (i0, j0), eight columns at
 * a time (masked loads where fewer remain: nothing past the column arrays or the block is read). */
RQ_AVX2 void rq_epilogue_avx2(const rq_plan *p, const rq_simd_ws *w, const int32_t *cbuf,
                              int32_t i0, int32_t nrows, int32_t j0, const uint32_t *rs)
{
    const rq_gemm *g = p->g;
    int32_t ia = i0 > p->r0 ? i0 : p->r0, ib = i0 + nrows < p->r1 ? i0 + nrows : p->r1;
    int32_t ja = j0 > p->c0 ? j0 : p->c0, jb = j0 + 32 < p->c1 ? j0 + 32 : p->c1;
    int32_t i, j;
    const size_t ldc = (size_t)g->ldc;
    const int c32 = g->c_type == RQ_I32, nrs = w->need_rowsum, method = g->method;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                           0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256 lo = _mm256_set1_ps((float)((int64_t)g->qmin - g->zp));
    const __m256 hi = _mm256_set1_ps((float)((int64_t)g->qmax - g->zp));
    const __m256i zp = _mm256_set1_epi32(g->zp);
    const __m256i zp64 = _mm256_set1_epi64x(g->zp), qmin64 = _mm256_set1_epi64x(g->qmin);
    const __m256i qmax64 = _mm256_set1_epi64x(g->qmax);
    for (j = ja; j < jb; j += 8) {
        const int32_t len = jb - j < 8 ? jb - j : 8;
        const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(len), lane);
        const __m256i colfix = _mm256_maskload_epi32(w->colfix + j, mk);
        const __m256i beta = _mm256_maskload_epi32(w->beta + j, mk);
        const __m256 mf = method == RQ_FLOAT_FP32 ? _mm256_maskload_ps(p->mf + j, mk) : _mm256_setzero_ps();
        __m256i qm = _mm256_setzero_si256(), qs = _mm256_setzero_si256();
        const int32_t *src = cbuf + 32 * (ia - i0) + (j - j0);
        if (method >= RQ_TFLITE_DOUBLE) {
            qm = _mm256_maskload_epi32(p->qm + j, mk);
            qs = _mm256_maskload_epi32(p->qs + j, mk);
            if (method == RQ_TOSA_SINGLE || method == RQ_TOSA_DOUBLE)   /* keep masked lanes in-domain */
                qs = _mm256_blendv_epi8(_mm256_set1_epi32(2), qs, mk);
        }
        for (i = ia; i < ib; i++, src += 32) {
            size_t off = (size_t)i * ldc + (size_t)j;
            __m256i acc = _mm256_add_epi32(_mm256_maskload_epi32(src, mk), colfix);
            if (nrs)
                acc = _mm256_sub_epi32(acc, _mm256_mullo_epi32(beta, _mm256_set1_epi32((int32_t)rs[i - i0])));
            if (method == RQ_FLOAT_FP32) {
                __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mf);
                v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
                acc = _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
            } else if (method != RQ_INT32) {
                __m256i r0 = rq_vint4(method, _mm256_castsi256_si128(acc), _mm256_castsi256_si128(qm),
                                      _mm256_castsi256_si128(qs), zp64, qmin64, qmax64);
                __m256i r1 = rq_vint4(method, _mm256_extracti128_si256(acc, 1), _mm256_extracti128_si256(qm, 1),
                                      _mm256_extracti128_si256(qs, 1), zp64, qmin64, qmax64);
                acc = rq_narrow64(r0, r1);
            }
            if (c32) {
                _mm256_maskstore_epi32((int32_t *)g->c + off, mk, acc);
            } else {   /* int8 and uint8: the low byte of a value already clamped to the type */
                __m256i b = _mm256_shuffle_epi8(acc, bytes);
                __m128i q = _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
                if (len == 8)
                    _mm_storel_epi64((__m128i *)((int8_t *)g->c + off), q);
                else {
                    int8_t t[16];
                    _mm_storeu_si128((__m128i *)t, q);
                    memcpy((int8_t *)g->c + off, t, (size_t)len);
                }
            }
        }
    }
}

#endif /* RQ_X86_SIMD */
