/*
 * The surrogate gradient that ranks candidates for chains of layer kinds,
 * in integers (conntra_train.h, ct_seq_gradient).
 *
 * The errors at the logits are rounded once to multiples of 2^-30 of a unit
 * (CT_SEQ_GRAD_BITS: at 2^-24 the rounded shifts of four hidden layers left
 * errors of 0.5 % in the first layer's gradient); from there every step is
 * int64 arithmetic: the transposed layers,
 * the straight-through requantization as a rounded shift right by the
 * layer's shift (the 2^-shift of its derivative), a pool's route to the
 * first maximum of each window, and the sums of error x input that are the
 * weights' gradients. Integer sums do not depend on their order, so each
 * thread sums its own samples and the threads' sums add up to the same
 * numbers for every thread count and platform. The Python side picks the
 * candidates from them (conntra/train/convtrainer.py).
 */
#include <string.h>

#include "core/ct_threads.h"
#include "train/ct_seq_internal.h"

/* a + b wrapping around instead of overflowing: the sums stay far below
 * 2^63 on real data (errors of opposite signs cancel), but a bound that
 * holds for every input would be near it, and a wrapped estimate only
 * misranks a candidate, which the exact check then rejects. */
static inline int64_t wadd(int64_t a, int64_t b) {
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* v * 2^-shift rounded half away from zero: the same on every platform
 * (no right shift of a negative number). */
static inline int64_t rshift_round(int64_t v, int32_t shift) {
    if (shift <= 0) return v;
    const int64_t half = (int64_t)1 << (shift - 1);
    return v >= 0 ? (v + half) >> shift : -((-v + half) >> shift);
}

/* Errors at the pre-activations of a hidden stage from those at its
 * activations: inside the range that rounds to 0 .. act_max, 2^-shift;
 * outside, leak (in 1/256) times that. */
static void straight_through(const ct_seq_stage *st, const int32_t *acc, int64_t *g,
                             int32_t leak256) {
    const int64_t half = st->shift > 0 ? (int64_t)1 << (st->shift - 1) : 0;
    const int64_t hi = ((int64_t)st->act_max << st->shift) + half;
    for (int32_t e = 0; e < st->out_n; ++e) {
        if (g[e] == 0) continue;
        const int64_t a = acc[e];
        if (a >= -half && a < hi) {
            g[e] = rshift_round(g[e], st->shift);
        } else {
            g[e] = leak256 ? rshift_round(g[e] * leak256, st->shift + 8) : 0;
        }
    }
}

/* The output stage's errors of sample b at 2^CT_SEQ_GRAD_BITS. */
static void logit_errors(const ct_seq *s, int32_t b, int64_t *g) {
    const int32_t *z = s->st[s->n_stages - 1].acc + (int64_t)b * s->classes;
    int32_t mx = z[0];
    for (int32_t k = 1; k < s->classes; ++k) mx = z[k] > mx ? z[k] : mx;
    double sum = 0.0;
    for (int32_t k = 0; k < s->classes; ++k) sum += ct_exp((double)((int64_t)z[k] - mx) * s->inv_t);
    const double scale = (double)((int64_t)1 << CT_SEQ_GRAD_BITS) * s->inv_t;
    for (int32_t k = 0; k < s->classes; ++k) {
        const double p = ct_exp((double)((int64_t)z[k] - mx) * s->inv_t) / sum;
        const double e = (p - (k == s->y[b] ? 1.0 : 0.0)) * scale;
        g[k] = (int64_t)(e + (e >= 0.0 ? 0.5 : -0.5));
    }
}

static void dense_back(const ct_seq_stage *st, const int8_t *in, const int64_t *g, int64_t *gw,
                       int64_t *gb, int64_t *gin) {
    const int32_t k = st->k, oc = st->out_c;
    for (int32_t q = 0; q < oc; ++q) {
        const int64_t e = g[q];
        gb[q] = wadd(gb[q], e);
        if (e == 0) continue;
        int64_t *row = gw + (int64_t)q * k;
        for (int32_t i = 0; i < k; ++i) row[i] = wadd(row[i], e * in[i]);
    }
    if (gin == NULL) return;
    for (int32_t i = 0; i < k; ++i) {
        const int8_t *col = st->wt + (int64_t)i * oc;
        int64_t sum = 0;
        for (int32_t q = 0; q < oc; ++q) sum += col[q] * g[q];
        gin[i] = sum;
    }
}

static void conv_back(const ct_seq_stage *st, const int8_t *in, const int64_t *g, int64_t *gw,
                      int64_t *gb, int64_t *gin) {
    const int32_t hw_in = st->in_h * st->in_w, hw_out = st->out_h * st->out_w;
    if (gin != NULL) memset(gin, 0, sizeof(int64_t) * (size_t)st->in_n);
    for (int32_t co = 0; co < st->out_c; ++co) {
        const int64_t *gp = g + (int64_t)co * hw_out;
        int64_t bsum = 0;
        for (int32_t p = 0; p < hw_out; ++p) bsum = wadd(bsum, gp[p]);
        gb[co] = wadd(gb[co], bsum);
        /* rows of the plane with an error: most are zero where the layer's
         * activations sit at 0 (the straight-through window) */
        int32_t rows[CT_SEQ_MAX_ROWS], n_rows = 0;
        for (int32_t oy = 0; oy < st->out_h; ++oy) {
            const int64_t *grow = gp + (int64_t)oy * st->out_w;
            int any = 0;
            for (int32_t ox = 0; ox < st->out_w; ++ox) any |= grow[ox] != 0;
            if (any) rows[n_rows++] = oy;
        }
        if (n_rows == 0) continue;
        for (int32_t ky = 0; ky < st->kh; ++ky) {
            for (int32_t kx = 0; kx < st->kw; ++kx) {
                const int32_t lo = st->pl - kx;
                const int32_t ox0 = lo <= 0 ? 0 : (lo + st->sw - 1) / st->sw;
                int32_t ox1 = st->in_w - 1 + lo < 0 ? 0 : (st->in_w - 1 + lo) / st->sw + 1;
                ox1 = ox1 < st->out_w ? ox1 : st->out_w;
                for (int32_t gi = 0; gi < st->g; ++gi) {
                    const int32_t ci = st->depthwise ? co : gi;
                    const int32_t widx = (ky * st->kw + kx) * st->g + gi;
                    const int8_t wv = st->w[(int64_t)co * st->k + widx];
                    int64_t sum = 0;
                    for (int32_t r = 0; r < n_rows; ++r) {
                        const int32_t oy = rows[r];
                        const int32_t iy = oy * st->sh + ky - st->pt;
                        if (iy < 0 || iy >= st->in_h) continue;
                        const int64_t *grow = gp + oy * st->out_w;
                        const int64_t base = (int64_t)ci * hw_in + (int64_t)iy * st->in_w - lo;
                        const int8_t *xrow = in + base;
                        for (int32_t ox = ox0; ox < ox1; ++ox) {
                            sum = wadd(sum, grow[ox] * xrow[(int64_t)ox * st->sw]);
                        }
                        if (gin != NULL && wv != 0) {
                            int64_t *irow = gin + base;
                            for (int32_t ox = ox0; ox < ox1; ++ox) {
                                irow[(int64_t)ox * st->sw] += wv * grow[ox];
                            }
                        }
                    }
                    gw[(int64_t)co * st->k + widx] = wadd(gw[(int64_t)co * st->k + widx], sum);
                }
            }
        }
    }
}

/* A pool passes each output's error to the first maximum of its window. */
static void pool_back(const ct_seq_stage *st, const int8_t *in, const int64_t *g, int64_t *gin) {
    const int32_t hw_in = st->in_h * st->in_w, hw_out = st->out_h * st->out_w;
    memset(gin, 0, sizeof(int64_t) * (size_t)st->in_n);
    for (int32_t c = 0; c < st->out_c; ++c) {
        for (int32_t oy = 0; oy < st->out_h; ++oy) {
            for (int32_t ox = 0; ox < st->out_w; ++ox) {
                const int64_t e = g[c * hw_out + oy * st->out_w + ox];
                if (e == 0) continue;
                int32_t best = -1, m = -1;
                for (int32_t ky = 0; ky < st->kh; ++ky) {
                    const int32_t r = c * hw_in + (oy * st->sh + ky) * st->in_w + ox * st->sw;
                    for (int32_t kx = 0; kx < st->kw; ++kx) {
                        if (in[r + kx] > m) {
                            m = in[r + kx];
                            best = r + kx;
                        }
                    }
                }
                gin[best] += e;
            }
        }
    }
}

typedef struct grad_job {
    ct_seq *s;
    int32_t n, parts, leak256;
} grad_job;

static void grad_part(void *ctx, int32_t begin, int32_t end) {
    const grad_job *j = (const grad_job *)ctx;
    ct_seq *s = j->s;
    for (int32_t t = begin; t < end; ++t) {
        ct_seq_work *w = &s->work[t];
        memset(w->gw, 0, sizeof(int64_t) * (size_t)s->n_weights);
        memset(w->gb, 0, sizeof(int64_t) * (size_t)s->n_biases);
        const int32_t lo = (int32_t)((int64_t)j->n * t / j->parts);
        const int32_t hi = (int32_t)((int64_t)j->n * (t + 1) / j->parts);
        for (int32_t b = lo; b < hi; ++b) {
            int64_t *cur = w->g[0], *nxt = w->g[1];
            logit_errors(s, b, cur);
            int64_t woff = s->n_weights, boff = s->n_biases;
            for (int32_t l = s->n_stages - 1; l >= 0; --l) {
                const ct_seq_stage *st = &s->st[l];
                const int8_t *in = ct_seq_input(s, l, b);
                int64_t *gin = l > 0 ? nxt : NULL;
                if (st->kind == CT_SEQ_POOL) {
                    pool_back(st, in, cur, nxt);
                } else {
                    woff -= (int64_t)st->out_c * st->k;
                    boff -= st->out_c;
                    if (st->kind == CT_SEQ_DENSE) {
                        dense_back(st, in, cur, w->gw + woff, w->gb + boff, gin);
                    } else {
                        conv_back(st, in, cur, w->gw + woff, w->gb + boff, gin);
                    }
                }
                if (l == 0) break;
                const ct_seq_stage *prev = &s->st[l - 1];
                if (prev->kind != CT_SEQ_POOL) {
                    straight_through(prev, prev->acc + (int64_t)b * prev->out_n, nxt, j->leak256);
                }
                int64_t *tmp = cur;
                cur = nxt;
                nxt = tmp;
            }
        }
    }
}

ct_status ct_seq_gradient(ct_seq *s, int32_t samples, double leak, int64_t *gw, int64_t *gb) {
    if (s == NULL || gw == NULL || gb == NULL) return CT_E_NULL;
    if (!s->valid) return CT_E_STATE;
    if (!(leak >= 0.0 && leak <= 1.0) || samples < 0) return CT_E_RANGE;
    const int32_t n = (samples > 0 && samples < s->batch) ? samples : s->batch;
    int32_t parts = s->n_work < n ? s->n_work : n;
    grad_job job = {s, n, parts, (int32_t)(leak * 256.0 + 0.5)};
    ct_parallel_for(parts, 1, parts, grad_part, &job);
    memset(gw, 0, sizeof(int64_t) * (size_t)s->n_weights);
    memset(gb, 0, sizeof(int64_t) * (size_t)s->n_biases);
    for (int32_t t = 0; t < parts; ++t) {
        for (int64_t i = 0; i < s->n_weights; ++i) gw[i] = wadd(gw[i], s->work[t].gw[i]);
        for (int64_t i = 0; i < s->n_biases; ++i) gb[i] = wadd(gb[i], s->work[t].gb[i]);
    }
    /* dense columns back to the model's NHWC order */
    int64_t woff = 0;
    for (int32_t p = 0; p < s->n_params; ++p) {
        const ct_seq_stage *st = &s->st[s->pstage[p]];
        const int64_t size = (int64_t)st->out_c * st->k;
        if (st->perm != NULL) {
            int64_t *tmp = s->work[0].gw; /* free again: the sums are out */
            memcpy(tmp, gw + woff, sizeof(int64_t) * (size_t)size);
            for (int32_t q = 0; q < st->out_c; ++q) {
                for (int32_t i = 0; i < st->k; ++i) {
                    gw[woff + (int64_t)q * st->k + i] = tmp[(int64_t)q * st->k + st->perm[i]];
                }
            }
        }
        woff += size;
    }
    return CT_OK;
}
