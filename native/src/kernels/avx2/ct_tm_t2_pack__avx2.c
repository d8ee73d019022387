/*
 * T2 weights -> popcount masks, AVX2. One 32-byte T2 block holds four runs of
 * 32 consecutive weights (run r in bits 2r, 2r + 1 of each byte), so for each
 * run, two 16-bit shifts put the code's bits in the bytes' top bits and two
 * movemasks give 32 bits of each: P = hi & ~lo (code 2), N = ~hi & ~lo
 * (code 0), hi & lo a code 3. A block's 128 weights fill 2 words of P and 2 of
 * N of one 256-weight chunk. The padding of the last block is cut off with
 * a mask of the real weights, so codes there are ignored as in the reference.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include <string.h>

#include "kernels/avx2/ct_avx2.h"

CT_AVX2 ct_status ct_tm_t2_pack__avx2(const uint8_t *t2, int32_t rows, int32_t k, uint64_t *masks) {
    const int64_t row_words = 2 * (int64_t)CT_PC_CHUNK_WORDS * ct_pc_chunks(k);
    const int32_t blocks = ct_t2_padded_k(k) / CT_BLOCK;
    memset(masks, 0, sizeof(uint64_t) * (size_t)(row_words * rows));
    for (int32_t r = 0; r < rows; ++r) {
        const uint8_t *src = t2 + r * ct_t2_row_bytes(k);
        uint64_t *row = masks + r * row_words;
        for (int32_t b = 0; b < blocks; ++b) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(src + 32 * b));
            /* words of this block: chunk b / 2, its half b % 2 */
            uint64_t *pos = row + (int64_t)(b / 2) * 2 * CT_PC_CHUNK_WORDS + (b % 2) * 2;
            uint64_t *neg = pos + CT_PC_CHUNK_WORDS;
            for (int32_t run = 0; run < 4; ++run) {
                const int32_t first = b * CT_BLOCK + 32 * run; /* weight of bit 0 */
                if (first >= k) break;
                const uint32_t real = k - first >= 32 ? 0xFFFFFFFFu : (1u << (k - first)) - 1u;
                const uint32_t lo = (uint32_t)_mm256_movemask_epi8(
                    _mm256_sll_epi16(v, _mm_cvtsi32_si128(7 - 2 * run)));
                const uint32_t hi = (uint32_t)_mm256_movemask_epi8(
                    _mm256_sll_epi16(v, _mm_cvtsi32_si128(6 - 2 * run)));
                if (hi & lo & real) return CT_E_CODE;
                const uint64_t p = hi & ~lo & real, n = ~hi & ~lo & real;
                pos[run / 2] |= p << (32 * (run % 2));
                neg[run / 2] |= n << (32 * (run % 2));
            }
        }
    }
    return CT_OK;
}
#endif /* __x86_64__ */
