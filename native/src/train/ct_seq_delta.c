/*
 * One sample's exact change under one candidate, for chains of layer kinds.
 *
 * The changed layer first: a conv2d weight moves one output channel of the
 * sample at every position by d times one shifted input plane, a bias by d
 * everywhere; each output row goes through the trainer's requant_diff kernel
 * (SIMD, ct_train_internal.h), which lists the activations that move. A
 * dense weight moves one accumulator. From there only the listed changes
 * travel: into a convolution (each adds to the out_c accumulators of the
 * positions whose window holds it), a pool (the windows that hold it take
 * their maximum again) or a dense layer (a column of its weights), and each
 * stage lists its own activations that move, down to the logits and the
 * sample's loss. Check (commit = 0) and application (commit = 1) run the
 * same code, so the caches after an application hold what the check saw.
 */
#include <string.h>

#include "train/ct_seq_internal.h"

ct_status ct_seq_check_candidate(const ct_seq *s, const ct_candidate *c) {
    if (c->layer < 0 || c->layer >= s->n_params) return CT_E_RANGE;
    const ct_seq_stage *st = &s->st[s->pstage[c->layer]];
    switch (c->kind) {
        case CT_CAND_WEIGHT:
            if (c->row < 0 || c->row >= st->out_c || c->col < 0 || c->col >= st->k) {
                return CT_E_RANGE;
            }
            return (c->value < -1 || c->value > 1) ? CT_E_RANGE : CT_OK;
        case CT_CAND_BIAS: {
            if (c->row < 0 || c->row >= st->out_c) return CT_E_RANGE;
            const int64_t nb = (int64_t)st->bias[c->row] + c->value;
            return (nb > CT_MAX_BIAS || nb < -CT_MAX_BIAS) ? CT_E_RANGE : CT_OK;
        }
        case CT_CAND_SHIFT: {
            if (st->output) return CT_E_RANGE;
            const int64_t ns = (int64_t)st->shift + c->value;
            return (ns < 0 || ns > CT_MAX_SHIFT) ? CT_E_RANGE : CT_OK;
        }
        default:
            return CT_E_RANGE;
    }
}

/* Appends the change (e, d) to stage l's list. */
static inline void push(ct_seq_work *w, int32_t l, int32_t e, int32_t d) {
    w->lidx[l][w->ln[l]] = e;
    w->ld[l][w->ln[l]++] = d;
}

/* Requantizes stage l's touched entries and lists the activations that
 * move; with commit the caches take the new values. For the output stage,
 * returns the sample's loss change instead. n_touched entries (keys) are in
 * w->touched[l]; dacc is reset to zero for the next use. */
static double settle(ct_seq *s, ct_seq_work *w, int32_t l, int32_t b, int32_t n_touched,
                     int commit) {
    ct_seq_stage *st = &s->st[l];
    int32_t *acc = st->acc + (int64_t)b * st->out_n;
    int8_t *act = st->output ? NULL : st->act + (int64_t)b * st->out_n;
    int32_t *dacc = w->dacc[l];
    w->ln[l] = 0;
    if (st->output) {
        int32_t *z = w->z;
        for (int32_t q = 0; q < st->out_c; ++q) {
            z[q] = acc[q] + dacc[q];
            dacc[q] = 0;
        }
        const double loss = ct_seq_sample_loss(z, s->classes, s->y[b], s->inv_t);
        const double delta = loss - s->loss[b];
        if (commit) {
            memcpy(acc, z, sizeof(int32_t) * (size_t)st->out_c);
            s->loss[b] = loss;
        }
        return delta;
    }
    if (st->kind == CT_SEQ_CONV && !st->depthwise) {
        const int32_t hw = st->out_h * st->out_w, oc = st->out_c;
        for (int32_t t = 0; t < n_touched; ++t) {
            const int32_t p = w->touched[l][t];
            int32_t *dp = dacc + (int64_t)p * oc;
            for (int32_t c = 0; c < oc; ++c) {
                if (dp[c] == 0) continue; /* unchanged: no read of the planar caches */
                const int32_t e = c * hw + p;
                const int32_t a = acc[e] + dp[c];
                const int32_t v = ct_rq(a, st->shift, st->act_max);
                if (v != act[e]) push(w, l, e, v - act[e]);
                if (commit) {
                    acc[e] = a;
                    act[e] = (int8_t)v;
                }
                dp[c] = 0;
            }
            w->mark[l][p] = 0;
        }
        return 0.0;
    }
    for (int32_t t = 0; t < n_touched; ++t) {
        const int32_t e = w->touched[l][t];
        const int32_t a = acc[e] + dacc[e];
        const int32_t v = ct_rq(a, st->shift, st->act_max);
        if (v != act[e]) push(w, l, e, v - act[e]);
        if (commit) {
            acc[e] = a;
            act[e] = (int8_t)v;
        }
        dacc[e] = 0;
        w->mark[l][e] = 0;
    }
    return 0.0;
}

