/*
 * The memory-read ceiling for benchmarks: ct_read_bytes reads a buffer once,
 * as simply as possible, so a benchmark can compare a GEMV kernel's weight
 * bandwidth with a plain read of the very same bytes, in the same rounds.
 * It must be much faster than memory when the data is in cache, so on x86-64
 * it uses AVX2 where the CPU has it (the same dispatch test as the kernels).
 */
#include <string.h>

#include "core/ct_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2/ct_avx2.h"

CT_AVX2 static uint64_t read_avx2(const uint8_t *p, int64_t n, int64_t *done) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 128 <= n; i += 128) {
        const __m256i *v = (const __m256i *)(const void *)(p + i);
        a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(v));
        a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(v + 1));
        a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(v + 2));
        a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(v + 3));
    }
    const __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    const __m128i h = _mm_xor_si128(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    *done = i;
    return (uint64_t)_mm_cvtsi128_si64(h) ^ (uint64_t)_mm_extract_epi64(h, 1);
}
#endif

ct_status ct_read_bytes(const uint8_t *p, int64_t n, uint64_t *out) {
    if (!p || !out) return CT_E_NULL;
    if (n < 0) return CT_E_SHAPE;
    uint64_t r = 0;
    int64_t i = 0;
#if defined(__x86_64__)
    if (ct_cpu_avx2()) r = read_avx2(p, n, &i);
#endif
    uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* eight independent chains */
    for (; i + 64 <= n; i += 64) {
        uint64_t v[8];
        memcpy(v, p + i, sizeof v);
        for (int j = 0; j < 8; ++j) acc[j] ^= v[j];
    }
    for (int j = 0; j < 8; ++j) r ^= acc[j];
    for (; i < n; ++i) r ^= p[i];
    *out = r;
    return CT_OK;
}
