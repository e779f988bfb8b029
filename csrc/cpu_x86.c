/* cpu_x86.c -- the paths this CPU and OS allow (rq_cpu_paths), asked once.
 *
 * VNNI needs AVX-512 F/BW/DQ/VL + VNNI and the OS saving ZMM state; AMX
 * additionally needs AMX-TILE/INT8, the OS saving tile state and, on Linux,
 * the process's permission to use tile data.  AVX2 needs AVX + AVX2 and the OS saving YMM
 * state; AVX-VNNI (VEX vpdpbusd) additionally CPUID.(7,1):EAX[4] and a compiler that knows it.
 * Not x86-64 GCC/Clang: scalar only.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include "rq_internal.h"   /* includes refquant_kernel.h once */

#if RQ_X86_SIMD
#include <cpuid.h>
#include <unistd.h>
#include <sys/syscall.h>

static uint64_t rq_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Linux keeps AMX tile data disabled until a process asks for it. */
static int rq_amx_permission(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl)
    unsigned long mask = 0;
    const long ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XTILEDATA = 18;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XTILEDATA) != 0)
        return 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) != 0)
        return 0;
    return (mask >> XTILEDATA) & 1u;
#else
    return 0;
#endif
}

static int rq_detect(void)
{
    unsigned a, b, c, d;
    int paths = RQ_PATH_SCALAR, avx512, os512, osamx, avx, avx2;
    uint64_t xcr0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u))   /* OSXSAVE */
        return paths;
    avx = (c >> 28) & 1u;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return paths;
    xcr0 = rq_xgetbv0();
    avx2 = avx && ((b >> 5) & 1u);
    avx512 = ((b >> 16) & 1u) && ((b >> 17) & 1u) && ((b >> 30) & 1u) && ((b >> 31) & 1u);
    os512 = (xcr0 & 0xe6u) == 0xe6u;                 /* SSE, AVX, opmask, ZMM state */
    osamx = ((xcr0 >> 17) & 3u) == 3u;               /* XTILECFG, XTILEDATA */
    if (avx512 && os512 && ((c >> 11) & 1u))
        paths |= RQ_PATH_VNNI;
    if (avx512 && os512 && osamx && ((d >> 24) & 1u) && ((d >> 25) & 1u) && rq_amx_permission())
        paths |= RQ_PATH_AMX;
#ifdef RQ_AMX_EMULATE   /* a test build: tile instructions in plain C (gemm_amx.c) */
    if (paths & RQ_PATH_VNNI)
        paths |= RQ_PATH_AMX;
#endif
    if (avx2 && (xcr0 & 6u) == 6u) {                 /* SSE and YMM state */
        paths |= RQ_PATH_AVX2;
        if (RQ_AVXVNNI_CC && __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 4) & 1u))
            paths |= RQ_PATH_AVXVNNI;                /* CPUID.(7,1):EAX[4] AVX-VNNI */
    }
    return paths;
}

int rq_cpu_paths(void)
{
    static int cached = 0;
    int v = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (!v) {
        v = rq_detect();
        __atomic_store_n(&cached, v, __ATOMIC_RELEASE);
    }
    return v;
}

#else /* not x86-64 GCC/Clang: scalar only */

int rq_cpu_paths(void) { return RQ_PATH_SCALAR; }

#endif
