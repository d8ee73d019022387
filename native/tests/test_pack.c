/*
 * T2 packing (compute layout): round trips, bit positions, padding and
 * every error path.
 *
 * The expected positions are computed here from the documented layout
 * (docs/format.md), not from ct_internal.h, so a change of the helpers that
 * moves a weight is caught: code u = w + 1 of weight (r, c) lives in byte
 * r * (padded_k / 4) + (c / 128) * 32 + c % 32, at bit 2 * ((c % 128) / 32).
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

static int64_t doc_byte(int32_t k, int32_t r, int32_t c) {
    const int64_t padded = ((int64_t)k + 127) / 128 * 128;
    return (int64_t)r * (padded / 4) + (int64_t)(c / 128) * 32 + c % 32;
}

static unsigned doc_shift(int32_t c) {
    return (unsigned)(2 * ((c % 128) / 32));
}

static int8_t rand_weight(uint64_t *s) {
    return (int8_t)((int)(ct_test_rand(s) % 3u) - 1);
}

/* Every packed slot past column k, in every row, holds code 0. */
static int padding_is_zero(const uint8_t *p, int32_t rows, int32_t k) {
    const int32_t padded = ct_t2_padded_k(k);
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t c = k; c < padded; ++c) {
            if ((((unsigned)p[doc_byte(k, r, c)] >> doc_shift(c)) & 3u) != 0u) return 0;
        }
    }
    return 1;
}

CT_TEST(t2_sizes) {
    CT_CHECK_EQ_I64(ct_t2_padded_k(1), 128);
    CT_CHECK_EQ_I64(ct_t2_padded_k(127), 128);
    CT_CHECK_EQ_I64(ct_t2_padded_k(128), 128);
    CT_CHECK_EQ_I64(ct_t2_padded_k(129), 256);
    CT_CHECK_EQ_I64(ct_t2_padded_k(CT_MAX_INPUTS), CT_MAX_INPUTS);
    CT_CHECK_EQ_I64(ct_t2_padded_k(0), 0);
    CT_CHECK_EQ_I64(ct_t2_padded_k(-5), 0);
    CT_CHECK_EQ_I64(ct_t2_packed_bytes(3, 129), 3 * 64);
    CT_CHECK_EQ_I64(ct_t2_packed_bytes(CT_MAX_OUTPUTS, CT_MAX_INPUTS),
                    (int64_t)CT_MAX_OUTPUTS * CT_MAX_INPUTS / 4);
    CT_CHECK_EQ_I64(ct_t2_packed_bytes(0, 5), 0);
    CT_CHECK_EQ_I64(ct_t2_packed_bytes(5, 0), 0);
}

/* Every length 1..300 and several row counts: unpack(pack(w)) == w, get()
 * agrees with w, padding is zero and no byte past the packed size is written. */
CT_TEST(t2_round_trip_every_length) {
    static const int32_t row_counts[] = {1, 2, 3, 7};
    uint64_t s = ct_test_seed() ^ 0x7432u;
    enum { MAX_K = 300, MAX_ROWS = 7, GUARD = 16 };
    int8_t *w = malloc((size_t)MAX_ROWS * MAX_K);
    int8_t *back = malloc((size_t)MAX_ROWS * MAX_K);
    uint8_t *p = malloc((size_t)MAX_ROWS * 384 / 4 + GUARD);
    CT_CHECK(w && back && p);
    if (!w || !back || !p) goto done;
    for (int32_t k = 1; k <= MAX_K; ++k) {
        for (size_t ri = 0; ri < sizeof row_counts / sizeof row_counts[0]; ++ri) {
            const int32_t rows = row_counts[ri];
            const int64_t bytes = ct_t2_packed_bytes(rows, k);
            CT_CHECK_EQ_I64(bytes, (int64_t)rows * ct_t2_padded_k(k) / 4);
            for (int32_t i = 0; i < rows * k; ++i) w[i] = rand_weight(&s);
            memset(p, 0xA5, (size_t)bytes + GUARD); /* garbage: pack must overwrite */
            CT_CHECK_EQ_I64(ct_t2_pack(w, rows, k, p, bytes), CT_OK);
            for (int g = 0; g < GUARD; ++g) CT_CHECK_EQ_I64(p[bytes + g], 0xA5);
            CT_CHECK(padding_is_zero(p, rows, k));
            memset(back, 99, (size_t)rows * (size_t)k);
            CT_CHECK_EQ_I64(ct_t2_unpack(p, rows, k, back), CT_OK);
            CT_CHECK(memcmp(w, back, (size_t)rows * (size_t)k) == 0);
            for (int32_t r = 0; r < rows; ++r) {
                for (int32_t c = 0; c < k; ++c) {
                    /* The documented position holds the code w + 1. */
                    const unsigned code = ((unsigned)p[doc_byte(k, r, c)] >> doc_shift(c)) & 3u;
                    CT_CHECK_EQ_I64(code, w[r * k + c] + 1);
                }
            }
        }
    }
done:
    free(w);
    free(back);
    free(p);
}

