/*
 * aarch64 NEON twin of the TRAIN_REQUANT_DIFF kernel
 * (ct_s32_s8_requant_diff__neon). Bit-exact to ct_s32_s8_requant_diff__ref
 * (same pair order), 8 samples per step, the tail in scalar code. Bounds as
 * in ct_s32_s8_requant_diff__avx2.c.
 */
#include "train/ct_train_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

int32_t ct_s32_s8_requant_diff__neon(const int32_t *acc, const int8_t *x, int32_t d, int32_t n,
                                     int32_t shift, int32_t act_max, const int8_t *act,
                                     int32_t *idx, int32_t *da) {
    const int32x4_t round = vdupq_n_s32(shift > 0 ? 1 << (shift - 1) : 0);
    const int32x4_t right = vdupq_n_s32(-shift); /* vshlq by -s: arithmetic >> s */
    const int32x4_t zero = vdupq_n_s32(0), top = vdupq_n_s32(act_max);
    int32_t m = 0, b = 0;
    for (; b + 8 <= n; b += 8) {
        const int16x8_t x16 = vmovl_s8(vld1_s8(x + b));
        const int16x8_t a16 = vmovl_s8(vld1_s8(act + b));
        int32_t dd[8];
        uint32_t keep[8];
        for (int h = 0; h < 2; ++h) {
            const int32x4_t xv = vmovl_s16(h ? vget_high_s16(x16) : vget_low_s16(x16));
            const int32x4_t av = vmovl_s16(h ? vget_high_s16(a16) : vget_low_s16(a16));
            int32x4_t v = vmlaq_n_s32(vld1q_s32(acc + b + 4 * h), xv, d);
            v = vmaxq_s32(vaddq_s32(v, round), zero);
            v = vminq_s32(vshlq_s32(v, right), top);
            const int32x4_t diff = vsubq_s32(v, av);
            const uint32x4_t k =
                vandq_u32(vmvnq_u32(vceqq_s32(xv, zero)), vmvnq_u32(vceqq_s32(diff, zero)));
            vst1q_s32(dd + 4 * h, diff);
            vst1q_u32(keep + 4 * h, k);
        }
        for (int lane = 0; lane < 8; ++lane) {
            if (keep[lane]) {
                idx[m] = b + lane;
                da[m] = dd[lane];
                ++m;
            }
        }
    }
    return ct_requant_diff_from(acc, x, d, b, n, shift, act_max, act, idx, da, m);
}

#endif /* __aarch64__ */
