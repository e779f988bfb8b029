/* gemm_x86.c -- AVX-512 VNNI and AMX-INT8 paths, chosen at run time.
 *
 * Every function that uses wider instructions carries its own
 * __attribute__((target(...))), so the library is built without -march and
 * runs on any x86-64 (and any other CPU: then only the scalar path exists).
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
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "rq_internal.h"   /* includes refquant_kernel.h once */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <cpuid.h>
#include <unistd.h>
#include <sys/syscall.h>

#define RQ_T_AVX512 "avx512f,avx512bw,avx512dq,avx512vl"
#define RQ_AVX512 __attribute__((target(RQ_T_AVX512)))
#define RQ_VNNI __attribute__((target(RQ_T_AVX512 ",avx512vnni")))
#define RQ_AMX __attribute__((target(RQ_T_AVX512 ",amx-tile,amx-int8")))

/* ---- CPU features ---------------------------------------------------------- */

static uint64_t rq_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Linux keeps AMX tile data disabled until a process asks for it. */
static int rq_amx_permission(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl)
    unsigned long mask = 0;
    const long ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XTILEDATA = 18;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XTILEDATA) != 0)
        return 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) != 0)
        return 0;
    return (mask >> XTILEDATA) & 1u;
#else
    return 0;
#endif
}

static int rq_detect(void)
{
    unsigned a, b, c, d;
    int paths = RQ_PATH_SCALAR, avx512, os512, osamx;
    uint64_t xcr0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u))   /* OSXSAVE */
        return paths;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return paths;
    xcr0 = rq_xgetbv0();
    avx512 = ((b >> 16) & 1u) && ((b >> 17) & 1u) && ((b >> 30) & 1u) && ((b >> 31) & 1u);
    os512 = (xcr0 & 0xe6u) == 0xe6u;                 /* SSE, AVX, opmask, ZMM state */
    osamx = ((xcr0 >> 17) & 3u) == 3u;               /* XTILECFG, XTILEDATA */
    if (avx512 && os512 && ((c >> 11) & 1u))
        paths |= RQ_PATH_VNNI;
    if (avx512 && os512 && osamx && ((d >> 24) & 1u) && ((d >> 25) & 1u) && rq_amx_permission())
        paths |= RQ_PATH_AMX;
    return paths;
}

int rq_cpu_paths(void)
{
    static int cached = 0;
    int v = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (!v) {
        v = rq_detect();
        __atomic_store_n(&cached, v, __ATOMIC_RELEASE);
    }
    return v;
}

/* ---- AMX tile instructions (inline asm with memory clobbers) -------------- */

