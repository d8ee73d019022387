/*
 * The trainer for chains of layer kinds (ct_seq): its logits against
 * ct_net_forward on the same network, every check against a trainer built
 * afresh on the changed parameters, the caches after each application
 * (logits and the integer gradient, which reads every stage), and the same
 * bits for 1 and 3 threads. Runs natively, under the sanitizers and under
 * qemu-aarch64 like the other C tests.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "conntra_train.h"
#include "ct_test.h"

enum { N_LAYERS = 5, N_PARAMS = 3, BATCH = 24, CLASSES = 10 };

typedef struct chain {
    ct_layer L[N_LAYERS];
    int8_t *w[N_PARAMS];
    int32_t *bias[N_PARAMS];
    int32_t shift[N_PARAMS];
    int32_t rows[N_PARAMS], k[N_PARAMS];
    uint8_t *packed[N_PARAMS];
} chain;

/* conv 3x3 same (6x6x2 -> 6x6x4), maxpool 2x2, depthwise 3x3 same,
 * flatten, dense 36 -> 10: every kind, and a dense layer after a tensor. */
static void chain_make(chain *c, uint64_t *s) {
    memset(c, 0, sizeof *c);
    ct_layer *L = c->L;
    L[0] = (ct_layer){.kind = CT_LAYER_CONV2D,
                      .in_h = 6,
                      .in_w = 6,
                      .in_c = 2,
                      .out_c = 4,
                      .kh = 3,
                      .kw = 3,
                      .stride_h = 1,
                      .stride_w = 1,
                      .pad_top = 1,
                      .pad_bottom = 1,
                      .pad_left = 1,
                      .pad_right = 1,
                      .groups = 1,
                      .n_in = 72,
                      .n_out = 144,
                      .act_bits = 7};
    L[1] = (ct_layer){.kind = CT_LAYER_MAXPOOL2D,
                      .in_h = 6,
                      .in_w = 6,
                      .in_c = 4,
                      .kh = 2,
                      .kw = 2,
                      .stride_h = 2,
                      .stride_w = 2,
                      .n_in = 144,
                      .n_out = 36};
    L[2] = (ct_layer){.kind = CT_LAYER_CONV2D,
                      .in_h = 3,
                      .in_w = 3,
                      .in_c = 4,
                      .out_c = 4,
                      .kh = 3,
                      .kw = 3,
                      .stride_h = 1,
                      .stride_w = 1,
                      .pad_top = 1,
                      .pad_bottom = 1,
                      .pad_left = 1,
                      .pad_right = 1,
                      .groups = 4,
                      .n_in = 36,
                      .n_out = 36,
                      .act_bits = 4};
    L[3] = (ct_layer){
        .kind = CT_LAYER_FLATTEN, .in_h = 3, .in_w = 3, .in_c = 4, .n_in = 36, .n_out = 36};
    L[4] = (ct_layer){.kind = CT_LAYER_DENSE, .n_in = 36, .n_out = CLASSES, .shift = -1};
    const int32_t rows[N_PARAMS] = {4, 4, CLASSES}, ks[N_PARAMS] = {18, 9, 36};
    const int32_t at[N_PARAMS] = {0, 2, 4}, shifts[N_PARAMS] = {5, 4, -1};
    for (int32_t p = 0; p < N_PARAMS; ++p) {
        c->rows[p] = rows[p];
        c->k[p] = ks[p];
        c->shift[p] = shifts[p];
        c->w[p] = malloc((size_t)(rows[p] * ks[p]));
        c->bias[p] = malloc(sizeof(int32_t) * (size_t)rows[p]);
        const int64_t bytes = ct_t2_packed_bytes(rows[p], ks[p]);
        c->packed[p] = malloc((size_t)bytes);
        for (int32_t i = 0; i < rows[p] * ks[p]; ++i) {
            c->w[p][i] = (int8_t)((int)(ct_test_rand(s) % 3u) - 1);
        }
        for (int32_t j = 0; j < rows[p]; ++j) c->bias[p][j] = (int32_t)(ct_test_rand(s) % 61) - 30;
        ct_t2_pack(c->w[p], rows[p], ks[p], c->packed[p], bytes);
        L[at[p]].w = c->packed[p];
        L[at[p]].bias = c->bias[p];
        if (p < N_PARAMS - 1) L[at[p]].shift = shifts[p];
    }
}

