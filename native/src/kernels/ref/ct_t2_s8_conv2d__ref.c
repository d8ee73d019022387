/*
 * Reference conv2d kernel (family CONV2D, ISA "ref"): the specification of
 * docs/format.md 1.2 written as its formula, one output at a time, every
 * weight read through the T2 address helpers and every input through the
 * bounds test that makes padding read 0. The SIMD twins must equal it bit
 * for bit. Portable C, no intrinsics, no scratch.
 */
#include "core/ct_conv.h"

/* Bound: x in 0 .. 127, w = code - 1 in -1 .. 2 (code 3 counts as 2, as in
 * the dense references), K <= 2^20: |sum| <= 2^28, and with |bias| <= 2^27
 * the int32 accumulator stays below 2^29. */
static void rows(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot) {
    (void)slot;
    const ct_layer *L = a->layer;
    const int32_t c_in = L->in_c, k = a->k;
    for (int64_t p = p0; p < p1; ++p) {
        int32_t b, oy, ox;
        ct_conv_position(a, p, &b, &oy, &ox);
        const int8_t *xb = a->x + b * a->x_stride;
        for (int32_t co = 0; co < L->out_c; ++co) {
            int32_t s = L->bias[co];
            for (int32_t ky = 0; ky < L->kh; ++ky) {
                const int32_t iy = oy * L->stride_h + ky - L->pad_top;
                for (int32_t kx = 0; kx < L->kw; ++kx) {
                    const int32_t ix = ox * L->stride_w + kx - L->pad_left;
                    if (iy < 0 || iy >= L->in_h || ix < 0 || ix >= L->in_w) continue; /* 0 */
                    for (int32_t g = 0; g < c_in; ++g) {
                        const int32_t i = (ky * L->kw + kx) * c_in + g;
                        const unsigned code =
                            ((unsigned)L->w[ct_t2_byte_index(k, co, i)] >> ct_t2_bit_shift(i)) & 3u;
                        s += ((int32_t)code - 1) * xb[((int64_t)iy * L->in_w + ix) * c_in + g];
                    }
                }
            }
            a->acc[p * L->out_c + co] = s;
        }
    }
}

void ct_t2_s8_conv2d__ref(const ct_conv_args *a, int32_t n_threads) {
    ct_conv_parallel(a, n_threads, rows);
}
