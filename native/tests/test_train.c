/* The trainer object in C alone: lifecycle, argument checks, and that an
 * applied candidate leaves exactly the loss its check predicted. */
#include <math.h>

#include "conntra_train.h"
#include "ct_test.h"

CT_TEST(train_rejects_bad_arguments) {
    ct_trainer *t = NULL;
    const int32_t sizes[3] = {4, 3, 2};
    CT_CHECK_EQ_I64(ct_train_new(NULL, 2, 8, &t), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_train_new(sizes, 0, 8, &t), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_train_new(sizes, 2, 0, &t), CT_E_SHAPE);
    CT_CHECK(t == NULL);
    ct_train_free(NULL); /* a no-op, like free */
}

CT_TEST(train_apply_matches_delta) {
    ct_trainer *t = NULL;
    const int32_t sizes[3] = {4, 3, 2};
    CT_CHECK_EQ_I64(ct_train_new(sizes, 2, 8, &t), CT_OK);
    const int8_t w0[12] = {1, 0, -1, 1, 0, 1, 1, -1, -1, 1, 0, 0};
    const int32_t b0[3] = {5, -3, 0};
    const int8_t w1[6] = {1, -1, 0, -1, 1, 1};
    const int32_t b1[2] = {0, 2};
    CT_CHECK_EQ_I64(ct_train_set_layer(t, 0, w0, b0, 2), CT_OK);
    CT_CHECK_EQ_I64(ct_train_set_layer(t, 1, w1, b1, 0), CT_OK);
    double loss = 0.0;
    CT_CHECK_EQ_I64(ct_train_loss(t, &loss), CT_E_STATE); /* no batch yet */
    int8_t x[8 * 4];
    int32_t y[8];
    for (int i = 0; i < 32; ++i) x[i] = (int8_t)((i * 37) % 128);
    for (int b = 0; b < 8; ++b) y[b] = b % 2;
    CT_CHECK_EQ_I64(ct_train_set_batch(t, x, y, 8, 4.0), CT_OK);
    CT_CHECK_EQ_I64(ct_train_loss(t, &loss), CT_OK);
    const ct_candidate c = {0, CT_CAND_WEIGHT, 1, 2, -1};
    double delta = 0.0, after = 0.0;
    CT_CHECK_EQ_I64(ct_train_delta(t, &c, &delta), CT_OK);
    CT_CHECK_EQ_I64(ct_train_apply(t, &c), CT_OK);
    CT_CHECK_EQ_I64(ct_train_loss(t, &after), CT_OK);
    CT_CHECK(fabs(after - (loss + delta)) < 1e-9);
    const ct_candidate bad = {1, CT_CAND_SHIFT, 0, 0, 1};
    CT_CHECK_EQ_I64(ct_train_delta(t, &bad, &delta), CT_E_RANGE);
    ct_train_free(t);
}

/* Activation bits of a hidden layer: checked, and every cached activation of
 * a full forward and after each applied candidate stays within 2^a - 1, with
 * the loss each check predicted. */
CT_TEST(train_act_bits) {
    ct_trainer *t = NULL;
    const int32_t sizes[4] = {4, 3, 3, 2};
    CT_CHECK_EQ_I64(ct_train_new(sizes, 3, 8, &t), CT_OK);
    CT_CHECK_EQ_I64(ct_train_set_act_bits(NULL, 0, 2), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_train_set_act_bits(t, -1, 2), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_train_set_act_bits(t, 3, 2), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_train_set_act_bits(t, 2, 2), CT_E_RANGE); /* the output layer */
    static const int32_t bad[] = {0, -1, 3, 5, 6, 8, 32};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        CT_CHECK_EQ_I64(ct_train_set_act_bits(t, 0, bad[i]), CT_E_RANGE);
    }
    const int8_t w0[12] = {1, 0, -1, 1, 0, 1, 1, -1, -1, 1, 0, 0};
    const int32_t b0[3] = {5, -3, 40};
    const int8_t w1[9] = {1, -1, 0, -1, 1, 1, 1, 1, 0};
    const int32_t b1[3] = {1, 2, 3};
    const int8_t w2[6] = {1, -1, 0, -1, 1, 1};
    const int32_t b2[2] = {0, 2};
    CT_CHECK_EQ_I64(ct_train_set_layer(t, 0, w0, b0, 3), CT_OK);
    CT_CHECK_EQ_I64(ct_train_set_layer(t, 1, w1, b1, 0), CT_OK);
    CT_CHECK_EQ_I64(ct_train_set_layer(t, 2, w2, b2, 0), CT_OK);
    int8_t x[8 * 4];
    int32_t y[8];
    for (int i = 0; i < 32; ++i) x[i] = (int8_t)((i * 37) % 128);
    for (int b = 0; b < 8; ++b) y[b] = b % 2;
    static const int32_t bits[] = {1, 2, 4, 7};
    for (size_t bi = 0; bi < 4; ++bi) {
        const int32_t top = (1 << bits[bi]) - 1;
        CT_CHECK_EQ_I64(ct_train_set_act_bits(t, 0, bits[bi]), CT_OK);
        CT_CHECK_EQ_I64(ct_train_set_act_bits(t, 1, bits[3 - bi]), CT_OK);
        CT_CHECK_EQ_I64(ct_train_set_batch(t, x, y, 8, 4.0), CT_OK);
        const ct_candidate cands[4] = {{0, CT_CAND_WEIGHT, 1, 2, -1},
                                       {0, CT_CAND_BIAS, 2, 0, 9},
                                       {0, CT_CAND_SHIFT, 0, 0, -1},
                                       {1, CT_CAND_WEIGHT, 0, 2, 1}};
        for (int c = 0; c < 4; ++c) {
            double loss = 0.0, delta = 0.0, after = 0.0;
            CT_CHECK_EQ_I64(ct_train_loss(t, &loss), CT_OK);
            CT_CHECK_EQ_I64(ct_train_delta(t, &cands[c], &delta), CT_OK);
            CT_CHECK_EQ_I64(ct_train_apply(t, &cands[c]), CT_OK);
            CT_CHECK_EQ_I64(ct_train_loss(t, &after), CT_OK);
            CT_CHECK(fabs(after - (loss + delta)) < 1e-9);
            for (int32_t l = 0; l < 2; ++l) {
                const int32_t *acc = NULL;
                const int8_t *act = NULL;
                int32_t stride = 0;
                const int32_t lt = l == 0 ? top : (1 << bits[3 - bi]) - 1;
                CT_CHECK_EQ_I64(ct_train_cache(t, l, &acc, &act, &stride), CT_OK);
                for (int32_t j = 0; j < 3; ++j) {
                    for (int32_t b = 0; b < 8; ++b) {
                        CT_CHECK(act[j * stride + b] >= 0 && act[j * stride + b] <= lt);
                    }
                }
            }
        }
        /* put layer 0 back for the next width */
        CT_CHECK_EQ_I64(ct_train_set_layer(t, 0, w0, b0, 3), CT_OK);
        CT_CHECK_EQ_I64(ct_train_set_layer(t, 1, w1, b1, 0), CT_OK);
    }
    ct_train_free(t);
}
