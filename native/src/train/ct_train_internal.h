/*
 * Internal layout of the trainer object and helpers shared by ct_train_*.c.
 * Not part of the public API and not read by cffi.
 */
#ifndef CT_TRAIN_INTERNAL_H
#define CT_TRAIN_INTERNAL_H

#include <math.h> /* HUGE_VAL only: no libm functions are called */

#include "conntra_train.h"
#include "core/ct_internal.h"

/* One stage of a sparse downstream change: for each listed sample, a list of
 * (neuron, activation change) pairs. off[s]..off[s+1] index pairs of sample s. */
typedef struct ct_stage {
    int32_t n;       /* samples listed */
    int32_t *sample; /* [cap] batch index of listed sample s */
    int32_t *off;    /* [cap + 1] */
    int32_t *neuron; /* [cap * stage_width] */
    int32_t *dact;   /* [cap * stage_width] */
} ct_stage;

struct ct_trainer {
    int32_t n_layers;
    int32_t sizes[CT_MAX_LAYERS + 1];
    int32_t cap;   /* batch capacity: row stride of every cache */
    int32_t batch; /* samples in the current batch; 0 before the first */
    int32_t valid; /* caches match the parameters */
    int32_t max_width;
    int32_t stage_width; /* pairs per sample a stage can hold (ct_train_new) */
    double inv_t;
    double total; /* sum of loss[] in sample order */

    int8_t *w[CT_MAX_LAYERS];  /* [n_out][n_in] */
    int8_t *wt[CT_MAX_LAYERS]; /* [n_in][n_out]: column reads in propagation and
                                  ranking; NULL for layer 0, which nothing reads
                                  by column */
    int32_t *bias[CT_MAX_LAYERS];
    int32_t shift[CT_MAX_LAYERS];
    int32_t act_max[CT_MAX_LAYERS]; /* hidden layers: 2^act_bits - 1 (default 127) */

    int8_t *x;                       /* input, [n0][cap] */
    uint64_t *xbits;                 /* [n0][words]: bit b of input i's row is set where
                                        x[i][b] != 0, the input's list of nonzero samples */
    int32_t *xnz;                    /* [n0]: how many samples of the batch input i is nonzero in */
    int32_t words;                   /* (cap + 63) / 64 */
    int32_t *acc[CT_MAX_LAYERS];     /* [n_out][cap] */
    int8_t *act[CT_MAX_LAYERS];      /* hidden layers: [n_out][cap] */
    int32_t *alt_acc[CT_MAX_LAYERS]; /* shift candidates recompute into these */
    int8_t *alt_act[CT_MAX_LAYERS];

    /* per-sample loss cache (classes C = sizes[n_layers]) */
    int32_t *y, *zy, *zmax; /* label, its logit, the stabiliser */
    double *sminus;         /* [C][cap]: sum_{k != c} exp((z_k - zmax) / T) */
    double *loss;           /* [cap] */
    double *ecache;         /* [C][cap]: exp((z_k - zmax) / T) */
    double *ecache_s;       /* the same, sample-major [cap][C] */
    double *lns;            /* [cap]: log of sum_k ecache[k] */
    double *tab_mem;        /* [CT_TAB_LOW + CT_TAB + 1]: exp(m / T) for
                               -CT_TAB_LOW <= m <= CT_TAB */
    const double *tab;      /* tab_mem + CT_TAB_LOW: index by m directly */
    int32_t tab_ok;         /* exp(CT_TAB / T) is finite enough to use the table */
    double *work;           /* [C] scratch for one sample */
    int8_t *ones;           /* [cap] of 1: the "input" of a bias */

    int32_t *idx, *da; /* [cap]: changed samples of one neuron */
    int32_t *dvec;     /* [max_width] dense change of one sample */
    int32_t *znew;     /* [C] new logits of one sample */
    ct_stage st[2];

    struct ct_train_pool *pool; /* the threads of a running step, or NULL */

    ct_train_axpy_fn axpy;
    ct_train_requant_diff_fn requant_diff;
    ct_train_ce_out_delta_fn ce_out_delta;
    ct_train_ce_last_hidden_delta_fn ce_last_hidden_delta;
};

