/*
 * Every registered kernel of the trainer's families against the family's
 * reference, bit-exact: the integer ones (TRAIN_AXPY, TRAIN_REQUANT_DIFF)
 * including the order of the (index, change) pairs, the float ones
 * (TRAIN_CE_OUT_DELTA, TRAIN_CE_LAST_HIDDEN_DELTA) to the last bit of the
 * returned double; sizes around the SIMD widths.
 * Under qemu-aarch64 this is what runs the NEON twins.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

static int32_t ref_of(int32_t family) {
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t fam, sup;
        if (ct_kernel_info(i, &name, &fam, &isa, &sup) == CT_OK && fam == family &&
            strcmp(isa, "ref") == 0) {
            return i;
        }
    }
    return -1;
}

enum { MAX_N = 1100 };

/* requant_diff's pairs from an int64 oracle written here from the contract:
 * v = clamp((acc + d x + round) >> shift, 0, 2^bits - 1), listed where
 * x != 0 and v != act, in sample order. Returns the count. */
static int32_t requant_diff_oracle(const int32_t *acc, const int8_t *x, int32_t d, int32_t n,
                                   int32_t shift, int32_t bits, const int8_t *act, int32_t *idx,
                                   int32_t *da) {
    int32_t m = 0;
    for (int32_t b = 0; b < n; ++b) {
        const int64_t a = (int64_t)acc[b] + (int64_t)d * x[b];
        const int64_t t = shift > 0 ? a + ((int64_t)1 << (shift - 1)) : a;
        const int64_t q = t <= 0 ? 0 : t >> shift, top = ((int64_t)1 << bits) - 1;
        const int32_t v = (int32_t)(q > top ? top : q);
        if (x[b] != 0 && v != act[b]) {
            idx[m] = b;
            da[m] = v - act[b];
            ++m;
        }
    }
    return m;
}

static void check_kernel(int32_t k, int32_t family, uint64_t *rng) {
    static const int32_t bits_of[4] = {1, 2, 4, 7};
    const int32_t ref = ref_of(family);
    static int32_t acc[MAX_N], acc2[MAX_N], idx[MAX_N], da[MAX_N], idx2[MAX_N], da2[MAX_N];
    static int8_t x[MAX_N], act[MAX_N];
    const int32_t sizes[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 1031};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        const int32_t n = sizes[s];
        for (int32_t c = 0; c < 20; ++c) {
            /* every d in -2..2 with every activation width 1, 2, 4, 7 */
            const int32_t d = c % 5 - 2, bits = bits_of[c / 5], top = (1 << bits) - 1;
            /* acc around the activation range of the shift: |acc| < 2^28;
             * q spans below 0 to past 2^bits, so both clamps are crossed */
            const int32_t shift = (int32_t)(ct_test_rand(rng) % 21);
            for (int32_t b = 0; b < n; ++b) {
                x[b] = (int8_t)(ct_test_rand(rng) % 4 == 0 ? 0 : ct_test_rand(rng) % 128);
                const int32_t q = (int32_t)(ct_test_rand(rng) % (uint32_t)(2 * top + 130)) - 60;
                const int32_t low = (int32_t)(ct_test_rand(rng) % (1u << shift));
                acc[b] = q * (1 << shift) + low;
                act[b] = (int8_t)(ct_test_rand(rng) % (uint32_t)(top + 1));
            }
            if (family == CT_FAMILY_TRAIN_AXPY) {
                memcpy(acc2, acc, sizeof(int32_t) * (size_t)n);
                CT_CHECK(ct_train_axpy_with(k, acc, x, d, n) == CT_OK);
                CT_CHECK(ct_train_axpy_with(ref, acc2, x, d, n) == CT_OK);
                CT_CHECK(memcmp(acc, acc2, sizeof(int32_t) * (size_t)n) == 0);
            } else {
                int32_t m = -1, m2 = -2;
                CT_CHECK(ct_train_requant_diff_with(k, acc, x, d, n, shift, bits, act, idx, da,
                                                    &m) == CT_OK);
                CT_CHECK(ct_train_requant_diff_with(ref, acc, x, d, n, shift, bits, act, idx2, da2,
                                                    &m2) == CT_OK);
                CT_CHECK_EQ_I64(m, m2);
                if (m == m2 && m > 0) {
                    CT_CHECK(memcmp(idx, idx2, sizeof(int32_t) * (size_t)m) == 0);
                    CT_CHECK(memcmp(da, da2, sizeof(int32_t) * (size_t)m) == 0);
                }
                m2 = requant_diff_oracle(acc, x, d, n, shift, bits, act, idx2, da2);
                CT_CHECK_EQ_I64(m, m2);
                if (m == m2 && m > 0) {
                    CT_CHECK(memcmp(idx, idx2, sizeof(int32_t) * (size_t)m) == 0);
                    CT_CHECK(memcmp(da, da2, sizeof(int32_t) * (size_t)m) == 0);
                }
            }
        }
    }
}

