/* requant_avx512.c -- from the SIMD paths' sums to the contract's accumulator, and
 * the AVX-512 form of requant.c: the epilogue both SIMD drivers run on their blocks.
 *
 * Exactness.  The SIMD paths compute, mod 2^32,
 *     acc = sum_k A'[i,k] B'[k,j] - beta_j * rowsum(A')_i - alpha * colsum(B')_j
 *           + K * alpha * beta_j + bias_j
 * where A' is the byte the instruction reads (A, or A + 128 for int8 A on
 * VNNI, whose vpdpbusd needs unsigned A), alpha = za (+128), B' = B (int8) or
 * B - 128 (uint8, stored packed), beta_j = zb_j (-128).  This equals
 * sum_k (A - za)(B - zb_j) + bias_j mod 2^32 exactly.  vpdpbusd / tdpb*d add
 * four exact 8x8-bit products into an int32 lane without saturation, so the
 * result is the contract's value under `wrap`, and under every policy when
 * rq_gemm_run has proved that no step can overflow (it sends everything else
 * to the scalar path).  The requantization epilogue is the vector form of
 * requant.c: float steps use explicit round-to-nearest-even (embedded
 * rounding), integer steps run in 64-bit lanes exactly.
 *
 * The column part of the correction, -alpha*colsum(B')_j + K*alpha*beta_j +
 * bias_j, is computed once per call (rq_simd_ws_init); the row part,
 * -beta_j*rowsum(A')_i, per block in rq_epilogue from the row sums that each
 * driver's A packing returns (gemm_vnni.c, gemm_amx.c).  The epilogue must
 * agree with requant.c bit for bit.
 */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include "rq_simd.h"   /* includes rq_internal.h and refquant_kernel.h once */

/* ---- the column corrections (plain C) ------------------------------------- */

/* Whether an int32 C is written with non-temporal stores: it is larger than the caches
 * (RQ_STREAM_BYTES) and every 32-column block row is two whole, aligned cache lines.  Only the
 * drivers that end with sfence stream (rq_gemm_vnni, rq_gemm_amx unless -DRQ_AMX_STREAM=0):
 * never M <= 4 (gemv_vnni.c) or conv. */
#ifndef RQ_STREAM_BYTES
#define RQ_STREAM_BYTES ((size_t)4 << 20)
#endif
#ifdef RQ_EXPERIMENT
int rq_exp_nt = 1;
#define RQ_STREAM_ON rq_exp_nt
#else
#define RQ_STREAM_ON 1
#endif
static int rq_stream_c(const rq_plan *p)
{
    const rq_gemm *g = p->g;
    return RQ_STREAM_ON && p->r1 - p->r0 > 4 && g->c_type == RQ_I32 && (uintptr_t)g->c % 64u == 0 && g->ldc % 16 == 0 &&
           (size_t)g->m * (size_t)g->ldc * 4u >= RQ_STREAM_BYTES;
}

/* Allocates and fills w for the columns [c0, c1) of the plan: RQ_OK or RQ_E_NOMEM.
 * rq_simd_ws_free releases w either way. */
int rq_simd_ws_init(const rq_plan *p, const rq_packed_b *pb, int amx, rq_simd_ws *w)
{
    const rq_gemm *g = p->g;
    uint32_t alpha = (uint32_t)g->za + ((!amx && g->a_type == RQ_I8) ? 128u : 0u);
    int32_t j;
    w->colfix = malloc((size_t)g->n * sizeof(int32_t));
    w->beta = malloc((size_t)g->n * sizeof(int32_t));
    if (!w->colfix || !w->beta)
        return RQ_E_NOMEM;
    w->stream = (!amx || RQ_AMX_STREAM) && rq_stream_c(p);
    {   /* locals, so that no store through w can alias the loads (the loop then vectorizes: it
         * was ~4 % of a 49 x 160 x 960 conv layer's call) */
        int32_t *const colfix = w->colfix, *const betas = w->beta;
        const int32_t *const zb = p->zb, *const bias = p->bias, *const colsum = pb->colsum;
        const uint32_t boff = pb->b_type == RQ_U8 ? 128u : 0u, ka = (uint32_t)g->k * alpha;
        const int32_t c0 = p->c0, c1 = p->c1;
        uint32_t any = 0;
        for (j = c0; j < c1; j++) {
            uint32_t beta = (uint32_t)zb[j] - boff;
            betas[j] = rq_wrap32(beta);
            any |= beta;
            colfix[j] = rq_wrap32(0u - alpha * (uint32_t)colsum[j] + ka * beta + (uint32_t)bias[j]);
        }
        w->need_rowsum = any != 0;
    }
    return RQ_OK;
}

