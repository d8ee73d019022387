/*
 * AVX2 conv2d kernel (family CONV2D, groups 1): ct_t2_s8_conv2d__avx2.
 *
 * A GEMM over an im2col tile, with the weights decoded once per call:
 *   1. the T2 rows are decoded into int8 blocks of 16 output channels,
 *      [group of 4 inputs][16 channels][4 inputs] (core/ct_conv.h), shared
 *      by all threads and reused by every position of the batch;
 *   2. each thread copies the inputs of up to tile_rows output positions
 *      (a chunk of at most kc inputs each, zero-padded) into its tile;
 *   3. for every block of 16 channels, ROWS positions at a time: per group
 *      of 4 inputs, one 4-byte broadcast of a position's activations times
 *      two 32-byte weight vectors (8 channels x 4 inputs each) through
 *      maddubs (unsigned activations 0..127 x signed weights) gives int16
 *      lanes that are pair sums for one channel; madd with ones at the end
 *      adds the two pairs of each channel into its int32 sum.
 * The outputs come out vectorised over channels, so there is no horizontal
 * sum, and K is padded to 16 rather than to the 128 of the T2 blocks.
 * int16 bound: see CT_CONV_STEPS (64 groups, or 128 when no weight is a
 * code 3: |lane| <= 32512 either way; ct_conv_decode says which).
 */
#include "core/ct_conv.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "kernels/avx2/ct_avx2.h"

/* Positions per micro-kernel step: 4 x 2 int16 accumulators, 2 weight
 * vectors and the broadcasts fit the 16 ymm registers (6 rows made GCC keep
 * accumulators on the stack). */
enum { ROWS = 4 };

/* s[r][h] (h: channels 8h .. 8h + 7 of the block) = sum over `groups` groups
 * of 4 inputs of row r against the weight block wb, widened to int32 every
 * `steps` groups. The loop walks pointers with a 64-bit count: an int32 index
 * scaled inside the addresses made the loop 1.6x slower under -fwrapv (which
 * Python's build flags add: the compiler must then redo the index arithmetic
 * in 32 bits on every step). */
CT_AVX2 static void micro(const uint8_t *const rp[ROWS], const int8_t *wb, int32_t groups,
                          int32_t steps, __m256i s[ROWS][2]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *x0 = rp[0], *x1 = rp[1], *x2 = rp[2], *x3 = rp[3];
    for (int r = 0; r < ROWS; ++r) s[r][0] = s[r][1] = _mm256_setzero_si256();
    for (int64_t left = groups; left > 0; left -= steps) {
        const int64_t n = left < steps ? left : steps;
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
                a30 = a00, a31 = a00;
        for (const int8_t *end = wb + 64 * n; wb < end;
             wb += 64, x0 += 4, x1 += 4, x2 += 4, x3 += 4) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)wb);
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + 32));
            int32_t v;
#define CT_ROW(xr, lo, hi)                                      \
    memcpy(&v, xr, 4);                                          \
    {                                                           \
        const __m256i x = _mm256_set1_epi32(v);                 \
        lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(x, w0)); \
        hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(x, w1)); \
    }
            CT_ROW(x0, a00, a01)
            CT_ROW(x1, a10, a11)
            CT_ROW(x2, a20, a21)
            CT_ROW(x3, a30, a31)
#undef CT_ROW
        }
#define CT_FLUSH(r, lo, hi)                                           \
    s[r][0] = _mm256_add_epi32(s[r][0], _mm256_madd_epi16(lo, ones)); \
    s[r][1] = _mm256_add_epi32(s[r][1], _mm256_madd_epi16(hi, ones));
        CT_FLUSH(0, a00, a01)
        CT_FLUSH(1, a10, a11)
        CT_FLUSH(2, a20, a21)
        CT_FLUSH(3, a30, a31)
#undef CT_FLUSH
    }
}

/* The im2col byte moves: whole 32-byte vectors and one overlapping last
 * vector (16, 8, 4 or 1 bytes at a time below 32), never outside [d, d + n):
 * the runs are a few dozen to a few hundred bytes, where a call to memcpy
 * costs as much as the copy. */
CT_AVX2 static inline void copy_run(uint8_t *d, const uint8_t *s, int32_t n) {
    if (n >= 32) {
        int32_t i = 0;
        for (; i + 32 <= n; i += 32) {
            _mm256_storeu_si256((__m256i *)(void *)(d + i),
                                _mm256_loadu_si256((const __m256i *)(const void *)(s + i)));
        }
        if (i < n) {
            _mm256_storeu_si256((__m256i *)(void *)(d + n - 32),
                                _mm256_loadu_si256((const __m256i *)(const void *)(s + n - 32)));
        }
    } else if (n >= 16) {
        const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)s);
        const __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
        _mm_storeu_si128((__m128i *)(void *)d, lo);
        _mm_storeu_si128((__m128i *)(void *)(d + n - 16), hi);
    } else if (n >= 8) {
        uint64_t lo, hi;
        memcpy(&lo, s, 8);
        memcpy(&hi, s + n - 8, 8);
        memcpy(d, &lo, 8);
        memcpy(d + n - 8, &hi, 8);
    } else if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        memcpy(d, &lo, 4);
        memcpy(d + n - 4, &hi, 4);
    } else {
        for (int32_t i = 0; i < n; ++i) d[i] = s[i];
    }
}

