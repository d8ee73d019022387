/*
 * Dense sums from ternary masks and activation bit planes, the reference
 * (the specification of the TM_BP_MM family): for each sample and row,
 * sum over planes p of 2^p * (popcount(P & X_p) - popcount(N & X_p)).
 * The popcount is written out (no builtin) so the reference depends on no
 * instruction the SIMD kernels use.
 */
#include "core/ct_internal.h"

static int32_t popcount64(uint64_t v) {
    int32_t n = 0;
    for (; v; v &= v - 1) ++n; /* clears the lowest set bit */
    return n;
}

void ct_tm_bp_mm__ref(const uint64_t *w, const int32_t *bias, int32_t n_out, int32_t chunks,
                      const uint64_t *x, int32_t bits, int32_t batch, int32_t *acc,
                      int32_t acc_stride) {
    const int64_t plane_words = (int64_t)chunks * CT_PC_CHUNK_WORDS;
    const int64_t row_words = 2 * plane_words;
    for (int32_t b = 0; b < batch; ++b) {
        const uint64_t *xs = x + b * bits * plane_words;
        for (int32_t j = 0; j < n_out; ++j) {
            const uint64_t *row = w + j * row_words;
            int64_t sum = 0;
            for (int32_t p = 0; p < bits; ++p) {
                const uint64_t *plane = xs + p * plane_words;
                int64_t d = 0;
                for (int32_t c = 0; c < chunks; ++c) {
                    const uint64_t *pos = row + 2 * c * CT_PC_CHUNK_WORDS;
                    const uint64_t *neg = pos + CT_PC_CHUNK_WORDS;
                    const uint64_t *xc = plane + c * CT_PC_CHUNK_WORDS;
                    for (int32_t i = 0; i < CT_PC_CHUNK_WORDS; ++i) {
                        d += popcount64(pos[i] & xc[i]) - popcount64(neg[i] & xc[i]);
                    }
                }
                sum += d * ((int64_t)1 << p);
            }
            /* |sum| <= 15 * 2^20 and |bias| <= 2^27: the int32 of the contract */
            acc[(int64_t)b * acc_stride + j] = (int32_t)(bias[j] + sum);
        }
    }
}
