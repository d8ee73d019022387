/*
 * Whole-network forward: ct_net_forward against the composition of
 * ct_dense_acc + ct_requantize and against a naive int64 oracle written here;
 * scratch sizing and alignment, chain checks and input checks.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

enum { MAX_L = 6 };

/* A network owned by the test: unpacked weights for the oracle, packed for C. */
typedef struct test_net {
    int32_t n_layers;
    ct_layer layers[MAX_L];
    int8_t *w[MAX_L];
    uint8_t *packed[MAX_L];
    int32_t *bias[MAX_L];
} test_net;

static void net_free(test_net *t) {
    for (int32_t l = 0; l < t->n_layers; ++l) {
        free(t->w[l]);
        free(t->packed[l]);
        free(t->bias[l]);
    }
}

/* sizes[0] inputs, sizes[1..n_layers] outputs; hidden shifts 4..8, small
 * biases, so hidden activations spread over 0..127 rather than saturate (and
 * so reach the clamp of fewer act_bits often, its boundary included). */
static int net_make(test_net *t, const int32_t *sizes, int32_t n_layers, int32_t act_bits,
                    uint64_t *s) {
    memset(t, 0, sizeof *t);
    t->n_layers = n_layers;
    for (int32_t l = 0; l < n_layers; ++l) {
        const int32_t k = sizes[l], n = sizes[l + 1];
        const int64_t bytes = ct_t2_packed_bytes(n, k);
        t->w[l] = malloc((size_t)k * (size_t)n);
        t->packed[l] = malloc((size_t)bytes);
        t->bias[l] = malloc((size_t)n * sizeof(int32_t));
        if (!t->w[l] || !t->packed[l] || !t->bias[l]) return 0;
        for (int64_t i = 0; i < (int64_t)k * n; ++i) {
            t->w[l][i] = (int8_t)((int)(ct_test_rand(s) % 3u) - 1);
        }
        for (int32_t j = 0; j < n; ++j) t->bias[l][j] = (int32_t)(ct_test_rand(s) % 401u) - 200;
        if (ct_t2_pack(t->w[l], n, k, t->packed[l], bytes) != CT_OK) return 0;
        const int last = l == n_layers - 1;
        /* kind, the geometry: zero, a dense layer as before kinds existed */
        const ct_layer L = {.n_in = k,
                            .n_out = n,
                            .shift = last ? CT_SHIFT_OUTPUT : (int32_t)(4 + ct_test_rand(s) % 5u),
                            .act_bits = last ? CT_ACT_BITS_OUTPUT : act_bits,
                            .w = t->packed[l],
                            .bias = t->bias[l]};
        t->layers[l] = L;
    }
    return 1;
}

/* The oracle: int64 sums, round half up, floor shift, clamp to 0 .. 2^a - 1. */
static void net_oracle(const test_net *t, const int8_t *x, int32_t batch, int64_t *logits) {
    for (int32_t b = 0; b < batch; ++b) {
        int64_t cur[1024], nxt[1024];
        const int32_t k0 = t->layers[0].n_in;
        for (int32_t i = 0; i < k0; ++i) cur[i] = x[(int64_t)b * k0 + i];
        for (int32_t l = 0; l < t->n_layers; ++l) {
            const ct_layer *L = &t->layers[l];
            for (int32_t j = 0; j < L->n_out; ++j) {
                int64_t a = L->bias[j];
                const int8_t *wj = t->w[l] + (int64_t)j * L->n_in;
                for (int32_t i = 0; i < L->n_in; ++i) a += wj[i] * cur[i];
                if (L->shift == CT_SHIFT_OUTPUT) {
                    logits[(int64_t)b * L->n_out + j] = a;
                } else {
                    const int64_t r = L->shift > 0 ? a + ((int64_t)1 << (L->shift - 1)) : a;
                    const int64_t q = r <= 0 ? 0 : r >> L->shift;
                    const int64_t top = ((int64_t)1 << L->act_bits) - 1;
                    nxt[j] = q > top ? top : q;
                }
            }
            if (L->shift != CT_SHIFT_OUTPUT) memcpy(cur, nxt, (size_t)L->n_out * sizeof nxt[0]);
        }
    }
}

/* The same network run layer by layer through the public dense and
 * requantize calls, each activation buffer padded to its layer's padded k. */
static ct_status net_composed(const test_net *t, const int8_t *x, int32_t batch, int32_t *logits) {
    enum { MAXW = 1024, MAXB = 4 };
    static int8_t act[MAXB * MAXW];
    static int32_t acc[MAXB * MAXW];
    const int32_t k0 = t->layers[0].n_in;
    int32_t stride = ct_t2_padded_k(k0);
    memset(act, 0, sizeof act);
    for (int32_t b = 0; b < batch; ++b) memcpy(act + b * stride, x + b * k0, (size_t)k0);
    for (int32_t l = 0; l < t->n_layers; ++l) {
        const ct_layer *L = &t->layers[l];
        if (L->shift == CT_SHIFT_OUTPUT) return ct_dense_acc(L, act, stride, batch, logits);
        ct_status st = ct_dense_acc(L, act, stride, batch, acc);
        if (st != CT_OK) return st;
        stride = ct_t2_padded_k(L->n_out);
        st = ct_requantize_bits(acc, batch, L->n_out, L->shift, L->act_bits, act, stride);
        if (st != CT_OK) return st;
    }
    return CT_E_CHAIN;
}

