/*
 * CPU feature probes for dispatch: CPUID on x86-64 (through GCC's
 * __builtin_cpu_supports, which also checks that the OS saves the AVX
 * state), HWCAP on aarch64 Linux. The probes run once per process (pthread_once).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "core/ct_internal.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* Linux arch/arm64 uapi hwcap.h */
#endif
#endif

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int has_avx2, has_neon_dot;
static int has_avx512_vpopcnt; /* avx512f, avx512bw and avx512vpopcntdq */
static int has_avx512vnni, has_avx512vnni256, has_avxvnni;

static void probe(void) {
#if defined(__x86_64__)
    __builtin_cpu_init(); /* needed when called before libgcc's constructor */
    has_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
    has_avx512_vpopcnt = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                 __builtin_cpu_supports("avx512vpopcntdq")
                             ? 1
                             : 0;
    /* The VNNI kernels also use AVX2 (and, for 512 bits, AVX512BW shifts);
     * the 256-bit EVEX twin needs AVX512VL for its ymm encodings. */
    has_avx512vnni256 = has_avx2 && __builtin_cpu_supports("avx512f") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    has_avx512vnni = has_avx512vnni256 && __builtin_cpu_supports("avx512bw");
    has_avxvnni = has_avx2 && __builtin_cpu_supports("avxvnni");
#endif
#if defined(__aarch64__) && defined(__linux__)
    has_neon_dot = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) ? 1 : 0;
#endif
}

int ct_cpu_any(void) {
    return 1;
}

int ct_cpu_avx2(void) {
    pthread_once(&probe_once, probe);
    return has_avx2;
}

int ct_cpu_neon(void) {
#if defined(__aarch64__)
    return 1; /* Advanced SIMD is mandatory in AArch64 */
#else
    return 0;
#endif
}

int ct_cpu_neon_dot(void) {
    pthread_once(&probe_once, probe);
    return has_neon_dot;
}

int ct_cpu_avx512_vpopcnt(void) {
    pthread_once(&probe_once, probe);
    return has_avx512_vpopcnt;
}

int ct_cpu_avx512vnni(void) {
    pthread_once(&probe_once, probe);
    return has_avx512vnni;
}

int ct_cpu_avx512vnni256(void) {
    pthread_once(&probe_once, probe);
    return has_avx512vnni256;
}

int ct_cpu_avxvnni(void) {
    pthread_once(&probe_once, probe);
    return has_avxvnni;
}
