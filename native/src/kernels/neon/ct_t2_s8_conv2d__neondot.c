/*
 * aarch64 NEON dotprod conv2d kernel (family CONV2D, groups 1):
 * ct_t2_s8_conv2d__neondot, for CPUs with the ARMv8.2 dot product
 * (HWCAP_ASIMDDP; not Cortex-A53).
 *
 * The structure of the AVX2 kernel (decoded weights shared by the threads,
 * an im2col tile per thread, blocks of 16 channels: ct_neon_conv_tiles in
 * ct_neon.h). A 16-byte load holds 4 groups of 4 activations of a position;
 * vdotq_laneq_s32 multiplies group `lane` with a weight vector (4 channels
 * x 4 inputs) and adds the 4 products of each channel into its int32 lane:
 * no int16 stage, no bound beyond the contract's. The decoded K is a
 * multiple of 16 (CT_CONV_KALIGN), so groups come in fours.
 */
#include "core/ct_conv.h"

#if defined(__aarch64__)
#include "kernels/neon/ct_neon.h"

enum { ROWS = 4 }; /* 4 x 4 int32 accumulators, 4 weight vectors, 4 activations */

#define CT_DOT4(r, lane)                                    \
    acc[r][0] = vdotq_laneq_s32(acc[r][0], w0, x[r], lane); \
    acc[r][1] = vdotq_laneq_s32(acc[r][1], w1, x[r], lane); \
    acc[r][2] = vdotq_laneq_s32(acc[r][2], w2, x[r], lane); \
    acc[r][3] = vdotq_laneq_s32(acc[r][3], w3, x[r], lane);

#define CT_GROUP(lane)                                                                  \
    {                                                                                   \
        const int8_t *w = wb + 64 * (q + lane);                                         \
        const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32), \
                        w3 = vld1q_s8(w + 48);                                          \
        CT_DOT4(0, lane) CT_DOT4(1, lane) CT_DOT4(2, lane) CT_DOT4(3, lane)             \
    }

CT_NEON_DOT static void micro(const uint8_t *const *rp, const int8_t *wb, int32_t groups,
                              int32_t out[CT_NEON_CONV_ROWS][16]) {
    int32x4_t acc[ROWS][4];
    for (int r = 0; r < ROWS; ++r) {
        for (int v = 0; v < 4; ++v) acc[r][v] = vdupq_n_s32(0);
    }
    for (int32_t q = 0; q < groups; q += 4) {
        int8x16_t x[ROWS];
        for (int r = 0; r < ROWS; ++r) x[r] = vreinterpretq_s8_u8(vld1q_u8(rp[r] + 4 * q));
        CT_GROUP(0)
        CT_GROUP(1)
        CT_GROUP(2)
        CT_GROUP(3)
    }
    for (int r = 0; r < ROWS; ++r) {
        for (int v = 0; v < 4; ++v) vst1q_s32(out[r] + 4 * v, acc[r][v]);
    }
}

CT_NEON_DOT static void rows(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot) {
    ct_neon_conv_tiles(a, p0, p1, slot, ROWS, micro);
}

void ct_t2_s8_conv2d__neondot(const ct_conv_args *a, int32_t n_threads) {
    ct_conv_args with = *a;
    with.steps = ct_conv_decode(a->layer, a->k, (int8_t *)a->shared);
    ct_conv_parallel(&with, n_threads, rows);
}

#endif /* __aarch64__ */
