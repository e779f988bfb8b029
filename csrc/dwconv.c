/* dwconv.c -- depthwise 2-D convolution (rq_dwconv_run): the definition, an AVX-512 form and its
 * AVX2 twin (paths avx2 and avx_vnni: vpmaddwd + vpaddd for vpdpwssd, rq_epilogue_avx2).
 *
 * The definition (the scalar path) reads the contract literally, as gemm.c's scalar path does:
 * per output, the terms (x - zx)(w - zw_c) for kh, then kw, ascending (the order of the ONNX
 * ConvInteger / QLinearConv reference and of refquant.ops.conv_integer with one input channel
 * per group), each added by rq_step under the policy, then the bias step; then rq_requant_col,
 * the GEMM's own requantization of one accumulator.
 *
 * The AVX-512 form (path VNNI) runs where gemm.c's rq_choose_path allows a SIMD path: policy
 * wrap without overflow counts, or no step can overflow.  There the accumulator is the sum of
 * the terms mod 2^32 in any order, and
 *     sum_t (x_t - zx) w'_t = sum_t x_t w'_t - zx * sum_t w'_t,   w'_t = w_t - zw_c,
 * with a padding position holding x_t = zx.  x (int8 or uint8) and w' (in [-255, 255]) are
 * int16; vpdpwssd adds two exact int16 products into an int32 lane without saturation (mod
 * 2^32), two kernel taps per instruction, 32 channels per pair of registers.  The constant
 * -zx * sum_t w'_t + bias_c is the epilogue's column correction (colfix), and the block of
 * pixels x 32 channels goes through rq_epilogue (requant_avx512.c), the GEMM's epilogue for
 * every method: one requantization code for the GEMM and the convolution.
 *
 * Layout: the rows of x this call needs are transposed (rq_transpose) into an NHWC buffer
 * with the padding filled with zx and channels rounded up to 32; the result is formed NHWC
 * (pixels x channels, the epilogue's rows x columns) and transposed back to NCHW.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "rq_simd.h"   /* includes rq_internal.h and refquant_kernel.h once */

static size_t rq_esize(int32_t t)
{
    return t == RQ_I32 ? 4u : 1u;
}

static int rq_dw_byte(const void *base, int32_t t, size_t off)
{
    return t == RQ_I8 ? ((const int8_t *)base)[off] : ((const uint8_t *)base)[off];
}

/* oh, ow of the geometry, or -1 when the output would be empty. */
static int64_t rq_dw_out(int64_t in, int64_t pa, int64_t pb, int64_t k, int64_t s, int64_t dil)
{
    int64_t span = in + pa + pb - dil * (k - 1) - 1;
    return span < 0 ? -1 : span / s + 1;
}

static int rq_dw_check_geometry(const rq_dwconv *d)
{
    if (d->batch < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->kh < 1 || d->kw < 1 || d->sh < 1 ||
        d->sw < 1 || d->dh < 1 || d->dw < 1 || d->pt < 0 || d->pl < 0 || d->pb < 0 || d->pr < 0)
        return RQ_E_DIM;
    if (rq_dw_out(d->h, d->pt, d->pb, d->kh, d->sh, d->dh) != d->oh ||
        rq_dw_out(d->w, d->pl, d->pr, d->kw, d->sw, d->dw) != d->ow || d->oh < 1 || d->ow < 1)
        return RQ_E_DIM;
    if ((int64_t)d->batch * d->oh * d->ow > 0x7fffffff || (int64_t)d->kh * d->kw > 0x7fffffff ||
        (int64_t)d->h * d->w > 0x7fffffff || (int64_t)d->oh * d->ow > 0x7fffffff ||
        (int64_t)d->w + d->pl + d->pr + 64 > 0x7fffffff)
        return RQ_E_DIM;
    return RQ_OK;
}

/* The checks of rq_gemm_run in the convolution's terms, and g: the GEMM problem whose
 * columns are the channels (its requantization, zero points, bias, policy and path). */
