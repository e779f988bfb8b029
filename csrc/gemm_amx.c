/* gemm_amx.c -- the AMX-INT8 path: tile helpers, A packing, the micro-kernel and driver.
 *
 * tdpbssd / tdpbusd take A as it is (int8 or uint8) and B packed (pack.c);
 * the tiles form sum_k A'B' mod 2^32 with A' = A, and rq_epilogue
 * (requant_avx512.c) turns each 32x32 block into the contract's accumulator
 * and output, or its row-by-row form below runs inside the next block's
 * tile loop.  Tile instructions are inline assembly, so no compiler AMX
 * intrinsics are needed; the code is compiled everywhere on x86-64 and run
 * only where rq_cpu_paths lists RQ_PATH_AMX.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "rq_simd.h"   /* includes rq_internal.h and refquant_kernel.h once */

#if RQ_X86_SIMD

#ifndef RQ_AMX_EMULATE

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
#define RQ_LDTILECFG(cfg) __asm__ volatile("ldtilecfg (%0)" :: "r"(cfg) : "memory")
#define RQ_TILERELEASE() __asm__ volatile("tilerelease" ::: "memory")

#else /* RQ_AMX_EMULATE */

/* ---- the same instructions in plain C (a test build: -DRQ_AMX_EMULATE) ------
 *
 * Lets the AMX driver, its packing and its overlapped epilogue run, bit for
 * bit, on a CPU without AMX (cpu_x86.c then lists the AMX path wherever the
 * VNNI one is), so that the twin tests and the sanitizer harness cover them on
 * any AVX-512 machine.  Semantics from the Intel 64 and IA-32 Architectures
 * Software Developer's Manual, vol. 2 (TILELOADD, TILESTORED, TILEZERO,
 * TDPBSSD/TDPBUSD, LDTILECFG, TILERELEASE) and vol. 1 ch. 3 "Intel AMX": a tile
 * has `rows` rows of `colsb` bytes from the palette-1 configuration; a load
 * zeroes what lies past them; TDPB*D adds, per destination int32 element
 * (m, n), the K = colsb(src1)/4 four-byte dot products of row m of src1 with
 * column n of the rows of src2, modulo 2^32.  Each tile file is per thread (an
 * OS keeps it per thread too).  Using a tile unconfigured, or with shapes that
 * do not fit, would fault (#UD) on hardware; here it aborts. */
typedef struct rq_emu_tiles {
    int configured;
    int32_t rows[8], colsb[8];
    uint8_t t[8][16][64];
} rq_emu_tiles;
static __thread rq_emu_tiles rq_emu;

static void rq_emu_need(int t)
{
    if (!rq_emu.configured || t < 0 || t > 7 || rq_emu.rows[t] == 0)
        abort();
}

static void rq_emu_ldtilecfg(const unsigned char *cfg)
{
    int t;
    if (cfg[0] != 1)   /* palette 1 only (palette 0 would mean "release") */
        abort();
    memset(&rq_emu, 0, sizeof rq_emu);
    for (t = 0; t < 8; t++) {
        rq_emu.colsb[t] = cfg[16 + 2 * t] | (cfg[17 + 2 * t] << 8);
        rq_emu.rows[t] = cfg[48 + t];
        if (rq_emu.rows[t] > 16 || rq_emu.colsb[t] > 64 || (rq_emu.rows[t] == 0) != (rq_emu.colsb[t] == 0))
            abort();
    }
    rq_emu.configured = 1;
}

static void rq_emu_release(void) { memset(&rq_emu, 0, sizeof rq_emu); }

static void rq_emu_load(int t, const void *base, long stride)
{
    int32_t r;
    rq_emu_need(t);
    memset(rq_emu.t[t], 0, sizeof rq_emu.t[t]);
    for (r = 0; r < rq_emu.rows[t]; r++)
        memcpy(rq_emu.t[t][r], (const char *)base + r * stride, (size_t)rq_emu.colsb[t]);
}

static void rq_emu_store(int t, void *base, long stride)
{
    int32_t r;
    rq_emu_need(t);
    for (r = 0; r < rq_emu.rows[t]; r++)
        memcpy((char *)base + r * stride, rq_emu.t[t][r], (size_t)rq_emu.colsb[t]);
}

static void rq_emu_zero(int t)
{
    rq_emu_need(t);
    memset(rq_emu.t[t], 0, sizeof rq_emu.t[t]);
}

/* dst (m x n int32) += src1 (m x 4k bytes, signed or not) . src2 (k x 4n int8), mod 2^32 */
static void rq_emu_dp(int d, int a, int b, int a_signed)
{
    int32_t m, n, k, i, M, N, K;
    rq_emu_need(d); rq_emu_need(a); rq_emu_need(b);
    M = rq_emu.rows[d]; N = rq_emu.colsb[d] / 4; K = rq_emu.colsb[a] / 4;
    if (rq_emu.rows[a] != M || rq_emu.rows[b] != K || rq_emu.colsb[b] != rq_emu.colsb[d]
        || d == a || d == b || a == b)
        abort();
    for (m = 0; m < M; m++)
        for (n = 0; n < N; n++) {
            uint32_t acc;
            memcpy(&acc, &rq_emu.t[d][m][4 * n], 4);
            for (k = 0; k < K; k++)
                for (i = 0; i < 4; i++) {
                    int32_t x = a_signed ? (int32_t)(int8_t)rq_emu.t[a][m][4 * k + i]
                                         : (int32_t)rq_emu.t[a][m][4 * k + i];
                    acc += (uint32_t)(x * (int32_t)(int8_t)rq_emu.t[b][k][4 * n + i]);
                }
            memcpy(&rq_emu.t[d][m][4 * n], &acc, 4);
        }
}

