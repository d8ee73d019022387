/*
 * Internal layout of the trainer for chains of layer kinds (ct_seq_*.c).
 * Not part of the public API and not read by cffi.
 *
 * A chain is kept as stages: conv2d, maxpool2d and dense layers (a flatten
 * is no stage: the dense layer after it reads the tensor before it). Every
 * stage's tensors are stored per sample channel-planar ("CHW": element
 * (y, x, c) at c * h * w + y * w + x), so one channel of one sample is a
 * contiguous plane. A dense layer's weights are kept with their columns in
 * that storage order too, so it reads the planar tensor directly; get and
 * set translate from and to the model's NHWC flatten order.
 */
#ifndef CT_SEQ_INTERNAL_H
#define CT_SEQ_INTERNAL_H

#include "train/ct_train_internal.h"

enum { CT_SEQ_DENSE = 0, CT_SEQ_CONV = 1, CT_SEQ_POOL = 2 };

/* Output rows of a convolution the gradient walks (ct_seq_new refuses more). */
enum { CT_SEQ_MAX_ROWS = 4096 };

typedef struct ct_seq_stage {
    int32_t kind;                /* CT_SEQ_* */
    int32_t in_h, in_w, in_c;    /* the tensor read (before a flatten, for dense) */
    int32_t out_h, out_w, out_c; /* dense: 1, 1, n_out */
    int32_t in_n, out_n;         /* elements per sample */
    int32_t kh, kw, sh, sw, pt, pl;
    int32_t depthwise;
    int32_t g;      /* conv: input channels per filter */
    int32_t k;      /* weights per row: kh * kw * g, or in_n */
    int32_t param;  /* parameter layer index, -1 for a pool */
    int32_t output; /* the last stage */
    int32_t *perm;  /* dense: storage index of NHWC input column i; NULL if the same */
    int8_t *w;      /* [out_c][k]; dense columns in storage order */
    int8_t *wt;     /* conv: [kh][kw][g][out_c]; dense: [in_n][out_n] */
    int32_t *bias;  /* [out_c] */
    int32_t shift;  /* hidden: 0 .. CT_MAX_SHIFT; the output: -1 */
    int32_t act_bits, act_max;
    int32_t *acc; /* [cap][out_n], NULL for a pool */
    int8_t *act;  /* [cap][out_n], NULL for the output */
    /* conv and pool: for each input position (y * in_w + x), the output
     * positions whose window holds it, from reach_off[p] to reach_off[p + 1]
     * in reach_op, with the window's tap (ky * kw + kx) in reach_tap: the
     * carries read these instead of dividing */
    int32_t *reach_off, *reach_op, *reach_tap;
    ct_layer geo; /* for the forward kernels: geometry and packed weights */
    uint8_t *packed;
    int32_t packed_ok; /* packed matches w */
} ct_seq_stage;

/* Per-thread scratch of one sample's check: for each stage, the change of
 * its accumulators (dense: [out_n]; conv: [out_h * out_w][out_c], channels
 * innermost so one input change adds to a contiguous run), marks of the
 * touched entries, and the list of activations that change. */
typedef struct ct_seq_work {
    int32_t *dacc[CT_MAX_LAYERS];
    uint8_t *mark[CT_MAX_LAYERS];
    int32_t *touched[CT_MAX_LAYERS];
    int32_t *lidx[CT_MAX_LAYERS]; /* changed activations: storage index */
    int32_t *ld[CT_MAX_LAYERS];   /* ... and change */
    int32_t ln[CT_MAX_LAYERS];
    int32_t *din;  /* [max_n]: the input changes of a pool stage, scattered */
    int32_t *rowi; /* [max row] requant_diff pairs of one row */
    int32_t *rowd;
    int8_t *rowx;  /* [max row]: a strided input row gathered */
    int32_t *z;    /* [classes] new logits */
    int64_t *g[2]; /* gradient: [max_n] each */
    int64_t *gw;   /* gradient sums of this thread: every layer's weights */
    int64_t *gb;   /* ... and biases */
} ct_seq_work;

struct ct_seq {
    int32_t n_stages, n_params;
    ct_seq_stage st[CT_MAX_LAYERS];
    int32_t pstage[CT_MAX_LAYERS]; /* stage of parameter layer p */
    int32_t cap, batch, valid, classes;
    int32_t in_h, in_w, in_c, in_n;
    int32_t max_n, max_row;
    int64_t n_weights, n_biases; /* over all parameter layers */
    double inv_t, total;
    int8_t *x;      /* [cap][in_n], planar per sample */
    int32_t *y;     /* [cap] */
    double *loss;   /* [cap] */
    double *dsamp;  /* [cap]: one check's change per sample */
    int8_t *ones;   /* [max_row] of 1: the "input" of a bias */
    int32_t n_work; /* scratch sets: one per thread */
    ct_seq_work *work;
    ct_train_axpy_fn axpy;
    ct_train_requant_diff_fn requant_diff;
};

/* The input tensor of stage l for sample b: the previous stage's
 * activations, or the network input. */
static inline const int8_t *ct_seq_input(const ct_seq *s, int32_t l, int32_t b) {
    return l == 0 ? s->x + (int64_t)b * s->in_n
                  : s->st[l - 1].act + (int64_t)b * s->st[l - 1].out_n;
}

/* Softmax cross-entropy of one sample's logits z at 1 / inv_t, with the
 * trainer's exp and log, in class order: ct_train_softmax_loss's term. */
static inline double ct_seq_sample_loss(const int32_t *z, int32_t classes, int32_t y,
                                        double inv_t) {
    int32_t mx = z[0];
    for (int32_t k = 1; k < classes; ++k) mx = z[k] > mx ? z[k] : mx;
    double sum = 0.0;
    for (int32_t k = 0; k < classes; ++k) sum += ct_exp((double)((int64_t)z[k] - mx) * inv_t);
    return ct_log(sum) + (double)((int64_t)mx - z[y]) * inv_t;
}

/* ct_seq_state.c */
void ct_seq_refresh_losses(ct_seq *s);
/* The forward pass from stage l0 over the batch into acc[] / act[] (one
 * pointer per stage; stages below l0 are read from s). With new_shift >= 0
 * stage l0 is requantized from its cached accumulators with that shift
 * instead of being recomputed. CT_E_NOMEM if scratch cannot be had. */
ct_status ct_seq_forward_into(ct_seq *s, int32_t l0, int32_t new_shift, int32_t **acc,
                              int8_t **act);

/* ct_seq_delta.c: the change of sample b's loss under candidate c (whose
 * check is done), on scratch w; with commit the caches take the change. */
double ct_seq_sample_delta(ct_seq *s, ct_seq_work *w, const ct_candidate *c, int32_t b, int commit);
ct_status ct_seq_check_candidate(const ct_seq *s, const ct_candidate *c);

/* ct_seq_step.c */
double ct_seq_candidate_delta(ct_seq *s, const ct_candidate *c, int32_t screen, int *rejected);
void ct_seq_commit(ct_seq *s, const ct_candidate *c);

#endif /* CT_SEQ_INTERNAL_H */
