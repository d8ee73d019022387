/*
 * AVX2 twin of the TRAIN_AXPY kernel (ct_s8_s32_axpy__avx2), bit-exact to
 * ct_s8_s32_axpy__ref, 8 samples per step, the tail in scalar code.
 * Arithmetic bound: |acc| < 2^28 by the contract and |d * x| <= 2 * 128 for
 * weights (or the caller's bias step), so int32 lanes never overflow.
 */
#include "train/ct_train_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2/ct_avx2.h"

CT_AVX2 static inline __m256i load8_s8(const int8_t *p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}

CT_AVX2 void ct_s8_s32_axpy__avx2(int32_t *acc, const int8_t *x, int32_t d, int32_t n) {
    const __m256i dv = _mm256_set1_epi32(d);
    int32_t b = 0;
    for (; b + 8 <= n; b += 8) {
        __m256i *a = (__m256i *)(void *)(acc + b);
        const __m256i prod = _mm256_mullo_epi32(load8_s8(x + b), dv);
        _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), prod));
    }
    for (; b < n; ++b) acc[b] += d * (int32_t)x[b];
}

#endif /* __x86_64__ */