/* exp and log of our own, for two reasons: the trained model must be the
 * same bytes on every platform (libm implementations differ in the last
 * bit, and glibc, newlib and musl all differ), and the C core links without
 * -lm. Accuracy: a few ulp over the range the loss uses, checked against
 * libm and numpy by the tests (relative 1e-14). */
static inline double ct_pow2i(int64_t k) { /* 2^k for -1022 <= k <= 1023 */
    union {
        uint64_t u;
        double d;
    } v;
    v.u = (uint64_t)(k + 1023) << 52;
    return v.d;
}

static inline double ct_exp(double x) {
    if (x < -745.0) return 0.0;
    if (x > 709.0) return HUGE_VAL; /* overflow: +inf (a macro; no libm needed) */
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double k = (double)(int64_t)(x * 1.44269504088896338700 + (x < 0 ? -0.5 : 0.5));
    const double r = (x - k * ln2_hi) - k * ln2_lo; /* |r| <= ln2 / 2 */
    /* Taylor series to degree 13: the remainder is below 1e-17 on |r| <= 0.35 */
    double p = 1.0 / 6227020800.0;
    static const double inv_fact[13] = {1.0 / 479001600.0,
                                        1.0 / 39916800.0,
                                        1.0 / 3628800.0,
                                        1.0 / 362880.0,
                                        1.0 / 40320.0,
                                        1.0 / 5040.0,
                                        1.0 / 720.0,
                                        1.0 / 120.0,
                                        1.0 / 24.0,
                                        1.0 / 6.0,
                                        0.5,
                                        1.0,
                                        1.0};
    for (int i = 0; i < 13; ++i) p = p * r + inv_fact[i];
    int64_t ki = (int64_t)k;
    if (ki < -1022) { /* subnormal result: scale in two steps */
        return p * ct_pow2i(ki + 600) * ct_pow2i(-600);
    }
    return p * ct_pow2i(ki);
}

extern const double ct_log_table[128][2];

static inline double ct_log(double x) { /* x > 0 and finite */
    union {
        uint64_t u;
        double d;
    } v;
    v.d = x;
    int64_t e = (int64_t)((v.u >> 52) & 0x7ff) - 1023;
    if (e == -1023) {                  /* subnormal: normalise first */
        v.d = x * 18014398509481984.0; /* 2^54 */
        e = (int64_t)((v.u >> 52) & 0x7ff) - 1023 - 54;
    }
    /* m in [1, 2); its top 7 mantissa bits pick c_i within 1/256 of m */
    const int i = (int)((v.u >> 45) & 127);
    v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    const double t = v.d * ct_log_table[i][1] - 1.0; /* |t| <= 1/256 */
    /* log1p(t) to t^7: the remainder is below 1e-18 */
    const double p =
        t *
        (1.0 + t * (-0.5 + t * (1.0 / 3.0 + t * (-0.25 + t * (0.2 + t * (-1.0 / 6.0 + t / 7.0))))));
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    return (double)e * ln2_hi + (ct_log_table[i][0] + ((double)e * ln2_lo + p));
}

/* The float kernels' per-sample terms and their fixed summation order,
 * shared by the references and the tails of their SIMD twins (docs/kernels.md):
 * term b of ce_out_delta (x[b] != 0) and term s of ce_last_hidden_delta go
 * into partial sum b % 4 (s % 4), combined as (p0 + p1) + (p2 + p3). A SIMD
 * twin computes the same IEEE operations per lane (ct_log included, without
 * fused multiply-adds), so every variant returns the same bits. */
static inline double ct_sum4(const double part[4]) {
    return (part[0] + part[1]) + (part[2] + part[3]);
}

static inline double ct_ce_out_term(const int8_t *x, int32_t d, const int32_t *y, int32_t cls,
                                    const double *e, const double *sminus, const double *lns,
                                    const double *tab, double inv_t, int32_t b) {
    const int32_t dz = d * (int32_t)x[b];
    const double dy = (y[b] == cls) ? (double)dz * inv_t : 0.0;
    return ct_log(sminus[b] + e[b] * tab[dz]) - lns[b] - dy;
}

/* S' = s0 + s+ * exp(da/T) + s- * exp(-da/T): the classes split by the sign
 * of their weight from the neuron (sample-major cache: one or two cache lines
 * per sample), two table reads. Each sum starts at +0.0 and adds exps (or
 * +0.0), so adding +0.0 never changes it: twins may skip those adds. */
