/*
 * aarch64 NEON twin of the TRAIN_AXPY kernel (ct_s8_s32_axpy__neon),
 * bit-exact to ct_s8_s32_axpy__ref, 8 samples per step, the tail in scalar
 * code. Bounds as in ct_s8_s32_axpy__avx2.c.
 */
#include "train/ct_train_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

void ct_s8_s32_axpy__neon(int32_t *acc, const int8_t *x, int32_t d, int32_t n) {
    int32_t b = 0;
    for (; b + 8 <= n; b += 8) {
        const int16x8_t x16 = vmovl_s8(vld1_s8(x + b));
        vst1q_s32(acc + b, vmlaq_n_s32(vld1q_s32(acc + b), vmovl_s16(vget_low_s16(x16)), d));
        vst1q_s32(acc + b + 4,
                  vmlaq_n_s32(vld1q_s32(acc + b + 4), vmovl_s16(vget_high_s16(x16)), d));
    }
    for (; b < n; ++b) acc[b] += d * (int32_t)x[b];
}

#endif /* __aarch64__ */
