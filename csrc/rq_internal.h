/* rq_internal.h -- shared between the kernel's translation units (not part of the API).
 *
 * Who calls whom (one way, no circle):
 *   gemm.c  (checks, plan, dispatch, scalar path; rq_gemm_run)
 *     -> requant.c (rq_check_requant, rq_requant_col), pack.c (rq_pack_b),
 *        cpu_x86.c (rq_cpu_paths), requant_avx512.c (rq_simd_ws_init/free),
 *        gemm_vnni.c (rq_gemm_vnni), gemv_vnni.c (rq_gemv_vnni: M <= 4), gemm_amx.c (rq_gemm_amx),
 *        gemm_avx2.c (rq_gemm_avx2)
 *   gemm_vnni.c, gemv_vnni.c, gemm_amx.c -> requant_avx512.c (rq_epilogue, declared in rq_simd.h)
 *   gemm_avx2.c -> requant_avx2.c (rq_epilogue_avx2, declared in rq_simd.h)
 *   pool.c (rq_gemm_run_many, rq_run_many) -> gemm.c (rq_gemm_run)
 *   dwconv.c (rq_dwconv_run[_many]) -> gemm.c (rq_plan_init, rq_choose_path), requant.c,
 *        pack.c (rq_transpose), requant_avx512.c (rq_epilogue), pool.c (rq_run_many)
 */
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

/* B[k][j] of a packed B: byte offset in rq_packed_b.data (layout in refquant_kernel.h). */
static inline size_t rq_packed_index(int32_t k_pad, int32_t k, int32_t j)
{
    return ((size_t)(j / 16) * (size_t)(k_pad / 4) + (size_t)(k / 4)) * 64u
           + (size_t)(j % 16) * 4u + (size_t)(k % 4);
}

#define RQ_INT32_MIN_ (-2147483647 - 1)

/* The value range of an element type; 0 for an unknown type. */
static inline int rq_type_range(int32_t t, int64_t *lo, int64_t *hi)
{
    switch (t) {
    case RQ_I8:  *lo = -128; *hi = 127; return 1;
    case RQ_U8:  *lo = 0; *hi = 255; return 1;
    case RQ_I32: *lo = RQ_INT32_MIN_; *hi = 2147483647; return 1;
    default: return 0;
    }
}

static inline int rq_in_type(int32_t t, int64_t v)
{
    int64_t lo, hi;
    return rq_type_range(t, &lo, &hi) && v >= lo && v <= hi;
}

/* One accumulator step under the policy; counts out-of-range steps. */
static inline int64_t rq_step(int64_t v, int32_t policy, int32_t *count)
{
    const int64_t lo = RQ_INT32_MIN_, hi = 2147483647;
    if (v >= lo && v <= hi)
        return v;
    (*count)++;
    if (policy == RQ_SATURATE)
        return v < lo ? lo : hi;
    return rq_wrap32((uint32_t)(uint64_t)v);  /* wrap; also the value kept under error */
}

/* gemm.c: the plan of a checked problem (per-column zb, bias, requantization parameters) and
 * its release; the path a plan runs (a SIMD path only where it is exact).  dwconv.c builds
 * plans too, so that its requantization is the GEMM's own (rq_requant_col, rq_epilogue). */
int rq_plan_init(rq_plan *p, const rq_gemm *g);
void rq_plan_free(rq_plan *p);
int32_t rq_choose_path(const rq_plan *p);

/* pool.c: fn(ctx, 0 .. count-1) at once on the persistent pool; the combined status. */
int rq_run_many(int (*fn)(void *ctx, int32_t i), void *ctx, int32_t count);

/* requant.c: the method, its parameters, zp/qmin/qmax against c_type, the FP environment. */
int rq_check_requant(const rq_gemm *g);
/* requant.c: section 3 for output column j of a checked plan. */
int32_t rq_requant_col(const rq_plan *p, int32_t acc, int32_t j);

/* The SIMD paths exist on x86-64 with GCC or Clang; elsewhere rq_cpu_paths lists
 * none and the drivers below are stubs that are never called. */
#if defined(__x86_64__) && defined(__GNUC__)
#define RQ_X86_SIMD 1
#else
#define RQ_X86_SIMD 0
#endif

/* The compiler knows AVX-VNNI (VEX vpdpbusd, target "avxvnni"): GCC >= 11, Clang >= 12.
 * Without it the path RQ_PATH_AVXVNNI is never listed. */
#if RQ_X86_SIMD && (defined(__clang__) ? __clang_major__ >= 12 : __GNUC__ >= 11)
#define RQ_AVXVNNI_CC 1
#else
#define RQ_AVXVNNI_CC 0
#endif

/* The column corrections both SIMD drivers use (requant_avx512.c). */
typedef struct rq_simd_ws {
    int32_t *colfix;    /* n: -alpha*colsum_j + K*alpha*beta_j + bias_j (mod 2^32) */
    int32_t *beta;      /* n: zb_j - 128 [B uint8] */
    int need_rowsum;    /* some beta_j != 0 */
    int stream;         /* int32 C written with non-temporal stores (rq_epilogue; large C, 64-byte rows) */
} rq_simd_ws;

int rq_simd_ws_init(const rq_plan *p, const rq_packed_b *pb, int amx, rq_simd_ws *w);
void rq_simd_ws_free(rq_simd_ws *w);

/* The drivers: compute the plan's rectangle from a packed B.  RQ_OK or RQ_E_NOMEM. */
int rq_gemm_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w);   /* gemm_vnni.c */
int rq_gemv_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w);   /* gemv_vnni.c: M <= 4 */
int rq_gemm_amx(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w);    /* gemm_amx.c */
int rq_gemm_avx2(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w, int vnni);   /* gemm_avx2.c */
int rq_conv_vnni(const rq_plan *p, const rq_packed_b *pb, const rq_simd_ws *w, const rq_conv_a *cv); /* gemm_vnni.c */
int rq_conv1x1_vnni(const rq_plan *p, const rq_simd_ws *w, const uint8_t *x, int32_t c, int32_t np_,
                    const int8_t *wt, void *y);   /* gemm_vnni.c */

#endif
