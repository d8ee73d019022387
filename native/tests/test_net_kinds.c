/*
 * Networks with layer kinds (docs/format.md 1.2): ct_net_forward over
 * conv2d, depthwise conv2d, maxpool2d, flatten and dense chains against an
 * int64 oracle written here (tensors as (h, w, c) arrays, padding read as 0,
 * the requantization of 1.3), for every activation width; the shape chain,
 * and the status of each kind of bad geometry.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

enum { MAX_LAYERS = 8 };

/* A layer spec: kind and geometry; the test makes the parameters. */
typedef struct spec {
    int32_t kind, out_c, kh, kw, sh, sw, pt, pb, pl, pr, depthwise, n_out;
} spec;

typedef struct knet {
    int32_t n_layers;
    ct_layer L[MAX_LAYERS];
    int8_t *w[MAX_LAYERS]; /* unpacked, rows of K */
    uint8_t *packed[MAX_LAYERS];
    int32_t *bias[MAX_LAYERS];
} knet;

static void knet_free(knet *t) {
    for (int32_t l = 0; l < t->n_layers; ++l) {
        free(t->w[l]);
        free(t->packed[l]);
        free(t->bias[l]);
    }
}

/* Builds the chain from an input of (h, w, c); weights random in -1..1,
 * small biases, shifts chosen so activations spread rather than saturate. */
static int knet_make(knet *t, int32_t h, int32_t w, int32_t c, const spec *specs, int32_t n,
                     int32_t act_bits, uint64_t *s) {
    memset(t, 0, sizeof *t);
    t->n_layers = n;
    int32_t in_max = CT_ACT_MAX; /* largest activation the layer reads */
    for (int32_t l = 0; l < n; ++l) {
        const spec *p = &specs[l];
        ct_layer *L = &t->L[l];
        L->kind = p->kind;
        L->in_h = h;
        L->in_w = w;
        L->in_c = c;
        L->n_in = h * w * c;
        int32_t rows = 0, k = 0;
        if (p->kind == CT_LAYER_DENSE) {
            memset(L, 0, sizeof *L); /* a dense layer as before kinds: zero geometry */
            L->n_in = h * w * c;
            L->n_out = p->n_out;
            rows = p->n_out;
            k = L->n_in;
            h = w = 1;
            c = p->n_out;
        } else if (p->kind == CT_LAYER_CONV2D) {
            L->out_c = p->depthwise ? c : p->out_c;
            L->groups = p->depthwise ? c : 1;
            L->kh = p->kh;
            L->kw = p->kw;
            L->stride_h = p->sh;
            L->stride_w = p->sw;
            L->pad_top = p->pt;
            L->pad_bottom = p->pb;
            L->pad_left = p->pl;
            L->pad_right = p->pr;
            rows = L->out_c;
            k = p->kh * p->kw * (p->depthwise ? 1 : c);
            h = (h + p->pt + p->pb - p->kh) / p->sh + 1;
            w = (w + p->pl + p->pr - p->kw) / p->sw + 1;
            c = L->out_c;
            L->n_out = h * w * c;
        } else if (p->kind == CT_LAYER_MAXPOOL2D) {
            L->kh = p->kh;
            L->kw = p->kw;
            L->stride_h = p->sh;
            L->stride_w = p->sw;
            h = (h - p->kh) / p->sh + 1;
            w = (w - p->kw) / p->sw + 1;
            L->n_out = h * w * c;
        } else {
            L->n_out = L->n_in;
            c = h * w * c;
            h = w = 1;
        }
        if (rows > 0) {
            const int64_t bytes = ct_t2_packed_bytes(rows, k);
            t->w[l] = malloc((size_t)rows * (size_t)k);
            t->packed[l] = malloc((size_t)bytes);
            t->bias[l] = malloc((size_t)rows * sizeof(int32_t));
            if (!t->w[l] || !t->packed[l] || !t->bias[l]) return 0;
            for (int64_t i = 0; i < (int64_t)rows * k; ++i) {
                t->w[l][i] = (int8_t)((int)(ct_test_rand(s) % 3u) - 1);
            }
            if (ct_t2_pack(t->w[l], rows, k, t->packed[l], bytes) != CT_OK) return 0;
            L->w = t->packed[l];
            L->bias = t->bias[l];
            const int last = l == n - 1;
            /* A sum of k products w * x (w uniform in -1..1, x in 0 .. in_max)
             * has a spread of about in_max * sqrt(2k / 9): biases within a
             * third of it, and a shift that maps it onto the 2^bits codes, so
             * activations neither vanish nor saturate (and the network's
             * logits differ between samples). */
            const int64_t spread2 = (int64_t)in_max * in_max * 2 * k / 9;
            uint32_t spread = 1;
            while ((int64_t)spread * spread < spread2) ++spread;
            for (int32_t j = 0; j < rows; ++j) {
                t->bias[l][j] = (int32_t)(ct_test_rand(s) % (2 * (spread / 3) + 1)) -
                                (int32_t)(spread / 3) + (int32_t)(spread / 4);
            }
            int32_t shift = 0;
            while (shift < CT_MAX_SHIFT && ((int64_t)1 << (2 * (act_bits + shift))) < spread2) {
                ++shift;
            }
            L->shift = last ? CT_SHIFT_OUTPUT : shift;
            L->act_bits = last ? CT_ACT_BITS_OUTPUT : act_bits;
            in_max = (1 << act_bits) - 1;
        }
    }
    return 1;
}

