/*
 * aarch64 NEON dotprod GEMV kernel (family GEMV): ct_t2_s8_gemv__neondot,
 * for CPUs with the ARMv8.2 dot product (HWCAP_ASIMDDP; not Cortex-A53).
 * vdotq_s32 adds four int8 products straight into each int32 lane, so there
 * is no int16 stage and no bound to watch beyond the contract's
 * |sum| < 2^28. A per-function target attribute keeps the build armv8-a.
 */
#include "ct_internal.h"

#if defined(__aarch64__)
#include "ct_neon.h"

CT_NEON_DOT void ct_t2_s8_gemv__neondot(const ct_layer *layer, const int8_t *x,
                                        int32_t x_stride, int32_t batch, int32_t *acc,
                                        int32_t acc_stride) {
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
                a = ct_neon_block_dot4(a, wd, xb + (int64_t)blk * CT_BLOCK);
            }
            acc[(int64_t)b * acc_stride + j] = layer->bias[j] + vaddvq_s32(a);
        }
    }
}

#endif /* __aarch64__ */
