/*
 * Dense sums from ternary masks and bit planes, AVX-512 with VPOPCNTDQ. A
 * 256-weight chunk's two masks (P then N) are one 512-bit load; the chunk of
 * the plane is broadcast to both halves, so one AND and one vpopcntq give
 * popcount(P & X) in lanes 0-3 and popcount(N & X) in lanes 4-7, added into
 * int64 lanes that cannot overflow (no flushes); the halves are subtracted
 * once per row. BITALG's byte count (vpopcntb) would need int8 accumulators
 * and widening, more work than vpopcntq here, so it is not used. Planes go in
 * the outer loop, samples 4 at a time over each row (each mask load serves 4
 * samples), the rest one at a time, as in the AVX2 kernel.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include "kernels/avx512/ct_avx512_pc.h"

#define CT_PC_512 CT_AVX512_PC __attribute__((always_inline)) static inline

/* The sums of one mask row for ns samples (1 or 4: a constant after
 * inlining, so the accumulators are registers). */
CT_PC_512 void pc_row(const uint64_t *row, int32_t chunks, const uint64_t *x, int64_t sample_words,
                      int32_t bits, const int ns, int64_t *sum) {
    const int64_t plane_words = (int64_t)chunks * CT_PC_CHUNK_WORDS;
    /* Each plane's int64 lanes are shifted by the plane's weight and added
     * into `total`, so a row ends in one horizontal sum per sample (a sum per
     * plane cost as much as the popcounts of a 1024-weight row). Lanes stay
     * below 2^20 * 15. */
    __m512i total[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                        _mm512_setzero_si512()};
    for (int32_t p = 0; p < bits; ++p) {
        __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                          _mm512_setzero_si512()};
        for (int32_t c = 0; c < chunks; ++c) {
            const __m512i masks = _mm512_loadu_si512(row + 2 * c * CT_PC_CHUNK_WORDS);
            for (int s = 0; s < ns; ++s) {
                const __m256i xc = _mm256_loadu_si256(
                    (const __m256i *)(const void *)(x + s * sample_words + p * plane_words +
                                                    c * CT_PC_CHUNK_WORDS));
                const __m512i xv = _mm512_broadcast_i64x4(xc);
                acc[s] = _mm512_add_epi64(acc[s], _mm512_popcnt_epi64(_mm512_and_si512(masks, xv)));
            }
        }
        const __m128i count = _mm_cvtsi32_si128(p); /* times 2^p */
        for (int s = 0; s < ns; ++s) {
            total[s] = _mm512_add_epi64(total[s], _mm512_sll_epi64(acc[s], count));
        }
    }
    for (int s = 0; s < ns; ++s) {
        const __m256i d = _mm256_sub_epi64(_mm512_castsi512_si256(total[s]),
                                           _mm512_extracti64x4_epi64(total[s], 1));
        const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
        sum[s] = _mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1);
    }
}

CT_PC_MM_LOOPS(CT_AVX512_PC, ct_tm_bp_mm__avx512vpopcnt)
#endif /* __x86_64__ */
