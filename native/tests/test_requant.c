/*
 * Requantization y = clamp((acc + 2^(shift-1)) >> shift, 0, 127) (no rounding
 * term for shift 0, negatives clamp to 0) at its rounding boundaries.
 * Expected values are written out from the
 * contract, not computed by the code under test.
 */
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

/* Requantizes one value through the public API. */
static int32_t rq(int32_t a, int32_t shift) {
    int8_t y = -1;
    const ct_status st = ct_requantize(&a, 1, 1, shift, &y, 1);
    CT_CHECK_EQ_I64(st, CT_OK);
    return y;
}

/* The oracle in int64: round half up, floor shift, clamp to 0..127. */
static int32_t oracle(int64_t a, int32_t shift) {
    const int64_t t = shift > 0 ? a + ((int64_t)1 << (shift - 1)) : a;
    if (t <= 0) return 0;
    const int64_t q = t >> shift;
    return q > 127 ? 127 : (int32_t)q;
}

/* Around each boundary b = q * 2^s - 2^(s-1): b - 1 -> q - 1, b -> q,
 * b + 1 -> q, b + 2^s - 1 -> q; q = 128 saturates to 127. */
CT_TEST(requant_rounding_boundaries) {
    static const int64_t qs[] = {1, 2, 3, 15, 16, 63, 64, 100, 126, 127, 128, 129};
    for (int32_t s = 1; s <= CT_MAX_SHIFT; ++s) {
        for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; ++qi) {
            const int64_t q = qs[qi];
            const int64_t b = q * ((int64_t)1 << s) - ((int64_t)1 << (s - 1));
            if (b + ((int64_t)1 << s) > ((int64_t)1 << 30)) continue; /* past int32 headroom */
            const int64_t sat_q = q > 127 ? 127 : q;
            const int64_t sat_q1 = q - 1 > 127 ? 127 : q - 1;
            CT_CHECK_EQ_I64(rq((int32_t)(b - 1), s), sat_q1);
            CT_CHECK_EQ_I64(rq((int32_t)b, s), sat_q);
            CT_CHECK_EQ_I64(rq((int32_t)(b + 1), s), sat_q);
            CT_CHECK_EQ_I64(rq((int32_t)(b + ((int64_t)1 << s) - 1), s), sat_q);
        }
        /* Around zero: -2^(s-1) and 2^(s-1) - 1 round to 0, 2^(s-1) to 1. */
        const int32_t half = (int32_t)1 << (s - 1);
        CT_CHECK_EQ_I64(rq(-half, s), 0);
        CT_CHECK_EQ_I64(rq(-half + 1, s), 0);
        CT_CHECK_EQ_I64(rq(half - 1, s), 0);
        CT_CHECK_EQ_I64(rq(half, s), 1);
        CT_CHECK_EQ_I64(rq(-1, s), 0);
        CT_CHECK_EQ_I64(rq(0, s), 0);
    }
}

CT_TEST(requant_shift_0_and_24) {
    /* shift 0: no rounding term, a plain clamp. */
    static const int32_t a0[] = {-134217728, -2, -1, 0, 1, 2, 126, 127, 128, 1000, 268435456};
    static const int32_t y0[] = {0, 0, 0, 0, 1, 2, 126, 127, 127, 127, 127};
    for (size_t i = 0; i < sizeof a0 / sizeof a0[0]; ++i) CT_CHECK_EQ_I64(rq(a0[i], 0), y0[i]);
    /* shift 24: half is 2^23 = 8388608. */
    CT_CHECK_EQ_I64(rq(8388607, 24), 0);
    CT_CHECK_EQ_I64(rq(8388608, 24), 1);
    CT_CHECK_EQ_I64(rq(25165823, 24), 1); /* 1.5 * 2^24 - 1 */
    CT_CHECK_EQ_I64(rq(25165824, 24), 2); /* 1.5 * 2^24 */
    /* The largest |acc| of the contract: 2^27 + 127 * 2^20 = 267386880 (15.94 * 2^24). */
    CT_CHECK_EQ_I64(rq(267386880, 24), 16);
    CT_CHECK_EQ_I64(rq(-267386880, 24), 0);
    CT_CHECK_EQ_I64(rq(267386880, 1), 127);
    CT_CHECK_EQ_I64(rq(-267386880, 0), 0);
    CT_CHECK_EQ_I64(rq(INT32_MIN, 24), 0);
    CT_CHECK_EQ_I64(rq(INT32_MIN, 0), 0);
}

