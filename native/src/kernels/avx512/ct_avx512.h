/*
 * Bodies of the VNNI dense kernels (GEMV and GEMM on T2 weights and int8
 * activations), x86-64 only. Every function carries a target attribute, so
 * the rest of the build stays portable.
 *
 * Arithmetic: vpdpbusd multiplies unsigned bytes (the 2-bit codes u = w + 1)
 * with signed bytes (the activations), adds groups of four products and
 * accumulates into int32 lanes in one instruction. No int16 partial sums, so
 * there is no flush interval: a lane gains at most 4 * 3 * 128 = 1536 per
 * block (any code byte, code 3 included, and any int8 activation), and a row
 * of at most 2^20 inputs sums to at most 3 * 128 * 2^20 = 2^28.6 < 2^31 over
 * all lanes together. As in the AVX2 kernels, sum(u * x) = sum(w * x) +
 * sum(x), so each column's sum(x) (over the zero-padded row) is subtracted
 * once; code 3 acts as w = 2, exactly like the references.
 *
 * The 512-bit body (AVX-512 VNNI) reads one 32-byte T2 block broadcast into
 * both halves of a zmm register and shifts the halves by different amounts
 * (vpsrlvw), so one register holds the codes of runs 0 and 1 (weights
 * 0..63 of the block) and another those of runs 2 and 3: each matches 64
 * contiguous activation bytes, and a block costs two vpdpbusd.
 *
 * The 256-bit body is written once, as a macro parameterised by the
 * dot-product step, and instantiated twice: with the VEX encoding
 * (_mm256_dpbusd_avx_epi32, AVX-VNNI, target "avxvnni") and with the EVEX
 * encoding (_mm256_dpbusd_epi32, target "avx512vnni,avx512vl"). Both compile
 * from the same tokens, so the EVEX twin, which runs on any AVX-512 VNNI
 * CPU, executes and tests the code path of the VEX one.
 *
 * Both bodies work on tiles of R rows x C columns x U blocks per step with
 * R * C * U independent int32 accumulators. GEMV walks R rows at once, i.e.
 * R concurrent read streams through the weights (ct_gemv_streams(): 1, 2, 4
 * or 8; the sums are exact in int32, so every R gives the same bits); GEMM
 * tiles several rows by 4 columns, so each weight decode serves 4 columns
 * and each activation load several rows (CT_VNNI_DENSE).
 */
#ifndef CT_AVX512_H
#define CT_AVX512_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#include "core/ct_internal.h"

#define CT_AVX512VNNI __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))
#define CT_AVX512VNNI256 __attribute__((target("avx2,avx512f,avx512vl,avx512vnni")))
#define CT_AVXVNNI __attribute__((target("avx2,avxvnni")))
#define CT_ALWAYS_INLINE inline __attribute__((always_inline))

/* Distance of the software prefetch in each weight stream, as in the AVX2
 * GEMV (measured there: 4-8 KiB best for long rows, harmless for short). */
enum { CT_VNNI_PREFETCH = 4096 };

/* Sum of blocks * 128 int8 values (|sum| <= 2^27 for k <= 2^20), 512-bit. */
CT_AVX512VNNI static inline int32_t ct_avx512_sum_s8(const int8_t *x, int32_t blocks) {
    /* dpbusd with all-ones unsigned bytes: sums of 4 signed bytes per lane */
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i s = _mm512_setzero_si512();
    for (int64_t i = 0; i < (int64_t)blocks * CT_BLOCK; i += 64) {
        s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512((const void *)(x + i)));
    }
    return _mm512_reduce_add_epi32(s);
}

/* The codes of one block as two zmm registers: runs 0|1 and runs 2|3. */
CT_AVX512VNNI static CT_ALWAYS_INLINE void ct_avx512_codes(const uint8_t *wp, __m512i *u01,
                                                           __m512i *u23) {
    const __m512i m3 = _mm512_set1_epi8(3);
    /* 16-bit shift counts: 0 for the low 256 bits, 2 for the high ones */
    const __m512i cnt = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)wp));
    const __m512i t = _mm512_srlv_epi16(v, cnt);
    *u01 = _mm512_and_si512(t, m3);
    *u23 = _mm512_and_si512(_mm512_srli_epi16(t, 4), m3);
}

/* out[r * out_r + c * out_c] = sum_i u[r][i] * x[c][i] for an R x C tile:
 * rows at w + r * rb, columns at x + c * xs, U blocks per row and step
 * (separate accumulators, so the vpdpbusd chains overlap). The loops have
 * constant trip counts once inlined and are fully unrolled, so the
 * accumulators live in registers. */