/* The types of x and w and their zero points (rq_dw_check, rq_dwconv_prepare). */
static int rq_dw_check_types(const rq_dwconv *d)
{
    int32_t j, nzw;
    if ((d->x_type != RQ_I8 && d->x_type != RQ_U8) || (d->w_type != RQ_I8 && d->w_type != RQ_U8))
        return RQ_E_TYPE;
    if (!rq_in_type(d->x_type, d->zx))
        return RQ_E_PARAM;
    nzw = d->zw ? (d->zw_per_channel ? d->c : 1) : 0;
    for (j = 0; j < nzw; j++)
        if (!rq_in_type(d->w_type, d->zw[j]))
            return RQ_E_PARAM;
    return RQ_OK;
}

static int rq_dw_check(rq_dwconv *d, rq_gemm *g)
{
    int rc;
    if ((rc = rq_dw_check_geometry(d)) != RQ_OK)
        return rc;
    if (!d->x || !d->wt || !d->y)
        return RQ_E_NULL;
    if ((rc = rq_dw_check_types(d)) != RQ_OK)
        return rc;
    if (d->policy < RQ_WRAP || d->policy > RQ_ERROR)
        return RQ_E_POLICY;
    memset(g, 0, sizeof *g);
    g->m = d->batch * d->oh * d->ow;
    g->n = d->c;
    g->k = d->kh * d->kw;
    g->a_type = d->x_type;
    g->b_type = d->w_type;
    g->za = d->zx;
    g->zb = d->zw;
    g->zb_per_channel = d->zw_per_channel;
    g->bias = d->bias;
    g->policy = d->policy;
    g->overflow_count = d->overflow_count;
    g->method = d->method;
    g->per_channel = d->per_channel;
    g->multiplier_f32 = d->multiplier_f32;
    g->multiplier = d->multiplier;
    g->shift = d->shift;
    g->zp = d->zp; g->qmin = d->qmin; g->qmax = d->qmax;
    g->c = d->y; g->c_type = d->y_type; g->ldc = d->c;
    g->row_end = g->m; g->col_end = d->c;
    g->path = d->path;
    if ((rc = rq_check_requant(g)) != RQ_OK)
        return rc;
    if (d->row_end == 0)
        d->row_end = d->batch * d->oh;
    if (d->row_begin < 0 || d->row_begin > d->row_end || d->row_end > d->batch * d->oh)
        return RQ_E_RANGE;
    if (d->path != RQ_PATH_AUTO && d->path != RQ_PATH_SCALAR && d->path != RQ_PATH_VNNI &&
        d->path != RQ_PATH_AMX && d->path != RQ_PATH_AVX2 && d->path != RQ_PATH_AVXVNNI)
        return RQ_E_PATH;
    if (d->path != RQ_PATH_AUTO && !(rq_cpu_paths() & d->path))
        return RQ_E_PATH;
    return RQ_OK;
}

/* ---- the definition ---------------------------------------------------------- */

static void rq_dw_store(void *y, int32_t t, size_t off, int32_t q)
{
    switch (t) {
    case RQ_I8:  ((int8_t *)y)[off] = (int8_t)q; break;    /* q already in the type's range */
    case RQ_U8:  ((uint8_t *)y)[off] = (uint8_t)q; break;
    default:     ((int32_t *)y)[off] = q; break;
    }
}

/* acc of output (b, c, oh, ow) under the policy; *count: the steps that left int32. */
static int32_t rq_dw_acc(const rq_dwconv *d, const rq_plan *p, int32_t b, int32_t c, int32_t oh,
                         int32_t ow, int32_t *count)
{
    const size_t plane = (size_t)d->h * (size_t)d->w;
    const uint8_t *x = (const uint8_t *)d->x + (size_t)(b * d->c + c) * plane * 1u;
    int32_t i, j, zw = p->zb[c];
    int64_t s = 0;
    *count = 0;
    for (i = 0; i < d->kh; i++) {
        int64_t ih = (int64_t)oh * d->sh - d->pt + (int64_t)i * d->dh;
        for (j = 0; j < d->kw; j++) {
            int64_t iw = (int64_t)ow * d->sw - d->pl + (int64_t)j * d->dw;
            int xv = (ih >= 0 && ih < d->h && iw >= 0 && iw < d->w)
                     ? rq_dw_byte(x, d->x_type, (size_t)ih * (size_t)d->w + (size_t)iw) : d->zx;
            int wv = rq_dw_byte(d->wt, d->w_type, (size_t)c * (size_t)(d->kh * d->kw) + (size_t)(i * d->kw + j));
            s = rq_step(s + (int64_t)(xv - d->zx) * (wv - zw), d->policy, count);
        }
    }
    if (p->has_bias)
        s = rq_step(s + p->bias[c], d->policy, count);
    return (int32_t)s;
}

