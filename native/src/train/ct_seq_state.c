/*
 * The chain trainer's state: stages, parameters, the batch, the forward pass
 * that fills the caches, and the loss cache.
 *
 * The forward pass runs the inference kernels (ct_conv_acc_mt, the dense
 * GEMM) on chunks of samples converted to the layout they read, so a cache
 * holds exactly what the shipped network computes; the conversions are
 * linear in the tensors and cost little next to the convolutions.
 */
#include <stdlib.h>
#include <string.h>

#include "train/ct_seq_internal.h"

enum { CT_SEQ_CHUNK = 128 }; /* samples per forward chunk: bounds the scratch */

static void *zalloc(int64_t bytes) {
    return calloc(1, (size_t)(bytes > 0 ? bytes : 1));
}

static void free_work(ct_seq_work *w, int32_t n_stages) {
    for (int32_t l = 0; l < n_stages; ++l) {
        free(w->dacc[l]);
        free(w->mark[l]);
        free(w->touched[l]);
        free(w->lidx[l]);
        free(w->ld[l]);
    }
    free(w->din);
    free(w->rowi);
    free(w->rowd);
    free(w->rowx);
    free(w->z);
    free(w->g[0]);
    free(w->g[1]);
    free(w->gw);
    free(w->gb);
}

void ct_seq_free(ct_seq *s) {
    if (s == NULL) return;
    for (int32_t l = 0; l < s->n_stages; ++l) {
        ct_seq_stage *st = &s->st[l];
        free(st->perm);
        free(st->w);
        free(st->wt);
        free(st->bias);
        free(st->acc);
        free(st->act);
        free(st->packed);
        free(st->reach_off);
        free(st->reach_op);
        free(st->reach_tap);
    }
    if (s->work != NULL) {
        for (int32_t i = 0; i < s->n_work; ++i) free_work(&s->work[i], s->n_stages);
        free(s->work);
    }
    free(s->x);
    free(s->y);
    free(s->loss);
    free(s->dsamp);
    free(s->ones);
    free(s);
}

static int alloc_work(ct_seq *s, ct_seq_work *w) {
    for (int32_t l = 0; l < s->n_stages; ++l) {
        const int64_t n = s->st[l].out_n;
        w->dacc[l] = zalloc(4 * n);
        w->mark[l] = zalloc(n);
        w->touched[l] = zalloc(4 * n);
        w->lidx[l] = zalloc(4 * n);
        w->ld[l] = zalloc(4 * n);
        if (!w->dacc[l] || !w->mark[l] || !w->touched[l] || !w->lidx[l] || !w->ld[l]) return 0;
    }
    w->din = zalloc(4 * (int64_t)s->max_n);
    w->rowi = zalloc(4 * (int64_t)s->max_row);
    w->rowd = zalloc(4 * (int64_t)s->max_row);
    w->rowx = zalloc(s->max_row);
    w->z = zalloc(4 * (int64_t)s->classes);
    w->g[0] = zalloc(8 * (int64_t)s->max_n);
    w->g[1] = zalloc(8 * (int64_t)s->max_n);
    w->gw = zalloc(8 * s->n_weights);
    w->gb = zalloc(8 * s->n_biases);
    return w->din && w->rowi && w->rowd && w->rowx && w->z && w->g[0] && w->g[1] && w->gw && w->gb;
}

