/*
 * Dense accumulation against a naive int64 oracle written here, on random
 * data and at the overflow boundaries of the contract, for the dispatched
 * kernel and for every registered GEMM kernel this CPU supports.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

/* A dense layer with its unpacked weights, owned by the test. */
typedef struct test_layer {
    ct_layer layer;
    int8_t *w; /* n_out x n_in, row-major */
    uint8_t *packed;
    int32_t *bias;
} test_layer;

static void free_layer(test_layer *t) {
    free(t->w);
    free(t->packed);
    free(t->bias);
}

/* Fills weights with `fill` (-1, 0, 1) or random values when fill == 2, and
 * biases uniformly in [-max_bias, max_bias]. Returns 0 on allocation failure. */
static int make_layer(test_layer *t, int32_t n_in, int32_t n_out, int fill, int32_t max_bias,
                      uint64_t *s) {
    t->w = malloc((size_t)n_in * (size_t)n_out);
    t->packed = malloc((size_t)ct_t2_packed_bytes(n_out, n_in));
    t->bias = malloc((size_t)n_out * sizeof(int32_t));
    if (!t->w || !t->packed || !t->bias) return 0;
    for (int64_t i = 0; i < (int64_t)n_in * n_out; ++i) {
        t->w[i] = fill == 2 ? (int8_t)((int)(ct_test_rand(s) % 3u) - 1) : (int8_t)fill;
    }
    for (int32_t j = 0; j < n_out; ++j) {
        const uint64_t span = 2u * (uint64_t)max_bias + 1u;
        t->bias[j] = (int32_t)((int64_t)(ct_test_rand(s) % span) - max_bias);
    }
    if (ct_t2_pack(t->w, n_out, n_in, t->packed, ct_t2_packed_bytes(n_out, n_in)) != CT_OK) {
        return 0;
    }
    t->layer.n_in = n_in;
    t->layer.n_out = n_out;
    t->layer.shift = CT_SHIFT_OUTPUT;
    t->layer.act_bits = CT_ACT_BITS_OUTPUT;
    t->layer.w = t->packed;
    t->layer.bias = t->bias;
    return 1;
}

/* Activation rows of `stride` bytes: values in 0..127 (or all `fill` when
 * fill >= 0) for the first k, zero padding after. */
static int8_t *make_x(int32_t k, int32_t stride, int32_t batch, int fill, uint64_t *s) {
    int8_t *x = calloc((size_t)stride * (size_t)batch, 1);
    if (!x) return NULL;
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t i = 0; i < k; ++i) {
            x[(int64_t)b * stride + i] = (int8_t)(fill >= 0 ? fill : (int)(ct_test_rand(s) % 128u));
        }
    }
    return x;
}

/* The oracle: acc[b][j] = bias[j] + sum_i w[j][i] * x[b][i], in int64. */
static void naive_acc(const test_layer *t, const int8_t *x, int32_t stride, int32_t batch,
                      int64_t *out) {
    const int32_t k = t->layer.n_in, n = t->layer.n_out;
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t j = 0; j < n; ++j) {
            int64_t a = t->bias[j];
            for (int32_t i = 0; i < k; ++i) {
                a += (int64_t)t->w[(int64_t)j * k + i] * x[(int64_t)b * stride + i];
            }
            out[(int64_t)b * n + j] = a;
        }
    }
}

/* Runs the dispatched kernel and every supported GEMM kernel, and
 * compares each with the oracle. */
static void check_all_kernels(const test_layer *t, const int8_t *x, int32_t stride, int32_t batch) {
    const int64_t len = (int64_t)batch * t->layer.n_out;
    int64_t *want = malloc((size_t)len * sizeof(int64_t));
    int32_t *got = malloc((size_t)len * sizeof(int32_t));
    CT_CHECK(want && got);
    if (want && got) {
        naive_acc(t, x, stride, batch, want);
        CT_CHECK_EQ_I64(ct_dense_acc(&t->layer, x, stride, batch, got), CT_OK);
        for (int64_t i = 0; i < len; ++i) CT_CHECK_EQ_I64(got[i], want[i]);
        for (int32_t kern = 0; kern < ct_kernel_count(); ++kern) {
            const char *name, *isa;
            int32_t family, supported;
            CT_CHECK_EQ_I64(ct_kernel_info(kern, &name, &family, &isa, &supported), CT_OK);
            if (family != CT_FAMILY_GEMM || !supported) continue;
            memset(got, 0x5A, (size_t)len * sizeof(int32_t));
            CT_CHECK_EQ_I64(ct_dense_acc_with(kern, &t->layer, x, stride, batch, got), CT_OK);
            for (int64_t i = 0; i < len; ++i) {
                if (got[i] != want[i]) {
                    printf("  kernel %s, n_in %d, n_out %d, batch %d, index %lld\n", name,
                           (int)t->layer.n_in, (int)t->layer.n_out, (int)batch, (long long)i);
                    CT_CHECK_EQ_I64(got[i], want[i]);
                    break;
                }
            }
        }
    }
    free(want);
    free(got);
}

