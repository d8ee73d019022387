/*
 * int8 activations -> bit planes, NEON (no movemask): for plane b, vtst
 * marks the bytes with bit b set, an AND keeps 1 << (i % 8) in byte i, and
 * three pairwise adds of 64 bytes sum each run of 8 bytes into one byte
 * (the bits are distinct, so the sums are ORs): 8 bytes, one plane word.
 */
#include "core/ct_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

/* One plane word of 64 values for each plane. */
static void planes64(const int8_t *x, int32_t bits, uint64_t *out, int64_t plane_words,
                     int64_t at) {
    static const uint8_t place[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t weights = vld1q_u8(place);
    const uint8x16_t v0 = vld1q_u8((const uint8_t *)x), v1 = vld1q_u8((const uint8_t *)x + 16);
    const uint8x16_t v2 = vld1q_u8((const uint8_t *)x + 32), v3 = vld1q_u8((const uint8_t *)x + 48);
    for (int32_t b = 0; b < bits; ++b) {
        const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << b));
        const uint8x16_t t0 = vandq_u8(vtstq_u8(v0, bit), weights);
        const uint8x16_t t1 = vandq_u8(vtstq_u8(v1, bit), weights);
        const uint8x16_t t2 = vandq_u8(vtstq_u8(v2, bit), weights);
        const uint8x16_t t3 = vandq_u8(vtstq_u8(v3, bit), weights);
        const uint8x16_t r = vpaddq_u8(vpaddq_u8(t0, t1), vpaddq_u8(t2, t3));
        /* byte i of the word: values 8i .. 8i + 7, in little-endian order */
        out[b * plane_words + at] = vgetq_lane_u64(vreinterpretq_u64_u8(vpaddq_u8(r, r)), 0);
    }
}

void ct_bp_s8_pack__neon(const int8_t *x, int32_t k, int32_t bits, uint64_t *planes) {
    const int64_t plane_words = (int64_t)ct_pc_chunks(k) * CT_PC_CHUNK_WORDS;
    const int32_t full = k / 64;
    for (int32_t j = 0; j < full; ++j) planes64(x + 64 * j, bits, planes, plane_words, j);
    int64_t done = full;
    if (k % 64) { /* the last values through a zeroed copy: nothing read past k */
        int8_t stage[64] = {0};
        memcpy(stage, x + 64 * full, (size_t)(k % 64));
        planes64(stage, bits, planes, plane_words, full);
        ++done;
    }
    for (int32_t b = 0; b < bits; ++b) { /* padding up to the chunk: zero */
        memset(planes + b * plane_words + done, 0, sizeof(uint64_t) * (size_t)(plane_words - done));
    }
}
#endif /* __aarch64__ */