static int rq_dw_scalar(const rq_dwconv *d, const rq_plan *p)
{
    int32_t r, c, ow, count;
    int any = 0;
    for (r = d->row_begin; r < d->row_end; r++) {
        int32_t b = r / d->oh, oh = r % d->oh;
        for (c = 0; c < d->c; c++)
            for (ow = 0; ow < d->ow; ow++) {
                size_t off = ((size_t)(b * d->c + c) * (size_t)d->oh + (size_t)oh) * (size_t)d->ow + (size_t)ow;
                int32_t acc = rq_dw_acc(d, p, b, c, oh, ow, &count);
                if (d->overflow_count)
                    d->overflow_count[off] = count;
                any |= count != 0;
                rq_dw_store(d->y, d->y_type, off, rq_requant_col(p, acc, c));
            }
    }
    return (any && d->policy == RQ_ERROR) ? RQ_OVERFLOW : RQ_OK;
}

/* ---- the AVX-512 form ------------------------------------------------------------ */

#if RQ_X86_SIMD

/* Output channel c of lane pair q, half h (0: unpacklo, 1: unpackhi), dword lane 4L + i. */
static int32_t rq_dw_lane_channel(int32_t half, int32_t lane)
{
    return 8 * (lane / 4) + 4 * half + lane % 4;
}

/* One output row, one block of 32 channels: cbuf[o][32] = sum_t x_t w'_t (mod 2^32) for
 * o < ow.  px0: the block's bytes at the window origin of pixel 0; step: bytes between pixels;
 * toff[2q], toff[2q+1]: the two taps of pair q; wv: the block's pairs (wv[q][half][32]). */
#define RQ_DW_ROW(CVT)                                                                        \
    {                                                                                         \
        const __m512i idx0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23); \
        const __m512i idx1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31); \
        int32_t o, q;                                                                         \
        for (o = 0; o < ow; o++) {                                                            \
            const uint8_t *px = px0 + (size_t)o * step;                                       \
            __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();                 \
            for (q = 0; q < np; q++) {                                                        \
                __m512i a = CVT(_mm256_loadu_si256((const __m256i *)(px + toff[2 * q])));     \
                __m512i b = CVT(_mm256_loadu_si256((const __m256i *)(px + toff[2 * q + 1]))); \
                lo = _mm512_dpwssd_epi32(lo, _mm512_unpacklo_epi16(a, b), _mm512_load_si512(wv + 64 * q)); \
                hi = _mm512_dpwssd_epi32(hi, _mm512_unpackhi_epi16(a, b), _mm512_load_si512(wv + 64 * q + 32)); \
            }                                                                                 \
            _mm512_store_si512(cbuf + 32 * o, _mm512_permutex2var_epi32(lo, idx0, hi));       \
            _mm512_store_si512(cbuf + 32 * o + 16, _mm512_permutex2var_epi32(lo, idx1, hi));  \
        }                                                                                     \
    }

RQ_VNNI static void rq_dw_row_u8(const uint8_t *px0, size_t step, const size_t *toff, const int16_t *wv,
                                 int32_t np, int32_t ow, int32_t *cbuf)
RQ_DW_ROW(_mm512_cvtepu8_epi16)

RQ_VNNI static void rq_dw_row_i8(const uint8_t *px0, size_t step, const size_t *toff, const int16_t *wv,
                                 int32_t np, int32_t ow, int32_t *cbuf)
RQ_DW_ROW(_mm512_cvtepi8_epi16)

/* The same in AVX2 (paths avx2 and avx_vnni), 16 channels per register: the weights keep the
 * AVX-512 lane order, whose 32-byte halves are what the 256-bit unpacks of channels 16s..16s+15
 * need (rq_dw_lane_channel with L = 2s + lane/4); vpmaddwd adds the two exact products
 * (|x * w'| <= 255 * 255) into an int32 lane, as vpdpwssd does, and vpaddd accumulates mod 2^32;
 * vperm2i128 puts the channels in order. */
