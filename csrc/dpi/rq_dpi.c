/* rq_dpi.c -- the DPI-C wrapper over rq_gemm_run (see rq_dpi.h).
 *
 * A finished dot product is a 1 x 1 GEMM with k = the number of beats: run once with RQ_INT32 for
 * the accumulator and once with the requested method for y, both on the scalar path (one output:
 * no SIMD gain, and the scalar path is the portable definition).
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "../refquant_kernel.h"
#include "rq_dpi.h"

typedef struct { int32_t n; int8_t a[RQ_DPI_MAX_K]; int8_t b[RQ_DPI_MAX_K]; } rq_dpi_unit;

static rq_dpi_unit units[RQ_DPI_UNITS];

static rq_dpi_unit *unit_of(int32_t id)
{
    return (id >= 0 && id < RQ_DPI_UNITS) ? &units[id] : NULL;
}

int rq_dpi_reset(int32_t id)
{
    rq_dpi_unit *u = unit_of(id);
    if (!u) return RQ_DPI_E_ID;
    u->n = 0;
    return RQ_OK;
}

int rq_dpi_push(int32_t id, int32_t a, int32_t b)
{
    rq_dpi_unit *u = unit_of(id);
    if (!u) return RQ_DPI_E_ID;
    if (a < -128 || a > 127 || b < -128 || b > 127) return RQ_DPI_E_VALUE;
    if (u->n >= RQ_DPI_MAX_K) return RQ_DPI_E_FULL;
    u->a[u->n] = (int8_t)a;
    u->b[u->n] = (int8_t)b;
    u->n++;
    return u->n;
}

static void setup(rq_gemm *g, const rq_dpi_unit *u, const int32_t *zb, const int32_t *bias, int32_t policy)
{
    static const int8_t zero = 0;
    memset(g, 0, sizeof *g);
    g->m = 1; g->n = 1; g->k = u ? u->n : 0;
    g->a = (u && u->n) ? (const void *)u->a : (const void *)&zero;
    g->b = (u && u->n) ? (const void *)u->b : (const void *)&zero;
    g->a_type = RQ_I8; g->b_type = RQ_I8;
    g->lda = g->k; g->ldb = 1; g->ldc = 1;
    g->zb = zb; g->zb_per_channel = 0;
    g->bias = bias;
    g->policy = policy;
    g->path = RQ_PATH_SCALAR;
}

static int requant_into(rq_gemm *g, int32_t method, int32_t m, int32_t shift, int32_t zy, int32_t qmin,
                        int32_t qmax, int8_t *out)
{
    float mf;
    uint32_t bits = (uint32_t)m;
    memcpy(&mf, &bits, sizeof mf);
    g->method = method;
    g->per_channel = 0;
    g->multiplier_f32 = &mf;
    g->multiplier = &m;
    g->shift = &shift;
    g->zp = zy; g->qmin = qmin; g->qmax = qmax;
    g->c = out; g->c_type = RQ_I8;
    return rq_gemm_run(g);
}

int rq_dpi_finish(int32_t id, int32_t za, int32_t zb, int32_t bias, int32_t saturate, int32_t method,
                  int32_t m, int32_t shift, int32_t zy, int32_t qmin, int32_t qmax, int32_t *acc, int32_t *y)
{
    rq_dpi_unit *u = unit_of(id);
    rq_gemm g;
    int32_t acc32 = 0;
    int8_t y8 = 0;
    int rc;
    if (!u) return RQ_DPI_E_ID;
    if (!acc || !y) return RQ_E_NULL;
    if (saturate != 0 && saturate != 1) return RQ_E_POLICY;
    if (method == RQ_INT32) return RQ_E_METHOD;
    setup(&g, u, &zb, &bias, saturate ? RQ_SATURATE : RQ_WRAP);
    g.za = za;
    g.method = RQ_INT32; g.c = &acc32; g.c_type = RQ_I32;
    rc = rq_gemm_run(&g);
    if (rc < 0) return rc;
    setup(&g, u, &zb, &bias, saturate ? RQ_SATURATE : RQ_WRAP);
    g.za = za;
    rc = requant_into(&g, method, m, shift, zy, qmin, qmax, &y8);
    if (rc < 0) return rc;
    *acc = acc32;
    *y = y8;
    u->n = 0;
    return RQ_OK;
}

int rq_dpi_requant(int32_t acc, int32_t method, int32_t m, int32_t shift, int32_t zy, int32_t qmin,
                   int32_t qmax, int32_t *y)
{
    rq_gemm g;
    int8_t y8 = 0;
    int rc;
    if (!y) return RQ_E_NULL;
    if (method == RQ_INT32) return RQ_E_METHOD;
    setup(&g, NULL, NULL, &acc, RQ_WRAP);      /* k = 0: acc = 0 + bias = acc exactly */
    rc = requant_into(&g, method, m, shift, zy, qmin, qmax, &y8);
    if (rc < 0) return rc;
    *y = y8;
    return RQ_OK;
}

int rq_dpi_cpu_paths(void)
{
    return rq_cpu_paths();
}
