/* The ranking in C (ct_train_rank.c): argument checks, the order it
 * promises, the same lists for every thread count, and a short training run
 * whose parameters hash to a constant on every platform (tests/test_ctests.py
 * runs this natively, under sanitizers and for aarch64 under qemu with
 * -cpu cortex-a53 and -cpu max). */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "conntra_train.h"
#include "ct_test.h"

enum { N_LAYERS = 3, BATCH = 200, ROUNDS = 3, BATCHES = 3 };

static const int32_t SIZES[N_LAYERS + 1] = {24, 16, 12, 5};
static const int32_t SHIFTS[N_LAYERS - 1] = {3, 3};

/* A fixed integer seed, not ct_test_seed(): the hash below is a constant. */
static ct_trainer *random_trainer(uint64_t seed) {
    ct_trainer *t = NULL;
    if (ct_train_new(SIZES, N_LAYERS, BATCH, &t) != CT_OK) return NULL;
    uint64_t s = seed;
    for (int32_t l = 0; l < N_LAYERS; ++l) {
        const int32_t n = SIZES[l] * SIZES[l + 1];
        int8_t *w = malloc((size_t)n);
        int32_t bias[16];
        if (w == NULL) {
            ct_train_free(t);
            return NULL;
        }
        for (int32_t i = 0; i < n; ++i) w[i] = (int8_t)((int64_t)(ct_test_rand(&s) % 3) - 1);
        for (int32_t j = 0; j < SIZES[l + 1]; ++j) bias[j] = (int32_t)(ct_test_rand(&s) % 9) - 4;
        const int32_t shift = l < N_LAYERS - 1 ? SHIFTS[l] : 0;
        const ct_status st = ct_train_set_layer(t, l, w, bias, shift);
        free(w);
        if (st != CT_OK) {
            ct_train_free(t);
            return NULL;
        }
    }
    return t;
}

/* Synthetic int8 data, half the inputs zero; labels follow a few inputs so
 * that there is something to learn. */
