/*
 * Reference kernel of the TRAIN_REQUANT_DIFF family
 * (ct_s32_s8_requant_diff__ref): the scalar loop ct_requant_diff_from
 * (ct_train_internal.h) from sample 0; the SIMD twins finish their tails
 * with the same loop.
 */
#include "train/ct_train_internal.h"

int32_t ct_s32_s8_requant_diff__ref(const int32_t *acc, const int8_t *x, int32_t d, int32_t n,
                                    int32_t shift, int32_t act_max, const int8_t *act, int32_t *idx,
                                    int32_t *da) {
    return ct_requant_diff_from(acc, x, d, 0, n, shift, act_max, act, idx, da, 0);
}