void rq_simd_ws_free(rq_simd_ws *w)
{
    free(w->colfix);
    free(w->beta);
    w->colfix = w->beta = NULL;
}

#if RQ_X86_SIMD

#ifdef RQ_EXPERIMENT
int rq_exp_plainst = 1;
#define RQ_PLAINST_ON rq_exp_plainst
#else
#define RQ_PLAINST_ON 1
#endif

#ifdef RQ_EXPERIMENT
int rq_exp_satpack = 1;
#define RQ_SATPACK_ON rq_exp_satpack
#else
#define RQ_SATPACK_ON 1
#endif

/* ---- vector requantization (the AVX-512 form of requant.c) ---------------- */

RQ_AVX512 static __m512i rq_vint_half(int32_t method, __m256i acc32, __m256i m32, __m256i s32,
                                      __m512i zp, __m512i qmin, __m512i qmax)
{
    const __m512i one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512();
    __m512i acc = _mm512_cvtepi32_epi64(acc32), m = _mm512_cvtepi32_epi64(m32);
    __m512i s = _mm512_cvtepi32_epi64(s32), r, t;
    if (method == RQ_TFLITE_DOUBLE) {
        __m256i left = _mm256_max_epi32(s32, _mm256_setzero_si256());
        __m512i x = _mm512_cvtepi32_epi64(_mm256_sllv_epi32(acc32, left));   /* wrap32(acc << left) */
        __m512i e = _mm512_max_epi64(_mm512_sub_epi64(zero, s), zero);      /* right */
        __m512i p = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, m),
                                                       _mm512_set1_epi64((int64_t)1 << 30)), 31);
        __m512i mask = _mm512_sub_epi64(_mm512_sllv_epi64(one, e), one);
        __m512i rem = _mm512_and_si512(p, mask);
        __m512i thr = _mm512_srli_epi64(mask, 1);
        thr = _mm512_mask_add_epi64(thr, _mm512_cmplt_epi64_mask(p, zero), thr, one);
        r = _mm512_srav_epi64(p, e);
        r = _mm512_mask_add_epi64(r, _mm512_cmpgt_epi64_mask(rem, thr), r, one);
    } else {
        t = method == RQ_TFLITE_SINGLE ? _mm512_sub_epi64(_mm512_set1_epi64(31), s) : s;
        r = _mm512_add_epi64(_mm512_mul_epi32(acc, m), _mm512_sllv_epi64(one, _mm512_sub_epi64(t, one)));
        if (method == RQ_TOSA_DOUBLE) {
            __mmask8 big = _mm512_cmpgt_epi64_mask(s, _mm512_set1_epi64(31));
            __mmask8 neg = _mm512_cmplt_epi64_mask(acc, zero);
            const __m512i d = _mm512_set1_epi64((int64_t)1 << 30);
            r = _mm512_mask_add_epi64(r, big & (__mmask8)~neg, r, d);
            r = _mm512_mask_sub_epi64(r, big & neg, r, d);
        }
        r = _mm512_srav_epi64(r, t);
    }
    r = _mm512_add_epi64(r, zp);
    return _mm512_min_epi64(_mm512_max_epi64(r, qmin), qmax);
}

