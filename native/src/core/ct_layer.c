/*
 * One layer against the contract (docs/format.md 1.1, 1.2): its kind, sizes,
 * geometry and parameters, and the tensor shapes it reads and writes. The
 * statuses are listed at ct_layer_check in ct_internal.h.
 */
#include "core/ct_internal.h"

/* Every count and product below is formed in int64: each factor is at most
 * 2^20 after its own check, but a product of two or three is not. */

static int dim_ok(int32_t v) {
    return v >= 1 && v <= CT_MAX_INPUTS;
}

/* floor((n - window) / stride) + 1 for n >= window; 0 (not an output
 * dimension) when the window does not fit. */
static int64_t out_dim(int64_t n, int32_t window, int32_t stride) {
    return n < window ? 0 : (n - window) / stride + 1;
}

static ct_status check_biases(const int32_t *bias, int32_t n) {
    for (int32_t j = 0; j < n; ++j) {
        if (bias[j] < -CT_MAX_BIAS || bias[j] > CT_MAX_BIAS) return CT_E_RANGE;
    }
    return CT_OK;
}

static ct_status check_dense(const ct_layer *layer) {
    if (!layer->w || !layer->bias) return CT_E_NULL;
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
    return check_biases(layer->bias, layer->n_out);
}

/* The input tensor of a non-dense layer: each dimension 1 .. 2^20, at most
 * 2^20 elements, and n_in equal to that count. */
static ct_status check_input_tensor(const ct_layer *layer) {
    if (!dim_ok(layer->in_h) || !dim_ok(layer->in_w) || !dim_ok(layer->in_c)) return CT_E_SHAPE;
    const int64_t n = (int64_t)layer->in_h * layer->in_w * layer->in_c;
    if (n > CT_MAX_INPUTS || layer->n_in != n) return CT_E_SHAPE;
    return CT_OK;
}

static ct_status check_conv2d(const ct_layer *layer) {
    if (!layer->w || !layer->bias) return CT_E_NULL;
    ct_status st = check_input_tensor(layer);
    if (st != CT_OK) return st;
    if (!dim_ok(layer->out_c) || !dim_ok(layer->kh) || !dim_ok(layer->kw) ||
        !dim_ok(layer->stride_h) || !dim_ok(layer->stride_w)) {
        return CT_E_SHAPE;
    }
    if (layer->pad_top < 0 || layer->pad_top >= layer->kh || layer->pad_bottom < 0 ||
        layer->pad_bottom >= layer->kh || layer->pad_left < 0 || layer->pad_left >= layer->kw ||
        layer->pad_right < 0 || layer->pad_right >= layer->kw) {
        return CT_E_RANGE;
    }
    if (layer->groups != 1 && layer->groups != layer->in_c) return CT_E_RANGE;
    const int depthwise = layer->groups != 1;
    if (depthwise && layer->out_c != layer->in_c) return CT_E_SHAPE;
    const int64_t g = depthwise ? 1 : layer->in_c;
    if ((int64_t)layer->kh * layer->kw * g > CT_MAX_INPUTS) return CT_E_SHAPE;
    const int64_t ho = out_dim((int64_t)layer->in_h + layer->pad_top + layer->pad_bottom, layer->kh,
                               layer->stride_h);
    const int64_t wo = out_dim((int64_t)layer->in_w + layer->pad_left + layer->pad_right, layer->kw,
                               layer->stride_w);
    if (ho < 1 || wo < 1) return CT_E_SHAPE;
    const int64_t n_out = ho * wo * layer->out_c;
    if (n_out > CT_MAX_OUTPUTS || layer->n_out != n_out) return CT_E_SHAPE;
    /* Always hidden: requantized with its own shift and bits. */
    if (layer->shift < 0 || layer->shift > CT_MAX_SHIFT || !ct_act_bits_ok(layer->act_bits)) {
        return CT_E_RANGE;
    }
    return check_biases(layer->bias, layer->out_c);
}

/* maxpool2d and flatten carry no parameters: any set is an error, not
 * something to ignore, since the caller meant something by it. */
static ct_status check_no_params(const ct_layer *layer) {
    if (layer->w || layer->bias || layer->shift != 0 || layer->act_bits != 0) return CT_E_RANGE;
    return CT_OK;
}

static ct_status check_maxpool2d(const ct_layer *layer) {
    ct_status st = check_no_params(layer);
    if (st != CT_OK) return st;
    st = check_input_tensor(layer);
    if (st != CT_OK) return st;
    if (!dim_ok(layer->kh) || !dim_ok(layer->kw) || !dim_ok(layer->stride_h) ||
        !dim_ok(layer->stride_w)) {
        return CT_E_SHAPE;
    }
    /* The contract's pooling has no padding. */
    if (layer->pad_top || layer->pad_bottom || layer->pad_left || layer->pad_right) {
        return CT_E_RANGE;
    }
    const int64_t ho = out_dim(layer->in_h, layer->kh, layer->stride_h);
    const int64_t wo = out_dim(layer->in_w, layer->kw, layer->stride_w);
    if (ho < 1 || wo < 1 || layer->n_out != ho * wo * layer->in_c) return CT_E_SHAPE;
    return CT_OK;
}

static ct_status check_flatten(const ct_layer *layer) {
    ct_status st = check_no_params(layer);
    if (st != CT_OK) return st;
    st = check_input_tensor(layer);
    if (st != CT_OK) return st;
    return layer->n_out == layer->n_in ? CT_OK : CT_E_SHAPE;
}

ct_status ct_layer_check(const ct_layer *layer) {
    if (!layer) return CT_E_NULL;
    switch (layer->kind) {
        case CT_LAYER_DENSE:
            return check_dense(layer);
        case CT_LAYER_CONV2D:
            return check_conv2d(layer);
        case CT_LAYER_MAXPOOL2D:
            return check_maxpool2d(layer);
        case CT_LAYER_FLATTEN:
            return check_flatten(layer);
        default:
            return CT_E_RANGE;
    }
}

ct_shape ct_layer_in_shape(const ct_layer *layer) {
    if (layer->kind == CT_LAYER_DENSE) {
        const ct_shape s = {1, 1, layer->n_in};
        return s;
    }
    const ct_shape s = {layer->in_h, layer->in_w, layer->in_c};
    return s;
}

ct_shape ct_layer_out_shape(const ct_layer *layer) {
    ct_shape s = {1, 1, layer->n_out};
    if (layer->kind == CT_LAYER_CONV2D) {
        s.h = (int32_t)out_dim((int64_t)layer->in_h + layer->pad_top + layer->pad_bottom, layer->kh,
                               layer->stride_h);
        s.w = (int32_t)out_dim((int64_t)layer->in_w + layer->pad_left + layer->pad_right, layer->kw,
                               layer->stride_w);
        s.c = layer->out_c;
    } else if (layer->kind == CT_LAYER_MAXPOOL2D) {
        s.h = (int32_t)out_dim(layer->in_h, layer->kh, layer->stride_h);
        s.w = (int32_t)out_dim(layer->in_w, layer->kw, layer->stride_w);
        s.c = layer->in_c;
    }
    return s; /* dense and flatten: the vector (1, 1, n_out) */
}