/* Forward over a scratch buffer of exactly the advertised size, filled with
 * garbage, at base offset `off` (so the alignment slack is exercised). */
static ct_status forward_exact(const test_net *t, const int8_t *x, int32_t batch, int32_t *logits,
                               size_t off) {
    int64_t bytes = 0;
    ct_status st = ct_net_scratch_bytes(t->layers, t->n_layers, batch, &bytes);
    if (st != CT_OK) return st;
    uint8_t *mem = malloc((size_t)bytes + off);
    if (!mem) return CT_E_NOMEM;
    memset(mem, 0x7F, (size_t)bytes + off);
    st = ct_net_forward(t->layers, t->n_layers, x, batch, logits, mem + off, bytes);
    free(mem);
    return st;
}

CT_TEST(net_forward_vs_composition_and_oracle) {
    static const int32_t shapes[][MAX_L + 2] = {
        /* n_layers, sizes... */
        {1, 1, 1},
        {1, 300, 10},
        {2, 5, 3, 2},
        {2, 130, 129, 7},
        {3, 784, 256, 128, 10},
        {4, 33, 65, 17, 300, 4},
        {3, 128, 128, 128, 128},
        {5, 1, 64, 2, 255, 3, 1},
    };
    static const int32_t bits[] = {1, 2, 4, 7};
    uint64_t s = ct_test_seed() ^ 0x4e7u;
    for (size_t ci = 0; ci < 4 * sizeof shapes / sizeof shapes[0]; ++ci) {
        const size_t si = ci / 4;
        const int32_t act_bits = bits[ci % 4];
        const int32_t n_layers = shapes[si][0];
        const int32_t *sizes = &shapes[si][1];
        const int32_t batch = (int32_t)(si % 4) + 1, k0 = sizes[0], n_out = sizes[n_layers];
        test_net t;
        const int ok = net_make(&t, sizes, n_layers, act_bits, &s);
        CT_CHECK(ok);
        int8_t *x = malloc((size_t)batch * (size_t)k0);
        int32_t *got = malloc(((size_t)batch * (size_t)n_out + 1) * sizeof(int32_t));
        int32_t *comp = malloc((size_t)batch * (size_t)n_out * sizeof(int32_t));
        int64_t *want = malloc((size_t)batch * (size_t)n_out * sizeof(int64_t));
        CT_CHECK(x && got && comp && want);
        if (ok && x && got && comp && want) {
            for (int32_t i = 0; i < batch * k0; ++i) x[i] = (int8_t)(ct_test_rand(&s) % 128u);
            CT_CHECK_EQ_I64(ct_net_check(t.layers, n_layers), CT_OK);
            net_oracle(&t, x, batch, want);
            CT_CHECK_EQ_I64(net_composed(&t, x, batch, comp), CT_OK);
            for (size_t off = 0; off < 64; off += 13) {
                got[batch * n_out] = 0x600D;
                CT_CHECK_EQ_I64(forward_exact(&t, x, batch, got, off), CT_OK);
                CT_CHECK_EQ_I64(got[batch * n_out], 0x600D); /* nothing past the logits */
                for (int32_t i = 0; i < batch * n_out; ++i) {
                    CT_CHECK_EQ_I64(got[i], comp[i]);
                    CT_CHECK_EQ_I64(got[i], want[i]);
                }
            }
        }
        free(x);
        free(got);
        free(comp);
        free(want);
        net_free(&t);
    }
}

CT_TEST(net_scratch_too_small) {
    static const int32_t sizes[] = {100, 40, 3};
    uint64_t s = 7;
    test_net t;
    CT_CHECK(net_make(&t, sizes, 2, 7, &s));
    int8_t x[2 * 100] = {0};
    int32_t logits[2 * 3];
    int64_t bytes = -1;
    CT_CHECK_EQ_I64(ct_net_scratch_bytes(t.layers, 2, 2, &bytes), CT_OK);
    CT_CHECK(bytes > 0);
    uint8_t *mem = malloc((size_t)bytes);
    CT_CHECK(mem != NULL);
    if (mem) {
        CT_CHECK_EQ_I64(ct_net_forward(t.layers, 2, x, 2, logits, mem, bytes - 1), CT_E_SCRATCH);
        CT_CHECK_EQ_I64(ct_net_forward(t.layers, 2, x, 2, logits, mem, 0), CT_E_SCRATCH);
        CT_CHECK_EQ_I64(ct_net_forward(t.layers, 2, x, 2, logits, mem, -1), CT_E_SCRATCH);
        CT_CHECK_EQ_I64(ct_net_forward(t.layers, 2, x, 2, logits, mem, bytes), CT_OK);
        /* A bigger batch needs more scratch than a smaller one. */
        int64_t bytes4 = 0;
        CT_CHECK_EQ_I64(ct_net_scratch_bytes(t.layers, 2, 4, &bytes4), CT_OK);
        CT_CHECK(bytes4 > bytes);
    }
    free(mem);
    net_free(&t);
}

