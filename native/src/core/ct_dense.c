/*
 * Dense layers on the integer contract: argument checks and requantization.
 * Whole networks are in ct_net.c, the checks of one layer in ct_layer.c.
 */
#include <string.h>

#include "core/ct_internal.h"

ct_status ct_dense_args_check(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                              int32_t batch, const int32_t *acc) {
    ct_status st = ct_layer_check(layer);
    if (st != CT_OK) return st;
    if (layer->kind != CT_LAYER_DENSE) return CT_E_RANGE; /* its rows are not a matrix's */
    if (!x || !acc) return CT_E_NULL;
    if (batch <= 0 || x_stride < ct_t2_padded_k(layer->n_in)) return CT_E_SHAPE;
    return CT_OK;
}

ct_status ct_dense_acc(const ct_layer *layer, const int8_t *x, int32_t x_stride, int32_t batch,
                       int32_t *acc) {
    ct_status st = ct_init();
    if (st != CT_OK) return st;
    st = ct_dense_args_check(layer, x, x_stride, batch, acc);
    if (st != CT_OK) return st;
    ct_active_dense_acc()(layer, x, x_stride, batch, acc);
    return CT_OK;
}

ct_status ct_requantize_bits(const int32_t *acc, int32_t batch, int32_t n, int32_t shift,
                             int32_t act_bits, int8_t *y, int32_t y_stride) {
    if (!acc || !y) return CT_E_NULL;
    if (batch <= 0 || n <= 0 || y_stride < n) return CT_E_SHAPE;
    if (shift < 0 || shift > CT_MAX_SHIFT || !ct_act_bits_ok(act_bits)) return CT_E_RANGE;
    const int32_t act_max = ct_act_max_of(act_bits);
    /* ct_requant1 in int32 lanes, so the compiler vectorises it (conv layers
     * requantize tens of thousands of values per sample): clamping acc to
     * [-r, INT32_MAX - r] first keeps acc + r in 0 .. INT32_MAX, where the
     * shift is a plain floor, and changes no result (below -r the result is
     * 0 either way; above, INT32_MAX >> shift >= 127 >= act_max for shift <=
     * 24, so both saturate). */
    const int32_t r = shift > 0 ? (int32_t)1 << (shift - 1) : 0, hi = INT32_MAX - r;
    for (int32_t b = 0; b < batch; ++b) {
        int8_t *yb = y + (int64_t)b * y_stride;
        const int32_t *ab = acc + (int64_t)b * n;
        for (int32_t j = 0; j < n; ++j) {
            const int32_t a = ab[j] < -r ? -r : ab[j] > hi ? hi : ab[j];
            const int32_t q = (a + r) >> shift;
            yb[j] = (int8_t)(q > act_max ? act_max : q);
        }
        memset(yb + n, 0, (size_t)(y_stride - n));
    }
    return CT_OK;
}

ct_status ct_requantize(const int32_t *acc, int32_t batch, int32_t n, int32_t shift, int8_t *y,
                        int32_t y_stride) {
    return ct_requantize_bits(acc, batch, n, shift, CT_ACT_BITS_MAX, y, y_stride);
}
