/*
 * T2 weights -> popcount masks, the reference: weight by weight through the
 * T2 address helpers (docs/kernels.md, "Popcount kernels").
 */
#include <string.h>

#include "core/ct_internal.h"

ct_status ct_tm_t2_pack__ref(const uint8_t *t2, int32_t rows, int32_t k, uint64_t *masks) {
    const int64_t row_words = 2 * (int64_t)CT_PC_CHUNK_WORDS * ct_pc_chunks(k);
    memset(masks, 0, sizeof(uint64_t) * (size_t)(row_words * rows));
    for (int32_t r = 0; r < rows; ++r) {
        uint64_t *row = masks + r * row_words;
        for (int32_t i = 0; i < k; ++i) {
            const unsigned code =
                (unsigned)(t2[ct_t2_byte_index(k, r, i)] >> ct_t2_bit_shift(i)) & 3u;
            if (code == 3) return CT_E_CODE;
            if (code == 1) continue; /* w = 0: in neither mask */
            /* chunk i / CT_PC_CHUNK_BITS: P words first, then N words */
            const int64_t word = (int64_t)(i / CT_PC_CHUNK_BITS) * 2 * CT_PC_CHUNK_WORDS +
                                 (i % CT_PC_CHUNK_BITS) / 64 + (code == 0 ? CT_PC_CHUNK_WORDS : 0);
            row[word] |= (uint64_t)1 << (i % 64);
        }
    }
    return CT_OK;
}
