/*
 * Whole networks on the integer contract: the chain check, the scratch plan
 * and the forward pass over caller-owned scratch, for every layer kind
 * (docs/format.md 1.2). A network of dense layers runs exactly the calls it
 * ran before kinds existed.
 */
#include "core/ct_conv.h"
#include "core/ct_internal.h"

static int same_shape(ct_shape a, ct_shape b) {
    return a.h == b.h && a.w == b.w && a.c == b.c;
}

/* Layer by layer: the layer itself, whether it is (only) the last an output
 * layer, then whether it writes the shape the next one reads (a dense layer
 * reads a vector: (1, 1, n_in)). The order of these checks is that of the
 * dense-only networks before kinds, so their statuses are unchanged. */
ct_status ct_net_check(const ct_layer *layers, int32_t n_layers) {
    if (!layers) return CT_E_NULL;
    if (n_layers <= 0 || n_layers > CT_MAX_LAYERS) return CT_E_SHAPE;
    for (int32_t l = 0; l < n_layers; ++l) {
        ct_status st = ct_layer_check(&layers[l]);
        if (st != CT_OK) return st;
        const int is_last = l == n_layers - 1;
        if (is_last != (layers[l].shift == CT_SHIFT_OUTPUT)) return CT_E_CHAIN;
        if (is_last && layers[l].kind != CT_LAYER_DENSE) return CT_E_CHAIN;
        if (!is_last &&
            !same_shape(ct_layer_out_shape(&layers[l]), ct_layer_in_shape(&layers[l + 1]))) {
            return CT_E_CHAIN;
        }
    }
    return CT_OK;
}

/* Scratch layout: two int8 activation buffers (batch x widest padded input),
 * one int32 accumulator buffer (batch x widest layer) and the convolution
 * scratch of the layer that needs the most, each 64-aligned. A sample's
 * tensor sits at the start of its row, NHWC; the rest of the row is zero, so
 * dense layers (after a flatten) read whole blocks. */
typedef struct scratch_plan {
    int64_t act_stride; /* bytes per row of an activation buffer */
    int64_t act_bytes;
    int64_t acc_bytes;
    int64_t conv_bytes;
    int64_t plane_bytes; /* bit planes of the widest popcount layer's input */
    int64_t total;
} scratch_plan;

/* Whether layer l runs through the popcount kernels: a dense or conv2d
 * (groups 1) layer that carries masks and reads activations of 1, 2 or 4
 * bits (never the network's input). */
static int uses_popcount(const ct_layer *layers, int32_t l) {
    const ct_layer *L = &layers[l];
    const int kind_ok =
        L->kind == CT_LAYER_DENSE || (L->kind == CT_LAYER_CONV2D && !ct_conv_is_depthwise(L));
    return l > 0 && kind_ok && L->pc_w != NULL && ct_net_in_bits(layers, l) <= 4;
}

static int64_t align64(int64_t v) {
    return (v + 63) / 64 * 64;
}

