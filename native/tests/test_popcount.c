/*
 * The popcount kernels (docs/kernels.md, "Popcount kernels"): every
 * registered BP_PACK kernel against the reference planes and every TM_BP_MM
 * kernel against an int64 oracle of int8 weights times activations, bit
 * exact, at 1, 2 and 4 bits, over sizes around 64, 256 and 512 bits, odd
 * shapes and unaligned starts; the int8 flush bounds; the statuses of bad
 * inputs; and whole networks whose logits are the same with and without
 * masks. Kernels this CPU lacks are reported as skipped; under qemu-aarch64
 * the NEON kernels run.
 */
#include <stdlib.h>
#include <string.h>

#include "conntra.h"
#include "ct_test.h"

static const int32_t K_SIZES[] = {1,   2,   31,  63,  64,  65,  127,  128,  129,  255,  256,
                                  257, 383, 511, 512, 513, 767, 1023, 1024, 1025, 2047, 2049};
static const int32_t N_SIZES[] = {1, 3, 4, 5, 9};
static const int32_t B_SIZES[] = {1, 3, 4, 5, 9};
static const int32_t BITS[] = {1, 2, 4};

/* Patterns: 0 random weights and values; 1 all +1 with the top value; 2 all
 * -1 with the top value (the int8 lanes at their bounds); 3 random weights,
 * values 0 or the top. */
enum { N_PATTERNS = 4 };

typedef struct problem {
    int32_t n, k, batch, bits, x_stride, x_offset;
    int8_t *w;
    uint8_t *packed;
    uint64_t *masks;
    int32_t *bias;
    int8_t *xbuf;
    uint64_t *planes;
    int64_t plane_words;
    int64_t *want;
} problem;

static int make_problem(problem *p, int32_t n, int32_t k, int32_t batch, int32_t bits, int pattern,
                        uint64_t *rng) {
    const int32_t top = (1 << bits) - 1;
    memset(p, 0, sizeof *p);
    p->n = n;
    p->k = k;
    p->batch = batch;
    p->bits = bits;
    p->x_stride = k + (int32_t)(ct_test_rand(rng) % 5) * 3; /* often odd */
    p->x_offset = (int32_t)(ct_test_rand(rng) % 32);        /* unaligned starts */
    int64_t mask_words = 0;
    if (ct_tm_words(n, k, &mask_words) != CT_OK) return 0;
    if (ct_bp_words(batch, k, bits, &p->plane_words) != CT_OK) return 0;
    p->w = malloc((size_t)n * (size_t)k);
    p->packed = malloc((size_t)ct_t2_packed_bytes(n, k));
    p->masks = malloc(sizeof(uint64_t) * (size_t)mask_words);
    p->bias = malloc(sizeof(int32_t) * (size_t)n);
    p->xbuf = calloc((size_t)(p->x_offset + (int64_t)batch * p->x_stride), 1);
    p->planes = malloc(sizeof(uint64_t) * (size_t)p->plane_words);
    p->want = malloc(sizeof(int64_t) * (size_t)n * (size_t)batch);
    if (!p->w || !p->packed || !p->masks || !p->bias || !p->xbuf || !p->planes || !p->want) {
        return 0;
    }
    for (int64_t i = 0; i < (int64_t)n * k; ++i) {
        const int8_t r = (int8_t)((int)(ct_test_rand(rng) % 3) - 1);
        p->w[i] = pattern == 1 ? 1 : pattern == 2 ? -1 : r;
    }
    for (int32_t j = 0; j < n; ++j) {
        p->bias[j] = (int32_t)(ct_test_rand(rng) % (2u * CT_MAX_BIAS + 1u)) - CT_MAX_BIAS;
    }
    int8_t *x = p->xbuf + p->x_offset;
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t i = 0; i < k; ++i) {
            int32_t v = (int32_t)(ct_test_rand(rng) % (uint64_t)(top + 1));
            if (pattern == 1 || pattern == 2) v = top;
            if (pattern == 3) v = (ct_test_rand(rng) & 1) ? top : 0;
            x[(int64_t)b * p->x_stride + i] = (int8_t)v;
        }
        /* the row's stride padding holds garbage: the planes must not read it */
        for (int32_t i = k; i < p->x_stride; ++i) x[(int64_t)b * p->x_stride + i] = 127;
    }
    if (ct_t2_pack(p->w, n, k, p->packed, ct_t2_packed_bytes(n, k)) != CT_OK) return 0;
    if (ct_tm_pack(p->packed, n, k, p->masks, mask_words) != CT_OK) return 0;
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t j = 0; j < n; ++j) {
            int64_t s = p->bias[j];
            for (int32_t i = 0; i < k; ++i) {
                s += (int64_t)p->w[(int64_t)j * k + i] * x[(int64_t)b * p->x_stride + i];
            }
            p->want[(int64_t)b * n + j] = s;
        }
    }
    return 1;
}

