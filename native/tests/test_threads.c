/*
 * The threaded paths: ct_parallel_for itself, and the trainer's scored step,
 * whose candidates are scored on several threads. (The threaded GEMV / GEMM
 * are kernels_threads_same_bits_for_every_count in test_kernels_dispatch.c.)
 * tests/test_ctests.py also runs these under ThreadSanitizer with
 * CONNTRA_NUM_THREADS=2, where any data race fails the run.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "conntra_train.h"
#include "core/ct_threads.h"
#include "ct_test.h"

enum { N_ITEMS = 1003 };

typedef struct marks {
    int32_t hits[N_ITEMS];
} marks;

static void mark_range(void *ctx, int32_t begin, int32_t end) {
    marks *m = (marks *)ctx;
    for (int32_t i = begin; i < end; ++i) m->hits[i] += 1;
}

/* Every index is handled exactly once, for every thread count and grain. */
CT_TEST(threads_parallel_for_covers_each_index_once) {
    static const int32_t grains[] = {1, 4, 7, 2000};
    for (int32_t t = 0; t <= CT_MAX_THREADS + 1; t += (t < 9 ? 1 : 28)) {
        for (size_t g = 0; g < sizeof grains / sizeof grains[0]; ++g) {
            marks *m = calloc(1, sizeof *m);
            CT_CHECK(m != NULL);
            if (!m) return;
            ct_parallel_for(N_ITEMS, grains[g], t, mark_range, m);
            for (int32_t i = 0; i < N_ITEMS; ++i) CT_CHECK_EQ_I64(m->hits[i], 1);
            free(m);
        }
    }
}

enum { IN = 40, HID = 24, OUT = 10, BATCH = 64, N_CANDS = 96 };

/* A trainer with fixed pseudo-random parameters and batch. */
static ct_trainer *make_trainer(void) {
    uint64_t s = ct_test_seed() ^ 0x7e57u;
    const int32_t sizes[3] = {IN, HID, OUT};
    ct_trainer *t = NULL;
    if (ct_train_new(sizes, 2, BATCH, &t) != CT_OK) return NULL;
    int8_t w0[HID * IN], w1[OUT * HID], x[BATCH * IN];
    int32_t b0[HID], b1[OUT], y[BATCH];
    for (int i = 0; i < HID * IN; ++i) w0[i] = (int8_t)((int)(ct_test_rand(&s) % 3u) - 1);
    for (int i = 0; i < OUT * HID; ++i) w1[i] = (int8_t)((int)(ct_test_rand(&s) % 3u) - 1);
    for (int i = 0; i < HID; ++i) b0[i] = (int32_t)(ct_test_rand(&s) % 201u) - 100;
    for (int i = 0; i < OUT; ++i) b1[i] = (int32_t)(ct_test_rand(&s) % 21u) - 10;
    for (int i = 0; i < BATCH * IN; ++i) x[i] = (int8_t)(ct_test_rand(&s) % 128u);
    for (int b = 0; b < BATCH; ++b) y[b] = (int32_t)(ct_test_rand(&s) % OUT);
    if (ct_train_set_layer(t, 0, w0, b0, 4) != CT_OK ||
        ct_train_set_layer(t, 1, w1, b1, CT_SHIFT_OUTPUT) != CT_OK ||
        ct_train_set_batch(t, x, y, BATCH, 8.0) != CT_OK) {
        ct_train_free(t);
        return NULL;
    }
    return t;
}

/* One scored step (threads score the candidates) gives the same deltas,
 * accepted set and parameters for 1, 2 and 3 threads. */
CT_TEST(threads_scored_train_step_same_bits) {
    ct_candidate cands[N_CANDS];
    uint64_t s = ct_test_seed() ^ 0xca4du;
    for (int i = 0; i < N_CANDS; ++i) {
        const int32_t layer = (int32_t)(ct_test_rand(&s) % 2u);
        const int32_t kind = i % 16 == 15 ? (layer == 0 ? CT_CAND_SHIFT : CT_CAND_BIAS)
                             : i % 8 == 7 ? CT_CAND_BIAS
                                          : CT_CAND_WEIGHT;
        const int32_t rows = layer == 0 ? HID : OUT, cols = layer == 0 ? IN : HID;
        ct_candidate c = {layer, kind, (int32_t)(ct_test_rand(&s) % (uint64_t)rows),
                          (int32_t)(ct_test_rand(&s) % (uint64_t)cols),
                          (int32_t)(ct_test_rand(&s) % 3u) - 1};
        if (kind == CT_CAND_SHIFT) c.value = c.value == 0 ? 1 : c.value;
        if (kind == CT_CAND_BIAS) c.value *= 3;
        cands[i] = c;
    }
    double want_deltas[N_CANDS], deltas[N_CANDS];
    uint8_t want_acc[N_CANDS], acc[N_CANDS];
    int8_t want_w[HID * IN], w[HID * IN];
    const int32_t before = ct_num_threads();
    for (int32_t threads = 1; threads <= 3; ++threads) {
        CT_CHECK_EQ_I64(ct_set_num_threads(threads), CT_OK);
        ct_trainer *t = make_trainer();
        CT_CHECK(t != NULL);
        if (!t) break;
        int32_t n_acc = -1, shift = 0;
        int32_t bias[HID];
        memset(acc, 0, sizeof acc);
        CT_CHECK_EQ_I64(
            ct_train_step(t, cands, N_CANDS, CT_STEP_SCORED, 0.0, 0, acc, deltas, &n_acc), CT_OK);
        CT_CHECK_EQ_I64(ct_train_get_layer(t, 0, w, bias, &shift), CT_OK);
        if (threads == 1) {
            memcpy(want_deltas, deltas, sizeof deltas);
            memcpy(want_acc, acc, sizeof acc);
            memcpy(want_w, w, sizeof w);
            CT_CHECK(n_acc > 0);
        } else {
            CT_CHECK(memcmp(want_deltas, deltas, sizeof deltas) == 0);
            CT_CHECK(memcmp(want_acc, acc, sizeof acc) == 0);
            CT_CHECK(memcmp(want_w, w, sizeof w) == 0);
        }
        ct_train_free(t);
    }
    CT_CHECK_EQ_I64(ct_set_num_threads(before), CT_OK);
}
