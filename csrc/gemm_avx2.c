/* gemm_avx2.c -- the 256-bit paths: AVX2 (exact 16-bit products) and AVX-VNNI (VEX vpdpbusd).
 *
 * Both read B from the same packed layout as the AVX-512 paths (pack.c: per 16-column panel,
 * groups of 64 bytes = 16 columns x 4 consecutive k; bytes B' = B or B - 128) and form
 * sum_k A'B' mod 2^32 in int32 lanes, A' = A (uint8) or A ^ 0x80 = A + 128 (int8), so the column
 * corrections (rq_simd_ws_init) and the identity of requant_avx512.c hold unchanged; the
 * epilogue is rq_epilogue_avx2 (requant_avx2.c).
 *
 * AVX2 (RQ_PATH_AVX2).  vpmaddubsw would add two u8 x s8 products into a *saturating* int16
 * (255*127*2 = 64770 > 32767), so it is never used.  Instead A' is packed as int16 (0..255) and
 * each 16-byte quarter of a B group is sign-extended to int16 (vpmovsxbw): then vpmaddwd adds two
 * exact products (|a*b| <= 255*128) into an int32 lane, which is exact, and vpaddd accumulates
 * mod 2^32.  The sign-extended quarter holds 4 columns x 4 k, so lane 2c sums k0,k1 of column c
 * and lane 2c+1 sums k2,k3; the pair is added at the end (vphaddd, then vpermq puts the
 * columns in order).  Kernel: 4 rows x 8 columns (8 accumulators, 2 widened B, 1 A); B is
 * widened once per panel into a scratch copy when more than 4 rows use it, else in the loop.
 *
 * AVX-VNNI (RQ_PATH_AVXVNNI).  VEX vpdpbusd: four exact u8 x s8 products into an int32 lane
 * without saturation -- the AVX-512 VNNI kernel at half width.  Kernel: 6 rows x 16 columns
 * (12 accumulators, 2 B, 1 A).
 *
 * A is packed per block of rows: per group of 4 k, RQ_A2_MR (or RQ_AV_MR) rows x 4 elements
 * (int16 or bytes), zero past K and past the last row (B's padding is 0 too, so padding adds
 * nothing); rs[r] is the wrapping sum of row r's A' bytes, as the VNNI packing gives it.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "rq_simd.h"   /* includes rq_internal.h and refquant_kernel.h once */

#ifndef RQ_ABYTES256
#define RQ_ABYTES256 (128 * 1024)   /* packed A block; not tuned yet (128 and 768 KiB measured alike by
                                       thread CPU time on a loaded VM; to be measured on a quiet machine) */
#endif
#define RQ_A2_MR 4    /* AVX2 kernel rows */
#define RQ_AV_MR 6    /* AVX-VNNI kernel rows */

#if RQ_X86_SIMD

/* ---- AVX2: 4 rows x 8 columns, vpmaddwd ------------------------------------------- */

/* vb0, vb1: B' of columns 0-3 and 4-7 of the 8, as int16 (lane 2c: k0,k1 of column c; lane
 * 2c+1: k2,k3), either widened once per panel into a scratch copy (loads) or sign-extended here
 * (small M, where each B byte is used by at most RQ_A2_MR rows). */
/* The accumulators are bound to ymm8-15 (local register variables) and each step is one asm pair
 * vpmaddwd + vpaddd into its accumulator: written with intrinsics, GCC 12 moved every accumulator
 * through a second register each step (5-8 vmovdqa per 8 vpmaddwd + 8 vpaddd, so the front end
 * bounded the loop).  A/B on the 2-core AMD EPYC (Zen 4), forced avx2 path, one thread, best of 5
 * alternating processes: 256^3 127.6 -> 140.2 GOPS, 1024^3 136.4 -> 145.1, 2048^3 142.4 -> 148.4
 * (probe 178); unrolling the loop by 2 gained nothing.  -DRQ_A2_ASM=0: the intrinsics. */
#ifndef RQ_A2_ASM
#define RQ_A2_ASM 1
#endif
#if RQ_A2_ASM
#define RQ_A2_REGA_0 "ymm8"
#define RQ_A2_REGB_0 "ymm9"
#define RQ_A2_REGA_1 "ymm10"
#define RQ_A2_REGB_1 "ymm11"
#define RQ_A2_REGA_2 "ymm12"
#define RQ_A2_REGB_2 "ymm13"
#define RQ_A2_REGA_3 "ymm14"
#define RQ_A2_REGB_3 "ymm15"
#define RQ_W_ACC(r)                                                                        \
    register __m256i a##r##0 __asm__(RQ_A2_REGA_##r) = _mm256_setzero_si256();           \
    register __m256i a##r##1 __asm__(RQ_A2_REGB_##r) = _mm256_setzero_si256();
