/*
 * Dense layers and whole networks on the integer contract: argument checks,
 * requantization, and the forward pass over caller-owned scratch.
 */
#include "core/ct_internal.h"

ct_status ct_layer_check(const ct_layer *layer) {
    if (!layer || !layer->w || !layer->bias) return CT_E_NULL;
    if (layer->n_in <= 0 || layer->n_in > CT_MAX_INPUTS || layer->n_out <= 0 ||
        layer->n_out > CT_MAX_OUTPUTS) {
        return CT_E_SHAPE;
    }
    if (layer->shift != CT_SHIFT_OUTPUT && (layer->shift < 0 || layer->shift > CT_MAX_SHIFT)) {
        return CT_E_RANGE;
    }
    /* The output layer has no activations; a hidden one states its bits. */
    if (layer->shift == CT_SHIFT_OUTPUT ? layer->act_bits != CT_ACT_BITS_OUTPUT
                                        : !ct_act_bits_ok(layer->act_bits)) {
        return CT_E_RANGE;
    }
    for (int32_t j = 0; j < layer->n_out; ++j) {
        if (layer->bias[j] < -CT_MAX_BIAS || layer->bias[j] > CT_MAX_BIAS) return CT_E_RANGE;
    }
    return CT_OK;
}

ct_status ct_dense_args_check(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                              int32_t batch, const int32_t *acc) {
    ct_status st = ct_layer_check(layer);
    if (st != CT_OK) return st;
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
    for (int32_t b = 0; b < batch; ++b) {
        int8_t *yb = y + (int64_t)b * y_stride;
        const int32_t *ab = acc + (int64_t)b * n;
        for (int32_t j = 0; j < n; ++j) yb[j] = (int8_t)ct_requant1(ab[j], shift, act_max);
        for (int32_t j = n; j < y_stride; ++j) yb[j] = 0;
    }
    return CT_OK;
}

ct_status ct_requantize(const int32_t *acc, int32_t batch, int32_t n, int32_t shift, int8_t *y,
                        int32_t y_stride) {
    return ct_requantize_bits(acc, batch, n, shift, CT_ACT_BITS_MAX, y, y_stride);
}

ct_status ct_net_check(const ct_layer *layers, int32_t n_layers) {
    if (!layers) return CT_E_NULL;
    if (n_layers <= 0 || n_layers > CT_MAX_LAYERS) return CT_E_SHAPE;
    for (int32_t l = 0; l < n_layers; ++l) {
        ct_status st = ct_layer_check(&layers[l]);
        if (st != CT_OK) return st;
        const int is_last = l == n_layers - 1;
        if (is_last != (layers[l].shift == CT_SHIFT_OUTPUT)) return CT_E_CHAIN;
        if (!is_last && layers[l].n_out != layers[l + 1].n_in) return CT_E_CHAIN;
    }
    return CT_OK;
}

/* Scratch layout: two int8 activation buffers (batch x widest padded input)
 * and one int32 accumulator buffer (batch x widest layer), each 64-aligned. */
typedef struct scratch_plan {
    int64_t act_stride; /* bytes per row of an activation buffer */
    int64_t act_bytes;
    int64_t acc_bytes;
    int64_t total;
} scratch_plan;

static int64_t align64(int64_t v) {
    return (v + 63) / 64 * 64;
}

static scratch_plan plan_scratch(const ct_layer *layers, int32_t n_layers, int32_t batch) {
    scratch_plan p = {0, 0, 0, 0};
    int64_t widest_out = 0;
    for (int32_t l = 0; l < n_layers; ++l) {
        const int64_t kp = ct_t2_padded_k(layers[l].n_in);
        if (kp > p.act_stride) p.act_stride = kp;
        if (layers[l].n_out > widest_out) widest_out = layers[l].n_out;
    }
    p.act_bytes = align64(p.act_stride * batch);
    p.acc_bytes = align64(widest_out * batch * (int64_t)sizeof(int32_t));
    p.total = 2 * p.act_bytes + p.acc_bytes + 64; /* + 64: room to align the base */
    return p;
}

ct_status ct_net_scratch_bytes(const ct_layer *layers, int32_t n_layers, int32_t batch,
                               int64_t *bytes) {
    if (!bytes) return CT_E_NULL;
    ct_status st = ct_net_check(layers, n_layers);
    if (st != CT_OK) return st;
    if (batch <= 0) return CT_E_SHAPE;
    *bytes = plan_scratch(layers, n_layers, batch).total;
    return CT_OK;
}

ct_status ct_net_forward(const ct_layer *layers, int32_t n_layers, const int8_t *x, int32_t batch,
                         int32_t *logits, void *scratch, int64_t scratch_bytes) {
    ct_status st = ct_init();
    if (st != CT_OK) return st;
    st = ct_net_check(layers, n_layers);
    if (st != CT_OK) return st;
    if (!x || !logits || !scratch) return CT_E_NULL;
    if (batch <= 0) return CT_E_SHAPE;
    const scratch_plan p = plan_scratch(layers, n_layers, batch);
    if (scratch_bytes < p.total) return CT_E_SCRATCH;

    const int32_t n_in = layers[0].n_in;
    for (int64_t i = 0; i < (int64_t)batch * n_in; ++i) {
        if (x[i] < 0) return CT_E_RANGE; /* int8 cannot exceed 127 */
    }

    uint8_t *base = (uint8_t *)scratch;
    base += (64 - (uintptr_t)base % 64) % 64;
    int8_t *cur = (int8_t *)base;
    int8_t *nxt = (int8_t *)(base + p.act_bytes);
    int32_t *acc = (int32_t *)(void *)(base + 2 * p.act_bytes);
    const int32_t stride = (int32_t)p.act_stride;

    /* Copy the input into a zero-padded buffer: SIMD kernels read whole blocks. */
    for (int32_t b = 0; b < batch; ++b) {
        int8_t *row = cur + (int64_t)b * stride;
        const int8_t *src = x + (int64_t)b * n_in;
        for (int32_t i = 0; i < n_in; ++i) row[i] = src[i];
        for (int32_t i = n_in; i < stride; ++i) row[i] = 0;
    }
    const ct_dense_acc_fn dense = ct_active_dense_acc();
    for (int32_t l = 0; l < n_layers; ++l) {
        const ct_layer *L = &layers[l];
        if (l == n_layers - 1) {
            dense(L, cur, stride, batch, logits);
        } else {
            dense(L, cur, stride, batch, acc);
            ct_requantize_bits(acc, batch, L->n_out, L->shift, L->act_bits, nxt, stride);
            int8_t *t = cur;
            cur = nxt;
            nxt = t;
        }
    }
    return CT_OK;
}
