/*
 * int8 activations -> bit planes, the reference: bit b of value i goes to
 * bit i % 64 of word i / 64 of plane b (docs/kernels.md, "Popcount kernels").
 */
#include <string.h>

#include "core/ct_internal.h"

void ct_bp_s8_pack__ref(const int8_t *x, int32_t k, int32_t bits, uint64_t *planes) {
    const int64_t plane_words = (int64_t)ct_pc_chunks(k) * CT_PC_CHUNK_WORDS;
    memset(planes, 0, sizeof(uint64_t) * (size_t)(plane_words * bits));
    for (int32_t b = 0; b < bits; ++b) {
        uint64_t *plane = planes + b * plane_words;
        for (int32_t i = 0; i < k; ++i) {
            const uint64_t bit = ((uint64_t)(uint8_t)x[i] >> b) & 1u;
            plane[i / 64] |= bit << (i % 64);
        }
    }
}