CT_AVX512VNNI static CT_ALWAYS_INLINE void ct_avx512_tile(const uint8_t *w, int64_t rb,
                                                          int32_t blocks, const int8_t *x,
                                                          int64_t xs, int32_t *out, int64_t out_r,
                                                          int64_t out_c, const int R, const int C,
                                                          const int U) {
    __m512i acc[8 * 8 * 4];
#pragma GCC unroll 128
    for (int a = 0; a < R * C * U; ++a) acc[a] = _mm512_setzero_si512();
    int32_t blk = 0;
    for (; blk + U <= blocks; blk += U) {
#pragma GCC unroll 4
        for (int u = 0; u < U; ++u) {
            /* All R rows' codes first, then each activation pair is loaded
             * once and used by R rows (R x 2 + 2 registers besides the
             * accumulators: 26 of 32 for the largest tiles). */
            __m512i u01[8], u23[8];
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const uint8_t *wp = w + r * rb + (int64_t)(blk + u) * CT_BLOCK_BYTES;
                /* Prefetches never fault, so running past the matrix is
                 * harmless; one per cache line of each row's stream. */
                if (u % 2 == 0) _mm_prefetch((const char *)(wp + CT_VNNI_PREFETCH), _MM_HINT_T0);
                ct_avx512_codes(wp, &u01[r], &u23[r]);
            }
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) {
                const int8_t *xp = x + c * xs + (int64_t)(blk + u) * CT_BLOCK;
                const __m512i x01 = _mm512_loadu_si512((const void *)xp);
                const __m512i x23 = _mm512_loadu_si512((const void *)(xp + 64));
#pragma GCC unroll 8
                for (int r = 0; r < R; ++r) {
                    __m512i *a = &acc[(r * C + c) * U + u];
                    *a = _mm512_dpbusd_epi32(*a, u01[r], x01);
                    *a = _mm512_dpbusd_epi32(*a, u23[r], x23);
                }
            }
        }
    }
    for (; blk < blocks; ++blk) { /* fewer than U blocks left: into accumulator u = 0 */
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            __m512i u01, u23;
            ct_avx512_codes(w + r * rb + (int64_t)blk * CT_BLOCK_BYTES, &u01, &u23);
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) {
                const int8_t *xp = x + c * xs + (int64_t)blk * CT_BLOCK;
                __m512i *a = &acc[(r * C + c) * U];
                *a = _mm512_dpbusd_epi32(*a, u01, _mm512_loadu_si512((const void *)xp));
                *a = _mm512_dpbusd_epi32(*a, u23, _mm512_loadu_si512((const void *)(xp + 64)));
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
            __m512i s = acc[(r * C + c) * U];
#pragma GCC unroll 4
            for (int u = 1; u < U; ++u) s = _mm512_add_epi32(s, acc[(r * C + c) * U + u]);
            out[r * out_r + c * out_c] = _mm512_reduce_add_epi32(s);
        }
    }
}

/*
 * The 256-bit body, instantiated by CT_VNNI256_KERNELS(ATTR, DP, SUFFIX),
 * which defines (static) SUFFIX##_sum_s8, SUFFIX##_tile, SUFFIX##_gemv and
 * SUFFIX##_gemm with the contract of ct_mm_kernel; DP(acc, u, x) is the
 * dot-product step (acc + groups of 4 products of unsigned u and signed x).
 * A block: one 32-byte load, codes (v >> 2r) & 3 for r = 0..3, each run
 * against 32 contiguous activations. The tile has the same shape and
 * accumulator layout as the 512-bit one.
 */