static inline double ct_ce_lh_term(const int32_t *idx, const int32_t *da, const int8_t *col,
                                   int32_t classes, const double *e, const double *lns,
                                   const int32_t *y, const double *tab, double inv_t, int32_t s) {
    const int32_t b = idx[s];
    const double *eb = e + (int64_t)b * classes;
    double s0 = 0.0, sp = 0.0, sm = 0.0;
    for (int32_t k = 0; k < classes; ++k) {
        const double v = eb[k];
        s0 += col[k] == 0 ? v : 0.0;
        sp += col[k] > 0 ? v : 0.0;
        sm += col[k] < 0 ? v : 0.0;
    }
    const double sn = s0 + sp * tab[da[s]] + sm * tab[-da[s]];
    return ct_log(sn) - lns[b] - (double)(col[y[b]] * da[s]) * inv_t;
}

/* The exp table: logit moves up to CT_TAB either way use it in the checks;
 * the loss refresh reads it down to -CT_TAB_LOW (a logit that far below the
 * largest one, at the temperatures MNIST runs at, 100 to 200). */
enum { CT_TAB = 1024, CT_TAB_LOW = 8192 };

/* Relative resolution of the batch loss below which a decrease is noise. */
#define CT_TRAIN_REL_EPS 1e-12

/* A decrease must beat the rounding of the loss itself: a change whose exact
 * effect is zero can come out as -1e-16 after float64 sums in a different
 * order, and accepting it would be noise. (|total| without fabs: no libm.) */
static inline double ct_train_threshold(const ct_trainer *t, double min_gain) {
    const double total = t->total < 0.0 ? -t->total : t->total;
    return -(min_gain + CT_TRAIN_REL_EPS * (total + 1.0));
}

/* The contract's requantization of one pre-activation (ct_internal.h),
 * clamped to the layer's act_max = 2^bits - 1. */
static inline int32_t ct_rq(int32_t a, int32_t shift, int32_t act_max) {
    return ct_requant1(a, shift, act_max);
}

/* requant_diff's scalar step from sample b0 on, appending (index, change)
 * pairs at position m; returns the new count. The reference kernel is this
 * loop from 0, and the SIMD twins finish their tails with it. Branch-free
 * compaction: the data-dependent branch (mispredicted about half the time on
 * MNIST) becomes an add. Samples with x[b] == 0 never count, as the family's
 * contract says, even if act[b] disagrees with acc[b]. */
static inline int32_t ct_requant_diff_from(const int32_t *acc, const int8_t *x, int32_t d,
                                           int32_t b0, int32_t n, int32_t shift, int32_t act_max,
                                           const int8_t *act, int32_t *idx, int32_t *da,
                                           int32_t m) {
    for (int32_t b = b0; b < n; ++b) {
        const int32_t v = ct_rq(acc[b] + d * (int32_t)x[b], shift, act_max);
        idx[m] = b;
        da[m] = v - act[b];
        m += (v != act[b]) & (x[b] != 0);
    }
    return m;
}

/* Bit tricks for the input lists, with portable fallbacks. */
static inline int ct_ctz64(uint64_t v) { /* v != 0 */
#if defined(__GNUC__)
    return __builtin_ctzll(v);
#else
    int n = 0;
    while (!(v & 1u)) {
        v >>= 1;
        ++n;
    }
    return n;
#endif
}

static inline int ct_popcount64(uint64_t v) {
#if defined(__GNUC__)
    return __builtin_popcountll(v);
#else
    int n = 0;
    for (; v; v &= v - 1) ++n;
    return n;
#endif
}

/* The bits of one input list's word w that name samples below n. */
static inline uint64_t ct_list_word(const uint64_t *bits, int32_t w, int32_t n) {
    const int32_t left = n - w * 64;
    return left >= 64 ? bits[w] : bits[w] & ((UINT64_C(1) << left) - 1u);
}

