/*
 * maxpool2d (docs/format.md 1.2): the integer maximum over each window, per
 * channel, no padding. Scalar C with the channel loop innermost: NHWC keeps a
 * pixel's channels contiguous, so the compiler vectorises it with the
 * baseline ISA (SSE2 / NEON) and no per-ISA kernel is needed.
 */
#include <string.h>

#include "core/ct_internal.h"

void ct_maxpool_run(const ct_layer *layer, const int8_t *x, int64_t x_stride, int32_t batch,
                    int8_t *y, int64_t y_stride) {
    const ct_shape out = ct_layer_out_shape(layer);
    const int32_t c = layer->in_c, w = layer->in_w;
    for (int32_t b = 0; b < batch; ++b) {
        /* Activations are 0 .. 127 (inputs are checked, hidden outputs are
         * requantized), so the unsigned maximum of the bytes is the int8 one;
         * SSE2 has an unsigned byte maximum and no signed one. */
        const uint8_t *xb = (const uint8_t *)(x + b * x_stride);
        uint8_t *yb = (uint8_t *)(y + b * y_stride);
        for (int32_t oy = 0; oy < out.h; ++oy) {
            for (int32_t ox = 0; ox < out.w; ++ox) {
                uint8_t *o = yb + ((int64_t)oy * out.w + ox) * c;
                const uint8_t *in =
                    xb + ((int64_t)oy * layer->stride_h * w + (int64_t)ox * layer->stride_w) * c;
                memcpy(o, in, (size_t)c); /* tap (0, 0) */
                for (int32_t py = 0; py < layer->kh; ++py) {
                    for (int32_t px = py == 0 ? 1 : 0; px < layer->kw; ++px) {
                        const uint8_t *s = in + ((int64_t)py * w + px) * c;
                        for (int32_t ch = 0; ch < c; ++ch) o[ch] = s[ch] > o[ch] ? s[ch] : o[ch];
                    }
                }
            }
        }
        memset(yb + layer->n_out, 0, (size_t)(y_stride - layer->n_out));
    }
}
