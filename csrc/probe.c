/* probe.c -- peak probes: the int8 multiply-add rate this CPU retires on one SIMD path.
 *
 * A benchmark judges a kernel by the fraction of the peak of the instructions it actually
 * runs, measured on the same machine in the same run (docs/performance.md).  Each probe runs
 * `iters` iterations of 12 independent vpdpbusd chains (enough to cover the instruction's
 * latency on current cores) on registers only -- no memory traffic -- and returns the number
 * of multiply-adds it performed (the caller times it), or 0 when the path is not usable here.
 * The 256-bit probe (EVEX ymm) tells whether a CPU that splits 512-bit operations (AMD Zen 4)
 * retires as many multiply-adds per second at half the width.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "rq_simd.h"

#if RQ_X86_SIMD

#define RQ_CHAINS 12

RQ_VNNI static int64_t rq_probe_vnni512_run(int64_t iters)
{
    __m512i acc[RQ_CHAINS], a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
    int64_t i;
    int c;
    volatile int32_t sink;
    for (c = 0; c < RQ_CHAINS; c++)
        acc[c] = _mm512_set1_epi32(c);
    for (i = 0; i < iters; i++)
        for (c = 0; c < RQ_CHAINS; c++)
            acc[c] = _mm512_dpbusd_epi32(acc[c], a, b);
    for (c = 1; c < RQ_CHAINS; c++)
        acc[0] = _mm512_add_epi32(acc[0], acc[c]);
    sink = _mm512_reduce_add_epi32(acc[0]);
    (void)sink;
    return iters * RQ_CHAINS * 64;
}

RQ_VNNI static int64_t rq_probe_vnni256_run(int64_t iters)
{
    __m256i acc[RQ_CHAINS], a = _mm256_set1_epi32(0x01020304), b = _mm256_set1_epi32(0x05060708);
    int64_t i;
    int c;
    int32_t out[8];
    volatile int32_t sink;
    for (c = 0; c < RQ_CHAINS; c++)
        acc[c] = _mm256_set1_epi32(c);
    for (i = 0; i < iters; i++)
        for (c = 0; c < RQ_CHAINS; c++)
            acc[c] = _mm256_dpbusd_epi32(acc[c], a, b);
    for (c = 1; c < RQ_CHAINS; c++)
        acc[0] = _mm256_add_epi32(acc[0], acc[c]);
    _mm256_storeu_si256((__m256i *)out, acc[0]);
    sink = out[0] + out[7];
    (void)sink;
    return iters * RQ_CHAINS * 32;
}

int64_t rq_probe_vnni(int32_t width, int64_t iters)
{
    if (iters < 0 || !(rq_cpu_paths() & RQ_PATH_VNNI))
        return 0;
    if (width == 512)
        return rq_probe_vnni512_run(iters);
    if (width == 256)
        return rq_probe_vnni256_run(iters);
    return 0;
}

/* The AVX2 path's exact step: vpmaddwd (two 16-bit products per int32 lane) + vpaddd. */
RQ_AVX2 static int64_t rq_probe_avx2_run(int64_t iters)
{
    __m256i acc[RQ_CHAINS], a = _mm256_set1_epi32(0x00020003), b = _mm256_set1_epi32(0x00050007);
    int64_t i;
    int c;
    int32_t out[8];
    volatile int32_t sink;
    for (c = 0; c < RQ_CHAINS; c++)
        acc[c] = _mm256_set1_epi32(c);
    for (i = 0; i < iters; i++) {
        for (c = 0; c < RQ_CHAINS; c++)
            acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(a, b));
        a = _mm256_add_epi16(a, b);   /* keeps the products from being hoisted out of the loop */
    }
    for (c = 1; c < RQ_CHAINS; c++)
        acc[0] = _mm256_add_epi32(acc[0], acc[c]);
    _mm256_storeu_si256((__m256i *)out, acc[0]);
    sink = out[0] + out[7];
    (void)sink;
    return iters * RQ_CHAINS * 16;
}

#if RQ_AVXVNNI_CC
RQ_AVXVNNI static int64_t rq_probe_avxvnni_run(int64_t iters)
{
    __m256i acc[RQ_CHAINS], a = _mm256_set1_epi32(0x01020304), b = _mm256_set1_epi32(0x05060708);
    int64_t i;
    int c;
    int32_t out[8];
    volatile int32_t sink;
    for (c = 0; c < RQ_CHAINS; c++)
        acc[c] = _mm256_set1_epi32(c);
    for (i = 0; i < iters; i++)
        for (c = 0; c < RQ_CHAINS; c++)
            acc[c] = _mm256_dpbusd_avx_epi32(acc[c], a, b);
    for (c = 1; c < RQ_CHAINS; c++)
        acc[0] = _mm256_add_epi32(acc[0], acc[c]);
    _mm256_storeu_si256((__m256i *)out, acc[0]);
    sink = out[0] + out[7];
    (void)sink;
    return iters * RQ_CHAINS * 32;
}
#endif

int64_t rq_probe_avx2(int32_t kind, int64_t iters)
{
    if (iters < 0)
        return 0;
    if (kind == 0 && (rq_cpu_paths() & RQ_PATH_AVX2))
        return rq_probe_avx2_run(iters);
#if RQ_AVXVNNI_CC
    if (kind == 1 && (rq_cpu_paths() & RQ_PATH_AVXVNNI))
        return rq_probe_avxvnni_run(iters);
#endif
    return 0;
}

#else

int64_t rq_probe_vnni(int32_t width, int64_t iters)
{
    (void)width; (void)iters;
    return 0;
}

int64_t rq_probe_avx2(int32_t kind, int64_t iters)
{
    (void)kind; (void)iters;
    return 0;
}

#endif
