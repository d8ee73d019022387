/*
 * aarch64 NEON T2 pack / unpack kernels (families T2_PACK, T2_UNPACK); the
 * same block walk as the AVX2 twins (ct_t2_s8_pack__avx2.c) with 16-byte vectors.
 */
#include <string.h>

#include "core/ct_internal.h"

#if defined(__aarch64__)
#include "kernels/neon/ct_neon.h"

static int all_ternary(const int8_t *w, int64_t n) {
    const uint8x16_t one = vdupq_n_u8(1), two = vdupq_n_u8(2);
    uint8x16_t bad = vdupq_n_u8(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const uint8x16_t u = vaddq_u8(vreinterpretq_u8_s8(vld1q_s8(w + i)), one);
        bad = vorrq_u8(bad, vcgtq_u8(u, two)); /* w + 1 as unsigned > 2 */
    }
    if (vmaxvq_u8(bad) != 0) return 0;
    for (; i < n; ++i) {
        if (w[i] < -1 || w[i] > 1) return 0;
    }
    return 1;
}

/* 128 weights -> 32 bytes: byte j = u[j] | u[j+32] << 2 | u[j+64] << 4 | u[j+96] << 6. */
static inline void pack_block(const int8_t *w, uint8_t *out) {
    const uint8x16_t one = vdupq_n_u8(1);
    for (int h = 0; h < 2; ++h) {
        uint8x16_t u[4];
        for (int r = 0; r < 4; ++r) {
            u[r] = vaddq_u8(vreinterpretq_u8_s8(vld1q_s8(w + 32 * r + 16 * h)), one);
        }
        const uint8x16_t v = vorrq_u8(vorrq_u8(u[0], vshlq_n_u8(u[1], 2)),
                                      vorrq_u8(vshlq_n_u8(u[2], 4), vshlq_n_u8(u[3], 6)));
        vst1q_u8(out + 16 * h, v);
    }
}

ct_status ct_t2_s8_pack__neon(const int8_t *w, int32_t rows, int32_t k, uint8_t *out) {
    if (!all_ternary(w, (int64_t)rows * k)) return CT_E_RANGE;
    ct_t2_pack_rows(w, rows, k, out, pack_block);
    return CT_OK;
}

ct_status ct_t2_s8_unpack__neon(const uint8_t *packed, int32_t rows, int32_t k, int8_t *w) {
    const int32_t full = k / CT_BLOCK, tail = k % CT_BLOCK;
    const int64_t rb = ct_t2_row_bytes(k);
    const int8x16_t two = vdupq_n_s8(2);
    for (int32_t r = 0; r < rows; ++r) {
        const uint8_t *p = packed + r * rb;
        int8_t *wr = w + (int64_t)r * k;
        for (int32_t blk = 0; blk < full; ++blk) {
            int8x16_t wd[8];
            ct_neon_decode(p + blk * 32, wd);
            uint8x16_t bad = vdupq_n_u8(0);
            for (int q = 0; q < 8; ++q) {
                bad = vorrq_u8(bad, vceqq_s8(wd[q], two)); /* code 3 decodes to 2 */
                vst1q_s8(wr + blk * CT_BLOCK + 16 * q, wd[q]);
            }
            if (vmaxvq_u8(bad) != 0) return CT_E_CODE;
        }
        if (tail) {
            int8x16_t wd[8];
            int8_t stage[CT_BLOCK];
            ct_neon_decode(p + full * 32, wd);
            for (int q = 0; q < 8; ++q) vst1q_s8(stage + 16 * q, wd[q]);
            for (int32_t i = 0; i < tail; ++i) {
                if (stage[i] == 2) return CT_E_CODE; /* padding codes are not read */
            }
            memcpy(wr + full * CT_BLOCK, stage, (size_t)tail);
        }
    }
    return CT_OK;
}

#endif /* __aarch64__ */