static void chain_free(chain *c) {
    for (int32_t p = 0; p < N_PARAMS; ++p) {
        free(c->w[p]);
        free(c->bias[p]);
        free(c->packed[p]);
    }
}

static ct_seq *seq_n(const chain *c, const int8_t *x, const int32_t *y, int32_t n) {
    ct_seq *s = NULL;
    if (ct_seq_new(c->L, N_LAYERS, n, &s) != CT_OK) return NULL;
    for (int32_t p = 0; p < N_PARAMS; ++p) {
        ct_seq_set_layer(s, p, c->w[p], c->bias[p], c->shift[p]);
    }
    ct_seq_set_act_bits(s, 1, 4);
    ct_seq_set_batch(s, x, y, n, 30.0);
    return s;
}

static ct_seq *seq_from(const chain *c, const int8_t *x, const int32_t *y) {
    return seq_n(c, x, y, BATCH);
}

static void batch_n(uint64_t *s, int8_t *x, int32_t *y, int32_t n) {
    for (int32_t i = 0; i < n * 72; ++i) {
        x[i] = (ct_test_rand(s) % 4u == 0) ? 0 : (int8_t)(ct_test_rand(s) % 128u);
    }
    for (int32_t b = 0; b < n; ++b) y[b] = (int32_t)(ct_test_rand(s) % CLASSES);
}

static void batch(uint64_t *s, int8_t *x, int32_t *y) {
    batch_n(s, x, y, BATCH);
}

CT_TEST(seq_logits_match_the_engine) {
    uint64_t s = ct_test_seed();
    chain c;
    chain_make(&c, &s);
    int8_t x[BATCH * 72];
    int32_t y[BATCH], want[BATCH * CLASSES];
    batch(&s, x, y);
    int64_t bytes = 0;
    CT_CHECK_EQ_I64(ct_net_scratch_bytes(c.L, N_LAYERS, BATCH, &bytes), CT_OK);
    void *scratch = malloc((size_t)bytes);
    CT_CHECK_EQ_I64(ct_net_forward(c.L, N_LAYERS, x, BATCH, want, scratch, bytes), CT_OK);
    ct_seq *t = seq_from(&c, x, y);
    CT_CHECK(t != NULL);
    const int32_t *got = NULL;
    CT_CHECK_EQ_I64(ct_seq_logits(t, &got), CT_OK);
    for (int32_t i = 0; i < BATCH * CLASSES; ++i) CT_CHECK_EQ_I64(got[i], want[i]);
    ct_seq_free(t);
    free(scratch);
    chain_free(&c);
}

static ct_candidate random_candidate(uint64_t *s, const chain *c) {
    ct_candidate cand = {0};
    cand.layer = (int32_t)(ct_test_rand(s) % N_PARAMS);
    const uint64_t kind = ct_test_rand(s) % (cand.layer < N_PARAMS - 1 ? 3u : 2u);
    cand.kind = (int32_t)kind;
    if (kind == CT_CAND_WEIGHT) {
        cand.row = (int32_t)(ct_test_rand(s) % (uint64_t)c->rows[cand.layer]);
        cand.col = (int32_t)(ct_test_rand(s) % (uint64_t)c->k[cand.layer]);
        cand.value = (int32_t)(ct_test_rand(s) % 3u) - 1;
    } else if (kind == CT_CAND_BIAS) {
        cand.row = (int32_t)(ct_test_rand(s) % (uint64_t)c->rows[cand.layer]);
        cand.value = (ct_test_rand(s) % 2u) ? 9 : -17;
    } else {
        cand.value = (ct_test_rand(s) % 2u) ? 1 : -1;
    }
    return cand;
}

static void change(chain *c, const ct_candidate *cand) {
    if (cand->kind == CT_CAND_WEIGHT) {
        c->w[cand->layer][cand->row * c->k[cand->layer] + cand->col] = (int8_t)cand->value;
    } else if (cand->kind == CT_CAND_BIAS) {
        c->bias[cand->layer][cand->row] += cand->value;
    } else {
        c->shift[cand->layer] += cand->value;
    }
}

static int same_gradient(ct_seq *a, ct_seq *b) {
    enum { NW = 4 * 18 + 4 * 9 + CLASSES * 36, NB = 4 + 4 + CLASSES };
    int64_t gwa[NW], gba[NB], gwb[NW], gbb[NB];
    ct_seq_gradient(a, 0, 0.25, gwa, gba);
    ct_seq_gradient(b, 0, 0.25, gwb, gbb);
    return memcmp(gwa, gwb, sizeof gwa) == 0 && memcmp(gba, gbb, sizeof gba) == 0;
}