#define RQ_TILELOAD(t, base, stride) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t :: "r"(base), "r"((long)(stride)) : "memory")
/* the same with the T1 hint: streamed data that should not evict the L1-resident operand */
#define RQ_TILELOAD_T1(t, base, stride) \
    __asm__ volatile("tileloaddt1 (%0,%1,1), %%tmm" #t :: "r"(base), "r"((long)(stride)) : "memory")
#define RQ_TILESTORE(t, base, stride) \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" :: "r"(base), "r"((long)(stride)) : "memory")
#define RQ_TILEZERO(t) __asm__ volatile("tilezero %%tmm" #t ::)
/* dst += A(src1) . B(src2); AT&T order is src2, src1, dst */
#define RQ_TDPBSSD(d, a, b) __asm__ volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #d ::)
#define RQ_TDPBUSD(d, a, b) __asm__ volatile("tdpbusd %%tmm" #b ", %%tmm" #a ", %%tmm" #d ::)

static void rq_amx_config(void)
{
    unsigned char cfg[64];
    int t;
    memset(cfg, 0, sizeof cfg);
    cfg[0] = 1;                          /* palette 1 */
    for (t = 0; t < 8; t++) {
        cfg[16 + 2 * t] = 64;            /* 64 bytes per row */
        cfg[48 + t] = 16;                /* 16 rows */
    }
    __asm__ volatile("ldtilecfg (%0)" :: "r"(cfg) : "memory");
}

static void rq_amx_release(void)
{
    __asm__ volatile("tilerelease" ::: "memory");
}

/* The AMX micro-kernel: a 32x32 (or 16x32) int32 block held in tiles 0-3 for
 * `nk` k-chunks of 64.  A tiles (4, 5) come from the packed A block, whose
 * chunk c lies at ap + c*astride (tile 5 at +1024), loaded with the T1 hint
 * (A streams from L2 and must not evict B); B tiles (6, 7) from two packed
 * panels (chunk c at b + c*1024), L1-resident across the row blocks.
 * cin: the block to continue from (row stride 32 int32), or NULL to start
 * from zero; the result goes to cout.  lag: the epilogue of the previous
 * block, done a few rows per k-step so that its AVX-512 work overlaps the
 * tile multiplies (run after them it cannot: it fills the reorder buffer). */
#define RQ_AMX_LOOP(OP, TWO)                                                        \
    for (k = 0; k < nk; k++) {                                                      \
        const int8_t *a_ = ap + (size_t)k * (size_t)astride;                       \
        RQ_TILELOAD_T1(4, a_, 64);                                                  \
        RQ_TILELOAD(6, b0 + (size_t)k * 1024u, 64);                                 \
        RQ_TILELOAD(7, b1 + (size_t)k * 1024u, 64);                                 \
        OP(0, 4, 6); OP(1, 4, 7);                                                   \
        if (TWO) { RQ_TILELOAD_T1(5, a_ + 1024, 64); OP(2, 5, 6); OP(3, 5, 7); }    \
        for (; lag && lr < (k + 1) * rps && lr < lag->nr; lr++)                      \
            rq_lag_row(lag, lr);                                                    \
    }

/* ---- VNNI micro-kernel: 8 rows x 32 columns ------------------------------ */

RQ_VNNI static void rq_vnni_8x32(const uint8_t *ap, const int8_t *b0, const int8_t *b1,
                                 int32_t groups, int32_t *cbuf)
{
    __m512i c0[8], c1[8];
    int32_t g, r;
    for (r = 0; r < 8; r++)
        c0[r] = c1[r] = _mm512_setzero_si512();
    for (g = 0; g < groups; g++) {
        __m512i vb0 = _mm512_loadu_si512(b0 + (size_t)g * 64u);
        __m512i vb1 = _mm512_loadu_si512(b1 + (size_t)g * 64u);
        const uint8_t *a = ap + (size_t)g * 32u;
        for (r = 0; r < 8; r++) {
            int32_t w;
            __m512i va;
            memcpy(&w, a + 4 * r, 4);
            va = _mm512_set1_epi32(w);
            c0[r] = _mm512_dpbusd_epi32(c0[r], va, vb0);
            c1[r] = _mm512_dpbusd_epi32(c1[r], va, vb1);
        }
    }
    for (r = 0; r < 8; r++) {
        _mm512_storeu_si512(cbuf + 32 * r, c0[r]);
        _mm512_storeu_si512(cbuf + 32 * r + 16, c1[r]);
    }
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

#ifndef RQ_BPF
#define RQ_BPF 1024   /* B prefetch distance in bytes, per panel */
#endif

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

/* VNNI: 8-row groups; per k-group of 4: 8 rows x 4 bytes.  Bytes are A ^ 0x80
 * for int8 A (= A + 128 as uint8).  rs[r] = wrapping sum of the stored bytes. */
static void rq_pack_a_vnni(const rq_gemm *g, int32_t i0, int32_t rows, int32_t rows_pad,
                           int32_t groups, uint8_t *dst, uint32_t *rs)
{
    const uint8_t *a = (const uint8_t *)g->a;
    uint8_t x = g->a_type == RQ_I8 ? 0x80u : 0u;
    int32_t r, k;
    memset(dst, 0, (size_t)rows_pad * (size_t)groups * 4u);
    for (r = 0; r < rows_pad; r++) {
        uint32_t s = 0;
        uint8_t *d = dst + (size_t)(r / 8) * (size_t)groups * 32u + (size_t)(r % 8) * 4u;
        const uint8_t *src = r < rows ? a + (size_t)(i0 + r) * (size_t)g->lda : NULL;
        for (k = 0; src && k < g->k; k++) {
            uint8_t v = src[k] ^ x;
            d[(size_t)(k / 4) * 32u + (size_t)(k % 4)] = v;
            s += v;
        }
        rs[r] = s;
    }
}

/* AMX: blocks of 32 rows (the last one may have 16); per k-chunk c of 64, a
 * block holds its 16-row tiles back to back: row r of block b at
 * b*32*kpad + c*astride + ((r%32)/16)*1024 + (r%16)*64, astride = 64 * (rows in
 * the block), so the micro-kernel reads one sequential stream.  Raw A bytes,
 * zero padding.  rs[r] = wrapping sum of A[i][k] as int8 or uint8, when
 * needed.  Masked loads never touch bytes past the end of a row. */
RQ_AVX512 static void rq_pack_a_amx(const rq_gemm *g, int32_t i0, int32_t rows, int32_t rows_pad,
                                    int32_t chunks, int8_t *dst, uint32_t *rs, int need_rowsum)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    int32_t r, c;
    for (r = 0; r < rows_pad; r++) {
        int32_t blk = r / 32, in_blk = rows_pad - blk * 32 < 32 ? rows_pad - blk * 32 : 32;
        size_t astride = (size_t)in_blk * 64u;
        int8_t *d = dst + (size_t)blk * 2048u * (size_t)chunks + (size_t)((r % 32) / 16) * 1024u
                    + (size_t)(r % 16) * 64u;
        const uint8_t *src;
        __m512i sum = zero;
        int64_t total;
        if (r >= rows) {
            for (c = 0; c < chunks; c++)
                _mm512_storeu_si512(d + (size_t)c * astride, zero);
            rs[r] = 0;
            continue;
        }
        src = (const uint8_t *)g->a + (size_t)(i0 + r) * (size_t)g->lda;
        for (c = 0; c < chunks; c++) {
            int32_t len = g->k - c * 64 < 64 ? g->k - c * 64 : 64;
            __mmask64 mk = len >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << len) - 1u);
            __m512i v = _mm512_maskz_loadu_epi8(mk, src + (size_t)c * 64u);
            _mm512_storeu_si512(d + (size_t)c * astride, v);
            if (need_rowsum)
                sum = _mm512_add_epi64(sum, _mm512_sad_epu8(g->a_type == RQ_I8 ? _mm512_xor_si512(v, flip) : v, zero));
        }
        /* int8: every one of the chunks*64 bytes was biased by +128 (padding included) */
        total = _mm512_reduce_add_epi64(sum) - (g->a_type == RQ_I8 ? (int64_t)128 * chunks * 64 : 0);
        rs[r] = (uint32_t)(uint64_t)total;
    }
}