/* Carries the changes listed for stage l - 1 (or, for l == 0, none: the
 * input never changes) into stage l. Returns the number of touched keys,
 * or for a pool the number of listed changes (a pool settles itself). */
static int32_t carry_conv(ct_seq *s, ct_seq_work *w, int32_t l) {
    const ct_seq_stage *st = &s->st[l];
    const int32_t hw_in = st->in_h * st->in_w, hw_out = st->out_h * st->out_w, oc = st->out_c;
    const int32_t *idx = w->lidx[l - 1], *dv = w->ld[l - 1];
    const int32_t n = w->ln[l - 1];
    int32_t nt = 0;
    int32_t *touched = w->touched[l];
    uint8_t *mark = w->mark[l];
    int32_t *dacc = w->dacc[l];
    for (int32_t i = 0; i < n; ++i) {
        const int32_t ci = idx[i] / hw_in, p = idx[i] - ci * hw_in, d = dv[i];
        for (int32_t r = st->reach_off[p]; r < st->reach_off[p + 1]; ++r) {
            const int32_t op = st->reach_op[r], tap = st->reach_tap[r];
            if (st->depthwise) {
                const int8_t wv = st->w[(int64_t)ci * st->k + tap];
                if (wv == 0) continue;
                const int32_t e = ci * hw_out + op;
                if (!mark[e]) {
                    mark[e] = 1;
                    touched[nt++] = e;
                }
                dacc[e] += wv * d;
                continue;
            }
            if (!mark[op]) {
                mark[op] = 1;
                touched[nt++] = op;
            }
            /* the out_c weights from this input through this tap: the
             * trainer's axpy kernel (SIMD) adds them times d */
            s->axpy(dacc + (int64_t)op * oc, st->wt + ((int64_t)tap * st->g + ci) * oc, d, oc);
        }
    }
    return nt;
}

static int32_t carry_dense(ct_seq *s, ct_seq_work *w, int32_t l) {
    const ct_seq_stage *st = &s->st[l];
    const int32_t *idx = w->lidx[l - 1], *dv = w->ld[l - 1];
    const int32_t n = w->ln[l - 1], oc = st->out_c;
    int32_t *dacc = w->dacc[l];
    for (int32_t i = 0; i < n; ++i) s->axpy(dacc, st->wt + (int64_t)idx[i] * oc, dv[i], oc);
    for (int32_t q = 0; q < oc; ++q) w->touched[l][q] = q;
    return n > 0 ? oc : 0;
}

/* A pool: the windows holding a changed input take their maximum again
 * (with the inputs' changes added, unless they are committed already). */
static void carry_pool(ct_seq *s, ct_seq_work *w, int32_t l, int32_t b, int commit) {
    ct_seq_stage *st = &s->st[l];
    const int32_t hw_in = st->in_h * st->in_w, hw_out = st->out_h * st->out_w;
    const int32_t *idx = w->lidx[l - 1], *dv = w->ld[l - 1];
    const int32_t n = w->ln[l - 1];
    const int8_t *in = ct_seq_input(s, l, b);
    int8_t *act = st->act + (int64_t)b * st->out_n;
    int32_t *din = w->din;
    if (!commit) {
        for (int32_t i = 0; i < n; ++i) din[idx[i]] = dv[i];
    }
    w->ln[l] = 0;
    int32_t nt = 0;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t c = idx[i] / hw_in, p = idx[i] - c * hw_in;
        for (int32_t r = st->reach_off[p]; r < st->reach_off[p + 1]; ++r) {
            const int32_t op = st->reach_op[r];
            const int32_t e = c * hw_out + op;
            if (w->mark[l][e]) continue;
            w->mark[l][e] = 1;
            w->touched[l][nt++] = e;
            const int32_t oy = op / st->out_w, ox = op - oy * st->out_w;
            int32_t m = 0;
            for (int32_t ky = 0; ky < st->kh; ++ky) {
                const int32_t q = c * hw_in + (oy * st->sh + ky) * st->in_w + ox * st->sw;
                for (int32_t kx = 0; kx < st->kw; ++kx) {
                    const int32_t v = in[q + kx] + (commit ? 0 : din[q + kx]);
                    m = v > m ? v : m;
                }
            }
            if (m != act[e]) {
                push(w, l, e, m - act[e]);
                if (commit) act[e] = (int8_t)m;
            }
        }
    }
    for (int32_t t = 0; t < nt; ++t) w->mark[l][w->touched[l][t]] = 0;
    if (!commit) {
        for (int32_t i = 0; i < n; ++i) din[idx[i]] = 0;
    }
}

/* The changed conv stage l: channel co moves by d * plane(ci) shifted by
 * (ky, kx), or by d everywhere (bias: src NULL). Lists the activations that
 * move; with commit the accumulators and activations take the change. */
