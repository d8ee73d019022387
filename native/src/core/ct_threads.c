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
#include "core/ct_threads.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/ct_internal.h"

typedef char ct_max_threads_is_64[CT_MAX_THREADS == 64 ? 1 : -1]; /* the message below */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int32_t default_threads = 1;
static ct_status env_status = CT_OK;

/* CONNTRA_NUM_THREADS: unset or empty means 1; anything but a decimal integer
 * in 1 .. CT_MAX_THREADS is CT_E_ENV (a library must not abort on it, nor
 * silently run on a count nobody asked for). */
static ct_status threads_from_env(int32_t *n) {
    const char *v = getenv("CONNTRA_NUM_THREADS");
    *n = 1;
    if (v == NULL || *v == '\0') return CT_OK;
    char *end = NULL;
    errno = 0;
    const long parsed = strtol(v, &end, 10);
    const int digits_only = *v >= '0' && *v <= '9'; /* strtol would skip spaces, take signs */
    if (!digits_only || errno != 0 || *end != '\0' || parsed < 1 || parsed > CT_MAX_THREADS) {
        return ct_env_error("CONNTRA_NUM_THREADS", v, "an integer in 1..64"); /* CT_MAX_THREADS */
    }
    *n = (int32_t)parsed;
    return CT_OK;
}

static void read_env_once(void) {
    env_status = threads_from_env(&default_threads);
}

ct_status ct_threads_status(void) {
    pthread_once(&env_once, read_env_once);
    return env_status;
}

int32_t ct_num_threads(void) {
    pthread_once(&env_once, read_env_once);
    return default_threads;
}

ct_status ct_set_num_threads(int32_t n) {
    if (n < 0 || n > CT_MAX_THREADS) return CT_E_RANGE;
    pthread_once(&env_once, read_env_once);
    if (n == 0) {
        int32_t from_env = 1;
        const ct_status st = threads_from_env(&from_env);
        env_status = st;
        if (st != CT_OK) return st;
        n = from_env;
    } else {
        env_status = CT_OK; /* an explicit count overrides the environment */
    }
    default_threads = n;
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