/* ---- vector requantization (the AVX-512 form of requant.c) ---------------- */

#define RQ_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

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

/* Workspace shared by both paths for one call. */
typedef struct rq_simd_ws {
    int32_t *colfix;    /* n: -alpha*colsum_j + K*alpha*beta_j + bias_j (mod 2^32) */
    int32_t *beta;      /* n: zb_j - 128 [B uint8] */
    int need_rowsum;    /* some beta_j != 0 */
} rq_simd_ws;

/* float_fp32 of one vector: fl(fl(acc) * M) with RNE, clamp to [lo, hi] (exact
 * binary32 integers), RNE to int32, + zp. */
#define RQ_FQ(acc, mf, lo, hi, zp)                                                        \
    _mm512_add_epi32(_mm512_cvt_roundps_epi32(_mm512_min_ps(_mm512_max_ps(                \
        _mm512_mul_round_ps(_mm512_cvt_roundepi32_ps((acc), RQ_RNE), (mf), RQ_RNE), (lo)),  \
        (hi)), RQ_RNE), (zp))

/* Corrections, requantization and store for a block cbuf[rows][32] at (i0, j0).
 * A full 32-column block of float_fp32 or int32 output is done a whole row at
 * a time (one 32-byte store for 8-bit output); anything else column chunk by
 * column chunk with masks.  8-bit results are already clamped to the output
 * type, so the truncating vpmovdb is exact. */
