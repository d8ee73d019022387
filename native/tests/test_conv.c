/*
 * Convolution layers: every registered conv2d and depthwise kernel against
 * an int64 oracle written here from docs/format.md 1.2 (unpacked weights
 * w[co][ky][kx][g], padding read as 0), over kernel sizes, strides, padding,
 * channel counts around the SIMD widths, tiny images, chunked K and the
 * overflow bound; thread counts; scratch, argument and geometry statuses.
 * Kernels this CPU cannot run are reported as skipped; under qemu-aarch64
 * -cpu max and -cpu cortex-a53 the NEON variants run.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

/* A conv2d layer owned by the test: unpacked weights for the oracle, T2
 * packed for C. */
typedef struct conv_case {
    ct_layer L;
    int32_t g, k, out_h, out_w;
    int8_t *w; /* out_c x k, row co = [ky][kx][g] */
    uint8_t *packed;
    int32_t *bias;
} conv_case;

typedef struct geom {
    int32_t h, w, c_in, c_out, kh, kw, sh, sw, pt, pb, pl, pr, depthwise;
} geom;

static int32_t out_dim(int32_t n, int32_t p0, int32_t p1, int32_t k, int32_t s) {
    return (n + p0 + p1 - k) / s + 1;
}

/* T2 bytes from the layout prose (docs/format.md 2.2), accepting w = 2 (code
 * 3), which ct_t2_pack refuses: the kernels must treat it as the references
 * do (w = 2), and it moves the int16 bounds of the SIMD kernels. `pad3` puts
 * code 3 in every padding column, which no kernel may read. */
static void pack_any(const int8_t *w, int32_t rows, int32_t k, uint8_t *out, int pad3) {
    const int64_t rb = ct_t2_packed_bytes(1, k);
    memset(out, 0, (size_t)(rb * rows));
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t c = 0; c < ct_t2_padded_k(k); ++c) {
            const unsigned code = c < k ? (unsigned)(w[(int64_t)r * k + c] + 1) : pad3 ? 3u : 0u;
            out[r * rb + (c / 128) * 32 + c % 32] |= (uint8_t)(code << (2 * ((c % 128) / 32)));
        }
    }
}

/* weights: 0 random in -1..1, 1 all +1, 2 all -1, 3 all code 3 (w = 2),
 * 4 all +1 with every 37th a code 3, 5 random in -1..1 with code 3 in the
 * padding columns; biases random in +-bias_max. */
static int conv_make(conv_case *t, const geom *g, int fill, int32_t bias_max, uint64_t *s) {
    memset(t, 0, sizeof *t);
    t->g = g->depthwise ? 1 : g->c_in;
    t->k = g->kh * g->kw * t->g;
    t->out_h = out_dim(g->h, g->pt, g->pb, g->kh, g->sh);
    t->out_w = out_dim(g->w, g->pl, g->pr, g->kw, g->sw);
    const int32_t c_out = g->depthwise ? g->c_in : g->c_out;
    const int64_t bytes = ct_t2_packed_bytes(c_out, t->k);
    t->w = malloc((size_t)c_out * (size_t)t->k);
    t->packed = malloc((size_t)bytes);
    t->bias = malloc((size_t)c_out * sizeof(int32_t));
    if (!t->w || !t->packed || !t->bias) return 0;
    for (int64_t i = 0; i < (int64_t)c_out * t->k; ++i) {
        const int8_t r = (int8_t)((int)(ct_test_rand(s) % 3u) - 1);
        t->w[i] = fill == 1 || fill == 4 ? 1 : fill == 2 ? -1 : fill == 3 ? 2 : r;
        if (fill == 4 && i % 37 == 0) t->w[i] = 2;
    }
    for (int32_t j = 0; j < c_out; ++j) {
        t->bias[j] = (int32_t)(ct_test_rand(s) % (2u * (uint32_t)bias_max + 1u)) - bias_max;
    }
    pack_any(t->w, c_out, t->k, t->packed, fill == 5);
    (void)bytes;
    ct_layer *L = &t->L;
    L->kind = CT_LAYER_CONV2D;
    L->n_in = g->h * g->w * g->c_in;
    L->n_out = t->out_h * t->out_w * c_out;
    L->shift = 6;
    L->act_bits = 7;
    L->w = t->packed;
    L->bias = t->bias;
    L->in_h = g->h;
    L->in_w = g->w;
    L->in_c = g->c_in;
    L->out_c = c_out;
    L->kh = g->kh;
    L->kw = g->kw;
    L->stride_h = g->sh;
    L->stride_w = g->sw;
    L->pad_top = g->pt;
    L->pad_bottom = g->pb;
    L->pad_left = g->pl;
    L->pad_right = g->pr;
    L->groups = g->depthwise ? g->c_in : 1;
    return 1;
}

