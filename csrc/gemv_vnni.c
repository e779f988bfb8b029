/* gemv_vnni.c -- the AVX-512 VNNI kernel for small M (1 to 4 rows: GEMV, LLM decode).
 *
 * With M <= 4 the product reads each byte of the packed B once and does at most 4 multiply-adds
 * with it, so its time is the time to stream B (K x N bytes) from L3 or memory.  The kernel reads
 * four 16-column panels side by side (64 columns: four independent sequential streams, each a
 * contiguous k_pad*16-byte run of the packed layout, pack.c), and keeps enough accumulators that
 * no vpdpbusd waits for the previous one: one row takes 2 k-groups per step (8 chains), 2 to 4
 * rows one (4 to 16 chains).  A last block of 32 columns reads two panels (1 row: 4 k-groups per
 * step).  Measured on the 2-core AMD EPYC (Zen, 1 thread, load average ~8, interleaved runs, B
 * 16 MiB / 43 MiB): four streams beat two by 10-25 % at M = 1..4 and N = 4096 and by 15-28 % at
 * N = 11008 (B from DRAM); software prefetch (1 to 8 KiB ahead) cost 2-10 %, so there is none.
 * A' (A, or A ^ 0x80 = A + 128 for int8 A) is formed once per call in a zero-padded copy of
 * k_pad bytes per row, with its row sums; the column corrections and the requantization are
 * rq_epilogue's (requant_avx512.c), per 32 columns.
 *
 * Exactness: every accumulator sums A'B' products mod 2^32 (vpdpbusd wraps), and the partial
 * sums are added mod 2^32, so any grouping of k gives the same int32 (the contract's
 * order-free case: rq_choose_path sends only wrap-without-counts or overflow-free problems here).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "rq_simd.h"   /* includes rq_internal.h and refquant_kernel.h once */


#if RQ_X86_SIMD

/* Named accumulators, not arrays: GCC keeps an array of __m512i in memory and moved every element
 * through the stack each step (seen in the assembly of the first version of this kernel).
 * c<r><u><a|b>: row r, k-group u of each step of U groups, panel a (columns 0..15) or b (16..31). */
#define RQ_GV_ACC(r, u) __m512i c##r##u##a = _mm512_setzero_si512(), c##r##u##b = _mm512_setzero_si512();
#define RQ_GV_LOAD(r, u)                                                                       \
    const __m512i vb##u##a = _mm512_loadu_si512(p0 + 64 * (u));                                \
    const __m512i vb##u##b = _mm512_loadu_si512(p0 + pstride + 64 * (u));
#define RQ_GV_FMA(r, u)                                                                        \
    {                                                                                          \
        int32_t w_;                                                                            \
        __m512i va_;                                                                           \
        memcpy(&w_, ap + (size_t)(r) * lda_p + (size_t)(g_ + (u)) * 4u, 4);                    \
        va_ = _mm512_set1_epi32(w_);                                                           \
        c##r##u##a = _mm512_dpbusd_epi32(c##r##u##a, va_, vb##u##a);                           \
        c##r##u##b = _mm512_dpbusd_epi32(c##r##u##b, va_, vb##u##b);                           \
    }
