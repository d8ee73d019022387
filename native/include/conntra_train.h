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

/* Bytes of the trainer's state by part, counted from its sizes: parameters
 * (int8 weights, the transposed copy of every layer after the first that the
 * exact checks read by column, int32 biases, shifts), caches (the batch's
 * pre-activations and activations with their spare buffers, the loss caches,
 * the exp table and the scratch of the exact checks) and data (the batch's
 * int8 input and labels, and the lists of the samples where each input is
 * nonzero: one bit per sample and input, and a count per input). Any pointer
 * may be NULL. */
ct_status ct_train_memory(const ct_trainer *t, int64_t *parameters, int64_t *caches, int64_t *data);

/* The shift of one layer (-1 for the output layer), without copying its
 * weights. */
ct_status ct_train_shift(const ct_trainer *t, int32_t layer, int32_t *shift);

/* Sum over the batch of softmax cross-entropy of logits / temperature, with
 * the trainer's own exp and log, summed in sample order: the same bits on
 * every platform. logits is feature-major (classes rows, row stride
 * `stride` >= batch), y the labels (0 .. classes-1, else CT_E_RANGE). */
ct_status ct_train_softmax_loss(const int32_t *logits, int32_t classes, int32_t batch,
                                int64_t stride, const int32_t *y, double temperature, double *loss);

/* Candidate ranking (ct_train_rank.c): the surrogate gradient of the batch
 * loss, computed from the trainer's int8 weights and its caches block by
 * block (a few output rows at a time), never as a float matrix of a layer's
 * size. Each layer's best candidates are kept in a bounded heap; their order
 * (estimate, then index) and the estimates are the same bits on every
 * platform and for every thread count. */
typedef struct ct_rank ct_rank;

/* Ranking state for trainer t: up to max_weights weight and max_bias bias
 * candidates per layer, on up to n_threads threads (<= 0: ct_num_threads()).
 * CT_E_SHAPE if a layer has 2^31 weights or more. */
ct_status ct_rank_new(const ct_trainer *t, int32_t max_weights, int32_t max_bias, int32_t n_threads,
                      ct_rank **out);
void ct_rank_free(ct_rank *r);

/* Bytes the ranking state holds (heaps and per-thread block scratch). */
ct_status ct_rank_memory(const ct_rank *r, int64_t *bytes);

/* Ranks layer `layer` on t's current state: the n_weights weight steps and
 * then the n_bias bias steps (+-bias_step) of most negative first-order
 * estimate, negative estimates only. leak in [0, 1]: the straight-through
 * derivative's share outside the clamp range. samples > 0 (and below the
 * batch): the gradient over the batch's first `samples` only; 0: the whole
 * batch. The list replaces the layer's previous one and stays until
 * ct_rank_step or ct_rank_clear. */
ct_status ct_rank_layer(ct_rank *r, ct_trainer *t, int32_t layer, int32_t n_weights, int32_t n_bias,
                        int32_t bias_step, double leak, int32_t samples);

/* The layer's ranked list as candidates (weights best first, then biases),
 * with their estimates (est may be NULL); *n = its length (<= cap, else
 * CT_E_SCRATCH). */
ct_status ct_rank_candidates(const ct_rank *r, const ct_trainer *t, int32_t layer,
                             ct_candidate *out, double *est, int32_t cap, int32_t *n);

/* Forgets every ranked list. */
ct_status ct_rank_clear(ct_rank *r);

/* The sequential step of ct_train_step over the ranked lists, layer by layer
 * (weights, then biases), then the `n_extra` candidates of `extra` (shifts),
 * without building a candidate array. accepted[layer] (n_layers entries)
 * receives the count applied per layer. The lists are consumed.
 * screen > 0 (and below the batch): a weight or bias candidate is checked
 * first on the batch's first `screen` samples and rejected unless its change
 * there is negative; 0 checks every candidate on the whole batch. The next
 * candidates are checked ahead on the other threads of ct_num_threads(); the
 * applied changes are the same for every thread count. */
ct_status ct_rank_step(ct_rank *r, ct_trainer *t, const ct_candidate *extra, int32_t n_extra,
                       double min_gain, int32_t screen, int32_t *accepted);

/* ---- trainer for networks with layer kinds (ct_seq_*.c) -------------------
 *
 * The same exact coordinate descent for any chain that ct_net_check accepts:
 * conv2d (groups 1 or depthwise), maxpool2d, flatten and dense layers, the
 * last dense. Parameter layers (conv2d and dense) are numbered 0, 1, ... in
 * order; candidates name them in `layer`. A conv2d weight candidate has
 * row = output channel and col = the index of the weight in its filter
 * [kh][kw][in_c / groups]; a dense one row = output and col = input in the
 * model's NHWC flatten order. Caches hold every layer's accumulators and
 * activations of the batch, channel-planar per sample, so a changed weight
 * moves one contiguous plane of each sample: a check costs O(batch x
 * positions) at its layer, then only the activations that actually change
 * travel on, sample by sample, through pools, convolutions and dense layers
 * to the loss (docs/trainer.md). Sample losses sum in sample order: the same
 * bits for every thread count and platform. */
typedef struct ct_seq ct_seq;

/* A trainer for the chain `layers` (their w and bias are only checked, not
 * kept: parameters start at zero, shifts at the layers' own) and batches of
 * at most batch_cap samples. The statuses of ct_net_check, CT_E_SHAPE for
 * batch_cap < 1, CT_E_NOMEM. */