CT_TEST(net_chain_and_argument_errors) {
    static const int32_t sizes[] = {10, 8, 6, 4};
    uint64_t s = 11;
    test_net t;
    CT_CHECK(net_make(&t, sizes, 3, 4, &s));
    ct_layer L[3];
    memcpy(L, t.layers, sizeof L);
    CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_OK);
    L[1].n_in = 9; /* 8 -> 9 mismatch (its weights are still valid memory) */
    CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_E_CHAIN);
    memcpy(L, t.layers, sizeof L);
    L[1].shift = CT_SHIFT_OUTPUT; /* output layer before the end */
    L[1].act_bits = CT_ACT_BITS_OUTPUT;
    CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_E_CHAIN);
    memcpy(L, t.layers, sizeof L);
    L[2].shift = 3; /* last layer is not an output layer */
    L[2].act_bits = 7;
    CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_E_CHAIN);
    CT_CHECK_EQ_I64(ct_net_check(t.layers, 2), CT_E_CHAIN); /* stops at a hidden layer */

    int8_t x[2 * 10] = {0};
    int32_t logits[2 * 4];
    uint8_t scratch[8192];
    int64_t bytes = 0;
    memcpy(L, t.layers, sizeof L);
    L[1].n_in = 9;
    CT_CHECK_EQ_I64(ct_net_forward(L, 3, x, 2, logits, scratch, sizeof scratch), CT_E_CHAIN);
    CT_CHECK_EQ_I64(ct_net_scratch_bytes(L, 3, 2, &bytes), CT_E_CHAIN);
    memcpy(L, t.layers, sizeof L);
    L[1].bias = NULL;
    CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_E_NULL);
    memcpy(L, t.layers, sizeof L);
    L[1].shift = CT_MAX_SHIFT + 1;
    CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_E_RANGE);
    /* A hidden layer's act_bits is 1, 2, 4 or 7; 0 (a forgotten field) is not
     * taken for 7; the output layer has none (CT_ACT_BITS_OUTPUT). */
    static const int32_t bad_bits[] = {0, -1, 3, 5, 6, 8, 31, 32, INT32_MIN};
    for (size_t i = 0; i < sizeof bad_bits / sizeof bad_bits[0]; ++i) {
        memcpy(L, t.layers, sizeof L);
        L[0].act_bits = bad_bits[i];
        CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_E_RANGE);
        CT_CHECK_EQ_I64(ct_net_forward(L, 3, x, 2, logits, scratch, sizeof scratch), CT_E_RANGE);
    }
    static const int32_t good_bits[] = {1, 2, 4, 7};
    for (size_t i = 0; i < 4; ++i) {
        memcpy(L, t.layers, sizeof L);
        L[1].act_bits = good_bits[i];
        CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_OK);
        memcpy(L, t.layers, sizeof L);
        L[2].act_bits = good_bits[i];
        CT_CHECK_EQ_I64(ct_net_check(L, 3), CT_E_RANGE);
    }

    CT_CHECK_EQ_I64(ct_net_check(NULL, 3), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_net_check(t.layers, 0), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_net_check(t.layers, CT_MAX_LAYERS + 1), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_net_scratch_bytes(t.layers, 3, 2, NULL), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_net_scratch_bytes(t.layers, 3, 0, &bytes), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_net_scratch_bytes(t.layers, 3, 2, &bytes), CT_OK);
    CT_CHECK(bytes <= (int64_t)sizeof scratch);
    const ct_layer *ls = t.layers;
    CT_CHECK_EQ_I64(ct_net_forward(ls, 3, NULL, 2, logits, scratch, bytes), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_net_forward(ls, 3, x, 2, NULL, scratch, bytes), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_net_forward(ls, 3, x, 2, logits, NULL, bytes), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_net_forward(ls, 3, x, 0, logits, scratch, bytes), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_net_forward(ls, 3, x, 2, logits, scratch, bytes), CT_OK);
    /* Activations must be 0..127: a negative int8 is CT_E_RANGE, wherever it is. */
    x[19] = -1;
    CT_CHECK_EQ_I64(ct_net_forward(ls, 3, x, 2, logits, scratch, bytes), CT_E_RANGE);
    x[19] = 0;
    x[0] = -128;
    CT_CHECK_EQ_I64(ct_net_forward(ls, 3, x, 2, logits, scratch, bytes), CT_E_RANGE);
    x[0] = 127;
    CT_CHECK_EQ_I64(ct_net_forward(ls, 3, x, 2, logits, scratch, bytes), CT_OK);
    net_free(&t);
}