RQ_AVX512 static void rq_epilogue(const rq_plan *p, const rq_simd_ws *w, const int32_t *cbuf,
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
    if (ja == j0 && jb == j0 + 32 && (method == RQ_FLOAT_FP32 || method == RQ_INT32)) {
        const __m512i cf0 = _mm512_loadu_si512(w->colfix + j0), cf1 = _mm512_loadu_si512(w->colfix + j0 + 16);
        const __m512i be0 = _mm512_loadu_si512(w->beta + j0), be1 = _mm512_loadu_si512(w->beta + j0 + 16);
        const __m512 mf0 = method == RQ_FLOAT_FP32 ? _mm512_loadu_ps(p->mf + j0) : _mm512_setzero_ps();
        const __m512 mf1 = method == RQ_FLOAT_FP32 ? _mm512_loadu_ps(p->mf + j0 + 16) : _mm512_setzero_ps();
        const __m512 lo = _mm512_set1_ps((float)((int64_t)g->qmin - g->zp));
        const __m512 hi = _mm512_set1_ps((float)((int64_t)g->qmax - g->zp));
        const __m512i zp = _mm512_set1_epi32(g->zp);
        const int32_t *src = cbuf + 32 * (ia - i0);
        for (i = ia; i < ib; i++, src += 32) {
            __m512i a0 = _mm512_add_epi32(_mm512_load_si512(src), cf0);
            __m512i a1 = _mm512_add_epi32(_mm512_load_si512(src + 16), cf1);
            if (nrs) {
                __m512i r = _mm512_set1_epi32((int32_t)rs[i - i0]);
                a0 = _mm512_sub_epi32(a0, _mm512_mullo_epi32(be0, r));
                a1 = _mm512_sub_epi32(a1, _mm512_mullo_epi32(be1, r));
            }
            if (method == RQ_FLOAT_FP32) {
                a0 = RQ_FQ(a0, mf0, lo, hi, zp);
                a1 = RQ_FQ(a1, mf1, lo, hi, zp);
            }
            if (c32) {
                _mm512_storeu_si512(c32p + (size_t)i * ldc + (size_t)j0, a0);
                _mm512_storeu_si512(c32p + (size_t)i * ldc + (size_t)j0 + 16, a1);
            } else {
                __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(a0)),
                                                    _mm512_cvtepi32_epi8(a1), 1);
                _mm256_storeu_si256((__m256i *)(c8 + (size_t)i * ldc + (size_t)j0), q);
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

/* A finished full 32-column block (float_fp32 or int32 output) whose
 * corrections, requantization and stores run inside the next block's k-loop;
 * same arithmetic as the full-block branch of rq_epilogue. */
typedef struct rq_lag {
    __m512i cf0, cf1, be0, be1, zp;
    __m512 mf0, mf1, lo, hi;
    const int32_t *src;         /* cbuf, row stride 32 */
    const uint32_t *rs;         /* row sums of the block's first row */
    char *dst;                  /* output row of the block's first row, column j0 */
    size_t ldc_bytes;
    int32_t nr, nrs, fp32, c32;
} rq_lag;

RQ_AVX512 static int rq_lag_init(rq_lag *l, const rq_plan *p, const rq_simd_ws *w,
                                 const int32_t *cbuf, int32_t i0, int32_t nrows, int32_t j0,
                                 const uint32_t *rs)
{
    const rq_gemm *g = p->g;
    int32_t ia = i0 > p->r0 ? i0 : p->r0, ib = i0 + nrows < p->r1 ? i0 + nrows : p->r1;
    size_t esz = g->c_type == RQ_I32 ? 4u : 1u;
    if (j0 < p->c0 || j0 + 32 > p->c1 || (g->method != RQ_FLOAT_FP32 && g->method != RQ_INT32) || ia >= ib)
        return 0;
    l->cf0 = _mm512_loadu_si512(w->colfix + j0); l->cf1 = _mm512_loadu_si512(w->colfix + j0 + 16);
    l->be0 = _mm512_loadu_si512(w->beta + j0); l->be1 = _mm512_loadu_si512(w->beta + j0 + 16);
    l->fp32 = g->method == RQ_FLOAT_FP32;
    l->mf0 = l->fp32 ? _mm512_loadu_ps(p->mf + j0) : _mm512_setzero_ps();
    l->mf1 = l->fp32 ? _mm512_loadu_ps(p->mf + j0 + 16) : _mm512_setzero_ps();
    l->lo = _mm512_set1_ps((float)((int64_t)g->qmin - g->zp));
    l->hi = _mm512_set1_ps((float)((int64_t)g->qmax - g->zp));
    l->zp = _mm512_set1_epi32(g->zp);
    l->src = cbuf + 32 * (ia - i0);
    l->rs = rs + (ia - i0);
    l->ldc_bytes = (size_t)g->ldc * esz;
    l->dst = (char *)g->c + (size_t)ia * l->ldc_bytes + (size_t)j0 * esz;
    l->nr = ib - ia;
    l->nrs = w->need_rowsum;
    l->c32 = g->c_type == RQ_I32;
    return 1;
}

RQ_AVX512 static inline __attribute__((always_inline)) void rq_lag_row(const rq_lag *l, int32_t r)
{
    const int32_t *src = l->src + 32 * r;
    char *dst = l->dst + (size_t)r * l->ldc_bytes;
    __m512i a0 = _mm512_add_epi32(_mm512_load_si512(src), l->cf0);
    __m512i a1 = _mm512_add_epi32(_mm512_load_si512(src + 16), l->cf1);
    if (l->nrs) {
        __m512i rr = _mm512_set1_epi32((int32_t)l->rs[r]);
        a0 = _mm512_sub_epi32(a0, _mm512_mullo_epi32(l->be0, rr));
        a1 = _mm512_sub_epi32(a1, _mm512_mullo_epi32(l->be1, rr));
    }
    if (l->fp32) {
        a0 = RQ_FQ(a0, l->mf0, l->lo, l->hi, l->zp);
        a1 = RQ_FQ(a1, l->mf1, l->lo, l->hi, l->zp);
    }
    if (l->c32) {
        _mm512_storeu_si512(dst, a0);
        _mm512_storeu_si512(dst + 64, a1);
    } else {
        _mm256_storeu_si256((__m256i *)dst,
                            _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(a0)),
                                                    _mm512_cvtepi32_epi8(a1), 1));
    }
}

