/*
 * AVX2 depthwise conv2d kernel (family DWCONV2D): ct_t2_s8_dwconv2d__avx2.
 *
 * Channel c of an output reads only channel c of the input, and NHWC keeps a
 * pixel's channels contiguous, so the kernel vectorises over channels: the
 * weights are decoded once per call into int16 [tap][channel] (shared by the
 * threads), and for each output position and each tap inside the image, 16
 * activations widened to int16 are multiplied by 16 weights (mullo) and added
 * into int16 lanes, one lane per channel. Taps outside the image are skipped
 * (padding reads 0). Channels past the last multiple of 16 go through the
 * same decoded weights in scalar code.
 * int16 bound: see CT_DW_TAPS (a lane adds one product |x * w| <= 254 per
 * tap, widened to int32 every 128 taps).
 */
#include "core/ct_conv.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2/ct_avx2.h"

/* The window of an output clipped to the image: taps [ky0, ky1) x [kx0, kx1),
 * and the byte offset of tap (0, 0) from the sample start (negative when
 * the window starts in the padding; only inside taps are read). */
typedef struct window {
    int64_t x_off;
    int32_t ky0, ky1, kx0, kx1;
} window;

static window window_of(const ct_layer *L, int32_t oy, int32_t ox) {
    window w;
    const int32_t iy = oy * L->stride_h - L->pad_top, ix = ox * L->stride_w - L->pad_left;
    ct_conv_clip(iy, L->kh, L->in_h, &w.ky0, &w.ky1);
    ct_conv_clip(ix, L->kw, L->in_w, &w.kx0, &w.kx1);
    w.x_off = ((int64_t)iy * L->in_w + ix) * L->in_c;
    return w;
}

/* Adds the int16 lanes of acc (16 channels) to the int32 sums lo, hi. */
CT_AVX2 static inline void widen_add(__m256i acc, __m256i *lo, __m256i *hi) {
    *lo = _mm256_add_epi32(*lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(acc)));
    *hi = _mm256_add_epi32(*hi, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(acc, 1)));
}

/* Channels c0 .. c0 + 16 * VECS - 1 (VECS 1 or 2) of one output: the window's
 * taps times the int16 weights, into o with the bias. A lane takes one
 * product per tap; the sums are widened every CT_DW_TAPS taps. */
#define CT_DW_CHANNELS(NAME, VECS)                                                               \
    CT_AVX2 static void NAME(const ct_layer *L, const uint8_t *xb, const window *win,            \
                             const int16_t *wd, int64_t cp, int32_t c0, int32_t *o) {            \
        const int64_t row = (int64_t)L->in_w * L->in_c;                                          \
        __m256i s[2 * VECS], acc[VECS];                                                          \
        for (int v = 0; v < 2 * VECS; ++v) {                                                     \
            s[v] = _mm256_loadu_si256((const __m256i *)(const void *)(L->bias + c0 + 8 * v));    \
        }                                                                                        \
        for (int v = 0; v < VECS; ++v) acc[v] = _mm256_setzero_si256();                          \
        int32_t n = 0;                                                                           \
        for (int32_t ky = win->ky0; ky < win->ky1; ++ky) {                                       \
            const uint8_t *px = xb + (win->x_off + ky * row + (int64_t)win->kx0 * L->in_c + c0); \
            const int16_t *pw = wd + ((int64_t)ky * L->kw + win->kx0) * cp + c0;                 \
            for (int32_t kx = win->kx0; kx < win->kx1; ++kx, px += L->in_c, pw += cp) {          \
                for (int v = 0; v < VECS; ++v) {                                                 \
                    const __m256i x = _mm256_cvtepu8_epi16(                                      \
                        _mm_loadu_si128((const __m128i *)(const void *)(px + 16 * v)));          \
                    const __m256i w =                                                            \
                        _mm256_loadu_si256((const __m256i *)(const void *)(pw + 16 * v));        \
                    acc[v] = _mm256_add_epi16(acc[v], _mm256_mullo_epi16(x, w));                 \
                }                                                                                \
                if (++n == CT_DW_TAPS) {                                                         \
                    for (int v = 0; v < VECS; ++v) {                                             \
                        widen_add(acc[v], &s[2 * v], &s[2 * v + 1]);                             \
                        acc[v] = _mm256_setzero_si256();                                         \
                    }                                                                            \
                    n = 0;                                                                       \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        for (int v = 0; v < VECS; ++v) widen_add(acc[v], &s[2 * v], &s[2 * v + 1]);              \
        for (int v = 0; v < 2 * VECS; ++v) {                                                     \
            _mm256_storeu_si256((__m256i *)(void *)(o + 8 * v), s[v]);                           \
        }                                                                                        \
    }

CT_DW_CHANNELS(channels32, 2)
CT_DW_CHANNELS(channels16, 1)

CT_AVX2 static void rows(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot) {
    (void)slot;
    const ct_layer *L = a->layer;
    const int32_t c = L->in_c, c32 = c / 32 * 32, c16 = c / 16 * 16;
    const int64_t cp = (c + CT_DW_CALIGN - 1) / CT_DW_CALIGN * CT_DW_CALIGN;
    const int64_t row = (int64_t)L->in_w * c;
    const int16_t *wd = (const int16_t *)(const void *)a->shared;
    int32_t b, oy, ox; /* of position p: divided out once, then stepped */
    ct_conv_position(a, p0, &b, &oy, &ox);
    for (int64_t p = p0; p < p1; ++p, ct_conv_next(a, &b, &oy, &ox)) {
        const uint8_t *xb = (const uint8_t *)(a->x + b * a->x_stride);
        const window win = window_of(L, oy, ox);
        int32_t *o = a->acc + p * c;
        int32_t c0 = 0;
        for (; c0 < c32; c0 += 32) channels32(L, xb, &win, wd, cp, c0, o + c0);
        if (c0 < c16) channels16(L, xb, &win, wd, cp, c0, o + c0);
        for (int32_t ch = c16; ch < c; ++ch) { /* the last c % 16 channels */
            int32_t s = L->bias[ch];
            for (int32_t ky = win.ky0; ky < win.ky1; ++ky) {
                for (int32_t kx = win.kx0; kx < win.kx1; ++kx) {
                    s += wd[(ky * L->kw + kx) * cp + ch] *
                         xb[win.x_off + ky * row + (int64_t)kx * c + ch];
                }
            }
            o[ch] = s;
        }
    }
}

void ct_t2_s8_dwconv2d__avx2(const ct_conv_args *a, int32_t n_threads) {
    ct_dw_decode(a->layer, a->k, a->shared, 1);
    ct_conv_parallel(a, n_threads, rows);
}

#endif /* __x86_64__ */