#define RQ_DW_ROW2(CVT)                                                                       \
    {                                                                                         \
        int32_t o, q, s_;                                                                     \
        for (o = 0; o < ow; o++) {                                                            \
            const uint8_t *px = px0 + (size_t)o * step;                                       \
            for (s_ = 0; s_ < 2; s_++) {                                                      \
                __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();             \
                for (q = 0; q < np; q++) {                                                    \
                    __m256i a = CVT(_mm_loadu_si128((const __m128i *)(px + toff[2 * q] + 16 * s_))); \
                    __m256i b = CVT(_mm_loadu_si128((const __m128i *)(px + toff[2 * q + 1] + 16 * s_))); \
                    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b),  \
                        _mm256_load_si256((const __m256i *)(wv + 64 * q + 16 * s_))));        \
                    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b),  \
                        _mm256_load_si256((const __m256i *)(wv + 64 * q + 32 + 16 * s_))));   \
                }                                                                             \
                _mm256_store_si256((__m256i *)(cbuf + 32 * o + 16 * s_), _mm256_permute2x128_si256(lo, hi, 0x20)); \
                _mm256_store_si256((__m256i *)(cbuf + 32 * o + 16 * s_ + 8), _mm256_permute2x128_si256(lo, hi, 0x31)); \
            }                                                                                 \
        }                                                                                     \
    }

RQ_AVX2 static void rq_dw_row2_u8(const uint8_t *px0, size_t step, const size_t *toff, const int16_t *wv,
                                  int32_t np, int32_t ow, int32_t *cbuf)
RQ_DW_ROW2(_mm256_cvtepu8_epi16)

RQ_AVX2 static void rq_dw_row2_i8(const uint8_t *px0, size_t step, const size_t *toff, const int16_t *wv,
                                  int32_t np, int32_t ow, int32_t *cbuf)
RQ_DW_ROW2(_mm256_cvtepi8_epi16)

#ifndef RQ_DW_STRIP
#define RQ_DW_STRIP (192 * 1024)   /* bytes of padded NHWC input rows per strip (a tuning knob) */
#endif

/* What one call of the AVX-512 form needs besides the plan. */
typedef struct rq_dw_ws {
    int32_t cp, taps, np, wn, rows_max;  /* channels rounded up to 32; taps; tap pairs; buffer width */
    int16_t *wv;        /* cp/32 blocks x np pairs x 2 halves x 32 int16: w' in lane order */
    size_t *toff;       /* 2*np tap offsets (bytes) from a pixel's window origin */
    uint8_t *xb;        /* the padded NHWC rows of one image segment */
    void *yt;           /* that segment's output, NHWC */
    int32_t *cbuf;      /* ow x 32 accumulators */
    rq_simd_ws sw;      /* colfix_c = bias_c - zx * sum_t w'_t; beta = 0 */
    int own;            /* wv and colfix allocated here (not d->prep's) */
} rq_dw_ws;

static void rq_dw_ws_free(rq_dw_ws *w)
{
    if (w->own) {
        free(w->wv);
        free(w->sw.colfix);
    }
    free(w->toff); free(w->xb); free(w->yt); free(w->cbuf); free(w->sw.beta);
}

static int32_t rq_dw_zw(const rq_dwconv *d, int32_t c)
{
    return d->zw ? d->zw[d->zw_per_channel ? c : 0] : 0;
}

/* wv: cp/32 blocks x np pairs x 2 halves x 32 int16 of w' = w - zw_c in lane order (an odd last
 * tap pairs with weight 0); colfix (cp int32): bias_c - zx * sum_t w'_t mod 2^32, 0 past c. */