CT_AVX2 static inline void zero_run(uint8_t *d, int32_t n) {
    const __m256i z = _mm256_setzero_si256();
    int32_t i = 0;
    for (; i + 32 <= n; i += 32) _mm256_storeu_si256((__m256i *)(void *)(d + i), z);
    if (i < n && n >= 32) {
        _mm256_storeu_si256((__m256i *)(void *)(d + n - 32), z);
    } else {
        for (; i < n; ++i) d[i] = 0;
    }
}

/* Stores the first `lanes` (<= 8) int32 lanes of v at o, added to what o
 * holds when `add`. Whole vectors use plain moves, partial ones a scalar
 * copy: masked stores are microcoded on AMD and cost more than the copy. */
CT_AVX2 static inline void put8(int32_t *o, __m256i v, int32_t lanes, int add) {
    if (lanes >= 8) {
        __m256i *p = (__m256i *)(void *)o;
        _mm256_storeu_si256(p, add ? _mm256_add_epi32(v, _mm256_loadu_si256(p)) : v);
        return;
    }
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)(void *)t, v);
    for (int32_t i = 0; i < lanes; ++i) o[i] = (add ? o[i] : 0) + t[i];
}

CT_AVX2 static void rows(const ct_conv_args *a, int64_t p0, int64_t p1, uint8_t *slot) {
    const ct_layer *L = a->layer;
    const int32_t out_c = L->out_c, kd = (a->k + CT_CONV_KALIGN - 1) / CT_CONV_KALIGN * 16;
    const int32_t blocks = (out_c + CT_CONV_CO - 1) / CT_CONV_CO;
    const int8_t *wdec = (const int8_t *)a->shared;
    for (int64_t tp = p0; tp < p1; tp += a->tile_rows) {
        const int32_t n = p1 - tp < a->tile_rows ? (int32_t)(p1 - tp) : a->tile_rows;
        for (int32_t k0 = 0; k0 < kd; k0 += a->kc) {
            const int32_t len = kd - k0 < a->kc ? kd - k0 : a->kc;
            ct_conv_im2col_with(a, tp, n, k0, len, slot, a->kc, copy_run, zero_run);
            for (int32_t cb = 0; cb < blocks; ++cb) {
                const int8_t *wb = wdec + ((int64_t)cb * kd + k0) * CT_CONV_CO;
                const int32_t co0 = cb * CT_CONV_CO;
                const int32_t nc = out_c - co0 < CT_CONV_CO ? out_c - co0 : CT_CONV_CO;
                /* The bias of this block (0 past out_c), or 0 after the first chunk. */
                int32_t bias[CT_CONV_CO] = {0};
                if (k0 == 0) memcpy(bias, L->bias + co0, sizeof(int32_t) * (size_t)nc);
                const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)bias);
                const __m256i b1 = _mm256_loadu_si256((const __m256i *)(const void *)(bias + 8));
                for (int32_t r0 = 0; r0 < n; r0 += ROWS) {
                    const int32_t nr = n - r0 < ROWS ? n - r0 : ROWS;
                    const uint8_t *rp[ROWS];
                    for (int r = 0; r < ROWS; ++r) {
                        /* a partial step repeats its last row and stores nr rows */
                        rp[r] = slot + (int64_t)(r0 + (r < nr ? r : nr - 1)) * a->kc;
                    }
                    __m256i s[ROWS][2];
                    micro(rp, wb, len / 4, a->steps, s);
                    for (int r = 0; r < nr; ++r) {
                        /* later chunks add to the first one's sums */
                        int32_t *o = a->acc + (tp + r0 + r) * out_c + co0;
                        put8(o, _mm256_add_epi32(s[r][0], b0), nc, k0 > 0);
                        if (nc > 8) put8(o + 8, _mm256_add_epi32(s[r][1], b1), nc - 8, k0 > 0);
                    }
                }
            }
        }
    }
}

void ct_t2_s8_conv2d__avx2(const ct_conv_args *a, int32_t n_threads) {
    ct_conv_args with = *a;
    with.steps = ct_conv_decode(a->layer, a->k, (int8_t *)a->shared);
    ct_conv_parallel(&with, n_threads, rows);
}

#endif /* __x86_64__ */
