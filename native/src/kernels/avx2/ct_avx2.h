/*
 * Helpers shared by the AVX2 kernels (x86-64 only; every function carries
 * the avx2 target attribute so the rest of the build stays portable).
 */
#ifndef CT_AVX2_H
#define CT_AVX2_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#define CT_AVX2 __attribute__((target("avx2")))

/* int16 accumulators are widened to int32 every CT_FLUSH_BLOCKS blocks.
 * Bound: a maddubs lane is u0*x0 + u1*x1 with u <= 3 (any 2-bit code) and
 * |x| <= 128, so |lane| <= 768; one block adds 4 lanes (the 4 runs):
 * <= 3072; 8 blocks: <= 24576 < 32767, so the int16 sums are exact for any
 * code byte and any int8 activation. (Valid codes u <= 2 would allow 16.) */
enum { CT_FLUSH_BLOCKS = 8 };

/* Sum of the 8 int32 lanes. */
CT_AVX2 static inline int32_t ct_avx2_hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* The lane sums of 4 vectors, as [sum(v0), sum(v1), sum(v2), sum(v3)]. */
CT_AVX2 static inline __m128i ct_avx2_hsum4(const __m256i v[4]) {
    const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]);
    const __m256i t1 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i t = _mm256_hadd_epi32(t0, t1); /* per 128-bit half: v0..v3 */
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/* Sum of blocks * 128 int8 values (|sum| <= 2^27 for k <= 2^20). */
CT_AVX2 static inline int32_t ct_avx2_sum_s8(const int8_t *x, int32_t blocks) {
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256i s = _mm256_setzero_si256();
    for (int64_t i = 0; i < (int64_t)blocks * 128; i += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(x + i));
        /* pairs of int8: |.| <= 256, then pairs of those into int32 */
        s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
    }
    return ct_avx2_hsum(s);
}

#endif /* __x86_64__ */
#endif /* CT_AVX2_H */