/* Sizes around the 32-weight runs and the 128-weight blocks, several batch
 * sizes, strides equal to and larger than the padded row. */
CT_TEST(dense_acc_random_vs_naive) {
    static const int32_t ks[] = {1,  2,  3,  7,   8,   15,  16,  17,  31,  32,  33,
                                 63, 64, 65, 127, 128, 129, 255, 256, 257, 300, 784};
    static const int32_t ns[] = {1, 3, 10};
    static const int32_t batches[] = {1, 2, 5};
    uint64_t s = ct_test_seed() ^ 0xde45eu;
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ++ki) {
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ++ni) {
            const int32_t k = ks[ki], n = ns[ni];
            const int32_t batch = batches[(ki + ni) % 3];
            const int32_t stride = ct_t2_padded_k(k) + (ni == 1 ? 64 : 0);
            test_layer t = {{.w = NULL}, NULL, NULL, NULL};
            int8_t *x = make_x(k, stride, batch, -1, &s);
            CT_CHECK(x != NULL);
            CT_CHECK(make_layer(&t, k, n, 2, 1000, &s));
            if (x && t.bias) check_all_kernels(&t, x, stride, batch);
            free(x);
            free_layer(&t);
        }
    }
}

/* The largest accumulators the contract allows: k = CT_MAX_INPUTS, all
 * weights +1 (or -1), all activations 127, biases at +-CT_MAX_BIAS:
 * |acc| = 127 * 2^20 + 2^27, which must come out exact in int32. */
static void check_extreme(int fill, int32_t bias) {
    const int32_t k = CT_MAX_INPUTS, n = 2;
    uint64_t s = 1;
    test_layer t = {{.w = NULL}, NULL, NULL, NULL};
    int8_t *x = make_x(k, k, 1, CT_ACT_MAX, &s);
    CT_CHECK(x != NULL);
    CT_CHECK(make_layer(&t, k, n, fill, 0, &s));
    if (x && t.bias) {
        t.bias[0] = bias;
        t.bias[1] = 0;
        int32_t acc[2] = {0, 0};
        CT_CHECK_EQ_I64(ct_dense_acc(&t.layer, x, k, 1, acc), CT_OK);
        CT_CHECK_EQ_I64(acc[0], (int64_t)fill * CT_ACT_MAX * k + bias);
        CT_CHECK_EQ_I64(acc[1], (int64_t)fill * CT_ACT_MAX * k);
        check_all_kernels(&t, x, k, 1);
    }
    free(x);
    free_layer(&t);
}

CT_TEST(dense_acc_overflow_boundary_max_inputs) {
    check_extreme(1, CT_MAX_BIAS);
    check_extreme(-1, -CT_MAX_BIAS);
}

/* A mid-size case with several rows and a batch: k = 65536. */
CT_TEST(dense_acc_overflow_boundary_64k) {
    const int32_t k = 65536, n = 4, batch = 2;
    uint64_t s = ct_test_seed() ^ 0x64u;
    for (int fill = -1; fill <= 1; fill += 2) {
        test_layer t = {{.w = NULL}, NULL, NULL, NULL};
        int8_t *x = make_x(k, k, batch, CT_ACT_MAX, &s);
        CT_CHECK(x != NULL);
        CT_CHECK(make_layer(&t, k, n, fill, CT_MAX_BIAS, &s));
        if (x && t.bias) {
            t.bias[0] = CT_MAX_BIAS;
            t.bias[1] = -CT_MAX_BIAS;
            check_all_kernels(&t, x, k, batch);
        }
        free(x);
        free_layer(&t);
    }
}