/* A first-layer check or commit walks the input's list instead of the whole
 * row when the input is nonzero in at most 1/CT_LIST_RATIO of the batch. A
 * list entry costs a scalar step where the row's SIMD loops cover 8 samples
 * per step: on MNIST's first layer (batch 4096, AVX2) the list is faster up to
 * about a quarter of the batch (0.58 against 1.11 us per check below 128
 * samples, 7.4 against 8.7 us at 512-1024) and slower above. */
enum { CT_LIST_RATIO = 4 };

static inline int ct_is_output(const ct_trainer *t, int32_t layer) {
    return layer == t->n_layers - 1;
}

/* ct_train_state.c */
void ct_train_refresh_sample(ct_trainer *t, int32_t b);
void ct_train_forward_from(ct_trainer *t, int32_t layer, int32_t shift_l, int32_t **acc,
                           int8_t **act);
void ct_train_refresh_all(ct_trainer *t);
double ct_train_sample_loss(const ct_trainer *t, const int32_t *z, int32_t y);
void ct_train_set_inv_t(ct_trainer *t, double inv_t);

/* ct_train_step.c: checks c exactly on the current state and applies it if
 * the loss falls beyond the threshold of ct_train_step; *delta (may be NULL)
 * receives the exact change. Returns 1 when applied, 0 otherwise (also for a
 * candidate out of range). */
int ct_train_try_accept(ct_trainer *t, const ct_candidate *c, double min_gain, double *delta);

/* ct_train_delta.c: the exact loss change of c (commit = 0), or c applied to
 * the parameters and caches (commit = 1, after its check; returns 0 or the
 * change, which callers ignore). */
double ct_train_delta_unchecked(ct_trainer *t, const ct_candidate *c, int commit);

/* out[i] = ct_train_delta_unchecked(t, &cands[i], 0) for i < n, on up to
 * n_threads threads, the same bits for every count (ct_train_threads.c).
 * CT_E_NOMEM only if the result array cannot be filled at all. */
ct_status ct_train_score(ct_trainer *t, const ct_candidate *cands, int32_t n, double *out,
                         int32_t n_threads);
ct_status ct_train_check_candidate(const ct_trainer *t, const ct_candidate *c);

/* Views for checks on other threads (ct_train_threads.c): a shallow copy of
 * t whose scratch (idx, da, dvec, znew, work, the two stages) is its own.
 * new returns 0 if out of memory (nothing to free then); sync makes v see t's
 * current state again (after commits, which may swap cache buffers) and
 * keeps v's scratch. */
int ct_train_view_new(const ct_trainer *t, ct_trainer *v);
void ct_train_view_free(ct_trainer *v);
void ct_train_view_sync(ct_trainer *v, const ct_trainer *t);

/* ct_train_accept.c: the sequential step over candidates get(ctx, t, i),
 * i < n, in order: each is checked exactly on the current state and applied
 * when the loss falls below the threshold of ct_train_step; accepted(ctx, i)
 * hears each one applied. With screen in 1 .. batch - 1 a weight or bias
 * candidate is first checked on the batch's first `screen` samples and
 * rejected there unless that partial change is negative. Up to n_threads
 * threads check the next candidates ahead of the current one; a check made
 * on a state that an acceptance has since changed is thrown away, so the
 * applied changes (and the model) are those of one thread. Returns CT_OK, or
 * CT_E_NOMEM only if nothing could be checked. */
typedef ct_candidate (*ct_cand_get_fn)(void *ctx, const ct_trainer *t, int32_t i);

/* fn(ctx, v, begin, end) over [0, n): split between the threads of the
 * running step when t has them (t->pool), else on t alone. v is a view with
 * scratch of its own (t itself on the calling thread); fn may write the
 * caches of the samples in its range and nothing else shared. */
typedef void (*ct_train_range_fn)(void *ctx, ct_trainer *v, int32_t begin, int32_t end);
void ct_train_par_for(ct_trainer *t, int32_t n, ct_train_range_fn fn, void *ctx);
typedef void (*ct_cand_accepted_fn)(void *ctx, const ct_candidate *c, int32_t i);
ct_status ct_train_accept_in_order(ct_trainer *t, int32_t n, ct_cand_get_fn get,
                                   ct_cand_accepted_fn accepted, void *ctx, double min_gain,
                                   int32_t screen, int32_t n_threads);

#endif /* CT_TRAIN_INTERNAL_H */