/* Stage from one conv2d / maxpool2d / dense layer reading tensor (h, w, c). */
static void init_stage(ct_seq_stage *st, const ct_layer *ly, int32_t h, int32_t w, int32_t c) {
    memset(st, 0, sizeof *st);
    st->in_h = h;
    st->in_w = w;
    st->in_c = c;
    st->in_n = h * w * c;
    st->param = -1;
    if (ly->kind == CT_LAYER_DENSE) {
        st->kind = CT_SEQ_DENSE;
        st->out_h = st->out_w = 1;
        st->out_c = ly->n_out;
        st->k = st->in_n;
        st->geo.kind = CT_LAYER_DENSE;
        st->geo.n_in = st->in_n;
        st->geo.n_out = ly->n_out;
    } else {
        st->kind = ly->kind == CT_LAYER_CONV2D ? CT_SEQ_CONV : CT_SEQ_POOL;
        st->kh = ly->kh;
        st->kw = ly->kw;
        st->sh = ly->stride_h;
        st->sw = ly->stride_w;
        st->out_h = (h + ly->pad_top + ly->pad_bottom - ly->kh) / ly->stride_h + 1;
        st->out_w = (w + ly->pad_left + ly->pad_right - ly->kw) / ly->stride_w + 1;
        st->out_c = st->kind == CT_SEQ_CONV ? ly->out_c : c;
        st->geo = *ly;
        if (st->kind == CT_SEQ_CONV) {
            st->pt = ly->pad_top;
            st->pl = ly->pad_left;
            st->depthwise = ly->groups > 1;
            st->g = st->depthwise ? 1 : c;
            st->k = ly->kh * ly->kw * st->g;
        }
    }
    st->out_n = st->out_h * st->out_w * st->out_c;
    st->shift = ly->shift;
    st->act_bits = ly->act_bits ? ly->act_bits : 7;
    st->act_max = (1 << st->act_bits) - 1;
}

/* The reach lists of a conv or pool stage (ct_seq_internal.h): input
 * position (iy, ix) is read by output (oy, ox) through tap (ky, kx) when
 * iy = oy * sh + ky - pt and likewise for x. */
static ct_status build_reach(ct_seq_stage *st) {
    const int32_t hw_in = st->in_h * st->in_w, taps = st->kh * st->kw;
    st->reach_off = zalloc(4 * ((int64_t)hw_in + 1));
    st->reach_op = zalloc(4 * (int64_t)hw_in * taps);
    st->reach_tap = zalloc(4 * (int64_t)hw_in * taps);
    if (!st->reach_off || !st->reach_op || !st->reach_tap) return CT_E_NOMEM;
    int32_t n = 0;
    for (int32_t p = 0; p < hw_in; ++p) {
        st->reach_off[p] = n;
        const int32_t iy = p / st->in_w, ix = p % st->in_w;
        for (int32_t ky = 0; ky < st->kh; ++ky) {
            const int32_t ty = iy + st->pt - ky;
            if (ty < 0 || ty % st->sh != 0 || ty / st->sh >= st->out_h) continue;
            for (int32_t kx = 0; kx < st->kw; ++kx) {
                const int32_t tx = ix + st->pl - kx;
                if (tx < 0 || tx % st->sw != 0 || tx / st->sw >= st->out_w) continue;
                st->reach_op[n] = (ty / st->sh) * st->out_w + tx / st->sw;
                st->reach_tap[n++] = ky * st->kw + kx;
            }
        }
    }
    st->reach_off[hw_in] = n;
    return CT_OK;
}

static ct_status alloc_stage(ct_seq_stage *st, int64_t cap) {
    if (st->kind != CT_SEQ_DENSE) {
        const ct_status rc = build_reach(st);
        if (rc != CT_OK) return rc;
    }
    if (st->kind != CT_SEQ_POOL) {
        const int64_t rows = st->out_c, k = st->k;
        st->w = zalloc(rows * k);
        st->wt = zalloc(rows * k);
        st->bias = zalloc(4 * rows);
        st->packed = zalloc(ct_t2_packed_bytes((int32_t)rows, (int32_t)k));
        st->acc = zalloc(4 * cap * st->out_n);
        if (!st->w || !st->wt || !st->bias || !st->packed || !st->acc) return CT_E_NOMEM;
        st->geo.w = st->packed;
        st->geo.bias = st->bias;
        if (st->kind == CT_SEQ_DENSE && st->in_h * st->in_w > 1 && st->in_c > 1) {
            st->perm = zalloc(4 * (int64_t)st->in_n);
            if (!st->perm) return CT_E_NOMEM;
            const int32_t hw = st->in_h * st->in_w;
            for (int32_t i = 0; i < st->in_n; ++i) st->perm[i] = (i % st->in_c) * hw + i / st->in_c;
        }
    }
    if (!st->output) {
        st->act = zalloc(cap * st->out_n);
        if (!st->act) return CT_E_NOMEM;
    }
    return CT_OK;
}

