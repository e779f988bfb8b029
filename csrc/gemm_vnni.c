/* gemm_vnni.c -- the AVX-512 VNNI path: its micro-kernels, A packing and driver.
 *
 * vpdpbusd multiplies unsigned bytes of A by signed bytes of B, so A' = A
 * (uint8) or A ^ 0x80 = A + 128 (int8 A); B comes packed (pack.c).  Each
 * kernel forms sum_k A'B' mod 2^32 in int32 lanes; rq_epilogue
 * (requant_avx512.c) turns it into the contract's accumulator and output.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "rq_simd.h"   /* includes rq_internal.h and refquant_kernel.h once */

#if RQ_X86_SIMD

/* ---- VNNI micro-kernel: RQ_MR rows x 32 columns -------------------------- */

/* The accumulators are named variables, not an array: GCC keeps an array of
 * __m512i in memory-backed copies and moved every one of them through a
 * second register each k-step (measured: 32 vmovdqa per 16 vpdpbusd).  Per
 * group of 4 k: two 64-byte B loads, one dword broadcast of A per row, two
 * vpdpbusd per row.  RQ_MR rows: 2*RQ_MR accumulators + 2 B + 1 A register. */
#define RQ_ACC2(r) __m512i c##r##a = _mm512_setzero_si512(), c##r##b = _mm512_setzero_si512();
/* Row r's step, its 4 bytes at ADDR: RQ_A(r) (packed A) or RQ_QA(r) (A in place) */
#define RQ_STEPAT(r, ADDR)                                                                 \
    {                                                                                      \
        int32_t w_;                                                                        \
        __m512i va_;                                                                       \
        memcpy(&w_, ADDR, 4);                                                              \
        va_ = _mm512_set1_epi32(w_);                                                       \
        c##r##a = _mm512_dpbusd_epi32(c##r##a, va_, vb0);                                  \
        c##r##b = _mm512_dpbusd_epi32(c##r##b, va_, vb1);                                  \
    }