RQ_AMX static void rq_amx_block(const int8_t *ap, int32_t astride, const int8_t *b0, const int8_t *b1,
                                int32_t nk, int a_signed, const int32_t *cin, int32_t *cout,
                                const rq_lag *lag)
{
    int32_t k, lr = 0, rps = lag && nk > 0 ? (lag->nr + nk - 1) / nk : 0;
    int two = astride == 2048;
    if (cin) {
        RQ_TILELOAD(0, cin, 128); RQ_TILELOAD(1, cin + 16, 128);
        if (two) { RQ_TILELOAD(2, cin + 512, 128); RQ_TILELOAD(3, cin + 528, 128); }
    } else {
        RQ_TILEZERO(0); RQ_TILEZERO(1);
        if (two) { RQ_TILEZERO(2); RQ_TILEZERO(3); }
    }
    if (a_signed) {
        if (two) { RQ_AMX_LOOP(RQ_TDPBSSD, 1) } else { RQ_AMX_LOOP(RQ_TDPBSSD, 0) }
    } else {
        if (two) { RQ_AMX_LOOP(RQ_TDPBUSD, 1) } else { RQ_AMX_LOOP(RQ_TDPBUSD, 0) }
    }
    for (; lag && lr < lag->nr; lr++)
        rq_lag_row(lag, lr);
    RQ_TILESTORE(0, cout, 128); RQ_TILESTORE(1, cout + 16, 128);
    if (two) { RQ_TILESTORE(2, cout + 512, 128); RQ_TILESTORE(3, cout + 528, 128); }
}

/* ---- the driver ------------------------------------------------------------ */

static void rq_simd_ws_init(const rq_plan *p, const rq_packed_b *pb, int amx, rq_simd_ws *w)
{
    const rq_gemm *g = p->g;
    uint32_t alpha = (uint32_t)g->za + ((!amx && g->a_type == RQ_I8) ? 128u : 0u);
    int32_t j;
    w->need_rowsum = 0;
    for (j = p->c0; j < p->c1; j++) {
        uint32_t beta = (uint32_t)p->zb[j] - (pb->b_type == RQ_U8 ? 128u : 0u);
        w->beta[j] = rq_wrap32(beta);
        w->need_rowsum |= beta != 0;
        w->colfix[j] = rq_wrap32(0u - alpha * (uint32_t)pb->colsum[j]
                                 + (uint32_t)g->k * alpha * beta + (uint32_t)p->bias[j]);
    }
}

static int32_t rq_round_up(int32_t v, int32_t q) { return ((v + q - 1) / q) * q; }

#ifndef RQ_LAG
#define RQ_LAG 12     /* overlap each block's epilogue with the next block's tile work when
                         the k-blocks have at least this many chunks (measured: it costs
                         time with short k-loops, which leave too little to overlap) */
