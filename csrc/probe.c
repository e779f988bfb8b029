/* probe.c -- peak probes: the int8 multiply-add rate this CPU retires on one SIMD path.
 *
 * A benchmark judges a kernel by the fraction of the peak of the instructions it actually
 * runs, measured on the same machine in the same run (docs/performance.md).  Each probe runs
 * `iters` iterations of 16 independent vpdpbusd chains (enough to cover the instruction's
 * latency on current cores) on registers only -- no memory traffic -- and returns the number
 * of multiply-adds it performed (the caller times it), or 0 when the path is not usable here.
 * The 256-bit probe (EVEX ymm) tells whether a CPU that splits 512-bit operations (AMD Zen 4)
 * retires as many multiply-adds per second at half the width.  rq_probe_avx2 (the paths without
 * AVX-512): 10 chains of vpmaddwd + vpaddd, or of VEX vpdpbusd.  The AMX probe (4 independent
 * tdpbusd on tiles) is rq_probe_amx in gemm_amx.c, beside the tile instructions it uses.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "rq_simd.h"

#if RQ_X86_SIMD

/* Named accumulators, not an array: GCC kept an array of __m512i in memory-backed copies and
 * moved every chain through a second register each step (24 vmovdqa per 12 vpdpbusd), so this
 * probe read ~10 % below what the GEMM kernel itself retires (measured on the AMD EPYC VM: the
 * kernel's own loop at 1024^3 ran at ~1060 GOPS against a probe of 907-995).  16 chains: more
 * than latency x pipes on current cores.  Even named, GCC 11 copied each chain through a second
 * register every step (the inputs are loop constants); an empty asm that takes the accumulator
 * in a vector register ("+v") pins each chain to one register. */
#define RQ_PIN(v) __asm__("" : "+v"(v));
#define RQ_VCHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define RQ_VCH 16
#define RQ_V512_INIT(c) __m512i v##c = _mm512_set1_epi32(c);
#define RQ_V512_DP(c) v##c = _mm512_dpbusd_epi32(v##c, a, b); RQ_PIN(v##c)
#define RQ_V512_SUM(c) s = _mm512_add_epi32(s, v##c);
#define RQ_V256_INIT(c) __m256i v##c = _mm256_set1_epi32(c);
#define RQ_V256_DP(c) v##c = _mm256_dpbusd_epi32(v##c, a, b); RQ_PIN(v##c)
#define RQ_V256_SUM(c) s = _mm256_add_epi32(s, v##c);

RQ_VNNI static int64_t rq_probe_vnni512_run(int64_t iters)
{
    const __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
    __m512i s = _mm512_setzero_si512();
    int64_t i;
    volatile int32_t sink;
    RQ_VCHAINS(RQ_V512_INIT)
    for (i = 0; i < iters; i++) {
        RQ_VCHAINS(RQ_V512_DP)
    }
    RQ_VCHAINS(RQ_V512_SUM)
    sink = _mm512_reduce_add_epi32(s);
    (void)sink;
    return iters * RQ_VCH * 64;
}