CT_TEST(requant_saturation_at_127) {
    /* shift 4: 127.5 * 16 = 2040 is the first value that rounds to 128. */
    CT_CHECK_EQ_I64(rq(2039, 4), 127);
    CT_CHECK_EQ_I64(rq(2040, 4), 127);
    CT_CHECK_EQ_I64(rq(2047, 4), 127);
    CT_CHECK_EQ_I64(rq(1 << 27, 4), 127);
    CT_CHECK_EQ_I64(rq(2023, 4), 126); /* 126.4375 */
    CT_CHECK_EQ_I64(rq(2024, 4), 127); /* 126.5 rounds up */
}

/* Random values across the contract range and every shift, batch rows of a
 * stride wider than n: values match the oracle and the tail is zeroed. */
CT_TEST(requant_random_vs_oracle) {
    enum { BATCH = 3, N = 37, STRIDE = 45 };
    uint64_t s = ct_test_seed() ^ 0x4e9u;
    int32_t acc[BATCH * N];
    int8_t y[BATCH * STRIDE];
    for (int32_t shift = 0; shift <= CT_MAX_SHIFT; ++shift) {
        for (int rep = 0; rep < 20; ++rep) {
            for (int i = 0; i < BATCH * N; ++i) {
                /* Mostly near the scale of the shift, sometimes anywhere in +-2^28. */
                const int64_t near = (int64_t)200 << shift;
                const int64_t span =
                    rep % 4 == 0 || near > ((int64_t)1 << 29) ? ((int64_t)1 << 29) : near;
                acc[i] = (int32_t)((int64_t)(ct_test_rand(&s) % (uint64_t)span) - span / 2);
            }
            memset(y, 0x55, sizeof y);
            CT_CHECK_EQ_I64(ct_requantize(acc, BATCH, N, shift, y, STRIDE), CT_OK);
            for (int b = 0; b < BATCH; ++b) {
                for (int j = 0; j < N; ++j) {
                    CT_CHECK_EQ_I64(y[b * STRIDE + j], oracle(acc[b * N + j], shift));
                }
                for (int j = N; j < STRIDE; ++j) CT_CHECK_EQ_I64(y[b * STRIDE + j], 0);
            }
        }
    }
}

CT_TEST(requant_errors) {
    int32_t acc[4] = {0, 1, 2, 3};
    int8_t y[4];
    CT_CHECK_EQ_I64(ct_requantize(NULL, 1, 4, 0, y, 4), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_requantize(acc, 1, 4, 0, NULL, 4), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_requantize(acc, 0, 4, 0, y, 4), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_requantize(acc, 1, 0, 0, y, 4), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_requantize(acc, 1, -1, 0, y, 4), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_requantize(acc, 1, 4, 0, y, 3), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_requantize(acc, 1, 4, CT_SHIFT_OUTPUT, y, 4), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_requantize(acc, 1, 4, CT_MAX_SHIFT + 1, y, 4), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_requantize(acc, 1, 4, CT_MAX_SHIFT, y, 4), CT_OK);
}

CT_TEST(requantize_extreme_acc_does_not_overflow) {
    const int32_t accs[3] = {INT32_MAX, INT32_MAX - 1, INT32_MIN};
    int8_t y[3];
    for (int32_t s = 0; s <= CT_MAX_SHIFT; ++s) {
        CT_CHECK_EQ_I64(ct_requantize(accs, 1, 3, s, y, 3), CT_OK);
        CT_CHECK_EQ_I64(y[0], 127);
        CT_CHECK_EQ_I64(y[1], 127);
        CT_CHECK_EQ_I64(y[2], 0);
    }
}

/* Regression: sizes above the contract wrapped to negative byte counts. */
CT_TEST(packed_sizes_outside_the_contract_are_zero) {
    CT_CHECK_EQ_I64(ct_t2_padded_k(INT32_MAX), 0);
    CT_CHECK_EQ_I64(ct_t2_packed_bytes(2, INT32_MAX), 0);
    CT_CHECK_EQ_I64(ct_t2_packed_bytes(CT_MAX_OUTPUTS + 1, 4), 0);
    CT_CHECK_EQ_I64(ct_t2_padded_k(CT_MAX_INPUTS), CT_MAX_INPUTS);
}