#endif
#ifndef RQ_KCMAX
#define RQ_KCMAX 16   /* AMX: whole K in tiles up to this many k-chunks ... */
#endif
#ifndef RQ_KCB
#define RQ_KCB 16     /* ... else k-blocks of this many (B sub-panels, 32 KiB, stay in L1) */
#endif
#ifndef RQ_ABYTES
#define RQ_ABYTES (768 * 1024)   /* packed A block budget (L2) */
#endif

/* AMX driver.  Loops: M blocks (A packed once, L2-resident) > 32-column
 * blocks (the two B panels' k-block stays in L1) > k-blocks > 32-row blocks.
 * With K <= 64*RQ_KCMAX the accumulators stay in tiles over the whole K and
 * each 32x32 block is requantized straight from a 4 KiB L1 buffer. */
RQ_AMX static int rq_gemm_amx(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w)
{
    const rq_gemm *g = p->g;
    int32_t kpad = pb->k_pad, chunks = kpad / 64, mc, ib, jb, kb, ir;
    int32_t kc = chunks <= RQ_KCMAX ? chunks : RQ_KCB;
    int a_signed = g->a_type == RQ_I8;
    int8_t *apack;
    uint32_t *rs;
    int32_t *cstrip = NULL, *cbuf, toggle = 0;
    rq_lag lag;
    int pending = 0;
    mc = (int32_t)(RQ_ABYTES / (kpad > 0 ? kpad : 64));
    mc = mc < 32 ? 32 : (mc > 1024 ? 1024 : mc) / 32 * 32;
    if (mc > rq_round_up(p->r1 - p->r0, 16))
        mc = rq_round_up(p->r1 - p->r0, 16);
    apack = aligned_alloc(64, (size_t)rq_round_up(mc, 32) * (size_t)(kpad > 0 ? kpad : 64));
    rs = malloc((size_t)mc * sizeof(uint32_t));
    cbuf = aligned_alloc(64, 2u * 32u * 32u * sizeof(int32_t));   /* double buffer */
    if (kc < chunks)
        cstrip = aligned_alloc(64, (size_t)rq_round_up(mc, 32) * 32u * sizeof(int32_t));
    if (!apack || !rs || !cbuf || (kc < chunks && !cstrip)) {
        free(apack); free(rs); free(cbuf); free(cstrip);
        return RQ_E_NOMEM;
    }
    rq_amx_config();
    for (ib = p->r0; ib < p->r1; ib += mc) {
        int32_t rows = p->r1 - ib < mc ? p->r1 - ib : mc, rows_pad = rq_round_up(rows, 16);
        if (pending)   /* finish the last block before rs is rewritten */
            for (ir = 0; ir < lag.nr; ir++)
                rq_lag_row(&lag, ir);
        pending = 0;
        rq_pack_a_amx(g, ib, rows, rows_pad, chunks, apack, rs, w->need_rowsum);
        for (jb = p->c0 / 32; jb * 32 < p->c1; jb++) {
            const int8_t *b0 = pb->data + (size_t)(2 * jb) * (size_t)chunks * 1024u;
            const int8_t *b1 = b0 + (size_t)chunks * 1024u;
            for (kb = 0; kb < chunks || kb == 0; kb += kc) {
                int32_t nk = chunks - kb < kc ? chunks - kb : kc, last = kb + nk >= chunks;
                for (ir = 0; ir < rows_pad; ir += 32) {
                    int32_t nr = rows_pad - ir < 32 ? rows_pad - ir : 32;
                    int32_t astride = nr * 64;
                    const int8_t *ap = apack + (size_t)ir * (size_t)kpad + (size_t)kb * (size_t)astride;
                    int32_t *cs = cstrip ? cstrip + (size_t)ir * 32u : NULL;
                    int32_t *cb = cbuf + 1024 * toggle;
                    rq_amx_block(ap, astride, b0 + (size_t)kb * 1024u, b1 + (size_t)kb * 1024u, nk,
                                 a_signed, kb > 0 ? cs : NULL, last ? cb : cs, pending ? &lag : NULL);
                    pending = 0;
                    if (last) {   /* requantized during the next block, or now */
                        pending = RQ_LAG && kc >= RQ_LAG && rq_lag_init(&lag, p, w, cb, ib + ir, nr, jb * 32, rs + ir);
                        if (!pending)
                            rq_epilogue(p, w, cb, ib + ir, nr, jb * 32, rs + ir);
                        toggle ^= 1;
                    }
                }
                if (chunks == 0)
                    break;
            }
        }
    }
    for (ir = 0; pending && ir < lag.nr; ir++)
        rq_lag_row(&lag, ir);
    rq_amx_release();
    free(apack); free(rs); free(cbuf); free(cstrip);
    return RQ_OK;
}