ct_status ct_seq_new(const ct_layer *layers, int32_t n_layers, int32_t batch_cap, ct_seq **out) {
    if (out == NULL) return CT_E_NULL;
    *out = NULL;
    ct_status st = ct_init();
    if (st != CT_OK) return st;
    st = ct_net_check(layers, n_layers);
    if (st != CT_OK) return st;
    if (batch_cap < 1) return CT_E_SHAPE;
    ct_seq *s = zalloc(sizeof *s);
    if (s == NULL) return CT_E_NOMEM;
    s->cap = batch_cap;
    const ct_layer *l0 = &layers[0];
    int32_t h = 1, w = 1, c = l0->n_in;
    if (l0->kind != CT_LAYER_DENSE) {
        h = l0->in_h;
        w = l0->in_w;
        c = l0->in_c;
    }
    s->in_h = h;
    s->in_w = w;
    s->in_c = c;
    s->in_n = h * w * c;
    s->max_n = s->in_n;
    s->max_row = 1;
    for (int32_t i = 0; i < n_layers; ++i) {
        if (layers[i].kind == CT_LAYER_FLATTEN) continue; /* the dense stage reads (h, w, c) */
        ct_seq_stage *sg = &s->st[s->n_stages];
        init_stage(sg, &layers[i], h, w, c);
        if (sg->out_h > CT_SEQ_MAX_ROWS) {
            free(s);
            return CT_E_SHAPE;
        }
        sg->output = i == n_layers - 1;
        if (sg->kind != CT_SEQ_POOL) {
            sg->param = s->n_params;
            s->pstage[s->n_params++] = s->n_stages;
            s->n_weights += (int64_t)sg->out_c * sg->k;
            s->n_biases += sg->out_c;
        }
        if (sg->output) sg->shift = -1;
        h = sg->out_h;
        w = sg->out_w;
        c = sg->out_c;
        s->max_n = sg->out_n > s->max_n ? sg->out_n : s->max_n;
        s->max_row = sg->out_w > s->max_row ? sg->out_w : s->max_row;
        s->n_stages++;
    }
    s->classes = s->st[s->n_stages - 1].out_c;
    for (int32_t l = 0; l < s->n_stages; ++l) {
        st = alloc_stage(&s->st[l], batch_cap);
        if (st != CT_OK) {
            ct_seq_free(s);
            return st;
        }
    }
    const int64_t cap = batch_cap;
    s->x = zalloc(cap * s->in_n);
    s->y = zalloc(4 * cap);
    s->loss = zalloc(8 * cap);
    s->dsamp = zalloc(8 * cap);
    s->ones = zalloc(s->max_row);
    s->n_work = ct_num_threads();
    s->work = zalloc((int64_t)sizeof(ct_seq_work) * s->n_work);
    if (!s->x || !s->y || !s->loss || !s->dsamp || !s->ones || !s->work) {
        ct_seq_free(s);
        return CT_E_NOMEM;
    }
    memset(s->ones, 1, (size_t)s->max_row);
    for (int32_t i = 0; i < s->n_work; ++i) {
        if (!alloc_work(s, &s->work[i])) {
            ct_seq_free(s);
            return CT_E_NOMEM;
        }
    }
    s->axpy = ct_active_entry(CT_FAMILY_TRAIN_AXPY)->fn.train_axpy;
    s->requant_diff = ct_active_entry(CT_FAMILY_TRAIN_REQUANT_DIFF)->fn.train_requant_diff;
    s->inv_t = 1.0;
    *out = s;
    return CT_OK;
}

