/*
 * AVX2 T2 pack / unpack kernels (families T2_PACK, T2_UNPACK). A block of
 * 128 weights is four runs of 32 int8 values; run r goes to bits 2r..2r+1 of
 * the block's 32 bytes (docs/format.md, T2). The partial last block of a row
 * goes through a 128-byte staging buffer.
 */
#include <string.h>

#include "core/ct_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2/ct_avx2.h"

/* Whether all rows*k weights lie in {-1,0,1}: (w + 1) as unsigned <= 2. */
CT_AVX2 static int all_ternary(const int8_t *w, int64_t n) {
    const __m256i one = _mm256_set1_epi8(1), two = _mm256_set1_epi8(2);
    __m256i bad = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i u =
            _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(w + i)), one);
        bad = _mm256_or_si256(bad, _mm256_xor_si256(_mm256_max_epu8(u, two), two));
    }
    if (!_mm256_testz_si256(bad, bad)) return 0;
    for (; i < n; ++i) {
        if (w[i] < -1 || w[i] > 1) return 0;
    }
    return 1;
}

/* Packs 128 weights (codes u = w + 1) into 32 bytes. */
CT_AVX2 static inline void pack_block(const int8_t *w, uint8_t *out) {
    const __m256i one = _mm256_set1_epi8(1);
    __m256i acc = _mm256_setzero_si256();
    for (int r = 3; r >= 0; --r) {
        const __m256i u =
            _mm256_add_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(w + 32 * r)), one);
        /* acc = acc << 2 | u, per byte: a 16-bit shift is safe because acc
         * holds at most 6 bits per byte before the shift, so nothing crosses
         * into the neighbouring byte. */
        acc = _mm256_or_si256(_mm256_slli_epi16(acc, 2), u);
    }
    _mm256_storeu_si256((__m256i *)(void *)out, acc);
}

CT_AVX2 ct_status ct_t2_s8_pack__avx2(const int8_t *w, int32_t rows, int32_t k, uint8_t *out) {
    if (!all_ternary(w, (int64_t)rows * k)) return CT_E_RANGE;
    ct_t2_pack_rows(w, rows, k, out, pack_block);
    return CT_OK;
}

/* Unpacks one block into 128 weights; returns nonzero if a code 3 is seen. */
CT_AVX2 static inline int unpack_block(const uint8_t *p, int8_t *w) {
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i bad = _mm256_setzero_si256();
    for (int r = 0; r < 4; ++r) {
        const __m256i u = _mm256_and_si256(_mm256_srli_epi16(v, 2 * r), m3);
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi8(u, m3));
        _mm256_storeu_si256((__m256i *)(void *)(w + 32 * r), _mm256_sub_epi8(u, one));
    }
    return !_mm256_testz_si256(bad, bad);
}

CT_AVX2 ct_status ct_t2_s8_unpack__avx2(const uint8_t *packed, int32_t rows, int32_t k, int8_t *w) {
    const int32_t full = k / CT_BLOCK, tail = k % CT_BLOCK;
    const int64_t rb = ct_t2_row_bytes(k);
    for (int32_t r = 0; r < rows; ++r) {
        const uint8_t *p = packed + r * rb;
        int8_t *wr = w + (int64_t)r * k;
        for (int32_t blk = 0; blk < full; ++blk) {
            if (unpack_block(p + blk * 32, wr + blk * CT_BLOCK)) return CT_E_CODE;
        }
        if (tail) {
            int8_t stage[CT_BLOCK];
            /* Only codes of real weights count: padding codes are not read
             * by the reference either. */
            (void)unpack_block(p + full * 32, stage);
            for (int32_t i = 0; i < tail; ++i) {
                if (stage[i] == 2) return CT_E_CODE;
            }
            memcpy(wr + full * CT_BLOCK, stage, (size_t)tail);
        }
    }
    return CT_OK;
}

#endif /* __x86_64__ */