int rq_gemm_simd(const rq_plan *p, int amx)
{
    const rq_gemm *g = p->g;
    rq_packed_b own = {0};
    const rq_packed_b *pb = g->packed_b;
    rq_simd_ws w = {0};
    int32_t mr = 8, mc, kpad, ib, jp, ir;
    uint8_t *apack = NULL;
    uint32_t *rs = NULL;
    int rc = RQ_E_NOMEM;
    int32_t *cstrip = NULL;      /* 8 x 32 int32 accumulators */

    if (!pb) {   /* C callers without a packed B: pack it once for this call */
        own.data = aligned_alloc(64, rq_packed_b_bytes(g->k, g->n) + 64u);
        own.colsum = malloc(rq_packed_b_colsum_len(g->n) * sizeof(int32_t));
        if (!own.data || !own.colsum)
            goto done;
        rq_pack_b(&own, g->b, g->b_type, g->k, g->n, g->ldb);
        pb = &own;
    }
    kpad = pb->k_pad;
    w.colfix = malloc((size_t)g->n * sizeof(int32_t));
    w.beta = malloc((size_t)g->n * sizeof(int32_t));
    if (!w.colfix || !w.beta)
        goto done;
    rq_simd_ws_init(p, pb, amx, &w);
    if (amx) {
        rc = rq_gemm_amx(p, pb, &w);
        goto done;
    }
    if (p->r1 - p->r0 <= 4) {   /* small M: stream B once, 64 columns at a time */
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
            rq_epilogue(p, &w, cstrip, p->r0, rows, jq * 32, rs);
            if (np == 4)
                rq_epilogue(p, &w, cstrip + 128, p->r0, rows, jq * 32 + 32, rs);
        }
        rc = RQ_OK;
        goto done;
    }
    mc = (int32_t)((512 * 1024) / (kpad > 0 ? kpad : 64));
    mc = mc < mr ? mr : (mc > 512 ? 512 : mc) / mr * mr;
    if (mc > rq_round_up(p->r1 - p->r0, mr))
        mc = rq_round_up(p->r1 - p->r0, mr);
    apack = malloc((size_t)mc * (size_t)(kpad > 0 ? kpad : 64) + 64u);
    rs = malloc((size_t)mc * sizeof(uint32_t));
    cstrip = aligned_alloc(64, (size_t)mr * 32u * sizeof(int32_t));
    if (!apack || !rs || !cstrip)
        goto done;
    for (ib = p->r0; ib < p->r1; ib += mc) {
        int32_t rows = p->r1 - ib < mc ? p->r1 - ib : mc, rows_pad = rq_round_up(rows, mr);
        rq_pack_a_vnni(g, ib, rows, rows_pad, kpad / 4, apack, rs);
        for (jp = p->c0 / 32; jp * 32 < p->c1; jp++) {
            const int8_t *b0 = pb->data + (size_t)(2 * jp) * (size_t)(kpad / 4) * 64u;
            const int8_t *b1 = b0 + (size_t)(kpad / 4) * 64u;
            for (ir = 0; ir < rows_pad; ir += mr) {
                rq_vnni_8x32(apack + (size_t)ir * (size_t)kpad, b0, b1, (g->k + 3) / 4, cstrip);
                rq_epilogue(p, &w, cstrip, ib + ir, mr, jp * 32, rs + ir);
            }
        }
    }
    rc = RQ_OK;
done:
    free(own.data);
    free(own.colsum);
    free(w.colfix);
    free(w.beta);
    free(apack);
    free(rs);
    free(cstrip);
    return rc;
}

#else /* not x86-64 GCC/Clang: scalar only */

int rq_cpu_paths(void) { return RQ_PATH_SCALAR; }
int rq_gemm_simd(const rq_plan *p, int amx) { (void)p; (void)amx; return RQ_E_PATH; }

#endif
