/*
 * Exact incremental evaluation of one candidate change, and its application.
 *
 * A weight or bias change moves the pre-activation row of one neuron by
 * d * src[b] (src: the input row of the weight, or ones for a bias). For the
 * output layer that is one logit row: O(batch). For a hidden layer only the
 * samples whose requantized activation actually moves go on, as a sparse
 * list of (neuron, activation change) per sample, through every later layer:
 * O(changed samples x n_out) per layer. Evaluation (commit = 0) and
 * application (commit = 1) share the code, so the caches after an apply hold
 * exactly the values the check computed.
 *
 * A first-layer weight's row src is the network input, fixed for the batch:
 * where that input is nonzero in few samples, the check and the commit walk
 * its list of nonzero samples (t->xbits) instead of the whole row. Both visit
 * the same samples in the same order, so the result is the same.
 */
#include <string.h>

#include "train/ct_train_internal.h"

ct_status ct_train_check_candidate(const ct_trainer *t, const ct_candidate *c) {
    if (c->layer < 0 || c->layer >= t->n_layers) return CT_E_RANGE;
    const int32_t n_in = t->sizes[c->layer], n_out = t->sizes[c->layer + 1];
    switch (c->kind) {
        case CT_CAND_WEIGHT:
            if (c->row < 0 || c->row >= n_out || c->col < 0 || c->col >= n_in) return CT_E_RANGE;
            return (c->value < -1 || c->value > 1) ? CT_E_RANGE : CT_OK;
        case CT_CAND_BIAS: {
            if (c->row < 0 || c->row >= n_out) return CT_E_RANGE;
            const int64_t nb = (int64_t)t->bias[c->layer][c->row] + c->value;
            return (nb > CT_MAX_BIAS || nb < -CT_MAX_BIAS) ? CT_E_RANGE : CT_OK;
        }
        case CT_CAND_SHIFT: {
            if (ct_is_output(t, c->layer)) return CT_E_RANGE;
            const int64_t ns = (int64_t)t->shift[c->layer] + c->value;
            return (ns < 0 || ns > CT_MAX_SHIFT) ? CT_E_RANGE : CT_OK;
        }
        default:
            return CT_E_RANGE;
    }
}

static double total_from_caches(ct_trainer *t) {
    double total = 0.0;
    for (int32_t b = 0; b < t->batch; ++b) total += t->loss[b];
    return total;
}

/* The output-row check without the table (tiny temperatures, bias steps):
 * the same loss, with one exp per touched sample. */
static double out_delta_slow(const ct_trainer *t, const int32_t *z, const int8_t *src, int32_t d,
                             int32_t j) {
    double sum = 0.0;
    for (int32_t b = 0; b < t->batch; ++b) {
        if (src[b] == 0) continue;
        const int32_t zn = z[b] + d * (int32_t)src[b];
        const double a = (double)(zn - t->zmax[b]) * t->inv_t;
        const double sm = t->sminus[(int64_t)j * t->cap + b];
        const double lse = a <= 0.0 ? ct_log(sm + ct_exp(a)) : a + ct_log(1.0 + sm * ct_exp(-a));
        const int32_t zyn = (t->y[b] == j) ? zn : t->zy[b];
        sum += lse + (double)(t->zmax[b] - zyn) * t->inv_t - t->loss[b];
    }
    return sum;
}

/* New loss minus old of sample b whose logits move by dz[0..C): from the
 * cached exponentials and the table when every move fits it. */
static double sample_change(const ct_trainer *t, int32_t b, const int32_t *dz, int32_t *znew) {
    const int32_t classes = t->sizes[t->n_layers];
    const int64_t cap = t->cap;
    const int32_t *logit = t->acc[t->n_layers - 1];
    int fits = t->tab_ok;
    for (int32_t k = 0; k < classes && fits; ++k) fits = dz[k] >= -CT_TAB && dz[k] <= CT_TAB;
    if (fits) {
        double s = 0.0;
        for (int32_t k = 0; k < classes; ++k) s += t->ecache[k * cap + b] * t->tab[dz[k]];
        return ct_log(s) - t->lns[b] - (double)dz[t->y[b]] * t->inv_t;
    }
    for (int32_t k = 0; k < classes; ++k) znew[k] = logit[k * cap + b] + dz[k];
    return ct_train_sample_loss(t, znew, t->y[b]) - t->loss[b];
}

