/* gemm.c -- argument checks, the plan, dispatch and the portable scalar path.
 *
 * The scalar path is section 2 of docs/gemm-contract.md read literally:
 * for each output, k ascending, t_k = (A[i,k] - za) * (B[k,j] - zb_j) exactly,
 * s = step(s + t_k), then bias as one more step; step() wraps, saturates or
 * (policy error) wraps and flags, and every policy counts the steps whose
 * exact value left [-2^31, 2^31).  |t_k| <= 255*255, so s + t_k is exact in
 * int64.  Wrapping uses unsigned arithmetic only (no signed overflow).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "rq_internal.h"   /* includes refquant_kernel.h once */

static int rq_check_packed(const rq_gemm *g)
{
    const rq_packed_b *pb = g->packed_b;
    if (!pb->data || !pb->colsum)
        return RQ_E_NULL;
    if (pb->k != g->k || pb->n != g->n || (pb->b_type != RQ_I8 && pb->b_type != RQ_U8))
        return RQ_E_PACKED;
    if (pb->k_pad != ((g->k + 63) / 64) * 64 || pb->n_pad != ((g->n + 31) / 32) * 32)
        return RQ_E_PACKED;
    return RQ_OK;
}

static int32_t rq_b_type_of(const rq_gemm *g)
{
    return g->packed_b ? g->packed_b->b_type : g->b_type;
}

static int rq_check(rq_gemm *g)
{
    int32_t j, nzb;
    int rc;
    if (g->m < 1 || g->n < 1 || g->k < 0)
        return RQ_E_DIM;
    if ((g->k > 0 && !g->a) || !g->c)
        return RQ_E_NULL;
    if (g->a_type != RQ_I8 && g->a_type != RQ_U8)
        return RQ_E_TYPE;
    if (g->lda < g->k || g->ldc < g->n)
        return RQ_E_LD;
    if (g->packed_b) {
        if ((rc = rq_check_packed(g)) != RQ_OK)
            return rc;
    } else {
        if (g->k > 0 && !g->b)
            return RQ_E_NULL;
        if (g->b_type != RQ_I8 && g->b_type != RQ_U8)
            return RQ_E_TYPE;
        if (g->ldb < g->n)
            return RQ_E_LD;
    }
    if (!rq_in_type(g->a_type, g->za))
        return RQ_E_PARAM;
    nzb = g->zb ? (g->zb_per_channel ? g->n : 1) : 0;
    for (j = 0; j < nzb; j++)
        if (!rq_in_type(rq_b_type_of(g), g->zb[j]))
            return RQ_E_PARAM;
    if (g->policy < RQ_WRAP || g->policy > RQ_ERROR)
        return RQ_E_POLICY;
    if ((rc = rq_check_requant(g)) != RQ_OK)
        return rc;
    if (g->row_end == 0) g->row_end = g->m;
    if (g->col_end == 0) g->col_end = g->n;
    if (g->row_begin < 0 || g->row_begin > g->row_end || g->row_end > g->m ||
        g->col_begin < 0 || g->col_begin > g->col_end || g->col_end > g->n)
        return RQ_E_RANGE;
    if (g->path != RQ_PATH_AUTO && g->path != RQ_PATH_SCALAR && g->path != RQ_PATH_VNNI &&
        g->path != RQ_PATH_AMX && g->path != RQ_PATH_AVX2 && g->path != RQ_PATH_AVXVNNI)
        return RQ_E_PATH;
    if (g->path != RQ_PATH_AUTO && !(rq_cpu_paths() & g->path))
        return RQ_E_PATH;
    return RQ_OK;
}

/* ---- element access ------------------------------------------------------ */

static int rq_a_byte(const rq_gemm *g, int32_t i, int32_t k)
{
    size_t off = (size_t)i * (size_t)g->lda + (size_t)k;
    return g->a_type == RQ_I8 ? ((const int8_t *)g->a)[off] : ((const uint8_t *)g->a)[off];
}

