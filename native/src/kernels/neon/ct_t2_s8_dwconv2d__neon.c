/*
 * aarch64 NEON depthwise conv2d kernel (family DWCONV2D):
 * ct_t2_s8_dwconv2d__neon. The scheme of the AVX2 twin
 * (ct_t2_s8_dwconv2d__avx2.c): weights decoded once per call into int8
 * [tap][channel], vectorised over 16 channels of a pixel, taps outside the
 * image skipped, the last in_c % 16 channels in scalar code. Products go
 * through vmull_s8 / vmlal_high_s8 into int16 lanes, one per channel.
 * int16 bound: see CT_DW_TAPS (|x * w| <= 254 per tap, widened to int32
 * every 128 taps).
 */
#include "core/ct_conv.h"

#if defined(__aarch64__)
#include <arm_neon.h>

/* 16 channels from c0 of the output whose tap (0, 0) is x_off bytes from the
 * sample start xb; taps [ky0, ky1) x [kx0, kx1) lie inside the image. */
static void channels16(const ct_conv_args *a, const int8_t *xb, int64_t x_off, int32_t ky0,
                       int32_t ky1, int32_t kx0, int32_t kx1, const int8_t *wd, int64_t cp,
                       int32_t c0, int32_t *o) {
    const ct_layer *L = a->layer;
    const int64_t row = (int64_t)L->in_w * L->in_c;
    int32x4_t s0 = vld1q_s32(L->bias + c0), s1 = vld1q_s32(L->bias + c0 + 4),
              s2 = vld1q_s32(L->bias + c0 + 8), s3 = vld1q_s32(L->bias + c0 + 12);
    int16x8_t lo = vdupq_n_s16(0), hi = lo;
    int32_t n = 0;
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        for (int32_t kx = kx0; kx < kx1; ++kx) {
            const int8x16_t x = vld1q_s8(xb + (x_off + ky * row + (int64_t)kx * L->in_c + c0));
            const int8x16_t w = vld1q_s8(wd + (ky * L->kw + kx) * cp + c0);
            lo = vmlal_s8(lo, vget_low_s8(x), vget_low_s8(w));
            hi = vmlal_high_s8(hi, x, w);
            if (++n == CT_DW_TAPS) {
                s0 = vaddw_s16(s0, vget_low_s16(lo));
                s1 = vaddw_high_s16(s1, lo);
                s2 = vaddw_s16(s2, vget_low_s16(hi));
                s3 = vaddw_high_s16(s3, hi);
                lo = hi = vdupq_n_s16(0);
                n = 0;
            }
        }
    }
    vst1q_s32(o, vaddw_s16(s0, vget_low_s16(lo)));
    vst1q_s32(o + 4, vaddw_high_s16(s1, lo));
    vst1q_s32(o + 8, vaddw_s16(s2, vget_low_s16(hi)));
    vst1q_s32(o + 12, vaddw_high_s16(s3, hi));
}

static void rows(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot) {
    (void)slot;
    const ct_layer *L = a->layer;
    const int32_t c = L->in_c, c16 = c / 16 * 16;
    const int64_t cp = (c + CT_DW_CALIGN - 1) / CT_DW_CALIGN * CT_DW_CALIGN;
    const int64_t row = (int64_t)L->in_w * c;
    const int8_t *wd = (const int8_t *)a->shared;
    for (int64_t p = p0; p < p1; ++p) {
        int32_t b, oy, ox, ky0, ky1, kx0, kx1;
        ct_conv_position(a, p, &b, &oy, &ox);
        const int8_t *xb = a->x + b * a->x_stride;
        const int32_t iy = oy * L->stride_h - L->pad_top, ix = ox * L->stride_w - L->pad_left;
        ct_conv_clip(iy, L->kh, L->in_h, &ky0, &ky1);
        ct_conv_clip(ix, L->kw, L->in_w, &kx0, &kx1);
        const int64_t x_off = ((int64_t)iy * L->in_w + ix) * c;
        int32_t *o = a->acc + p * c;
        for (int32_t c0 = 0; c0 < c16; c0 += 16) {
            channels16(a, xb, x_off, ky0, ky1, kx0, kx1, wd, cp, c0, o + c0);
        }
        for (int32_t ch = c16; ch < c; ++ch) { /* the last c % 16 channels */
            int32_t s = L->bias[ch];
            for (int32_t ky = ky0; ky < ky1; ++ky) {
                for (int32_t kx = kx0; kx < kx1; ++kx) {
                    s += wd[(ky * L->kw + kx) * cp + ch] *
                         xb[x_off + ky * row + (int64_t)kx * c + ch];
                }
            }
            o[ch] = s;
        }
    }
}

void ct_t2_s8_dwconv2d__neon(const ct_conv_args *a, int32_t n_threads) {
    ct_dw_decode(a->layer, a->k, a->shared, 0);
    ct_conv_parallel(a, n_threads, rows);
}

#endif /* __aarch64__ */