static int64_t requant(int64_t a, int32_t shift, int32_t bits) {
    const int64_t r = shift > 0 ? a + ((int64_t)1 << (shift - 1)) : a;
    const int64_t q = r <= 0 ? 0 : r >> shift;
    const int64_t top = ((int64_t)1 << bits) - 1;
    return q > top ? top : q;
}

/* The oracle, one sample: int64 tensors (h, w, c), layer by layer. */
static void knet_oracle(const knet *t, const int8_t *x, int64_t *logits) {
    int32_t h = t->L[0].kind == CT_LAYER_DENSE ? 1 : t->L[0].in_h;
    int32_t w = t->L[0].kind == CT_LAYER_DENSE ? 1 : t->L[0].in_w;
    int32_t c = t->L[0].kind == CT_LAYER_DENSE ? t->L[0].n_in : t->L[0].in_c;
    int64_t *cur = malloc((size_t)h * (size_t)w * (size_t)c * sizeof(int64_t));
    if (!cur) return;
    for (int64_t i = 0; i < (int64_t)h * w * c; ++i) cur[i] = x[i];
    for (int32_t l = 0; l < t->n_layers; ++l) {
        const ct_layer *L = &t->L[l];
        int64_t *nxt = malloc((size_t)L->n_out * sizeof(int64_t));
        if (!nxt) break;
        if (L->kind == CT_LAYER_DENSE) {
            for (int32_t j = 0; j < L->n_out; ++j) {
                int64_t a = L->bias[j];
                for (int32_t i = 0; i < L->n_in; ++i)
                    a += t->w[l][(int64_t)j * L->n_in + i] * cur[i];
                nxt[j] = L->shift == CT_SHIFT_OUTPUT ? a : requant(a, L->shift, L->act_bits);
            }
            h = w = 1;
            c = L->n_out;
        } else if (L->kind == CT_LAYER_CONV2D) {
            const int32_t ho = (h + L->pad_top + L->pad_bottom - L->kh) / L->stride_h + 1;
            const int32_t wo = (w + L->pad_left + L->pad_right - L->kw) / L->stride_w + 1;
            const int32_t g = L->groups == 1 ? c : 1, k = L->kh * L->kw * g;
            for (int32_t oy = 0; oy < ho; ++oy) {
                for (int32_t ox = 0; ox < wo; ++ox) {
                    for (int32_t co = 0; co < L->out_c; ++co) {
                        int64_t a = L->bias[co];
                        for (int32_t ky = 0; ky < L->kh; ++ky) {
                            for (int32_t kx = 0; kx < L->kw; ++kx) {
                                const int32_t iy = oy * L->stride_h + ky - L->pad_top;
                                const int32_t ix = ox * L->stride_w + kx - L->pad_left;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                for (int32_t gg = 0; gg < g; ++gg) {
                                    const int32_t ch = L->groups == 1 ? gg : co;
                                    a += t->w[l][(int64_t)co * k + (ky * L->kw + kx) * g + gg] *
                                         cur[((int64_t)iy * w + ix) * c + ch];
                                }
                            }
                        }
                        nxt[((int64_t)oy * wo + ox) * L->out_c + co] =
                            requant(a, L->shift, L->act_bits);
                    }
                }
            }
            h = ho;
            w = wo;
            c = L->out_c;
        } else if (L->kind == CT_LAYER_MAXPOOL2D) {
            const int32_t ho = (h - L->kh) / L->stride_h + 1, wo = (w - L->kw) / L->stride_w + 1;
            for (int32_t oy = 0; oy < ho; ++oy) {
                for (int32_t ox = 0; ox < wo; ++ox) {
                    for (int32_t ch = 0; ch < c; ++ch) {
                        int64_t m = INT64_MIN;
                        for (int32_t py = 0; py < L->kh; ++py) {
                            for (int32_t px = 0; px < L->kw; ++px) {
                                const int64_t v = cur[((int64_t)(oy * L->stride_h + py) * w +
                                                       ox * L->stride_w + px) *
                                                          c +
                                                      ch];
                                if (v > m) m = v;
                            }
                        }
                        nxt[((int64_t)oy * wo + ox) * c + ch] = m;
                    }
                }
            }
            h = ho;
            w = wo;
        } else { /* flatten: the same values in the same order */
            memcpy(nxt, cur, (size_t)L->n_out * sizeof(int64_t));
            c = h * w * c;
            h = w = 1;
        }
        free(cur);
        cur = nxt;
    }
    if (cur) memcpy(logits, cur, (size_t)t->L[t->n_layers - 1].n_out * sizeof(int64_t));
    free(cur);
}

