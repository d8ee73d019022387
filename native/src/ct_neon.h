/*
 * Helpers shared by the aarch64 NEON kernels. Advanced SIMD is part of every
 * AArch64 CPU, so these need no target attribute; the dotprod kernels add
 * theirs (ct_*_neondot.c).
 */
#ifndef CT_NEON_H
#define CT_NEON_H

#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

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
static inline int32x4_t ct_neon_block_dot(int32x4_t acc, const int8x16_t w[8],
                                          const int8_t *x) {
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

#endif /* __aarch64__ */
#endif /* CT_NEON_H */
