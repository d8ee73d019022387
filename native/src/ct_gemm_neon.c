/*
 * aarch64 NEON GEMM kernel without dotprod (family GEMM): ct_t2_s8_gemm__neon.
 * The arithmetic of ct_gemv_neon.c, but each block is decoded once for COLS
 * columns; leftover columns go through the GEMV kernel.
 */
#include "ct_internal.h"

#if defined(__aarch64__)
#include "ct_neon.h"

enum { COLS = 4 };

void ct_t2_s8_gemm__neon(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                         int32_t batch, int32_t *acc, int32_t acc_stride) {
    const int32_t blocks = ct_t2_padded_k(layer->n_in) / CT_BLOCK;
    const int64_t rb = ct_t2_row_bytes(layer->n_in);
    int32_t b = 0;
    for (; b + COLS <= batch; b += COLS) {
        const int8_t *xb = x + (int64_t)b * x_stride;
        for (int32_t j = 0; j < layer->n_out; ++j) {
            const uint8_t *w = layer->w + j * rb;
            int32x4_t a[COLS];
            for (int c = 0; c < COLS; ++c) a[c] = vdupq_n_s32(0);
            for (int32_t blk = 0; blk < blocks; ++blk) {
                int8x16_t wd[8];
                ct_neon_decode(w + (int64_t)blk * CT_BLOCK_BYTES, wd);
                for (int c = 0; c < COLS; ++c) {
                    a[c] = ct_neon_block_dot(a[c], wd,
                                             xb + (int64_t)c * x_stride + (int64_t)blk * 128);
                }
            }
            for (int c = 0; c < COLS; ++c) {
                acc[(int64_t)(b + c) * acc_stride + j] = layer->bias[j] + vaddvq_s32(a[c]);
            }
        }
    }
    if (b < batch) {
        ct_t2_s8_gemv__neon(layer, x + (int64_t)b * x_stride, x_stride, batch - b,
                            acc + (int64_t)b * acc_stride, acc_stride);
    }
}

#endif /* __aarch64__ */
