/*
 * The trainer object: allocation, parameters in and out, batch loading, the
 * full (feature-major) forward pass and the per-sample loss caches.
 */
#include <stdlib.h>
#include <string.h>

#include "train/ct_train_internal.h"

static void *zalloc(int64_t count, size_t size, int *fail) {
    if (*fail) return NULL;
    void *p = calloc((size_t)(count > 0 ? count : 1), size);
    if (p == NULL) *fail = 1;
    return p;
}

void ct_train_free(ct_trainer *t) {
    if (t == NULL) return;
    for (int32_t l = 0; l < t->n_layers; ++l) {
        free(t->w[l]);
        free(t->wt[l]);
        free(t->bias[l]);
        free(t->acc[l]);
        free(t->act[l]);
        free(t->alt_acc[l]);
        free(t->alt_act[l]);
    }
    free(t->x);
    free(t->xbits);
    free(t->xnz);
    free(t->y);
    free(t->zy);
    free(t->zmax);
    free(t->sminus);
    free(t->loss);
    free(t->ecache);
    free(t->ecache_s);
    free(t->lns);
    free(t->tab_mem);
    free(t->work);
    free(t->ones);
    free(t->idx);
    free(t->da);
    free(t->dvec);
    free(t->znew);
    for (int s = 0; s < 2; ++s) {
        free(t->st[s].sample);
        free(t->st[s].off);
        free(t->st[s].neuron);
        free(t->st[s].dact);
    }
    free(t);
}

ct_status ct_train_new(const int32_t *sizes, int32_t n_layers, int32_t batch_cap,
                       ct_trainer **out) {
    if (sizes == NULL || out == NULL) return CT_E_NULL;
    *out = NULL;
    const ct_status env = ct_init(); /* dispatched kernels, threads of the scored mode */
    if (env != CT_OK) return env;
    if (n_layers < 1 || n_layers > CT_MAX_LAYERS || batch_cap < 1 || batch_cap > (1 << 20)) {
        return CT_E_SHAPE;
    }
    int32_t max_width = 1;
    for (int32_t l = 0; l <= n_layers; ++l) {
        if (sizes[l] < 1 || sizes[l] > CT_MAX_INPUTS) return CT_E_SHAPE;
        if (l > 0 && sizes[l] > max_width) max_width = sizes[l];
    }
    ct_trainer *t = calloc(1, sizeof *t);
    if (t == NULL) return CT_E_NOMEM;
    t->n_layers = n_layers;
    memcpy(t->sizes, sizes, sizeof(int32_t) * (size_t)(n_layers + 1));
    t->cap = batch_cap;
    t->max_width = max_width;
    /* A stage lists the changes of one layer: the first those of the changed
     * neuron (one per sample), later ones those of hidden layers 1, 2, ...
     * (propagate never lists the logits). A network with one hidden layer
     * needs one pair per sample, not a whole layer's width. */
    int32_t stage_width = 1;
    for (int32_t l = 1; l < n_layers - 1; ++l) {
        if (sizes[l + 1] > stage_width) stage_width = sizes[l + 1];
    }
    t->stage_width = stage_width;
    const int64_t cap = batch_cap;
    const int32_t classes = sizes[n_layers];
    int fail = 0;
    for (int32_t l = 0; l < n_layers; ++l) {
        const int64_t n_in = sizes[l], n_out = sizes[l + 1];
        t->w[l] = zalloc(n_in * n_out, 1, &fail);
        if (l > 0) t->wt[l] = zalloc(n_in * n_out, 1, &fail);
        t->bias[l] = zalloc(n_out, sizeof(int32_t), &fail);
        t->acc[l] = zalloc(n_out * cap, sizeof(int32_t), &fail);
        t->alt_acc[l] = zalloc(n_out * cap, sizeof(int32_t), &fail);
        if (!ct_is_output(t, l)) {
            t->act[l] = zalloc(n_out * cap, 1, &fail);
            t->alt_act[l] = zalloc(n_out * cap, 1, &fail);
        }
        t->shift[l] = ct_is_output(t, l) ? CT_SHIFT_OUTPUT : 0;
        t->act_max[l] = ct_is_output(t, l) ? 0 : CT_ACT_MAX;
    }
    t->x = zalloc((int64_t)sizes[0] * cap, 1, &fail);
    t->words = (batch_cap + 63) / 64;
    t->xbits = zalloc((int64_t)sizes[0] * t->words, sizeof(uint64_t), &fail);
    t->xnz = zalloc(sizes[0], sizeof(int32_t), &fail);
    t->y = zalloc(cap, sizeof(int32_t), &fail);
    t->zy = zalloc(cap, sizeof(int32_t), &fail);
    t->zmax = zalloc(cap, sizeof(int32_t), &fail);
    t->sminus = zalloc((int64_t)classes * cap, sizeof(double), &fail);
    t->loss = zalloc(cap, sizeof(double), &fail);
    t->ecache = zalloc((int64_t)classes * cap, sizeof(double), &fail);
    t->ecache_s = zalloc((int64_t)classes * cap, sizeof(double), &fail);
    t->lns = zalloc(cap, sizeof(double), &fail);
    t->tab_mem = zalloc(CT_TAB_LOW + CT_TAB + 1, sizeof(double), &fail);
    t->work = zalloc(2 * (int64_t)classes + 2, sizeof(double), &fail);
    t->ones = zalloc(cap, 1, &fail);
    t->idx = zalloc(cap, sizeof(int32_t), &fail);
    t->da = zalloc(cap, sizeof(int32_t), &fail);
    t->dvec = zalloc(max_width, sizeof(int32_t), &fail);
    t->znew = zalloc(classes, sizeof(int32_t), &fail);
    for (int s = 0; s < 2; ++s) {
        t->st[s].sample = zalloc(cap, sizeof(int32_t), &fail);
        t->st[s].off = zalloc(cap + 1, sizeof(int32_t), &fail);
        t->st[s].neuron = zalloc(cap * stage_width, sizeof(int32_t), &fail);
        t->st[s].dact = zalloc(cap * stage_width, sizeof(int32_t), &fail);
    }
    if (fail) {
        ct_train_free(t);
        return CT_E_NOMEM;
    }
    memset(t->ones, 1, (size_t)cap);
    t->tab = t->tab_mem + CT_TAB_LOW;
    ct_train_set_inv_t(t, 1.0);
    t->axpy = ct_active_entry(CT_FAMILY_TRAIN_AXPY)->fn.train_axpy;
    t->requant_diff = ct_active_entry(CT_FAMILY_TRAIN_REQUANT_DIFF)->fn.train_requant_diff;
    t->ce_out_delta = ct_active_entry(CT_FAMILY_TRAIN_CE_OUT_DELTA)->fn.train_ce_out_delta;
    t->ce_last_hidden_delta =
        ct_active_entry(CT_FAMILY_TRAIN_CE_LAST_HIDDEN_DELTA)->fn.train_ce_last_hidden_delta;
    *out = t;
    return CT_OK;
}

