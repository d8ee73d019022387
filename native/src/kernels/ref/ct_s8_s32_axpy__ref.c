/*
 * Reference kernel of the TRAIN_AXPY family (ct_s8_s32_axpy__ref): the
 * specification its SIMD twins must equal.
 */
#include "train/ct_train_internal.h"

/* acc[b] += d * x[b]. |d| <= 2 for weights; for biases x is all ones and d
 * is the bias step, kept within the contract by the caller. */
void ct_s8_s32_axpy__ref(int32_t *acc, const int8_t *x, int32_t d, int32_t n) {
    for (int32_t b = 0; b < n; ++b) acc[b] += d * (int32_t)x[b];
}
