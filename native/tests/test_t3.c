/*
 * T3 packing (storage layout): base 3, five weights per byte, least
 * significant digit first: byte b = sum_{d<5} (w[5b+d] + 1) * 3^d, with
 * missing trailing weights counted as code 0. The expected bytes are computed
 * here from that formula, independently of ct_pack.c.
 */
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

enum { MAX_N = 60, MAX_BYTES = (MAX_N + 4) / 5 };

static const unsigned pow3[6] = {1, 3, 9, 27, 81, 243};

static void doc_pack(const int8_t *w, int64_t n, uint8_t *out) {
    for (int64_t b = 0; b < (n + 4) / 5; ++b) {
        unsigned v = 0;
        for (int64_t d = 0; d < 5 && 5 * b + d < n; ++d) {
            v += (unsigned)(w[5 * b + d] + 1) * pow3[d];
        }
        out[b] = (uint8_t)v;
    }
}

CT_TEST(t3_sizes) {
    CT_CHECK_EQ_I64(ct_t3_packed_bytes(1), 1);
    CT_CHECK_EQ_I64(ct_t3_packed_bytes(5), 1);
    CT_CHECK_EQ_I64(ct_t3_packed_bytes(6), 2);
    CT_CHECK_EQ_I64(ct_t3_packed_bytes(60), 12);
    CT_CHECK_EQ_I64(ct_t3_packed_bytes(0), 0);
    CT_CHECK_EQ_I64(ct_t3_packed_bytes(-1), 0);
    CT_CHECK_EQ_I64(ct_t3_packed_bytes((int64_t)1 << 40), ((int64_t)1 << 40) / 5 + 1);
}

/* Every length 1..60, random weights plus the all -1 / all 0 / all +1
 * matrices: bytes match the formula, every byte <= 242, padding digits are
 * zero and unpack gives the weights back. */
CT_TEST(t3_round_trip_every_length) {
    uint64_t s = ct_test_seed() ^ 0x73u;
    int8_t w[MAX_N], back[MAX_N];
    uint8_t p[MAX_BYTES + 4], expect[MAX_BYTES];
    for (int64_t n = 1; n <= MAX_N; ++n) {
        const int64_t bytes = ct_t3_packed_bytes(n);
        CT_CHECK_EQ_I64(bytes, (n + 4) / 5);
        for (int pattern = 0; pattern < 8; ++pattern) {
            for (int64_t i = 0; i < n; ++i) {
                w[i] = pattern < 3 ? (int8_t)(pattern - 1)
                                   : (int8_t)((int)(ct_test_rand(&s) % 3u) - 1);
            }
            memset(p, 0xEE, sizeof p);
            CT_CHECK_EQ_I64(ct_t3_pack(w, n, p, bytes), CT_OK);
            doc_pack(w, n, expect);
            CT_CHECK(memcmp(p, expect, (size_t)bytes) == 0);
            CT_CHECK_EQ_I64(p[bytes], 0xEE); /* nothing written past the end */
            for (int64_t b = 0; b < bytes; ++b) CT_CHECK(p[b] <= 242);
            if (n % 5 != 0) CT_CHECK(p[bytes - 1] < pow3[n % 5]); /* padding digits 0 */
            memset(back, 99, sizeof back);
            CT_CHECK_EQ_I64(ct_t3_unpack(p, n, back), CT_OK);
            CT_CHECK(memcmp(w, back, (size_t)n) == 0);
            if (n < MAX_N) CT_CHECK_EQ_I64(back[n], 99); /* nothing past n either */
        }
    }
}

/* All 243 valid byte values decode to their base-3 digits. */
CT_TEST(t3_every_byte_value) {
    for (unsigned v = 0; v <= 242; ++v) {
        const uint8_t byte = (uint8_t)v;
        int8_t w[5];
        CT_CHECK_EQ_I64(ct_t3_unpack(&byte, 5, w), CT_OK);
        for (int d = 0; d < 5; ++d) CT_CHECK_EQ_I64(w[d] + 1, (v / pow3[d]) % 3u);
    }
}

CT_TEST(t3_byte_above_242) {
    for (unsigned v = 243; v <= 255; ++v) {
        uint8_t p[3] = {121, 121, 121}; /* all-zero weights: code 1 = 1+3+9+27+81 */
        int8_t w[15];
        CT_CHECK_EQ_I64(ct_t3_unpack(p, 15, w), CT_OK);
        for (int at = 0; at < 3; ++at) {
            p[0] = p[1] = p[2] = 121;
            p[at] = (uint8_t)v;
            CT_CHECK_EQ_I64(ct_t3_unpack(p, 15, w), CT_E_CODE);
        }
    }
}

/* A nonzero digit past the last weight is CT_E_CODE, for every n % 5 != 0
 * and every padding digit. */
CT_TEST(t3_padding_digit_nonzero) {
    int8_t w[MAX_N];
    uint8_t p[MAX_BYTES];
    for (int64_t n = 1; n <= MAX_N; ++n) {
        const int r = (int)(n % 5);
        if (r == 0) continue;
        const int64_t last = ct_t3_packed_bytes(n) - 1;
        for (int64_t i = 0; i < n; ++i) w[i] = (int8_t)(i % 3 - 1);
        for (int d = r; d < 5; ++d) {
            for (unsigned digit = 1; digit <= 2; ++digit) {
                CT_CHECK_EQ_I64(ct_t3_pack(w, n, p, last + 1), CT_OK);
                p[last] = (uint8_t)(p[last] + digit * pow3[d]);
                CT_CHECK_EQ_I64(ct_t3_unpack(p, n, w), CT_E_CODE);
            }
        }
        /* The same bytes read as a longer matrix are fine when they fit. */
        CT_CHECK_EQ_I64(ct_t3_unpack(p, 5 * (last + 1), w), CT_OK);
    }
}

CT_TEST(t3_errors) {
    int8_t w[7] = {0, 1, -1, 0, 1, -1, 0};
    uint8_t p[2] = {0, 0};
    CT_CHECK_EQ_I64(ct_t3_pack(NULL, 7, p, 2), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t3_pack(w, 7, NULL, 2), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t3_unpack(NULL, 7, w), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t3_unpack(p, 7, NULL), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t3_pack(w, 0, p, 2), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_t3_pack(w, -3, p, 2), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_t3_pack(w, 7, p, 1), CT_E_SHAPE); /* needs 2 bytes */
    CT_CHECK_EQ_I64(ct_t3_unpack(p, 0, w), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_t3_unpack(p, -1, w), CT_E_SHAPE);
    static const int8_t bad[] = {2, -2, 127, -128};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        w[6] = bad[i];
        CT_CHECK_EQ_I64(ct_t3_pack(w, 7, p, 2), CT_E_RANGE);
    }
}