static void first_conv(ct_seq *s, ct_seq_work *w, int32_t l, int32_t b, int32_t co, int32_t ci,
                       int32_t ky, int32_t kx, int32_t d, int is_bias, int commit) {
    ct_seq_stage *st = &s->st[l];
    const int32_t hw_in = st->in_h * st->in_w, hw_out = st->out_h * st->out_w;
    const int8_t *plane = ct_seq_input(s, l, b) + (int64_t)ci * hw_in;
    int32_t *acc = st->acc + (int64_t)b * st->out_n + (int64_t)co * hw_out;
    int8_t *act = st->act + (int64_t)b * st->out_n + (int64_t)co * hw_out;
    w->ln[l] = 0;
    int32_t ox0 = 0, ox1 = st->out_w; /* output columns whose input column is inside */
    if (!is_bias) {
        const int32_t lo = st->pl - kx; /* ix = ox * sw - lo >= 0 */
        ox0 = lo <= 0 ? 0 : (lo + st->sw - 1) / st->sw;
        const int32_t hi = (st->in_w - 1 + lo) / st->sw + 1; /* ix <= in_w - 1 */
        ox1 = hi < ox1 ? hi : ox1;
        if (st->in_w - 1 + lo < 0) ox1 = 0;
    }
    const int32_t n = ox1 - ox0;
    if (n <= 0) return;
    for (int32_t oy = 0; oy < st->out_h; ++oy) {
        const int8_t *src = s->ones;
        if (!is_bias) {
            const int32_t iy = oy * st->sh + ky - st->pt;
            if (iy < 0 || iy >= st->in_h) continue;
            src = plane + (int64_t)iy * st->in_w + (ox0 * st->sw + kx - st->pl);
            if (st->sw != 1) {
                for (int32_t i = 0; i < n; ++i) w->rowx[i] = src[(int64_t)i * st->sw];
                src = w->rowx;
            }
        }
        int32_t *arow = acc + oy * st->out_w + ox0;
        int8_t *crow = act + oy * st->out_w + ox0;
        const int32_t m =
            s->requant_diff(arow, src, d, n, st->shift, st->act_max, crow, w->rowi, w->rowd);
        const int32_t e0 = co * hw_out + oy * st->out_w + ox0;
        for (int32_t i = 0; i < m; ++i) {
            push(w, l, e0 + w->rowi[i], w->rowd[i]);
            if (commit) crow[w->rowi[i]] = (int8_t)(crow[w->rowi[i]] + w->rowd[i]);
        }
        if (commit) s->axpy(arow, src, d, n);
    }
}

/* A dense stage's accumulator q moves by dv (a weight's d * input, or a
 * bias step): the output stage gives the loss change, a hidden one lists
 * its activation change. */
static double first_dense(ct_seq *s, ct_seq_work *w, int32_t l, int32_t b, int32_t q, int32_t dv,
                          int commit) {
    w->dacc[l][q] = dv;
    w->touched[l][0] = q;
    return settle(s, w, l, b, 1, commit);
}

double ct_seq_sample_delta(ct_seq *s, ct_seq_work *w, const ct_candidate *c, int32_t b,
                           int commit) {
    const int32_t l0 = s->pstage[c->layer];
    ct_seq_stage *st = &s->st[l0];
    const int is_bias = c->kind == CT_CAND_BIAS;
    /* a dense weight's column in storage order (ct_seq_internal.h) */
    const int32_t col = (st->perm != NULL && !is_bias) ? st->perm[c->col] : c->col;
    const int32_t d = is_bias ? c->value : c->value - st->w[(int64_t)c->row * st->k + col];
    if (d == 0) return 0.0;
    double delta = 0.0;
    if (st->kind == CT_SEQ_CONV) {
        const int32_t tap = c->col / st->g, gi = c->col % st->g;
        const int32_t ci = st->depthwise ? c->row : gi;
        first_conv(s, w, l0, b, c->row, ci, tap / st->kw, tap % st->kw, d, is_bias, commit);
    } else {
        const int32_t x = is_bias ? 1 : ct_seq_input(s, l0, b)[col];
        if (x == 0) return 0.0;
        delta = first_dense(s, w, l0, b, c->row, d * x, commit);
        if (st->output) return delta;
    }
    for (int32_t l = l0 + 1; l < s->n_stages; ++l) {
        if (w->ln[l - 1] == 0) return 0.0;
        const ct_seq_stage *nx = &s->st[l];
        if (nx->kind == CT_SEQ_POOL) {
            carry_pool(s, w, l, b, commit);
            continue;
        }
        const int32_t nt = nx->kind == CT_SEQ_CONV ? carry_conv(s, w, l) : carry_dense(s, w, l);
        const double r = settle(s, w, l, b, nt, commit);
        if (nx->output) return r;
    }
    return 0.0;
}
