/*
 * CPU feature probes for dispatch: CPUID on x86-64 (through GCC's
 * __builtin_cpu_supports, which also checks that the OS saves the AVX
 * state), HWCAP on aarch64 Linux. Each probe runs once per process.
 */
#include "core/ct_internal.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* Linux arch/arm64 uapi hwcap.h */
#endif
#endif

int ct_cpu_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init(); /* needed when called before libgcc's constructor */
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

int ct_cpu_neon(void) {
#if defined(__aarch64__)
    return 1; /* Advanced SIMD is mandatory in AArch64 */
#else
    return 0;
#endif
}

int ct_cpu_neon_dot(void) {
#if defined(__aarch64__) && defined(__linux__)
    static int cached = -1;
    if (cached < 0) cached = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) ? 1 : 0;
    return cached;
#else
    return 0;
#endif
}
