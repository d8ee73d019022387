/*
 * Driver of benchmarks/popcount_icount.py: runs one registered dense kernel
 * (int8 GEMV/GEMM by index through ct_dense_acc_with, or a popcount kernel
 * through ct_pc_dense_acc_with) `reps` times on an n x n layer, so an
 * instruction-counting emulator can take the difference between reps = R and
 * reps = 0 as R calls.
 *
 *   popcount_icount KERNEL_NAME N BATCH BITS REPS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conntra.h"

static int32_t find(const char *want, int32_t *family) {
    for (int32_t i = 0; i < ct_kernel_count(); ++i) {
        const char *name, *isa;
        int32_t supported;
        if (ct_kernel_info(i, &name, family, &isa, &supported) == CT_OK && !strcmp(name, want)) {
            return supported ? i : -1;
        }
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s KERNEL N BATCH BITS REPS\n", argv[0]);
        return 2;
    }
    int32_t family = -1;
    const int32_t kernel = find(argv[1], &family);
    const int32_t n = atoi(argv[2]), batch = atoi(argv[3]), bits = atoi(argv[4]);
    const int32_t reps = atoi(argv[5]);
    if (kernel < 0 || n < 1 || batch < 1 || reps < 0) return 2;
    const int32_t kp = ct_t2_padded_k(n);
    int8_t *w = malloc((size_t)n * (size_t)n);
    int8_t *x = calloc((size_t)batch * (size_t)kp, 1);
    int32_t *bias = calloc((size_t)n, sizeof(int32_t));
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)n * (size_t)batch);
    uint8_t *packed = malloc((size_t)ct_t2_packed_bytes(n, n));
    int64_t mask_words = 0, plane_words = 0;
    if (ct_tm_words(n, n, &mask_words) != CT_OK) return 1;
    if (ct_bp_words(batch, n, bits, &plane_words) != CT_OK) return 1;
    uint64_t *masks = malloc(sizeof(uint64_t) * (size_t)mask_words);
    uint64_t *planes = malloc(sizeof(uint64_t) * (size_t)plane_words);
    if (!w || !x || !bias || !acc || !packed || !masks || !planes) return 1;
    uint32_t s = 12345;
    for (int64_t i = 0; i < (int64_t)n * n; ++i) {
        s = s * 1103515245u + 12345u;
        w[i] = (int8_t)((int)((s >> 16) % 3) - 1);
    }
    for (int32_t b = 0; b < batch; ++b) {
        for (int32_t i = 0; i < n; ++i) {
            s = s * 1103515245u + 12345u;
            x[(int64_t)b * kp + i] = (int8_t)((s >> 16) % (1u << bits));
        }
    }
    if (ct_t2_pack(w, n, n, packed, ct_t2_packed_bytes(n, n)) != CT_OK) return 1;
    if (ct_tm_pack(packed, n, n, masks, mask_words) != CT_OK) return 1;
    if (ct_bp_pack(x, kp, batch, n, bits, planes, plane_words) != CT_OK) return 1;
    const ct_layer L = {.n_in = n,
                        .n_out = n,
                        .shift = CT_SHIFT_OUTPUT,
                        .act_bits = CT_ACT_BITS_OUTPUT,
                        .w = packed,
                        .bias = bias,
                        .pc_w = masks};
    int64_t check = 0;
    for (int32_t r = 0; r < reps; ++r) {
        const ct_status st = family == CT_FAMILY_TM_BP_MM
                                 ? ct_pc_dense_acc_with(kernel, &L, planes, bits, batch, acc)
                                 : ct_dense_acc_with(kernel, &L, x, kp, batch, acc);
        if (st != CT_OK) return 1;
        check += acc[0];
    }
    printf("%lld\n", (long long)check);
    return 0;
}