static void conv_free(conv_case *t) {
    free(t->w);
    free(t->packed);
    free(t->bias);
}

/* The oracle: the formula of docs/format.md 1.2 in int64. */
static void conv_oracle(const conv_case *t, const int8_t *x, int32_t batch, int64_t *out) {
    const ct_layer *L = &t->L;
    for (int32_t b = 0; b < batch; ++b) {
        const int8_t *xb = x + (int64_t)b * L->n_in;
        for (int32_t oy = 0; oy < t->out_h; ++oy) {
            for (int32_t ox = 0; ox < t->out_w; ++ox) {
                for (int32_t co = 0; co < L->out_c; ++co) {
                    int64_t s = L->bias[co];
                    for (int32_t ky = 0; ky < L->kh; ++ky) {
                        for (int32_t kx = 0; kx < L->kw; ++kx) {
                            const int32_t iy = oy * L->stride_h + ky - L->pad_top;
                            const int32_t ix = ox * L->stride_w + kx - L->pad_left;
                            for (int32_t gg = 0; gg < t->g; ++gg) {
                                const int32_t c = L->groups == 1 ? gg : co;
                                const int64_t in =
                                    iy < 0 || iy >= L->in_h || ix < 0 || ix >= L->in_w
                                        ? 0
                                        : xb[((int64_t)iy * L->in_w + ix) * L->in_c + c];
                                s += t->w[(int64_t)co * t->k + (ky * L->kw + kx) * t->g + gg] * in;
                            }
                        }
                    }
                    out[(((int64_t)b * t->out_h + oy) * t->out_w + ox) * L->out_c + co] = s;
                }
            }
        }
    }
}

/* Runs per registered kernel, printed per kernel (the aarch64 tests check
 * that each NEON kernel ran). */
enum { MAX_KERNELS = 256 };
static int64_t runs[MAX_KERNELS];

static int is_conv_family(int32_t family) {
    return family == CT_FAMILY_CONV2D || family == CT_FAMILY_DWCONV2D;
}

static int32_t ref_of(int32_t family) {
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t fam, sup;
        (void)ct_kernel_info(i, &name, &fam, &isa, &sup);
        if (fam == family && strcmp(isa, "ref") == 0) return i;
    }
    return -1;
}

/* Runs kernel i on t and x (batch samples); the number of outputs that
 * differ from want, or -1 if the call failed. The scratch is exactly the
 * advertised size, filled with garbage, at an odd offset. */
static int64_t run_conv(int32_t i, const conv_case *t, const int8_t *x, int32_t batch,
                        const int64_t *want) {
    int64_t bytes = 0;
    if (ct_layer_scratch_bytes(&t->L, batch, &bytes) != CT_OK) return -1;
    const int64_t n = (int64_t)batch * t->L.n_out;
    uint8_t *mem = malloc((size_t)bytes + 3);
    int32_t *acc = malloc(((size_t)n + 1) * sizeof(int32_t));
    int64_t bad = -1;
    if (mem && acc) {
        memset(mem, 0x5A, (size_t)bytes + 3);
        acc[n] = 0x600D;
        if (ct_conv_acc_with(i, &t->L, x, batch, acc, mem + 3, bytes) == CT_OK) {
            bad = acc[n] != 0x600D; /* nothing written past the output */
            for (int64_t j = 0; j < n; ++j) bad += acc[j] != want[j];
        }
    }
    free(mem);
    free(acc);
    return bad;
}

static int8_t *random_x(int64_t n, uint64_t *s) {
    int8_t *x = malloc((size_t)n);
    if (x) {
        for (int64_t i = 0; i < n; ++i) x[i] = (int8_t)(ct_test_rand(s) % 128u);
    }
    return x;
}

