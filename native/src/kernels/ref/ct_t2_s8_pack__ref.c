/*
 * Reference T2 pack / unpack kernels (families T2_PACK, T2_UNPACK): the
 * specification of the layout, one weight at a time through the address
 * helpers of ct_internal.h. The SIMD twins must give the same bytes and the
 * same status.
 */
#include "core/ct_internal.h"

ct_status ct_t2_s8_pack__ref(const int8_t *w, int32_t rows, int32_t k, uint8_t *out) {
    /* Check everything first so that `out` is untouched on CT_E_RANGE. */
    for (int64_t i = 0; i < (int64_t)rows * k; ++i) {
        if (w[i] < -1 || w[i] > 1) return CT_E_RANGE;
    }
    const int64_t need = ct_t2_packed_bytes(rows, k);
    for (int64_t i = 0; i < need; ++i) out[i] = 0; /* padding codes are 0 */
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *wr = w + (int64_t)r * k;
        for (int32_t c = 0; c < k; ++c) {
            const unsigned code = (unsigned)(wr[c] + 1); /* -1 -> 0, 0 -> 1, +1 -> 2 */
            out[ct_t2_byte_index(k, r, c)] |= (uint8_t)(code << ct_t2_bit_shift(c));
        }
    }
    return CT_OK;
}

ct_status ct_t2_s8_unpack__ref(const uint8_t *packed, int32_t rows, int32_t k, int8_t *w) {
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t c = 0; c < k; ++c) {
            const unsigned code =
                ((unsigned)packed[ct_t2_byte_index(k, r, c)] >> ct_t2_bit_shift(c)) & 3u;
            if (code == 3u) return CT_E_CODE;
            w[(int64_t)r * k + c] = (int8_t)((int)code - 1);
        }
    }
    return CT_OK;
}