RQ_VNNI static int64_t rq_probe_vnni256_run(int64_t iters)
{
    const __m256i a = _mm256_set1_epi32(0x01020304), b = _mm256_set1_epi32(0x05060708);
    __m256i s = _mm256_setzero_si256();
    int64_t i;
    int32_t out[8];
    volatile int32_t sink;
    RQ_VCHAINS(RQ_V256_INIT)
    for (i = 0; i < iters; i++) {
        RQ_VCHAINS(RQ_V256_DP)
    }
    RQ_VCHAINS(RQ_V256_SUM)
    _mm256_storeu_si256((__m256i *)out, s);
    sink = out[0] + out[7];
    (void)sink;
    return iters * RQ_VCH * 32;
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

/* The 256-bit probes keep their accumulators in named variables (GCC keeps an array of __m256i
 * in memory and reloads it every step) and feed each vpmaddwd its own chain's accumulator (a
 * product of the same two registers in every chain is computed once).  10 chains: 12 made GCC
 * spill (measured on the AMD EPYC VM: 103 -> 187 GOPS for vpmaddwd + vpaddd, 270 -> 380 for VEX
 * vpdpbusd, by thread CPU time), and 10 x (vpmaddwd + vpaddd) cover its latency. */
#define RQ_PCHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
#define RQ_PCH 10
#define RQ_P_INIT(c) __m256i p##c = _mm256_set1_epi32(c + 1);
#define RQ_P_SUM(c) s = _mm256_add_epi32(s, p##c);

/* The AVX2 path's exact step: vpmaddwd (two 16-bit products per int32 lane) + vpaddd. */
#define RQ_P_MADD(c) p##c = _mm256_add_epi32(p##c, _mm256_madd_epi16(p##c, b)); RQ_PIN(p##c)
RQ_AVX2 static int64_t rq_probe_avx2_run(int64_t iters)
{
    const __m256i b = _mm256_set1_epi32(0x00050007);
    __m256i s = _mm256_setzero_si256();
    int64_t i;
    int32_t out[8];
    volatile int32_t sink;
    RQ_PCHAINS(RQ_P_INIT)
    for (i = 0; i < iters; i++) {
        RQ_PCHAINS(RQ_P_MADD)
    }
    RQ_PCHAINS(RQ_P_SUM)
    _mm256_storeu_si256((__m256i *)out, s);
    sink = out[0] + out[7];
    (void)sink;
    return iters * RQ_PCH * 16;
}

#if RQ_AVXVNNI_CC
#define RQ_P_DP(c) p##c = _mm256_dpbusd_avx_epi32(p##c, a, b); RQ_PIN(p##c)
RQ_AVXVNNI static int64_t rq_probe_avxvnni_run(int64_t iters)
{
    const __m256i a = _mm256_set1_epi32(0x01020304), b = _mm256_set1_epi32(0x05060708);
    __m256i s = _mm256_setzero_si256();
    int64_t i;
    int32_t out[8];
    volatile int32_t sink;
    RQ_PCHAINS(RQ_P_INIT)
    for (i = 0; i < iters; i++) {
        RQ_PCHAINS(RQ_P_DP)
    }
    RQ_PCHAINS(RQ_P_SUM)
    _mm256_storeu_si256((__m256i *)out, s);
    sink = out[0] + out[7];
    (void)sink;
    return iters * RQ_PCH * 32;
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

/* ---- read bandwidth: what a kernel that streams B once (M <= 4) is bound by ---------------- */

#if RQ_X86_SIMD
/* Four sequential streams (the quarters of the buffer, as gemv_vnni.c reads four panels), 64
 * bytes each per step, summed with vpsadbw so that nothing can be skipped. */
RQ_AVX512 static uint64_t rq_probe_read512(const uint8_t *p, size_t q)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0, z = s0;
    size_t i;
    for (i = 0; i + 64 <= q; i += 64) {
        s0 = _mm512_add_epi64(s0, _mm512_sad_epu8(_mm512_loadu_si512(p + i), z));
        s1 = _mm512_add_epi64(s1, _mm512_sad_epu8(_mm512_loadu_si512(p + q + i), z));
        s2 = _mm512_add_epi64(s2, _mm512_sad_epu8(_mm512_loadu_si512(p + 2 * q + i), z));
        s3 = _mm512_add_epi64(s3, _mm512_sad_epu8(_mm512_loadu_si512(p + 3 * q + i), z));
    }
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
}
#endif

uint64_t rq_probe_read(const void *buf, size_t bytes)
{
    const uint8_t *p = (const uint8_t *)buf;
    size_t q = bytes / 256u * 64u, i;   /* four quarters of whole 64-byte lines */
    uint64_t s = 0;
    if (!p)
        return 0;
#if RQ_X86_SIMD
    if (rq_cpu_paths() & RQ_PATH_VNNI) {
        s = rq_probe_read512(p, q);
        i = 4 * q;
    } else
#endif
    {
        for (i = 0; i < 4 * q; i++)
            s += p[i];
    }
    for (; i < bytes; i++)
        s += p[i];
    return s;
}