/* Every supported kernel of the case's family against the oracle. */
static void check_case(const geom *g, int fill, int32_t bias_max, int32_t batch, int x127,
                       uint64_t *s) {
    conv_case t;
    CT_CHECK(conv_make(&t, g, fill, bias_max, s));
    int8_t *x = random_x((int64_t)batch * t.L.n_in, s);
    int64_t *want = malloc((size_t)batch * (size_t)t.L.n_out * sizeof(int64_t));
    CT_CHECK(x != NULL && want != NULL);
    if (x && want && t.bias) {
        if (x127) memset(x, 127, (size_t)batch * (size_t)t.L.n_in);
        conv_oracle(&t, x, batch, want);
        /* depthwise over one channel is groups 1: a CONV2D layer */
        const int32_t family = t.L.groups != 1 ? CT_FAMILY_DWCONV2D : CT_FAMILY_CONV2D;
        for (int32_t i = 0; i < ct_kernel_count(); ++i) {
            const char *name, *isa;
            int32_t fam, sup;
            (void)ct_kernel_info(i, &name, &fam, &isa, &sup);
            if (fam != family || !sup) continue;
            const int64_t bad = run_conv(i, &t, x, batch, want);
            if (bad != 0) {
                printf(
                    "  %s %dx%dx%d -> %d, k %dx%d, stride %d,%d, pad %d,%d,%d,%d, batch %d: "
                    "%lld wrong\n",
                    name, g->h, g->w, g->c_in, t.L.out_c, g->kh, g->kw, g->sh, g->sw, g->pt, g->pb,
                    g->pl, g->pr, batch, (long long)bad);
            }
            CT_CHECK_EQ_I64(bad, 0);
            if (i < MAX_KERNELS) ++runs[i];
        }
    }
    free(x);
    free(want);
    conv_free(&t);
}

/* One line per conv kernel: its runs since the last report, or why it was skipped. */
static void report(void) {
    for (int32_t i = 0; i < ct_kernel_count() && i < MAX_KERNELS; ++i) {
        const char *name, *isa;
        int32_t fam, sup;
        (void)ct_kernel_info(i, &name, &fam, &isa, &sup);
        if (!is_conv_family(fam)) continue;
        if (sup) {
            printf("  %s: %lld cases\n", name, (long long)runs[i]);
        } else {
            printf("  skip %s: this CPU lacks %s\n", name, isa);
        }
        runs[i] = 0;
    }
}