#define RQ_GV_U2(X, r) X(r, 0) X(r, 1)
#define RQ_GV_U4(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3)
#define RQ_GV_SUM2(r, h) _mm512_add_epi32(c##r##0##h, c##r##1##h)
#define RQ_GV_SUM4(r, h) _mm512_add_epi32(_mm512_add_epi32(c##r##0##h, c##r##1##h),                \
                                          _mm512_add_epi32(c##r##2##h, c##r##3##h))
#define RQ_GV_ROWS1(X, US) US(X, 0)
#define RQ_GV_ROWS2(X, US) US(X, 0) US(X, 1)
#define RQ_GV_ROWS3(X, US) US(X, 0) US(X, 1) US(X, 2)
#define RQ_GV_ROWS4(X, US) US(X, 0) US(X, 1) US(X, 2) US(X, 3)
#define RQ_GV_STORE2(r, unused) _mm512_store_si512(cbuf + 32 * (r), RQ_GV_SUM2(r, a));            \
    _mm512_store_si512(cbuf + 32 * (r) + 16, RQ_GV_SUM2(r, b));
#define RQ_GV_STORE4(r, unused) _mm512_store_si512(cbuf + 32 * (r), RQ_GV_SUM4(r, a));            \
    _mm512_store_si512(cbuf + 32 * (r) + 16, RQ_GV_SUM4(r, b));
#define RQ_GV_ONE(X, r) X(r, 0)

/* ROWS rows, U k-groups per step (US: RQ_GV_U2 or RQ_GV_U4); groups % U == 0. */
#define RQ_GV_BODY(ROWS, US, U, STORE)                                                         \
    {                                                                                          \
        int32_t g_;                                                                            \
        ROWS(RQ_GV_ACC, US)                                                                    \
        for (g_ = 0; g_ < groups; g_ += (U)) {                                                 \
            const int8_t *p0 = b0 + (size_t)g_ * 64u;                                          \
            US(RQ_GV_LOAD, 0)                                                                  \
            ROWS(RQ_GV_FMA, US)                                                                \
        }                                                                                      \
        ROWS(STORE, RQ_GV_ONE)                                                                 \
    }

/* R rows of A' (row stride lda_p, k_pad bytes each, zero past K) times panels b0 and b0 + pstride
 * (columns 16..31: a packed B has n_pad % 32 == 0 columns, the padding zero); cbuf: R x 32 int32.
 * groups = k_pad / 4 is a multiple of 16.  One row takes 4 k-groups per step (8 accumulator
 * chains), more rows 2 (their rows are independent chains already). */
RQ_VNNI static void rq_gemv_block(const uint8_t *ap, size_t lda_p, int32_t rows, const int8_t *b0,
                                  size_t pstride, int32_t groups, int32_t *cbuf)
{
    switch (rows) {
    case 1: RQ_GV_BODY(RQ_GV_ROWS1, RQ_GV_U4, 4, RQ_GV_STORE4) break;
    case 2: RQ_GV_BODY(RQ_GV_ROWS2, RQ_GV_U2, 2, RQ_GV_STORE2) break;
    case 3: RQ_GV_BODY(RQ_GV_ROWS3, RQ_GV_U2, 2, RQ_GV_STORE2) break;
    default: RQ_GV_BODY(RQ_GV_ROWS4, RQ_GV_U2, 2, RQ_GV_STORE2) break;
    }
}

/* One row, four panels (64 columns: two cbuf blocks of 1 x 32, 128 ints apart), 2 k-groups per
 * step: 8 accumulator chains and four sequential streams (more memory-level parallelism when B
 * comes from DRAM). */
#define RQ_GV4_ACC(u) __m512i d##u##a = _mm512_setzero_si512(), d##u##b = _mm512_setzero_si512(),  \
                              d##u##c = _mm512_setzero_si512(), d##u##d = _mm512_setzero_si512();
#define RQ_GV4_FMA(u)                                                                          \
    {                                                                                          \
        int32_t w_;                                                                            \
        __m512i va_;                                                                           \
        memcpy(&w_, ap + (size_t)(g_ + (u)) * 4u, 4);                                          \
        va_ = _mm512_set1_epi32(w_);                                                           \
        d##u##a = _mm512_dpbusd_epi32(d##u##a, va_, _mm512_loadu_si512(p0 + 64 * (u)));        \
        d##u##b = _mm512_dpbusd_epi32(d##u##b, va_, _mm512_loadu_si512(p0 + ps1 + 64 * (u)));  \
        d##u##c = _mm512_dpbusd_epi32(d##u##c, va_, _mm512_loadu_si512(p0 + ps2 + 64 * (u)));  \
        d##u##d = _mm512_dpbusd_epi32(d##u##d, va_, _mm512_loadu_si512(p0 + ps3 + 64 * (u)));  \
    }

RQ_VNNI static void rq_gemv_row4(const uint8_t *ap, const int8_t *b0, size_t pstride, int32_t groups,
                                 int32_t *cbuf)
{
    const size_t ps1 = pstride, ps2 = 2 * pstride, ps3 = 3 * pstride;
    int32_t g_;
    RQ_GV4_ACC(0) RQ_GV4_ACC(1)
    for (g_ = 0; g_ < groups; g_ += 2) {
        const int8_t *p0 = b0 + (size_t)g_ * 64u;
        RQ_GV4_FMA(0) RQ_GV4_FMA(1)
    }
    _mm512_store_si512(cbuf, _mm512_add_epi32(d0a, d1a));
    _mm512_store_si512(cbuf + 16, _mm512_add_epi32(d0b, d1b));
    _mm512_store_si512(cbuf + 128, _mm512_add_epi32(d0c, d1c));
    _mm512_store_si512(cbuf + 144, _mm512_add_epi32(d0d, d1d));
}

/* R rows (2 to 4), four panels, one k-group per step: 4R chains (the rows are independent). */
#define RQ_GVQ_ACC(r, u) __m512i e##r##a = _mm512_setzero_si512(), e##r##b = _mm512_setzero_si512(), \
                                 e##r##c = _mm512_setzero_si512(), e##r##d = _mm512_setzero_si512();
#define RQ_GVQ_FMA(r, u)                                                                       \
    {                                                                                          \
        int32_t w_;                                                                            \
        __m512i va_;                                                                           \
        memcpy(&w_, ap + (size_t)(r) * lda_p + (size_t)g_ * 4u, 4);                            \
        va_ = _mm512_set1_epi32(w_);                                                           \
        e##r##a = _mm512_dpbusd_epi32(e##r##a, va_, vba);                                      \
        e##r##b = _mm512_dpbusd_epi32(e##r##b, va_, vbb);                                      \
        e##r##c = _mm512_dpbusd_epi32(e##r##c, va_, vbc);                                      \
        e##r##d = _mm512_dpbusd_epi32(e##r##d, va_, vbd);                                      \
    }
#define RQ_GVQ_STORE(r, u)                                                                     \
    _mm512_store_si512(cbuf + 32 * (r), e##r##a);                                              \
    _mm512_store_si512(cbuf + 32 * (r) + 16, e##r##b);                                         \
    _mm512_store_si512(cbuf + 128 + 32 * (r), e##r##c);                                        \
    _mm512_store_si512(cbuf + 128 + 32 * (r) + 16, e##r##d);
#define RQ_GVQ_BODY(ROWS)                                                                      \
    {                                                                                          \
        int32_t g_;                                                                            \
        ROWS(RQ_GVQ_ACC, RQ_GV_ONE)                                                            \
        for (g_ = 0; g_ < groups; g_++) {                                                      \
            const int8_t *p0 = b0 + (size_t)g_ * 64u;                                          \
            const __m512i vba = _mm512_loadu_si512(p0), vbb = _mm512_loadu_si512(p0 + ps1);    \
            const __m512i vbc = _mm512_loadu_si512(p0 + ps2), vbd = _mm512_loadu_si512(p0 + ps3); \
            ROWS(RQ_GVQ_FMA, RQ_GV_ONE)                                                        \
        }                                                                                      \
        ROWS(RQ_GVQ_STORE, RQ_GV_ONE)                                                          \
    }

RQ_VNNI static void rq_gemv_quad(const uint8_t *ap, size_t lda_p, int32_t rows, const int8_t *b0,
                                 size_t pstride, int32_t groups, int32_t *cbuf)
{
    const size_t ps1 = pstride, ps2 = 2 * pstride, ps3 = 3 * pstride;
    switch (rows) {
    case 2: RQ_GVQ_BODY(RQ_GV_ROWS2) break;
    case 3: RQ_GVQ_BODY(RQ_GV_ROWS3) break;
    default: RQ_GVQ_BODY(RQ_GV_ROWS4) break;
    }
}

/* A' rows (zero-padded to lda_p bytes) and their byte sums mod 2^32. */
RQ_AVX512 static void rq_gemv_prep_a(const rq_gemm *g, int32_t i0, int32_t rows, size_t lda_p,
                                     uint8_t *apack, uint32_t *rs)
{
    const __m512i x = _mm512_set1_epi8(g->a_type == RQ_I8 ? (char)0x80 : 0);
    int32_t r, k;
    if (g->k == 0) {   /* A may be NULL: nothing to read */
        memset(apack, 0, (size_t)rows * lda_p);
        memset(rs, 0, (size_t)rows * sizeof(uint32_t));
        return;
    }
    for (r = 0; r < rows; r++) {
        const uint8_t *src = (const uint8_t *)g->a + (size_t)(i0 + r) * (size_t)g->lda;
        uint8_t *dst = apack + (size_t)r * lda_p;
        __m512i s = _mm512_setzero_si512();
        for (k = 0; k < (int32_t)lda_p; k += 64) {
            int32_t left = g->k - k;
            __mmask64 mk = left >= 64 ? ~(__mmask64)0 : left > 0 ? (((__mmask64)1 << left) - 1u) : 0;
            __m512i v = _mm512_maskz_mov_epi8(mk, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, src + k), x));
            _mm512_store_si512(dst + k, v);
            s = _mm512_add_epi64(s, _mm512_sad_epu8(v, _mm512_setzero_si512()));
        }
        rs[r] = (uint32_t)_mm512_reduce_add_epi64(s);
    }
}

/* The plan's rows (1 to 4) and columns: B streamed once, 32 columns per block. */
int rq_gemv_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w)
{
    const rq_gemm *g = p->g;
    const int32_t rows = p->r1 - p->r0, groups = pb->k_pad / 4;
    const size_t lda_p = (size_t)(pb->k_pad > 0 ? pb->k_pad : 64), pstride = (size_t)groups * 64u;
    uint8_t *apack = aligned_alloc(64, (size_t)rows * lda_p);
    int32_t *cbuf = aligned_alloc(64, 2u * 4u * 32u * sizeof(int32_t));
    uint32_t rs[4];
    int32_t jp;
    if (!apack || !cbuf) {
        free(apack);
        free(cbuf);
        return RQ_E_NOMEM;
    }
    rq_gemv_prep_a(g, p->r0, rows, lda_p, apack, rs);
    for (jp = p->c0 / 32; jp * 32 < p->c1; jp++) {
        const int8_t *b0 = pb->data + (size_t)(2 * jp) * pstride;
        if ((jp + 1) * 32 < p->c1) {   /* 64 columns at once: four streams */
            if (rows == 1)
                rq_gemv_row4(apack, b0, pstride, groups, cbuf);
            else
                rq_gemv_quad(apack, lda_p, rows, b0, pstride, groups, cbuf);
            rq_epilogue(p, w, cbuf, p->r0, rows, jp * 32, rs);
            rq_epilogue(p, w, cbuf + 128, p->r0, rows, jp * 32 + 32, rs);
            jp++;
            continue;
        }
        rq_gemv_block(apack, lda_p, rows, b0, pstride, groups, cbuf);
        rq_epilogue(p, w, cbuf, p->r0, rows, jp * 32, rs);
    }
    free(apack);
    free(cbuf);
    return RQ_OK;
}

#else /* not x86-64 GCC/Clang: never called (rq_cpu_paths lists no SIMD path) */

int rq_gemv_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w)
{
    (void)p; (void)pb; (void)w;
    return RQ_E_PATH;
}

#endif
