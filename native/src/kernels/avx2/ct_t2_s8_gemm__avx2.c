/*
 * AVX2 GEMM kernel (family GEMM, the batched forward): ct_t2_s8_gemm__avx2.
 *
 * The same arithmetic as the GEMV kernel (ct_t2_s8_gemv__avx2.c: codes u = w + 1,
 * maddubs(u, x), minus sum(x)), but each weight block is decoded once and
 * used for COLS columns, so the decode and the weight traffic are paid once
 * per COLS columns. Columns go in groups of COLS; the activations of one
 * group (COLS x padded k bytes) stay in L1/L2 while all rows stream past.
 * Leftover columns (batch % COLS) go through the GEMV kernel.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2/ct_avx2.h"

enum { COLS = 4 };

/* One row against COLS columns: out[c] = sum_i u[i] * x[c][i]. */
CT_AVX2 static void row_cols(const uint8_t *w, int32_t blocks, const int8_t *x, int32_t x_stride,
                             int32_t out[COLS]) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a32[COLS], a16[COLS];
    for (int c = 0; c < COLS; ++c) a32[c] = a16[c] = _mm256_setzero_si256();
    for (int32_t blk = 0; blk < blocks; ++blk) {
        const __m256i v =
            _mm256_loadu_si256((const __m256i *)(const void *)(w + (int64_t)blk * 32));
        const __m256i u0 = _mm256_and_si256(v, m3);
        const __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
        const __m256i u2 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
        const __m256i u3 = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
        for (int c = 0; c < COLS; ++c) {
            const __m256i *xp =
                (const __m256i *)(const void *)(x + (int64_t)c * x_stride + (int64_t)blk * 128);
            const __m256i p01 =
                _mm256_add_epi16(_mm256_maddubs_epi16(u0, _mm256_loadu_si256(xp)),
                                 _mm256_maddubs_epi16(u1, _mm256_loadu_si256(xp + 1)));
            const __m256i p23 =
                _mm256_add_epi16(_mm256_maddubs_epi16(u2, _mm256_loadu_si256(xp + 2)),
                                 _mm256_maddubs_epi16(u3, _mm256_loadu_si256(xp + 3)));
            a16[c] = _mm256_add_epi16(a16[c], _mm256_add_epi16(p01, p23));
        }
        if ((blk + 1) % CT_FLUSH_BLOCKS == 0 || blk + 1 == blocks) {
            for (int c = 0; c < COLS; ++c) {
                a32[c] = _mm256_add_epi32(a32[c], _mm256_madd_epi16(a16[c], ones));
                a16[c] = _mm256_setzero_si256();
            }
        }
    }
    _mm_storeu_si128((__m128i *)(void *)out, ct_avx2_hsum4(a32));
}

CT_AVX2 void ct_t2_s8_gemm__avx2(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                                 int32_t batch, int32_t *acc, int32_t acc_stride) {
    const int32_t n = layer->n_out;
    const int32_t blocks = ct_t2_padded_k(layer->n_in) / CT_BLOCK;
    const int64_t rb = ct_t2_row_bytes(layer->n_in);
    int32_t b = 0;
    for (; b + COLS <= batch; b += COLS) {
        const int8_t *xb = x + (int64_t)b * x_stride;
        int32_t sx[COLS];
        for (int c = 0; c < COLS; ++c) sx[c] = ct_avx2_sum_s8(xb + (int64_t)c * x_stride, blocks);
        for (int32_t j = 0; j < n; ++j) {
            int32_t s[COLS];
            row_cols(layer->w + j * rb, blocks, xb, x_stride, s);
            for (int c = 0; c < COLS; ++c) {
                acc[(int64_t)(b + c) * acc_stride + j] = layer->bias[j] + (s[c] - sx[c]);
            }
        }
    }
    if (b < batch) {
        ct_t2_s8_gemv__avx2(layer, x + (int64_t)b * x_stride, x_stride, batch - b,
                            acc + (int64_t)b * acc_stride, acc_stride);
    }
}

#endif /* __x86_64__ */