CT_TEST(seq_checks_and_applications_are_exact) {
    uint64_t s = ct_test_seed();
    chain c;
    chain_make(&c, &s);
    int8_t x[BATCH * 72];
    int32_t y[BATCH];
    batch(&s, x, y);
    ct_seq *t = seq_from(&c, x, y);
    CT_CHECK(t != NULL);
    int checked = 0;
    for (int it = 0; it < 120 && t != NULL; ++it) {
        const ct_candidate cand = random_candidate(&s, &c);
        double delta = 0.0, before = 0.0, after = 0.0;
        if (ct_seq_delta(t, &cand, &delta) != CT_OK) continue; /* out of range */
        chain moved = c;
        int8_t *w = malloc((size_t)(c.rows[cand.layer] * c.k[cand.layer]));
        int32_t *bias = malloc(sizeof(int32_t) * (size_t)c.rows[cand.layer]);
        memcpy(w, c.w[cand.layer], (size_t)(c.rows[cand.layer] * c.k[cand.layer]));
        memcpy(bias, c.bias[cand.layer], sizeof(int32_t) * (size_t)c.rows[cand.layer]);
        moved.w[cand.layer] = w;
        moved.bias[cand.layer] = bias;
        change(&moved, &cand);
        ct_seq *fresh = seq_from(&moved, x, y);
        CT_CHECK(fresh != NULL);
        ct_seq_loss(t, &before);
        ct_seq_loss(fresh, &after);
        const double diff = (after - before) - delta;
        CT_CHECK(diff < 1e-9 * (after + 1.0) && diff > -1e-9 * (after + 1.0));
        ++checked;
        if (it % 2 == 0) {
            CT_CHECK_EQ_I64(ct_seq_apply(t, &cand), CT_OK);
            const int32_t *za = NULL, *zb = NULL;
            ct_seq_logits(t, &za);
            ct_seq_logits(fresh, &zb);
            CT_CHECK(memcmp(za, zb, sizeof(int32_t) * BATCH * CLASSES) == 0);
            CT_CHECK(same_gradient(t, fresh));
            memcpy(c.w[cand.layer], w, (size_t)(c.rows[cand.layer] * c.k[cand.layer]));
            memcpy(c.bias[cand.layer], bias, sizeof(int32_t) * (size_t)c.rows[cand.layer]);
            c.shift[cand.layer] = moved.shift[cand.layer];
        }
        ct_seq_free(fresh);
        free(w);
        free(bias);
    }
    CT_CHECK(checked > 60);
    ct_seq_free(t);
    chain_free(&c);
}

CT_TEST(seq_step_same_bits_for_thread_counts) {
    /* 2048 samples of 36 positions: enough work that a check splits its
     * samples between threads (ct_seq_step.c) */
    enum { N = 40, BIG = 2048 };
    uint64_t s = ct_test_seed();
    chain c;
    chain_make(&c, &s);
    int8_t *x = malloc(BIG * 72);
    int32_t *y = malloc(sizeof(int32_t) * BIG);
    batch_n(&s, x, y, BIG);
    ct_candidate cands[N];
    for (int32_t i = 0; i < N; ++i) {
        cands[i] = random_candidate(&s, &c);
        if (cands[i].kind == CT_CAND_SHIFT) cands[i].kind = CT_CAND_BIAS;
    }
    double deltas[2][N];
    uint8_t acc[2][N];
    const int32_t counts[2] = {1, 3};
    for (int r = 0; r < 2; ++r) {
        CT_CHECK_EQ_I64(ct_set_num_threads(counts[r]), CT_OK);
        ct_seq *t = seq_n(&c, x, y, BIG);
        CT_CHECK(t != NULL);
        int32_t n_acc = 0;
        CT_CHECK_EQ_I64(ct_seq_step(t, cands, N, 0.0, 256, acc[r], deltas[r], &n_acc), CT_OK);
        ct_seq_free(t);
    }
    ct_set_num_threads(0);
    CT_CHECK(memcmp(deltas[0], deltas[1], sizeof deltas[0]) == 0);
    CT_CHECK(memcmp(acc[0], acc[1], sizeof acc[0]) == 0);
    free(x);
    free(y);
    chain_free(&c);
}