ct_status ct_train_set_layer(ct_trainer *t, int32_t layer, const int8_t *w, const int32_t *bias,
                             int32_t shift) {
    if (t == NULL || w == NULL || bias == NULL) return CT_E_NULL;
    if (layer < 0 || layer >= t->n_layers) return CT_E_SHAPE;
    const int32_t n_in = t->sizes[layer], n_out = t->sizes[layer + 1];
    const int output = ct_is_output(t, layer);
    if (!output && (shift < 0 || shift > CT_MAX_SHIFT)) return CT_E_RANGE;
    for (int64_t i = 0; i < (int64_t)n_in * n_out; ++i) {
        if (w[i] < -1 || w[i] > 1) return CT_E_RANGE;
    }
    for (int32_t j = 0; j < n_out; ++j) {
        if (bias[j] > CT_MAX_BIAS || bias[j] < -CT_MAX_BIAS) return CT_E_RANGE;
    }
    memcpy(t->w[layer], w, (size_t)n_in * (size_t)n_out);
    for (int32_t j = 0; j < n_out && t->wt[layer] != NULL; ++j) {
        for (int32_t i = 0; i < n_in; ++i) {
            t->wt[layer][(int64_t)i * n_out + j] = w[(int64_t)j * n_in + i];
        }
    }
    memcpy(t->bias[layer], bias, sizeof(int32_t) * (size_t)n_out);
    t->shift[layer] = output ? CT_SHIFT_OUTPUT : shift;
    t->valid = 0;
    return CT_OK;
}

ct_status ct_train_set_act_bits(ct_trainer *t, int32_t layer, int32_t act_bits) {
    if (t == NULL) return CT_E_NULL;
    if (layer < 0 || layer >= t->n_layers) return CT_E_SHAPE;
    if (ct_is_output(t, layer) || !ct_act_bits_ok(act_bits)) return CT_E_RANGE;
    t->act_max[layer] = ct_act_max_of(act_bits);
    t->valid = 0;
    return CT_OK;
}