/* ct_net_forward with exactly the advertised scratch (garbage-filled, at an
 * odd offset) against the oracle; the number of wrong logits, -1 on error. */
static int64_t knet_check(const knet *t, int32_t batch, uint64_t *s) {
    const int32_t n_in = t->L[0].n_in, n_out = t->L[t->n_layers - 1].n_out;
    int8_t *x = malloc((size_t)batch * (size_t)n_in);
    int32_t *got = malloc(((size_t)batch * (size_t)n_out + 1) * sizeof(int32_t));
    int64_t *want = malloc((size_t)n_out * sizeof(int64_t));
    int64_t bytes = 0, bad = -1;
    if (x && got && want && ct_net_scratch_bytes(t->L, t->n_layers, batch, &bytes) == CT_OK) {
        for (int64_t i = 0; i < (int64_t)batch * n_in; ++i) x[i] = (int8_t)(ct_test_rand(s) % 128);
        uint8_t *mem = malloc((size_t)bytes + 5);
        if (mem) {
            memset(mem, 0xA5, (size_t)bytes + 5);
            got[batch * n_out] = 0x600D;
            if (ct_net_forward(t->L, t->n_layers, x, batch, got, mem + 5, bytes) == CT_OK) {
                bad = got[batch * n_out] != 0x600D;
                for (int32_t b = 0; b < batch; ++b) {
                    knet_oracle(t, x + (int64_t)b * n_in, want);
                    for (int32_t j = 0; j < n_out; ++j) bad += got[b * n_out + j] != want[j];
                }
            }
            free(mem);
        }
    }
    free(x);
    free(got);
    free(want);
    return bad;
}

#define CONV(co, k, s, p) {CT_LAYER_CONV2D, co, k, k, s, s, p, p, p, p, 0, 0}
#define DW(k, s, p) {CT_LAYER_CONV2D, 0, k, k, s, s, p, p, p, p, 1, 0}
#define POOL(k, s) {CT_LAYER_MAXPOOL2D, 0, k, k, s, s, 0, 0, 0, 0, 0, 0}
#define FLAT {CT_LAYER_FLATTEN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
#define DENSE(n) {CT_LAYER_DENSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n}