/* B[k][j] as an int, from B or from the packed B. */
static int rq_b_byte(const rq_gemm *g, int32_t k, int32_t j)
{
    const rq_packed_b *pb = g->packed_b;
    if (pb) {
        return pb->data[rq_packed_index(pb->k_pad, k, j)] + (pb->b_type == RQ_U8 ? 128 : 0);
    } else {
        size_t off = (size_t)k * (size_t)g->ldb + (size_t)j;
        return g->b_type == RQ_I8 ? ((const int8_t *)g->b)[off] : ((const uint8_t *)g->b)[off];
    }
}

static void rq_store_out(const rq_gemm *g, int32_t i, int32_t j, int32_t q)
{
    size_t off = (size_t)i * (size_t)g->ldc + (size_t)j;
    switch (g->c_type) {
    case RQ_I8:  ((int8_t *)g->c)[off] = (int8_t)q; break;   /* q already in [-128, 127] */
    case RQ_U8:  ((uint8_t *)g->c)[off] = (uint8_t)q; break; /* q already in [0, 255] */
    default:     ((int32_t *)g->c)[off] = q; break;
    }
}

/* ---- the portable path ---------------------------------------------------- */

static int32_t rq_acc_one(const rq_plan *p, int32_t i, int32_t j, int32_t *count)
{
    const rq_gemm *g = p->g;
    int32_t k, zb = p->zb[j];
    *count = 0;
    if (g->policy == RQ_WRAP && !g->overflow_count) {   /* order-free: sum mod 2^32 */
        uint32_t s = 0;
        for (k = 0; k < g->k; k++)
            s += (uint32_t)((rq_a_byte(g, i, k) - g->za) * (rq_b_byte(g, k, j) - zb));
        if (p->has_bias)
            s += (uint32_t)p->bias[j];
        return rq_wrap32(s);
    } else {
        int64_t s = 0;
        for (k = 0; k < g->k; k++)
            s = rq_step(s + (int64_t)(rq_a_byte(g, i, k) - g->za) * (rq_b_byte(g, k, j) - zb),
                        g->policy, count);
        if (p->has_bias)
            s = rq_step(s + p->bias[j], g->policy, count);
        return (int32_t)s;
    }
}

static int rq_gemm_scalar(const rq_plan *p)
{
    const rq_gemm *g = p->g;
    int32_t i, j, count;
    int any = 0;
    for (i = p->r0; i < p->r1; i++) {
        for (j = p->c0; j < p->c1; j++) {
            int32_t acc = rq_acc_one(p, i, j, &count);
            if (g->overflow_count)
                g->overflow_count[(size_t)i * (size_t)g->n + (size_t)j] = count;
            any |= count != 0;
            rq_store_out(g, i, j, rq_requant_col(p, acc, j));
        }
    }
    return (any && g->policy == RQ_ERROR) ? RQ_OVERFLOW : RQ_OK;
}

/* ---- plan and dispatch ---------------------------------------------------- */

/* True when K*max|t| + max|bias| < 2^31: no step can overflow, so every
 * policy equals wrap and the SIMD paths may reorder. */
static int rq_overflow_impossible(const rq_plan *p)
{
    const rq_gemm *g = p->g;
    int64_t lo = 0, hi = 0, amax, bmax = 0, bsum = 0, t;
    int32_t j;
    rq_type_range(g->a_type, &lo, &hi);
    amax = hi - g->za > g->za - lo ? hi - g->za : g->za - lo;
    rq_type_range(rq_b_type_of(g), &lo, &hi);
    for (j = p->c0; j < p->c1; j++) {
        t = hi - p->zb[j] > p->zb[j] - lo ? hi - p->zb[j] : p->zb[j] - lo;
        if (t > bmax) bmax = t;
        t = p->bias[j] < 0 ? -(int64_t)p->bias[j] : p->bias[j];
        if (t > bsum) bsum = t;
    }
    return (int64_t)g->k * amax * bmax + bsum < ((int64_t)1 << 31);
}