static void free_problem(problem *p) {
    free(p->w);
    free(p->packed);
    free(p->masks);
    free(p->bias);
    free(p->xbuf);
    free(p->planes);
    free(p->want);
}

static ct_layer layer_of(const problem *p) {
    const ct_layer L = {.n_in = p->k,
                        .n_out = p->n,
                        .shift = CT_SHIFT_OUTPUT,
                        .act_bits = CT_ACT_BITS_OUTPUT,
                        .w = p->packed,
                        .bias = p->bias,
                        .pc_w = p->masks};
    return L;
}

/* Index of the ref kernel of a family. */
static int32_t ref_of(int32_t family) {
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t f, supported;
        if (ct_kernel_info(i, &name, &f, &isa, &supported) == CT_OK && f == family &&
            strcmp(isa, "ref") == 0) {
            return i;
        }
    }
    return -1;
}

/* Planes with pack kernel `pk`, then sums with mm kernel `mk`: the number
 * of outputs that differ from the oracle (-1 if a call failed). */
static int64_t run(const problem *p, int32_t pk, int32_t mk) {
    if (ct_bp_pack_with(pk, p->xbuf + p->x_offset, p->x_stride, p->batch, p->k, p->bits, p->planes,
                        p->plane_words) != CT_OK) {
        return -1;
    }
    const ct_layer L = layer_of(p);
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)p->n * (size_t)p->batch);
    int64_t bad = 0;
    if (!acc || ct_pc_dense_acc_with(mk, &L, p->planes, p->bits, p->batch, acc) != CT_OK) {
        bad = -1;
    } else {
        for (int64_t t = 0; t < (int64_t)p->n * p->batch; ++t) bad += acc[t] != p->want[t];
    }
    free(acc);
    return bad;
}