CT_TEST(dense_acc_errors) {
    int8_t w[4] = {1, 0, -1, 1};
    uint8_t packed[32];
    int32_t bias[1] = {0}, acc[2];
    int8_t x[256] = {0};
    CT_CHECK_EQ_I64(ct_t2_pack(w, 1, 4, packed, 32), CT_OK);
    const ct_layer good = {.n_in = 4,
                           .n_out = 1,
                           .shift = CT_SHIFT_OUTPUT,
                           .act_bits = CT_ACT_BITS_OUTPUT,
                           .w = packed,
                           .bias = bias};
    ct_layer l = good;
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), CT_OK);
    CT_CHECK_EQ_I64(ct_dense_acc(NULL, x, 128, 1, acc), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_dense_acc(&l, NULL, 128, 1, acc), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, NULL), CT_E_NULL);
    l.w = NULL;
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), CT_E_NULL);
    l = good;
    l.bias = NULL;
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), CT_E_NULL);
    l = good;
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 127, 1, acc), CT_E_SHAPE); /* stride < padded k */
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 0, acc), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, -1, acc), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 2, acc), CT_OK);
    static const int32_t bad_n[] = {0, -1, CT_MAX_INPUTS + 1};
    for (size_t i = 0; i < 3; ++i) {
        l = good;
        l.n_in = bad_n[i];
        CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), CT_E_SHAPE);
        l = good;
        l.n_out = bad_n[i];
        CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), CT_E_SHAPE);
    }
    static const int32_t bad_shift[] = {-2, CT_MAX_SHIFT + 1, 1000};
    for (size_t i = 0; i < 3; ++i) {
        l = good;
        l.shift = bad_shift[i];
        CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), CT_E_RANGE);
    }
    l = good;
    l.shift = CT_MAX_SHIFT;
    l.act_bits = 7;
    CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), CT_OK);
    /* act_bits: 1, 2, 4 or 7 on a hidden layer, CT_ACT_BITS_OUTPUT (0) on the
     * output layer; a hidden layer left at 0 is an error, not 7 bits */
    static const int32_t act_bits[] = {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 32};
    for (size_t i = 0; i < sizeof act_bits / sizeof act_bits[0]; ++i) {
        const int32_t a = act_bits[i];
        const int ok_hidden = a == 1 || a == 2 || a == 4 || a == 7;
        l = good;
        l.shift = 3;
        l.act_bits = a;
        CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), ok_hidden ? CT_OK : CT_E_RANGE);
        l = good;
        l.act_bits = a;
        CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), a == 0 ? CT_OK : CT_E_RANGE);
    }
    static const int32_t edge_bias[] = {CT_MAX_BIAS, -CT_MAX_BIAS, CT_MAX_BIAS + 1,
                                        -CT_MAX_BIAS - 1};
    for (size_t i = 0; i < 4; ++i) {
        l = good;
        bias[0] = edge_bias[i];
        CT_CHECK_EQ_I64(ct_dense_acc(&l, x, 128, 1, acc), i < 2 ? CT_OK : CT_E_RANGE);
    }
    bias[0] = 0;
    /* ct_dense_acc_with checks its arguments the same way. */
    for (int32_t kern = 0; kern < ct_kernel_count(); ++kern) {
        const char *name, *isa;
        int32_t family, supported;
        CT_CHECK_EQ_I64(ct_kernel_info(kern, &name, &family, &isa, &supported), CT_OK);
        if (family != CT_FAMILY_GEMM || !supported) continue;
        CT_CHECK_EQ_I64(ct_dense_acc_with(kern, &good, x, 127, 1, acc), CT_E_SHAPE);
        CT_CHECK_EQ_I64(ct_dense_acc_with(kern, NULL, x, 128, 1, acc), CT_E_NULL);
        CT_CHECK_EQ_I64(ct_dense_acc_with(kern, &good, x, 128, 0, acc), CT_E_SHAPE);
    }
}

/* The reference kernels read only the first n_in activations of a row (the
 * header promises it; SIMD kernels may instead require zero padding), so
 * garbage in the padding of x must not change the reference result. */
CT_TEST(dense_acc_ref_ignores_x_padding) {
    static const int32_t ks[] = {1, 33, 127, 129, 300};
    uint64_t s = ct_test_seed() ^ 0x9adu;
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ++ki) {
        const int32_t k = ks[ki], n = 3, batch = 2, stride = ct_t2_padded_k(k) + 7;
        test_layer t = {{.w = NULL}, NULL, NULL, NULL};
        int8_t *x = make_x(k, stride, batch, -1, &s);
        int64_t want[3 * 2];
        int32_t got[3 * 2];
        CT_CHECK(x != NULL);
        CT_CHECK(make_layer(&t, k, n, 2, 50, &s));
        if (x && t.bias) {
            naive_acc(&t, x, stride, batch, want);
            for (int32_t b = 0; b < batch; ++b) {
                for (int32_t i = k; i < stride; ++i) x[(int64_t)b * stride + i] = 127;
            }
            for (int32_t kern = 0; kern < ct_kernel_count(); ++kern) {
                const char *name, *isa;
                int32_t family, supported;
                CT_CHECK_EQ_I64(ct_kernel_info(kern, &name, &family, &isa, &supported), CT_OK);
                if (family != CT_FAMILY_GEMM || strcmp(isa, "ref") != 0) continue;
                CT_CHECK_EQ_I64(ct_dense_acc_with(kern, &t.layer, x, stride, batch, got), CT_OK);
                for (int i = 0; i < n * batch; ++i) CT_CHECK_EQ_I64(got[i], want[i]);
            }
        }
        free(x);
        free_layer(&t);
    }
}
