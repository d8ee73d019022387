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
 * zero. (Reading T3 back is Python's job: conntra.packing.unpack_t3_numpy.) */
CT_TEST(t3_round_trip_every_length) {
    uint64_t s = ct_test_seed() ^ 0x73u;
    int8_t w[MAX_N];
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
        }
    }
}

CT_TEST(t3_errors) {
    int8_t w[7] = {0, 1, -1, 0, 1, -1, 0};
    uint8_t p[2] = {0, 0};
    CT_CHECK_EQ_I64(ct_t3_pack(NULL, 7, p, 2), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t3_pack(w, 7, NULL, 2), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_t3_pack(w, 0, p, 2), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_t3_pack(w, -3, p, 2), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_t3_pack(w, 7, p, 1), CT_E_SHAPE); /* needs 2 bytes */
    static const int8_t bad[] = {2, -2, 127, -128};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        w[6] = bad[i];
        CT_CHECK_EQ_I64(ct_t3_pack(w, 7, p, 2), CT_E_RANGE);
    }
}