static void rq_dw_layout(const rq_dwconv *d, int32_t cp, int32_t np, int16_t *wv, int32_t *colfix)
{
    const int32_t taps = d->kh * d->kw;
    int32_t cb, q, h, lane, t, c;
    for (cb = 0; cb < cp / 32; cb++)
        for (q = 0; q < np; q++)
            for (h = 0; h < 2; h++)
                for (lane = 0; lane < 16; lane++)
                    for (t = 0; t < 2; t++) {
                        int32_t ch = cb * 32 + rq_dw_lane_channel(h, lane), tap = 2 * q + t;
                        int v = 0;
                        if (ch < d->c && tap < taps)
                            v = rq_dw_byte(d->wt, d->w_type, (size_t)ch * (size_t)taps + (size_t)tap) - rq_dw_zw(d, ch);
                        wv[(size_t)(cb * np + q) * 64u + (size_t)h * 32u + (size_t)(2 * lane + t)] = (int16_t)v;
                    }
    for (c = 0; c < cp; c++) {
        uint32_t sum = 0;
        if (c >= d->c) {
            colfix[c] = 0;
            continue;
        }
        for (t = 0; t < taps; t++)
            sum += (uint32_t)(rq_dw_byte(d->wt, d->w_type, (size_t)c * (size_t)taps + (size_t)t) - rq_dw_zw(d, c));
        colfix[c] = rq_wrap32((uint32_t)(d->bias ? d->bias[c] : 0) - (uint32_t)d->zx * sum);
    }
}

static int rq_dw_ws_init(const rq_dwconv *d, const rq_plan *p, rq_dw_ws *w)
{
    int32_t t, rows = d->row_end - d->row_begin;
    (void)p;
    size_t xb_bytes;
    memset(w, 0, sizeof *w);
    w->cp = rq_round_up(d->c, 32);
    w->taps = d->kh * d->kw;
    w->np = (w->taps + 1) / 2;
    w->wn = (d->ow - 1) * d->sw + (d->kw - 1) * d->dw + 1;
    w->rows_max = rows < d->oh ? rows : d->oh;
    {   /* strips of output rows whose input rows fit RQ_DW_STRIP bytes: they stay in L2 from
           the transpose to the multiply-adds (the halo rows are transposed again per strip) */
        int64_t fit = ((int64_t)RQ_DW_STRIP / ((int64_t)w->wn * w->cp) - (int64_t)(d->kh - 1) * d->dh - 1) / d->sh + 1;
        if (fit < w->rows_max)
            w->rows_max = fit < 1 ? 1 : (int32_t)fit;
    }
    xb_bytes = (size_t)((w->rows_max - 1) * d->sh + (d->kh - 1) * d->dh + 1) * (size_t)w->wn * (size_t)w->cp;
    w->own = d->prep == NULL;
    if (w->own) {
        w->wv = aligned_alloc(64, (size_t)(w->cp / 32) * (size_t)w->np * 128u);
        w->sw.colfix = malloc((size_t)w->cp * sizeof(int32_t));
    } else {   /* rq_dwconv_prepare's layout of the same weights */
        w->wv = (int16_t *)d->prep;
        w->sw.colfix = (int32_t *)((char *)d->prep + (size_t)(w->cp / 32) * (size_t)w->np * 128u);
    }
    w->toff = malloc(2u * (size_t)w->np * sizeof(size_t));
    w->xb = malloc(xb_bytes + 64u);
    w->yt = malloc((size_t)w->rows_max * (size_t)d->ow * (size_t)d->c * rq_esize(d->y_type));
    w->cbuf = aligned_alloc(64, (size_t)d->ow * 32u * sizeof(int32_t));
    w->sw.beta = calloc((size_t)w->cp, sizeof(int32_t));
    if (!w->wv || !w->toff || !w->xb || !w->yt || !w->cbuf || !w->sw.colfix || !w->sw.beta)
        return RQ_E_NOMEM;
    for (t = 0; t < 2 * w->np; t++) {   /* an odd last tap pairs with a copy of itself, weight 0 */
        int32_t tt = t < w->taps ? t : w->taps - 1;
        w->toff[t] = ((size_t)(tt / d->kw) * (size_t)d->dh * (size_t)w->wn + (size_t)(tt % d->kw) * (size_t)d->dw)
                     * (size_t)w->cp;
    }
    if (w->own)
        rq_dw_layout(d, w->cp, w->np, w->wv, w->sw.colfix);
    w->sw.need_rowsum = 0;
    return RQ_OK;
}

