/*
 * The kernel registry (dispatch seam): listing, name grammar, selection and
 * the automatic choice. Correctness of each kernel is in test_dense.c, which
 * runs every registered GEMM kernel against the oracle.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "core/ct_internal.h" /* the kernel list, ct_kernels.h */
#include "ct_test.h"

/* ct_<weights>_<acts>_<op>__<isa>: starts with "ct_", ends with "__" + isa. */
static int name_follows_grammar(const char *name, const char *isa) {
    const size_t n = strlen(name), m = strlen(isa);
    if (n < 3 + 2 + m || strncmp(name, "ct_", 3) != 0) return 0;
    return strncmp(name + n - m - 2, "__", 2) == 0 && strcmp(name + n - m, isa) == 0;
}

CT_TEST(kernel_registry_listing) {
    const int32_t count = ct_kernel_count();
    CT_CHECK(count >= 1);
    int refs[CT_FAMILY_COUNT] = {0};
    for (int32_t i = 0; i < count; ++i) {
        const char *name = NULL, *isa = NULL;
        int32_t family = -1, supported = -1;
        CT_CHECK_EQ_I64(ct_kernel_info(i, &name, &family, &isa, &supported), CT_OK);
        CT_CHECK(name != NULL && isa != NULL);
        if (!name || !isa) continue;
        CT_CHECK(name_follows_grammar(name, isa));
        CT_CHECK(family >= 0 && family < CT_FAMILY_COUNT);
        CT_CHECK(supported == 0 || supported == 1);
        if (strcmp(isa, "ref") == 0 && family >= 0 && family < CT_FAMILY_COUNT) {
            CT_CHECK_EQ_I64(supported, 1); /* the reference runs everywhere */
            ++refs[family];
        }
        for (int32_t j = 0; j < i; ++j) { /* names are unique */
            const char *other, *oisa;
            int32_t ofam, osup;
            CT_CHECK_EQ_I64(ct_kernel_info(j, &other, &ofam, &oisa, &osup), CT_OK);
            CT_CHECK(strcmp(name, other) != 0);
        }
    }
    for (int32_t f = 0; f < CT_FAMILY_COUNT; ++f) CT_CHECK_EQ_I64(refs[f], 1);
}

CT_TEST(kernel_registry_errors) {
    const char *name, *isa;
    int32_t family, supported, index;
    const int32_t count = ct_kernel_count();
    CT_CHECK_EQ_I64(ct_kernel_info(-1, &name, &family, &isa, &supported), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_info(count, &name, &family, &isa, &supported), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_info(INT32_MAX, &name, &family, &isa, &supported), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_info(0, NULL, &family, &isa, &supported), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_kernel_info(0, &name, NULL, &isa, &supported), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_kernel_info(0, &name, &family, NULL, &supported), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_kernel_info(0, &name, &family, &isa, NULL), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_kernel_active(-1, &index), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_active(CT_FAMILY_COUNT, &index), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_active(CT_FAMILY_GEMM, NULL), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_kernel_select(-1, 0), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_COUNT, -1), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_GEMM, count), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_GEMM, -2), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_GEMM, INT32_MIN), CT_E_UNKNOWN);
    const ct_layer l = {.n_in = 1,
                        .n_out = 1,
                        .shift = CT_SHIFT_OUTPUT,
                        .act_bits = CT_ACT_BITS_OUTPUT,
                        .w = (const uint8_t *)"",
                        .bias = (const int32_t *)&count};
    int8_t x[128] = {0};
    int32_t acc[1];
    CT_CHECK_EQ_I64(ct_dense_acc_with(-1, &l, x, 128, 1, acc), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_dense_acc_with(count, &l, x, 128, 1, acc), CT_E_UNKNOWN);
    /* A failed select leaves the active kernel alone. */
    int32_t before = -1, after = -2;
    CT_CHECK_EQ_I64(ct_kernel_active(CT_FAMILY_GEMM, &before), CT_OK);
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_GEMM, count), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_active(CT_FAMILY_GEMM, &after), CT_OK);
    CT_CHECK_EQ_I64(before, after);
}

