/*
 * int8 activations -> bit planes, AVX2: for plane b, shifting each byte left
 * by 7 - b puts bit b in its top bit, and movemask gathers the top bits of 32
 * bytes into 32 consecutive plane bits. A 16-bit shift is enough: the top bit
 * of each byte then comes from the same byte (shifts of at most 7).
 */
#include "core/ct_internal.h"

#if defined(__x86_64__)
#include <string.h>

#include "kernels/avx2/ct_avx2.h"

CT_AVX2 static void planes32(__m256i v, int32_t bits, uint32_t *out, int64_t plane_u32,
                             int64_t at) {
    for (int32_t b = 0; b < bits; ++b) {
        const __m128i count = _mm_cvtsi32_si128(7 - b);
        out[b * plane_u32 + at] = (uint32_t)_mm256_movemask_epi8(_mm256_sll_epi16(v, count));
    }
}

CT_AVX2 void ct_bp_s8_pack__avx2(const int8_t *x, int32_t k, int32_t bits, uint64_t *planes) {
    const int64_t plane_words = (int64_t)ct_pc_chunks(k) * CT_PC_CHUNK_WORDS;
    const int64_t plane_u32 = 2 * plane_words;
    /* The planes are written as 32-bit halves of their words: on x86 (little
     * endian) half j of the words holds plane bits 32j .. 32j + 31. */
    uint32_t *out = (uint32_t *)(void *)planes;
    const int32_t full = k / 32;
    for (int32_t j = 0; j < full; ++j) {
        planes32(_mm256_loadu_si256((const __m256i *)(const void *)(x + 32 * j)), bits, out,
                 plane_u32, j);
    }
    int64_t done = full;
    if (k % 32) { /* the last values through a zeroed copy: nothing read past k */
        int8_t stage[32] = {0};
        memcpy(stage, x + 32 * full, (size_t)(k % 32));
        planes32(_mm256_loadu_si256((const __m256i *)(const void *)stage), bits, out, plane_u32,
                 full);
        ++done;
    }
    for (int32_t b = 0; b < bits; ++b) { /* padding up to the chunk: zero */
        memset(out + b * plane_u32 + done, 0, sizeof(uint32_t) * (size_t)(plane_u32 - done));
    }
}
#endif /* __x86_64__ */