/* The padded NHWC rows [ph0, ph0 + nrows) (padded row = input row + pt) of image b. */
static void rq_dw_fill(const rq_dwconv *d, const rq_dw_ws *w, int32_t b, int32_t ph0, int32_t nrows)
{
    const size_t rowb = (size_t)w->wn * (size_t)w->cp, plane = (size_t)d->h * (size_t)d->w;
    const int zbyte = (int)(uint8_t)d->zx;
    int32_t r, wc = d->w < w->wn - d->pl ? d->w : w->wn - d->pl;
    for (r = 0; r < nrows; r++) {
        uint8_t *dst = w->xb + (size_t)r * rowb;
        int32_t ih = ph0 + r - d->pt;
        if (ih < 0 || ih >= d->h || wc <= 0 || w->cp != d->c) {
            memset(dst, zbyte, rowb);
        } else {
            memset(dst, zbyte, (size_t)d->pl * (size_t)w->cp);
            memset(dst + (size_t)(d->pl + wc) * (size_t)w->cp, zbyte, (size_t)(w->wn - d->pl - wc) * (size_t)w->cp);
        }
        if (ih >= 0 && ih < d->h && wc > 0)
            rq_transpose((const uint8_t *)d->x + (size_t)b * (size_t)d->c * plane + (size_t)ih * (size_t)d->w,
                         dst + (size_t)d->pl * (size_t)w->cp, d->c, wc, (int32_t)plane, w->cp, 1);
    }
}

/* Output rows [ra, rb) of image b: fill, accumulate, the GEMM's epilogue, back to NCHW. */
static void rq_dw_segment(const rq_dwconv *d, const rq_plan *p, const rq_dw_ws *w, int32_t b,
                          int32_t ra, int32_t rb, int avx2)
{
    const size_t rowb = (size_t)w->wn * (size_t)w->cp, step = (size_t)d->sw * (size_t)w->cp;
    const size_t es = rq_esize(d->y_type), opix = (size_t)d->oh * (size_t)d->ow;
    int32_t r, cb, c;
    uint32_t rs0 = 0;
    rq_dw_fill(d, w, b, ra * d->sh, (rb - 1 - ra) * d->sh + (d->kh - 1) * d->dh + 1);
    for (r = ra; r < rb; r++)
        for (cb = 0; cb < w->cp / 32; cb++) {
            const uint8_t *px0 = w->xb + (size_t)(r - ra) * (size_t)d->sh * rowb + (size_t)cb * 32u;
            const int16_t *wv = w->wv + (size_t)cb * (size_t)w->np * 64u;
            if (avx2) {   /* paths avx2 / avx_vnni: AVX2 instructions only */
                if (d->x_type == RQ_U8)
                    rq_dw_row2_u8(px0, step, w->toff, wv, w->np, d->ow, w->cbuf);
                else
                    rq_dw_row2_i8(px0, step, w->toff, wv, w->np, d->ow, w->cbuf);
                rq_epilogue_avx2(p, &w->sw, w->cbuf, (r - ra) * d->ow, d->ow, cb * 32, &rs0);
                continue;
            }
            if (d->x_type == RQ_U8)
                rq_dw_row_u8(px0, step, w->toff, wv, w->np, d->ow, w->cbuf);
            else
                rq_dw_row_i8(px0, step, w->toff, wv, w->np, d->ow, w->cbuf);
            rq_epilogue(p, &w->sw, w->cbuf, (r - ra) * d->ow, d->ow, cb * 32, &rs0);
        }
    rq_transpose(w->yt, (uint8_t *)d->y + ((size_t)b * (size_t)d->c * opix + (size_t)ra * (size_t)d->ow) * es,
                 (rb - ra) * d->ow, d->c, d->c, (int32_t)opix, (int32_t)es);
    if (d->overflow_count)   /* no step can overflow on this path */
        for (c = 0; c < d->c; c++)
            memset(d->overflow_count + (size_t)(b * d->c + c) * opix + (size_t)ra * (size_t)d->ow, 0,
                   (size_t)(rb - ra) * (size_t)d->ow * sizeof(int32_t));
}

