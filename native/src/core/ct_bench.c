/*
 * The memory-read ceiling for benchmarks: ct_read_bytes reads a buffer once,
 * as simply as possible, so a benchmark can compare a GEMV kernel's weight
 * bandwidth with a plain read of the very same bytes, in the same rounds.
 * It must be much faster than memory when the data is in cache, so on x86-64
 * it uses AVX2 where the CPU has it (the same dispatch test as the kernels).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/ct_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2/ct_avx2.h"

CT_AVX2 static uint64_t read_avx2(const uint8_t *p, int64_t n, int64_t *done) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 128 <= n; i += 128) {
        const __m256i *v = (const __m256i *)(const void *)(p + i);
        a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(v));
        a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(v + 1));
        a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(v + 2));
        a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(v + 3));
    }
    const __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    const __m128i h = _mm_xor_si128(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    *done = i;
    return (uint64_t)_mm_cvtsi128_si64(h) ^ (uint64_t)_mm_extract_epi64(h, 1);
}

/* S parts of `part` bytes each (a multiple of 128), read concurrently: one
 * step loads two cache lines from each part, so S hardware streams advance
 * together, as they do when a GEMV walks S rows at once. */
CT_AVX2 static inline __attribute__((always_inline)) uint64_t read_parts_avx2(const uint8_t *p,
                                                                              int64_t part,
                                                                              const int S) {
    __m256i a[8];
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) a[s] = _mm256_setzero_si256();
    for (int64_t i = 0; i < part; i += 128) {
#pragma GCC unroll 8
        for (int s = 0; s < S; ++s) {
            const __m256i *v = (const __m256i *)(const void *)(p + s * part + i);
            const __m256i t = _mm256_xor_si256(_mm256_loadu_si256(v), _mm256_loadu_si256(v + 1));
            const __m256i u =
                _mm256_xor_si256(_mm256_loadu_si256(v + 2), _mm256_loadu_si256(v + 3));
            a[s] = _mm256_xor_si256(a[s], _mm256_xor_si256(t, u));
        }
    }
#pragma GCC unroll 8
    for (int s = 1; s < S; ++s) a[0] = _mm256_xor_si256(a[0], a[s]);
    const __m128i h =
        _mm_xor_si128(_mm256_castsi256_si128(a[0]), _mm256_extracti128_si256(a[0], 1));
    return (uint64_t)_mm_cvtsi128_si64(h) ^ (uint64_t)_mm_extract_epi64(h, 1);
}

CT_AVX2 static uint64_t read_streams_avx2(const uint8_t *p, int64_t part, int32_t streams) {
    switch (streams) {
        case 2:
            return read_parts_avx2(p, part, 2);
        case 4:
            return read_parts_avx2(p, part, 4);
        case 8:
            return read_parts_avx2(p, part, 8);
        default:
            return read_parts_avx2(p, part, 1);
    }
}
#endif

ct_status ct_read_bytes(const uint8_t *p, int64_t n, uint64_t *out) {
    if (!p || !out) return CT_E_NULL;
    if (n < 0) return CT_E_SHAPE;
    uint64_t r = 0;
    int64_t i = 0;
#if defined(__x86_64__)
    if (ct_cpu_avx2()) r = read_avx2(p, n, &i);
#endif
    uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* eight independent chains */
    for (; i + 64 <= n; i += 64) {
        uint64_t v[8];
        memcpy(v, p + i, sizeof v);
        for (int j = 0; j < 8; ++j) acc[j] ^= v[j];
    }
    for (int j = 0; j < 8; ++j) r ^= acc[j];
    for (; i < n; ++i) r ^= p[i];
    *out = r;
    return CT_OK;
}

/* The portable twin of read_parts_avx2: one 64-byte step from each part in
 * turn (the XOR of all words is the same, so is the result). */
static uint64_t read_parts(const uint8_t *p, int64_t part, int32_t streams) {
    uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < part; i += 64) {
        for (int32_t s = 0; s < streams; ++s) {
            uint64_t v[8];
            memcpy(v, p + s * part + i, sizeof v);
            for (int j = 0; j < 8; ++j) acc[j] ^= v[j];
        }
    }
    uint64_t r = 0;
    for (int j = 0; j < 8; ++j) r ^= acc[j];
    return r;
}

ct_status ct_read_streams(const uint8_t *p, int64_t n, int32_t streams, uint64_t *out) {
    if (!p || !out) return CT_E_NULL;
    if (n < 0) return CT_E_SHAPE;
    if (streams != 1 && streams != 2 && streams != 4 && streams != 8) return CT_E_RANGE;
    /* Equal parts of whole 128-byte steps; the remainder is read plainly. */
    const int64_t part = n / streams / 128 * 128;
    uint64_t r = 0;
#if defined(__x86_64__)
    if (ct_cpu_avx2()) {
        r = read_streams_avx2(p, part, streams);
    } else {
        r = read_parts(p, part, streams);
    }
#else
    r = read_parts(p, part, streams);
#endif
    const int64_t done = part * streams;
    uint64_t rest = 0;
    const ct_status st = ct_read_bytes(p + done, n - done, &rest);
    *out = r ^ rest;
    return st;
}

static volatile uint64_t read_sink;

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

ct_status ct_read_ceiling(int64_t bytes, int32_t rounds, double gbs[4], int32_t *best_streams) {
    if (!gbs || !best_streams) return CT_E_NULL;
    if (bytes < 4096 || rounds < 1) return CT_E_SHAPE;
    /* Huge pages where the OS offers them on request, as numpy asks for its
     * large arrays (which hold the weights in the benchmarks), so the ceiling
     * and the GEMV read memory mapped the same way. */
    void *mem = NULL;
    if (posix_memalign(&mem, (size_t)2 << 20, (size_t)bytes) != 0) return CT_E_NOMEM;
    uint8_t *buf = mem;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)madvise(buf, (size_t)bytes, MADV_HUGEPAGE); /* a hint: failure is fine */
#endif
    /* Touch every page first (and give the bytes values), so the rounds time
     * reads, not page faults. */
    for (int64_t i = 0; i < bytes; ++i) buf[i] = (uint8_t)(i * 131);
    static const int32_t counts[4] = {1, 2, 4, 8};
    uint64_t sink = 0, v = 0;
    for (int c = 0; c < 4; ++c) gbs[c] = 0.0;
    /* Rounds interleave the four counts, so a load spike on a shared machine
     * hits them alike; each count keeps its best round. */
    for (int32_t r = 0; r < rounds; ++r) {
        for (int c = 0; c < 4; ++c) {
            const double t0 = seconds_now();
            ct_read_streams(buf, bytes, counts[c], &v);
            const double dt = seconds_now() - t0;
            sink ^= v;
            const double g = dt > 0 ? (double)bytes / dt / 1e9 : 0.0;
            if (g > gbs[c]) gbs[c] = g;
        }
    }
    int best = 0;
    for (int c = 1; c < 4; ++c) {
        if (gbs[c] > gbs[best]) best = c;
    }
    *best_streams = counts[best];
    read_sink = sink; /* keeps the reads observable */
    free(buf);
    return CT_OK;
}