/* dvec[0 .. n_out) = the change of layer m's pre-activations of the sample
 * listed s-th in stage `in`. */
static void stage_change(const ct_trainer *t, const ct_stage *in, int32_t m, int32_t s,
                         int32_t *dvec) {
    const int32_t n_out = t->sizes[m + 1];
    memset(dvec, 0, sizeof(int32_t) * (size_t)n_out);
    for (int32_t p = in->off[s]; p < in->off[s + 1]; ++p) {
        const int8_t *col = t->wt[m] + (int64_t)in->neuron[p] * n_out;
        const int32_t dk = in->dact[p];
        for (int32_t q = 0; q < n_out; ++q) dvec[q] += col[q] * dk;
    }
}

/* Applying a change whose check is done: every listed sample's logits move
 * and its loss cache is refreshed, each sample on its own, so the samples
 * are split between the threads of the step (ct_train_par_for). */
typedef struct logit_commit {
    const ct_stage *in; /* stage into the output layer m */
    int32_t m;
    int32_t *row; /* or one logit row moving by d * src[b] */
    const int8_t *src;
    int32_t d;
} logit_commit;

static void stage_commit_range(void *ctx, ct_trainer *v, int32_t s0, int32_t s1) {
    const logit_commit *c = (const logit_commit *)ctx;
    const int64_t cap = v->cap;
    const int32_t n_out = v->sizes[c->m + 1];
    int32_t *acc = v->acc[c->m];
    for (int32_t s = s0; s < s1; ++s) {
        const int32_t b = c->in->sample[s];
        stage_change(v, c->in, c->m, s, v->dvec);
        for (int32_t q = 0; q < n_out; ++q) acc[q * cap + b] += v->dvec[q];
        ct_train_refresh_sample(v, b);
    }
}

static void row_commit_range(void *ctx, ct_trainer *v, int32_t b0, int32_t b1) {
    const logit_commit *c = (const logit_commit *)ctx;
    for (int32_t b = b0; b < b1; ++b) {
        if (c->src[b] == 0) continue;
        c->row[b] += c->d * (int32_t)c->src[b];
        ct_train_refresh_sample(v, b);
    }
}

/* requant_diff over the samples listed in bits (the nonzero ones of src):
 * the pairs the row kernel would give, in the same order. */
static int32_t requant_diff_list(const int32_t *acc, const int8_t *src, const uint64_t *bits,
                                 int32_t d, int32_t n, int32_t shift, int32_t act_max,
                                 const int8_t *act, int32_t *idx, int32_t *da) {
    int32_t m = 0;
    for (int32_t w = 0; w * 64 < n; ++w) {
        for (uint64_t word = ct_list_word(bits, w, n); word != 0; word &= word - 1) {
            const int32_t b = w * 64 + ct_ctz64(word);
            const int32_t v = ct_rq(acc[b] + d * (int32_t)src[b], shift, act_max);
            idx[m] = b;
            da[m] = v - act[b];
            m += v != act[b];
        }
    }
    return m;
}

static void axpy_list(int32_t *acc, const int8_t *src, const uint64_t *bits, int32_t d, int32_t n) {
    for (int32_t w = 0; w * 64 < n; ++w) {
        for (uint64_t word = ct_list_word(bits, w, n); word != 0; word &= word - 1) {
            const int32_t b = w * 64 + ct_ctz64(word);
            acc[b] += d * (int32_t)src[b];
        }
    }
}

/* Carries the activation changes listed in stage s_in (changes of layer
 * m - 1) through layers m, m+1, ... to the loss. Returns the loss change. */
