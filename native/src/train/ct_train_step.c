/*
 * One batch round of coordinate descent, entirely in C: exact checks of a
 * list of candidates and greedy acceptance on strict loss decrease.
 */
#include <stdlib.h>

#include "train/ct_train_internal.h"

typedef struct scored {
    double delta;
    int32_t index;
} scored;

/* Most negative change first; the index breaks ties so the order (and so
 * the trained model) never depends on the sort implementation. */
static int by_delta(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->delta < y->delta) return -1;
    if (x->delta > y->delta) return 1;
    return (x->index > y->index) - (x->index < y->index);
}

int ct_train_try_accept(ct_trainer *t, const ct_candidate *c, double min_gain, double *delta) {
    /* A bias candidate stays in range however many earlier ones are accepted
     * only if each is checked again before it is applied. */
    if (ct_train_check_candidate(t, c) != CT_OK) return 0;
    const double d = ct_train_delta_unchecked(t, c, 0);
    if (delta) *delta = d;
    if (!(d < ct_train_threshold(t, min_gain))) return 0;
    (void)ct_train_delta_unchecked(t, c, 1);
    return 1;
}

/* Checks candidate i and records its delta and acceptance in the optional
 * output arrays. Both step modes accept through here. */
static int try_accept(ct_trainer *t, const ct_candidate *cands, int32_t i, double min_gain,
                      uint8_t *accepted, double *deltas) {
    const int ok = ct_train_try_accept(t, &cands[i], min_gain, deltas ? &deltas[i] : NULL);
    if (ok && accepted) accepted[i] = 1;
    return ok;
}

ct_status ct_train_step(ct_trainer *t, const ct_candidate *cands, int32_t n, int32_t mode,
                        double min_gain, int32_t max_accept, uint8_t *accepted, double *deltas,
                        int32_t *n_accepted) {
    if (t == NULL || n_accepted == NULL || (n > 0 && cands == NULL)) return CT_E_NULL;
    if (n < 0) return CT_E_SHAPE;
    if (mode != CT_STEP_SEQUENTIAL && mode != CT_STEP_SCORED) return CT_E_RANGE;
    if (!(min_gain >= 0.0)) return CT_E_RANGE;
    if (!t->valid) return CT_E_STATE;
    *n_accepted = 0;
    for (int32_t i = 0; i < n; ++i) {
        const ct_status st = ct_train_check_candidate(t, &cands[i]);
        if (st != CT_OK) return st;
    }
    for (int32_t i = 0; i < n; ++i) {
        if (accepted) accepted[i] = 0;
        if (deltas) deltas[i] = 0.0;
    }
    const int32_t limit = max_accept > 0 ? max_accept : n;
    int32_t count = 0;
    if (mode == CT_STEP_SEQUENTIAL) {
        for (int32_t i = 0; i < n && count < limit; ++i) {
            count += try_accept(t, cands, i, min_gain, accepted, deltas);
        }
        *n_accepted = count;
        return CT_OK;
    }
    scored *order = malloc(sizeof(scored) * (size_t)(n > 0 ? n : 1));
    if (order == NULL) return CT_E_NOMEM;
    double *vals = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (vals == NULL) {
        free(order);
        return CT_E_NOMEM;
    }
    /* Scored on ct_num_threads() threads (ct_train_threads.c): the same bits
     * for every count, since each delta is computed whole by one thread. */
    const ct_status sst = ct_train_score(t, cands, n, vals, ct_num_threads());
    if (sst != CT_OK) {
        free(vals);
        free(order);
        return sst;
    }
    for (int32_t i = 0; i < n; ++i) {
        order[i].delta = vals[i];
        order[i].index = i;
        if (deltas) deltas[i] = order[i].delta;
    }
    free(vals);
    qsort(order, (size_t)n, sizeof(scored), by_delta);
    for (int32_t r = 0; r < n && count < limit; ++r) {
        if (!(order[r].delta < ct_train_threshold(t, min_gain))) break; /* sorted: none gains */
        count += try_accept(t, cands, order[r].index, min_gain, accepted, deltas);
    }
    free(order);
    *n_accepted = count;
    return CT_OK;
}
