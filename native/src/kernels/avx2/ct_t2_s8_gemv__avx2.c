/*
 * AVX2 GEMV kernel (family GEMV): ct_t2_s8_gemv__avx2.
 *
 * Per 128-weight T2 block, one 32-byte load holds four runs of 32 weights
 * (bits 0-1, 2-3, 4-5, 6-7 of each byte); shift + mask gives the codes
 * u = w + 1 as unsigned bytes, and maddubs(u, x) multiplies them with the
 * signed activations and adds neighbouring pairs into int16. Since
 * sum(u * x) = sum(w * x) + sum(x), the kernel subtracts sum(x) once per
 * column. Exact for every int8 activation and every code byte (code 3 acts
 * as w = 2, like the reference): see the bound at CT_FLUSH_BLOCKS.
 *
 * One row at a time, 4 blocks (two cache lines) per step into 4 independent
 * int16 accumulators. Measured (docs/kernels.md): walking one row at a time
 * reads the matrix as ONE sequential stream; interleaving 4 rows made 4 short
 * streams per 4 KiB page and ran 2.5x slower once weights came from DRAM.
 * A software prefetch PREFETCH_BYTES ahead in that stream helps long rows
 * (k = 16384: the 16 KiB activation row competes for L1 with the weights)
 * and costs nothing on short ones.
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2/ct_avx2.h"

/* Distance of the software prefetch in the weight stream (measured best of
 * 0.5, 1, 2 and 4 KiB on the project's machine). */
enum { PREFETCH_BYTES = 4096 };

/* One block against 128 activations: 16 int16 lanes, |lane| <= 3072. */
CT_AVX2 static inline __m256i block_dot(const uint8_t *wp, const int8_t *xp) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)wp);
    const __m256i *x = (const __m256i *)(const void *)xp;
    const __m256i p01 =
        _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v, m3), _mm256_loadu_si256(x)),
                         _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 2), m3),
                                              _mm256_loadu_si256(x + 1)));
    const __m256i p23 =
        _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m3),
                                              _mm256_loadu_si256(x + 2)),
                         _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 6), m3),
                                              _mm256_loadu_si256(x + 3)));
    return _mm256_add_epi16(p01, p23);
}

/* Widens an int16 accumulator into int32 lanes (pairs added). */
CT_AVX2 static inline __m256i widen(__m256i a16) {
    return _mm256_madd_epi16(a16, _mm256_set1_epi16(1));
}

/* sum_i u[i] * x[i] over one row of `blocks` blocks. The four accumulators
 * are named variables, never an indexed array: an array indexed at run time
 * lives in memory, and its store-to-load round trip per step made this loop
 * 1.5x slower once weights streamed from DRAM. */
CT_AVX2 static int32_t row_dot(const uint8_t *w, int32_t blocks, const int8_t *x) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, s = a0;
    int32_t steps = 0, blk = 0;
    for (; blk + 4 <= blocks; blk += 4) {
        const uint8_t *wp = w + (int64_t)blk * CT_BLOCK_BYTES;
        const int8_t *xp = x + (int64_t)blk * CT_BLOCK;
        /* Prefetches never fault, so running past the matrix end is harmless. */
        _mm_prefetch((const char *)(wp + PREFETCH_BYTES), _MM_HINT_T0);
        _mm_prefetch((const char *)(wp + PREFETCH_BYTES + 64), _MM_HINT_T0);
        a0 = _mm256_add_epi16(a0, block_dot(wp, xp));
        a1 = _mm256_add_epi16(a1, block_dot(wp + 32, xp + 128));
        a2 = _mm256_add_epi16(a2, block_dot(wp + 64, xp + 256));
        a3 = _mm256_add_epi16(a3, block_dot(wp + 96, xp + 384));
        /* each accumulator takes one block per step: flush every 8 steps */
        if (++steps == CT_FLUSH_BLOCKS) {
            s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(widen(a0), widen(a1)),
                                                     _mm256_add_epi32(widen(a2), widen(a3))));
            a0 = a1 = a2 = a3 = _mm256_setzero_si256();
            steps = 0;
        }
    }
    s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(widen(a0), widen(a1)),
                                             _mm256_add_epi32(widen(a2), widen(a3))));
    for (; blk < blocks; ++blk) { /* at most 3 blocks, one flush each */
        s = _mm256_add_epi32(
            s, widen(block_dot(w + (int64_t)blk * CT_BLOCK_BYTES, x + (int64_t)blk * CT_BLOCK)));
    }
    return ct_avx2_hsum(s);
}

CT_AVX2 void ct_t2_s8_gemv__avx2(const ct_layer *layer, const int8_t *x, int32_t x_stride,
                                 int32_t batch, int32_t *acc, int32_t acc_stride) {
    const int32_t blocks = ct_t2_padded_k(layer->n_in) / CT_BLOCK;
    const int64_t rb = ct_t2_row_bytes(layer->n_in);
    for (int32_t b = 0; b < batch; ++b) {
        const int8_t *xb = x + (int64_t)b * x_stride;
        int32_t *ab = acc + (int64_t)b * acc_stride;
        /* sum(w x) = sum(u x) - sum(x); the padding of x is zero. */
        const int32_t sx = ct_avx2_sum_s8(xb, blocks);
        for (int32_t j = 0; j < layer->n_out; ++j) {
            ab[j] = layer->bias[j] + (row_dot(layer->w + j * rb, blocks, xb) - sx);
        }
    }
}

#endif /* __x86_64__ */