static double propagate(ct_trainer *t, int32_t m, int s_in, int commit) {
    const int64_t cap = t->cap;
    int32_t *dvec = t->dvec;
    for (;;) {
        const ct_stage *in = &t->st[s_in];
        ct_stage *out = &t->st[1 - s_in];
        const int32_t n_out = t->sizes[m + 1];
        const int output = ct_is_output(t, m);
        if (output && commit) { /* the check computed the change; apply needs none */
            logit_commit c = {in, m, NULL, NULL, 0};
            ct_train_par_for(t, in->n, stage_commit_range, &c);
            t->total = total_from_caches(t);
            return 0.0;
        }
        int32_t *acc = t->acc[m];
        int8_t *act = t->act[m];
        double sum = 0.0;
        int32_t pairs = 0;
        out->n = 0;
        out->off[0] = 0;
        for (int32_t s = 0; s < in->n; ++s) {
            const int32_t b = in->sample[s];
            stage_change(t, in, m, s, dvec);
            if (output) {
                sum += sample_change(t, b, dvec, t->znew);
                continue;
            }
            const int32_t start = pairs;
            for (int32_t q = 0; q < n_out; ++q) {
                if (dvec[q] == 0) continue;
                const int32_t na = acc[q * cap + b] + dvec[q];
                const int32_t nv = ct_rq(na, t->shift[m], t->act_max[m]);
                const int32_t old = act[q * cap + b];
                if (commit) {
                    acc[q * cap + b] = na;
                    act[q * cap + b] = (int8_t)nv;
                }
                if (nv != old) {
                    out->neuron[pairs] = q;
                    out->dact[pairs] = nv - old;
                    ++pairs;
                }
            }
            if (pairs > start) {
                out->sample[out->n] = b;
                out->off[++out->n] = pairs;
            }
        }
        if (output) return sum;
        if (out->n == 0) return 0.0;
        s_in = 1 - s_in;
        ++m;
    }
}

/* Pre-activation row j of layer l moves by d * src[b]; bits, when not NULL,
 * lists the samples where src is nonzero (a first-layer input's list). */
static double neuron_change(ct_trainer *t, int32_t l, int32_t j, const int8_t *src,
                            const uint64_t *bits, int32_t d, int commit) {
    const int64_t cap = t->cap;
    const int32_t batch = t->batch;
    int32_t *row = t->acc[l] + j * cap;
    if (ct_is_output(t, l)) {
        if (commit) { /* applied after its check: the change is known, only the caches move */
            logit_commit c = {NULL, l, row, src, d};
            ct_train_par_for(t, batch, row_commit_range, &c);
            t->total = total_from_caches(t);
            return 0.0;
        }
        return (t->tab_ok && d >= -2 && d <= 2)
                   ? t->ce_out_delta(src, d, batch, t->y, j, t->ecache + j * cap,
                                     t->sminus + j * cap, t->lns, t->tab, t->inv_t)
                   : out_delta_slow(t, row, src, d, j);
    }
    const int32_t n1 = bits != NULL
                           ? requant_diff_list(row, src, bits, d, batch, t->shift[l], t->act_max[l],
                                               t->act[l] + j * cap, t->idx, t->da)
                           : t->requant_diff(row, src, d, batch, t->shift[l], t->act_max[l],
                                             t->act[l] + j * cap, t->idx, t->da);
    if (commit) {
        if (bits != NULL) {
            axpy_list(row, src, bits, d, batch);
        } else {
            t->axpy(row, src, d, batch);
        }
        int8_t *arow = t->act[l] + j * cap;
        for (int32_t s = 0; s < n1; ++s) arow[t->idx[s]] = (int8_t)(arow[t->idx[s]] + t->da[s]);
    }
    if (n1 == 0) return 0.0;
    if (!commit && t->tab_ok && l == t->n_layers - 2) { /* the common case: straight to logits */
        const int32_t classes = t->sizes[t->n_layers];
        return t->ce_last_hidden_delta(t->idx, t->da, n1, t->wt[l + 1] + (int64_t)j * classes,
                                       classes, t->ecache_s, t->lns, t->y, t->tab, t->inv_t);
    }
    ct_stage *st = &t->st[0];
    st->n = n1;
    for (int32_t s = 0; s < n1; ++s) {
        st->sample[s] = t->idx[s];
        st->off[s] = s;
        st->neuron[s] = j;
        st->dact[s] = t->da[s];
    }
    st->off[n1] = n1;
    return propagate(t, l + 1, 0, commit);
}