/* One value through ct_requantize_bits. */
static int32_t rqb(int32_t a, int32_t shift, int32_t bits) {
    int8_t y = -1;
    const ct_status st = ct_requantize_bits(&a, 1, 1, shift, bits, &y, 1);
    CT_CHECK_EQ_I64(st, CT_OK);
    return y;
}

/* Fewer activation bits clamp at 2^a - 1: with shift 2 (r = 2), acc = 4q - 2
 * is the first value that rounds to q, so 4 * 2^a - 2 is the first that rounds
 * past the top and 4 * 2^a - 3 the last that rounds to it. */
CT_TEST(requant_bits_clamp_at_top) {
    static const int32_t bits[] = {1, 2, 4, 7};
    for (size_t i = 0; i < 4; ++i) {
        const int32_t a = bits[i], top = (1 << a) - 1;
        CT_CHECK_EQ_I64(rqb(4 * top - 3, 2, a), top - 1);
        CT_CHECK_EQ_I64(rqb(4 * top - 2, 2, a), top);
        CT_CHECK_EQ_I64(rqb(4 * (top + 1) - 3, 2, a), top);
        CT_CHECK_EQ_I64(rqb(4 * (top + 1) - 2, 2, a), top);
        CT_CHECK_EQ_I64(rqb(1 << 27, 2, a), top);
        CT_CHECK_EQ_I64(rqb(INT32_MAX, 0, a), top);
        CT_CHECK_EQ_I64(rqb(1, 2, a), 0);
        CT_CHECK_EQ_I64(rqb(2, 2, a), 1);
        CT_CHECK_EQ_I64(rqb(-5, 2, a), 0);
        CT_CHECK_EQ_I64(rqb(INT32_MIN, 24, a), 0);
    }
    /* the documented examples (docs/format.md 1.3) with a = 2: 600 -> 3 */
    CT_CHECK_EQ_I64(rqb(600, 2, 2), 3);
    CT_CHECK_EQ_I64(rqb(6, 2, 1), 1);
    /* 7 bits is what ct_requantize does */
    for (int32_t v = -300; v <= 3000; v += 7) CT_CHECK_EQ_I64(rqb(v, 3, 7), rq(v, 3));
}

/* Random values, every shift and bit count, against the oracle clamped to the
 * top; the row tail is zeroed. */
CT_TEST(requant_bits_random_vs_oracle) {
    enum { BATCH = 2, N = 21, STRIDE = 30 };
    static const int32_t bits[] = {1, 2, 4, 7};
    uint64_t s = ct_test_seed() ^ 0xb175u;
    int32_t acc[BATCH * N];
    int8_t y[BATCH * STRIDE];
    for (int32_t shift = 0; shift <= CT_MAX_SHIFT; ++shift) {
        for (size_t bi = 0; bi < 4; ++bi) {
            const int32_t top = (1 << bits[bi]) - 1;
            const int64_t span = ((int64_t)4 * (top + 1)) << shift;
            for (int i = 0; i < BATCH * N; ++i) {
                acc[i] = (int32_t)((int64_t)(ct_test_rand(&s) % (uint64_t)span) - span / 4);
            }
            memset(y, 0x55, sizeof y);
            CT_CHECK_EQ_I64(ct_requantize_bits(acc, BATCH, N, shift, bits[bi], y, STRIDE), CT_OK);
            for (int b = 0; b < BATCH; ++b) {
                for (int j = 0; j < N; ++j) {
                    const int32_t o = oracle(acc[b * N + j], shift);
                    CT_CHECK_EQ_I64(y[b * STRIDE + j], o > top ? top : o);
                }
                for (int j = N; j < STRIDE; ++j) CT_CHECK_EQ_I64(y[b * STRIDE + j], 0);
            }
        }
    }
}

CT_TEST(requant_bits_errors) {
    int32_t acc[2] = {5, 600};
    int8_t y[2] = {9, 9};
    static const int32_t bad[] = {0, -1, 3, 5, 6, 8, 31, 32, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        CT_CHECK_EQ_I64(ct_requantize_bits(acc, 1, 2, 2, bad[i], y, 2), CT_E_RANGE);
    }
    CT_CHECK_EQ_I64(y[0], 9); /* untouched on error */
    CT_CHECK_EQ_I64(ct_requantize_bits(NULL, 1, 2, 2, 4, y, 2), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_requantize_bits(acc, 1, 2, CT_SHIFT_OUTPUT, 4, y, 2), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_requantize_bits(acc, 1, 2, 2, 4, y, 2), CT_OK);
    CT_CHECK_EQ_I64(y[1], 15);
}
