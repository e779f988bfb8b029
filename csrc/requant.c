/* requant.c -- section 3 of docs/gemm-contract.md, one accumulator at a time.
 *
 * The portable definition; the AVX-512 epilogue in requant_avx512.c must agree
 * with it bit for bit.  All integer steps are exact in int64 (|acc*m| < 2^62
 * and the rounding constants are <= 2^61 + 2^30, so nothing overflows);
 * floating point is binary32 only, compiled with -ffp-contract=off under the
 * default rounding mode (round to nearest, ties to even), which
 * rq_gemm_run checks with fegetround() before any float_fp32 work.
 */
#include <stdint.h>
#include <stddef.h>
#include <fenv.h>
#include "rq_internal.h"   /* includes refquant_kernel.h once */

/* RNE of a binary32 value to an integral binary32: for |v| < 2^23 adding
 * and subtracting 2^23 (same sign) rounds to nearest-even in the default
 * mode; larger values are already integers. */
static float rq_rne_f32(float v)
{
    const float two23 = 8388608.0f;
    if (v >= 0.0f && v < two23)
        return (v + two23) - two23;
    if (v < 0.0f && v > -two23)
        return (v - two23) + two23;
    return v;
}

/* float_fp32: v = fl(fl(acc) * M); clamp to [qmin - zp, qmax - zp] in float; RNE; + zp. */
static int64_t rq_float_fp32(int32_t acc, float mf, int32_t zp, int32_t qmin, int32_t qmax)
{
    float v = (float)acc * mf;
    float lo = (float)((int64_t)qmin - zp), hi = (float)((int64_t)qmax - zp);
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return (int64_t)rq_rne_f32(v) + zp;
}

/* SRDHM(x, m) for m >= 0: floor((x*m + 2^30) / 2^31) -- the sign-dependent
 * nudge plus truncation of the contract is this single half-up rounding;
 * the INT32_MIN*INT32_MIN saturation cannot occur because m >= 0. */
static int64_t rq_srdhm(int64_t x, int64_t m)
{
    return rq_floor_shr(x * m + ((int64_t)1 << 30), 31);
}

/* RDBPOT(x, e), 0 <= e <= 31: x / 2^e rounded half away from zero. */
static int64_t rq_rdbpot(int64_t x, int e)
{
    uint64_t mask = ((uint64_t)1 << e) - 1u;
    uint64_t rem = (uint64_t)x & mask;
    uint64_t threshold = (mask >> 1) + (x < 0 ? 1u : 0u);
    return rq_floor_shr(x, e) + (rem > threshold ? 1 : 0);
}

static int64_t rq_tflite_double(int32_t acc, int32_t m, int32_t shift)
{
    int left = shift > 0 ? shift : 0, right = shift < 0 ? -shift : 0;
    int32_t x = rq_wrap32((uint32_t)acc << left);
    return rq_rdbpot(rq_srdhm(x, m), right);
}

/* floor((acc*m + 2^(t-1) + d) / 2^t), 1 <= t <= 62. */
static int64_t rq_scale_round(int32_t acc, int32_t m, int t, int64_t d)
{
    return rq_floor_shr((int64_t)acc * m + ((int64_t)1 << (t - 1)) + d, t);
}

