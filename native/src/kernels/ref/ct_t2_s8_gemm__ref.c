/*
 * Reference dense kernel (family GEMM, ISA "ref"): the specification
 * that every SIMD variant must equal bit for bit. Portable C, no intrinsics.
 */
#include "core/ct_internal.h"

/* acc[b * acc_stride + j] = bias[j] + sum_{i<k} w[j][i] * x[b][i].
 * Bound: |x| <= 127, w in {-1,0,1}, k <= 2^20, so |sum| <= 127 * 2^20 < 2^27
 * and with |bias| <= 2^27 the int32 accumulator stays below 2^28. */
void ct_t2_s8_gemm__ref(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                        int32_t *acc, int32_t acc_stride) {
    const int32_t k = layer->n_in;
    const int32_t n = layer->n_out;
    const int32_t blocks = ct_t2_padded_k(k) / CT_BLOCK;
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t j = 0; j < n; ++j) acc[(int64_t)b * acc_stride + j] = layer->bias[j];
    }
    for (int32_t j = 0; j < n; ++j) {
        for (int32_t blk = 0; blk < blocks; ++blk) {
            /* Decode one block once and use it for the whole batch. */
            const uint8_t *p = layer->w + ct_t2_byte_index(k, j, blk * CT_BLOCK);
            int8_t wd[CT_BLOCK];
            for (int32_t i = 0; i < CT_BLOCK; ++i) {
                wd[i] = (int8_t)((int)(((unsigned)p[i % 32] >> (2 * (i / 32))) & 3u) - 1);
            }
            const int32_t base = blk * CT_BLOCK;
            const int32_t len = k - base < CT_BLOCK ? k - base : CT_BLOCK;
            for (int32_t b = 0; b < batch; ++b) {
                const int8_t *xb = x + (int64_t)b * x_stride + base;
                int32_t s = 0; /* |s| <= 127 * 128 */
                for (int32_t i = 0; i < len; ++i) s += wd[i] * xb[i];
                acc[(int64_t)b * acc_stride + j] += s;
            }
        }
    }
}
