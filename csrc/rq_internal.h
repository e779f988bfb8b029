/* rq_internal.h -- shared between the kernel's translation units (not part of the API). */
#ifndef RQ_INTERNAL_H
#define RQ_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include "refquant_kernel.h"

/* A checked problem plus O(n) per-column workspace, shared by every path. */
typedef struct rq_plan {
    const rq_gemm *g;
    int32_t r0, r1, c0, c1;     /* the rectangle to compute */
    int32_t *zb;                /* n: zb_j */
    int32_t *bias;              /* n: bias_j (0 when none) */
    float *mf;                  /* n: M_j (float_fp32) */
    int32_t *qm, *qs;           /* n: m_j, shift_j / s_j (integer methods) */
    int32_t has_bias;
    int32_t zb_nonzero;         /* some zb_j != 0 */
} rq_plan;

/* wrap32: v mod 2^32 into [-2^31, 2^31) without implementation-defined casts. */
static inline int32_t rq_wrap32(uint32_t u)
{
    return u <= 0x7fffffffu ? (int32_t)u : -(int32_t)(~u) - 1;
}

/* floor(v / 2^n), 0 <= n <= 62, without relying on >> of negatives. */
static inline int64_t rq_floor_shr(int64_t v, int n)
{
    return v >= 0 ? (v >> n) : -((-(v + 1)) >> n) - 1;
}

void rq_store_out(const rq_gemm *g, int32_t i, int32_t j, int32_t q);
int32_t rq_requant_col(const rq_plan *p, int32_t acc, int32_t j);
int rq_b_byte(const rq_gemm *g, int32_t k, int32_t j);  /* B[k][j] as an int */

/* SIMD paths (gemm_x86.c).  Return RQ_OK or RQ_E_NOMEM. */
int rq_have_vnni(void);
int rq_have_amx(void);
int rq_gemm_simd(const rq_plan *p, int amx);

#endif