ct_status ct_seq_params(const ct_seq *s, int32_t *n_params) {
    if (s == NULL || n_params == NULL) return CT_E_NULL;
    *n_params = s->n_params;
    return CT_OK;
}

ct_status ct_seq_param_shape(const ct_seq *s, int32_t layer, int32_t *rows, int32_t *cols,
                             int32_t *is_output) {
    if (s == NULL || rows == NULL || cols == NULL || is_output == NULL) return CT_E_NULL;
    if (layer < 0 || layer >= s->n_params) return CT_E_RANGE;
    const ct_seq_stage *st = &s->st[s->pstage[layer]];
    *rows = st->out_c;
    *cols = st->k;
    *is_output = st->output;
    return CT_OK;
}

ct_status ct_seq_set_layer(ct_seq *s, int32_t layer, const int8_t *w, const int32_t *bias,
                           int32_t shift) {
    if (s == NULL || w == NULL || bias == NULL) return CT_E_NULL;
    if (layer < 0 || layer >= s->n_params) return CT_E_RANGE;
    ct_seq_stage *st = &s->st[s->pstage[layer]];
    const int64_t rows = st->out_c, k = st->k;
    for (int64_t i = 0; i < rows * k; ++i) {
        if (w[i] < -1 || w[i] > 1) return CT_E_RANGE;
    }
    for (int64_t j = 0; j < rows; ++j) {
        if (bias[j] > CT_MAX_BIAS || bias[j] < -CT_MAX_BIAS) return CT_E_RANGE;
    }
    if (!st->output && (shift < 0 || shift > CT_MAX_SHIFT)) return CT_E_RANGE;
    for (int64_t j = 0; j < rows; ++j) {
        for (int64_t i = 0; i < k; ++i) {
            const int64_t col = st->perm != NULL ? st->perm[i] : i;
            st->w[j * k + col] = w[j * k + i];
        }
    }
    for (int64_t j = 0; j < rows; ++j) {
        for (int64_t i = 0; i < k; ++i) st->wt[i * rows + j] = st->w[j * k + i];
    }
    memcpy(st->bias, bias, sizeof(int32_t) * (size_t)rows);
    if (!st->output) st->shift = shift;
    st->packed_ok = 0;
    s->valid = 0;
    return CT_OK;
}

ct_status ct_seq_get_layer(const ct_seq *s, int32_t layer, int8_t *w, int32_t *bias,
                           int32_t *shift) {
    if (s == NULL || w == NULL || bias == NULL || shift == NULL) return CT_E_NULL;
    if (layer < 0 || layer >= s->n_params) return CT_E_RANGE;
    const ct_seq_stage *st = &s->st[s->pstage[layer]];
    const int64_t rows = st->out_c, k = st->k;
    for (int64_t j = 0; j < rows; ++j) {
        for (int64_t i = 0; i < k; ++i) {
            const int64_t col = st->perm != NULL ? st->perm[i] : i;
            w[j * k + i] = st->w[j * k + col];
        }
    }
    memcpy(bias, st->bias, sizeof(int32_t) * (size_t)rows);
    *shift = st->shift;
    return CT_OK;
}

ct_status ct_seq_set_act_bits(ct_seq *s, int32_t layer, int32_t act_bits) {
    if (s == NULL) return CT_E_NULL;
    if (layer < 0 || layer >= s->n_params) return CT_E_RANGE;
    ct_seq_stage *st = &s->st[s->pstage[layer]];
    if (st->output || (act_bits != 1 && act_bits != 2 && act_bits != 4 && act_bits != 7)) {
        return CT_E_RANGE;
    }
    st->act_bits = act_bits;
    st->act_max = (1 << act_bits) - 1;
    s->valid = 0;
    return CT_OK;
}

