/*
 * GEMV against the memory ceiling, in C only (no Python, no numpy): for
 * machines where only a compiler is at hand.
 *
 *   gcc -O3 -std=gnu99 -ffp-contract=off -Inative/include -Inative/src \
 *       $(find native/src -name '*.c') benchmarks/bench_gemv_ceiling.c \
 *       -o bench_gemv_ceiling -lpthread
 *   ./bench_gemv_ceiling [n k copies rounds]      (default: the project's shapes)
 *
 * Each round times, in alternating order, the dispatched GEMV kernel and a
 * plain read of the same weight bytes (ct_read_bytes), cycling through
 * `copies` copies of the weights; it prints the median over rounds of
 * read_time / kernel_time, i.e. the share of the read ceiling the kernel
 * reaches, with GOPS and GB/s. One thread unless CONNTRA_NUM_THREADS says
 * otherwise.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "conntra.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run(int32_t n, int32_t k, int copies, int rounds) {
    const int64_t nb = ct_t2_packed_bytes(n, k);
    const int32_t kp = ct_t2_padded_k(k);
    uint8_t **w = malloc(sizeof(uint8_t *) * (size_t)copies);
    for (int c = 0; c < copies; ++c) {
        w[c] = malloc((size_t)nb);
        madvise(w[c], (size_t)nb, MADV_HUGEPAGE); /* as numpy does for large arrays */
        for (int64_t i = 0; i < nb; ++i) w[c][i] = (uint8_t)((i * 2654435761u) >> 13) & 0x55u;
    }
    int32_t *bias = calloc((size_t)n, sizeof(int32_t));
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)n);
    int8_t *x = calloc((size_t)kp, 1);
    for (int32_t i = 0; i < k; ++i) x[i] = (int8_t)(i % 128);
    double *ratio = malloc(sizeof(double) * (size_t)rounds);
    double *tk = malloc(sizeof(double) * (size_t)rounds);
    const int reps = (int)(2e8 / (double)nb) + copies;
    uint64_t sink = 0;
    for (int r = 0; r < rounds; ++r) {
        double t_kernel = 0, t_read = 0;
        for (int order = 0; order < 2; ++order) {
            const int kernel_first = (r + order) % 2 == 0;
            const double t0 = now();
            for (int i = 0; i < reps; ++i) {
                if (kernel_first) {
                    const ct_layer L = {.n_in = k,
                                        .n_out = n,
                                        .shift = CT_SHIFT_OUTPUT,
                                        .act_bits = CT_ACT_BITS_OUTPUT,
                                        .w = w[i % copies],
                                        .bias = bias};
                    ct_dense_acc(&L, x, kp, 1, acc);
                } else {
                    uint64_t o;
                    ct_read_bytes(w[i % copies], nb, &o);
                    sink ^= o;
                }
            }
            const double t = (now() - t0) / reps;
            if (kernel_first)
                t_kernel = t;
            else
                t_read = t;
        }
        ratio[r] = t_read / t_kernel;
        tk[r] = t_kernel;
    }
    qsort(ratio, (size_t)rounds, sizeof(double), cmp);
    qsort(tk, (size_t)rounds, sizeof(double), cmp);
    const double t = tk[rounds / 2];
    printf(
        "gemv %dx%d copies=%d: %.3f ms, %.1f GOPS, %.2f GB/s, %.0f%% of a plain read "
        "(median of %d paired rounds)%s\n",
        n, k, copies, 1e3 * t, 2.0 * n * k / t / 1e9, (double)nb / t / 1e9, 100 * ratio[rounds / 2],
        rounds, sink == 42 ? " " : "");
    for (int c = 0; c < copies; ++c) free(w[c]);
    free(w);
    free(bias);
    free(acc);
    free(x);
    free(ratio);
    free(tk);
}

int main(int argc, char **argv) {
    int32_t idx = -1, fam, sup;
    const char *name = "?", *isa;
    if (ct_kernel_active(CT_FAMILY_GEMV, &idx) == CT_OK) {
        ct_kernel_info(idx, &name, &fam, &isa, &sup);
    }
    printf("kernel %s, %d thread(s)\n", name, ct_num_threads());
    if (argc == 5) {
        run(atoi(argv[1]), atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
        return 0;
    }
    run(4096, 4096, 1, 9);   /* in cache: the read is far faster than memory */
    run(4096, 4096, 49, 9);  /* streamed: copies > 6x a 32 MiB L3 */
    run(16384, 16384, 4, 9); /* 64 MiB per copy */
    return 0;
}
