/*
 * Every registered kernel against its family's reference and against an
 * independent int64 oracle, bit-exact, over sizes around the SIMD widths,
 * odd shapes, unaligned start addresses and the overflow boundaries.
 * Kernels this CPU cannot run are reported as skipped; under qemu-aarch64
 * with -cpu max and -cpu cortex-a53 both NEON dispatch paths run.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

/* 511..640 and 8, 17 rows: around the VNNI kernels' steps (4 blocks = 512
 * weights per row and step, tiles of 4 and 8 rows). */
static const int32_t K_SIZES[] = {1,   2,   3,   7,   8,   15,   16,   17,   31,   32,  33,
                                  63,  64,  65,  127, 128, 129,  255,  256,  257,  383, 511,
                                  512, 513, 639, 640, 641, 1023, 1024, 1025, 2047, 2049};
static const int32_t N_SIZES[] = {1, 3, 4, 5, 8, 9, 17};
static const int32_t B_SIZES[] = {1, 3, 4, 6};
enum { N_K = sizeof K_SIZES / sizeof K_SIZES[0] };

/* Our own T2 packer straight from the layout prose (docs/format.md): weight
 * (r, c) is bits 2*((c % 128) / 32) of byte r*rowbytes + (c/128)*32 + c%32.
 * Accepts w = 2 (code 3) so tests can reach the int16 bound of the kernels. */
static void pack_oracle(const int8_t *w, int32_t rows, int32_t k, uint8_t *out) {
    const int64_t rb = (int64_t)(k + 127) / 128 * 32;
    memset(out, 0, (size_t)(rb * rows));
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t c = 0; c < k; ++c) {
            const unsigned code = (unsigned)(w[(int64_t)r * k + c] + 1);
            out[r * rb + (c / 128) * 32 + c % 32] |= (uint8_t)(code << (2 * ((c % 128) / 32)));
        }
    }
}

/* Patterns: 0 random, 1 all +1 with x = 127, 2 all +1 with x = -128,
 * 3 all code 3 (w = 2) with x = -128, 4 random w with x in 0..127. */
enum { N_PATTERNS = 5 };

typedef struct problem {
    int32_t n, k, batch, x_stride, x_offset;
    int8_t *w;       /* n x k */
    uint8_t *packed; /* n x rowbytes */
    int32_t *bias;
    int8_t *xbuf;  /* x_offset + batch * x_stride bytes */
    int64_t *want; /* batch x n */
} problem;

static void make_problem(problem *p, int32_t n, int32_t k, int32_t batch, int pattern,
                         uint64_t *rng) {
    const int32_t kp = ct_t2_padded_k(k);
    p->n = n;
    p->k = k;
    p->batch = batch;
    p->x_stride = kp + (int32_t)(ct_test_rand(rng) % 3) * 7; /* >= padded k, often odd */
    p->x_offset = (int32_t)(ct_test_rand(rng) % 32);         /* unaligned starts */
    p->w = malloc((size_t)n * (size_t)k);
    p->packed = malloc((size_t)ct_t2_packed_bytes(n, k));
    p->bias = malloc(sizeof(int32_t) * (size_t)n);
    p->xbuf = calloc((size_t)(p->x_offset + (int64_t)batch * p->x_stride), 1);
    p->want = malloc(sizeof(int64_t) * (size_t)n * (size_t)batch);
    for (int64_t i = 0; i < (int64_t)n * k; ++i) {
        const int8_t r = (int8_t)((int)(ct_test_rand(rng) % 3) - 1);
        p->w[i] = pattern == 1 || pattern == 2 ? 1 : pattern == 3 ? 2 : r;
    }
    for (int32_t j = 0; j < n; ++j) {
        p->bias[j] = (int32_t)(ct_test_rand(rng) % (2u * CT_MAX_BIAS + 1u)) - CT_MAX_BIAS;
    }
    int8_t *x = p->xbuf + p->x_offset;
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t i = 0; i < k; ++i) {
            int8_t v = (int8_t)(ct_test_rand(rng) & 0xFF);
            if (pattern == 1) v = 127;
            if (pattern == 2 || pattern == 3) v = -128;
            if (pattern == 4) v = (int8_t)(ct_test_rand(rng) % 128);
            x[(int64_t)b * p->x_stride + i] = v; /* padding stays zero */
        }
    }
    pack_oracle(p->w, n, k, p->packed);
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t j = 0; j < n; ++j) {
            int64_t s = p->bias[j];
            for (int32_t i = 0; i < k; ++i) {
                s += (int64_t)p->w[(int64_t)j * k + i] * x[(int64_t)b * p->x_stride + i];
            }
            p->want[(int64_t)b * n + j] = s;
        }
    }
}

