/*
 * Reference kernels of the trainer's float families (TRAIN_CE_OUT_DELTA,
 * TRAIN_CE_LAST_HIDDEN_DELTA): ct_s32_f64_ce_out_delta__ref and
 * ct_s32_f64_ce_last_hidden_delta__ref. Portable C, the specification a SIMD
 * twin must equal, in the same order of additions (see ct_sum4), so that the
 * twins stay deterministic.
 */
#include "train/ct_train_internal.h"

/* Loss change of the samples whose class-cls logit moves by d * x[b]. The
 * new exponential is the cached one times exp(d x / T) from the table, so
 * the loop costs one log per touched sample and no exp; sminus holds the
 * other classes exactly, so nothing cancels. Summation order (the family's
 * specification, which the SIMD twins keep bit for bit): four partial sums,
 * sample b into part[b % 4], combined as ct_sum4 does. */
double ct_s32_f64_ce_out_delta__ref(const int8_t *x, int32_t d, int32_t n, const int32_t *y,
                                    int32_t cls, const double *e, const double *sminus,
                                    const double *lns, const double *tab, double inv_t) {
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    for (int32_t b = 0; b < n; ++b) {
        if (x[b] == 0) continue;
        part[b & 3] += ct_ce_out_term(x, d, y, cls, e, sminus, lns, tab, inv_t, b);
    }
    return ct_sum4(part);
}

/* Loss change of the samples in which one last-hidden activation moves by
 * da: the classes split by the sign of their weight from that neuron, so
 * S' = s0 + s+ * exp(da/T) + s- * exp(-da/T) from the cached exponentials
 * (sample-major: one or two cache lines per sample) and two table reads. */
double ct_s32_f64_ce_last_hidden_delta__ref(const int32_t *idx, const int32_t *da, int32_t n,
                                            const int8_t *col, int32_t classes, const double *e,
                                            const double *lns, const int32_t *y, const double *tab,
                                            double inv_t) {
    double part[4] = {0.0, 0.0, 0.0, 0.0}; /* listed sample s into part[s % 4] */
    for (int32_t s = 0; s < n; ++s) {
        part[s & 3] += ct_ce_lh_term(idx, da, col, classes, e, lns, y, tab, inv_t, s);
    }
    return ct_sum4(part);
}
