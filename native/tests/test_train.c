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
