/*
 * Every registered T2 pack / unpack kernel against the reference kernels:
 * same bytes, same status, round trips for every length, and the errors
 * (a weight outside {-1,0,1}; a code 3 in a real weight but not in padding).
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

static int32_t ref_of(int32_t family) {
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t fam, supported;
        if (ct_kernel_info(i, &name, &fam, &isa, &supported) == CT_OK && fam == family &&
            strcmp(isa, "ref") == 0) {
            return i;
        }
    }
    return -1;
}

static void check_pack_kernel(int32_t kernel, int32_t unpack_kernel, uint64_t *rng) {
    const int32_t ref = ref_of(CT_FAMILY_T2_PACK);
    for (int32_t k = 1; k <= 300; ++k) {
        const int32_t rows = 1 + (int32_t)(ct_test_rand(rng) % 3);
        const int64_t nbytes = ct_t2_packed_bytes(rows, k);
        int8_t *w = malloc((size_t)rows * (size_t)k);
        int8_t *back = malloc((size_t)rows * (size_t)k);
        uint8_t *a = malloc((size_t)nbytes), *b = malloc((size_t)nbytes);
        for (int64_t i = 0; i < (int64_t)rows * k; ++i) {
            w[i] = (int8_t)((int)(ct_test_rand(rng) % 3) - 1);
        }
        CT_CHECK(ct_t2_pack_with(ref, w, rows, k, a, nbytes) == CT_OK);
        memset(b, 0xAA, (size_t)nbytes); /* the kernel must write every byte */
        CT_CHECK(ct_t2_pack_with(kernel, w, rows, k, b, nbytes) == CT_OK);
        CT_CHECK(memcmp(a, b, (size_t)nbytes) == 0);
        CT_CHECK(ct_t2_unpack_with(unpack_kernel, b, rows, k, back) == CT_OK);
        CT_CHECK(memcmp(w, back, (size_t)rows * (size_t)k) == 0);

        /* One bad weight anywhere: CT_E_RANGE and the output untouched. */
        const int64_t at = (int64_t)(ct_test_rand(rng) % (uint64_t)(rows * k));
        const int8_t saved = w[at];
        w[at] = (int8_t)(ct_test_rand(rng) % 2 ? 2 : -2 - (int)(ct_test_rand(rng) % 126));
        memset(b, 0x55, (size_t)nbytes);
        CT_CHECK_EQ_I64(ct_t2_pack_with(kernel, w, rows, k, b, nbytes), CT_E_RANGE);
        for (int64_t i = 0; i < nbytes; ++i) CT_CHECK(b[i] == 0x55);
        w[at] = saved;

        /* A code 3 in a real weight is an error; in the padding it is not. */
        const int64_t rb = nbytes / rows;
        const int32_t r = rows - 1, c = (int32_t)(ct_test_rand(rng) % (uint64_t)k);
        memcpy(b, a, (size_t)nbytes);
        b[r * rb + (c / 128) * 32 + c % 32] |= (uint8_t)(3u << (2 * ((c % 128) / 32)));
        CT_CHECK_EQ_I64(ct_t2_unpack_with(unpack_kernel, b, rows, k, back), CT_E_CODE);
        if (k % 128 != 0) {
            const int32_t pc = k + (int32_t)(ct_test_rand(rng) % (uint64_t)(128 - k % 128));
            memcpy(b, a, (size_t)nbytes);
            b[r * rb + (pc / 128) * 32 + pc % 32] |= (uint8_t)(3u << (2 * ((pc % 128) / 32)));
            CT_CHECK_EQ_I64(ct_t2_unpack_with(unpack_kernel, b, rows, k, back), CT_OK);
            CT_CHECK(memcmp(w, back, (size_t)rows * (size_t)k) == 0);
        }
        free(w);
        free(back);
        free(a);
        free(b);
    }
}

CT_TEST(kernels_pack_every_kernel_matches_ref) {
    uint64_t rng = ct_test_seed() + 7;
    const int32_t unpack_ref = ref_of(CT_FAMILY_T2_UNPACK);
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t family, supported;
        CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
        if (family != CT_FAMILY_T2_PACK && family != CT_FAMILY_T2_UNPACK) continue;
        if (!supported) {
            printf("  skip %s: this CPU lacks %s\n", name, isa);
            continue;
        }
        const int32_t ref_pack = ref_of(CT_FAMILY_T2_PACK);
        if (family == CT_FAMILY_T2_PACK) {
            check_pack_kernel(i, unpack_ref, &rng);
        } else {
            check_pack_kernel(ref_pack, i, &rng);
        }
    }
}