CT_TEST(net_kinds_forward_vs_oracle) {
    uint64_t s = ct_test_seed() ^ 0x6e7u;
    /* conv -> maxpool -> depthwise -> conv -> flatten -> dense, and variants */
    static const spec chain[] = {CONV(8, 3, 1, 1),  POOL(2, 2), DW(3, 1, 1),
                                 CONV(19, 3, 2, 0), FLAT,       DENSE(10)};
    static const spec cifar[] = {CONV(32, 3, 1, 1), POOL(2, 2), CONV(64, 3, 1, 1),
                                 POOL(2, 2),        FLAT,       DENSE(10)};
    static const spec odd[] = {
        {CT_LAYER_CONV2D, 5, 5, 2, 2, 1, 4, 0, 1, 0, 0, 0}, /* asymmetric, rectangular */
        {CT_LAYER_MAXPOOL2D, 0, 3, 2, 1, 2, 0, 0, 0, 0, 0, 0},
        DW(5, 2, 2),
        CONV(3, 1, 1, 0),
        FLAT,
        DENSE(17),
        DENSE(4)};
    static const spec to_1x1[] = {CONV(6, 5, 1, 0), DENSE(3)}; /* (1, 1, 6) feeds a dense */
    static const spec pool_first[] = {POOL(3, 3), FLAT, DENSE(7)};
    static const spec flat_only[] = {FLAT, DENSE(5), DENSE(2)};
    static const int32_t bits[] = {1, 2, 4, 7};
    for (int bi = 0; bi < 4; ++bi) {
        knet t;
        CT_CHECK(knet_make(&t, 12, 10, 3, chain, 6, bits[bi], &s));
        CT_CHECK_EQ_I64(ct_net_check(t.L, t.n_layers), CT_OK);
        CT_CHECK_EQ_I64(knet_check(&t, 1 + bi % 3, &s), 0);
        knet_free(&t);
        CT_CHECK(knet_make(&t, 11, 9, 2, odd, 7, bits[bi], &s));
        CT_CHECK_EQ_I64(ct_net_check(t.L, t.n_layers), CT_OK);
        CT_CHECK_EQ_I64(knet_check(&t, 4, &s), 0); /* batch 4: the dense layers use GEMM */
        knet_free(&t);
    }
    knet t;
    CT_CHECK(knet_make(&t, 32, 32, 3, cifar, 6, 4, &s));
    CT_CHECK_EQ_I64(knet_check(&t, 2, &s), 0);
    knet_free(&t);
    CT_CHECK(knet_make(&t, 5, 5, 4, to_1x1, 2, 7, &s));
    CT_CHECK_EQ_I64(knet_check(&t, 3, &s), 0);
    knet_free(&t);
    CT_CHECK(knet_make(&t, 7, 8, 5, pool_first, 3, 7, &s));
    CT_CHECK_EQ_I64(knet_check(&t, 2, &s), 0);
    knet_free(&t);
    CT_CHECK(knet_make(&t, 3, 4, 5, flat_only, 3, 2, &s));
    CT_CHECK_EQ_I64(knet_check(&t, 5, &s), 0);
    knet_free(&t);
}

/* Threads split output positions (conv) and rows (dense): the same logits
 * for every default thread count. */
CT_TEST(net_kinds_threads_same_bits) {
    uint64_t s = ct_test_seed() ^ 0x71u;
    static const spec cifar[] = {CONV(32, 3, 1, 1), POOL(2, 2), DW(3, 1, 1), CONV(64, 3, 1, 1),
                                 POOL(2, 2),        FLAT,       DENSE(10)};
    knet t;
    CT_CHECK(knet_make(&t, 32, 32, 3, cifar, 7, 7, &s));
    const int32_t before = ct_num_threads();
    for (int32_t threads = 1; threads <= 3; ++threads) {
        CT_CHECK_EQ_I64(ct_set_num_threads(threads), CT_OK);
        CT_CHECK_EQ_I64(knet_check(&t, 3, &s), 0);
    }
    CT_CHECK_EQ_I64(ct_set_num_threads(before), CT_OK);
    knet_free(&t);
}

