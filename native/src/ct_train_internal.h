/*
 * Internal layout of the trainer object and helpers shared by ct_train_*.c.
 * Not part of the public API and not read by cffi.
 */
#ifndef CT_TRAIN_INTERNAL_H
#define CT_TRAIN_INTERNAL_H

#include "conntra_train.h"
#include "ct_internal.h"

/* One stage of a sparse downstream change: for each listed sample, a list of
 * (neuron, activation change) pairs. off[s]..off[s+1] index pairs of sample s. */
typedef struct ct_stage {
    int32_t n;        /* samples listed */
    int32_t *sample;  /* [cap] batch index of listed sample s */
    int32_t *off;     /* [cap + 1] */
    int32_t *neuron;  /* [cap * max_width] */
    int32_t *dact;    /* [cap * max_width] */
} ct_stage;

struct ct_trainer {
    int32_t n_layers;
    int32_t sizes[CT_MAX_LAYERS + 1];
    int32_t cap;   /* batch capacity: row stride of every cache */
    int32_t batch; /* samples in the current batch; 0 before the first */
    int32_t valid; /* caches match the parameters */
    int32_t max_width;
    double inv_t;
    double total; /* sum of loss[] in sample order */

    int8_t *w[CT_MAX_LAYERS];   /* [n_out][n_in] */
    int8_t *wt[CT_MAX_LAYERS];  /* [n_in][n_out]: column reads in propagation */
    int32_t *bias[CT_MAX_LAYERS];
    int32_t shift[CT_MAX_LAYERS];

    int8_t *x;                     /* input, [n0][cap] */
    int32_t *acc[CT_MAX_LAYERS];   /* [n_out][cap] */
    int8_t *act[CT_MAX_LAYERS];    /* hidden layers: [n_out][cap] */
    int32_t *alt_acc[CT_MAX_LAYERS]; /* shift candidates recompute into these */
    int8_t *alt_act[CT_MAX_LAYERS];

    /* per-sample loss cache (classes C = sizes[n_layers]) */
    int32_t *y, *zy, *zmax;  /* label, its logit, the stabiliser */
    double *sminus;          /* [C][cap]: sum_{k != c} exp((z_k - zmax) / T) */
    double *loss;            /* [cap] */
    double *work;            /* [C] scratch for one sample */
    int8_t *ones;            /* [cap] of 1: the "input" of a bias */

    int32_t *idx, *da;   /* [cap]: changed samples of one neuron */
    int32_t *dvec;       /* [max_width] dense change of one sample */
    ct_stage st[2];

    ct_train_axpy_fn axpy;
    ct_train_requant_diff_fn requant_diff;
    ct_train_ce_out_delta_fn ce_out_delta;
};

/* The contract's requantization of one pre-activation. */
static inline int32_t ct_rq(int32_t a, int32_t shift) {
    int32_t t = shift > 0 ? a + (1 << (shift - 1)) : a;
    if (t < 0) return 0;
    t >>= shift;
    return t > CT_ACT_MAX ? CT_ACT_MAX : t;
}

static inline int ct_is_output(const ct_trainer *t, int32_t layer) {
    return layer == t->n_layers - 1;
}

/* ct_train_state.c */
void ct_train_refresh_sample(ct_trainer *t, int32_t b);
void ct_train_forward_from(ct_trainer *t, int32_t layer, int32_t shift_l, int32_t **acc,
                           int8_t **act);
void ct_train_refresh_all(ct_trainer *t);
double ct_train_sample_loss(const ct_trainer *t, const int32_t *z, int32_t y);

/* ct_train_delta.c */
double ct_train_delta_unchecked(ct_trainer *t, const ct_candidate *c, int commit);
ct_status ct_train_check_candidate(const ct_trainer *t, const ct_candidate *c);

#endif /* CT_TRAIN_INTERNAL_H */