/* ---- the forward pass ---------------------------------------------------- */

static void pool_forward(const ct_seq_stage *st, const int8_t *in, int8_t *out, int32_t n) {
    const int32_t hw_in = st->in_h * st->in_w, hw_out = st->out_h * st->out_w;
    for (int32_t b = 0; b < n; ++b) {
        const int8_t *xi = in + (int64_t)b * st->in_n;
        int8_t *yo = out + (int64_t)b * st->out_n;
        for (int32_t c = 0; c < st->out_c; ++c) {
            for (int32_t oy = 0; oy < st->out_h; ++oy) {
                for (int32_t ox = 0; ox < st->out_w; ++ox) {
                    int8_t m = 0; /* activations are >= 0 */
                    for (int32_t ky = 0; ky < st->kh; ++ky) {
                        const int8_t *row = xi + (int64_t)c * hw_in +
                                            (int64_t)(oy * st->sh + ky) * st->in_w + ox * st->sw;
                        for (int32_t kx = 0; kx < st->kw; ++kx) m = row[kx] > m ? row[kx] : m;
                    }
                    yo[(int64_t)c * hw_out + oy * st->out_w + ox] = m;
                }
            }
        }
    }
}

static int pack(ct_seq_stage *st) {
    if (st->packed_ok) return 1;
    const int64_t bytes = ct_t2_packed_bytes(st->out_c, st->k);
    if (ct_t2_pack(st->w, st->out_c, st->k, st->packed, bytes) != CT_OK) return 0;
    st->geo.shift = st->output ? st->geo.shift : st->shift;
    st->geo.act_bits = st->output ? st->geo.act_bits : st->act_bits;
    st->packed_ok = 1;
    return 1;
}

/* acc (planar, n samples) of a conv or dense stage from its planar input. */
static ct_status acc_chunk(ct_seq_stage *st, const int8_t *in, int32_t n, int32_t *acc, int8_t *tin,
                           int32_t *tacc, void *scratch, int64_t scratch_bytes) {
    const int32_t threads = ct_num_threads();
    if (st->kind == CT_SEQ_DENSE) {
        const int64_t kp = ct_t2_padded_k(st->in_n);
        memset(tin, 0, (size_t)(kp * n));
        for (int32_t b = 0; b < n; ++b) {
            memcpy(tin + b * kp, in + (int64_t)b * st->in_n, (size_t)st->in_n);
        }
        ct_dense_run(&st->geo, tin, (int32_t)kp, n, acc, threads);
        return CT_OK;
    }
    const int32_t hw_in = st->in_h * st->in_w, hw_out = st->out_h * st->out_w;
    for (int32_t b = 0; b < n; ++b) { /* planar -> NHWC */
        const int8_t *src = in + (int64_t)b * st->in_n;
        int8_t *dst = tin + (int64_t)b * st->in_n;
        for (int32_t c = 0; c < st->in_c; ++c) {
            for (int32_t p = 0; p < hw_in; ++p) dst[(int64_t)p * st->in_c + c] = src[c * hw_in + p];
        }
    }
    const ct_status rc = ct_conv_acc_mt(&st->geo, tin, n, tacc, scratch, scratch_bytes, threads);
    if (rc != CT_OK) return rc;
    for (int32_t b = 0; b < n; ++b) { /* NHWC -> planar */
        const int32_t *src = tacc + (int64_t)b * st->out_n;
        int32_t *dst = acc + (int64_t)b * st->out_n;
        for (int32_t p = 0; p < hw_out; ++p) {
            for (int32_t c = 0; c < st->out_c; ++c) dst[c * hw_out + p] = src[p * st->out_c + c];
        }
    }
    return CT_OK;
}

