/*
 * Reference GEMV kernel (family GEMV, ISA "ref"): the same contract as the
 * GEMM reference (ct_t2_s8_gemm__ref.c), written the most direct way, one weight at
 * a time through the T2 address helpers, so the two references also check
 * each other.
 */
#include "core/ct_internal.h"

/* acc[b * acc_stride + j] = bias[j] + sum_{i<k} w[j][i] * x[b][i].
 * Bound: |x| <= 128, w in {-1,0,1}, k <= 2^20: |sum| <= 2^27, and with
 * |bias| <= 2^27 the int32 accumulator stays within 2^28. */
void ct_t2_s8_gemv__ref(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                        int32_t *acc, int32_t acc_stride) {
    const int32_t k = layer->n_in;
    for (int32_t b = 0; b < batch; ++b) {
        const int8_t *xb = x + (int64_t)b * x_stride;
        for (int32_t j = 0; j < layer->n_out; ++j) {
            int32_t s = layer->bias[j];
            for (int32_t i = 0; i < k; ++i) {
                const unsigned code =
                    ((unsigned)layer->w[ct_t2_byte_index(k, j, i)] >> ct_t2_bit_shift(i)) & 3u;
                s += ((int32_t)code - 1) * xb[i];
            }
            acc[(int64_t)b * acc_stride + j] = s;
        }
    }
}