#define RQ_STEP(r) RQ_STEPAT(r, RQ_A(r))
#define RQ_STORE(r)                                                                        \
    _mm512_store_si512(cbuf + 32 * (r), c##r##a);                                          \
    _mm512_store_si512(cbuf + 32 * (r) + 16, c##r##b);
#define RQ_R1(X) X(0)
#define RQ_R2(X) RQ_R1(X) X(1)
#define RQ_R3(X) RQ_R2(X) X(2)
#define RQ_R4(X) RQ_R3(X) X(3)
#define RQ_R5(X) RQ_R4(X) X(4)
#define RQ_R6(X) RQ_R5(X) X(5)
#define RQ_R7(X) RQ_R6(X) X(6)
#define RQ_R8(X) RQ_R7(X) X(7)
#define RQ_R9(X) RQ_R8(X) X(8)
#define RQ_R10(X) RQ_R9(X) X(9)
#define RQ_R11(X) RQ_R10(X) X(10)
#define RQ_R12(X) RQ_R11(X) X(11)
#if RQ_MR == 12
#define RQ_ROWS RQ_R12
#elif RQ_MR == 8
#define RQ_ROWS RQ_R8
#else
#error "RQ_MR must be 8 or 12"
#endif

/* A read in place (uint8, K % 4 == 0; and the implicit conv's rows): rows addressed from four
 * row pointers q0_, q3_, q6_, q9_ (rows 0, 3, 6, 9 of the block, each moved 4 bytes per group)
 * plus 0, lda or 2*lda -- six registers, where offsets r*lda for every row took eleven and GCC
 * kept some of them in vector registers and on the stack, moved back every group.  Measured on
 * Zen 4 (AMD EPYC, 1 thread, A/B in one process, 10 alternating rounds, best GOPS):
 * 2048^3 432 -> 449, 1020 x 1024 x 1024 402 -> 423, 264 x 2048 x 256 440 -> 459. */
#define RQ_QSET(base, nrows)                                                               \
    q0_ = (base);                                                                          \
    q3_ = (nrows) > 3 ? q0_ + 3 * lda_ : q0_;                                              \
    q6_ = (nrows) > 6 ? q0_ + 6 * lda_ : q0_;                                              \
    q9_ = (nrows) > 9 ? q0_ + 9 * lda_ : q0_;
#define RQ_QDECL(LDA) const size_t lda_ = (LDA), l2_ = 2 * lda_; const uint8_t *q0_, *q3_, *q6_, *q9_;
#define RQ_QNEXT q0_ += 4; q3_ += 4; q6_ += 4; q9_ += 4;
#define RQ_QA(r) (((r) < 3 ? q0_ : (r) < 6 ? q3_ : (r) < 9 ? q6_ : q9_) +                   \
                  ((r) % 3 == 0 ? (size_t)0 : (r) % 3 == 1 ? lda_ : l2_))
#define RQ_DSTEP(r) RQ_STEPAT(r, RQ_QA(r))
/* The fused finish of a block read in place (fz != NULL; rq_fuse_mode says when): the
 * accumulators start from the column correction colfix_j, so that they end as the contract's
 * accumulator (no row sums: every beta_j is 0), and the kernel writes C itself -- int32 C as is
 * (method int32), or 8-bit C by the float_fp32 steps of rq_epilogue's exact saturating-pack
 * branch (|zp| <= 256; requant_avx512.c), two rows per pack -- instead of storing the block to
 * cbuf for rq_epilogue to read back. */
typedef struct {
    const int32_t *colfix;   /* colfix + j0 */
    void *c;                 /* the block's first output, C + i0 * ldc + j0 (of the output type) */
    size_t ldc;
    const float *mf;         /* mf + j0 for 8-bit C; NULL: int32 C */
    int32_t zp, qmin, qmax;
    int u8, stream;          /* uint8 C; int32 C with non-temporal stores (rq_stream_c) */
} rq_fuse;
#define RQ_ACC2F(r) __m512i c##r##a = ini0_, c##r##b = ini1_;
#define RQ_FST32(r)                                                                        \
    if (fz->stream) {                                                                      \
        _mm512_stream_si512((void *)(c32_ + (r) * fz->ldc), c##r##a);                      \
        _mm512_stream_si512((void *)(c32_ + (r) * fz->ldc + 16), c##r##b);                 \
    } else {                                                                               \
        _mm512_storeu_si512((void *)(c32_ + (r) * fz->ldc), c##r##a);                      \
        _mm512_storeu_si512((void *)(c32_ + (r) * fz->ldc + 16), c##r##b);                 \
    }
/* rows r and s (s == r: row r alone, the low half stored) to 8-bit C */
#define RQ_FQ8(r, s, LAST)                                                                 \
    {                                                                                      \
        const __m512i h0_ = _mm512_adds_epi16(_mm512_packs_epi32(RQ_FQ_HI(c##r##a, mf0_, hi_),  \
                                              RQ_FQ_HI(c##r##b, mf1_, hi_)), zp16_);       \
        const __m512i h1_ = _mm512_adds_epi16(_mm512_packs_epi32(RQ_FQ_HI(c##s##a, mf0_, hi_),  \
                                              RQ_FQ_HI(c##s##b, mf1_, hi_)), zp16_);       \
        __m512i q_ = fz->u8 ? _mm512_max_epu8(_mm512_packus_epi16(h0_, h1_), lo8_)         \
                            : _mm512_max_epi8(_mm512_packs_epi16(h0_, h1_), lo8_);         \
        q_ = _mm512_permutexvar_epi32(order_, q_);                                         \
        _mm256_storeu_si256((__m256i *)(c8_ + (r) * fz->ldc), _mm512_castsi512_si256(q_)); \
        if (LAST)                                                                          \
            _mm256_storeu_si256((__m256i *)(c8_ + (s) * fz->ldc), _mm512_extracti64x4_epi64(q_, 1)); \
    }
#define RQ_FPAIR(r, s) RQ_FQ8(r, s, 1)
#define RQ_FONE(r) RQ_FQ8(r, r, 0)
/* the rows of an NR-row block in pairs, the last alone when NR is odd */
#define RQ_PR1(P, S) S(0)
#define RQ_PR2(P, S) P(0, 1)
#define RQ_PR3(P, S) RQ_PR2(P, S) S(2)
#define RQ_PR4(P, S) RQ_PR2(P, S) P(2, 3)
#define RQ_PR5(P, S) RQ_PR4(P, S) S(4)
#define RQ_PR6(P, S) RQ_PR4(P, S) P(4, 5)
#define RQ_PR7(P, S) RQ_PR6(P, S) S(6)
#define RQ_PR8(P, S) RQ_PR6(P, S) P(6, 7)
#define RQ_PR9(P, S) RQ_PR8(P, S) S(8)
#define RQ_PR10(P, S) RQ_PR8(P, S) P(8, 9)
#define RQ_PR11(P, S) RQ_PR10(P, S) S(10)
#define RQ_PR12(P, S) RQ_PR10(P, S) P(10, 11)
#define RQ_PAIRS_(NR) RQ_PR##NR
#define RQ_PAIRS(NR) RQ_PAIRS_(NR)
#define RQ_FINISH(ROWS, NR)                                                                \
    if (!fz) {                                                                             \
        ROWS(RQ_STORE)                                                                     \
    } else if (!fz->mf) {                                                                  \
        int32_t *const c32_ = (int32_t *)fz->c;                                            \
        ROWS(RQ_FST32)                                                                     \
    } else {                                                                               \
        int8_t *const c8_ = (int8_t *)fz->c;                                               \
        const __m512 mf0_ = _mm512_loadu_ps(fz->mf), mf1_ = _mm512_loadu_ps(fz->mf + 16); \
        const __m512 hi_ = _mm512_set1_ps((float)((int64_t)fz->qmax - fz->zp));            \
        const __m512i zp16_ = _mm512_set1_epi16((int16_t)fz->zp);                          \
        const __m512i lo8_ = _mm512_set1_epi8((char)fz->qmin);                             \
        const __m512i order_ = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15); \
        RQ_PAIRS(NR)(RQ_FPAIR, RQ_FONE)                                                    \
    }

/* Which blocks of A read in place the micro-kernel finishes itself (rq_fuse): none where a row
 * part of the correction is needed; int32 C of method int32; 8-bit C of method float_fp32 with
 * |zp| <= 256 (the exact saturating-pack steps).  rq_epilogue finishes every other block, and
 * blocks narrower than 32 columns.  A/B in one process (-DRQ_EXPERIMENT, rq_exp_fuse), AMD EPYC
 * Zen 4, 1 thread, best of 8 alternating rounds, off -> on: 256^3 uint8 82.4 -> 79.0 us, int32
 * 82.5 -> 77.6 us; more in docs/kernel.md. */
enum { RQ_FUSE_NONE, RQ_FUSE_I32, RQ_FUSE_Q8 };
#ifdef RQ_EXPERIMENT
int rq_exp_fuse = 1;
#define RQ_FUSE_ON rq_exp_fuse
#else
#define RQ_FUSE_ON 1
#endif
/* The fusion mode of a plan, and in *f its fields that every block shares (w->stream: 0 for conv). */
static int rq_fuse_mode(const rq_plan *p, const rq_simd_ws *w, rq_fuse *f)
{
    const rq_gemm *g = p->g;
    f->ldc = (size_t)g->ldc;
    f->zp = g->zp;
    f->qmin = g->qmin;
    f->qmax = g->qmax;
    f->u8 = g->c_type == RQ_U8;
    f->stream = w->stream;
    if (!RQ_FUSE_ON || w->need_rowsum)
        return RQ_FUSE_NONE;
    if (g->method == RQ_INT32 && g->c_type == RQ_I32)
        return RQ_FUSE_I32;
    if (g->method == RQ_FLOAT_FP32 && g->c_type != RQ_I32 && g->zp >= -256 && g->zp <= 256)
        return RQ_FUSE_Q8;
    return RQ_FUSE_NONE;
}

/* The block at output row i0, columns j0 .. j0+31 finished by its kernel (in *f, from the
 * shared fields in *f0), or NULL where rq_epilogue finishes it (a block narrower than 32
 * columns: the plan's rectangle cuts it). */
static const rq_fuse *rq_fuse_block(const rq_plan *p, const rq_simd_ws *w, int mode, const rq_fuse *f0,
                                    rq_fuse *f, int32_t i0, int32_t j0)
{
    const rq_gemm *g = p->g;
    const size_t at = (size_t)i0 * (size_t)g->ldc + (size_t)j0;
    if (mode == RQ_FUSE_NONE || j0 < p->c0 || j0 + 32 > p->c1)
        return NULL;
    *f = *f0;
    f->colfix = w->colfix + j0;
    f->mf = mode == RQ_FUSE_I32 ? NULL : p->mf + j0;
    f->c = mode == RQ_FUSE_I32 ? (void *)((int32_t *)g->c + at) : (void *)((int8_t *)g->c + at);
    return f;
}

/* NR rows (ROWS = RQ_R<NR>) of A in place, row stride LDA, 32 columns; finished to cbuf, or
 * to C (fz) */
#define RQ_MR32_DBODY(ROWS, NR, LDA)                                                       \
    {                                                                                      \
        RQ_QDECL(LDA)                                                                      \
        int32_t g;                                                                         \
        const __m512i ini0_ = fz ? _mm512_loadu_si512(fz->colfix) : _mm512_setzero_si512();        \
        const __m512i ini1_ = fz ? _mm512_loadu_si512(fz->colfix + 16) : _mm512_setzero_si512();   \
        ROWS(RQ_ACC2F)                                                                     \
        RQ_QSET(ap, NR)                                                                    \
        for (g = 0; g < groups; g++) {                                                     \
            const __m512i vb0 = _mm512_loadu_si512(b0 + (size_t)g * 64u);                  \
            const __m512i vb1 = _mm512_loadu_si512(b1 + (size_t)g * 64u);                  \
            if (g < npf)                                                                   \
                _mm_prefetch((const char *)pf + (size_t)g * 64u, _MM_HINT_T1);             \
            ROWS(RQ_DSTEP)                                                                 \
            RQ_QNEXT                                                                       \
        }                                                                                  \
        RQ_FINISH(ROWS, NR)                                                                \
    }

/* Row r's 4 bytes of group g are at ap + r*LDA + g*GS: packed A (LDA = 4,
 * GS = 4*RQ_MR, constants). */
#define RQ_MR32_BODY(ROWS, LDA, GS)                                                        \
    {                                                                                      \
        const size_t lda_ = (LDA);                                                         \
        int32_t g;                                                                         \
        ROWS(RQ_ACC2)                                                                      \
        for (g = 0; g < groups; g++) {                                                     \
            const __m512i vb0 = _mm512_loadu_si512(b0 + (size_t)g * 64u);                  \
            const __m512i vb1 = _mm512_loadu_si512(b1 + (size_t)g * 64u);                  \
            const uint8_t *a0 = ap + (size_t)g * (GS);                                     \
            if (g < npf)                                                                   \
                _mm_prefetch((const char *)pf + (size_t)g * 64u, _MM_HINT_T1);             \
            ROWS(RQ_STEP)                                                                  \
        }                                                                                  \
        ROWS(RQ_STORE)                                                                     \
    }
#define RQ_A(r) (a0 + (size_t)(r) * lda_)

/* The same with one 16-column panel (the last panel pair of a B with n % 32 in [1, 16]: a 1x1
 * conv with 16 output channels): half the vpdpbusd and B loads; cbuf keeps its 32-int rows
 * (columns 16..31 are not written and the epilogue does not read them). */
#define RQ_ACC1(r) __m512i c##r##a = _mm512_setzero_si512();
#define RQ_STEP1AT(r, ADDR)                                                                \
    {                                                                                      \
        int32_t w_;                                                                        \
        memcpy(&w_, ADDR, 4);                                                              \
        c##r##a = _mm512_dpbusd_epi32(c##r##a, _mm512_set1_epi32(w_), vb0);                \
    }
#define RQ_STEP1(r) RQ_STEP1AT(r, RQ_A(r))
#define RQ_STORE1(r) _mm512_store_si512(cbuf + 32 * (r), c##r##a);
#define RQ_MR16_BODY(ROWS, LDA, GS)                                                        \
    {                                                                                      \
        const size_t lda_ = (LDA);                                                         \
        int32_t g;                                                                         \
        ROWS(RQ_ACC1)                                                                      \
        for (g = 0; g < groups; g++) {                                                     \
            const __m512i vb0 = _mm512_loadu_si512(b0 + (size_t)g * 64u);                  \
            const uint8_t *a0 = ap + (size_t)g * (GS);                                     \
            ROWS(RQ_STEP1)                                                                 \
        }                                                                                  \
        ROWS(RQ_STORE1)                                                                    \
    }

#define RQ_DSTEP1(r) RQ_STEP1AT(r, RQ_QA(r))
#define RQ_MR16_DBODY(ROWS, NR, LDA)                                                       \
    {                                                                                      \
        RQ_QDECL(LDA)                                                                      \
        int32_t g;                                                                         \
        ROWS(RQ_ACC1)                                                                      \
        RQ_QSET(ap, NR)                                                                    \
        for (g = 0; g < groups; g++) {                                                     \
            const __m512i vb0 = _mm512_loadu_si512(b0 + (size_t)g * 64u);                  \
            ROWS(RQ_DSTEP1)                                                                \
            RQ_QNEXT                                                                       \
        }                                                                                  \
        ROWS(RQ_STORE1)                                                                    \
    }

/* The cases of a switch on a block's row count, 1 to RQ_MR - 1: B(ROWS, NR) for each. */
#define RQ_TAIL_CASES7(B)                                                                  \
    case 1: B(RQ_R1, 1) break;                                                             \
    case 2: B(RQ_R2, 2) break;                                                             \
    case 3: B(RQ_R3, 3) break;                                                             \
    case 4: B(RQ_R4, 4) break;                                                             \
    case 5: B(RQ_R5, 5) break;                                                             \
    case 6: B(RQ_R6, 6) break;                                                             \
    case 7: B(RQ_R7, 7) break;
#if RQ_MR == 12
#define RQ_TAIL_CASES(B)                                                                   \
    RQ_TAIL_CASES7(B)                                                                      \
    case 8: B(RQ_R8, 8) break;                                                             \
    case 9: B(RQ_R9, 9) break;                                                             \
    case 10: B(RQ_R10, 10) break;                                                          \
    case 11: B(RQ_R11, 11) break;
#else
#define RQ_TAIL_CASES(B) RQ_TAIL_CASES7(B)
#endif
#define RQ_D16(ROWS, NR) RQ_MR16_DBODY(ROWS, NR, lda)
#define RQ_D32(ROWS, NR) RQ_MR32_DBODY(ROWS, NR, lda)

RQ_VNNI static void rq_vnni_mr16(const uint8_t *ap, const int8_t *b0, int32_t groups, int32_t *cbuf)
RQ_MR16_BODY(RQ_ROWS, 4u, 4u * RQ_MR)

RQ_VNNI static void rq_vnni_mr16_direct(const uint8_t *ap, size_t lda, const int8_t *b0, int32_t groups,
                                        int32_t *cbuf)
RQ_MR16_DBODY(RQ_ROWS, RQ_MR, lda)

RQ_VNNI static void rq_vnni_tail16_direct(const uint8_t *ap, size_t lda, int32_t rows, const int8_t *b0,
                                          int32_t groups, int32_t *cbuf)
{
    switch (rows) {
    RQ_TAIL_CASES(RQ_D16)
    default: break;   /* 1 <= rows < RQ_MR */
    }
}

RQ_VNNI static void rq_vnni_mr32(const uint8_t *ap, const int8_t *b0, const int8_t *b1,
                                 int32_t groups, int32_t *cbuf, const int8_t *pf, int32_t npf)
RQ_MR32_BODY(RQ_ROWS, 4u, 4u * RQ_MR)

RQ_VNNI static void rq_vnni_mr32_direct(const uint8_t *ap, size_t lda, const int8_t *b0,
                                        const int8_t *b1, int32_t groups, int32_t *cbuf,
                                        const int8_t *pf, int32_t npf, const rq_fuse *fz)
RQ_MR32_DBODY(RQ_ROWS, RQ_MR, lda)

/* The last rows (fewer than RQ_MR) of an A read in place: exactly `rows` rows are read. */
RQ_VNNI static void rq_vnni_tail_direct(const uint8_t *ap, size_t lda, int32_t rows, const int8_t *b0,
                                        const int8_t *b1, int32_t groups, int32_t *cbuf,
                                        const int8_t *pf, int32_t npf, const rq_fuse *fz)
{
    switch (rows) {
    RQ_TAIL_CASES(RQ_D32)
    default: break;   /* 1 <= rows < RQ_MR */
    }
}

/* ---- implicit-GEMM convolution: A's rows are receptive fields read in place ---- */

/* `rows` output pixels of one output row x 32 columns: row r of run q reads groups of 4 bytes at
 * ap + aoff[q] + r*lda (lda = stride * C: the next pixel's window); run q's B is the next
 * `groups` groups of the panel pair (runs are consecutive in k: kernel rows, or kernel taps). */
#define RQ_CONV_BODY(ROWS, NR)                                                             \
    {                                                                                      \
        RQ_QDECL(lda)                                                                      \
        int32_t g, q;                                                                      \
        const __m512i ini0_ = fz ? _mm512_loadu_si512(fz->colfix) : _mm512_setzero_si512();        \
        const __m512i ini1_ = fz ? _mm512_loadu_si512(fz->colfix + 16) : _mm512_setzero_si512();   \
        ROWS(RQ_ACC2F)                                                                     \
        for (q = 0; q < runs; q++) {                                                       \
            const int8_t *bq0 = b0 + (size_t)q * (size_t)groups * 64u;                     \
            const int8_t *bq1 = b1 + (size_t)q * (size_t)groups * 64u;                     \
            RQ_QSET(ap + aoff[q], NR)                                                      \
            for (g = 0; g < groups; g++) {                                                 \
                const __m512i vb0 = _mm512_loadu_si512(bq0 + (size_t)g * 64u);            \
                const __m512i vb1 = _mm512_loadu_si512(bq1 + (size_t)g * 64u);            \
                ROWS(RQ_DSTEP)                                                             \
                RQ_QNEXT                                                                   \
            }                                                                              \
        }                                                                                  \
        RQ_FINISH(ROWS, NR)                                                                \
    }

RQ_VNNI static void rq_vnni_conv(const uint8_t *ap, size_t lda, const size_t *aoff, int32_t runs, int32_t rows,
                                 const int8_t *b0, const int8_t *b1, int32_t groups, int32_t *cbuf,
                                 const rq_fuse *fz)
{
    switch (rows) {
    RQ_TAIL_CASES(RQ_CONV_BODY)
    default: RQ_CONV_BODY(RQ_ROWS, RQ_MR) break;
    }
}

/* The implicit-GEMM driver (rq_conv_gemm_run): g->a is a padded NHWC image (cv->hp x cv->wp x
 * cv->c uint8), output row i of the GEMM is pixel (i / ow, i % ow); blocks of up to RQ_MR
 * pixels of one output row; the GEMM's epilogue.  The caller checked that no row sums are
 * needed (w->need_rowsum == 0: every beta_j is 0). */
int rq_conv_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w, const rq_conv_a *cv)
{
    const rq_gemm *g = p->g;
    const uint8_t *x = (const uint8_t *)g->a;
    const int32_t runs = cv->dw == 1 ? cv->kh : cv->kh * cv->kw;
    const int32_t groups = (cv->dw == 1 ? cv->kw * cv->c : cv->c) / 4;
    const size_t lda = (size_t)cv->sw * (size_t)cv->c, kpad = (size_t)pb->k_pad;
    size_t *aoff = malloc((size_t)runs * sizeof(size_t));
    int32_t *cbuf = aligned_alloc(64, (size_t)RQ_MR * 32u * sizeof(int32_t));
    uint32_t rs[RQ_MR] = {0};
    int32_t q, jp, pix;
    rq_simd_ws wc = *w;
    rq_fuse fz0;
    int fuse;
    wc.stream = 0;               /* C is read back at once (rq_conv_gemm_run's NCHW transpose): cached stores */
    fuse = rq_fuse_mode(p, &wc, &fz0);
    if (!aoff || !cbuf) {
        free(aoff);
        free(cbuf);
        return RQ_E_NOMEM;
    }
    for (q = 0; q < runs; q++) {
        int32_t i = cv->dw == 1 ? q : q / cv->kw, j = cv->dw == 1 ? 0 : q % cv->kw;
        aoff[q] = ((size_t)i * (size_t)cv->dh * (size_t)cv->wp + (size_t)j * (size_t)cv->dw) * (size_t)cv->c;
    }
    for (jp = p->c0 / 32; jp * 32 < p->c1; jp++) {
        const int8_t *b0 = pb->data + (size_t)(2 * jp) * (kpad / 4u) * 64u;
        const int8_t *b1 = b0 + (kpad / 4u) * 64u;
        for (pix = p->r0; pix < p->r1;) {
            int32_t oh = pix / cv->ow, ow = pix % cv->ow, rows = cv->ow - ow;
            const uint8_t *ap = x + ((size_t)oh * (size_t)cv->sh * (size_t)cv->wp + (size_t)ow * (size_t)cv->sw)
                                    * (size_t)cv->c;
            rows = rows < p->r1 - pix ? rows : p->r1 - pix;
            rows = (rows + (rows + RQ_MR - 1) / RQ_MR - 1) / ((rows + RQ_MR - 1) / RQ_MR);   /* even blocks */
            rq_fuse fz;
            const rq_fuse *fzp = rq_fuse_block(p, &wc, fuse, &fz0, &fz, pix, jp * 32);
            rq_vnni_conv(ap, lda, aoff, runs, rows, b0, b1, groups, cbuf, fzp);
            if (!fzp)
                rq_epilogue(p, &wc, cbuf, pix, rows, jp * 32, rs);
            pix += rows;
        }
    }
    free(aoff);
    free(cbuf);
    return RQ_OK;
}

/* ---- 1x1 convolution on NCHW x: pixels in the vector lanes ----------------- */

/* Pixel block of up to 64: xb holds, per group of 4 channels, NV vectors of 16 pixels x 4
 * channel bytes (channels past c and pixels past the image are 0; their weights or outputs are
 * never used).  SSE unpacks interleave 4 channel rows of 16 pixels into 64 bytes. */
RQ_AVX512 static void rq_pack_x1x1(const uint8_t *x, int32_t c, int32_t np_, int32_t p0, int32_t pend,
                                   int32_t groups, uint8_t *xb)
{
    int32_t gq, v, j;
    for (gq = 0; gq < groups; gq++) {   /* x points at channel 4 * (the block's first group) */
        for (v = 0; v < 4; v++) {
            int32_t q0 = p0 + 16 * v, left = pend - q0;
            __mmask16 mk = left >= 16 ? (__mmask16)0xffffu : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
            __m128i r[4], ab0, ab1, cd0, cd1;
            uint8_t *d = xb + ((size_t)gq * 4u + (size_t)v) * 64u;
            for (j = 0; j < 4; j++)
                r[j] = 4 * gq + j < c ? _mm_maskz_loadu_epi8(mk, x + (size_t)(4 * gq + j) * (size_t)np_ + q0)
                                      : _mm_setzero_si128();
            ab0 = _mm_unpacklo_epi8(r[0], r[1]);
            ab1 = _mm_unpackhi_epi8(r[0], r[1]);
            cd0 = _mm_unpacklo_epi8(r[2], r[3]);
            cd1 = _mm_unpackhi_epi8(r[2], r[3]);
            _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(ab0, cd0));
            _mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(ab0, cd0));
            _mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(ab1, cd1));
            _mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(ab1, cd1));
        }
    }
}

/* R output channels x NV vectors of 16 pixels: per group, NV loads of x, R dword broadcasts of
 * the weights, R*NV vpdpbusd; then the row's correction colfix[m] (the GEMM's column correction:
 * -zx * sum_k w[m][k] + bias_m), the requantization of requant_avx512.c's fast path with the
 * row's multiplier, masked stores of the pixels inside the image. */
#define RQ_1X1_LD(r, v) (kb0 ? _mm512_load_si512(part + ((size_t)(m0 + (r)) * 4u + (v)) * 16u) : _mm512_setzero_si512())
#define RQ_1X1_ACC(r)                                                                          \
    __m512i k_##r##0 = RQ_1X1_LD(r, 0), k_##r##1 = NV_ > 1 ? RQ_1X1_LD(r, 1) : _mm512_setzero_si512(); \
    __m512i k_##r##2 = NV_ > 2 ? RQ_1X1_LD(r, 2) : _mm512_setzero_si512();                       \
    __m512i k_##r##3 = NV_ > 3 ? RQ_1X1_LD(r, 3) : _mm512_setzero_si512();
#define RQ_1X1_PART(r)                                                                         \
    _mm512_store_si512(part + ((size_t)(m0 + (r)) * 4u + 0u) * 16u, k_##r##0);                  \
    if (NV_ > 1) _mm512_store_si512(part + ((size_t)(m0 + (r)) * 4u + 1u) * 16u, k_##r##1);     \
    if (NV_ > 2) _mm512_store_si512(part + ((size_t)(m0 + (r)) * 4u + 2u) * 16u, k_##r##2);     \
    if (NV_ > 3) _mm512_store_si512(part + ((size_t)(m0 + (r)) * 4u + 3u) * 16u, k_##r##3);
#define RQ_1X1_STEP(r)                                                                         \
    {                                                                                          \
        int32_t w_;                                                                            \
        __m512i vw;                                                                            \
        memcpy(&w_, wt + (size_t)(m0 + (r)) * (size_t)kk + (size_t)(kb0 + g_) * 4u, 4);        \
        vw = _mm512_set1_epi32(w_);                                                            \
        k_##r##0 = _mm512_dpbusd_epi32(k_##r##0, vx0, vw);                                       \
        if (NV_ > 1) k_##r##1 = _mm512_dpbusd_epi32(k_##r##1, vx1, vw);                          \
        if (NV_ > 2) k_##r##2 = _mm512_dpbusd_epi32(k_##r##2, vx2, vw);                          \
        if (NV_ > 3) k_##r##3 = _mm512_dpbusd_epi32(k_##r##3, vx3, vw);                          \
    }
#define RQ_1X1_OUT(m_, v_, accv)                                                               \
    {                                                                                          \
        __m512i a = _mm512_add_epi32((accv), cf);                                              \
        size_t off = (size_t)(m_) * (size_t)np_ + (size_t)p0 + 16u * (size_t)(v_);             \
        if (fp)                                                                                \
            a = RQ_FQ(a, mf, lo, hi, zp);                                                      \
        if (c32)                                                                               \
            _mm512_mask_storeu_epi32((int32_t *)y + off, mks[v_], a);                          \
        else                                                                                   \
            _mm_mask_storeu_epi8((int8_t *)y + off, mks[v_], _mm512_cvtepi32_epi8(a));         \
    }
#define RQ_1X1_EPI(r)                                                                          \
    {                                                                                          \
        const __m512i cf = _mm512_set1_epi32(w->colfix[m0 + (r)]);                             \
        const __m512 mf = _mm512_set1_ps(p->mf[m0 + (r)]);                                     \
        RQ_1X1_OUT(m0 + (r), 0, k_##r##0)                                                       \
        if (NV_ > 1) RQ_1X1_OUT(m0 + (r), 1, k_##r##1)                                          \
        if (NV_ > 2) RQ_1X1_OUT(m0 + (r), 2, k_##r##2)                                          \
        if (NV_ > 3) RQ_1X1_OUT(m0 + (r), 3, k_##r##3)                                          \
    }
/* Named accumulators (an array of __m512i is kept in memory by GCC: measured 518 spill moves). */
#define RQ_1X1_BODY(ROWS, NV)                                                                  \
    {                                                                                          \
        enum { NV_ = NV };                                                                     \
        int32_t g_;                                                                            \
        ROWS(RQ_1X1_ACC)                                                                       \
        for (g_ = 0; g_ < kbn; g_++) {                                                         \
            const uint8_t *xg = xb + (size_t)g_ * 256u;                                        \
            const __m512i vx0 = _mm512_loadu_si512(xg);                                        \
            const __m512i vx1 = NV_ > 1 ? _mm512_loadu_si512(xg + 64) : vx0;                   \
            const __m512i vx2 = NV_ > 2 ? _mm512_loadu_si512(xg + 128) : vx0;                  \
            const __m512i vx3 = NV_ > 3 ? _mm512_loadu_si512(xg + 192) : vx0;                  \
            ROWS(RQ_1X1_STEP)                                                                  \
        }                                                                                      \
        if (kb0 + kbn < groups) {                                                              \
            ROWS(RQ_1X1_PART)                                                                  \
        } else {                                                                               \
            ROWS(RQ_1X1_EPI)                                                                   \
        }                                                                                      \
    }

#define RQ_1X1_NV(ROWS)                                                                           \
    switch (nv) {                                                                              \
    case 1: RQ_1X1_BODY(ROWS, 1) break;                                                           \
    case 2: RQ_1X1_BODY(ROWS, 2) break;                                                           \
    case 3: RQ_1X1_BODY(ROWS, 3) break;                                                           \
    default: RQ_1X1_BODY(ROWS, 4) break;                                                          \
    }

/* The last t = 1..8 pixels of the range: with pixels in the lanes they would cost a whole vector
 * per 4 channels (196 = 12 * 16 + 4 pixels: 13 vectors' work for 12.25).  Here a vector holds
 * T = 1, 2, 4 or 8 pixels (T >= t) x S = 16 / T channel groups of 4: lane q * S + d of super-group
 * sg holds channels 4 * (S * sg + d) .. +3 of pixel q, and one vpdpbusd against the 4 * S weight
 * bytes of that super-group (broadcast to the T pixel blocks) adds S * 4 channels of T pixels.  The
 * S lanes of a pixel are added at the end (mod 2^32, as the full sum: the same bits), and the
 * result takes the lane path's correction, requantization and masked store. */
static inline int64_t rq_load64(const void *ptr)
{
    int64_t v;
    memcpy(&v, ptr, 8);
    return v;
}

/* span bytes of weights at ptr, repeated over the 64-byte vector */
RQ_VNNI static inline __m512i rq_tail_w(const int8_t *ptr, int32_t span)
{
    switch (span) {
    case 64: return _mm512_loadu_si512(ptr);
    case 32: return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)ptr));
    case 16: return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)ptr));
    default: return _mm512_set1_epi64(rq_load64(ptr));
    }
}

/* The S lanes of each pixel added (mod 2^32), the row's correction, requantization and masked
 * store of the t pixels: RQ_1X1_OUT's steps. */
RQ_VNNI static inline void rq_tail_out(__m512i acc, int32_t S, __m512i pick, const rq_plan *p, const rq_simd_ws *w,
                                       int32_t m, int32_t np_, int32_t p0, __mmask16 mk, void *y)
{
    const rq_gemm *g = p->g;
    __m512i a;
    if (S >= 2) acc = _mm512_add_epi32(acc, _mm512_shuffle_epi32(acc, _MM_PERM_CDAB));
    if (S >= 4) acc = _mm512_add_epi32(acc, _mm512_shuffle_epi32(acc, _MM_PERM_BADC));
    if (S >= 8) acc = _mm512_add_epi32(acc, _mm512_shuffle_i32x4(acc, acc, _MM_SHUFFLE(2, 3, 0, 1)));
    if (S >= 16) acc = _mm512_add_epi32(acc, _mm512_shuffle_i32x4(acc, acc, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm512_add_epi32(_mm512_permutexvar_epi32(pick, acc), _mm512_set1_epi32(w->colfix[m]));
    if (g->method == RQ_FLOAT_FP32)
        a = RQ_FQ(a, _mm512_set1_ps(p->mf[m]), _mm512_set1_ps((float)((int64_t)g->qmin - g->zp)),
                  _mm512_set1_ps((float)((int64_t)g->qmax - g->zp)), _mm512_set1_epi32(g->zp));
    if (g->c_type == RQ_I32)
        _mm512_mask_storeu_epi32((int32_t *)y + (size_t)m * (size_t)np_ + (size_t)p0, mk, a);
    else
        _mm_mask_storeu_epi8((int8_t *)y + (size_t)m * (size_t)np_ + (size_t)p0, mk, _mm512_cvtepi32_epi8(a));
}

/* RQ_TAIL_R output channels at once (independent vpdpbusd chains); K % span bytes at the end come
 * from a zero-padded copy of the row's last weights. */
#define RQ_TA(r) __m512i a##r = _mm512_setzero_si512();
#define RQ_TS(r) a##r = _mm512_dpbusd_epi32(a##r, xv, rq_tail_w(wt + (size_t)(m + (r)) * (size_t)kk + (size_t)sg * (size_t)span, span));
#define RQ_TL(r)                                                                               \
    {                                                                                          \
        memset(wlast, 0, sizeof wlast);                                                        \
        memcpy(wlast, wt + (size_t)(m + (r)) * (size_t)kk + (size_t)full * (size_t)span, (size_t)(kk - full * span)); \
        a##r = _mm512_dpbusd_epi32(a##r, xv, rq_tail_w(wlast, span));                          \
    }
#define RQ_TO(r) rq_tail_out(a##r, S, pick, p, w, m + (r), np_, p0, mk, y);
#define RQ_TAIL_BODY(ROWS)                                                                     \
    {                                                                                          \
        ROWS(RQ_TA)                                                                            \
        for (sg = 0; sg < full; sg++) {                                                        \
            const __m512i xv = _mm512_load_si512(xt + (size_t)sg * 64u);                       \
            ROWS(RQ_TS)                                                                        \
        }                                                                                      \
        if (full < ng) {                                                                       \
            const __m512i xv = _mm512_load_si512(xt + (size_t)full * 64u);                     \
            ROWS(RQ_TL)                                                                        \
        }                                                                                      \
        ROWS(RQ_TO)                                                                            \
    }

RQ_VNNI static int rq_1x1_tail(const rq_plan *p, const rq_simd_ws *w, const uint8_t *x, int32_t c,
                               int32_t np_, const int8_t *wt, void *y, int32_t p0, int32_t t)
{
    const rq_gemm *g = p->g;
    const int32_t kk = g->k, T = t == 1 ? 1 : t == 2 ? 2 : t <= 4 ? 4 : 8, S = 16 / T, span = 4 * S;
    const int32_t ng = (kk + span - 1) / span, full = kk / span;   /* super-groups; whole ones */
    const __mmask16 mk = (__mmask16)((1u << t) - 1u);
    const __m512i pick = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 7 * S % 16, 6 * S % 16, 5 * S % 16, 4 * S % 16,
                                          3 * S % 16, 2 * S % 16, S % 16, 0);   /* lane q * S -> q */
    uint8_t *xt = aligned_alloc(64, (size_t)ng * 64u);
    int8_t wlast[64];
    int32_t ch, q, m, sg;
    if (!xt)
        return RQ_E_NOMEM;
    memset(xt, 0, (size_t)ng * 64u);   /* channels past c and pixels past t stay 0 */
    for (ch = 0; ch < c; ch++) {
        uint8_t *d = xt + (size_t)(ch / span) * 64u + (size_t)((ch % span) / 4) * 4u + (size_t)(ch % 4);
        const uint8_t *src = x + (size_t)ch * (size_t)np_ + (size_t)p0;
        for (q = 0; q < t; q++)
            d[(size_t)q * (size_t)span] = src[q];
    }
    for (m = p->c0; m + 8 <= p->c1; m += 8)
        RQ_TAIL_BODY(RQ_R8)
    for (; m < p->c1; m++)
        RQ_TAIL_BODY(RQ_R1)
    free(xt);
    return RQ_OK;
}

/* The driver (rq_conv1x1_nchw_run): pixels [p->r0, p->r1), output channels [p->c0, p->c1); pixels
 * in blocks of 64 > K blocks of up to
 * RQ_1X1_KB groups (the packed pixel block, 256 bytes a group, stays in L1; the int32 sums of a
 * K block but the last go to `part`, M x 64, and come back for the next: wrapping int32 sums, the
 * same value mod 2^32) > 5-channel blocks (20 accumulators). */
#ifndef RQ_1X1_KB
#define RQ_1X1_KB 64
#endif
#ifdef RQ_EXPERIMENT
int rq_exp_1x1tail = 1;
#define RQ_1X1_TAIL_ON rq_exp_1x1tail
#else
#define RQ_1X1_TAIL_ON 1
#endif
RQ_VNNI int rq_conv1x1_vnni(const rq_plan *p, const rq_simd_ws *w, const uint8_t *x, int32_t c,
                            int32_t np_, const int8_t *wt, void *y)
{
    const rq_gemm *g = p->g;
    const int32_t kk = g->k, groups = g->k / 4, mtot = g->n;
    const int fp = g->method == RQ_FLOAT_FP32, c32 = g->c_type == RQ_I32;
    const __m512 lo = _mm512_set1_ps((float)((int64_t)g->qmin - g->zp));
    const __m512 hi = _mm512_set1_ps((float)((int64_t)g->qmax - g->zp));
    const __m512i zp = _mm512_set1_epi32(g->zp);
    const int32_t kbs = groups < RQ_1X1_KB ? groups : RQ_1X1_KB;
    uint8_t *xb = aligned_alloc(64, (size_t)kbs * 256u + 64u);
    int32_t *part = groups > kbs ? aligned_alloc(64, (size_t)mtot * 256u * sizeof(int32_t) / 4u) : NULL;
    /* the last (P mod 16) <= 8 pixels by rq_1x1_tail */
    const int32_t tail = RQ_1X1_TAIL_ON && (p->r1 - p->r0) % 16 <= 8 ? (p->r1 - p->r0) % 16 : 0;
    const int32_t rend = p->r1 - tail;
    int32_t p0, m0, v, kb0, kbn, rc = RQ_OK;
    if (!xb || (groups > kbs && !part)) {
        free(xb);
        free(part);
        return RQ_E_NOMEM;
    }
    for (p0 = p->r0; p0 < rend; p0 += 64) {
        const int32_t nv = (rend - p0 + 15) / 16 < 4 ? (rend - p0 + 15) / 16 : 4;
        __mmask16 mks[4];
        for (v = 0; v < 4; v++) {
            int32_t left = rend - p0 - 16 * v;
            mks[v] = left >= 16 ? (__mmask16)0xffffu : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
        }
        for (kb0 = 0; kb0 < groups; kb0 += kbn) {
            kbn = groups - kb0 < kbs ? groups - kb0 : kbs;
            rq_pack_x1x1(x + (size_t)kb0 * 4u * (size_t)np_, c - 4 * kb0, np_, p0, rend, kbn, xb);
            for (m0 = p->c0; m0 < p->c1; m0 += 5) {
                switch (p->c1 - m0 < 5 ? p->c1 - m0 : 5) {
                case 1: RQ_1X1_NV(RQ_R1) break;
                case 2: RQ_1X1_NV(RQ_R2) break;
                case 3: RQ_1X1_NV(RQ_R3) break;
                case 4: RQ_1X1_NV(RQ_R4) break;
                default: RQ_1X1_NV(RQ_R5) break;
                }
            }
        }
    }
    if (tail)
        rc = rq_1x1_tail(p, w, x, c, np_, wt, y, rend, tail);
    free(xb);
    free(part);
    return rc;
}

/* ---- VNNI small-M kernel: R <= 4 rows x NP*16 columns, B streamed ------- */

/* For M <= 4 the GEMM is bound by reading B once: each 64-byte group of a
 * panel feeds R vpdpbusd, NP panels are read side by side (NP independent
 * sequential streams).  ap: R rows of A' (row stride lda_p, zero past K);
 * b: the first panel, pstride bytes between panels; cbuf: R x 32 int32 per
 * pair of panels, pairs 32*4 ints apart. */
#define RQ_GEMV_BODY(R, NP)                                                                 \
    {                                                                                       \
        __m512i acc[R][NP];                                                                 \
        int32_t g_, r_, q_;                                                                 \
        for (r_ = 0; r_ < R; r_++)                                                          \
            for (q_ = 0; q_ < NP; q_++)                                                     \
                acc[r_][q_] = _mm512_setzero_si512();                                       \
        for (g_ = 0; g_ < groups; g_++) {                                                   \
            __m512i vb[NP];                                                                 \
            for (q_ = 0; q_ < NP; q_++) {                                                   \
                vb[q_] = _mm512_loadu_si512(b + (size_t)q_ * pstride + (size_t)g_ * 64u);   \
                _mm_prefetch((const char *)b + (size_t)q_ * pstride + (size_t)g_ * 64u + RQ_BPF, \
                             _MM_HINT_T0);                                                  \
            }                                                                               \
            for (r_ = 0; r_ < R; r_++) {                                                    \
                int32_t w_;                                                                 \
                __m512i va;                                                                 \
                memcpy(&w_, ap + (size_t)r_ * lda_p + (size_t)g_ * 4u, 4);                  \
                va = _mm512_set1_epi32(w_);                                                 \
                for (q_ = 0; q_ < NP; q_++)                                                 \
                    acc[r_][q_] = _mm512_dpbusd_epi32(acc[r_][q_], va, vb[q_]);             \
            }                                                                               \
        }                                                                                   \
        for (r_ = 0; r_ < R; r_++)                                                          \
            for (q_ = 0; q_ < NP; q_++)                                                     \
                _mm512_store_si512(cbuf + (q_ / 2) * 128 + r_ * 32 + (q_ % 2) * 16, acc[r_][q_]); \
    }

RQ_VNNI static void rq_vnni_small(const uint8_t *ap, size_t lda_p, int32_t rows, const int8_t *b,
                                  size_t pstride, int32_t np, int32_t groups, int32_t *cbuf)
{
    if (np == 4) {
        switch (rows) {
        case 1: RQ_GEMV_BODY(1, 4) break;
        case 2: RQ_GEMV_BODY(2, 4) break;
        case 3: RQ_GEMV_BODY(3, 4) break;
        default: RQ_GEMV_BODY(4, 4) break;
        }
    } else {
        switch (rows) {
        case 1: RQ_GEMV_BODY(1, 2) break;
        case 2: RQ_GEMV_BODY(2, 2) break;
        case 3: RQ_GEMV_BODY(3, 2) break;
        default: RQ_GEMV_BODY(4, 2) break;
        }
    }
}

/* ---- A packing ------------------------------------------------------------- */

/* VNNI: RQ_MR-row groups; per k-group of 4: RQ_MR rows x 4 bytes.  Bytes are A ^ 0x80
 * for int8 A (= A + 128 as uint8).  rs[r] = wrapping sum of the stored bytes.
 * Whole 4-byte groups move as one word (XOR 0x80808080 for int8 A); their byte
 * sum is two 16-bit lane sums, so a row costs a few operations per 4 bytes. */
static void rq_pack_a_vnni(const rq_gemm *g, int32_t i0, int32_t rows, int32_t rows_pad,
                           int32_t groups, uint8_t *dst, uint32_t *rs)
{
    const uint8_t *a = (const uint8_t *)g->a;
    uint8_t x = g->a_type == RQ_I8 ? 0x80u : 0u;
    uint32_t x4 = g->a_type == RQ_I8 ? 0x80808080u : 0u;
    int32_t r, q, k, full = g->k / 4;
    memset(dst, 0, (size_t)rows_pad * (size_t)groups * 4u);
    for (r = 0; r < rows_pad; r++) {
        uint64_t s = 0;
        uint8_t *d = dst + (size_t)(r / RQ_MR) * (size_t)groups * (4u * RQ_MR) + (size_t)(r % RQ_MR) * 4u;
        const uint8_t *src = r < rows ? a + (size_t)(i0 + r) * (size_t)g->lda : NULL;
        if (src) {
            for (q = 0; q < full; q++) {
                uint32_t w, t;
                memcpy(&w, src + (size_t)q * 4u, 4);
                w ^= x4;
                memcpy(d + (size_t)q * (4u * RQ_MR), &w, 4);
                t = (w & 0x00ff00ffu) + ((w >> 8) & 0x00ff00ffu);   /* two lanes of <= 510 */
                s += (t & 0xffffu) + (t >> 16);
            }
            for (k = full * 4; k < g->k; k++) {
                uint8_t v = src[k] ^ x;
                d[(size_t)(k / 4) * (4u * RQ_MR) + (size_t)(k % 4)] = v;
                s += v;
            }
        }
        rs[r] = (uint32_t)s;          /* the sum mod 2^32, as a wrapping uint32 sum gives */
    }
}

/* Row sums (mod 2^32) of rows [i0, i0+rows) of a uint8 A read in place. */
RQ_AVX512 static void rq_rowsum_u8(const rq_gemm *g, int32_t i0, int32_t rows, uint32_t *rs)
{
    int32_t r, k;
    for (r = 0; r < rows; r++) {
        const uint8_t *src = (const uint8_t *)g->a + (size_t)(i0 + r) * (size_t)g->lda;
        __m512i s = _mm512_setzero_si512();
        for (k = 0; k < g->k; k += 64) {
            __mmask64 mk = g->k - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (g->k - k)) - 1u);
            s = _mm512_add_epi64(s, _mm512_sad_epu8(_mm512_maskz_loadu_epi8(mk, src + k),
                                                    _mm512_setzero_si512()));
        }
        rs[r] = (uint32_t)_mm512_reduce_add_epi64(s);
    }
}

/* Rows [i0, i0+rows) of a uint8 A copied to dst with row stride ld (> K, so consecutive rows fall in
 * different L1 sets), and their sums mod 2^32 when rs is not NULL. */
RQ_AVX512 static void rq_restride_u8(const rq_gemm *g, int32_t i0, int32_t rows, uint8_t *dst, size_t ld,
                                     uint32_t *rs)
{
    int32_t r, k;
    for (r = 0; r < rows; r++) {
        const uint8_t *src = (const uint8_t *)g->a + (size_t)(i0 + r) * (size_t)g->lda;
        uint8_t *d = dst + (size_t)r * ld;
        __m512i s = _mm512_setzero_si512();
        for (k = 0; k < g->k; k += 64) {
            __mmask64 mk = g->k - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (g->k - k)) - 1u);
            __m512i v = _mm512_maskz_loadu_epi8(mk, src + k);
            _mm512_mask_storeu_epi8(d + k, mk, v);
            s = _mm512_add_epi64(s, _mm512_sad_epu8(v, _mm512_setzero_si512()));
        }
        if (rs)
            rs[r] = (uint32_t)_mm512_reduce_add_epi64(s);
    }
}

#ifdef RQ_EXPERIMENT
int rq_exp_restride = 1;
int rq_exp_restride_min = 9;
#define RQ_RESTRIDE_ON rq_exp_restride
#define RQ_RESTRIDE_MIN rq_exp_restride_min
#else
#define RQ_RESTRIDE_ON 1
#define RQ_RESTRIDE_MIN 9
#endif

/* How many of RQ_MR consecutive rows of stride lda share row 0's L1 set in lines of their own
 * (64-byte lines, 64 sets: address bits 6..11, as in the 32 KiB 8-way and 48 KiB 12-way L1Ds of
 * current x86 cores); rows less than a line apart share lines, which is no aliasing (K = 4). */
static int rq_rows_in_set(size_t lda)
{
    int r, n = 1;
    for (r = 1; r < RQ_MR; r++) {
        size_t d = ((size_t)r * lda) % 4096u;
        n += (size_t)r * lda >= 64u && (d < 64u || d > 4096u - 64u);
    }
    return n;
}

/* ---- the driver ------------------------------------------------------------ */

/* Small M (<= 4 rows): A' once per row, then B streamed once, 64 columns at a time. */
static int rq_gemm_vnni_small(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w)
{
    const rq_gemm *g = p->g;
    int32_t kpad = pb->k_pad, ir;
    uint8_t *apack;
    uint32_t *rs;
    int32_t *cstrip;             /* two 4 x 32 int32 accumulator blocks */
    int rc = RQ_E_NOMEM;
    int32_t rows = p->r1 - p->r0, groups = (g->k + 3) / 4, jq;
    size_t lda_p = (size_t)groups * 4u + 64u, pstride = (size_t)(kpad / 4) * 64u;
    apack = calloc((size_t)rows * lda_p, 1);
    rs = malloc((size_t)rows * sizeof(uint32_t));
    cstrip = aligned_alloc(64, 2u * 4u * 32u * sizeof(int32_t));
    if (!apack || !rs || !cstrip)
        goto done;
    for (ir = 0; ir < rows; ir++) {   /* A' = A (uint8) or A ^ 0x80 (int8), and its row sums */
        const uint8_t *src = (const uint8_t *)g->a + (size_t)(p->r0 + ir) * (size_t)g->lda;
        uint8_t x = g->a_type == RQ_I8 ? 0x80u : 0u;
        uint32_t s = 0;
        int32_t kk;
        for (kk = 0; kk < g->k; kk++) {
            apack[(size_t)ir * lda_p + (size_t)kk] = src[kk] ^ x;
            s += (uint8_t)(src[kk] ^ x);
        }
        rs[ir] = s;
    }
    for (jq = p->c0 / 32; jq * 32 < p->c1; jq += 2) {
        int32_t np = (jq + 1) * 32 < p->c1 ? 4 : 2;
        rq_vnni_small(apack, lda_p, rows, pb->data + (size_t)(2 * jq) * pstride, pstride, np,
                      groups, cstrip);
        rq_epilogue(p, w, cstrip, p->r0, rows, jq * 32, rs);
        if (np == 4)
            rq_epilogue(p, w, cstrip + 128, p->r0, rows, jq * 32 + 32, rs);
    }
    if (w->stream)
        _mm_sfence();            /* the epilogue's non-temporal stores, before the caller reads C */
    rc = RQ_OK;
done:
    free(apack);
    free(rs);
    free(cstrip);
    return rc;
}

#ifdef RQ_EXPERIMENT
int rq_exp_pf = 1;
#define RQ_PF_ON rq_exp_pf
#else
#define RQ_PF_ON 1
#endif

/* The VNNI driver: M blocks (A packed once, or read in place) > 32-column panel pairs >
 * RQ_MR-row blocks;
 * M <= 4 goes to the small-M kernel, which streams B once. */
int rq_gemm_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w)
{
    const rq_gemm *g = p->g;
    int32_t mr = RQ_MR, mc, kpad = pb->k_pad, ib, jp, ir;
    uint8_t *apack;
    uint32_t *rs;
    int32_t *cstrip;             /* RQ_MR x 32 int32 accumulators */
    int rc = RQ_E_NOMEM, direct = g->a_type == RQ_U8 && g->k % 4 == 0 && g->k > 0, restride, fuse;
    rq_fuse fz0;
    size_t lda_r;
    if (p->r1 - p->r0 <= 4)
        return rq_gemm_vnni_small(p, pb, w);
    mc = (int32_t)((512 * 1024) / (kpad > 0 ? kpad : 64));
    mc = mc < mr ? mr : (mc > 512 ? 512 : mc) / mr * mr;
    if (mc > rq_round_up(p->r1 - p->r0, mr))
        mc = rq_round_up(p->r1 - p->r0, mr);
    /* uint8 A read in place whose rows alias in L1 (a stride that is a multiple of 4 KiB puts all 12
     * rows of a block in one set; Zen 4's L1D has 8 ways): copied per M block to a stride of K + 64.
     * A/B in one process (-DRQ_EXPERIMENT, rq_exp_restride), 8 alternating rounds, best GOPS off -> on,
     * AMD EPYC Zen 4, 1 thread: 128 x 4096 x 11008 380 -> 415, 256 x 4096 x 1024 408 -> 436,
     * 32 x 4096 x 4096 419 -> 429 (2 threads: 772 -> 825, 852 -> 860).  A stride of 2048 (6 rows in
     * a set) lost 1 % (2048^3: 433 -> 429), so only more rows than 8 are copied. */
    restride = direct && RQ_RESTRIDE_ON && rq_rows_in_set((size_t)g->lda) >= RQ_RESTRIDE_MIN;
    fuse = rq_fuse_mode(p, w, &fz0);
    fuse = direct ? fuse : RQ_FUSE_NONE;
    lda_r = restride ? (size_t)g->k + 64u : (size_t)g->lda;
    apack = direct && !restride ? NULL : malloc(restride ? (size_t)mc * lda_r + 64u
                                                : (size_t)mc * (size_t)(kpad > 0 ? kpad : 64) + 64u);
    rs = malloc((size_t)mc * sizeof(uint32_t));
    cstrip = aligned_alloc(64, (size_t)mr * 32u * sizeof(int32_t));
    if (((!direct || restride) && !apack) || !rs || !cstrip)
        goto done;
    for (ib = p->r0; ib < p->r1; ib += mc) {
        int32_t rows = p->r1 - ib < mc ? p->r1 - ib : mc, rows_pad = rq_round_up(rows, mr);
        /* uint8 A with K % 4 == 0 is read in place (no packing pass; the last < RQ_MR rows by
         * a kernel that reads exactly those rows); otherwise A is packed */
        if (restride)
            rq_restride_u8(g, ib, rows, apack, lda_r, w->need_rowsum ? rs : NULL);
        else if (direct && w->need_rowsum)
            rq_rowsum_u8(g, ib, rows, rs);
        else if (!direct)
            rq_pack_a_vnni(g, ib, rows, rows_pad, kpad / 4, apack, rs);
        for (jp = p->c0 / 32; jp * 32 < p->c1; jp++) {
            const int8_t *b0 = pb->data + (size_t)(2 * jp) * (size_t)(kpad / 4) * 64u;
            const int8_t *b1 = b0 + (size_t)(kpad / 4) * 64u;
            const int half = p->c1 - jp * 32 <= 16;   /* one 16-column panel is enough */
            /* the next panel pair (it follows this one in the packed B), prefetched into L2 in
             * equal shares by this pair's row blocks: a B larger than L2 then arrives from L3 or
             * memory while the current pair is in use.  Measured A/B in one process (-DRQ_EXPERIMENT,
             * rq_exp_pf), 10 alternating rounds, best GOPS off -> on: 128 x 4096 x 11008 694 -> 734,
             * 32 x 4096 x 4096 432 -> 645, 2048^3 826 -> 873, 1024^3 871 -> 884; on was faster in
             * 9, 10, 9 and 7 of the 10 rounds (a noisy host: the medians moved the same way). */
            const int32_t nrb = rows_pad / mr, lines = RQ_PF_ON && (jp + 1) * 32 < p->c1 ? kpad / 2 : 0;
            const int32_t share = (lines + nrb - 1) / nrb;
            if (direct && !half) {
                /* A read in place: nrb blocks of near-equal size (128 rows: 7 x 12 + 4 x 11, not
                 * 10 x 12 + 8), so no block is a short one that streams the whole panel pair for
                 * a few rows.  A/B (a run-time switch, since removed), 8 alternating rounds, best
                 * GOPS off -> on:
                 * 128 x 4096 x 11008 735 -> 747, 49 x 160 x 960 (mv2_pw_7) 647 -> 669,
                 * 32 x 4096 x 4096 883 -> 905, 256^3 804 -> 803 */
                int32_t bi;
                for (bi = 0; bi < nrb; bi++) {
                    const int32_t r0 = (int32_t)((int64_t)rows * bi / nrb);
                    const int32_t nr = (int32_t)((int64_t)rows * (bi + 1) / nrb) - r0;
                    const uint8_t *ad = restride ? apack + (size_t)r0 * lda_r
                                                 : (const uint8_t *)g->a + (size_t)(ib + r0) * (size_t)g->lda;
                    const int32_t first = share * bi, npf = lines - first < share ? lines - first : share;
                    const int8_t *pf = b0 + (size_t)kpad * 32u + (size_t)first * 64u;
                    rq_fuse fz;
                    const rq_fuse *fzp = rq_fuse_block(p, w, fuse, &fz0, &fz, ib + r0, jp * 32);
                    if (nr == mr)
                        rq_vnni_mr32_direct(ad, lda_r, b0, b1, g->k / 4, cstrip, pf, npf, fzp);
                    else
                        rq_vnni_tail_direct(ad, lda_r, nr, b0, b1, g->k / 4, cstrip, pf, npf, fzp);
                    if (!fzp)
                        rq_epilogue(p, w, cstrip, ib + r0, nr, jp * 32, rs + r0);
                }
                continue;
            }
            for (ir = 0; ir < rows_pad; ir += mr) {
                const uint8_t *ad = restride ? apack + (size_t)ir * lda_r
                                             : (const uint8_t *)g->a + (size_t)(ib + ir) * (size_t)g->lda;
                const int32_t first = share * (ir / mr), npf = lines - first < share ? lines - first : share;
                const int8_t *pf = b0 + (size_t)kpad * 32u + (size_t)first * 64u;
                if (half && direct && ir + mr <= rows)
                    rq_vnni_mr16_direct(ad, lda_r, b0, g->k / 4, cstrip);
                else if (half && direct)
                    rq_vnni_tail16_direct(ad, lda_r, rows - ir, b0, g->k / 4, cstrip);
                else if (half)
                    rq_vnni_mr16(apack + (size_t)ir * (size_t)kpad, b0, (g->k + 3) / 4, cstrip);
                else   /* packed A (A read in place took the even blocks above) */
                    rq_vnni_mr32(apack + (size_t)ir * (size_t)kpad, b0, b1, (g->k + 3) / 4, cstrip, pf, npf);
                rq_epilogue(p, w, cstrip, ib + ir, mr, jp * 32, rs + ir);
            }
        }
    }
    if (w->stream)
        _mm_sfence();            /* the epilogue's non-temporal stores, before the caller reads C */
    rc = RQ_OK;
done:
    free(apack);
    free(rs);
    free(cstrip);
    return rc;
}

#else /* not x86-64 GCC/Clang: never called (rq_cpu_paths lists no SIMD path) */

int rq_gemm_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w)
{
    (void)p; (void)pb; (void)w;
    return RQ_E_PATH;
}

int rq_conv_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w, const rq_conv_a *cv)
{
    (void)p; (void)pb; (void)w; (void)cv;
    return RQ_E_PATH;
}

int rq_conv1x1_vnni(const rq_plan *p, const rq_simd_ws *w, const uint8_t *x, int32_t c, int32_t np_,
                    const int8_t *wt, void *y)
{
    (void)p; (void)w; (void)x; (void)c; (void)np_; (void)wt; (void)y;
    return RQ_E_PATH;
}

#endif
