/*
 * Helpers shared by the aarch64 NEON kernels. Advanced SIMD is part of every
 * AArch64 CPU, so these need no target attribute; the dotprod kernels add
 * theirs (ct_t2_s8_dense__neondot.c).
 */
#ifndef CT_NEON_H
#define CT_NEON_H

#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "core/ct_conv.h"

/* Decodes one 32-byte T2 block into 8 vectors of 16 weights w = u - 1
 * (code 3 gives 2, as in the reference): vector q holds weights
 * 16q .. 16q + 15. Byte j of the block holds weights j, j+32, j+64, j+96 in
 * bits 0-1, 2-3, 4-5, 6-7, so run s comes from (bytes >> 2s) & 3. */
static inline void ct_neon_decode(const uint8_t *p, int8x16_t w[8]) {
    const uint8x16_t m3 = vdupq_n_u8(3), one = vdupq_n_u8(1);
    const uint8x16_t lo = vld1q_u8(p), hi = vld1q_u8(p + 16);
    w[0] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(lo, m3), one));
    w[1] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(hi, m3), one));
    w[2] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshrq_n_u8(lo, 2), m3), one));
    w[3] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshrq_n_u8(hi, 2), m3), one));
    w[4] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshrq_n_u8(lo, 4), m3), one));
    w[5] = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshrq_n_u8(hi, 4), m3), one));
    w[6] = vreinterpretq_s8_u8(vsubq_u8(vshrq_n_u8(lo, 6), one));
    w[7] = vreinterpretq_s8_u8(vsubq_u8(vshrq_n_u8(hi, 6), one));
}

/* sum_{i<128} w[i] * x[i] for one decoded block, widened into int32 lanes.
 * Bound: |w| <= 2, |x| <= 128, so a product is <= 256 and each int16 lane
 * collects 16 products (8 vectors, low and high halves): <= 4096, exact;
 * vpadalq then adds neighbouring int16 lanes into the int32 accumulator. */
static inline int32x4_t ct_neon_block_dot(int32x4_t acc, const int8x16_t w[8], const int8_t *x) {
    int8x16_t xv = vld1q_s8(x);
    int16x8_t s = vmull_s8(vget_low_s8(w[0]), vget_low_s8(xv));
    s = vmlal_high_s8(s, w[0], xv);
    for (int q = 1; q < 8; ++q) {
        xv = vld1q_s8(x + 16 * q);
        s = vmlal_s8(s, vget_low_s8(w[q]), vget_low_s8(xv));
        s = vmlal_high_s8(s, w[q], xv);
    }
    return vpadalq_s16(acc, s);
}

/* The dotprod kernels' target: ARMv8.2 dot product, per function. */
#define CT_NEON_DOT __attribute__((target("arch=armv8.2-a+dotprod")))

/* acc + sum of w[i] * x[i] for one decoded block, 4 products per lane per
 * vdotq_s32; int32 lanes, no intermediate bound. */
CT_NEON_DOT static inline int32x4_t ct_neon_block_dot4(int32x4_t acc, const int8x16_t w[8],
                                                       const int8_t *x) {
    for (int q = 0; q < 8; ++q) acc = vdotq_s32(acc, w[q], vld1q_s8(x + 16 * q));
    return acc;
}

/* The NEON GEMV and GEMM kernels of the two variants differ only in the dot
 * product of one decoded block (DOT: ct_neon_block_dot or, with dotprod,
 * ct_neon_block_dot4), so one macro defines both kernels of a variant and the
 * loops exist once. ATTR is the functions' target attribute (may be empty).
 * GEMM decodes each block once for CT_NEON_COLS columns; leftover columns go
 * through the variant's GEMV kernel. Weights are decoded to w = u - 1, so
 * no sum(x) correction is needed. */
enum { CT_NEON_COLS = 4 };