/* Each bad field of each kind, and a mismatch between layers. */
CT_TEST(net_kinds_geometry_statuses) {
    uint64_t s = 5;
    static const spec chain[] = {CONV(8, 3, 1, 1), POOL(2, 2), DW(3, 1, 1), FLAT, DENSE(4)};
    knet t;
    CT_CHECK(knet_make(&t, 6, 6, 3, chain, 5, 7, &s));
    ct_layer L[5];
    int64_t bytes = 0;
/* The layer alone (ct_layer_scratch_bytes) gives `own`, the network `net`:
 * the same, except for a layer's input shape, which ct_net_check compares
 * with the layer before first (CT_E_CHAIN). */
#define EXPECT2(layer, field, value, own, net)                              \
    do {                                                                    \
        memcpy(L, t.L, sizeof L);                                           \
        L[layer].field = value;                                             \
        CT_CHECK_EQ_I64(ct_layer_scratch_bytes(&L[layer], 1, &bytes), own); \
        CT_CHECK_EQ_I64(ct_net_check(L, 5), net);                           \
    } while (0)
#define EXPECT(layer, field, value, status) EXPECT2(layer, field, value, status, status)
    memcpy(L, t.L, sizeof L);
    CT_CHECK_EQ_I64(ct_net_check(L, 5), CT_OK);
    /* conv2d (layer 0, 6x6x3 -> 6x6x8, 3x3, pad 1) */
    EXPECT(0, kind, 4, CT_E_RANGE);
    EXPECT(0, kind, -1, CT_E_RANGE);
    EXPECT(0, w, NULL, CT_E_NULL);
    EXPECT(0, bias, NULL, CT_E_NULL);
    EXPECT(0, kh, 0, CT_E_SHAPE);
    EXPECT(0, kw, -3, CT_E_SHAPE);
    EXPECT(0, stride_h, 0, CT_E_SHAPE);
    EXPECT(0, stride_w, 0, CT_E_SHAPE);
    EXPECT(0, out_c, 0, CT_E_SHAPE);
    EXPECT(0, in_c, 0, CT_E_SHAPE);
    EXPECT(0, in_h, CT_MAX_INPUTS + 1, CT_E_SHAPE);
    EXPECT(0, in_h, 7, CT_E_SHAPE);    /* n_in no longer the element count */
    EXPECT(0, n_out, 289, CT_E_SHAPE); /* nor n_out */
    EXPECT(0, pad_top, 3, CT_E_RANGE); /* 0 .. kh - 1 */
    EXPECT(0, pad_bottom, -1, CT_E_RANGE);
    EXPECT(0, pad_left, 3, CT_E_RANGE);
    EXPECT(0, pad_right, -1, CT_E_RANGE);
    EXPECT(0, groups, 2, CT_E_RANGE); /* 1 or in_c */
    EXPECT(0, groups, 0, CT_E_RANGE);
    EXPECT(0, groups, 3, CT_E_SHAPE);              /* depthwise, but out_c 8 != in_c 3 */
    EXPECT(0, shift, CT_SHIFT_OUTPUT, CT_E_RANGE); /* a convolution is hidden */
    EXPECT(0, shift, CT_MAX_SHIFT + 1, CT_E_RANGE);
    EXPECT(0, act_bits, 0, CT_E_RANGE);
    EXPECT(0, act_bits, 3, CT_E_RANGE);
    t.bias[0][1] = CT_MAX_BIAS + 1;
    EXPECT(0, shift, 4, CT_E_RANGE);
    t.bias[0][1] = -CT_MAX_BIAS;
    EXPECT(0, shift, 4, CT_OK);
    /* a kernel larger than the padded image: no output row */
    memcpy(L, t.L, sizeof L);
    L[0].kh = 9;
    L[0].pad_top = L[0].pad_bottom = 1;
    CT_CHECK_EQ_I64(ct_net_check(L, 5), CT_E_SHAPE);
    /* K above 2^20 (1024 channels x 33 x 32) on a 1x1 image, all else valid */
    ct_layer big = t.L[0];
    big.in_h = big.in_w = 1;
    big.in_c = 1024;
    big.n_in = 1024;
    big.kh = 33;
    big.kw = 32;
    big.pad_top = 32;
    big.pad_left = 31;
    big.pad_bottom = big.pad_right = 0;
    big.n_out = 8;
    CT_CHECK_EQ_I64(ct_layer_scratch_bytes(&big, 1, &bytes), CT_E_SHAPE);
    big.kw = 31; /* K = 33 * 31 * 1024 <= 2^20 */
    big.pad_left = 30;
    CT_CHECK_EQ_I64(ct_layer_scratch_bytes(&big, 1, &bytes), CT_OK);
    /* maxpool2d (layer 1, 6x6x8 -> 3x3x8) */
    EXPECT(1, w, t.packed[0], CT_E_RANGE);
    EXPECT(1, bias, t.bias[0], CT_E_RANGE);
    EXPECT(1, shift, 1, CT_E_RANGE);
    EXPECT(1, act_bits, 7, CT_E_RANGE);
    EXPECT(1, kh, 0, CT_E_SHAPE);
    EXPECT(1, stride_w, 0, CT_E_SHAPE);
    EXPECT(1, kw, 7, CT_E_SHAPE); /* window wider than the image */
    EXPECT(1, pad_left, 1, CT_E_RANGE);
    EXPECT(1, n_out, 71, CT_E_SHAPE);
    EXPECT2(1, in_c, 9, CT_E_SHAPE, CT_E_CHAIN);
    /* depthwise (layer 2) */
    EXPECT(2, out_c, 9, CT_E_SHAPE);
    /* flatten (layer 3) */
    EXPECT(3, w, t.packed[0], CT_E_RANGE);
    EXPECT(3, shift, 2, CT_E_RANGE);
    EXPECT(3, n_out, 71, CT_E_SHAPE);
    EXPECT2(3, in_w, 0, CT_E_SHAPE, CT_E_CHAIN);
    /* chain: a tensor the next layer does not read */
    memcpy(L, t.L, sizeof L);
    L[3] = L[4]; /* a dense layer straight after the depthwise 3x3x8 */
    CT_CHECK_EQ_I64(ct_net_check(L, 4), CT_E_CHAIN);
    memcpy(L, t.L, sizeof L);
    L[1].in_h = 5; /* shape differs from the conv's output; its own counts agree */
    L[1].n_in = 5 * 6 * 8;
    L[1].n_out = 2 * 3 * 8;
    CT_CHECK_EQ_I64(ct_net_check(L, 5), CT_E_CHAIN);
    CT_CHECK_EQ_I64(ct_net_check(t.L, 4), CT_E_CHAIN); /* ends at a flatten */
    CT_CHECK_EQ_I64(ct_net_check(t.L, 1), CT_E_CHAIN); /* ends at a convolution */
    CT_CHECK_EQ_I64(ct_net_scratch_bytes(t.L, 4, 1, &bytes), CT_E_CHAIN);
    int8_t x[108] = {0};
    int32_t logits[4];
    uint8_t mem[1 << 15];
    CT_CHECK_EQ_I64(ct_net_forward(t.L, 4, x, 1, logits, mem, sizeof mem), CT_E_CHAIN);
    /* scratch: exactly the advertised size works, one byte less does not */
    CT_CHECK_EQ_I64(ct_net_scratch_bytes(t.L, 5, 1, &bytes), CT_OK);
    CT_CHECK(bytes <= (int64_t)sizeof mem);
    CT_CHECK_EQ_I64(ct_net_forward(t.L, 5, x, 1, logits, mem, bytes), CT_OK);
    CT_CHECK_EQ_I64(ct_net_forward(t.L, 5, x, 1, logits, mem, bytes - 1), CT_E_SCRATCH);
    x[107] = -5;
    CT_CHECK_EQ_I64(ct_net_forward(t.L, 5, x, 1, logits, mem, bytes), CT_E_RANGE);
#undef EXPECT
#undef EXPECT2
    knet_free(&t);
}