ct_status ct_train_get_layer(const ct_trainer *t, int32_t layer, int8_t *w, int32_t *bias,
                             int32_t *shift) {
    if (t == NULL || w == NULL || bias == NULL || shift == NULL) return CT_E_NULL;
    if (layer < 0 || layer >= t->n_layers) return CT_E_SHAPE;
    const int32_t n_in = t->sizes[layer], n_out = t->sizes[layer + 1];
    memcpy(w, t->w[layer], (size_t)n_in * (size_t)n_out);
    memcpy(bias, t->bias[layer], sizeof(int32_t) * (size_t)n_out);
    *shift = t->shift[layer];
    return CT_OK;
}

/* exp(m / T) for a logit difference m <= 0. tab[m] is ct_exp(m / T) computed
 * by the same expression, so reading it gives the same bits as calling
 * ct_exp: a commit that refreshes thousands of samples, and a shift check
 * that rescores the whole batch, cost table reads and one log per sample
 * rather than C exps. */
static inline double exp_over_t(const ct_trainer *t, int32_t m) {
    return (t->tab_ok && m >= -CT_TAB_LOW) ? t->tab[m] : ct_exp((double)m * t->inv_t);
}

/* Loss of one sample from its full logit vector z (C values, stride 1). The
 * same arithmetic as ct_train_refresh_sample, so a committed change leaves
 * exactly the loss its check computed. */
double ct_train_sample_loss(const ct_trainer *t, const int32_t *z, int32_t y) {
    const int32_t classes = t->sizes[t->n_layers];
    int32_t mx = z[0];
    for (int32_t k = 1; k < classes; ++k) mx = z[k] > mx ? z[k] : mx;
    double s = 0.0;
    for (int32_t k = 0; k < classes; ++k) s += exp_over_t(t, z[k] - mx);
    return ct_log(s) + (double)(mx - z[y]) * t->inv_t;
}

void ct_train_refresh_sample(ct_trainer *t, int32_t b) {
    const int32_t classes = t->sizes[t->n_layers];
    const int32_t *logit = t->acc[t->n_layers - 1];
    const int64_t cap = t->cap;
    int32_t mx = logit[b];
    for (int32_t k = 1; k < classes; ++k) {
        const int32_t v = logit[k * cap + b];
        mx = v > mx ? v : mx;
    }
    double *e = t->work, *suffix = t->work + classes; /* suffix[k] = sum_{k' >= k} */
    double s = 0.0;
    for (int32_t k = 0; k < classes; ++k) {
        e[k] = exp_over_t(t, logit[k * cap + b] - mx);
        s += e[k];
    }
    suffix[classes] = 0.0;
    for (int32_t k = classes - 1; k >= 0; --k) suffix[k] = suffix[k + 1] + e[k];
    double prefix = 0.0;
    for (int32_t k = 0; k < classes; ++k) {
        t->sminus[k * cap + b] = prefix + suffix[k + 1];
        t->ecache[k * cap + b] = e[k];
        t->ecache_s[(int64_t)b * classes + k] = e[k];
        prefix += e[k];
    }
    t->zmax[b] = mx;
    t->zy[b] = logit[(int64_t)t->y[b] * cap + b];
    t->lns[b] = ct_log(s);
    t->loss[b] = t->lns[b] + (double)(mx - t->zy[b]) * t->inv_t;
}

/* The temperature and the exp table that goes with it. The table is used
 * only while exp(CT_TAB / T) stays far from overflow (T >= about 1.7). */
void ct_train_set_inv_t(ct_trainer *t, double inv_t) {
    t->inv_t = inv_t;
    t->tab_ok = (double)CT_TAB * inv_t <= 600.0;
    if (!t->tab_ok) return;
    for (int32_t m = -CT_TAB_LOW; m <= CT_TAB; ++m) {
        t->tab_mem[m + CT_TAB_LOW] = ct_exp((double)m * inv_t);
    }
}

void ct_train_refresh_all(ct_trainer *t) {
    double total = 0.0;
    for (int32_t b = 0; b < t->batch; ++b) {
        ct_train_refresh_sample(t, b);
        total += t->loss[b];
    }
    t->total = total;
}

/* One dense layer, feature-major: out[j] = bias[j] + sum_i w[j][i] * in[i]. */
static void layer_acc(ct_trainer *t, int32_t l, const int8_t *in, int32_t *out) {
    const int32_t n_in = t->sizes[l], n_out = t->sizes[l + 1], batch = t->batch;
    const int64_t cap = t->cap;
    for (int32_t j = 0; j < n_out; ++j) {
        int32_t *row = out + j * cap;
        for (int32_t b = 0; b < batch; ++b) row[b] = t->bias[l][j];
        const int8_t *wj = t->w[l] + (int64_t)j * n_in;
        for (int32_t i = 0; i < n_in; ++i) {
            if (wj[i] != 0) t->axpy(row, in + i * cap, wj[i], batch);
        }
    }
}