void rq_plan_free(rq_plan *p)
{
    free(p->zb);   /* one block holds zb, bias, mf, qm and qs */
    p->zb = p->bias = p->qm = p->qs = NULL;
    p->mf = NULL;
}

/* v[j] = src[j] (per_channel) or src[0], for j in [c0, c1). */
static void rq_fill_cols(int32_t *v, const int32_t *src, int per_channel, int32_t c0, int32_t c1)
{
    int32_t j;
    if (!src) {
        memset(v + c0, 0, (size_t)(c1 - c0) * sizeof(int32_t));
        return;
    }
    if (per_channel) {
        memcpy(v + c0, src + c0, (size_t)(c1 - c0) * sizeof(int32_t));
    } else {
        for (j = c0; j < c1; j++)
            v[j] = src[0];
    }
}

/* The per-column values of the plan's columns [c0, c1) only (a split call gives each thread its
 * own columns: filling all n cost each thread as much as a 1 x 64 x n product); up to 32
 * columns either side of them are 0 (epilogues load whole vectors and drop the lanes outside),
 * the rest is never read.  One allocation. */
int rq_plan_init(rq_plan *p, const rq_gemm *g)
{
    int32_t j, n = g->n, c0, c1;
    int32_t *blk;
    memset(p, 0, sizeof *p);
    p->g = g;
    p->r0 = g->row_begin; p->r1 = g->row_end;
    p->c0 = c0 = g->col_begin; p->c1 = c1 = g->col_end;
    blk = malloc(5u * (size_t)n * sizeof(int32_t));
    if (!blk)
        return RQ_E_NOMEM;
    for (j = 0; j < 5; j++) {
        int32_t lo = c0 > 32 ? c0 - 32 : 0, hi = n - c1 > 32 ? c1 + 32 : n;
        memset(blk + (size_t)j * (size_t)n + lo, 0, (size_t)(c0 - lo) * sizeof(int32_t));
        memset(blk + (size_t)j * (size_t)n + c1, 0, (size_t)(hi - c1) * sizeof(int32_t));
    }
    p->zb = blk;
    p->bias = blk + n;
    p->mf = (float *)(blk + 2 * (size_t)n);
    p->qm = blk + 3 * (size_t)n;
    p->qs = blk + 4 * (size_t)n;
    p->has_bias = g->bias != NULL;
    rq_fill_cols(p->zb, g->zb, g->zb_per_channel, c0, c1);
    rq_fill_cols(p->bias, g->bias, 1, c0, c1);
    if (g->method == RQ_FLOAT_FP32) {
        if (g->per_channel)
            memcpy(p->mf + c0, g->multiplier_f32 + c0, (size_t)(c1 - c0) * sizeof(float));
        else
            for (j = c0; j < c1; j++)
                p->mf[j] = g->multiplier_f32[0];
    } else {
        memset(p->mf + c0, 0, (size_t)(c1 - c0) * sizeof(float));
    }
    rq_fill_cols(p->qm, g->method >= RQ_TFLITE_DOUBLE ? g->multiplier : NULL, g->per_channel, c0, c1);
    rq_fill_cols(p->qs, g->method >= RQ_TFLITE_DOUBLE ? g->shift : NULL, g->per_channel, c0, c1);
    for (j = c0; j < c1; j++)
        p->zb_nonzero |= p->zb[j] != 0;
    return RQ_OK;
}

