/*
 * Reference depthwise conv2d kernel (family DWCONV2D, ISA "ref"): the
 * formula of docs/format.md 1.2 with groups == in_c, so G = 1 and output
 * channel co reads only input channel co through its own kh x kw filter
 * (row co of the T2 matrix, column ky * kw + kx). One output at a time,
 * padding read as 0 through the bounds test. Portable C, no scratch.
 */
#include "core/ct_conv.h"

/* Bound: at most kh * kw <= 2^20 products x * w with x in 0 .. 127 and
 * w = code - 1 in -1 .. 2: |sum| <= 2^28, plus |bias| <= 2^27: int32. */
static void rows(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot) {
    (void)slot;
    const ct_layer *L = a->layer;
    const int32_t c = L->in_c, taps = a->k;
    for (int64_t p = p0; p < p1; ++p) {
        int32_t b, oy, ox;
        ct_conv_position(a, p, &b, &oy, &ox);
        const int8_t *xb = a->x + b * a->x_stride;
        for (int32_t co = 0; co < c; ++co) {
            int32_t s = L->bias[co];
            for (int32_t t = 0; t < taps; ++t) {
                const int32_t iy = oy * L->stride_h + t / L->kw - L->pad_top;
                const int32_t ix = ox * L->stride_w + t % L->kw - L->pad_left;
                if (iy < 0 || iy >= L->in_h || ix < 0 || ix >= L->in_w) continue; /* 0 */
                const unsigned code =
                    ((unsigned)L->w[ct_t2_byte_index(taps, co, t)] >> ct_t2_bit_shift(t)) & 3u;
                s += ((int32_t)code - 1) * xb[((int64_t)iy * L->in_w + ix) * c + co];
            }
            a->acc[p * c + co] = s;
        }
    }
}

void ct_t2_s8_dwconv2d__ref(const ct_conv_args *a, int32_t n_threads) {
    ct_conv_parallel(a, n_threads, rows);
}