#define CT_NEON_DENSE_KERNELS(SUFFIX, ATTR, DOT)                                                 \
    ATTR void ct_t2_s8_gemv__##SUFFIX(const ct_layer *layer, const int8_t *x, int32_t x_stride,  \
                                      int32_t batch, int32_t *acc, int32_t acc_stride) {         \
        const int32_t blocks = ct_t2_padded_k(layer->n_in) / CT_BLOCK;                           \
        const int64_t rb = ct_t2_row_bytes(layer->n_in);                                         \
        for (int32_t b = 0; b < batch; ++b) {                                                    \
            const int8_t *xb = x + (int64_t)b * x_stride;                                        \
            for (int32_t j = 0; j < layer->n_out; ++j) {                                         \
                const uint8_t *w = layer->w + j * rb;                                            \
                int32x4_t a = vdupq_n_s32(0);                                                    \
                for (int32_t blk = 0; blk < blocks; ++blk) {                                     \
                    int8x16_t wd[8];                                                             \
                    ct_neon_decode(w + (int64_t)blk * CT_BLOCK_BYTES, wd);                       \
                    a = DOT(a, wd, xb + (int64_t)blk * CT_BLOCK);                                \
                }                                                                                \
                acc[(int64_t)b * acc_stride + j] = layer->bias[j] + vaddvq_s32(a);               \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    ATTR void ct_t2_s8_gemm__##SUFFIX(const ct_layer *layer, const int8_t *x, int32_t x_stride,  \
                                      int32_t batch, int32_t *acc, int32_t acc_stride) {         \
        const int32_t blocks = ct_t2_padded_k(layer->n_in) / CT_BLOCK;                           \
        const int64_t rb = ct_t2_row_bytes(layer->n_in);                                         \
        int32_t b = 0;                                                                           \
        for (; b + CT_NEON_COLS <= batch; b += CT_NEON_COLS) {                                   \
            const int8_t *xb = x + (int64_t)b * x_stride;                                        \
            for (int32_t j = 0; j < layer->n_out; ++j) {                                         \
                const uint8_t *w = layer->w + j * rb;                                            \
                int32x4_t a[CT_NEON_COLS];                                                       \
                for (int c = 0; c < CT_NEON_COLS; ++c) a[c] = vdupq_n_s32(0);                    \
                for (int32_t blk = 0; blk < blocks; ++blk) {                                     \
                    int8x16_t wd[8];                                                             \
                    ct_neon_decode(w + (int64_t)blk * CT_BLOCK_BYTES, wd);                       \
                    for (int c = 0; c < CT_NEON_COLS; ++c) {                                     \
                        a[c] =                                                                   \
                            DOT(a[c], wd, xb + (int64_t)c * x_stride + (int64_t)blk * CT_BLOCK); \
                    }                                                                            \
                }                                                                                \
                for (int c = 0; c < CT_NEON_COLS; ++c) {                                         \
                    acc[(int64_t)(b + c) * acc_stride + j] = layer->bias[j] + vaddvq_s32(a[c]);  \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        if (b < batch) {                                                                         \
            ct_t2_s8_gemv__##SUFFIX(layer, x + (int64_t)b * x_stride, x_stride, batch - b,       \
                                    acc + (int64_t)b * acc_stride, acc_stride);                  \
        }                                                                                        \
    }

/* ---- conv2d (groups 1) --------------------------------------------------- */

/* The most positions a NEON conv2d micro-kernel takes at a time. */
enum { CT_NEON_CONV_ROWS = 4 };

/* A conv2d micro-kernel: out[r][j] = sum over `groups` groups of 4 inputs of
 * tile row rp[r] (4 bytes per group) times decoded weight block wb (64 bytes
 * per group: 16 channels x 4 inputs), for r < its row count and j < 16. */
typedef void ct_neon_conv_micro(const uint8_t *const *rp, const int8_t *wb, int32_t groups,
                                int32_t out[CT_NEON_CONV_ROWS][16]);

/* The tile loop of the NEON conv2d kernels (output positions [p0, p1)), as
 * in the AVX2 kernel: im2col a tile, then every block of 16 channels, `rows`
 * positions per micro-kernel call; bias on the first chunk of inputs, the
 * later chunks added to it; only the block's real channels are stored. Both
 * variants inline it with their micro-kernel. */
static inline void ct_neon_conv_tiles(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot,
                                      int32_t rows, ct_neon_conv_micro *micro) {
    const ct_layer *L = a->layer;
    const int32_t out_c = L->out_c, kd = (a->k + CT_CONV_KALIGN - 1) / CT_CONV_KALIGN * 16;
    const int32_t blocks = (out_c + CT_CONV_CO - 1) / CT_CONV_CO;
    const int8_t *wdec = (const int8_t *)a->shared;
    for (int64_t tp = p0; tp < p1; tp += a->tile_rows) {
        const int32_t n = p1 - tp < a->tile_rows ? (int32_t)(p1 - tp) : a->tile_rows;
        for (int32_t k0 = 0; k0 < kd; k0 += a->kc) {
            const int32_t len = kd - k0 < a->kc ? kd - k0 : a->kc;
            ct_conv_im2col(a, tp, n, k0, len, slot, a->kc);
            for (int32_t cb = 0; cb < blocks; ++cb) {
                const int8_t *wb = wdec + ((int64_t)cb * kd + k0) * CT_CONV_CO;
                const int32_t co0 = cb * CT_CONV_CO;
                const int32_t nc = out_c - co0 < CT_CONV_CO ? out_c - co0 : CT_CONV_CO;
                for (int32_t r0 = 0; r0 < n; r0 += rows) {
                    const int32_t nr = n - r0 < rows ? n - r0 : rows;
                    const uint8_t *rp[CT_NEON_CONV_ROWS];
                    for (int32_t r = 0; r < rows; ++r) {
                        rp[r] = slot + (int64_t)(r0 + (r < nr ? r : nr - 1)) * a->kc;
                    }
                    int32_t s[CT_NEON_CONV_ROWS][16];
                    micro(rp, wb, len / 4, s);
                    for (int32_t r = 0; r < nr; ++r) {
                        int32_t *o = a->acc + (tp + r0 + r) * out_c + co0;
                        for (int32_t j = 0; j < nc; ++j) {
                            o[j] = (k0 == 0 ? L->bias[co0 + j] : o[j]) + s[r][j];
                        }
                    }
                }
            }
        }
    }
}

#endif /* __aarch64__ */
#endif /* CT_NEON_H */