static int64_t rq_sat(int64_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Parameters are assumed already checked (rq_gemm_run / rq_requant_one do). */
static int32_t rq_requant_checked(int32_t acc, int32_t method, float mf, int32_t m,
                                  int32_t shift, int32_t zp, int32_t qmin, int32_t qmax)
{
    int64_t r, d = 0;
    switch (method) {
    case RQ_FLOAT_FP32:
        return (int32_t)rq_float_fp32(acc, mf, zp, qmin, qmax);
    case RQ_TFLITE_DOUBLE:
        r = rq_tflite_double(acc, m, shift);
        break;
    case RQ_TFLITE_SINGLE:
        r = rq_scale_round(acc, m, 31 - shift, 0);
        break;
    case RQ_TOSA_DOUBLE:
        if (shift > 31)
            d = acc >= 0 ? ((int64_t)1 << 30) : -((int64_t)1 << 30);
        r = rq_scale_round(acc, m, shift, d);
        break;
    case RQ_TOSA_SINGLE:
        r = rq_scale_round(acc, m, shift, 0);
        break;
    default: /* RQ_INT32 */
        return acc;
    }
    return (int32_t)rq_sat(r + zp, qmin, qmax);
}

/* The domain of section 3 (docs/gemm-contract.md): the method, its parameters, zp/qmin/qmax
 * against c_type, and the FP environment.  rq_gemm_run and rq_requant_one call it before
 * anything is computed; the functions above assume it passed. */
int rq_check_requant(const rq_gemm *g)
{
    int32_t cnt, j;
    int64_t lo, hi;
    if (g->method < RQ_INT32 || g->method > RQ_TOSA_DOUBLE)
        return RQ_E_METHOD;
    if (!rq_type_range(g->c_type, &lo, &hi))
        return RQ_E_TYPE;
    if (g->method == RQ_INT32)
        return g->c_type == RQ_I32 ? RQ_OK : RQ_E_METHOD;
    if (g->qmin > g->qmax || g->qmin < lo || g->qmax > hi)
        return RQ_E_PARAM;
    cnt = g->per_channel ? g->n : 1;
    if (g->method == RQ_FLOAT_FP32) {
        const int64_t lim = (int64_t)1 << 24;  /* clamp bounds must be exact binary32 integers */
        int64_t a = (int64_t)g->qmin - g->zp, b = (int64_t)g->qmax - g->zp;
        if (!g->multiplier_f32)
            return RQ_E_NULL;
        if (a < -lim || a > lim || b < -lim || b > lim)
            return RQ_E_PARAM;
        const float *const mf = g->multiplier_f32;
        int bad = 0;
        for (j = 0; j < cnt; j++)   /* M_j finite and >= 0 (-0 is 0), as the oracle requires; */
            bad |= !(mf[j] >= 0.0f && mf[j] <= 3.4028234663852886e38f);   /* NaN, inf, negatives */
        if (bad)
            return RQ_E_PARAM;
        if (fegetround() != FE_TONEAREST)
            return RQ_E_FPENV;
        return RQ_OK;
    }
    if (!g->multiplier || !g->shift)
        return RQ_E_NULL;
    {   /* m_j >= 0; s_j in [2, 62] (tosa_*) or [-31, 30] (tflite_*) -- one pass, no early exit */
        const int32_t *const mm = g->multiplier, *const sh = g->shift;
        const int tosa = g->method == RQ_TOSA_SINGLE || g->method == RQ_TOSA_DOUBLE;
        const int32_t slo = tosa ? 2 : -31, shi = tosa ? 62 : 30;
        int bad = 0;
        for (j = 0; j < cnt; j++)
            bad |= (mm[j] < 0) | (sh[j] < slo) | (sh[j] > shi);
        return bad ? RQ_E_PARAM : RQ_OK;
    }
}

int32_t rq_requant_col(const rq_plan *p, int32_t acc, int32_t j)
{
    const rq_gemm *g = p->g;
    return rq_requant_checked(acc, g->method, p->mf[j], p->qm[j], p->qs[j], g->zp, g->qmin, g->qmax);
}

int rq_requant_one(int32_t acc, int32_t method, float mf, int32_t m, int32_t shift,
                   int32_t zp, int32_t qmin, int32_t qmax, int32_t *out)
{
    rq_gemm g = {0};
    int rc;
    if (!out)
        return RQ_E_NULL;
    g.method = method;
    g.multiplier_f32 = &mf;
    g.multiplier = &m;
    g.shift = &shift;
    g.zp = zp;
    g.qmin = qmin;
    g.qmax = qmax;
    g.c_type = RQ_I32;
    g.n = 1;
    rc = rq_check_requant(&g);
    if (rc != RQ_OK)
        return rc;
    *out = rq_requant_checked(acc, method, mf, m, shift, zp, qmin, qmax);
    return RQ_OK;
}