CT_TEST(popcount_every_kernel_matches_oracle) {
    uint64_t rng = ct_test_seed();
    const int32_t pack_ref = ref_of(CT_FAMILY_BP_PACK), mm_ref = ref_of(CT_FAMILY_TM_BP_MM);
    CT_CHECK(pack_ref >= 0 && mm_ref >= 0);
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t family, supported;
        CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
        if (family != CT_FAMILY_BP_PACK && family != CT_FAMILY_TM_BP_MM) continue;
        if (!supported) {
            printf("  skip %s: this CPU lacks %s\n", name, isa);
            continue;
        }
        int64_t cases = 0, failures = 0;
        for (size_t kk = 0; kk < sizeof K_SIZES / sizeof K_SIZES[0]; ++kk) {
            for (size_t nn = 0; nn < sizeof N_SIZES / sizeof N_SIZES[0]; ++nn) {
                for (size_t bb = 0; bb < sizeof B_SIZES / sizeof B_SIZES[0]; ++bb) {
                    const int32_t bits = BITS[(kk + nn + bb) % 3];
                    const int pattern = (int)(ct_test_rand(&rng) % N_PATTERNS);
                    problem p;
                    if (!make_problem(&p, N_SIZES[nn], K_SIZES[kk], B_SIZES[bb], bits, pattern,
                                      &rng)) {
                        ++failures;
                        free_problem(&p);
                        continue;
                    }
                    int64_t bad;
                    if (family == CT_FAMILY_BP_PACK) {
                        /* the same planes as the ref packer, then right sums */
                        uint64_t *want = malloc(sizeof(uint64_t) * (size_t)p.plane_words);
                        bad = want ? 0 : -1;
                        if (want) {
                            CT_CHECK_EQ_I64(
                                ct_bp_pack_with(pack_ref, p.xbuf + p.x_offset, p.x_stride, p.batch,
                                                p.k, p.bits, want, p.plane_words),
                                CT_OK);
                            bad = run(&p, i, mm_ref);
                            if (bad == 0 &&
                                memcmp(want, p.planes, sizeof(uint64_t) * (size_t)p.plane_words)) {
                                bad = 1;
                            }
                        }
                        free(want);
                    } else {
                        bad = run(&p, pack_ref, i);
                    }
                    if (bad != 0) {
                        ++failures;
                        printf("  %s n=%d k=%d batch=%d bits=%d pattern=%d: %lld wrong\n", name,
                               p.n, p.k, p.batch, bits, pattern, (long long)bad);
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

/* Long rows of all +1 or all -1 with every value at the top: each SIMD
 * kernel's int8 lanes reach their bound between flushes, so a longer flush
 * interval fails here; up to the contract's largest k. */
CT_TEST(popcount_flush_bounds_and_longest_rows) {
    uint64_t rng = ct_test_seed() + 1;
    const int32_t ks[] = {7 * 256, 15 * 256, 15 * 256 + 1, 16 * 512 + 100, 70000, CT_MAX_INPUTS};
    const int32_t pack_ref = ref_of(CT_FAMILY_BP_PACK);
    for (size_t kk = 0; kk < sizeof ks / sizeof ks[0]; ++kk) {
        for (int pattern = 1; pattern <= 2; ++pattern) {
            const int32_t bits = BITS[(kk + (size_t)pattern) % 3];
            problem p;
            CT_CHECK(make_problem(&p, 3, ks[kk], 5, bits, pattern, &rng));
            for (int32_t i = 0; i < ct_kernel_count(); ++i) {
                const char *name, *isa;
                int32_t family, supported;
                CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
                if (family != CT_FAMILY_TM_BP_MM || !supported) continue;
                const int64_t bad = run(&p, pack_ref, i);
                if (bad != 0) printf("  %s k=%d bits=%d pattern=%d\n", name, p.k, bits, pattern);
                CT_CHECK_EQ_I64(bad, 0);
            }
            free_problem(&p);
        }
    }
}

CT_TEST(popcount_bad_inputs_get_a_status) {
    uint64_t rng = ct_test_seed() + 2;
    problem p;
    CT_CHECK(make_problem(&p, 3, 100, 2, 2, 0, &rng));
    const int32_t pk = ref_of(CT_FAMILY_BP_PACK), mk = ref_of(CT_FAMILY_TM_BP_MM);
    int64_t words = 0;
    const int8_t *x = p.xbuf + p.x_offset;
    /* sizes */
    CT_CHECK_EQ_I64(ct_tm_words(3, 100, NULL), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_tm_words(0, 100, &words), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_tm_words(3, CT_MAX_INPUTS + 1, &words), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_tm_words(3, 513, &words), CT_OK);
    CT_CHECK_EQ_I64(words, 3 * 3 * 8);
    CT_CHECK_EQ_I64(ct_bp_words(2, 100, 3, &words), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_bp_words(2, 100, 7, &words), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_bp_words(0, 100, 2, &words), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_bp_words(2, 0, 2, &words), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_bp_words(2, 1025, 4, &words), CT_OK);
    CT_CHECK_EQ_I64(words, 2 * 4 * 5 * 4);
    /* mask packing */
    CT_CHECK_EQ_I64(ct_tm_pack(NULL, 3, 100, p.masks, 24), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_tm_pack(p.packed, 3, 100, NULL, 48), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_tm_pack(p.packed, 3, 100, p.masks, 23), CT_E_SCRATCH);
    CT_CHECK_EQ_I64(ct_tm_pack(p.packed, -1, 100, p.masks, 24), CT_E_SHAPE);
    uint8_t *code3 = malloc((size_t)ct_t2_packed_bytes(3, 100));
    memcpy(code3, p.packed, (size_t)ct_t2_packed_bytes(3, 100));
    code3[32 + 5] |= 3; /* row 1, weight 5: code 3 */
    CT_CHECK_EQ_I64(ct_tm_pack(code3, 3, 100, p.masks, 24), CT_E_CODE);
    memcpy(code3, p.packed, (size_t)ct_t2_packed_bytes(3, 100));
    code3[32 + 31] |= 3 << 6; /* row 1, weight 127: padding, ignored */
    CT_CHECK_EQ_I64(ct_tm_pack(code3, 3, 100, p.masks, 24), CT_OK);
    free(code3);
    CT_CHECK_EQ_I64(ct_tm_pack(p.packed, 3, 100, p.masks, 24), CT_OK);
    /* planes */
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t family, supported;
        CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
        if (family != CT_FAMILY_BP_PACK || !supported) continue;
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, NULL, p.x_stride, 2, 100, 2, p.planes, 16), CT_E_NULL);
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, x, p.x_stride, 2, 100, 2, NULL, 16), CT_E_NULL);
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, x, p.x_stride, 2, 100, 3, p.planes, 16), CT_E_RANGE);
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, x, p.x_stride, 2, 100, 2, p.planes, 15), CT_E_SCRATCH);
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, x, 99, 2, 100, 2, p.planes, 16), CT_E_SHAPE);
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, x, p.x_stride, 2, 100, 2, p.planes, 16), CT_OK);
        /* values of 2 bits read as 1 bit: out of range (unless all are 0, 1) */
        int8_t bad[3] = {0, 1, 2};
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, bad, 3, 1, 3, 1, p.planes, 16), CT_E_RANGE);
        bad[2] = 16;
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, bad, 3, 1, 3, 4, p.planes, 16), CT_E_RANGE);
        bad[2] = -1;
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, bad, 3, 1, 3, 4, p.planes, 16), CT_E_RANGE);
        bad[2] = 15;
        CT_CHECK_EQ_I64(ct_bp_pack_with(i, bad, 3, 1, 3, 4, p.planes, 16), CT_OK);
    }
    CT_CHECK_EQ_I64(ct_bp_pack_with(mk, x, p.x_stride, 2, 100, 2, p.planes, 16), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_bp_pack(x, p.x_stride, 2, 100, 2, p.planes, 16), CT_OK);
    /* sums */
    int32_t acc[6];
    ct_layer L = layer_of(&p);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(pk, &L, p.planes, 2, 2, acc), CT_E_UNKNOWN);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(mk, NULL, p.planes, 2, 2, acc), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(mk, &L, NULL, 2, 2, acc), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(mk, &L, p.planes, 2, 2, NULL), CT_E_NULL);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(mk, &L, p.planes, 7, 2, acc), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(mk, &L, p.planes, 0, 2, acc), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(mk, &L, p.planes, 2, 0, acc), CT_E_SHAPE);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_mt(&L, p.planes, 2, 2, acc, -1), CT_E_RANGE);
    CT_CHECK_EQ_I64(ct_pc_dense_acc_mt(&L, p.planes, 2, 2, acc, 0), CT_OK);
    for (int t = 0; t < 6; ++t) CT_CHECK_EQ_I64(acc[t], p.want[t]);
    L.pc_w = NULL;
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(mk, &L, p.planes, 2, 2, acc), CT_E_NULL);
    L = layer_of(&p);
    L.kind = CT_LAYER_FLATTEN;
    CT_CHECK_EQ_I64(ct_pc_dense_acc_with(mk, &L, p.planes, 2, 2, acc), CT_E_RANGE);
    free_problem(&p);
}

