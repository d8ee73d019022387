/*
 * aarch64 NEON conv2d kernel without dotprod (family CONV2D, groups 1):
 * ct_t2_s8_conv2d__neon. Runs on every AArch64 CPU (Cortex-A53 too).
 *
 * The structure of the AVX2 kernel (decoded weights shared by the threads,
 * an im2col tile per thread, blocks of 16 channels: ct_neon_conv_tiles in
 * ct_neon.h). Per group of 4 inputs, the position's 4 activations are
 * replicated across a vector and multiplied with the 4 weight vectors (4
 * channels x 4 inputs each) by vmull_s8 / vmlal_high_s8 into int16 lanes,
 * one lane per (channel, input mod 4); vpadal widens them in pairs at each
 * flush and a final pairwise add leaves one int32 per channel.
 * int16 bound: a lane adds one product |x * w| <= 127 * 2 per group (code 3
 * decodes to 2), so the FLUSH = 128 groups between widenings stay <= 32512.
 */
#include "core/ct_conv.h"

#if defined(__aarch64__)
#include <string.h>

#include "kernels/neon/ct_neon.h"

enum { ROWS = 2 }; /* 2 x 8 int16 accumulators, 4 weight vectors, 2 activations */
enum { FLUSH = 128 };

static void micro(const uint8_t *const *rp, const int8_t *wb, int32_t groups,
                  int32_t out[CT_NEON_CONV_ROWS][16]) {
    int32x4_t tot[ROWS][8];
    for (int r = 0; r < ROWS; ++r) {
        for (int v = 0; v < 8; ++v) tot[r][v] = vdupq_n_s32(0);
    }
    for (int32_t q0 = 0; q0 < groups; q0 += FLUSH) {
        const int32_t q1 = groups - q0 < FLUSH ? groups : q0 + FLUSH;
        int16x8_t acc[ROWS][8];
        for (int r = 0; r < ROWS; ++r) {
            for (int v = 0; v < 8; ++v) acc[r][v] = vdupq_n_s16(0);
        }
        for (int32_t q = q0; q < q1; ++q) {
            const int8_t *w = wb + 64 * q;
            const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32),
                            w3 = vld1q_s8(w + 48);
            for (int r = 0; r < ROWS; ++r) {
                int32_t v4;
                memcpy(&v4, rp[r] + 4 * q, 4);
                const int8x16_t x = vreinterpretq_s8_s32(vdupq_n_s32(v4));
                const int8x8_t xl = vget_low_s8(x);
                acc[r][0] = vmlal_s8(acc[r][0], vget_low_s8(w0), xl);
                acc[r][1] = vmlal_high_s8(acc[r][1], w0, x);
                acc[r][2] = vmlal_s8(acc[r][2], vget_low_s8(w1), xl);
                acc[r][3] = vmlal_high_s8(acc[r][3], w1, x);
                acc[r][4] = vmlal_s8(acc[r][4], vget_low_s8(w2), xl);
                acc[r][5] = vmlal_high_s8(acc[r][5], w2, x);
                acc[r][6] = vmlal_s8(acc[r][6], vget_low_s8(w3), xl);
                acc[r][7] = vmlal_high_s8(acc[r][7], w3, x);
            }
        }
        for (int r = 0; r < ROWS; ++r) {
            for (int v = 0; v < 8; ++v) tot[r][v] = vpadalq_s16(tot[r][v], acc[r][v]);
        }
    }
    /* tot[r][v]: channels 2v and 2v + 1, each as two partial sums */
    for (int r = 0; r < ROWS; ++r) {
        for (int u = 0; u < 4; ++u)
            vst1q_s32(out[r] + 4 * u, vpaddq_s32(tot[r][2 * u], tot[r][2 * u + 1]));
    }
}

static void rows(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot) {
    ct_neon_conv_tiles(a, p0, p1, slot, ROWS, micro);
}

void ct_t2_s8_conv2d__neon(const ct_conv_args *a, int32_t n_threads) {
    ct_conv_args with = *a;
    with.steps = ct_conv_decode(a->layer, a->k, (int8_t *)a->shared);
    ct_conv_parallel(&with, n_threads, rows);
}

#endif /* __aarch64__ */