static void random_batch(uint64_t *s, int8_t *x, int32_t *y) {
    for (int32_t b = 0; b < BATCH; ++b) {
        for (int32_t i = 0; i < SIZES[0]; ++i) {
            const uint64_t r = ct_test_rand(s);
            x[b * SIZES[0] + i] = (int8_t)((r & 1) ? (r >> 8) % 128 : 0);
        }
        y[b] = (x[b * SIZES[0]] + x[b * SIZES[0] + 1] + 2 * x[b * SIZES[0] + 2]) % SIZES[N_LAYERS];
    }
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static uint64_t params_hash(const ct_trainer *t) {
    uint64_t h = 14695981039346656037ull;
    int8_t w[24 * 16];
    int32_t bias[16], shift = 0;
    for (int32_t l = 0; l < N_LAYERS; ++l) {
        if (ct_train_get_layer(t, l, w, bias, &shift) != CT_OK) return 0;
        h = fnv(h, w, (size_t)(SIZES[l] * SIZES[l + 1]));
        for (int32_t j = 0; j < SIZES[l + 1]; ++j) {
            const unsigned char le[4] = {(unsigned char)(bias[j] & 0xff),
                                         (unsigned char)((bias[j] >> 8) & 0xff),
                                         (unsigned char)((bias[j] >> 16) & 0xff),
                                         (unsigned char)(((uint32_t)bias[j] >> 24) & 0xff)};
            h = fnv(h, le, 4);
        }
        const unsigned char sh = (unsigned char)(shift & 0xff);
        h = fnv(h, &sh, 1);
    }
    return h;
}

/* Ranks every layer (as conntra.train.coordinate does) and steps. */
static int32_t train_round(ct_rank *r, ct_trainer *t, int32_t screen) {
    int8_t w[24 * 16];
    int32_t bias[16], shift = 0;
    for (int32_t l = 0; l < N_LAYERS; ++l) {
        if (ct_train_get_layer(t, l, w, bias, &shift) != CT_OK) return -1;
        const int32_t step = l < N_LAYERS - 1 ? 1 << shift : 2;
        if (ct_rank_layer(r, t, l, 40, 4, step, 0.0, 0) != CT_OK) return -1;
    }
    ct_candidate extra[4];
    int32_t n_extra = 0;
    for (int32_t l = 0; l < N_LAYERS - 1; ++l) {
        if (ct_train_get_layer(t, l, w, bias, &shift) != CT_OK) return -1;
        for (int32_t d = 1; d >= -1; d -= 2) {
            if (shift + d < 0 || shift + d > 24) continue;
            const ct_candidate c = {l, CT_CAND_SHIFT, 0, 0, d};
            extra[n_extra++] = c;
        }
    }
    int32_t acc[N_LAYERS] = {0, 0, 0};
    if (ct_rank_step(r, t, extra, n_extra, 0.0, screen, acc) != CT_OK) return -1;
    return acc[0] + acc[1] + acc[2];
}

static uint64_t short_run(int32_t screen, int32_t *accepted, double *loss_before,
                          double *loss_after) {
    ct_trainer *t = random_trainer(12345);
    ct_rank *r = NULL;
    int8_t *x = malloc((size_t)BATCH * (size_t)SIZES[0]);
    int32_t y[BATCH];
    uint64_t h = 0;
    *accepted = 0;
    if (t == NULL || x == NULL || ct_rank_new(t, 40, 4, 0, &r) != CT_OK) goto done;
    uint64_t s = 777;
    for (int32_t bi = 0; bi < BATCHES; ++bi) {
        random_batch(&s, x, y);
        if (ct_train_set_batch(t, x, y, BATCH, 6.0) != CT_OK) goto done;
        if (bi == 0) (void)ct_train_loss(t, loss_before);
        for (int32_t round = 0; round < ROUNDS; ++round) {
            const int32_t a = train_round(r, t, screen);
            if (a < 0) goto done;
            *accepted += a;
        }
    }
    (void)ct_train_set_batch(t, x, y, BATCH, 6.0);
    (void)ct_train_loss(t, loss_after);
    h = params_hash(t);
done:
    ct_rank_free(r);
    ct_train_free(t);
    free(x);
    return h;
}

/* The same parameters on every platform and every thread count: ranking and
 * checks are integer or fixed-order float arithmetic with our own exp/log.
 * If a deliberate change to the ranking or the checks moves this constant,
 * every platform moves together: update it from any one of them. */
CT_TEST(train_rank_same_bytes_on_every_platform) {
    int32_t accepted = 0;
    double before = 0.0, after = 0.0;
    const uint64_t h = short_run(0, &accepted, &before, &after);
    CT_CHECK(accepted > 0);
    printf("    rank run: %d accepted, hash %016llx\n", (int)accepted, (unsigned long long)h);
    CT_CHECK(h == 0xcf492e568b53a9b1ull);
    CT_CHECK(ct_set_num_threads(3) == CT_OK);
    int32_t accepted3 = 0;
    const uint64_t h3 = short_run(0, &accepted3, &before, &after);
    CT_CHECK(ct_set_num_threads(0) == CT_OK);
    CT_CHECK(h3 == h);
    CT_CHECK_EQ_I64(accepted3, accepted);
    /* every family on its scalar reference kernel: the ranking's plain build
     * too (it follows the trainer's kernels), the same bits again */
    int32_t families[32], n_families = 0;
    for (int32_t k = 0; k < ct_kernel_count(); ++k) {
        const char *name = NULL, *isa = NULL;
        int32_t family = 0, supported = 0;
        CT_CHECK_EQ_I64(ct_kernel_info(k, &name, &family, &isa, &supported), CT_OK);
        if (strcmp(isa, "ref") != 0 || n_families == 32) continue;
        CT_CHECK_EQ_I64(ct_kernel_select(family, k), CT_OK);
        families[n_families++] = family;
    }
    int32_t accepted_ref = 0;
    const uint64_t h_ref = short_run(0, &accepted_ref, &before, &after);
    for (int32_t f = 0; f < n_families; ++f)
        CT_CHECK_EQ_I64(ct_kernel_select(families[f], -1), CT_OK);
    CT_CHECK(h_ref == h);
    CT_CHECK_EQ_I64(accepted_ref, accepted);
}

/* Screening on a sub-batch: a constant hash too, the same for 1 and 3
 * threads (the threads check ahead, screening included), a different run
 * from the unscreened one, and a screen of the whole batch or more is off. */
CT_TEST(train_rank_screened_same_bytes_for_every_thread_count) {
    int32_t accepted = 0, accepted3 = 0, accepted_off = 0;
    double before = 0.0, after = 0.0;
    const uint64_t h = short_run(BATCH / 4, &accepted, &before, &after);
    printf("    screened run: %d accepted, hash %016llx\n", (int)accepted, (unsigned long long)h);
    CT_CHECK(accepted > 0);
    CT_CHECK(after < before);
    CT_CHECK(h == 0x4f5b22be4881f0aaull);
    CT_CHECK(ct_set_num_threads(3) == CT_OK);
    const uint64_t h3 = short_run(BATCH / 4, &accepted3, &before, &after);
    CT_CHECK(ct_set_num_threads(0) == CT_OK);
    CT_CHECK(h3 == h);
    CT_CHECK_EQ_I64(accepted3, accepted);
    CT_CHECK(short_run(BATCH, &accepted_off, &before, &after) == 0xcf492e568b53a9b1ull);
}

/* Lists come best first by (estimate, index), estimates negative; a list of
 * the same layer ranked with a larger budget starts with the smaller one. */
CT_TEST(train_rank_order_and_prefix) {
    ct_trainer *t = random_trainer(99);
    ct_rank *r = NULL;
    int8_t *x = malloc((size_t)BATCH * (size_t)SIZES[0]);
    int32_t y[BATCH];
    CT_CHECK(t != NULL && x != NULL);
    if (t == NULL || x == NULL) goto done;
    uint64_t s = 5;
    random_batch(&s, x, y);
    CT_CHECK_EQ_I64(ct_rank_new(t, 100, 8, 1, &r), CT_OK);
    CT_CHECK_EQ_I64(ct_rank_layer(r, t, 0, 10, 2, 8, 0.0, 0), CT_E_STATE); /* no batch */
    CT_CHECK_EQ_I64(ct_train_set_batch(t, x, y, BATCH, 6.0), CT_OK);
    CT_CHECK_EQ_I64(ct_rank_layer(r, t, 0, 101, 2, 8, 0.0, 0), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_rank_layer(r, t, 3, 10, 2, 8, 0.0, 0), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_rank_layer(r, t, 0, 10, 2, 0, 0.0, 0), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_rank_layer(r, t, 0, 10, 2, 8, 1.5, 0), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_rank_layer(r, t, 0, 10, 2, 8, 0.0, -1), CT_E_RANGE);
    int32_t step_acc[N_LAYERS];
    CT_CHECK_EQ_I64(ct_rank_step(r, t, NULL, 0, 0.0, -1, step_acc), CT_E_RANGE);
    ct_candidate big[108], small[12];
    double eb[108], es[12];
    int32_t nb = 0, ns = 0;
    for (int32_t l = 0; l < N_LAYERS; ++l) {
        CT_CHECK_EQ_I64(ct_rank_layer(r, t, l, 100, 8, 2, 0.25, 0), CT_OK);
        CT_CHECK_EQ_I64(ct_rank_candidates(r, t, l, big, eb, 5, &nb), CT_E_SCRATCH);
        CT_CHECK_EQ_I64(ct_rank_candidates(r, t, l, big, eb, 108, &nb), CT_OK);
        CT_CHECK_EQ_I64(ct_rank_layer(r, t, l, 10, 2, 2, 0.25, 0), CT_OK);
        CT_CHECK_EQ_I64(ct_rank_candidates(r, t, l, small, es, 12, &ns), CT_OK);
        CT_CHECK(nb > 8 && ns == 12);
        int32_t nw = 0;
        while (nw < nb && big[nw].kind == CT_CAND_WEIGHT) ++nw;
        for (int32_t i = 0; i < nb; ++i) {
            CT_CHECK(eb[i] < 0.0);
            double d = 0.0; /* in range: the exact check accepts it */
            CT_CHECK_EQ_I64(ct_train_delta(t, &big[i], &d), CT_OK);
            if (i + 1 < nw) {
                const int64_t ia = (int64_t)big[i].row * SIZES[l] + big[i].col;
                const int64_t ib = (int64_t)big[i + 1].row * SIZES[l] + big[i + 1].col;
                CT_CHECK(eb[i] < eb[i + 1] || (eb[i] == eb[i + 1] && ia < ib));
            }
        }
        for (int32_t i = 0; i < 10; ++i) {
            CT_CHECK(memcmp(&small[i], &big[i], sizeof small[i]) == 0 && es[i] == eb[i]);
        }
        for (int32_t i = 0; i < 2; ++i) {
            CT_CHECK(memcmp(&small[10 + i], &big[nw + i], sizeof small[i]) == 0);
        }
    }
    int64_t bytes = 0;
    CT_CHECK_EQ_I64(ct_rank_memory(r, &bytes), CT_OK);
    CT_CHECK(bytes > 3 * 108 * 8);
    CT_CHECK_EQ_I64(ct_rank_clear(r), CT_OK);
    CT_CHECK_EQ_I64(ct_rank_candidates(r, t, 0, big, eb, 108, &nb), CT_OK);
    CT_CHECK_EQ_I64(nb, 0);
done:
    ct_rank_free(r);
    ct_train_free(t);
    free(x);
}

CT_TEST(train_softmax_loss_and_memory) {
    const int32_t logits[6] = {0, 10, -3, 4, 4, 4}; /* 2 classes x 3 samples */
    const int32_t y[3] = {0, 1, 1};
    double loss = 0.0;
    CT_CHECK_EQ_I64(ct_train_softmax_loss(logits, 2, 3, 3, y, 2.0, &loss), CT_OK);
    /* log(1 + e^2) + log(1 + e^3) + log(1 + e^-3.5) */
    CT_CHECK(loss > 5.2053 - 1e-3 && loss < 5.2053 + 1e-3);
    CT_CHECK_EQ_I64(ct_train_softmax_loss(logits, 2, 3, 3, y, 0.0, &loss), CT_E_RANGE);
    const int32_t bad_y[3] = {0, 2, 1};
    CT_CHECK_EQ_I64(ct_train_softmax_loss(logits, 2, 3, 3, bad_y, 1.0, &loss), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_train_softmax_loss(logits, 2, 3, 2, y, 1.0, &loss), CT_E_SHAPE);
    ct_trainer *t = random_trainer(1);
    CT_CHECK(t != NULL);
    if (t == NULL) return;
    int64_t p = 0, c = 0, d = 0;
    CT_CHECK_EQ_I64(ct_train_memory(t, &p, &c, &d), CT_OK);
    /* int8 weights, the transposed copy of the layers after the first, int32
     * biases, one int32 shift per layer */
    CT_CHECK_EQ_I64(p, 24 * 16 + 2 * (16 * 12 + 12 * 5) + 4 * (16 + 12 + 5) + 4 * 3);
    /* int8 inputs, int32 labels, the input lists: a bit per sample and
     * input in 64-bit words, and an int32 count per input */
    CT_CHECK_EQ_I64(d, 24 * BATCH + 4 * BATCH + 24 * 8 * ((BATCH + 63) / 64) + 4 * 24);
    CT_CHECK(c > 2 * 4 * (16 + 12 + 5) * BATCH);
    CT_CHECK_EQ_I64(ct_train_memory(NULL, &p, &c, &d), CT_E_NULL);
    ct_train_free(t);
}