static scratch_plan plan_scratch(const ct_layer *layers, int32_t n_layers, int32_t batch) {
    scratch_plan p = {0, 0, 0, 0, 0, 0};
    int64_t widest_out = 0;
    for (int32_t l = 0; l < n_layers; ++l) {
        const int64_t kp = ct_t2_padded_k(layers[l].n_in);
        if (kp > p.act_stride) p.act_stride = kp;
        if (layers[l].n_out > widest_out) widest_out = layers[l].n_out;
        if (layers[l].kind == CT_LAYER_CONV2D) {
            const int64_t c = ct_conv_plan_of(&layers[l], batch).total;
            if (c > p.conv_bytes) p.conv_bytes = c;
        }
        if (uses_popcount(layers, l)) {
            const int32_t bits = ct_net_in_bits(layers, l);
            int64_t bytes = 0;
            if (layers[l].kind == CT_LAYER_DENSE) {
                ct_bp_words(batch, layers[l].n_in, bits, &bytes);
                bytes *= 8;
            } else {
                bytes = ct_pc_conv_scratch_bytes(&layers[l], bits);
            }
            if (align64(bytes) > p.plane_bytes) p.plane_bytes = align64(bytes);
        }
    }
    p.act_bytes = align64(p.act_stride * batch);
    p.acc_bytes = align64(widest_out * batch * (int64_t)sizeof(int32_t));
    /* + 64: room to align the base */
    p.total = 2 * p.act_bytes + p.acc_bytes + p.conv_bytes + p.plane_bytes + 64;
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
    if (ct_any_negative(x, (int64_t)batch * n_in)) return CT_E_RANGE; /* int8 is <= 127 */

    uint8_t *base = (uint8_t *)scratch;
    base += (64 - (uintptr_t)base % 64) % 64;
    int8_t *cur = (int8_t *)base;
    int8_t *nxt = (int8_t *)(base + p.act_bytes);
    int32_t *acc = (int32_t *)(void *)(base + 2 * p.act_bytes);
    void *conv_scratch = base + 2 * p.act_bytes + p.acc_bytes;
    uint64_t *planes = (uint64_t *)(void *)(base + 2 * p.act_bytes + p.acc_bytes + p.conv_bytes);
    const int32_t stride = (int32_t)p.act_stride;

    /* Copy the input into a zero-padded buffer: SIMD kernels read whole blocks. */
    for (int32_t b = 0; b < batch; ++b) {
        int8_t *row = cur + (int64_t)b * stride;
        const int8_t *src = x + (int64_t)b * n_in;
        for (int32_t i = 0; i < n_in; ++i) row[i] = src[i];
        for (int32_t i = n_in; i < stride; ++i) row[i] = 0;
    }
    const ct_dense_acc_fn dense = ct_active_dense_acc();
    const int32_t threads = ct_num_threads();
    const ct_bp_pack_fn bp_pack = ct_active_entry(CT_FAMILY_BP_PACK)->fn.bp_pack;
    for (int32_t l = 0; l < n_layers; ++l) {
        const ct_layer *L = &layers[l];
        const int last = l == n_layers - 1; /* a dense output layer (ct_net_check) */
        int32_t *out = last ? logits : acc;
        switch (L->kind) {
            case CT_LAYER_DENSE:
                if (uses_popcount(layers, l)) {
                    /* The previous requantization bounds every value by
                     * 2^bits - 1, so the planes need no range check. */
                    const int32_t bits = ct_net_in_bits(layers, l);
                    const int64_t sample_words =
                        (int64_t)bits * CT_PC_CHUNK_WORDS * ct_pc_chunks(L->n_in);
                    for (int32_t b = 0; b < batch; ++b) {
                        bp_pack(cur + (int64_t)b * stride, L->n_in, bits,
                                planes + b * sample_words);
                    }
                    ct_pc_run(L, planes, bits, batch, out, threads);
                } else {
                    dense(L, cur, stride, batch, out);
                }
                break;
            case CT_LAYER_CONV2D:
                if (uses_popcount(layers, l)) {
                    ct_pc_conv_run(L, cur, stride, batch, ct_net_in_bits(layers, l), acc,
                                   (uint8_t *)planes);
                } else {
                    ct_conv_run(ct_active_entry(ct_conv_family(L))->fn.conv, L, cur, stride, batch,
                                acc, conv_scratch, threads);
                }
                break;
            case CT_LAYER_MAXPOOL2D:
                ct_maxpool_run(L, cur, stride, batch, nxt, stride);
                break;
            default: /* flatten: the same bytes, now read as a vector */
                continue;
        }
        if (last) break;
        if (L->kind != CT_LAYER_MAXPOOL2D) {
            ct_requantize_bits(acc, batch, L->n_out, L->shift, L->act_bits, nxt, stride);
        }
        int8_t *t = cur;
        cur = nxt;
        nxt = t;
    }
    return CT_OK;
}