/* A network 300 -> h1 -> h2 -> 10 with hidden activations of `bits` bits:
 * logits with masks on the layers after the first equal those without,
 * for batches on the GEMV and GEMM paths, on 1 and 3 threads. */
CT_TEST(popcount_network_same_logits_with_and_without_masks) {
    uint64_t rng = ct_test_seed() + 3;
    const int32_t sizes[4] = {300, 257, 100, 10};
    for (size_t bi = 0; bi < 3; ++bi) {
        const int32_t bits = BITS[bi];
        uint8_t *packed[3];
        uint64_t *masks[3];
        int32_t *bias[3];
        ct_layer plain[3], pc[3];
        for (int l = 0; l < 3; ++l) {
            const int32_t k = sizes[l], n = sizes[l + 1];
            int8_t *w = malloc((size_t)n * (size_t)k);
            for (int64_t i = 0; i < (int64_t)n * k; ++i) {
                w[i] = (int8_t)((int)(ct_test_rand(&rng) % 3) - 1);
            }
            packed[l] = malloc((size_t)ct_t2_packed_bytes(n, k));
            CT_CHECK_EQ_I64(ct_t2_pack(w, n, k, packed[l], ct_t2_packed_bytes(n, k)), CT_OK);
            free(w);
            int64_t words = 0;
            CT_CHECK_EQ_I64(ct_tm_words(n, k, &words), CT_OK);
            masks[l] = malloc(sizeof(uint64_t) * (size_t)words);
            CT_CHECK_EQ_I64(ct_tm_pack(packed[l], n, k, masks[l], words), CT_OK);
            bias[l] = malloc(sizeof(int32_t) * (size_t)n);
            for (int32_t j = 0; j < n; ++j) bias[l][j] = (int32_t)(ct_test_rand(&rng) % 41) - 20;
            const int last = l == 2;
            const ct_layer L = {.n_in = k,
                                .n_out = n,
                                .shift = last ? CT_SHIFT_OUTPUT : (l == 0 ? 5 : 2),
                                .act_bits = last ? CT_ACT_BITS_OUTPUT : bits,
                                .w = packed[l],
                                .bias = bias[l]};
            plain[l] = L;
            pc[l] = L;
            pc[l].pc_w = masks[l]; /* on the first layer it is ignored */
        }
        const int32_t batches[] = {1, 3, 4, 11};
        for (size_t bb = 0; bb < 4; ++bb) {
            const int32_t batch = batches[bb];
            int8_t *x = malloc((size_t)batch * 300);
            for (int32_t i = 0; i < batch * 300; ++i) x[i] = (int8_t)(ct_test_rand(&rng) % 128);
            int64_t need_plain = 0, need_pc = 0;
            CT_CHECK_EQ_I64(ct_net_scratch_bytes(plain, 3, batch, &need_plain), CT_OK);
            CT_CHECK_EQ_I64(ct_net_scratch_bytes(pc, 3, batch, &need_pc), CT_OK);
            CT_CHECK(need_pc > need_plain); /* the planes */
            void *scratch = malloc((size_t)need_pc);
            int32_t *want = malloc(sizeof(int32_t) * (size_t)batch * 10);
            int32_t *got = malloc(sizeof(int32_t) * (size_t)batch * 10);
            CT_CHECK_EQ_I64(ct_net_forward(plain, 3, x, batch, want, scratch, need_plain), CT_OK);
            CT_CHECK_EQ_I64(ct_net_forward(pc, 3, x, batch, got, scratch, need_pc - 1),
                            CT_E_SCRATCH);
            for (int32_t threads = 1; threads <= 3; threads += 2) {
                CT_CHECK_EQ_I64(ct_set_num_threads(threads), CT_OK);
                memset(got, 0, sizeof(int32_t) * (size_t)batch * 10);
                CT_CHECK_EQ_I64(ct_net_forward(pc, 3, x, batch, got, scratch, need_pc), CT_OK);
                CT_CHECK(memcmp(want, got, sizeof(int32_t) * (size_t)batch * 10) == 0);
            }
            CT_CHECK_EQ_I64(ct_set_num_threads(0), CT_OK);
            free(x);
            free(scratch);
            free(want);
            free(got);
        }
        for (int l = 0; l < 3; ++l) {
            free(packed[l]);
            free(masks[l]);
            free(bias[l]);
        }
    }
}