#define RQ_TILELOAD(t, base, stride) rq_emu_load(t, base, (long)(stride))
#define RQ_TILELOAD_T1(t, base, stride) rq_emu_load(t, base, (long)(stride))
#define RQ_TILESTORE(t, base, stride) rq_emu_store(t, base, (long)(stride))
#define RQ_TILEZERO(t) rq_emu_zero(t)
#define RQ_TDPBSSD(d, a, b) rq_emu_dp(d, a, b, 1)
#define RQ_TDPBUSD(d, a, b) rq_emu_dp(d, a, b, 0)
#define RQ_LDTILECFG(cfg) rq_emu_ldtilecfg(cfg)
#define RQ_TILERELEASE() rq_emu_release()
#undef RQ_AMX
#define RQ_AMX RQ_AVX512

#endif /* RQ_AMX_EMULATE */

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
    RQ_LDTILECFG(cfg);
}

static void rq_amx_release(void)
{
    RQ_TILERELEASE();
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

/* ---- A packing ------------------------------------------------------------- */

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

/* ---- the overlapped epilogue ---------------------------------------------- */

/* A finished full 32-column block (float_fp32 or int32 output) whose
 * corrections, requantization and stores run inside the next block's k-loop;
 * same arithmetic as the full-block branch of rq_epilogue (requant_avx512.c),
 * kept here because rq_lag_row must inline into the tile loop below. */
typedef struct rq_lag {
    __m512i cf0, cf1, be0, be1, zp;
    __m512 mf0, mf1, lo, hi;
    const int32_t *src;         /* cbuf, row stride 32 */
    const uint32_t *rs;         /* row sums of the block's first row */
    char *dst;                  /* output row of the block's first row, column j0 */
    size_t ldc_bytes;
    int32_t nr, nrs, fp32, c32, stream;
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
    l->stream = w->stream;   /* int32 C, two whole aligned lines per row (rq_stream_c) */
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
    if (l->c32 && l->stream) {
        _mm512_stream_si512((void *)dst, a0);
        _mm512_stream_si512((void *)(dst + 64), a1);
    } else if (l->c32) {
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

/* AMX driver.  Loops: M blocks (A packed once, L2-resident) > 32-column
 * blocks (the two B panels' k-block stays in L1) > k-blocks > 32-row blocks.
 * With K <= 64*RQ_KCMAX the accumulators stay in tiles over the whole K and
 * each 32x32 block is requantized straight from a 4 KiB L1 buffer. */
RQ_AMX int rq_gemm_amx(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w)
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
    if (w->stream)
        _mm_sfence();            /* the non-temporal stores, before the caller reads C */
    rq_amx_release();
    free(apack); free(rs); free(cbuf); free(cstrip);
    return RQ_OK;
}

/* ---- the peak probe (the probe.c family; here because the tile instructions are) ---------- */

/* `iters` x 4 independent tdpbusd (tiles 0-3 += tiles 4/5 . tiles 6/7, the micro-kernel's
 * 2 x 2 blocking) on tiles only, no memory traffic in the loop: 4 chains cover the instruction's
 * latency at one tdpbusd per 16 cycles.  Returns the multiply-adds performed (16 x 16 x 64 each),
 * or 0 when the AMX path is not usable here. */
RQ_AMX static int64_t rq_probe_amx_run(int64_t iters)
{
    static const int8_t ops[1024] __attribute__((aligned(64))) = {1, 2, 3, 4};
    int32_t out[256] __attribute__((aligned(64)));
    volatile int32_t sink;
    int64_t i;
    rq_amx_config();
    RQ_TILEZERO(0); RQ_TILEZERO(1); RQ_TILEZERO(2); RQ_TILEZERO(3);
    RQ_TILELOAD(4, ops, 64); RQ_TILELOAD(5, ops, 64); RQ_TILELOAD(6, ops, 64); RQ_TILELOAD(7, ops, 64);
    for (i = 0; i < iters; i++) {
        RQ_TDPBUSD(0, 4, 6); RQ_TDPBUSD(1, 4, 7); RQ_TDPBUSD(2, 5, 6); RQ_TDPBUSD(3, 5, 7);
    }
    RQ_TILESTORE(0, out, 64);
    sink = out[0] + out[255];
    (void)sink;
    rq_amx_release();
    return iters * 4 * 16 * 16 * 64;
}

int64_t rq_probe_amx(int64_t iters)
{
    if (iters < 0 || !(rq_cpu_paths() & RQ_PATH_AMX))
        return 0;
    return rq_probe_amx_run(iters);
}

#else /* not x86-64 GCC/Clang: never called (rq_cpu_paths lists no SIMD path) */

int rq_gemm_amx(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w)
{
    (void)p; (void)pb; (void)w;
    return RQ_E_PATH;
}

int64_t rq_probe_amx(int64_t iters)
{
    (void)iters;
    return 0;
}

#endif