#define CT_VNNI256_KERNELS(ATTR, DP, SUFFIX)                                                       \
    ATTR static inline int32_t SUFFIX##_hsum(__m256i v) {                                          \
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));      \
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));                                          \
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));                                          \
        return _mm_cvtsi128_si32(s);                                                               \
    }                                                                                              \
                                                                                                   \
    ATTR static inline int32_t SUFFIX##_sum_s8(const int8_t *x, int32_t blocks) {                  \
        const __m256i ones = _mm256_set1_epi8(1);                                                  \
        __m256i s = _mm256_setzero_si256();                                                        \
        for (int64_t i = 0; i < (int64_t)blocks * CT_BLOCK; i += 32) {                             \
            s = DP(s, ones, _mm256_loadu_si256((const __m256i *)(const void *)(x + i)));           \
        }                                                                                          \
        return SUFFIX##_hsum(s);                                                                   \
    }                                                                                              \
                                                                                                   \
    ATTR static CT_ALWAYS_INLINE __m256i SUFFIX##_block(__m256i a, const __m256i *u,               \
                                                        const int8_t *xp) {                        \
        const __m256i *xv = (const __m256i *)(const void *)xp;                                     \
        a = DP(a, u[0], _mm256_loadu_si256(xv));                                                   \
        a = DP(a, u[1], _mm256_loadu_si256(xv + 1));                                               \
        a = DP(a, u[2], _mm256_loadu_si256(xv + 2));                                               \
        return DP(a, u[3], _mm256_loadu_si256(xv + 3));                                            \
    }                                                                                              \
                                                                                                   \
    ATTR static CT_ALWAYS_INLINE void SUFFIX##_codes(const uint8_t *wp, __m256i u[4]) {            \
        const __m256i m3 = _mm256_set1_epi8(3);                                                    \
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)wp);                   \
        u[0] = _mm256_and_si256(v, m3);                                                            \
        u[1] = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);                                      \
        u[2] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);                                      \
        u[3] = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);                                      \
    }                                                                                              \
                                                                                                   \
    ATTR static CT_ALWAYS_INLINE void SUFFIX##_tile(                                               \
        const uint8_t *w, int64_t rb, int32_t blocks, const int8_t *x, int64_t xs, int32_t *out,   \
        int64_t out_r, int64_t out_c, const int R, const int C, const int U) {                     \
        __m256i acc[8 * 8 * 4];                                                                    \
        _Pragma("GCC unroll 128") for (int a = 0; a < R * C * U; ++a) acc[a] =                     \
            _mm256_setzero_si256();                                                                \
        int32_t blk = 0;                                                                           \
        for (; blk + U <= blocks; blk += U) {                                                      \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {                                  \
                const uint8_t *wp = w + r * rb + (int64_t)blk * CT_BLOCK_BYTES;                    \
                _Pragma("GCC unroll 4") for (int off = 0; off < U * CT_BLOCK_BYTES; off += 64) {   \
                    _mm_prefetch((const char *)(wp + CT_VNNI_PREFETCH + off), _MM_HINT_T0);        \
                }                                                                                  \
                _Pragma("GCC unroll 4") for (int u = 0; u < U; ++u) {                              \
                    __m256i codes[4];                                                              \
                    SUFFIX##_codes(wp + u * CT_BLOCK_BYTES, codes);                                \
                    _Pragma("GCC unroll 4") for (int c = 0; c < C; ++c) {                          \
                        __m256i *a = &acc[(r * C + c) * U + u];                                    \
                        *a =                                                                       \
                            SUFFIX##_block(*a, codes, x + c * xs + (int64_t)(blk + u) * CT_BLOCK); \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (; blk < blocks; ++blk) {                                                              \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {                                  \
                __m256i codes[4];                                                                  \
                SUFFIX##_codes(w + r * rb + (int64_t)blk * CT_BLOCK_BYTES, codes);                 \
                _Pragma("GCC unroll 4") for (int c = 0; c < C; ++c) {                              \
                    __m256i *a = &acc[(r * C + c) * U];                                            \
                    *a = SUFFIX##_block(*a, codes, x + c * xs + (int64_t)blk * CT_BLOCK);          \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {                                      \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; ++c) {                                  \
                __m256i s = acc[(r * C + c) * U];                                                  \
                _Pragma("GCC unroll 4") for (int u = 1; u < U; ++u) s =                            \
                    _mm256_add_epi32(s, acc[(r * C + c) * U + u]);                                 \
                out[r * out_r + c * out_c] = SUFFIX##_hsum(s);                                     \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    CT_VNNI_DENSE(ATTR, SUFFIX, 2, 4)

/*
 * GEMV and GEMM drivers around a tile function PREFIX##_tile and a column
 * sum PREFIX##_sum_s8, shared by the 512-bit and both 256-bit bodies. Each
 * file instantiates both (its kernel and the GEMV that GEMM needs for left
 * over columns), hence "unused".
 *
 * GEMV: R = ct_gemv_streams() rows at a time (R read streams), U = 4 / R
 * blocks per row and step (at least 1), then single rows. GEMM: TR x TC
 * tiles (512-bit: 4 x 4, measured best of 4x4, 2x8, 8x2, 4x6, 3x8; 256-bit:
 * 2 x 4, which leaves registers for the codes with only 16 ymm registers),
 * then 1 x TC for the last rows; columns left over (batch % TC) go through
 * the GEMV driver. The tiles store sum(u x); bias and sum(x) are applied
 * afterwards in place (|sum(u x)| < 2^29, so nothing wraps).
 */
#define CT_VNNI_DENSE(ATTR, PREFIX, TR, TC)                                                        \
    ATTR __attribute__((unused)) static void PREFIX##_gemv(const ct_layer *layer, const int8_t *x, \
                                                           int32_t x_stride, int32_t batch,        \
                                                           int32_t *acc, int32_t acc_stride) {     \
        const int32_t blocks = ct_t2_padded_k(layer->n_in) / CT_BLOCK;                             \
        const int64_t rb = ct_t2_row_bytes(layer->n_in);                                           \
        const int32_t n = layer->n_out, streams = ct_gemv_streams();                               \
        for (int32_t b = 0; b < batch; ++b) {                                                      \
            const int8_t *xb = x + (int64_t)b * x_stride;                                          \
            int32_t *ab = acc + (int64_t)b * acc_stride;                                           \
            /* sum(w x) = sum(u x) - sum(x); the padding of x is zero. */                          \
            const int32_t sx = PREFIX##_sum_s8(xb, blocks);                                        \
            const uint8_t *w = layer->w;                                                           \
            int32_t j = 0;                                                                         \
            if (streams == 8) {                                                                    \
                for (; j + 8 <= n; j += 8)                                                         \
                    PREFIX##_tile(w + j * rb, rb, blocks, xb, 0, ab + j, 1, 0, 8, 1, 1);           \
            } else if (streams == 4) {                                                             \
                for (; j + 4 <= n; j += 4)                                                         \
                    PREFIX##_tile(w + j * rb, rb, blocks, xb, 0, ab + j, 1, 0, 4, 1, 1);           \
            } else if (streams == 2) {                                                             \
                for (; j + 2 <= n; j += 2)                                                         \
                    PREFIX##_tile(w + j * rb, rb, blocks, xb, 0, ab + j, 1, 0, 2, 1, 2);           \
            }                                                                                      \
            for (; j < n; ++j)                                                                     \
                PREFIX##_tile(w + j * rb, rb, blocks, xb, 0, ab + j, 1, 0, 1, 1, 4);               \
            for (int32_t i = 0; i < n; ++i) ab[i] = layer->bias[i] + (ab[i] - sx);                 \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    ATTR __attribute__((unused)) static void PREFIX##_gemm(const ct_layer *layer, const int8_t *x, \
                                                           int32_t x_stride, int32_t batch,        \
                                                           int32_t *acc, int32_t acc_stride) {     \
        const int32_t n = layer->n_out;                                                            \
        const int32_t blocks = ct_t2_padded_k(layer->n_in) / CT_BLOCK;                             \
        const int64_t rb = ct_t2_row_bytes(layer->n_in);                                           \
        int32_t b = 0;                                                                             \
        for (; b + TC <= batch; b += TC) {                                                         \
            const int8_t *xb = x + (int64_t)b * x_stride;                                          \
            int32_t *ab = acc + (int64_t)b * acc_stride;                                           \
            int32_t sx[TC];                                                                        \
            for (int c = 0; c < TC; ++c)                                                           \
                sx[c] = PREFIX##_sum_s8(xb + (int64_t)c * x_stride, blocks);                       \
            int32_t j = 0;                                                                         \
            for (; j + TR <= n; j += TR) {                                                         \
                PREFIX##_tile(layer->w + j * rb, rb, blocks, xb, x_stride, ab + j, 1, acc_stride,  \
                              TR, TC, 1);                                                          \
            }                                                                                      \
            for (; j < n; ++j) {                                                                   \
                PREFIX##_tile(layer->w + j * rb, rb, blocks, xb, x_stride, ab + j, 1, acc_stride,  \
                              1, TC, 1);                                                           \
            }                                                                                      \
            for (int c = 0; c < TC; ++c) {                                                         \
                int32_t *ac = ab + (int64_t)c * acc_stride;                                        \
                for (int32_t i = 0; i < n; ++i) ac[i] = layer->bias[i] + (ac[i] - sx[c]);          \
            }                                                                                      \
        }                                                                                          \
        if (b < batch) {                                                                           \
            PREFIX##_gemv(layer, x + (int64_t)b * x_stride, x_stride, batch - b,                   \
                          acc + (int64_t)b * acc_stride, acc_stride);                              \
        }                                                                                          \
    }

#endif /* __x86_64__ */
#endif /* CT_AVX512_H */