int32_t rq_choose_path(const rq_plan *p)
{
    const rq_gemm *g = p->g;
    int avail = rq_cpu_paths(), path = g->path;
    int fast_ok = (g->policy == RQ_WRAP && !g->overflow_count) || rq_overflow_impossible(p);
    if (path == RQ_PATH_AUTO)
        path = (avail & RQ_PATH_AMX) && (p->r1 - p->r0) > 4 ? RQ_PATH_AMX   /* M <= 4: VNNI streams B */
             : (avail & RQ_PATH_VNNI) ? RQ_PATH_VNNI
             : (avail & RQ_PATH_AMX) ? RQ_PATH_AMX
             : (avail & RQ_PATH_AVXVNNI) ? RQ_PATH_AVXVNNI   /* CPUs without AVX-512: 256-bit paths */
             : (avail & RQ_PATH_AVX2) ? RQ_PATH_AVX2 : RQ_PATH_SCALAR;
    return fast_ok ? path : RQ_PATH_SCALAR;   /* never an approximation: exact fallback */
}

/* The SIMD paths: B packed for this call when the caller did not pack it (a C
 * caller with a plain B), the column corrections, then the AMX, VNNI (M <= 4: the small-M
 * kernel, which streams B once) or 256-bit driver. */
static int rq_gemm_simd(const rq_plan *p, int32_t path)
{
    const int amx = path == RQ_PATH_AMX;
    const rq_gemm *g = p->g;
    rq_packed_b own = {0};
    const rq_packed_b *pb = g->packed_b;
    rq_simd_ws w = {0};
    int rc = RQ_E_NOMEM;
    if (!pb) {
        own.data = aligned_alloc(64, rq_packed_b_bytes(g->k, g->n) + 64u);
        own.colsum = malloc(rq_packed_b_colsum_len(g->n) * sizeof(int32_t));
        if (!own.data || !own.colsum)
            goto done;
        rq_pack_b(&own, g->b, g->b_type, g->k, g->n, g->ldb);
        pb = &own;
    }
    if (rq_simd_ws_init(p, pb, amx, &w) == RQ_OK)
        rc = amx ? rq_gemm_amx(p, pb, &w)
           : path == RQ_PATH_VNNI && p->r1 - p->r0 <= 4 ? rq_gemv_vnni(p, pb, &w)   /* gemv_vnni.c */
           : path == RQ_PATH_VNNI ? rq_gemm_vnni(p, pb, &w)
           : rq_gemm_avx2(p, pb, &w, path == RQ_PATH_AVXVNNI);
done:
    rq_simd_ws_free(&w);
    free(own.data);
    free(own.colsum);
    return rc;
}

int rq_gemm_run(rq_gemm *g)
{
    rq_plan p;
    int rc;
    int32_t i;
    if (!g)
        return RQ_E_NULL;
    g->path_used = 0;
    if ((rc = rq_check(g)) != RQ_OK)
        return rc;
    if (g->row_begin == g->row_end || g->col_begin == g->col_end)
        return RQ_OK;
    if ((rc = rq_plan_init(&p, g)) != RQ_OK)
        return rc;
    g->path_used = rq_choose_path(&p);
    if (g->path_used == RQ_PATH_SCALAR) {
        rc = rq_gemm_scalar(&p);
    } else {
        if (g->overflow_count)   /* no overflow is possible on this path */
            for (i = p.r0; i < p.r1; i++)
                memset(g->overflow_count + (size_t)i * (size_t)g->n + (size_t)p.c0, 0,
                       (size_t)(p.c1 - p.c0) * sizeof(int32_t));
        rc = rq_gemm_simd(&p, g->path_used);
    }
    rq_plan_free(&p);
    return rc;
}

/* ---- implicit-GEMM convolution (rq_conv_gemm_run) ---------------------------------- */