RQ_AVX512 static __m512i rq_vrequant(const rq_plan *p, __m512i acc, int32_t j, __mmask16 mk)
{
    const rq_gemm *g = p->g;
    if (g->method == RQ_INT32)
        return acc;
    if (g->method == RQ_FLOAT_FP32) {
        __m512 mf = _mm512_maskz_loadu_ps(mk, p->mf + j);
        __m512 v = _mm512_mul_round_ps(_mm512_cvt_roundepi32_ps(acc, RQ_RNE), mf, RQ_RNE);
        v = _mm512_max_ps(v, _mm512_set1_ps((float)((int64_t)g->qmin - g->zp)));
        v = _mm512_min_ps(v, _mm512_set1_ps((float)((int64_t)g->qmax - g->zp)));
        return _mm512_add_epi32(_mm512_cvt_roundps_epi32(v, RQ_RNE), _mm512_set1_epi32(g->zp));
    } else {
        __m512i m = _mm512_maskz_loadu_epi32(mk, p->qm + j);
        __m512i s = _mm512_maskz_loadu_epi32(mk, p->qs + j);
        __m512i zp = _mm512_set1_epi64(g->zp), lo = _mm512_set1_epi64(g->qmin);
        __m512i hi = _mm512_set1_epi64(g->qmax), r0, r1;
        if (g->method == RQ_TOSA_SINGLE || g->method == RQ_TOSA_DOUBLE)   /* keep masked lanes in-domain */
            s = _mm512_mask_blend_epi32(mk, _mm512_set1_epi32(2), s);
        r0 = rq_vint_half(g->method, _mm512_castsi512_si256(acc), _mm512_castsi512_si256(m),
                          _mm512_castsi512_si256(s), zp, lo, hi);
        r1 = rq_vint_half(g->method, _mm512_extracti64x4_epi64(acc, 1), _mm512_extracti64x4_epi64(m, 1),
                          _mm512_extracti64x4_epi64(s, 1), zp, lo, hi);
        return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(r0)),
                                  _mm512_cvtepi64_epi32(r1), 1);
    }
}

/* Corrections, requantization and store for a block cbuf[rows][32] at (i0, j0).
 * A full 32-column block of float_fp32 or int32 output is done a whole row at
 * a time (one 32-byte store for 8-bit output); anything else column chunk by
 * column chunk with masks.  8-bit results are already clamped to the output
 * type, so the truncating vpmovdb is exact. */
