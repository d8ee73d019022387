/* Benchmark baseline for benchmarks/firmware_icount.py (not shipped): a single output
 * layer computed the straightforward way from the C core's T2 layout (2 bits per
 * weight, blocks of 128 weights in 32 bytes, byte k holding weights k, k+32, k+64,
 * k+96), decoding every weight as native/src/ct_dense_ref.c does. It implements the API
 * of the generated header (model.h) so the same test program, QEMU run and instruction
 * count apply; only the weights come from t2_weights.h. */
#include "model.h"
#include "t2_weights.h" /* T2_N_IN, T2_N_OUT, T2_BLOCKS, t2_w[], t2_b[] */

static int32_t run(const uint8_t *x, uint32_t sh, int32_t *logits) {
    int32_t best = 0;
    uint32_t j, blk, i;
    for (j = 0; j < T2_N_OUT; ++j) {
        int32_t acc = t2_b[j];
        for (blk = 0; blk < T2_BLOCKS; ++blk) {
            const uint8_t *p = t2_w + (j * T2_BLOCKS + blk) * 32u;
            const uint32_t base = blk * 128u;
            const uint32_t len = T2_N_IN - base < 128u ? T2_N_IN - base : 128u;
            int8_t wd[128];
            for (i = 0; i < 128u; ++i) {
                wd[i] = (int8_t)((int32_t)((p[i % 32u] >> (2u * (i / 32u))) & 3u) - 1);
            }
            for (i = 0; i < len; ++i) acc += wd[i] * (int32_t)(x[base + i] >> sh);
        }
        logits[j] = acc;
    }
    for (j = 1; j < T2_N_OUT; ++j) {
        if (logits[j] > logits[best]) best = (int32_t)j;
    }
    return best;
}

int32_t model_infer_q(const int8_t *x_q, int32_t *logits, model_scratch_t *scratch) {
    (void)scratch;
    return run((const uint8_t *)(const void *)x_q, 0u, logits);
}

int32_t model_infer(const uint8_t *pixels, int32_t *logits, model_scratch_t *scratch) {
    (void)scratch;
    return run(pixels, MODEL_INPUT_SHIFT, logits);
}