ct_status ct_seq_forward_into(ct_seq *s, int32_t l0, int32_t new_shift, int32_t **acc,
                              int8_t **act) {
    int64_t tin_bytes = 0, tacc_bytes = 0, scratch_bytes = 0;
    for (int32_t l = l0; l < s->n_stages; ++l) {
        ct_seq_stage *st = &s->st[l];
        if (st->kind == CT_SEQ_POOL) continue;
        if (!pack(st)) return CT_E_RANGE;
        const int64_t kp = st->kind == CT_SEQ_DENSE ? ct_t2_padded_k(st->in_n) : st->in_n;
        tin_bytes = kp * CT_SEQ_CHUNK > tin_bytes ? kp * CT_SEQ_CHUNK : tin_bytes;
        if (st->kind == CT_SEQ_CONV) {
            int64_t sb = 0;
            const ct_status rc = ct_layer_scratch_bytes(&st->geo, CT_SEQ_CHUNK, &sb);
            if (rc != CT_OK) return rc;
            scratch_bytes = sb > scratch_bytes ? sb : scratch_bytes;
            const int64_t ab = 4 * (int64_t)st->out_n * CT_SEQ_CHUNK;
            tacc_bytes = ab > tacc_bytes ? ab : tacc_bytes;
        }
    }
    int8_t *tin = malloc((size_t)(tin_bytes + 1));
    int32_t *tacc = malloc((size_t)(tacc_bytes + 4));
    void *scratch = malloc((size_t)(scratch_bytes + 1));
    ct_status rc = (tin && tacc && scratch) ? CT_OK : CT_E_NOMEM;
    for (int32_t b0 = 0; rc == CT_OK && b0 < s->batch; b0 += CT_SEQ_CHUNK) {
        const int32_t n = s->batch - b0 < CT_SEQ_CHUNK ? s->batch - b0 : CT_SEQ_CHUNK;
        for (int32_t l = l0; rc == CT_OK && l < s->n_stages; ++l) {
            ct_seq_stage *st = &s->st[l];
            const int8_t *in =
                l > l0 ? act[l - 1] + (int64_t)b0 * s->st[l - 1].out_n : ct_seq_input(s, l, b0);
            const int64_t off = (int64_t)b0 * st->out_n;
            if (st->kind == CT_SEQ_POOL) {
                pool_forward(st, in, act[l] + off, n);
                continue;
            }
            int32_t shift = st->shift;
            const int32_t *a = acc[l] + off;
            if (l == l0 && new_shift >= 0) {
                shift = new_shift;
                a = st->acc + off;
            } else {
                rc = acc_chunk(st, in, n, acc[l] + off, tin, tacc, scratch, scratch_bytes);
            }
            if (rc == CT_OK && !st->output) {
                rc = ct_requantize_bits(a, n, st->out_n, shift, st->act_bits, act[l] + off,
                                        st->out_n);
            }
        }
    }
    free(tin);
    free(tacc);
    free(scratch);
    return rc;
}

void ct_seq_refresh_losses(ct_seq *s) {
    const ct_seq_stage *out = &s->st[s->n_stages - 1];
    double total = 0.0;
    for (int32_t b = 0; b < s->batch; ++b) {
        s->loss[b] =
            ct_seq_sample_loss(out->acc + (int64_t)b * s->classes, s->classes, s->y[b], s->inv_t);
        total += s->loss[b];
    }
    s->total = total;
}

ct_status ct_seq_recompute(ct_seq *s) {
    if (s == NULL) return CT_E_NULL;
    if (s->batch == 0) return CT_E_STATE;
    int32_t *acc[CT_MAX_LAYERS];
    int8_t *act[CT_MAX_LAYERS];
    for (int32_t l = 0; l < s->n_stages; ++l) {
        acc[l] = s->st[l].acc;
        act[l] = s->st[l].act;
    }
    const ct_status rc = ct_seq_forward_into(s, 0, -1, acc, act);
    if (rc != CT_OK) return rc;
    ct_seq_refresh_losses(s);
    s->valid = 1;
    return CT_OK;
}