/* Random T2 weights (rows x k) with their masks and biases in [-20, 20]. */
static void random_params(int32_t rows, int32_t k, uint64_t *rng, uint8_t **packed,
                          uint64_t **masks, int32_t **bias) {
    int8_t *w = malloc((size_t)rows * (size_t)k);
    for (int64_t i = 0; i < (int64_t)rows * k; ++i) {
        w[i] = (int8_t)((int)(ct_test_rand(rng) % 3) - 1);
    }
    *packed = malloc((size_t)ct_t2_packed_bytes(rows, k));
    CT_CHECK_EQ_I64(ct_t2_pack(w, rows, k, *packed, ct_t2_packed_bytes(rows, k)), CT_OK);
    free(w);
    int64_t words = 0;
    CT_CHECK_EQ_I64(ct_tm_words(rows, k, &words), CT_OK);
    *masks = malloc(sizeof(uint64_t) * (size_t)words);
    CT_CHECK_EQ_I64(ct_tm_pack(*packed, rows, k, *masks, words), CT_OK);
    *bias = malloc(sizeof(int32_t) * (size_t)rows);
    for (int32_t j = 0; j < rows; ++j) (*bias)[j] = (int32_t)(ct_test_rand(rng) % 41) - 20;
}

/* conv 10x9x3 -> 32 (3x3, pad 1; reads the 7-bit input: never popcount) ->
 * conv 32 -> 6 (3x3, strides 2 and 1, asymmetric padding, K = 288 > 256:
 * two chunks) -> flatten -> dense 240 -> 10, hidden layers at `bits` bits:
 * the same logits with masks on every layer as without. */
