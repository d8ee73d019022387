/*
 * Dispatch and threads: the active kernel of each family (printed, so the
 * qemu-aarch64 runs can check which path -cpu max and -cpu cortex-a53 took),
 * CONNTRA_FORCE_SCALAR / CONNTRA_KERNELS, and results that do not depend on
 * the thread count or on the chosen kernels.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

static const char *active_name(int32_t family) {
    int32_t idx = -1, fam, supported;
    const char *name = "?", *isa;
    if (ct_kernel_active(family, &idx) == CT_OK) {
        (void)ct_kernel_info(idx, &name, &fam, &isa, &supported);
    }
    return name;
}

static const char *active_isa(int32_t family) {
    int32_t idx = -1, fam, supported;
    const char *name, *isa = "?";
    if (ct_kernel_active(family, &idx) == CT_OK) {
        (void)ct_kernel_info(idx, &name, &fam, &isa, &supported);
    }
    return isa;
}

static void reselect_all(void) {
    for (int32_t f = 0; f < CT_FAMILY_COUNT; ++f) CT_CHECK(ct_kernel_select(f, -1) == CT_OK);
}

CT_TEST(kernels_dispatch_report) {
    for (int32_t f = 0; f < CT_FAMILY_COUNT; ++f) {
        CT_CHECK(ct_family_name(f) != NULL);
        /* Parsed by tests/test_kernels_aarch64.py. */
        printf("  active %s %s\n", ct_family_name(f), active_name(f));
    }
    CT_CHECK(ct_family_name(CT_FAMILY_COUNT) == NULL);
    CT_CHECK(ct_family_name(-1) == NULL);
}

CT_TEST(kernels_dispatch_env_settings) {
    setenv("CONNTRA_FORCE_SCALAR", "1", 1);
    reselect_all();
    for (int32_t f = 0; f < CT_FAMILY_COUNT; ++f) CT_CHECK(strcmp(active_isa(f), "ref") == 0);
    unsetenv("CONNTRA_FORCE_SCALAR");
    setenv("CONNTRA_FORCE_SCALAR", "0", 1); /* 0: off */
    reselect_all();
    /* A value that is not allowed is CT_E_ENV, naming variable and value; the
     * choice stays as it was. */
    setenv("CONNTRA_FORCE_SCALAR", "yes", 1);
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_GEMM, -1), CT_E_ENV);
    CT_CHECK_EQ_I64(ct_init(), CT_E_ENV);
    CT_CHECK(strcmp(ct_env_message(), "CONNTRA_FORCE_SCALAR=yes: expected 1 or 0") == 0);
    unsetenv("CONNTRA_FORCE_SCALAR");
    static const char *const bogus[] = {"bogus", "neon,bogus", "avx2,", ",", "AVX2"};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; ++i) {
        setenv("CONNTRA_KERNELS", bogus[i], 1);
        int32_t after = -1;
        CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_GEMV, -1), CT_E_ENV);
        CT_CHECK(strncmp(ct_env_message(), "CONNTRA_KERNELS=", 16) == 0);
        CT_CHECK(strstr(ct_env_message(), bogus[i]) != NULL);
        /* Every call that dispatches reports it. */
        CT_CHECK_EQ_I64(ct_kernel_active(CT_FAMILY_GEMV, &after), CT_E_ENV);
        int8_t w[4] = {0, 1, -1, 0};
        uint8_t p[32];
        CT_CHECK_EQ_I64(ct_t2_pack(w, 1, 4, p, sizeof p), CT_E_ENV);
        CT_CHECK_EQ_I64(ct_t2_unpack(p, 1, 4, w), CT_E_ENV);
    }
    /* Only ref kernels and the listed ISA are eligible; ISAs of another
     * architecture are known words. */
    setenv("CONNTRA_KERNELS", "neondot,neon", 1);
    reselect_all();
    CT_CHECK_EQ_I64(ct_init(), CT_OK);
    for (int32_t f = 0; f < CT_FAMILY_COUNT; ++f) {
        const char *isa = active_isa(f);
        CT_CHECK(strcmp(isa, "ref") == 0 || strcmp(isa, "neon") == 0 ||
                 strcmp(isa, "neondot") == 0);
    }
    setenv("CONNTRA_KERNELS", "ct_t2_s8_gemv__ref", 1);
    reselect_all();
    CT_CHECK(strcmp(active_isa(CT_FAMILY_GEMV), "ref") == 0);
    unsetenv("CONNTRA_KERNELS");
    reselect_all();
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_COUNT, -1), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_GEMV, ct_kernel_count()), CT_E_UNKNOWN);
    int32_t gemm = -1;
    CT_CHECK(ct_kernel_active(CT_FAMILY_GEMM, &gemm) == CT_OK);
    CT_CHECK_EQ_I64(ct_kernel_select(CT_FAMILY_GEMV, gemm), CT_E_UNKNOWN); /* wrong family */
}