static void layer_act(const ct_trainer *t, int32_t l, int32_t shift, const int32_t *acc,
                      int8_t *act) {
    const int64_t cap = t->cap;
    for (int32_t j = 0; j < t->sizes[l + 1]; ++j) {
        for (int32_t b = 0; b < t->batch; ++b) {
            act[j * cap + b] = (int8_t)ct_rq(acc[j * cap + b], shift, t->act_max[l]);
        }
    }
}

/* Activations of layer `layer` (hidden) under shift_l from acc[layer], then
 * every later layer, writing into the given arrays (the caches, or the
 * alternative buffers of a shift candidate). */
void ct_train_forward_from(ct_trainer *t, int32_t layer, int32_t shift_l, int32_t **acc,
                           int8_t **act) {
    layer_act(t, layer, shift_l, acc[layer], act[layer]);
    for (int32_t l = layer + 1; l < t->n_layers; ++l) {
        layer_acc(t, l, act[l - 1], acc[l]);
        if (!ct_is_output(t, l)) layer_act(t, l, t->shift[l], acc[l], act[l]);
    }
}

ct_status ct_train_recompute(ct_trainer *t) {
    if (t == NULL) return CT_E_NULL;
    if (t->batch == 0) return CT_E_STATE;
    layer_acc(t, 0, t->x, t->acc[0]);
    if (t->n_layers > 1) ct_train_forward_from(t, 0, t->shift[0], t->acc, t->act);
    ct_train_refresh_all(t);
    t->valid = 1;
    return CT_OK;
}

ct_status ct_train_set_batch(ct_trainer *t, const int8_t *x, const int32_t *y, int32_t batch,
                             double temperature) {
    if (t == NULL || x == NULL || y == NULL) return CT_E_NULL;
    if (batch < 1 || batch > t->cap) return CT_E_SHAPE;
    if (!(temperature > 0.0) || !(temperature < 1e300)) return CT_E_RANGE;
    const int32_t n0 = t->sizes[0], classes = t->sizes[t->n_layers];
    for (int64_t i = 0; i < (int64_t)batch * n0; ++i) {
        if (x[i] < 0) return CT_E_RANGE;
    }
    for (int32_t b = 0; b < batch; ++b) {
        if (y[b] < 0 || y[b] >= classes) return CT_E_RANGE;
    }
    const int64_t cap = t->cap;
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t i = 0; i < n0; ++i) t->x[i * cap + b] = x[(int64_t)b * n0 + i];
    }
    for (int32_t i = 0; i < n0; ++i) { /* the input lists; words past the batch stay 0 */
        const int8_t *row = t->x + i * cap;
        uint64_t *bits = t->xbits + (int64_t)i * t->words;
        int32_t count = 0;
        for (int32_t w = 0; w < t->words; ++w) {
            uint64_t word = 0;
            const int32_t end = batch - w * 64 < 64 ? batch - w * 64 : 64;
            for (int32_t q = 0; q < end; ++q) word |= (uint64_t)(row[w * 64 + q] != 0) << q;
            bits[w] = word;
            count += ct_popcount64(word);
        }
        t->xnz[i] = count;
    }
    memcpy(t->y, y, sizeof(int32_t) * (size_t)batch);
    t->batch = batch;
    ct_train_set_inv_t(t, 1.0 / temperature);
    return ct_train_recompute(t);
}

ct_status ct_train_set_temperature(ct_trainer *t, double temperature) {
    if (t == NULL) return CT_E_NULL;
    if (!(temperature > 0.0) || !(temperature < 1e300)) return CT_E_RANGE;
    if (!t->valid) return CT_E_STATE;
    ct_train_set_inv_t(t, 1.0 / temperature);
    ct_train_refresh_all(t);
    return CT_OK;
}

ct_status ct_train_loss(const ct_trainer *t, double *loss) {
    if (t == NULL || loss == NULL) return CT_E_NULL;
    if (!t->valid) return CT_E_STATE;
    *loss = t->total;
    return CT_OK;
}

ct_status ct_train_cache(const ct_trainer *t, int32_t layer, const int32_t **acc,
                         const int8_t **act, int32_t *stride) {
    if (t == NULL || acc == NULL || act == NULL || stride == NULL) return CT_E_NULL;
    if (layer < -1 || layer >= t->n_layers) return CT_E_SHAPE;
    if (!t->valid) return CT_E_STATE;
    *stride = t->cap;
    *acc = layer < 0 ? NULL : t->acc[layer];
    *act = layer < 0 ? t->x : t->act[layer];
    return CT_OK;
}