static int rq_conv_check(const rq_gemm *g, const rq_conv_a *cv)
{
    if (!cv || !g->packed_b)
        return RQ_E_NULL;
    if (cv->c < 1 || cv->hp < 1 || cv->wp < 1 || cv->kh < 1 || cv->kw < 1 || cv->sh < 1 || cv->sw < 1 ||
        cv->dh < 1 || cv->dw < 1 || cv->oh < 1 || cv->ow < 1)
        return RQ_E_DIM;
    if ((int64_t)cv->oh * cv->ow != g->m || (int64_t)cv->kh * cv->kw * cv->c != g->k ||
        (int64_t)(cv->oh - 1) * cv->sh + (int64_t)(cv->kh - 1) * cv->dh >= cv->hp ||
        (int64_t)(cv->ow - 1) * cv->sw + (int64_t)(cv->kw - 1) * cv->dw >= cv->wp ||
        (int64_t)cv->hp * cv->wp * cv->c > 0x7fffffff)
        return RQ_E_DIM;
    if (cv->y && cv->ldy < g->m)
        return RQ_E_LD;
    return RQ_OK;
}

int rq_conv_gemm_run(rq_gemm *g, const rq_conv_a *cv)
{
    rq_plan p;
    rq_simd_ws w = {0};
    int rc;
    int32_t path;
    if (!g)
        return RQ_E_NULL;
    g->path_used = 0;
    if (g->lda < g->k)
        g->lda = g->k;   /* not read here: A is the image */
    if ((rc = rq_check(g)) != RQ_OK || (rc = rq_conv_check(g, cv)) != RQ_OK)
        return rc;
    if (cv->c % 4 != 0 || g->a_type != RQ_U8)
        return RQ_E_PATH;
    if (g->row_begin == g->row_end || g->col_begin == g->col_end)
        return RQ_OK;
    if ((rc = rq_plan_init(&p, g)) != RQ_OK)
        return rc;
    path = rq_choose_path(&p);
    rc = RQ_E_PATH;
    if (path == RQ_PATH_VNNI &&   /* where AMX would run, its GEMM on an im2col (not compared) */
        (rc = rq_simd_ws_init(&p, g->packed_b, 0, &w)) == RQ_OK) {
        if (w.need_rowsum) {
            rc = RQ_E_PATH;
        } else {
            if (g->overflow_count)   /* no overflow is possible on this path */
                for (path = p.r0; path < p.r1; path++)
                    memset(g->overflow_count + (size_t)path * (size_t)g->n + (size_t)p.c0, 0,
                           (size_t)(p.c1 - p.c0) * sizeof(int32_t));
            g->path_used = RQ_PATH_VNNI;
            rc = rq_conv_vnni(&p, g->packed_b, &w, cv);
            if (rc == RQ_OK && cv->y) {   /* this rectangle's block, NCHW, while it is in cache */
                size_t es = g->c_type == RQ_I32 ? 4u : 1u;
                rc = rq_transpose((const char *)g->c + ((size_t)p.r0 * (size_t)g->ldc + (size_t)p.c0) * es,
                                  (char *)cv->y + ((size_t)p.c0 * (size_t)cv->ldy + (size_t)p.r0) * es,
                                  p.r1 - p.r0, p.c1 - p.c0, g->ldc, cv->ldy, (int32_t)es);
            }
        }
    }
    rq_simd_ws_free(&w);
    rq_plan_free(&p);
    return rc;
}