ct_status ct_seq_new(const ct_layer *layers, int32_t n_layers, int32_t batch_cap, ct_seq **out);
void ct_seq_free(ct_seq *s);

/* Parameter layers of the chain, and their sizes: weights (rows x cols)
 * and whether the layer is the output. */
ct_status ct_seq_params(const ct_seq *s, int32_t *n_params);
ct_status ct_seq_param_shape(const ct_seq *s, int32_t layer, int32_t *rows, int32_t *cols,
                             int32_t *is_output);

/* Copy a parameter layer in or out: w rows x cols int8 in the model's order
 * (conv2d [out_c][kh][kw][g], dense [n_out][n_in]), bias rows int32, shift
 * (ignored for and reported as -1 by the output layer). Setting invalidates
 * the caches until ct_seq_set_batch or ct_seq_recompute. */
ct_status ct_seq_set_layer(ct_seq *s, int32_t layer, const int8_t *w, const int32_t *bias,
                           int32_t shift);
ct_status ct_seq_get_layer(const ct_seq *s, int32_t layer, int8_t *w, int32_t *bias,
                           int32_t *shift);

/* Activation bits (1, 2, 4, 7) of a hidden parameter layer; CT_E_RANGE for
 * others or the output layer. Invalidates the caches like ct_seq_set_layer. */
ct_status ct_seq_set_act_bits(ct_seq *s, int32_t layer, int32_t act_bits);

/* Load a batch: x holds batch samples, each the NHWC tensor of layer 0 (int8
 * in 0..127), y the labels. Runs the forward pass and fills every cache. */
ct_status ct_seq_set_batch(ct_seq *s, const int8_t *x, const int32_t *y, int32_t batch,
                           double temperature);
ct_status ct_seq_set_temperature(ct_seq *s, double temperature);
ct_status ct_seq_recompute(ct_seq *s);
ct_status ct_seq_loss(const ct_seq *s, double *loss);

/* The logits of the batch, sample-major (batch rows of the class count). */
ct_status ct_seq_logits(const ct_seq *s, const int32_t **logits);

/* Exact loss change of one candidate; nothing changes. */
ct_status ct_seq_delta(ct_seq *s, const ct_candidate *c, double *delta);

/* Apply one candidate and update every cache. */
ct_status ct_seq_apply(ct_seq *s, const ct_candidate *c);

/* The sequential step of ct_train_step (CT_STEP_SEQUENTIAL) with screening
 * as ct_rank_step has it: screen in 1 .. batch - 1 checks a weight or bias
 * candidate first on the batch's first `screen` samples and rejects it
 * unless its change there is negative. A check splits the batch's samples
 * between ct_num_threads() threads when its work is large; the sum is in
 * sample order, so the applied changes do not depend on the count. All
 * candidates are validated first (CT_E_RANGE: nothing changed). */
ct_status ct_seq_step(ct_seq *s, const ct_candidate *cands, int32_t n, double min_gain,
                      int32_t screen, uint8_t *accepted, double *deltas, int32_t *n_accepted);

/* The surrogate gradient of the batch loss over the first `samples` samples
 * (0: all) for every parameter layer, in integers: the errors at the logits
 * ((softmax - one-hot) / T) scaled by 2^CT_SEQ_GRAD_BITS and rounded, then
 * carried back through the layers exactly in int64 (straight through each
 * requantization: a shift right by the layer's shift, rounded, inside the
 * clamp range, leak times that outside; through a pool to the first maximum
 * of its window). gw receives, per parameter layer in order, rows x cols
 * sums of error x input, gb rows sums of error: exact integers, the same for
 * every thread count and platform. */
enum { CT_SEQ_GRAD_BITS = 30 };
ct_status ct_seq_gradient(ct_seq *s, int32_t samples, double leak, int64_t *gw, int64_t *gb);

/* Exact sums for data-parallel training (conntra.train.dataparallel). A
 * float64 sum in sample order cannot be split between processes without
 * changing its bits, so these round each sample's value to a multiple of
 * 2^-CT_SEQ_SUM_BITS and add the integers: the sum over any split of the
 * batch, added in any order, is the same.
 *
 * ct_seq_partials: for each of cands[0..n), on the current state and with
 * nothing applied, the loss change of this process's samples [b0, b1) as
 * such an integer sum (a shift candidate's over the same range, from its
 * forward pass). ok[i] = 0 and sums[i] = 0 for a candidate the state makes
 * void (a bias step out of range after an earlier change); ok[i] = 1
 * otherwise. CT_E_RANGE if a sample's change reaches 2^24 (its rounding
 * would lose the sum's range) or a sum leaves int64; CT_E_NOMEM if a shift's
 * buffers cannot be had. ct_seq_loss_sum: the loss of samples [b0, b1) the
 * same way. */
enum { CT_SEQ_SUM_BITS = 32 };
ct_status ct_seq_partials(ct_seq *s, const ct_candidate *cands, int32_t n, int32_t b0, int32_t b1,
                          int64_t *sums, uint8_t *ok);
ct_status ct_seq_loss_sum(const ct_seq *s, int32_t b0, int32_t b1, int64_t *sum);

/* Bytes of the state by part, as ct_train_memory counts them. */
ct_status ct_seq_memory(const ct_seq *s, int64_t *parameters, int64_t *caches, int64_t *data);

/* CT_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* CONNTRA_TRAIN_H */