CT_TEST(conv_every_kernel_matches_oracle) {
    uint64_t s = ct_test_seed() ^ 0xc0271u;
    /* kernel sizes 1, 3, 5; strides 1, 2; no, "same" and asymmetric padding */
    static const int32_t ks[] = {1, 3, 5};
    static const int32_t c_ins[] = {1, 3, 5, 8, 17};
    static const int32_t c_outs[] = {1, 7, 16, 19, 33};
    for (size_t ki = 0; ki < 3; ++ki) {
        const int32_t k = ks[ki];
        for (int32_t stride = 1; stride <= 2; ++stride) {
            for (int pad = 0; pad < 3; ++pad) {
                const size_t ci = (ki * 2 + (size_t)stride + (size_t)pad) % 5;
                const size_t co = (ki + (size_t)stride * 2 + (size_t)pad * 3) % 5;
                geom g = {9, 7, c_ins[ci], c_outs[co], k, k, stride, stride, 0, 0, 0, 0, 0};
                if (pad == 1) g.pt = g.pb = g.pl = g.pr = (k - 1) / 2; /* "same" */
                if (pad == 2) {                                        /* asymmetric */
                    g.pt = k - 1;
                    g.pb = 0;
                    g.pl = k / 3;
                    g.pr = k - 1;
                }
                check_case(&g, 0, 1000, 2, 0, &s);
                g.depthwise = 1;
                check_case(&g, 0, 1000, 1, 0, &s);
            }
        }
    }
    /* images as small as the kernel; rectangular kernels and strides */
    static const geom more[] = {
        {3, 3, 4, 5, 3, 3, 1, 1, 0, 0, 0, 0, 0},        {5, 5, 2, 3, 5, 5, 2, 1, 0, 0, 0, 0, 0},
        {1, 1, 9, 18, 1, 1, 1, 1, 0, 0, 0, 0, 0},       {1, 6, 3, 4, 1, 3, 1, 2, 0, 0, 2, 1, 0},
        {4, 9, 6, 17, 3, 2, 2, 3, 2, 1, 0, 1, 0},       {2, 2, 1, 1, 3, 3, 1, 1, 2, 0, 0, 2, 0},
        {3, 3, 4, 0, 3, 3, 1, 1, 0, 0, 0, 0, 1},        {6, 5, 35, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {4, 9, 48, 0, 2, 3, 2, 2, 1, 0, 2, 1, 1},       {1, 1, 16, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1},
        {8, 8, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 0},      /* the shape of the benchmark, smaller */
        {7, 7, 3, 32, 3, 3, 1, 1, 1, 1, 1, 1, 0},       /* C_in 3: K = 27, padded to 32 */
        {5, 4, 130, 21, 3, 3, 1, 1, 1, 1, 1, 1, 0},     /* K = 1170: two int16 flushes */
        {3, 3, 600, 17, 3, 3, 1, 1, 1, 1, 1, 1, 0},     /* K = 5400: two im2col chunks */
        {3, 5, 200, 0, 12, 12, 1, 1, 11, 11, 11, 0, 1}, /* 144 taps: an int16 flush */
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; ++i) {
        check_case(&more[i], 0, 100000, (int32_t)(i % 3) + 1, 0, &s);
        check_case(&more[i], 5, 100, 1, 0, &s); /* code 3 in the padding: never read */
    }
    report();
}

/* The overflow bound: every weight +1 (or -1), every activation 127, biases
 * at +-2^27, at the largest K a test can afford and where the int16 sums of
 * the SIMD kernels are flushed. */
CT_TEST(conv_overflow_boundary) {
    uint64_t s = ct_test_seed() ^ 0x0fu;
    static const geom gs[] = {
        {3, 3, 1024, 3, 3, 3, 1, 1, 0, 0, 0, 0, 0}, /* K = 9216 */
        {1, 1, 4096, 17, 1, 1, 1, 1, 0, 0, 0, 0, 0},
        {16, 16, 33, 0, 16, 16, 1, 1, 0, 0, 0, 0, 1}, /* 256 taps */
    };
    /* fills 1, 2: the contract's extremes; 3 (all w = 2) and 4 (+1 with code
     * 3 among them): int16 sums of the SIMD kernels at their flush bound,
     * which a kernel that widened less often than the weights allow would
     * overflow. */
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; ++i) {
        for (int fill = 1; fill <= 4; ++fill) check_case(&gs[i], fill, CT_MAX_BIAS, 1, 1, &s);
    }
    /* K = 2^20 exactly: 1024 channels x 32 x 32, one output, all +1, x = 127:
     * 127 * 2^20 + 2^27 must come out exact. */
    const geom big = {32, 32, 1024, 2, 32, 32, 1, 1, 0, 0, 0, 0, 0};
    conv_case t;
    CT_CHECK(conv_make(&t, &big, 1, 0, &s));
    if (t.bias) {
        t.bias[0] = CT_MAX_BIAS;
        t.bias[1] = -CT_MAX_BIAS;
        const size_t n_in = (size_t)t.L.n_in;
        int8_t *x = malloc(n_in);
        if (x) memset(x, 127, n_in);
        const int64_t want[2] = {127LL * CT_MAX_INPUTS + CT_MAX_BIAS,
                                 127LL * CT_MAX_INPUTS - CT_MAX_BIAS};
        for (int32_t i = 0; x && i < ct_kernel_count(); ++i) {
            const char *name, *isa;
            int32_t fam, sup;
            (void)ct_kernel_info(i, &name, &fam, &isa, &sup);
            if (fam != CT_FAMILY_CONV2D || !sup) continue;
            CT_CHECK_EQ_I64(run_conv(i, &t, x, 1, want), 0);
            ++runs[i];
        }
        free(x);
    }
    conv_free(&t);
    report();
}