static int rq_conv1x1_part(rq_gemm *g, const uint8_t *x, int32_t c, int32_t np_, int32_t p0, int32_t p1,
                           int32_t m0, int32_t m1, const int8_t *wt, void *y)
{
    rq_plan p;
    rq_simd_ws w = {0};
    int rc;
    if (!g || !x || !wt || !y || !g->packed_b)
        return RQ_E_NULL;
    g->path_used = 0;
    if (c < 1 || np_ < 1 || g->k < c || g->k % 4 != 0 || g->k - c >= 4 || p0 < 0 || p1 < p0 || p1 > np_)
        return RQ_E_DIM;
    g->a = x;          /* checked as the GEMM's A would be; read here as c rows of np_ pixels */
    g->lda = g->k;
    g->m = np_;
    g->c = y;
    g->ldc = g->n;
    g->row_begin = p0;   /* the pixels and output channels this call computes */
    g->col_begin = m0 < 0 ? 0 : m0;
    g->row_end = p1;
    g->col_end = m1 < 0 ? g->n : m1;
    if (p0 == p1 || g->col_begin == g->col_end)
        return RQ_OK;
    if ((rc = rq_check(g)) != RQ_OK)
        return rc;
    if (g->a_type != RQ_U8 || g->packed_b->b_type != RQ_I8 || g->overflow_count ||
        (g->method != RQ_FLOAT_FP32 && g->method != RQ_INT32))
        return RQ_E_PATH;
    if ((rc = rq_plan_init(&p, g)) != RQ_OK)
        return rc;
    rc = RQ_E_PATH;
    if (rq_choose_path(&p) == RQ_PATH_VNNI && (rc = rq_simd_ws_init(&p, g->packed_b, 0, &w)) == RQ_OK) {
        rc = RQ_E_PATH;
        if (!w.need_rowsum) {
            g->path_used = RQ_PATH_VNNI;
            rc = rq_conv1x1_vnni(&p, &w, x, c, np_, wt, y);
        }
    }
    rq_simd_ws_free(&w);
    rq_plan_free(&p);
    return rc;
}

int rq_conv1x1_nchw_run(rq_gemm *g, const uint8_t *x, int32_t c, int32_t np_, const int8_t *wt, void *y)
{
    return rq_conv1x1_part(g, x, c, np_, 0, np_, -1, -1, wt, y);
}

typedef struct rq_1x1_many {
    rq_gemm **gs; const uint8_t *x; int32_t c, np_, count; const int8_t *wt; void *y;
} rq_1x1_many;

static int rq_1x1_task(void *ctx, int32_t i)
{
    const rq_1x1_many *m = (const rq_1x1_many *)ctx;
    int32_t blocks = (m->np_ + 63) / 64, n = m->gs[i]->n;   /* parts of whole 64-pixel blocks */
    int32_t p0 = (int32_t)((int64_t)blocks * i / m->count) * 64, p1 = (int32_t)((int64_t)blocks * (i + 1) / m->count) * 64;
    if (blocks < 4 * m->count && n >= 32 * m->count)   /* few pixel blocks: split the output channels */
        return rq_conv1x1_part(m->gs[i], m->x, m->c, m->np_, 0, m->np_, (int32_t)((int64_t)n * i / m->count),
                               (int32_t)((int64_t)n * (i + 1) / m->count), m->wt, m->y);
    return rq_conv1x1_part(m->gs[i], m->x, m->c, m->np_, p0 < m->np_ ? p0 : m->np_, p1 < m->np_ ? p1 : m->np_,
                           -1, -1, m->wt, m->y);
}

int rq_conv1x1_nchw_run_many(rq_gemm **gs, const uint8_t *x, int32_t c, int32_t np_, const int8_t *wt, void *y,
                             int32_t count)
{
    rq_1x1_many m;
    int32_t i;
    if (!gs || count < 1)
        return RQ_E_NULL;
    for (i = 0; i < count; i++)
        if (!gs[i])
            return RQ_E_NULL;
    m.gs = gs, m.x = x, m.c = c, m.np_ = np_, m.count = count, m.wt = wt, m.y = y;
    return rq_run_many(rq_1x1_task, &m, count);
}

typedef struct rq_conv_many { rq_gemm **gs; const rq_conv_a *cv; } rq_conv_many;

static int rq_conv_task(void *ctx, int32_t i)
{
    const rq_conv_many *m = (const rq_conv_many *)ctx;
    return rq_conv_gemm_run(m->gs[i], m->cv);
}

int rq_conv_gemm_run_many(rq_gemm **gs, const rq_conv_a *cv, int32_t count)
{
    rq_conv_many m;
    int32_t i;
    if (!gs || count < 0)
        return RQ_E_NULL;
    for (i = 0; i < count; i++)
        if (!gs[i])
            return RQ_E_NULL;
    m.gs = gs;
    m.cv = cv;
    return rq_run_many(rq_conv_task, &m, count);
}
