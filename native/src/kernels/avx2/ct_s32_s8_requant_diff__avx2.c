/*
 * AVX2 twin of the TRAIN_REQUANT_DIFF kernel (ct_s32_s8_requant_diff__avx2).
 * Bit-exact to ct_s32_s8_requant_diff__ref, including the order of the
 * (index, change) pairs, 8 samples per step, the tail in scalar code.
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

CT_AVX2 int32_t ct_s32_s8_requant_diff__avx2(const int32_t *acc, const int8_t *x, int32_t d,
                                             int32_t n, int32_t shift, int32_t act_max,
                                             const int8_t *act, int32_t *idx, int32_t *da) {
    /* ct_rq(a, shift, act_max) = clamp((a + round) >> shift, 0, act_max),
     * negatives -> 0 before the shift; the vector form clamps at 0 first,
     * then shifts. */
    const __m256i dv = _mm256_set1_epi32(d);
    const __m256i round = _mm256_set1_epi32(shift > 0 ? 1 << (shift - 1) : 0);
    const __m128i count = _mm_cvtsi32_si128(shift);
    const __m256i zero = _mm256_setzero_si256(), top = _mm256_set1_epi32(act_max);
    int32_t m = 0, b = 0;
    for (; b + 8 <= n; b += 8) {
        const __m256i xv = load8_s8(x + b);
        const __m256i a =
            _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(acc + b)),
                             _mm256_mullo_epi32(xv, dv));
        __m256i v = _mm256_max_epi32(_mm256_add_epi32(a, round), zero);
        v = _mm256_min_epi32(_mm256_sra_epi32(v, count), top);
        const __m256i diff = _mm256_sub_epi32(v, load8_s8(act + b));
        /* lanes with x != 0 and a changed activation */
        const __m256i keep = _mm256_andnot_si256(
            _mm256_cmpeq_epi32(xv, zero),
            _mm256_xor_si256(_mm256_cmpeq_epi32(diff, zero), _mm256_set1_epi32(-1)));
        unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(keep));
        if (bits == 0u) continue;
        int32_t dd[8];
        _mm256_storeu_si256((__m256i *)(void *)dd, diff);
        while (bits) {
            const int lane = __builtin_ctz(bits);
            idx[m] = b + lane;
            da[m] = dd[lane];
            ++m;
            bits &= bits - 1u;
        }
    }
    return ct_requant_diff_from(acc, x, d, b, n, shift, act_max, act, idx, da, m);
}

#endif /* __x86_64__ */