CT_TEST(kernels_train_every_kernel_matches_ref) {
    uint64_t rng = ct_test_seed() + 11;
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t family, supported;
        CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
        if (family != CT_FAMILY_TRAIN_AXPY && family != CT_FAMILY_TRAIN_REQUANT_DIFF) continue;
        if (!supported) {
            printf("  skip %s: this CPU lacks %s\n", name, isa);
            continue;
        }
        check_kernel(i, family, &rng);
        printf("  %s: checked\n", name);
    }
    int32_t m = 0, idx[1], da[1];
    int8_t x[1] = {1}, act[1] = {0};
    const int32_t acc[1] = {0};
    const int32_t axpy_ref = ref_of(CT_FAMILY_TRAIN_AXPY);
    const int32_t rd_ref = ref_of(CT_FAMILY_TRAIN_REQUANT_DIFF);
    CT_CHECK_EQ_I64(ct_train_requant_diff_with(axpy_ref, acc, x, 1, 1, 0, 7, act, idx, da, &m),
                    CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_train_requant_diff_with(rd_ref, acc, x, 1, 1, 25, 7, act, idx, da, &m),
                    CT_E_RANGE);
    static const int32_t bad_bits[] = {0, -1, 3, 5, 6, 8, 32};
    for (size_t i = 0; i < sizeof bad_bits / sizeof bad_bits[0]; ++i) {
        CT_CHECK_EQ_I64(
            ct_train_requant_diff_with(rd_ref, acc, x, 1, 1, 0, bad_bits[i], act, idx, da, &m),
            CT_E_RANGE);
    }
}

/* A double in [lo, lo + span) from the test generator. */
static double rand_f64(uint64_t *rng, double lo, double span) {
    return lo + span * (double)(ct_test_rand(rng) % 1000003u) / 1000003.0;
}

enum { TAB = 1024, CLASSES = 10 };

/* The float families: twins equal the reference bit for bit (same partial
 * sums, same per-lane log) on sizes around 4 and 2 lanes, with subnormal
 * sums for ct_log's rescaling path. */
static void check_float_kernel(int32_t k, int32_t family, uint64_t *rng) {
    const int32_t ref = ref_of(family);
    static double tab[2 * TAB + 1], e[MAX_N * CLASSES], sminus[MAX_N], lns[MAX_N];
    static int32_t y[MAX_N], idx[MAX_N], da[MAX_N];
    static int8_t x[MAX_N];
    const int32_t sizes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 31, 33, 64, 65, 1031};
    double v = 1.0; /* tab[m] = exp(m / 16) by repeated products: any positive values do */
    tab[TAB] = 1.0;
    for (int32_t m = 1; m <= TAB; ++m) {
        v *= 1.0644944589178593;
        tab[TAB + m] = v > 1e300 ? 1e300 : v;
        tab[TAB - m] = 1.0 / tab[TAB + m];
    }
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; ++si) {
        const int32_t n = sizes[si];
        for (int32_t b = 0; b < n * CLASSES; ++b) e[b] = rand_f64(rng, 0.001, 1.0);
        for (int32_t b = 0; b < n; ++b) {
            x[b] = (int8_t)(ct_test_rand(rng) % 3 == 0 ? 0 : ct_test_rand(rng) % 128);
            y[b] = (int32_t)(ct_test_rand(rng) % CLASSES);
            sminus[b] = ct_test_rand(rng) % 7 == 0 ? 1e-310 : rand_f64(rng, 0.01, 9.0);
            if (sminus[b] < 1e-300) e[b] = 1e-312; /* a subnormal new sum */
            lns[b] = rand_f64(rng, -1.0, 3.0);
            idx[b] = (int32_t)(ct_test_rand(rng) % (uint64_t)n);
            da[b] = (int32_t)(ct_test_rand(rng) % 255) - 127;
        }
        for (int32_t b = 0; b < n; ++b) { /* subnormal rows for the hidden kernel */
            if (b % 5 != 2) continue;
            for (int32_t c = 0; c < CLASSES; ++c) e[b * CLASSES + c] = 1e-316;
        }
        const double *t0 = tab + TAB;
        double got = -1.0, want = -2.0;
        if (family == CT_FAMILY_TRAIN_CE_OUT_DELTA) {
            for (int32_t d = -2; d <= 2; ++d) {
                if (d == 0) continue;
                CT_CHECK(ct_train_ce_out_delta_with(k, x, d, n, y, 3, e, sminus, lns, t0, 0.0625,
                                                    &got) == CT_OK);
                CT_CHECK(ct_train_ce_out_delta_with(ref, x, d, n, y, 3, e, sminus, lns, t0, 0.0625,
                                                    &want) == CT_OK);
                CT_CHECK(memcmp(&got, &want, sizeof got) == 0);
            }
        } else {
            int8_t col[CLASSES];
            for (int32_t c = 0; c < CLASSES; ++c)
                col[c] = (int8_t)((int32_t)(ct_test_rand(rng) % 3) - 1);
            CT_CHECK(ct_train_ce_last_hidden_delta_with(k, idx, da, n, col, CLASSES, e, lns, y, t0,
                                                        0.0625, &got) == CT_OK);
            CT_CHECK(ct_train_ce_last_hidden_delta_with(ref, idx, da, n, col, CLASSES, e, lns, y,
                                                        t0, 0.0625, &want) == CT_OK);
            CT_CHECK(memcmp(&got, &want, sizeof got) == 0);
        }
    }
}

CT_TEST(kernels_train_float_kernels_match_ref_bitwise) {
    uint64_t rng = ct_test_seed() + 12;
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t family, supported;
        CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
        if (family != CT_FAMILY_TRAIN_CE_OUT_DELTA &&
            family != CT_FAMILY_TRAIN_CE_LAST_HIDDEN_DELTA) {
            continue;
        }
        if (!supported) {
            printf("  skip %s: this CPU lacks %s\n", name, isa);
            continue;
        }
        check_float_kernel(i, family, &rng);
        printf("  %s: checked\n", name);
    }
}