CT_TEST(popcount_conv_network_same_logits_with_and_without_masks) {
    uint64_t rng = ct_test_seed() + 4;
    for (size_t bi = 0; bi < 3; ++bi) {
        const int32_t bits = BITS[bi];
        uint8_t *packed[3];
        uint64_t *masks[3];
        int32_t *bias[3];
        random_params(32, 27, &rng, &packed[0], &masks[0], &bias[0]);
        random_params(6, 288, &rng, &packed[1], &masks[1], &bias[1]);
        random_params(10, 240, &rng, &packed[2], &masks[2], &bias[2]);
        ct_layer plain[4] = {{0}};
        plain[0] = (ct_layer){.kind = CT_LAYER_CONV2D,
                              .n_in = 270,
                              .n_out = 2880,
                              .shift = 4,
                              .act_bits = bits,
                              .w = packed[0],
                              .bias = bias[0],
                              .in_h = 10,
                              .in_w = 9,
                              .in_c = 3,
                              .out_c = 32,
                              .kh = 3,
                              .kw = 3,
                              .stride_h = 1,
                              .stride_w = 1,
                              .pad_top = 1,
                              .pad_bottom = 1,
                              .pad_left = 1,
                              .pad_right = 1,
                              .groups = 1};
        plain[1] = (ct_layer){.kind = CT_LAYER_CONV2D,
                              .n_in = 2880,
                              .n_out = 240,
                              .shift = 2,
                              .act_bits = bits,
                              .w = packed[1],
                              .bias = bias[1],
                              .in_h = 10,
                              .in_w = 9,
                              .in_c = 32,
                              .out_c = 6,
                              .kh = 3,
                              .kw = 3,
                              .stride_h = 2,
                              .stride_w = 1,
                              .pad_top = 1,
                              .pad_bottom = 0,
                              .pad_left = 0,
                              .pad_right = 1,
                              .groups = 1};
        plain[2] = (ct_layer){
            .kind = CT_LAYER_FLATTEN, .n_in = 240, .n_out = 240, .in_h = 5, .in_w = 8, .in_c = 6};
        plain[3] = (ct_layer){.n_in = 240,
                              .n_out = 10,
                              .shift = CT_SHIFT_OUTPUT,
                              .act_bits = CT_ACT_BITS_OUTPUT,
                              .w = packed[2],
                              .bias = bias[2]};
        ct_layer pc[4];
        memcpy(pc, plain, sizeof pc);
        pc[0].pc_w = masks[0]; /* reads the input: ignored */
        pc[1].pc_w = masks[1];
        pc[3].pc_w = masks[2];
        CT_CHECK_EQ_I64(ct_net_check(pc, 4), CT_OK);
        const int32_t batch = 3;
        int8_t x[3 * 270];
        for (int32_t i = 0; i < 3 * 270; ++i) x[i] = (int8_t)(ct_test_rand(&rng) % 128);
        int64_t need_plain = 0, need_pc = 0;
        CT_CHECK_EQ_I64(ct_net_scratch_bytes(plain, 4, batch, &need_plain), CT_OK);
        CT_CHECK_EQ_I64(ct_net_scratch_bytes(pc, 4, batch, &need_pc), CT_OK);
        void *scratch = malloc((size_t)need_pc);
        int32_t want[30], got[30];
        CT_CHECK_EQ_I64(ct_net_forward(plain, 4, x, batch, want, scratch, need_plain), CT_OK);
        CT_CHECK_EQ_I64(ct_net_forward(pc, 4, x, batch, got, scratch, need_pc), CT_OK);
        CT_CHECK(memcmp(want, got, sizeof want) == 0);
        /* one sample at a time: the GEMV path of the kernels */
        for (int32_t b = 0; b < batch; ++b) {
            CT_CHECK_EQ_I64(ct_net_forward(pc, 4, x + b * 270, 1, got, scratch, need_pc), CT_OK);
            CT_CHECK(memcmp(want + b * 10, got, 10 * sizeof(int32_t)) == 0);
        }
        free(scratch);
        for (int l = 0; l < 3; ++l) {
            free(packed[l]);
            free(masks[l]);
            free(bias[l]);
        }
    }
}