/* Selecting each supported kernel of a family makes it active; a kernel of
 * another family is refused; -1 restores the automatic choice, which is the
 * last supported kernel in table order, or the ref kernel when
 * CONNTRA_FORCE_SCALAR=1 (the test reads the same variable). */
CT_TEST(kernel_select_and_auto) {
    const int32_t count = ct_kernel_count();
    const char *force = getenv("CONNTRA_FORCE_SCALAR");
    const int scalar = force != NULL && strcmp(force, "1") == 0;
    for (int32_t f = 0; f < CT_FAMILY_COUNT; ++f) {
        int32_t expect_auto = -1;
        for (int32_t i = 0; i < count; ++i) {
            const char *name, *isa;
            int32_t family, supported, active = -1;
            CT_CHECK_EQ_I64(ct_kernel_info(i, &name, &family, &isa, &supported), CT_OK);
            if (family != f) {
                CT_CHECK_EQ_I64(ct_kernel_select(f, i), CT_E_UNKNOWN);
                continue;
            }
            if (!supported) {
                CT_CHECK_EQ_I64(ct_kernel_select(f, i), CT_E_STATE);
                continue;
            }
            CT_CHECK_EQ_I64(ct_kernel_select(f, i), CT_OK);
            CT_CHECK_EQ_I64(ct_kernel_active(f, &active), CT_OK);
            CT_CHECK_EQ_I64(active, i);
            if (!scalar || strcmp(isa, "ref") == 0) expect_auto = i;
        }
        int32_t active = -1;
        CT_CHECK_EQ_I64(ct_kernel_select(f, -1), CT_OK);
        CT_CHECK_EQ_I64(ct_kernel_active(f, &active), CT_OK);
        CT_CHECK_EQ_I64(active, expect_auto);
    }
}

/* The registry is exactly the kernel list (core/ct_kernels.h) for this
 * architecture, in list order, each row with its family, ISA and function. */
static int32_t list_row;

static void expect_row(const char *name, int32_t family, const char *isa) {
    const char *got_name = NULL, *got_isa = NULL;
    int32_t got_family = -1, supported = -1;
    CT_CHECK_EQ_I64(ct_kernel_info(list_row, &got_name, &got_family, &got_isa, &supported), CT_OK);
    if (got_name != NULL && got_isa != NULL) {
        CT_CHECK(strcmp(got_name, name) == 0);
        CT_CHECK(strcmp(got_isa, isa) == 0);
    }
    CT_CHECK_EQ_I64(got_family, family);
    ++list_row;
}

#define EXPECT_ROW(FAMILY, sig, name, isa, arch, ok) \
    CT_ARCH_##arch(expect_row(#name, CT_FAMILY_##FAMILY, #isa);)

CT_TEST(kernel_registry_is_the_kernel_list) {
    list_row = 0;
    CT_KERNELS(EXPECT_ROW)
    CT_CHECK_EQ_I64(list_row, ct_kernel_count());
    /* Each family's list starts with its ref kernel. */
#define FIRST_IS_REF(FAMILY, sig, name, isa, arch, ok) \
    if (first) CT_CHECK(strcmp(#isa, "ref") == 0);     \
    first = 0;
#define CHECK_FAMILY(FAMILY, short_name)                                            \
    {                                                                               \
        int first = 1;                                                              \
        CT_KERNELS_##FAMILY(FIRST_IS_REF)                                           \
            CT_CHECK(ct_family_name(CT_FAMILY_##FAMILY) != NULL &&                  \
                     strcmp(ct_family_name(CT_FAMILY_##FAMILY), #short_name) == 0); \
    }
    CT_FAMILIES(CHECK_FAMILY)
}