/* One nonzero weight in a zero matrix: the packed bytes equal the expected
 * image (code 1 at every real slot, code 0 in padding) except the one slot. */
CT_TEST(t2_one_hot_positions) {
    static const int32_t ks[] = {1, 2, 31, 32, 33, 64, 96, 127, 128, 129, 160, 255, 256, 300};
    enum { ROWS = 3, MAX_K = 300 };
    int8_t w[ROWS * MAX_K];
    uint8_t expect[ROWS * 384 / 4], got[ROWS * 384 / 4];
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ++ki) {
        const int32_t k = ks[ki];
        const int64_t bytes = ct_t2_packed_bytes(ROWS, k);
        for (int8_t hot = -1; hot <= 1; hot = (int8_t)(hot + 2)) {
            for (int32_t r = 0; r < ROWS; ++r) {
                for (int32_t c = 0; c < k; ++c) {
                    memset(w, 0, sizeof w);
                    w[r * k + c] = hot;
                    memset(expect, 0, sizeof expect);
                    for (int32_t rr = 0; rr < ROWS; ++rr) {
                        for (int32_t cc = 0; cc < k; ++cc) {
                            const unsigned code = (rr == r && cc == c) ? (unsigned)(hot + 1) : 1u;
                            expect[doc_byte(k, rr, cc)] |= (uint8_t)(code << doc_shift(cc));
                        }
                    }
                    CT_CHECK_EQ_I64(ct_t2_pack(w, ROWS, k, got, bytes), CT_OK);
                    CT_CHECK(memcmp(expect, got, (size_t)bytes) == 0);
                }
            }
        }
    }
}

CT_TEST(t2_invalid_code_3) {
    enum { ROWS = 2, K = 130 };
    int8_t w[ROWS * K];
    uint8_t p[ROWS * 256 / 4];
    const int64_t bytes = ct_t2_packed_bytes(ROWS, K);
    static const int32_t cols[] = {0, 31, 32, 95, 127, 128, 129};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; ++i) {
        const int32_t r = (int32_t)(i % ROWS), c = cols[i];
        memset(w, 0, sizeof w);
        CT_CHECK_EQ_I64(ct_t2_pack(w, ROWS, K, p, bytes), CT_OK);
        p[doc_byte(K, r, c)] |= (uint8_t)(3u << doc_shift(c));
        CT_CHECK_EQ_I64(ct_t2_unpack(p, ROWS, K, w), CT_E_CODE);
        /* Code 0 (w = -1) in the same slot repairs it. */
        p[doc_byte(K, r, c)] &= (uint8_t)~(3u << doc_shift(c));
        CT_CHECK_EQ_I64(ct_t2_unpack(p, ROWS, K, w), CT_OK);
        CT_CHECK_EQ_I64(w[r * K + c], -1);
        CT_CHECK_EQ_I64(w[r * K + (c == 0 ? 1 : c - 1)], 0);
    }
}

CT_TEST(t2_weight_out_of_range) {
    static const int8_t bad[] = {2, -2, 3, 127, -128};
    int8_t w[10] = {0};
    uint8_t p[32] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        w[9] = bad[i];
        CT_CHECK_EQ_I64(ct_t2_pack(w, 1, 10, p, sizeof p), CT_E_RANGE);
    }
    w[9] = 0;
    CT_CHECK_EQ_I64(ct_t2_pack(w, 1, 10, p, sizeof p), CT_OK);
}

CT_TEST(t2_null_pointers) {
    int8_t w[4] = {0};
    uint8_t p[32] = {0};
    CT_CHECK_EQ_I64(ct_t2_pack(NULL, 1, 4, p, 32), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t2_pack(w, 1, 4, NULL, 32), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t2_unpack(NULL, 1, 4, w), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t2_unpack(p, 1, 4, NULL), CT_E_NULL);
}

CT_TEST(t2_bad_sizes) {
    int8_t w[4] = {0};
    uint8_t p[64] = {0};
    static const int32_t bad_rows[] = {0, -1, CT_MAX_OUTPUTS + 1};
    static const int32_t bad_k[] = {0, -1, CT_MAX_INPUTS + 1};
    for (size_t i = 0; i < 3; ++i) {
        CT_CHECK_EQ_I64(ct_t2_pack(w, bad_rows[i], 4, p, 64), CT_E_SHAPE);
        CT_CHECK_EQ_I64(ct_t2_pack(w, 1, bad_k[i], p, 64), CT_E_SHAPE);
        CT_CHECK_EQ_I64(ct_t2_unpack(p, bad_rows[i], 4, w), CT_E_SHAPE);
        CT_CHECK_EQ_I64(ct_t2_unpack(p, 1, bad_k[i], w), CT_E_SHAPE);
    }
    /* Output buffer one byte short of the packed size. */
    CT_CHECK_EQ_I64(ct_t2_pack(w, 1, 4, p, 31), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_t2_pack(w, 2, 2, p, 63), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_t2_pack(w, 2, 2, p, 64), CT_OK);
}