/* A shift change moves every activation of the layer: recompute downstream
 * into the alternative buffers (shift candidates are few), and swap them in
 * on commit. */
static double shift_change(ct_trainer *t, int32_t l, int32_t new_shift, int commit) {
    int32_t *accs[CT_MAX_LAYERS];
    int8_t *acts[CT_MAX_LAYERS];
    for (int32_t m = 0; m < t->n_layers; ++m) {
        accs[m] = m <= l ? t->acc[m] : t->alt_acc[m];
        acts[m] = m < l ? t->act[m] : t->alt_act[m];
    }
    ct_train_forward_from(t, l, new_shift, accs, acts);
    const int32_t last = t->n_layers - 1, classes = t->sizes[t->n_layers];
    const int64_t cap = t->cap;
    double sum = 0.0;
    for (int32_t b = 0; b < t->batch; ++b) {
        for (int32_t k = 0; k < classes; ++k) t->dvec[k] = accs[last][k * cap + b];
        sum += ct_train_sample_loss(t, t->dvec, t->y[b]) - t->loss[b];
    }
    if (commit) {
        for (int32_t m = l; m < t->n_layers; ++m) {
            if (m > l) {
                int32_t *a = t->acc[m];
                t->acc[m] = t->alt_acc[m];
                t->alt_acc[m] = a;
            }
            if (!ct_is_output(t, m)) {
                int8_t *v = t->act[m];
                t->act[m] = t->alt_act[m];
                t->alt_act[m] = v;
            }
        }
        t->shift[l] = new_shift;
        ct_train_refresh_all(t);
    }
    return sum;
}

double ct_train_delta_unchecked(ct_trainer *t, const ct_candidate *c, int commit) {
    const int32_t l = c->layer;
    const int64_t cap = t->cap;
    if (c->kind == CT_CAND_SHIFT) {
        if (c->value == 0) return 0.0;
        return shift_change(t, l, t->shift[l] + c->value, commit);
    }
    if (c->kind == CT_CAND_BIAS) {
        if (c->value == 0) return 0.0;
        const double delta = neuron_change(t, l, c->row, t->ones, NULL, c->value, commit);
        if (commit) t->bias[l][c->row] += c->value;
        return delta;
    }
    const int32_t n_in = t->sizes[l], n_out = t->sizes[l + 1];
    int8_t *w = t->w[l] + (int64_t)c->row * n_in + c->col;
    const int32_t d = c->value - *w;
    if (d == 0) return 0.0;
    const int8_t *src = (l == 0 ? t->x : t->act[l - 1]) + c->col * cap;
    const uint64_t *bits = l == 0 && (int64_t)t->xnz[c->col] * CT_LIST_RATIO <= t->batch
                               ? t->xbits + (int64_t)c->col * t->words
                               : NULL;
    const double delta = neuron_change(t, l, c->row, src, bits, d, commit);
    if (commit) {
        *w = (int8_t)c->value;
        if (t->wt[l] != NULL) t->wt[l][(int64_t)c->col * n_out + c->row] = (int8_t)c->value;
    }
    return delta;
}

ct_status ct_train_delta(ct_trainer *t, const ct_candidate *c, double *delta) {
    if (t == NULL || c == NULL || delta == NULL) return CT_E_NULL;
    if (!t->valid) return CT_E_STATE;
    const ct_status st = ct_train_check_candidate(t, c);
    if (st != CT_OK) return st;
    *delta = ct_train_delta_unchecked(t, c, 0);
    return CT_OK;
}

ct_status ct_train_apply(ct_trainer *t, const ct_candidate *c) {
    if (t == NULL || c == NULL) return CT_E_NULL;
    if (!t->valid) return CT_E_STATE;
    const ct_status st = ct_train_check_candidate(t, c);
    if (st != CT_OK) return st;
    (void)ct_train_delta_unchecked(t, c, 1);
    return CT_OK;
}
