/*
 * aarch64 NEON GEMV kernel without dotprod (family GEMV): ct_t2_s8_gemv__neon.
 * Weights are decoded to int8 w = u - 1 (ct_neon.h) and multiplied with
 * vmull/vmlal into int16, widened with vpadal; the sum needs no sum(x)
 * correction. Runs on every AArch64 CPU (Cortex-A53 too).
 */
#include "ct_internal.h"

#if defined(__aarch64__)
#include "ct_neon.h"

void ct_t2_s8_gemv__neon(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                         int32_t batch, int32_t *acc, int32_t acc_stride) {
    const int32_t blocks = ct_t2_padded_k(layer->n_in) / CT_BLOCK;
    const int64_t rb = ct_t2_row_bytes(layer->n_in);
    for (int32_t b = 0; b < batch; ++b) {
        const int8_t *xb = x + (int64_t)b * x_stride;
        for (int32_t j = 0; j < layer->n_out; ++j) {
            const uint8_t *w = layer->w + j * rb;
            int32x4_t a = vdupq_n_s32(0);
            for (int32_t blk = 0; blk < blocks; ++blk) {
                int8x16_t wd[8];
                ct_neon_decode(w + (int64_t)blk * CT_BLOCK_BYTES, wd);
                a = ct_neon_block_dot(a, wd, xb + (int64_t)blk * CT_BLOCK);
            }
            acc[(int64_t)b * acc_stride + j] = layer->bias[j] + vaddvq_s32(a);
        }
    }
}

#endif /* __aarch64__ */