static int rq_dw_simd(const rq_dwconv *d, rq_plan *p, rq_gemm *g, int avx2)
{
    rq_dw_ws w;
    int32_t r, rc = rq_dw_ws_init(d, p, &w);
    if (rc == RQ_OK) {
        g->c = w.yt;          /* the epilogue writes the segment's NHWC rows */
        g->ldc = d->c;
        p->r0 = 0; p->r1 = w.rows_max * d->ow;
        for (r = d->row_begin; r < d->row_end;) {
            int32_t b = r / d->oh, ra = r % d->oh;
            int32_t rb = d->row_end - b * d->oh < d->oh ? d->row_end - b * d->oh : d->oh;
            if (rb - ra > w.rows_max)
                rb = ra + w.rows_max;
            rq_dw_segment(d, p, &w, b, ra, rb, avx2);
            r = b * d->oh + rb;
        }
    }
    rq_dw_ws_free(&w);
    return rc;
}

#else

static int rq_dw_simd(const rq_dwconv *d, rq_plan *p, rq_gemm *g, int avx2)
{
    (void)d; (void)p; (void)g; (void)avx2;
    return RQ_E_PATH;
}

#endif /* RQ_X86_SIMD */

size_t rq_dwconv_prep_bytes(const rq_dwconv *d)
{
#if RQ_X86_SIMD
    if (d && d->c >= 1 && d->kh >= 1 && d->kw >= 1 && (int64_t)d->kh * d->kw <= 0x7fffffff && d->c <= 0x7fffffe0) {
        const size_t cp = (size_t)rq_round_up(d->c, 32), np = ((size_t)d->kh * (size_t)d->kw + 1u) / 2u;
        return cp / 32u * np * 128u + cp * sizeof(int32_t);
    }
#else
    (void)d;
#endif
    return 0;
}

int rq_dwconv_prepare(const rq_dwconv *d, void *prep)
{
    int rc;
    if (!d || !prep || !d->wt)
        return RQ_E_NULL;
    if (rq_dwconv_prep_bytes(d) == 0)
        return RQ_E_DIM;
    if ((rc = rq_dw_check_types(d)) != RQ_OK)
        return rc;
#if RQ_X86_SIMD
    {
        const int32_t cp = rq_round_up(d->c, 32), np = (d->kh * d->kw + 1) / 2;
        rq_dw_layout(d, cp, np, (int16_t *)prep, (int32_t *)((char *)prep + (size_t)(cp / 32) * (size_t)np * 128u));
    }
#endif
    return RQ_OK;
}

int rq_dwconv_run(rq_dwconv *d)
{
    rq_gemm g;
    rq_plan p;
    int rc;
    int32_t path;
    if (!d)
        return RQ_E_NULL;
    d->path_used = 0;
    if ((rc = rq_dw_check(d, &g)) != RQ_OK)
        return rc;
    if (d->row_begin == d->row_end)
        return RQ_OK;
    if ((rc = rq_plan_init(&p, &g)) != RQ_OK)
        return rc;
    path = rq_choose_path(&p);   /* the GEMM's rule: SIMD only where it is exact */
    if (path == RQ_PATH_AMX)     /* no AMX form: the VNNI one (every AMX CPU here has VNNI) */
        path = (rq_cpu_paths() & RQ_PATH_VNNI) ? RQ_PATH_VNNI : RQ_PATH_SCALAR;
    d->path_used = path;   /* avx2 and avx_vnni both run the AVX2 form */
    rc = path == RQ_PATH_SCALAR ? rq_dw_scalar(d, &p)
       : rq_dw_simd(d, &p, &g, path == RQ_PATH_AVX2 || path == RQ_PATH_AVXVNNI);
    rq_plan_free(&p);
    return rc;
}

static int rq_dwconv_task(void *ctx, int32_t i)
{
    return rq_dwconv_run(((rq_dwconv **)ctx)[i]);
}

int rq_dwconv_run_many(rq_dwconv **ds, int32_t count)
{
    int32_t i;
    if (!ds || count < 0)
        return RQ_E_NULL;
    for (i = 0; i < count; i++)
        if (!ds[i])
            return RQ_E_NULL;
    return rq_run_many(rq_dwconv_task, ds, count);
}