RQ_AVX512 void rq_epilogue(const rq_plan *p, const rq_simd_ws *w, const int32_t *cbuf,
                                  int32_t i0, int32_t nrows, int32_t j0, const uint32_t *rs)
{
    const rq_gemm *g = p->g;
    int32_t ia = i0 > p->r0 ? i0 : p->r0, ib = i0 + nrows < p->r1 ? i0 + nrows : p->r1;
    int32_t ja = j0 > p->c0 ? j0 : p->c0, jb = j0 + 32 < p->c1 ? j0 + 32 : p->c1;
    int32_t i, j;
    const size_t ldc = (size_t)g->ldc;
    const int c32 = g->c_type == RQ_I32, nrs = w->need_rowsum, method = g->method;
    int8_t *c8 = (int8_t *)g->c;
    int32_t *c32p = (int32_t *)g->c;
    i = ia;
    if (ja == j0 && (method == RQ_FLOAT_FP32 || method == RQ_INT32)) {
        /* columns j0 .. jb-1 (1 to 32 of them): per-block constants loaded once, masked where the
         * block is narrower than 32 (a 16-channel 1x1 conv: N = 16) */
        const int32_t wd = jb - j0;
        const __mmask16 mk0 = wd >= 16 ? (__mmask16)0xffffu : (__mmask16)((1u << wd) - 1u);
        const __mmask16 mk1 = wd <= 16 ? 0 : wd >= 32 ? (__mmask16)0xffffu : (__mmask16)((1u << (wd - 16)) - 1u);
        const __m512i cf0 = _mm512_maskz_loadu_epi32(mk0, w->colfix + j0);
        const __m512i cf1 = _mm512_maskz_loadu_epi32(mk1, w->colfix + j0 + 16);
        const __m512i be0 = _mm512_maskz_loadu_epi32(mk0, w->beta + j0);
        const __m512i be1 = _mm512_maskz_loadu_epi32(mk1, w->beta + j0 + 16);
        const __m512 mf0 = method == RQ_FLOAT_FP32 ? _mm512_maskz_loadu_ps(mk0, p->mf + j0) : _mm512_setzero_ps();
        const __m512 mf1 = method == RQ_FLOAT_FP32 ? _mm512_maskz_loadu_ps(mk1, p->mf + j0 + 16)
                                                   : _mm512_setzero_ps();
        const __m512 lo = _mm512_set1_ps((float)((int64_t)g->qmin - g->zp));
        const __m512 hi = _mm512_set1_ps((float)((int64_t)g->qmax - g->zp));
        const __m512i zp = _mm512_set1_epi32(g->zp);
        const int32_t *src = cbuf + 32 * (ia - i0);
        if (!c32 && wd == 32 && !nrs && method == RQ_FLOAT_FP32) {
            /* two whole 32-byte rows per step: the four requantized vectors (each lane already
             * within the output type) pack exactly to bytes with two signed 32->16 packs and one
             * 16->8 pack (unsigned for uint8, signed for int8); the packs interleave 4-byte groups
             * per 128-bit lane, one dword permutation puts row i in the low half, row i+1 in the
             * high half.  (vpmovdb, one per 16 values, cost more here.) */
            const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            const int u8 = g->c_type == RQ_U8;
            if (RQ_SATPACK_ON && g->zp >= -256 && g->zp <= 256) {
                /* the same values with fewer steps: only the upper clamp in float (v <= qmax - zp, so
                 * the conversion cannot overflow upward; below -2^31 it gives INT32_MIN, the right
                 * side), zp added after the first pack with 16-bit saturation, the lower clamp on the
                 * bytes.  Exact: with |zp| <= 256 every t = RNE(v) >= qmin - zp passes the two packs
                 * and the add unchanged, and every smaller t stays below qmin through the monotone
                 * saturations, where the byte max puts it at qmin. */
                const __m512i zp16 = _mm512_set1_epi16((int16_t)g->zp);
                const __m512i lo8 = _mm512_set1_epi8((char)g->qmin);
                for (i = ia; i + 1 < ib; i += 2, src += 64) {
                    __m512i r0 = RQ_FQ_HI(_mm512_add_epi32(_mm512_load_si512(src), cf0), mf0, hi);
                    __m512i r1 = RQ_FQ_HI(_mm512_add_epi32(_mm512_load_si512(src + 16), cf1), mf1, hi);
                    __m512i r2 = RQ_FQ_HI(_mm512_add_epi32(_mm512_load_si512(src + 32), cf0), mf0, hi);
                    __m512i r3 = RQ_FQ_HI(_mm512_add_epi32(_mm512_load_si512(src + 48), cf1), mf1, hi);
                    __m512i h0 = _mm512_adds_epi16(_mm512_packs_epi32(r0, r1), zp16);
                    __m512i h1 = _mm512_adds_epi16(_mm512_packs_epi32(r2, r3), zp16);
                    __m512i q = u8 ? _mm512_max_epu8(_mm512_packus_epi16(h0, h1), lo8)
                                   : _mm512_max_epi8(_mm512_packs_epi16(h0, h1), lo8);
                    q = _mm512_permutexvar_epi32(order, q);
                    _mm256_storeu_si256((__m256i *)(c8 + (size_t)i * ldc + (size_t)j0), _mm512_castsi512_si256(q));
                    _mm256_storeu_si256((__m256i *)(c8 + (size_t)(i + 1) * ldc + (size_t)j0),
                                        _mm512_extracti64x4_epi64(q, 1));
                }
            }
            for (; i + 1 < ib; i += 2, src += 64) {
                __m512i r0 = RQ_FQ(_mm512_add_epi32(_mm512_load_si512(src), cf0), mf0, lo, hi, zp);
                __m512i r1 = RQ_FQ(_mm512_add_epi32(_mm512_load_si512(src + 16), cf1), mf1, lo, hi, zp);
                __m512i r2 = RQ_FQ(_mm512_add_epi32(_mm512_load_si512(src + 32), cf0), mf0, lo, hi, zp);
                __m512i r3 = RQ_FQ(_mm512_add_epi32(_mm512_load_si512(src + 48), cf1), mf1, lo, hi, zp);
                __m512i h0 = _mm512_packs_epi32(r0, r1), h1 = _mm512_packs_epi32(r2, r3);
                __m512i q = _mm512_permutexvar_epi32(order, u8 ? _mm512_packus_epi16(h0, h1)
                                                               : _mm512_packs_epi16(h0, h1));
                _mm256_storeu_si256((__m256i *)(c8 + (size_t)i * ldc + (size_t)j0), _mm512_castsi512_si256(q));
                _mm256_storeu_si256((__m256i *)(c8 + (size_t)(i + 1) * ldc + (size_t)j0),
                                    _mm512_extracti64x4_epi64(q, 1));
            }
        }
        for (; i < ib; i++, src += 32) {
            __m512i a0 = _mm512_add_epi32(_mm512_load_si512(src), cf0), a1 = cf1;
            if (mk1)   /* cbuf columns 16..31 are read only where they were computed */
                a1 = _mm512_add_epi32(_mm512_load_si512(src + 16), cf1);
            if (nrs) {
                __m512i r = _mm512_set1_epi32((int32_t)rs[i - i0]);
                a0 = _mm512_sub_epi32(a0, _mm512_mullo_epi32(be0, r));
                a1 = _mm512_sub_epi32(a1, _mm512_mullo_epi32(be1, r));
            }
            if (method == RQ_FLOAT_FP32) {
                a0 = RQ_FQ(a0, mf0, lo, hi, zp);
                if (mk1)
                    a1 = RQ_FQ(a1, mf1, lo, hi, zp);
            }
            if (c32 && wd == 32 && w->stream) {   /* two whole aligned lines (rq_stream_c) */
                _mm512_stream_si512((void *)(c32p + (size_t)i * ldc + (size_t)j0), a0);
                _mm512_stream_si512((void *)(c32p + (size_t)i * ldc + (size_t)j0 + 16), a1);
            } else if (c32 && wd == 32 && RQ_PLAINST_ON) {
                /* plain stores for a whole row (masked ones cost more on Zen 4: 256^3 int32 A/B,
                 * 10 alternating rounds, 84.9 -> 83.9 us) */
                _mm512_storeu_si512((void *)(c32p + (size_t)i * ldc + (size_t)j0), a0);
                _mm512_storeu_si512((void *)(c32p + (size_t)i * ldc + (size_t)j0 + 16), a1);
            } else if (c32) {
                _mm512_mask_storeu_epi32(c32p + (size_t)i * ldc + (size_t)j0, mk0, a0);
                _mm512_mask_storeu_epi32(c32p + (size_t)i * ldc + (size_t)j0 + 16, mk1, a1);
            } else if (wd == 32) {
                __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(a0)),
                                                    _mm512_cvtepi32_epi8(a1), 1);
                _mm256_storeu_si256((__m256i *)(c8 + (size_t)i * ldc + (size_t)j0), q);
            } else {
                _mm_mask_storeu_epi8(c8 + (size_t)i * ldc + (size_t)j0, mk0, _mm512_cvtepi32_epi8(a0));
                if (mk1)
                    _mm_mask_storeu_epi8(c8 + (size_t)i * ldc + (size_t)j0 + 16, mk1, _mm512_cvtepi32_epi8(a1));
            }
        }
        return;
    }
    for (j = ja; j < jb; j += 16) {
        int32_t len = jb - j < 16 ? jb - j : 16;
        __mmask16 mk = (__mmask16)((1u << len) - 1u);
        __m512i colfix = _mm512_maskz_loadu_epi32(mk, w->colfix + j);
        __m512i beta = _mm512_maskz_loadu_epi32(mk, w->beta + j);
        const int32_t *src = cbuf + 32 * (ia - i0) + (j - j0);
        for (i = ia; i < ib; i++, src += 32) {
            size_t off = (size_t)i * ldc + (size_t)j;
            __m512i acc = _mm512_add_epi32(_mm512_maskz_loadu_epi32(mk, src), colfix);
            if (nrs)
                acc = _mm512_sub_epi32(acc, _mm512_mullo_epi32(beta, _mm512_set1_epi32((int32_t)rs[i - i0])));
            acc = rq_vrequant(p, acc, j, mk);
            if (c32)
                _mm512_mask_storeu_epi32(c32p + off, mk, acc);
            else   /* int8 and uint8: the low byte of a value already clamped to the type */
                _mm_mask_storeu_epi8(c8 + off, mk, _mm512_cvtepi32_epi8(acc));
        }
    }
}

#endif /* RQ_X86_SIMD */
