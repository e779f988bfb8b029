/* rq_simd.h -- what the x86-64 SIMD files share (gemm_vnni.c, gemm_amx.c, requant_avx512.c,
 * gemm_avx2.c, requant_avx2.c).
 *
 * Every function that uses wider instructions carries its own
 * __attribute__((target(...))), so the library is built without -march and
 * runs on any x86-64 (and any other CPU: then only the scalar path exists);
 * rq_cpu_paths (cpu_x86.c) says at run time which paths may run.  Why the
 * SIMD paths give the contract's value exactly: the top of requant_avx512.c.
 */
#ifndef RQ_SIMD_H
#define RQ_SIMD_H

#include "rq_internal.h"   /* includes refquant_kernel.h once */

#if RQ_X86_SIMD
#include <immintrin.h>

#define RQ_T_AVX512 "avx512f,avx512bw,avx512dq,avx512vl"
#define RQ_AVX512 __attribute__((target(RQ_T_AVX512)))
#define RQ_VNNI __attribute__((target(RQ_T_AVX512 ",avx512vnni")))
#define RQ_AMX __attribute__((target(RQ_T_AVX512 ",amx-tile,amx-int8")))
#define RQ_AVX2 __attribute__((target("avx2")))
#define RQ_AVXVNNI __attribute__((target("avx2,avxvnni")))

/* Embedded rounding: round to nearest even whatever MXCSR says, exceptions suppressed. */
#define RQ_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* float_fp32 of one vector: fl(fl(acc) * M) with RNE, clamp to [lo, hi] (exact
 * binary32 integers), RNE to int32, + zp. */
#define RQ_FQ(acc, mf, lo, hi, zp)                                                        \
    _mm512_add_epi32(_mm512_cvt_roundps_epi32(_mm512_min_ps(_mm512_max_ps(                \
        _mm512_mul_round_ps(_mm512_cvt_roundepi32_ps((acc), RQ_RNE), (mf), RQ_RNE), (lo)),  \
        (hi)), RQ_RNE), (zp))

/* RQ_FQ without the lower clamp and the zero point: RNE(min(fl(fl(acc) * mf), hi)) (the 8-bit
 * epilogue adds zp and clamps below after packing, requant_avx512.c) */
#define RQ_FQ_HI(acc, mf, hi)                                                             \
    _mm512_cvt_roundps_epi32(_mm512_min_ps(                                               \
        _mm512_mul_round_ps(_mm512_cvt_roundepi32_ps((acc), RQ_RNE), (mf), RQ_RNE), (hi)), RQ_RNE)

static inline int32_t rq_round_up(int32_t v, int32_t q) { return ((v + q - 1) / q) * q; }

/* Tuning knobs (-DRQ_...=value to try others).  None of them changes a result. */
#ifndef RQ_MR
#define RQ_MR 12      /* VNNI micro-kernel rows (8 or 12): 2*RQ_MR zmm accumulators */
#endif
#ifndef RQ_BPF
#define RQ_BPF 1024   /* VNNI small-M kernel: B prefetch distance in bytes, per panel */
#endif
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
#ifndef RQ_AMX_STREAM
#define RQ_AMX_STREAM 1   /* AMX: a large int32 C with non-temporal stores, as the VNNI path (measured
                             there; on AMX not measured yet: -DRQ_AMX_STREAM=0 for the A/B) */
#endif
#ifndef RQ_ABYTES
#define RQ_ABYTES (768 * 1024)   /* packed A block budget (L2) */
#endif

/* requant_avx512.c: corrections, requantization and store of one int32 block. */
RQ_AVX512 void rq_epilogue(const rq_plan *p, const rq_simd_ws *w, const int32_t *cbuf,
                           int32_t i0, int32_t nrows, int32_t j0, const uint32_t *rs);

/* requant_avx2.c: the same for the 256-bit paths, in AVX2 only (same bits). */
RQ_AVX2 void rq_epilogue_avx2(const rq_plan *p, const rq_simd_ws *w, const int32_t *cbuf,
                              int32_t i0, int32_t nrows, int32_t j0, const uint32_t *rs);

#endif /* RQ_X86_SIMD */
#endif