/* acc += vpmaddwd(a, b): two exact int16 products per int32 lane, then vpaddd (mod 2^32) */
#define RQ_A2_MADD(acc, a, b)                                                              \
    {                                                                                      \
        __m256i t_;                                                                        \
        __asm__("vpmaddwd %3, %2, %1\n\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(t_) : "x"(a), "x"(b)); \
    }
#else
#define RQ_W_ACC(r) __m256i a##r##0 = _mm256_setzero_si256(), a##r##1 = _mm256_setzero_si256();
#define RQ_A2_MADD(acc, a, b) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
#define RQ_W_STEP(r)                                                                       \
    {                                                                                      \
        int64_t w_;                                                                        \
        __m256i va_;                                                                       \
        memcpy(&w_, ag + 4 * (r), 8);                                                      \
        va_ = _mm256_set1_epi64x(w_);                                                      \
        RQ_A2_MADD(a##r##0, va_, vb0)                                                      \
        RQ_A2_MADD(a##r##1, va_, vb1)                                                      \
    }
/* hadd of (cols 0-3, cols 4-7) gives columns 0 1 4 5 | 2 3 6 7; vpermq 0,2,1,3 orders them. */
#define RQ_W_STORE(r)                                                                      \
    _mm256_storeu_si256((__m256i *)(cbuf + 32 * (r)),                                      \
                        _mm256_permute4x64_epi64(_mm256_hadd_epi32(a##r##0, a##r##1), 0xd8));
#define RQ_W_BODY(ROWS, VB0, VB1)                                                          \
    {                                                                                      \
        int32_t g;                                                                         \
        ROWS(RQ_W_ACC)                                                                     \
        for (g = 0; g < groups; g++) {                                                     \
            const int16_t *ag = ap + (size_t)g * (4u * RQ_A2_MR);                          \
            const __m256i vb0 = VB0, vb1 = VB1;                                            \
            ROWS(RQ_W_STEP)                                                                \
        }                                                                                  \
        ROWS(RQ_W_STORE)                                                                   \
    }
#define RQ_Q1(X) X(0)
#define RQ_Q2(X) RQ_Q1(X) X(1)
#define RQ_Q3(X) RQ_Q2(X) X(2)
#define RQ_Q4(X) RQ_Q3(X) X(3)
#define RQ_Q5(X) RQ_Q4(X) X(4)
#define RQ_Q6(X) RQ_Q5(X) X(5)
#define RQ_BW0 _mm256_load_si256((const __m256i *)(bw + (size_t)g * 64u))
#define RQ_BW1 _mm256_load_si256((const __m256i *)(bw + (size_t)g * 64u + 16u))
#define RQ_BC0 _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + (size_t)g * 64u)))
#define RQ_BC1 _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + (size_t)g * 64u + 16u)))

/* 8 columns of a widened panel (bw: the panel's int16 copy + 32 * half); `rows` 1..4 computed. */
RQ_AVX2 static void rq_avx2_kernel_w(const int16_t *ap, const int16_t *bw, int32_t groups, int32_t rows,
                                     int32_t *cbuf)
{
    switch (rows) {
    case 1: RQ_W_BODY(RQ_Q1, RQ_BW0, RQ_BW1) break;
    case 2: RQ_W_BODY(RQ_Q2, RQ_BW0, RQ_BW1) break;
    case 3: RQ_W_BODY(RQ_Q3, RQ_BW0, RQ_BW1) break;
    default: RQ_W_BODY(RQ_Q4, RQ_BW0, RQ_BW1) break;
    }
}

/* The same from the packed bytes (b: the panel + 32 * half), sign-extended in the loop. */
RQ_AVX2 static void rq_avx2_kernel_c(const int16_t *ap, const int8_t *b, int32_t groups, int32_t rows,
                                     int32_t *cbuf)
{
    switch (rows) {
    case 1: RQ_W_BODY(RQ_Q1, RQ_BC0, RQ_BC1) break;
    case 2: RQ_W_BODY(RQ_Q2, RQ_BC0, RQ_BC1) break;
    case 3: RQ_W_BODY(RQ_Q3, RQ_BC0, RQ_BC1) break;
    default: RQ_W_BODY(RQ_Q4, RQ_BC0, RQ_BC1) break;
    }
}

/* A panel's B' bytes (groups x 64) sign-extended to int16, same order. */
RQ_AVX2 static void rq_widen_panel(const int8_t *b, int32_t groups, int16_t *bw)
{
    int32_t i;
    for (i = 0; i < groups * 4; i++)
        _mm256_store_si256((__m256i *)(bw + (size_t)i * 16u),
                           _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + (size_t)i * 16u))));
}

/* ---- AVX-VNNI: 6 rows x 16 columns, VEX vpdpbusd ---------------------------------- */

#if RQ_AVXVNNI_CC
#define RQ_V_ACC(r) __m256i v##r##0 = _mm256_setzero_si256(), v##r##1 = _mm256_setzero_si256();
#define RQ_V_STEP(r)                                                                       \
    {                                                                                      \
        int32_t w_;                                                                        \
        __m256i va_;                                                                       \
        memcpy(&w_, ag + 4 * (r), 4);                                                      \
        va_ = _mm256_set1_epi32(w_);                                                       \
        v##r##0 = _mm256_dpbusd_avx_epi32(v##r##0, va_, vb0);                              \
        v##r##1 = _mm256_dpbusd_avx_epi32(v##r##1, va_, vb1);                              \
    }
#define RQ_V_STORE(r)                                                                      \
    _mm256_storeu_si256((__m256i *)(cbuf + 32 * (r)), v##r##0);                            \
    _mm256_storeu_si256((__m256i *)(cbuf + 32 * (r) + 8), v##r##1);

#define RQ_V_BODY(ROWS)                                                                    \
    {                                                                                      \
        int32_t g;                                                                         \
        ROWS(RQ_V_ACC)                                                                     \
        for (g = 0; g < groups; g++) {                                                     \
            const __m256i vb0 = _mm256_loadu_si256((const __m256i *)(b + (size_t)g * 64u)); \
            const __m256i vb1 = _mm256_loadu_si256((const __m256i *)(b + (size_t)g * 64u + 32)); \
            const uint8_t *ag = ap + (size_t)g * (4u * RQ_AV_MR);                          \
            ROWS(RQ_V_STEP)                                                                \
        }                                                                                  \
        ROWS(RQ_V_STORE)                                                                   \
    }

/* `rows` (1 to 6) rows of the block are computed: small M costs only its own rows. */
RQ_AVXVNNI static void rq_avxvnni_kernel(const uint8_t *ap, const int8_t *b, int32_t groups, int32_t rows,
                                         int32_t *cbuf)
{
    switch (rows) {
    case 1: RQ_V_BODY(RQ_Q1) break;
    case 2: RQ_V_BODY(RQ_Q2) break;
    case 3: RQ_V_BODY(RQ_Q3) break;
    case 4: RQ_V_BODY(RQ_Q4) break;
    case 5: RQ_V_BODY(RQ_Q5) break;
    default: RQ_V_BODY(RQ_Q6) break;
    }
}
#else
static void rq_avxvnni_kernel(const uint8_t *ap, const int8_t *b, int32_t groups, int32_t rows, int32_t *cbuf)
{
    (void)ap; (void)b; (void)groups; (void)rows; (void)cbuf;   /* never called: the path is not listed */
}
#endif

/* ---- A packing and the driver ---------------------------------------------------- */

/* Rows [i0, i0+rows) of A' into dst (rows_pad rows, mr-row blocks, per group mr x 4 elements
 * of es bytes: uint8, or the byte zero-extended to int16), zero-padded; rs = row sums mod 2^32. */
static void rq_pack_a_256(const rq_gemm *g, int32_t i0, int32_t rows, int32_t rows_pad, int32_t groups,
                          int32_t mr, int es, void *dst, uint32_t *rs)
{
    const uint8_t x = g->a_type == RQ_I8 ? 0x80u : 0u;
    const uint32_t x4 = g->a_type == RQ_I8 ? 0x80808080u : 0u;
    int32_t r, k, q, full = g->k / 4;
    memset(dst, 0, (size_t)rows_pad * (size_t)groups * 4u * (size_t)es);
    for (r = 0; r < rows; r++) {
        const uint8_t *src = (const uint8_t *)g->a + (size_t)(i0 + r) * (size_t)g->lda;
        size_t base = (size_t)(r / mr) * (size_t)groups * 4u * (size_t)mr + (size_t)(r % mr) * 4u;
        uint32_t s = 0;
        for (q = 0; q < full; q++) {   /* whole groups a word at a time (x86: little-endian) */
            uint32_t w, t;
            size_t at = base + (size_t)q * 4u * (size_t)mr;
            memcpy(&w, src + (size_t)q * 4u, 4);
            w ^= x4;
            t = (w & 0x00ff00ffu) + ((w >> 8) & 0x00ff00ffu);   /* two lanes of <= 510 */
            s += (t & 0xffffu) + (t >> 16);
            if (es == 2) {
                uint64_t e = (uint64_t)(w & 0xffu) | ((uint64_t)((w >> 8) & 0xffu) << 16)
                             | ((uint64_t)((w >> 16) & 0xffu) << 32) | ((uint64_t)(w >> 24) << 48);
                memcpy((int16_t *)dst + at, &e, 8);
            } else {
                memcpy((uint8_t *)dst + at, &w, 4);
            }
        }
        for (k = full * 4; k < g->k; k++) {
            uint8_t v = src[k] ^ x;
            size_t at = base + (size_t)(k / 4) * 4u * (size_t)mr + (size_t)(k % 4);
            if (es == 2)
                ((int16_t *)dst)[at] = (int16_t)v;
            else
                ((uint8_t *)dst)[at] = v;
            s += v;
        }
        rs[r] = s;
    }
}

/* The driver: M blocks (A packed once per block) > 32-column panel pairs > mr-row blocks; each
 * 16-column panel of the pair that holds a column of the rectangle runs the kernel into cbuf
 * (mr rows x 32 int32), then the epilogue. */
int rq_gemm_avx2(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w, int vnni)
{
    const rq_gemm *g = p->g;
    const int32_t mr = vnni ? RQ_AV_MR : RQ_A2_MR, groups = (g->k + 3) / 4;
    const int es = vnni ? 1 : 2;
    const size_t pstride = (size_t)(pb->k_pad / 4) * 64u, arow = (size_t)groups * 4u * (size_t)es;
    int32_t mc = (int32_t)(RQ_ABYTES256 / (arow > 0 ? arow : 1)), ib, jp, ir, h;
    const int widen = !vnni && p->r1 - p->r0 > RQ_A2_MR;   /* B used by > 4 rows: widen it once */
    uint8_t *apack;
    uint32_t *rs;
    int32_t *cbuf;
    int16_t *bw = NULL;
    int rc = RQ_E_NOMEM;
    if (!vnni && mc < 64)   /* the widened B panels are amortized over at least 64 rows */
        mc = 64;
    mc = mc < mr ? mr : (mc > 510 ? 510 : mc) / mr * mr;
    if (mc > rq_round_up(p->r1 - p->r0, mr))
        mc = rq_round_up(p->r1 - p->r0, mr);
    apack = malloc((size_t)mc * arow + 64u);
    rs = malloc((size_t)mc * sizeof(uint32_t));
    cbuf = calloc((size_t)mr * 32u, sizeof(int32_t));
    if (widen)
        bw = aligned_alloc(32, 2u * (size_t)(groups > 0 ? groups : 1) * 128u);
    if (!apack || !rs || !cbuf || (widen && !bw))
        goto done;
    for (ib = p->r0; ib < p->r1; ib += mc) {
        int32_t rows = p->r1 - ib < mc ? p->r1 - ib : mc, rows_pad = rq_round_up(rows, mr);
        rq_pack_a_256(g, ib, rows, rows_pad, groups, mr, es, apack, rs);
        for (jp = p->c0 / 32; jp * 32 < p->c1; jp++) {
            for (h = 0; widen && h < 2 && jp * 32 + 16 * h < p->c1; h++)
                rq_widen_panel(pb->data + (size_t)(2 * jp + h) * pstride, groups, bw + (size_t)h * (size_t)groups * 64u);
            for (ir = 0; ir < rows_pad; ir += mr) {
                const uint8_t *ap = apack + (size_t)ir * arow;
                const int32_t nr = rows - ir < mr ? rows - ir : mr;   /* rows past nr: not stored */
                for (h = 0; h < 2 && jp * 32 + 16 * h < p->c1; h++) {
                    const int8_t *b = pb->data + (size_t)(2 * jp + h) * pstride;
                    const int16_t *a16 = (const int16_t *)(const void *)ap;
                    if (vnni) {
                        rq_avxvnni_kernel(ap, b, groups, nr, cbuf + 16 * h);
                    } else if (widen) {
                        const int16_t *bh = bw + (size_t)h * (size_t)groups * 64u;
                        rq_avx2_kernel_w(a16, bh, groups, nr, cbuf + 16 * h);
                        rq_avx2_kernel_w(a16, bh + 32, groups, nr, cbuf + 16 * h + 8);
                    } else {
                        rq_avx2_kernel_c(a16, b, groups, nr, cbuf + 16 * h);
                        rq_avx2_kernel_c(a16, b + 32, groups, nr, cbuf + 16 * h + 8);
                    }
                }
                rq_epilogue_avx2(p, w, cbuf, ib + ir, mr, jp * 32, rs + ir);
            }
        }
    }
    rc = RQ_OK;
done:
    free(apack);
    free(rs);
    free(cbuf);
    free(bw);
    return rc;
}

#else /* not x86-64 GCC/Clang: never called (rq_cpu_paths lists no SIMD path) */

int rq_gemm_avx2(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w, int vnni)
{
    (void)p; (void)pb; (void)w; (void)vnni;
    return RQ_E_PATH;
}

#endif