/* ct_conv_acc_mt with each kernel selected: the same bits for 1 .. 4 threads. */
CT_TEST(conv_threads_same_bits) {
    uint64_t s = ct_test_seed() ^ 0x7au;
    static const geom gs[] = {
        {24, 20, 16, 24, 3, 3, 1, 1, 1, 1, 1, 1, 0},
        {30, 30, 40, 0, 3, 3, 2, 1, 1, 1, 1, 1, 1},
    };
    for (size_t gi = 0; gi < 2; ++gi) {
        const int32_t batch = 3;
        conv_case t;
        CT_CHECK(conv_make(&t, &gs[gi], 0, 5000, &s));
        int8_t *x = random_x((int64_t)batch * t.L.n_in, &s);
        const int64_t n = (int64_t)batch * t.L.n_out;
        int32_t *want = malloc((size_t)n * sizeof(int32_t));
        int32_t *got = malloc((size_t)n * sizeof(int32_t));
        int64_t bytes = 0;
        CT_CHECK_EQ_I64(ct_layer_scratch_bytes(&t.L, batch, &bytes), CT_OK);
        uint8_t *mem = malloc((size_t)bytes);
        const int32_t family = gs[gi].depthwise ? CT_FAMILY_DWCONV2D : CT_FAMILY_CONV2D;
        if (x && want && got && mem && t.bias) {
            CT_CHECK_EQ_I64(ct_conv_acc_with(ref_of(family), &t.L, x, batch, want, mem, bytes),
                            CT_OK);
            for (int32_t i = 0; i < ct_kernel_count(); ++i) {
                const char *name, *isa;
                int32_t fam, sup;
                (void)ct_kernel_info(i, &name, &fam, &isa, &sup);
                if (fam != family || !sup) continue;
                CT_CHECK_EQ_I64(ct_kernel_select(family, i), CT_OK);
                for (int32_t threads = 1; threads <= 4; ++threads) {
                    memset(got, 0, (size_t)n * sizeof(int32_t));
                    CT_CHECK_EQ_I64(ct_conv_acc_mt(&t.L, x, batch, got, mem, bytes, threads),
                                    CT_OK);
                    CT_CHECK(memcmp(want, got, (size_t)n * sizeof(int32_t)) == 0);
                }
            }
            CT_CHECK_EQ_I64(ct_kernel_select(family, -1), CT_OK);
            CT_CHECK_EQ_I64(ct_conv_acc_mt(&t.L, x, batch, got, mem, bytes, -1), CT_E_RANGE);
            CT_CHECK_EQ_I64(ct_conv_acc_mt(&t.L, x, batch, got, mem, bytes, CT_MAX_THREADS + 1),
                            CT_E_RANGE);
        }
        free(x);
        free(want);
        free(got);
        free(mem);
        conv_free(&t);
    }
}

CT_TEST(conv_entry_point_errors) {
    uint64_t s = 3;
    const geom g = {5, 5, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0};
    conv_case t;
    CT_CHECK(conv_make(&t, &g, 0, 10, &s));
    int8_t x[2 * 75] = {0};
    int32_t acc[2 * 100];
    uint8_t mem[1 << 16];
    int64_t bytes = 0;
    const int32_t ref = ref_of(CT_FAMILY_CONV2D), dw_ref = ref_of(CT_FAMILY_DWCONV2D);
    CT_CHECK_EQ_I64(ct_layer_scratch_bytes(&t.L, 2, &bytes), CT_OK);
    CT_CHECK(bytes > 0 && bytes <= (int64_t)sizeof mem);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, &t.L, x, 2, acc, mem, bytes), CT_OK);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, &t.L, x, 2, acc, mem, bytes - 1), CT_E_SCRATCH);
    CT_CHECK_EQ_I64(ct_conv_acc_mt(&t.L, x, 2, acc, mem, bytes - 1, 1), CT_E_SCRATCH);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, &t.L, x, 2, acc, NULL, bytes), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, &t.L, NULL, 2, acc, mem, bytes), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, &t.L, x, 2, NULL, mem, bytes), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, NULL, x, 2, acc, mem, bytes), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, &t.L, x, 0, acc, mem, bytes), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_layer_scratch_bytes(&t.L, 0, &bytes), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_layer_scratch_bytes(&t.L, 1, NULL), CT_E_NULL);
    /* a kernel of another family, or not a kernel at all */
    CT_CHECK_EQ_I64(ct_conv_acc_with(dw_ref, &t.L, x, 2, acc, mem, bytes), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref_of(CT_FAMILY_GEMM), &t.L, x, 2, acc, mem, bytes),
                    CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_conv_acc_with(-1, &t.L, x, 2, acc, mem, bytes), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_conv_acc_with(ct_kernel_count(), &t.L, x, 2, acc, mem, bytes), CT_E_UNKNOWN);
    /* activations are 0 .. 127 */
    x[149] = -1;
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, &t.L, x, 2, acc, mem, bytes), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_conv_acc_mt(&t.L, x, 2, acc, mem, bytes, 0), CT_E_RANGE);
    x[149] = 0;
    /* a dense layer is not a convolution; its scratch is 0 */
    const ct_layer dense = {
        .n_in = 75, .n_out = 4, .shift = 3, .act_bits = 7, .w = t.packed, .bias = t.bias};
    CT_CHECK_EQ_I64(ct_conv_acc_with(ref, &dense, x, 2, acc, mem, bytes), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_layer_scratch_bytes(&dense, 2, &bytes), CT_OK);
    CT_CHECK_EQ_I64(bytes, 0);
    /* and a conv2d layer is not a dense one */
    CT_CHECK_EQ_I64(ct_dense_acc(&t.L, x, 128, 1, acc), CT_E_RANGE);
    conv_free(&t);
}