static ct_status check_temperature(double temperature) {
    return (temperature > 0.0 && temperature < 1e300) ? CT_OK : CT_E_RANGE;
}

ct_status ct_seq_set_batch(ct_seq *s, const int8_t *x, const int32_t *y, int32_t batch,
                           double temperature) {
    if (s == NULL || x == NULL || y == NULL) return CT_E_NULL;
    if (batch < 1 || batch > s->cap) return CT_E_SHAPE;
    if (check_temperature(temperature) != CT_OK) return CT_E_RANGE;
    for (int32_t b = 0; b < batch; ++b) {
        if (y[b] < 0 || y[b] >= s->classes) return CT_E_RANGE;
    }
    const int64_t n = s->in_n, hw = (int64_t)s->in_h * s->in_w, c_in = s->in_c;
    for (int64_t i = 0; i < n * batch; ++i) {
        if (x[i] < 0) return CT_E_RANGE;
    }
    for (int32_t b = 0; b < batch; ++b) { /* NHWC -> planar */
        const int8_t *src = x + b * n;
        int8_t *dst = s->x + b * n;
        for (int64_t c = 0; c < c_in; ++c) {
            for (int64_t p = 0; p < hw; ++p) dst[c * hw + p] = src[p * c_in + c];
        }
    }
    memcpy(s->y, y, sizeof(int32_t) * (size_t)batch);
    s->batch = batch;
    s->inv_t = 1.0 / temperature;
    return ct_seq_recompute(s);
}

ct_status ct_seq_set_temperature(ct_seq *s, double temperature) {
    if (s == NULL) return CT_E_NULL;
    if (check_temperature(temperature) != CT_OK) return CT_E_RANGE;
    s->inv_t = 1.0 / temperature;
    if (s->valid) ct_seq_refresh_losses(s);
    return CT_OK;
}

ct_status ct_seq_loss(const ct_seq *s, double *loss) {
    if (s == NULL || loss == NULL) return CT_E_NULL;
    if (!s->valid) return CT_E_STATE;
    *loss = s->total;
    return CT_OK;
}

ct_status ct_seq_logits(const ct_seq *s, const int32_t **logits) {
    if (s == NULL || logits == NULL) return CT_E_NULL;
    if (!s->valid) return CT_E_STATE;
    *logits = s->st[s->n_stages - 1].acc;
    return CT_OK;
}

ct_status ct_seq_memory(const ct_seq *s, int64_t *parameters, int64_t *caches, int64_t *data) {
    if (s == NULL) return CT_E_NULL;
    int64_t p = 0, c = 0, scratch = 0;
    const int64_t cap = s->cap;
    for (int32_t l = 0; l < s->n_stages; ++l) {
        const ct_seq_stage *st = &s->st[l];
        if (st->kind != CT_SEQ_POOL) {
            p += 2 * (int64_t)st->out_c * st->k + 4 * (int64_t)st->out_c + 4 +
                 ct_t2_packed_bytes(st->out_c, st->k) + (st->perm ? 4 * (int64_t)st->in_n : 0);
            c += 4 * cap * st->out_n;
        }
        if (!st->output) c += cap * st->out_n;
        scratch += (4 + 1 + 4 + 4 + 4) * (int64_t)st->out_n;
    }
    scratch += 4 * (int64_t)s->max_n + 9 * (int64_t)s->max_row + 4 * (int64_t)s->classes +
               16 * (int64_t)s->max_n + 8 * (s->n_weights + s->n_biases);
    c += cap * (8 + 8) + s->max_row + scratch * s->n_work; /* loss, dsamp, ones, scratch */
    if (parameters != NULL) *parameters = p;
    if (caches != NULL) *caches = c;
    if (data != NULL) *data = cap * (s->in_n + 4);
    return CT_OK;
}