CT_TEST(kernels_threads_setting) {
    CT_CHECK_EQ_I64(ct_set_num_threads(-1), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_set_num_threads(CT_MAX_THREADS + 1), CT_E_RANGE);
    CT_CHECK(ct_set_num_threads(3) == CT_OK);
    CT_CHECK_EQ_I64(ct_num_threads(), 3);
    setenv("CONNTRA_NUM_THREADS", "2", 1);
    CT_CHECK(ct_set_num_threads(0) == CT_OK);
    CT_CHECK_EQ_I64(ct_num_threads(), 2);
    /* A value that is not allowed is CT_E_ENV, naming variable and value, the
     * count unchanged; the calls that start threads report it too. */
    static const char *const bad[] = {"lots", "abc", "0", "-3", "999", "65", "2x", " 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        setenv("CONNTRA_NUM_THREADS", bad[i], 1);
        CT_CHECK_EQ_I64(ct_set_num_threads(0), CT_E_ENV);
        CT_CHECK_EQ_I64(ct_num_threads(), 2);
        CT_CHECK_EQ_I64(ct_init(), CT_E_ENV);
        char want[64];
        snprintf(want, sizeof want, "CONNTRA_NUM_THREADS=%s: expected an integer in 1..64", bad[i]);
        CT_CHECK(strcmp(ct_env_message(), want) == 0);
        const int32_t bias[1] = {0};
        const uint8_t wq[32] = {0};
        const ct_layer L = {.n_in = 4,
                            .n_out = 1,
                            .shift = CT_SHIFT_OUTPUT,
                            .act_bits = CT_ACT_BITS_OUTPUT,
                            .w = wq,
                            .bias = bias};
        const int8_t x[CT_BLOCK] = {0};
        int32_t acc[1];
        CT_CHECK_EQ_I64(ct_dense_acc(&L, x, CT_BLOCK, 1, acc), CT_E_ENV);
        CT_CHECK_EQ_I64(ct_dense_acc_mt(&L, x, CT_BLOCK, 1, acc, 1), CT_E_ENV);
    }
    /* An explicit count overrides the environment. */
    CT_CHECK(ct_set_num_threads(2) == CT_OK);
    CT_CHECK_EQ_I64(ct_init(), CT_OK);
    setenv("CONNTRA_NUM_THREADS", "", 1); /* empty: the default, 1 */
    CT_CHECK(ct_set_num_threads(0) == CT_OK);
    CT_CHECK_EQ_I64(ct_num_threads(), 1);
    unsetenv("CONNTRA_NUM_THREADS");
    CT_CHECK(ct_set_num_threads(0) == CT_OK);
    CT_CHECK_EQ_I64(ct_num_threads(), 1);
}

/* A layer big enough that ct_dense_acc_mt really starts threads. */
CT_TEST(kernels_threads_same_bits_for_every_count) {
    uint64_t rng = ct_test_seed() + 3;
    const int32_t n = 1031, k = 2100, kp = ct_t2_padded_k(k);
    const int32_t batches[] = {1, 5};
    int8_t *w = malloc((size_t)n * (size_t)k);
    uint8_t *packed = malloc((size_t)ct_t2_packed_bytes(n, k));
    int32_t *bias = malloc(sizeof(int32_t) * (size_t)n);
    int8_t *x = calloc((size_t)kp * 5, 1);
    int32_t *want = malloc(sizeof(int32_t) * (size_t)n * 5);
    int32_t *got = malloc(sizeof(int32_t) * (size_t)n * 5);
    for (int64_t i = 0; i < (int64_t)n * k; ++i) {
        w[i] = (int8_t)((int)(ct_test_rand(&rng) % 3) - 1);
    }
    for (int32_t j = 0; j < n; ++j) bias[j] = (int32_t)(ct_test_rand(&rng) % 2001) - 1000;
    for (int32_t b = 0; b < 5; ++b) {
        for (int32_t i = 0; i < k; ++i) x[b * kp + i] = (int8_t)(ct_test_rand(&rng) % 128);
    }
    CT_CHECK(ct_t2_pack(w, n, k, packed, ct_t2_packed_bytes(n, k)) == CT_OK);
    const ct_layer L = {.n_in = k,
                        .n_out = n,
                        .shift = CT_SHIFT_OUTPUT,
                        .act_bits = CT_ACT_BITS_OUTPUT,
                        .w = packed,
                        .bias = bias};
    int32_t ref = -1;
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t fam, sup;
        (void)ct_kernel_info(i, &name, &fam, &isa, &sup);
        if (fam == CT_FAMILY_GEMM && strcmp(isa, "ref") == 0) ref = i;
    }
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; ++bi) {
        const int32_t batch = batches[bi];
        CT_CHECK(ct_dense_acc_with(ref, &L, x, kp, batch, want) == CT_OK);
        for (int32_t t = 1; t <= 5; ++t) {
            memset(got, 0, sizeof(int32_t) * (size_t)n * (size_t)batch);
            CT_CHECK(ct_dense_acc_mt(&L, x, kp, batch, got, t) == CT_OK);
            CT_CHECK(memcmp(want, got, sizeof(int32_t) * (size_t)n * (size_t)batch) == 0);
        }
    }
    CT_CHECK_EQ_I64(ct_dense_acc_mt(&L, x, kp, 1, got, -1), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_dense_acc_mt(&L, x, kp, 1, got, CT_MAX_THREADS + 1), CT_E_RANGE);
    free(w);
    free(packed);
    free(bias);
    free(x);
    free(want);
    free(got);
}

CT_TEST(kernels_read_bytes_folds_every_byte) {
    uint8_t buf[300];
    for (int i = 0; i < 300; ++i) buf[i] = (uint8_t)(i * 37 + 11);
    for (int64_t n = 0; n <= 300; n += 13) {
        /* XOR of 64-bit little-endian words == XOR of the bytes placed at
         * their offsets mod 8; compare against that directly. */
        uint64_t want = 0, got = 0;
        for (int64_t i = 0; i < n; ++i) {
            want ^= (n - n % 64 > i) ? (uint64_t)buf[i] << (8 * (i % 8)) : buf[i];
        }
        CT_CHECK(ct_read_bytes(buf, n, &got) == CT_OK);
        CT_CHECK(got == want);
    }
    uint64_t out = 0;
    CT_CHECK_EQ_I64(ct_read_bytes(NULL, 1, &out), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_read_bytes(buf, -1, &out), CT_E_SHAPE);
}
