/*
 * Threads: the default thread count (CONNTRA_NUM_THREADS, ct_set_num_threads)
 * and ct_parallel_for (see ct_threads.h).
 *
 * Threads are created and joined per call rather than pooled: a pool would
 * need init/free, a shutdown story inside a Python extension and a
 * signalling protocol, for a saving of tens of microseconds that only
 * matters for problems too small to split anyway.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "core/ct_internal.h"
#include "core/ct_threads.h"

static int32_t default_threads; /* 0: not read from the environment yet */

static int32_t threads_from_env(void) {
    const char *v = getenv("CONNTRA_NUM_THREADS");
    if (v == NULL || *v == '\0') return 1;
    char *end = NULL;
    const long n = strtol(v, &end, 10);
    /* A malformed value falls back to 1: a library must not abort on it. */
    if (*end != '\0' || n < 1 || n > CT_MAX_THREADS) return 1;
    return (int32_t)n;
}

int32_t ct_num_threads(void) {
    if (default_threads == 0) default_threads = threads_from_env();
    return default_threads;
}

ct_status ct_set_num_threads(int32_t n) {
    if (n < 0 || n > CT_MAX_THREADS) return CT_E_RANGE;
    default_threads = n == 0 ? threads_from_env() : n;
    return CT_OK;
}

typedef struct chunk {
    ct_range_fn fn;
    void *ctx;
    int32_t begin, end;
} chunk;

static void *run_chunk(void *arg) {
    const chunk *c = (const chunk *)arg;
    c->fn(c->ctx, c->begin, c->end);
    return NULL;
}

void ct_parallel_for(int32_t n, int32_t grain, int32_t n_threads, ct_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    const int32_t units = (n + grain - 1) / grain;
    int32_t t = n_threads < 1 ? 1 : n_threads > CT_MAX_THREADS ? CT_MAX_THREADS : n_threads;
    if (t > units) t = units;
    if (t == 1) {
        fn(ctx, 0, n);
        return;
    }
    /* zeroed only to keep -Wmaybe-uninitialized quiet */
    chunk chunks[CT_MAX_THREADS] = {{NULL, NULL, 0, 0}};
    pthread_t ids[CT_MAX_THREADS];
    int started[CT_MAX_THREADS];
    for (int32_t i = 0; i < t; ++i) {
        /* Units are spread as evenly as possible: the first `units % t`
         * threads take one more. */
        const int32_t u0 = i * (units / t) + (i < units % t ? i : units % t);
        const int32_t u1 = u0 + units / t + (i < units % t ? 1 : 0);
        chunks[i].fn = fn;
        chunks[i].ctx = ctx;
        chunks[i].begin = u0 * grain;
        chunks[i].end = u1 * grain < n ? u1 * grain : n;
    }
    for (int32_t i = 1; i < t; ++i) {
        started[i] = pthread_create(&ids[i], NULL, run_chunk, &chunks[i]) == 0;
    }
    run_chunk(&chunks[0]);
    for (int32_t i = 1; i < t; ++i) {
        if (started[i]) {
            pthread_join(ids[i], NULL);
        } else {
            run_chunk(&chunks[i]);
        }
    }
}