/* Every TM_PACK kernel gives the reference's masks for every length 1 .. 600
 * and a few long rows; a code 3 among the weights is CT_E_CODE for each, a
 * code 3 in the padding of the last block is ignored. */
CT_TEST(popcount_mask_packers_match_reference) {
    uint64_t rng = ct_test_seed() + 5;
    const int32_t ref = ref_of(CT_FAMILY_TM_PACK);
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t family, supported;
        CT_CHECK(ct_kernel_info(i, &name, &family, &isa, &supported) == CT_OK);
        if (family != CT_FAMILY_TM_PACK) continue;
        if (!supported) {
            printf("  skip %s: this CPU lacks %s\n", name, isa);
            continue;
        }
        int64_t cases = 0, failures = 0;
        for (int32_t k = 1; k <= 700; k += k < 600 ? 1 : 37) {
            const int32_t rows = 1 + (int32_t)(ct_test_rand(&rng) % 3);
            const int64_t bytes = ct_t2_packed_bytes(rows, k);
            int64_t words = 0;
            CT_CHECK_EQ_I64(ct_tm_words(rows, k, &words), CT_OK);
            uint8_t *t2 = malloc((size_t)bytes);
            uint64_t *want = malloc(sizeof(uint64_t) * (size_t)words);
            uint64_t *got = malloc(sizeof(uint64_t) * (size_t)words);
            /* random codes 0..2 for the weights, anything (3 included) in the padding */
            for (int64_t j = 0; j < bytes; ++j) t2[j] = (uint8_t)ct_test_rand(&rng);
            for (int32_t r = 0; r < rows; ++r) {
                for (int32_t c = 0; c < k; ++c) {
                    const int64_t at = (int64_t)r * (bytes / rows) + (c / 128) * 32 + c % 32;
                    const unsigned sh = (unsigned)(2 * ((c % 128) / 32));
                    const unsigned code = (unsigned)(ct_test_rand(&rng) % 3);
                    t2[at] = (uint8_t)((t2[at] & ~(3u << sh)) | (code << sh));
                }
            }
            CT_CHECK_EQ_I64(ct_tm_pack_with(ref, t2, rows, k, want, words), CT_OK);
            const ct_status st = ct_tm_pack_with(i, t2, rows, k, got, words);
            if (st != CT_OK || memcmp(want, got, sizeof(uint64_t) * (size_t)words) != 0) {
                ++failures;
                printf("  %s rows=%d k=%d: status %d or masks differ\n", name, rows, k, (int)st);
            }
            /* a code 3 on one real weight of the last row */
            const int32_t c = (int32_t)(ct_test_rand(&rng) % (uint64_t)k);
            t2[(int64_t)(rows - 1) * (bytes / rows) + (c / 128) * 32 + c % 32] |=
                (uint8_t)(3u << (2 * ((c % 128) / 32)));
            CT_CHECK_EQ_I64(ct_tm_pack_with(i, t2, rows, k, got, words), CT_E_CODE);
            CT_CHECK_EQ_I64(ct_tm_pack_with(i, t2, rows, k, got, words - 1), CT_E_SCRATCH);
            ++cases;
            free(t2);
            free(want);
            free(got);
        }
        printf("  %s: %lld cases\n", name, (long long)cases);
        CT_CHECK_EQ_I64(failures, 0);
    }
}