static void free_problem(problem *p) {
    free(p->w);
    free(p->packed);
    free(p->bias);
    free(p->xbuf);
    free(p->want);
}

/* Runs kernel i on p; returns the number of mismatching outputs (or -1 if
 * the call failed). */
static int64_t run_kernel(int32_t i, const problem *p) {
    const ct_layer L = {.n_in = p->k,
                        .n_out = p->n,
                        .shift = CT_SHIFT_OUTPUT,
                        .act_bits = CT_ACT_BITS_OUTPUT,
                        .w = p->packed,
                        .bias = p->bias};
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)p->n * (size_t)p->batch);
    int64_t bad = 0;
    if (ct_dense_acc_with(i, &L, p->xbuf + p->x_offset, p->x_stride, p->batch, acc) != CT_OK) {
        bad = -1;
    } else {
        for (int64_t t = 0; t < (int64_t)p->n * p->batch; ++t) bad += acc[t] != p->want[t];
    }
    free(acc);
    return bad;
}

static int is_mm(int32_t family) {
    return family == CT_FAMILY_GEMM || family == CT_FAMILY_GEMV;
}

CT_TEST(kernels_mm_every_kernel_matches_oracle) {
    uint64_t rng = ct_test_seed();
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t family, supported;
        CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
        if (!is_mm(family)) continue;
        if (!supported) {
            printf("  skip %s: this CPU lacks %s\n", name, isa);
            continue;
        }
        int64_t cases = 0, failures = 0;
        for (int kk = 0; kk < N_K; ++kk) {
            for (size_t nn = 0; nn < sizeof N_SIZES / sizeof N_SIZES[0]; ++nn) {
                for (size_t bb = 0; bb < sizeof B_SIZES / sizeof B_SIZES[0]; ++bb) {
                    const int pattern = (int)(ct_test_rand(&rng) % N_PATTERNS);
                    problem p;
                    make_problem(&p, N_SIZES[nn], K_SIZES[kk], B_SIZES[bb], pattern, &rng);
                    const int64_t bad = run_kernel(i, &p);
                    if (bad != 0) {
                        ++failures;
                        printf("  %s n=%d k=%d batch=%d pattern=%d: %lld wrong\n", name, p.n, p.k,
                               p.batch, pattern, (long long)bad);
                    }
                    ++cases;
                    free_problem(&p);
                }
            }
        }
        printf("  %s: %lld cases\n", name, (long long)cases);
        CT_CHECK_EQ_I64(failures, 0);
    }
}

/* The int16 flush bound at its worst (code 3 with x = -128, all +1 with
 * x = 127) over long rows, and the contract's largest k. */
CT_TEST(kernels_mm_overflow_boundaries) {
    uint64_t rng = ct_test_seed() + 1;
    const int32_t ks[] = {1024, 1152, 4096 + 5, CT_MAX_INPUTS};
    for (size_t kk = 0; kk < sizeof ks / sizeof ks[0]; ++kk) {
        for (int pattern = 1; pattern <= 3; ++pattern) {
            problem p;
            make_problem(&p, 5, ks[kk], 5, pattern, &rng);
            for (int32_t i = 0; i < ct_kernel_count(); ++i) {
                const char *name, *isa;
                int32_t family, supported;
                CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
                if (!is_mm(family) || !supported) continue;
                const int64_t bad = run_kernel(i, &p);
                if (bad != 0) printf("  %s k=%d pattern=%d\n", name, p.k, pattern);
                CT_CHECK_EQ_I64(bad, 0);
            }
            free_problem(&p);
        }
    }
}

