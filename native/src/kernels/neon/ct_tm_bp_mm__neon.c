/*
 * Dense sums from ternary masks and bit planes, NEON: vcntq_u8 counts the
 * bits of each byte of P & X and N & X; the counts are added and subtracted
 * in int8 lanes and widened (vpaddlq_s8, then vpadalq_s16 into int32) every
 * CT_PC_NEON_FLUSH chunks. Planes go in the outer loop, samples 4 at a time
 * over each row (each mask load serves 4 samples), the rest one at a time,
 * as in the x86 kernels.
 */
#include "core/ct_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

/* Bound of the int8 lanes: a 256-bit chunk is 2 vectors, each moving a lane
 * by popcount(P & X) - popcount(N & X) of one byte, in -8 .. 8: at most 16 per
 * chunk, 112 <= 127 for 7 chunks. */
enum { CT_PC_NEON_FLUSH = 7 };

#define CT_PC_NEON __attribute__((always_inline)) static inline

CT_PC_NEON int8x16_t pc_step(int8x16_t acc, uint8x16_t p, uint8x16_t n, uint8x16_t x) {
    acc = vaddq_s8(acc, vreinterpretq_s8_u8(vcntq_u8(vandq_u8(p, x))));
    return vsubq_s8(acc, vreinterpretq_s8_u8(vcntq_u8(vandq_u8(n, x))));
}

/* The sums of one mask row for ns samples (1 or 4, a constant after
 * inlining). */
CT_PC_NEON void pc_row(const uint64_t *row, int32_t chunks, const uint64_t *x, int64_t sample_words,
                       int32_t bits, const int ns, int64_t *sum) {
    const int64_t plane_words = (int64_t)chunks * CT_PC_CHUNK_WORDS;
    for (int s = 0; s < ns; ++s) sum[s] = 0;
    for (int32_t p = 0; p < bits; ++p) {
        int32x4_t wide[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
        for (int32_t c0 = 0; c0 < chunks; c0 += CT_PC_NEON_FLUSH) {
            const int32_t c1 = chunks - c0 < CT_PC_NEON_FLUSH ? chunks : c0 + CT_PC_NEON_FLUSH;
            int8x16_t acc[4] = {vdupq_n_s8(0), vdupq_n_s8(0), vdupq_n_s8(0), vdupq_n_s8(0)};
            for (int32_t c = c0; c < c1; ++c) {
                const uint8_t *m = (const uint8_t *)(row + 2 * c * CT_PC_CHUNK_WORDS);
                const uint8x16_t p0 = vld1q_u8(m), p1 = vld1q_u8(m + 16);
                const uint8x16_t n0 = vld1q_u8(m + 32), n1 = vld1q_u8(m + 48);
                for (int s = 0; s < ns; ++s) {
                    const uint8_t *xv = (const uint8_t *)(x + s * sample_words + p * plane_words +
                                                          c * CT_PC_CHUNK_WORDS);
                    acc[s] = pc_step(acc[s], p0, n0, vld1q_u8(xv));
                    acc[s] = pc_step(acc[s], p1, n1, vld1q_u8(xv + 16));
                }
            }
            for (int s = 0; s < ns; ++s) wide[s] = vpadalq_s16(wide[s], vpaddlq_s8(acc[s]));
        }
        for (int s = 0; s < ns; ++s) sum[s] += (int64_t)vaddlvq_s32(wide[s]) * ((int64_t)1 << p);
    }
}

CT_PC_MM_LOOPS(, ct_tm_bp_mm__neon)
#endif /* __aarch64__ */
