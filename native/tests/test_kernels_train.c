/*
 * Every registered kernel of the trainer's integer families (TRAIN_AXPY,
 * TRAIN_REQUANT_DIFF) against the family's reference, bit-exact, including
 * the order of the (index, change) pairs; sizes around the SIMD widths.
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

static void check_kernel(int32_t k, int32_t family, uint64_t *rng) {
    const int32_t ref = ref_of(family);
    static int32_t acc[MAX_N], acc2[MAX_N], idx[MAX_N], da[MAX_N], idx2[MAX_N], da2[MAX_N];
    static int8_t x[MAX_N], act[MAX_N];
    const int32_t sizes[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 1031};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        const int32_t n = sizes[s];
        for (int32_t d = -2; d <= 2; ++d) {
            /* acc around the activation range of the shift: |acc| < 2^28 */
            const int32_t shift = (int32_t)(ct_test_rand(rng) % 21);
            for (int32_t b = 0; b < n; ++b) {
                x[b] = (int8_t)(ct_test_rand(rng) % 4 == 0 ? 0 : ct_test_rand(rng) % 128);
                const int32_t q = (int32_t)(ct_test_rand(rng) % 256) - 60;
                const int32_t low = (int32_t)(ct_test_rand(rng) % (1u << shift));
                acc[b] = q * (1 << shift) + low;
                act[b] = (int8_t)(ct_test_rand(rng) % 128);
            }
            if (family == CT_FAMILY_TRAIN_AXPY) {
                memcpy(acc2, acc, sizeof(int32_t) * (size_t)n);
                CT_CHECK(ct_train_axpy_with(k, acc, x, d, n) == CT_OK);
                CT_CHECK(ct_train_axpy_with(ref, acc2, x, d, n) == CT_OK);
                CT_CHECK(memcmp(acc, acc2, sizeof(int32_t) * (size_t)n) == 0);
            } else {
                int32_t m = -1, m2 = -2;
                CT_CHECK(ct_train_requant_diff_with(k, acc, x, d, n, shift, act, idx, da, &m) ==
                         CT_OK);
                CT_CHECK(ct_train_requant_diff_with(ref, acc, x, d, n, shift, act, idx2, da2,
                                                    &m2) == CT_OK);
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
    CT_CHECK_EQ_I64(ct_train_requant_diff_with(axpy_ref, acc, x, 1, 1, 0, act, idx, da, &m),
                    CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_train_requant_diff_with(ref_of(CT_FAMILY_TRAIN_REQUANT_DIFF), acc, x, 1,
                                               1, 25, act, idx, da, &m),
                    CT_E_RANGE);
}