/* The exact sums of data-parallel training: a batch split between two
 * trainers (every other sample) gives partial sums that add to the whole
 * batch's, and so do two ranges of one trainer; the loss the same way. */
CT_TEST(seq_partials_add_up_over_any_split) {
    enum { N = 30 };
    uint64_t s = ct_test_seed();
    chain c;
    chain_make(&c, &s);
    int8_t x[BATCH * 72], xs[2][BATCH / 2 * 72];
    int32_t y[BATCH], ys[2][BATCH / 2];
    batch(&s, x, y);
    for (int32_t b = 0; b < BATCH; ++b) {
        memcpy(xs[b % 2] + (b / 2) * 72, x + b * 72, 72);
        ys[b % 2][b / 2] = y[b];
    }
    ct_seq *whole = seq_from(&c, x, y);
    ct_seq *part[2] = {seq_n(&c, xs[0], ys[0], BATCH / 2), seq_n(&c, xs[1], ys[1], BATCH / 2)};
    CT_CHECK(whole != NULL && part[0] != NULL && part[1] != NULL);
    ct_candidate cands[N];
    for (int32_t i = 0; i < N; ++i) cands[i] = random_candidate(&s, &c);
    int64_t all[N], lo[N], hi[N], p0[N], p1[N];
    uint8_t ok[N], ok2[N];
    CT_CHECK_EQ_I64(ct_seq_partials(whole, cands, N, 0, BATCH, all, ok), CT_OK);
    CT_CHECK_EQ_I64(ct_seq_partials(whole, cands, N, 0, 7, lo, ok2), CT_OK);
    CT_CHECK_EQ_I64(ct_seq_partials(whole, cands, N, 7, BATCH, hi, ok2), CT_OK);
    CT_CHECK_EQ_I64(ct_seq_partials(part[0], cands, N, 0, BATCH / 2, p0, ok2), CT_OK);
    CT_CHECK_EQ_I64(ct_seq_partials(part[1], cands, N, 0, BATCH / 2, p1, ok2), CT_OK);
    int nonzero = 0;
    for (int32_t i = 0; i < N; ++i) {
        CT_CHECK_EQ_I64(ok[i], ok2[i]);
        CT_CHECK_EQ_I64(all[i], lo[i] + hi[i]);
        CT_CHECK_EQ_I64(all[i], p0[i] + p1[i]);
        nonzero += all[i] != 0;
        if (!ok[i]) continue;
        double delta = 0.0; /* the float check, within the rounding of the sum */
        CT_CHECK_EQ_I64(ct_seq_delta(whole, &cands[i], &delta), CT_OK);
        const double fixed = (double)all[i] / (double)((int64_t)1 << CT_SEQ_SUM_BITS);
        const double err = fixed - delta, mag = delta < 0.0 ? 1.0 - delta : 1.0 + delta;
        CT_CHECK(err < 1e-7 * mag && err > -1e-7 * mag);
    }
    CT_CHECK(nonzero > N / 2);
    int64_t l_all = 0, l0 = 0, l1 = 0;
    CT_CHECK_EQ_I64(ct_seq_loss_sum(whole, 0, BATCH, &l_all), CT_OK);
    CT_CHECK_EQ_I64(ct_seq_loss_sum(part[0], 0, BATCH / 2, &l0), CT_OK);
    CT_CHECK_EQ_I64(ct_seq_loss_sum(part[1], 0, BATCH / 2, &l1), CT_OK);
    CT_CHECK_EQ_I64(l_all, l0 + l1);
    /* a bias step beyond the contract's range is void, not an error */
    ct_candidate far = {.layer = 0, .kind = CT_CAND_BIAS, .row = 0, .value = 1 << 30};
    int64_t sum = 7;
    uint8_t good = 1;
    CT_CHECK_EQ_I64(ct_seq_partials(whole, &far, 1, 0, BATCH, &sum, &good), CT_OK);
    CT_CHECK_EQ_I64(good, 0);
    CT_CHECK_EQ_I64(sum, 0);
    CT_CHECK_EQ_I64(ct_seq_partials(whole, cands, N, 5, 4, all, ok), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_seq_partials(whole, cands, N, 0, BATCH + 1, all, ok), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_seq_loss_sum(whole, -1, 3, &sum), CT_E_SHAPE);
    ct_seq_free(whole);
    ct_seq_free(part[0]);
    ct_seq_free(part[1]);
    chain_free(&c);
}
