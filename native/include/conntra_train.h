/*
 * conntra C core: the CoNNTrA trainer engine (docs/trainer.md).
 *
 * A ct_trainer owns a copy of a network's parameters (unpacked int8 weights,
 * int32 biases, shifts) and, for the current batch, int32 pre-activations and
 * int8 activations of every layer, stored feature-major (row j holds neuron j
 * for every sample) so a change of one parameter touches one contiguous row.
 * From these caches the exact change of the batch loss caused by one
 * candidate change costs O(batch) for an output weight and
 * O(batch x n_out of later layers) for a hidden weight; no full forward pass.
 *
 * Loss: sum over the batch of softmax cross-entropy of logits / temperature,
 * accumulated in float64 in sample order, so runs are deterministic.
 *
 * Parsed by cffi after conntra.h (its types are visible here).
 */
#ifndef CONNTRA_TRAIN_H
#define CONNTRA_TRAIN_H

#include "conntra.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CT_CDEF_BEGIN */

typedef struct ct_trainer ct_trainer;

/* Kinds of candidate change. */
enum {
    CT_CAND_WEIGHT = 0, /* w[row][col] := value (value in -1..1) */
    CT_CAND_BIAS = 1,   /* bias[row] += value */
    CT_CAND_SHIFT = 2   /* shift += value (hidden layers only; row, col unused) */
};

/* Step modes. */
enum {
    CT_STEP_SEQUENTIAL = 0, /* check candidates in the given order, accept greedily */
    CT_STEP_SCORED = 1      /* score all on the same state, then re-check greedily
                               in order of exact gain */
};

typedef struct ct_candidate {
    int32_t layer;
    int32_t kind;
    int32_t row;
    int32_t col;
    int32_t value;
} ct_candidate;

/* A trainer for layer sizes sizes[0..n_layers] (n_layers dense layers, the
 * last one the output layer) and batches of at most batch_cap samples.
 * Parameters start at zero with shift 0. CT_E_NOMEM if allocation fails. */
ct_status ct_train_new(const int32_t *sizes, int32_t n_layers, int32_t batch_cap, ct_trainer **out);
void ct_train_free(ct_trainer *t);

/* Copy one layer's parameters in (row-major int8 weights n_out x n_in) or out.
 * Setting a layer invalidates the batch caches until ct_train_set_batch or
 * ct_train_recompute. shift is ignored for (and reported as -1 by) the
 * output layer. */
ct_status ct_train_set_layer(ct_trainer *t, int32_t layer, const int8_t *w, const int32_t *bias,
                             int32_t shift);
ct_status ct_train_get_layer(const ct_trainer *t, int32_t layer, int8_t *w, int32_t *bias,
                             int32_t *shift);

/* Activation bits of hidden layer `layer`: 1, 2, 4 or 7 (the default), so
 * that every check and forward requantizes to 0 .. 2^act_bits - 1.
 * CT_E_RANGE for other bits or the output layer. Invalidates the batch caches
 * like ct_train_set_layer. */
ct_status ct_train_set_act_bits(ct_trainer *t, int32_t layer, int32_t act_bits);

/* Load a batch: x is sample-major (batch rows of sizes[0] int8 in 0..127),
 * y the labels. Runs the full forward pass and fills every cache. */
ct_status ct_train_set_batch(ct_trainer *t, const int8_t *x, const int32_t *y, int32_t batch,
                             double temperature);

/* Change the temperature of the current batch (recomputes the loss caches). */
ct_status ct_train_set_temperature(ct_trainer *t, double temperature);

/* Full forward pass of the current batch from the current parameters. */
ct_status ct_train_recompute(ct_trainer *t);

/* Sum of the per-sample losses of the current batch. */
ct_status ct_train_loss(const ct_trainer *t, double *loss);

/* Read-only views of the caches of layer `layer` (feature-major, row stride
 * = *stride samples): pre-activations acc (for the output layer: logits) and
 * int8 activations act (NULL for the output layer). layer -1 gives the
 * transposed input in act. */
ct_status ct_train_cache(const ct_trainer *t, int32_t layer, const int32_t **acc,
                         const int8_t **act, int32_t *stride);

/* Exact loss change of one candidate on the current state; nothing changes. */
ct_status ct_train_delta(ct_trainer *t, const ct_candidate *c, double *delta);

/* Apply one candidate and update every cache. */
ct_status ct_train_apply(ct_trainer *t, const ct_candidate *c);

/* One batch round: checks candidates exactly and applies each whose exact
 * loss change is < -(min_gain + 1e-12 * (|loss| + 1)) (a strict decrease,
 * beyond the float64 rounding of the loss), at most max_accept of them
 * (<= 0: no limit). accepted[i] (may be NULL) is set to 1 for applied ones,
 * deltas[i] (may be NULL) receives the last exact change computed for i
 * (0 for one never checked). All candidates are validated first:
 * CT_E_RANGE leaves the state unchanged. */
ct_status ct_train_step(ct_trainer *t, const ct_candidate *cands, int32_t n, int32_t mode,
                        double min_gain, int32_t max_accept, uint8_t *accepted, double *deltas,
                        int32_t *n_accepted);

/* CT_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* CONNTRA_TRAIN_H */