/* The VNNI GEMV kernels walk ct_gemv_streams() rows at once (1, 2, 4, 8);
 * every count must give the oracle's bits, for every mm kernel (GEMM sends
 * leftover columns through its GEMV driver). Row counts around each count. */
CT_TEST(kernels_mm_every_stream_count) {
    uint64_t rng = ct_test_seed() + 2;
    const int32_t before = ct_get_gemv_streams();
    const int32_t counts[] = {1, 2, 4, 8};
    const int32_t ns[] = {1, 2, 3, 7, 8, 9, 15, 17};
    const int32_t ks[] = {100, 511, 640, 1025};
    CT_CHECK(ct_set_gemv_streams(3) == CT_E_RANGE);
    CT_CHECK(ct_set_gemv_streams(0) == CT_E_RANGE);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; ++c) {
        CT_CHECK(ct_set_gemv_streams(counts[c]) == CT_OK);
        CT_CHECK_EQ_I64(ct_get_gemv_streams(), counts[c]);
        for (size_t nn = 0; nn < sizeof ns / sizeof ns[0]; ++nn) {
            for (size_t kk = 0; kk < sizeof ks / sizeof ks[0]; ++kk) {
                problem p;
                make_problem(&p, ns[nn], ks[kk], 1 + (int32_t)(ct_test_rand(&rng) % 6),
                             (int)(ct_test_rand(&rng) % N_PATTERNS), &rng);
                for (int32_t i = 0; i < ct_kernel_count(); ++i) {
                    const char *name, *isa;
                    int32_t family, supported;
                    CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
                    if (!is_mm(family) || !supported) continue;
                    const int64_t bad = run_kernel(i, &p);
                    if (bad != 0) {
                        printf("  %s streams=%d n=%d k=%d batch=%d\n", name, counts[c], p.n, p.k,
                               p.batch);
                    }
                    CT_CHECK_EQ_I64(bad, 0);
                }
                free_problem(&p);
            }
        }
    }
    CT_CHECK(ct_set_gemv_streams(before) == CT_OK);
}

/* The read ceiling: positive bandwidths, the best count is the fastest, and
 * the multi-stream read folds the same bytes as the plain one (no timing
 * thresholds). */
CT_TEST(kernels_read_ceiling_is_sane) {
    double gbs[4] = {0, 0, 0, 0};
    int32_t best = 0;
    CT_CHECK(ct_read_ceiling(1 << 20, 2, gbs, &best) == CT_OK);
    const int32_t counts[] = {1, 2, 4, 8};
    int at = -1;
    for (int c = 0; c < 4; ++c) {
        CT_CHECK(gbs[c] > 0.0);
        if (counts[c] == best) at = c;
    }
    CT_CHECK(at >= 0);
    for (int c = 0; c < 4 && at >= 0; ++c) CT_CHECK(gbs[at] >= gbs[c]);
    CT_CHECK(ct_read_ceiling(100, 1, gbs, &best) == CT_E_SHAPE);
    CT_CHECK(ct_read_ceiling(1 << 20, 1, NULL, &best) == CT_E_NULL);
    uint8_t buf[4096 + 77];
    for (size_t i = 0; i < sizeof buf; ++i) buf[i] = (uint8_t)(i * 37 + 5);
    const int64_t lens[] = {0, 1, 127, 128, 1000, 4096, (int64_t)sizeof buf};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; ++l) {
        uint64_t want = 0, got = 1;
        CT_CHECK(ct_read_bytes(buf, lens[l], &want) == CT_OK);
        for (int c = 0; c < 4; ++c) {
            CT_CHECK(ct_read_streams(buf, lens[l], counts[c], &got) == CT_OK);
            CT_CHECK(got == want);
        }
    }
    uint64_t v = 0;
    CT_CHECK(ct_read_streams(buf, 10, 3, &v) == CT_E_RANGE);
}
