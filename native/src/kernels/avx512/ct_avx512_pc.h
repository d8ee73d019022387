/*
 * Helpers of the AVX-512 popcount kernels (x86-64 only). Every function
 * carries its target attribute, so the rest of the build stays portable.
 */
#ifndef CT_AVX512_PC_H
#define CT_AVX512_PC_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

/* AVX-512 F and BW with the 64-bit population count (VPOPCNTDQ): the ISA
 * of ct_cpu_avx512_vpopcnt. */
#define CT_AVX512_PC __attribute__((target("avx512f,avx512bw,avx512vpopcntdq")))

#endif
#endif /* CT_AVX512_PC_H */
