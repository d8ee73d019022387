/*
 * Dense sums from ternary masks and bit planes, AVX2 (no popcount
 * instruction): the population count of each byte is two look-ups of a
 * 16-entry table of nibble counts (pshufb), one per nibble. For each plane
 * the byte counts of P & X are added and those of N & X subtracted in int8
 * lanes, which are widened with sad_epu8 every CT_PC_AVX2_FLUSH chunks.
 *
 * Planes go in the outer loop (the row's masks, at most 256 KiB, are read
 * again per plane from cache), so one int8 and one int64 accumulator per
 * sample suffice; samples go 4 at a time over each row (the GEMM case: every
 * mask load serves 4 samples), the rest one at a time.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include "kernels/avx2/ct_avx2.h"

/* Bound of the int8 lanes: a chunk (one vector per mask) adds
 * popcount(P & X) - popcount(N & X) of one byte, in -8 .. 8, so 15 chunks
 * move a lane by at most 120 <= 127. */
enum { CT_PC_AVX2_FLUSH = 15 };

#define CT_PC_AVX2 CT_AVX2 __attribute__((always_inline)) static inline

/* acc += popcount(p & x) - popcount(n & x), per byte. */
CT_PC_AVX2 __m256i pc_step(__m256i acc, __m256i p, __m256i n, __m256i x, __m256i table,
                           __m256i low4) {
    const __m256i a = _mm256_and_si256(p, x), b = _mm256_and_si256(n, x);
    acc = _mm256_add_epi8(acc, _mm256_shuffle_epi8(table, _mm256_and_si256(a, low4)));
    acc = _mm256_add_epi8(
        acc, _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(a, 4), low4)));
    acc = _mm256_sub_epi8(acc, _mm256_shuffle_epi8(table, _mm256_and_si256(b, low4)));
    return _mm256_sub_epi8(
        acc, _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(b, 4), low4)));
}

/* The signed sum of the 32 int8 lanes as 4 int64 lanes plus 32 * 128: sad
 * against zero adds unsigned bytes, so the lanes are offset by 128 first. */
CT_PC_AVX2 __m256i pc_widen(__m256i acc8) {
    return _mm256_sad_epu8(_mm256_xor_si256(acc8, _mm256_set1_epi8((char)0x80)),
                           _mm256_setzero_si256());
}

CT_PC_AVX2 int64_t pc_hsum64(__m256i v) {
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}

/* The sums of one mask row for ns samples (ns is 1 or 4, a constant after
 * inlining, so the per-sample accumulators are registers). */
CT_PC_AVX2 void pc_row(const uint64_t *row, int32_t chunks, const uint64_t *x, int64_t sample_words,
                       int32_t bits, const int ns, int64_t *sum) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                           2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const int64_t plane_words = (int64_t)chunks * CT_PC_CHUNK_WORDS;
    /* Each plane's widened sums are shifted by the plane's weight into
     * `total`, so a row ends in one horizontal sum per sample. The widening
     * adds 32 * 128 per flush and lane group; every plane flushes
     * ceil(chunks / CT_PC_AVX2_FLUSH) times, weighted 2^p: subtracted once. */
    __m256i total[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                        _mm256_setzero_si256()};
    for (int32_t p = 0; p < bits; ++p) {
        __m256i wide[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int32_t c0 = 0; c0 < chunks; c0 += CT_PC_AVX2_FLUSH) {
            const int32_t c1 = chunks - c0 < CT_PC_AVX2_FLUSH ? chunks : c0 + CT_PC_AVX2_FLUSH;
            __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(),
                              _mm256_setzero_si256(), _mm256_setzero_si256()};
            for (int32_t c = c0; c < c1; ++c) {
                const __m256i *m = (const __m256i *)(const void *)(row + 2 * c * CT_PC_CHUNK_WORDS);
                const __m256i pos = _mm256_loadu_si256(m), neg = _mm256_loadu_si256(m + 1);
                for (int s = 0; s < ns; ++s) {
                    const __m256i *xv =
                        (const __m256i *)(const void *)(x + s * sample_words + p * plane_words +
                                                        c * CT_PC_CHUNK_WORDS);
                    acc[s] = pc_step(acc[s], pos, neg, _mm256_loadu_si256(xv), table, low4);
                }
            }
            for (int s = 0; s < ns; ++s) wide[s] = _mm256_add_epi64(wide[s], pc_widen(acc[s]));
        }
        const __m128i count = _mm_cvtsi32_si128(p);
        for (int s = 0; s < ns; ++s) {
            total[s] = _mm256_add_epi64(total[s], _mm256_sll_epi64(wide[s], count));
        }
    }
    const int64_t flushes = (chunks + CT_PC_AVX2_FLUSH - 1) / CT_PC_AVX2_FLUSH;
    const int64_t offset = flushes * 32 * 128 * (((int64_t)1 << bits) - 1);
    for (int s = 0; s < ns; ++s) sum[s] = pc_hsum64(total[s]) - offset;
}

CT_PC_MM_LOOPS(CT_AVX2, ct_tm_bp_mm__avx2)
#endif /* __x86_64__ */
